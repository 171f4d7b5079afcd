//! Stage 4: write a token's view of the Content API as static files (`docs/snapshot-format.md`).
//!
//! For every asset the view can read, every route of the [`Profile`] (the asset, its lineage,
//! every children page; by id and by each of its URLs) is answered by [`crate::answer`] and
//! written under `DIR/public/` — export never decides a status or a byte itself. Identical
//! bodies are written once and hard-linked. Beside the web root: `manifest.jsonl` (every file,
//! its request, status, size and blake3) and `snapshot.json` (what was exported, with a root
//! hash over the manifest).
//!
//! The snapshot is built in a temporary directory beside `DIR` and swapped in only when
//! complete (`renameat2(RENAME_EXCHANGE)`), so a failure or `kill -9` never leaves a partial
//! snapshot visible; stale temporary directories of killed runs are removed by the next run.

mod changes;
mod direct;
pub mod disk;
mod estimate;
pub mod inputs;
mod journal;
mod output;
pub mod pack;
mod plan;
mod previous;
pub mod profile;
mod repair;
mod spill;
mod writer;

pub use changes::{AllAdded, Changes};
pub use disk::{disk_use, Disk, DiskUse};
pub use estimate::{block_size, estimate, estimate_dimensions, free_bytes, Estimate};
pub use output::recover_interrupted;
use output::{prepare_out, swap_into_place};
pub use repair::Repair;
pub use spill::DEFAULT_RUN_BYTES;

pub use profile::{Contexts, Profile, ProfileError};

use crate::access::View;
use crate::api::{Catalog, Data};
use crate::snapshot::manifest::pct;
use crate::snapshot::routes;
use crate::snapshot::{self, path, Counts, Entry, Layout};
use crate::store::url::Scheme;
use crate::store::AssetIdx;
use estimate::check_free_space;
#[cfg(test)]
use estimate::BLOCK;
use plan::{api_options, plan_asset, request_for, Job, Variants};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use writer::{Put, Rendered, Sink, Writer};

/// Error documents in every snapshot: the five statuses and the "not exported" 404.
const ERROR_FILES: u64 = 6;

/// Assets the render stage renders together ([`Run::render_routes`]): enough to keep both cores
/// busy between hand-overs, few enough that a chunk's bodies are a few MB (`minimal`).
const CHUNK_ASSETS: usize = 1024;

/// What to export and where.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Index of the token in the store.
    pub token: u32,
    /// Variants to write.
    pub profile: Profile,
    /// `--base-url`: the scheme and host the API is "called on" (picks each asset's `url`).
    pub base_url: Option<(Scheme, String)>,
    /// Output directory.
    pub out: PathBuf,
    /// Replace an `out` that is not a previous snapshot.
    pub force: bool,
    /// Hard-link identical bodies (default on).
    pub dedupe: bool,
    /// Rebuild everything even when `out` holds a previous snapshot (`--full`); by default an
    /// export onto a previous snapshot only rewrites what changed.
    pub full: bool,
    /// How routers answer: token check or public, CORS, caching (`_routers/routes.json`).
    pub routing: Routing,
    /// Asks the export to stop (a signal the caller caught); see [`Interrupt`].
    pub interrupt: Interrupt,
    /// `--repair`: check every file of the previous snapshot against its manifest line first
    /// and write the damaged ones again ([`Repair`]); by default an update trusts them.
    pub repair: bool,
    /// How `public/` holds the routes' files (`--layout`, `--pack-size`).
    pub layout: LayoutOptions,
    /// Bytes of manifest entries held before they are written, sorted, as a run in a scratch
    /// directory beside `out` ([`DEFAULT_RUN_BYTES`]; issue 20): what an export holds of its
    /// entries, whatever their number.
    pub run_bytes: usize,
}

impl ExportOptions {
    /// Exporting `profile` for the token at index `token` into `out`, everything else as
    /// `export` does without flags: no `--base-url`, hard links, an update onto a previous
    /// snapshot, the token checked, the files layout, [`DEFAULT_RUN_BYTES`]. Set the rest with
    /// struct update syntax.
    pub fn new(token: u32, profile: Profile, out: PathBuf) -> ExportOptions {
        ExportOptions {
            token,
            profile,
            base_url: None,
            out,
            force: false,
            dedupe: true,
            full: false,
            routing: Routing::default(),
            interrupt: Interrupt::default(),
            repair: false,
            layout: LayoutOptions::default(),
            run_bytes: DEFAULT_RUN_BYTES,
        }
    }
}

/// `--layout` and its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutOptions {
    /// Files (the default) or packs.
    pub layout: Layout,
    /// The largest pack in bytes (pack layout; one larger body gets a pack of its own).
    pub pack_size: u64,
}

impl Default for LayoutOptions {
    fn default() -> LayoutOptions {
        LayoutOptions {
            layout: Layout::Files,
            pack_size: snapshot::pack::DEFAULT_PACK_SIZE,
        }
    }
}

/// The number of a signal that asks a running export to stop (`SIGINT`, `SIGTERM`), 0 while
/// none came; the caller registers it (the CLI with `signal-hook`), the export reads it.
///
/// Before the new snapshot is moved into place, the export stops: `out` stays as it was, the
/// staging tree is removed (or left for the next export when that would take long) and
/// [`ExportError::Interrupted`] says so. Once moving in has begun it finishes (an update's moves
/// are one quick burst under a journal), and [`Report::interrupted`] says the signal came.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(pub Option<std::sync::Arc<std::sync::atomic::AtomicUsize>>);

impl Interrupt {
    /// The signal received, if any.
    pub fn signal(&self) -> Option<i32> {
        let n = self.0.as_ref()?.load(Ordering::Relaxed);
        (n != 0).then_some(n as i32)
    }
}

/// Staging trees with at most this many files are removed when an export is interrupted (about
/// a second); larger ones are left for the next export, which removes them first.
const REMOVE_ON_INTERRUPT: u64 = 50_000;

/// The error for an interruption after the staging tree was made: removes it, or leaves it
/// when it holds more than [`REMOVE_ON_INTERRUPT`] files (`written`).
fn interrupted(
    staging: &mut tempfile::TempDir,
    written: u64,
    signal: i32,
    out: &Path,
) -> ExportError {
    interrupted_with(REMOVE_ON_INTERRUPT, staging, written, signal, out)
}

/// [`interrupted`] with another limit than [`REMOVE_ON_INTERRUPT`] (tests).
fn interrupted_with(
    limit: u64,
    staging: &mut tempfile::TempDir,
    written: u64,
    signal: i32,
    out: &Path,
) -> ExportError {
    staging.disable_cleanup(true);
    let path = staging.path().to_path_buf();
    let left = if written > limit {
        Some(path)
    } else {
        let _ = crate::tree::remove_tree(&path);
        None
    };
    ExportError::Interrupted {
        signal,
        out: out.to_path_buf(),
        left,
    }
}

/// Router options of an export (they shape `_routers/`, never a body).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    /// `--public`: routers do not check the token.
    pub public: bool,
    /// `--cors ORIGIN`.
    pub cors: Option<String>,
    /// `--cache-control VALUE` of 200 answers (default [`routes::DEFAULT_CACHE_CONTROL`]).
    pub cache_control: Option<String>,
    /// `--router HOST…`: the hosts whose configs and tables are written (empty: every host).
    pub routers: Vec<String>,
}

/// Why an export did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The token answers 401.
    #[error("the token cannot be used ({0}); the API would answer 401 to every request")]
    Unusable(#[from] crate::access::Unusable),
    /// `out` holds something else.
    #[error("{} exists and is not a matrix-snapshot snapshot (no snapshot.json with a matrix-snapshot format and manifest.jsonl); choose another --out, or pass --force to replace it and everything in it", .0.display())]
    NotASnapshot(PathBuf),
    /// Another export holds the lock of `out`.
    #[error("another matrix-snapshot export is writing {} ({holder}); wait for it to finish, then run this one again", .out.display())]
    Busy {
        /// The output directory.
        out: PathBuf,
        /// What the lock file says of its holder.
        holder: String,
    },
    /// A full export would delete files under `out/public/` that the snapshot does not list.
    #[error("{} holds {count} file(s) under public/ that its manifest does not list, which replacing the snapshot would delete: {}{}; move them out of public/, or pass --force to delete them", .out.display(), .files.join(", "), if *.count > .files.len() { ", …" } else { "" })]
    Unlisted {
        /// The output directory.
        out: PathBuf,
        /// The first of them (paths relative to `out`).
        files: Vec<String>,
        /// How many.
        count: usize,
    },
    /// Stopped by a signal before the new snapshot was in place: `out` is as it was.
    #[error("interrupted (signal {signal}): {} is unchanged{}", .out.display(), .left.as_ref().map(|p| format!("; the staging tree {} is left for the next export to remove", p.display())).unwrap_or_default())]
    Interrupted {
        /// The signal number.
        signal: i32,
        /// The output directory.
        out: PathBuf,
        /// The staging tree, when removing it now would take long.
        left: Option<PathBuf>,
    },
    /// A `--router` name that is no host.
    #[error("{0}")]
    UnknownRouter(String),
    /// Not enough free space.
    #[error("the export needs about {needed} MB but {} has only {free} MB free", .dir.display())]
    NoSpace {
        /// Estimated megabytes.
        needed: u64,
        /// Free megabytes.
        free: u64,
        /// Where.
        dir: PathBuf,
    },
    /// A name the filesystem cannot hold.
    #[error("{0}: a file name component is longer than 255 bytes (shorten the profile's asset_types lists)")]
    NameTooLong(String),
    /// A profile that does not fit the store (e.g. an undeclared context).
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// I/O.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> ExportError {
    let context = context.into();
    move |source| ExportError::Io { context, source }
}

/// The error for the runs of manifest entries in the scratch directory `dir`.
fn spill_err(dir: &Path) -> impl FnOnce(io::Error) -> ExportError {
    io_err(format!(
        "writing or reading the manifest's entries in the scratch directory {} (it needs about 280 bytes per file of the snapshot)",
        dir.display()
    ))
}

/// A manifest line as an export builds it: the [`Entry`] and what the export remembers of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    /// The line.
    pub entry: Entry,
    /// The readable asset whose routes include this file (its index in the store), or
    /// [`inputs::NO_OWNER`] (error documents, 403 markers). Not written in the manifest: an
    /// incremental export records it in [`inputs::OWNERS_FILE`].
    pub owner: AssetIdx,
    /// For an entry taken over from the previous manifest: its line there, which the new
    /// manifest copies as it is (then `requests` may be left empty); else [`NO_LINE`].
    pub previous_line: u32,
    /// Pack layout: where this export put the entry's body, when it was placed while the
    /// routes rendered ([`Sink::take`]), so that the index needs no lookup by hash for it in
    /// the merge pass; `None` otherwise (files layout, a body of the previous packs, or one
    /// put outside the render stage).
    pub pack_loc: Option<snapshot::pack::Loc>,
}

impl std::ops::Deref for Staged {
    type Target = Entry;
    fn deref(&self) -> &Entry {
        &self.entry
    }
}

impl std::ops::DerefMut for Staged {
    fn deref_mut(&mut self) -> &mut Entry {
        &mut self.entry
    }
}

impl AsRef<Entry> for Staged {
    fn as_ref(&self) -> &Entry {
        &self.entry
    }
}

/// [`Staged::previous_line`] of an entry formatted anew.
pub const NO_LINE: u32 = u32::MAX;

/// Frees `value` on another thread: millions of entries take seconds to free (10 s at 8M
/// files), which the caller need not wait for; a command-line run exits without waiting.
fn drop_in_background<T: Send + 'static>(value: T) {
    // If no thread can be started, the closure, and `value` with it, is dropped right here.
    let _ = std::thread::Builder::new()
        .name("matrix-snapshot-free".into())
        .spawn(move || drop(value));
}

/// The result of [`export`].
#[derive(Debug, Clone)]
pub struct Report {
    /// Counts (as in `snapshot.json`).
    pub counts: Counts,
    /// Files this run hard-linked instead of writing (varies with thread timing).
    pub linked: u64,
    /// Assets whose files an incremental export kept without rendering: their inputs had the
    /// fingerprints the previous snapshot recorded (`export::inputs`).
    pub reused: u64,
    /// The root hash (blake3 of `manifest.jsonl`).
    pub root_hash: String,
    /// What changed against the snapshot `out` held before (everything is "added" when it held
    /// none: [`Changes::all_routes_added`]), and whether only those files were written (an
    /// incremental export).
    pub changes: Changes,
    /// Whether this run updated a previous snapshot in place (only changed files written).
    pub incremental: bool,
    /// Staging trees of interrupted incremental exports that this run rolled back.
    pub rolled_back: usize,
    /// Wall time of each phase, in order (`export --timings`).
    pub phases: Phases,
    /// A signal that came while the new snapshot was being moved into place: the export
    /// finished, and the caller should now stop as the signal asked.
    pub interrupted: Option<i32>,
    /// What the pack layout wrote (`None` for the files layout).
    pub pack: Option<pack::PackReport>,
    /// What `--repair` found and rewrote (`None` without it, or when there was nothing to
    /// repair: no previous snapshot, or `--full`).
    pub repair: Option<Repair>,
    /// What `out` takes on disk once the snapshot is in place, as `du` counts it (bodies in
    /// whole blocks, hard links once, directories, the manifest, the hosts' tables); `None`
    /// when `out` could not be walked. Estimated for a tree of more than
    /// [`disk::WALK_LIMIT`] files.
    pub disk: Option<Disk>,
    /// How the manifest's entries went through disk.
    pub entries: EntryRuns,
}

/// How an export's manifest entries went through disk (issue 20): sorted runs of at most
/// [`ExportOptions::run_bytes`] each, merged back in path order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntryRuns {
    /// Runs written.
    pub runs: usize,
    /// The most bytes of entries held at once (the budget, and one entry past it at most).
    pub held_peak: usize,
}

/// Wall time of the phases of an export, in the order they ran, the CPU time each took and
/// the process's resident memory as each ended.
#[derive(Debug, Clone)]
pub struct Phases {
    last: std::time::Instant,
    last_cpu: Option<f64>,
    /// The phases done, in order.
    pub done: Vec<Phase>,
}

/// One phase of an export: its name, wall time and the resident memory when it ended.
#[derive(Debug, Clone)]
pub struct Phase {
    /// What the phase does.
    pub name: &'static str,
    /// Wall time, in seconds.
    pub secs: f64,
    /// CPU time (user + system, every thread), in seconds (`None` where the kernel does not
    /// say).
    pub cpu: Option<f64>,
    /// Resident memory as it ended (`None` where the kernel does not say).
    pub rss: Option<crate::rss::Rss>,
}

impl Phases {
    fn start() -> Phases {
        Phases {
            last: std::time::Instant::now(),
            last_cpu: crate::cpu::used(),
            done: Vec::new(),
        }
    }

    /// Ends the phase `name`, which began when the previous one ended.
    fn end(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        let cpu = crate::cpu::used();
        self.done.push(Phase {
            name,
            secs: now.duration_since(self.last).as_secs_f64(),
            cpu: cpu.zip(self.last_cpu).map(|(now, then)| now - then),
            rss: crate::rss::current(),
        });
        self.last = now;
        self.last_cpu = cpu;
    }
}

/// Exports the view of `opts.token` into `opts.out`. `progress` is called with the number of
/// assets done so far.
pub fn export(
    cat: &Catalog,
    opts: &ExportOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Report, ExportError> {
    // A symbolic link is followed, as `cp` and `rsync` do: its target holds the snapshot.
    let resolved = output::resolve_out(&opts.out)?;
    if resolved != opts.out {
        let opts = ExportOptions {
            out: resolved,
            ..opts.clone()
        };
        return export_into(cat, &opts, progress);
    }
    export_into(cat, opts, progress)
}

/// [`export`] into `opts.out`, which is not a symbolic link.
fn export_into(
    cat: &Catalog,
    opts: &ExportOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Report, ExportError> {
    let mut phases = Phases::start();
    let view = cat.view(opts.token)?;
    let variants = Variants::new(cat, &opts.profile)?;
    let out = &opts.out;
    let target = prepare_out(out, opts.force)?;
    phases.end("view and checks");
    // Read with --full too: the changes are still reported against it.
    let mut previous = previous::PreviousManifest::open(out);
    let layout = opts.layout.layout;
    // A snapshot in the other layout is rebuilt in full.
    let same_layout = snapshot::check_format(out).is_ok_and(|l| l == layout);
    // `--repair` checks every line's file: it reads the manifest whole first.
    let repair = (opts.repair && !opts.full && same_layout)
        .then(|| {
            previous = previous.take().and_then(|p| p.hold());
            previous.as_mut().map(|p| p.repair(out, layout))
        })
        .flatten();
    // The pack layout's update builds on the previous packs: where each body is, found as the
    // previous manifest is read.
    let mut pack_finder = match (&previous, layout) {
        (Some(_), Layout::Pack) if same_layout && !opts.full => pack::PackPrevious::open(out),
        _ => None,
    };
    // A manifest that no longer matches its root hash cannot say what to keep (nor can packs
    // be repaired one file at a time): `--repair` rebuilds.
    let may_update = !opts.full
        && previous.is_some()
        && same_layout
        && (layout == Layout::Files || pack_finder.is_some())
        && !repair.as_ref().is_some_and(|r| r.rebuilt);
    // Every manifest entry goes to sorted runs in a scratch directory beside `out` (issue 20):
    // removed when this function returns, by the next export after a `kill -9`.
    let mut spill =
        spill::Spill::new(target.parent, &target.name, opts.run_bytes).map_err(io_err(format!(
            "creating a scratch directory for the manifest's entries in {}",
            target.parent.display()
        )))?;
    // Input fingerprints first (issue 20): an asset whose inputs are those the previous
    // snapshot recorded keeps its files as they are, without rendering, so its manifest lines
    // go to a run of their own as the previous manifest is read (an incremental export).
    let fingerprints = fingerprint(cat, opts, view, &variants);
    phases.end("fingerprints");
    let had_previous = previous.is_some();
    let mut taken = take_over(
        cat,
        out,
        previous,
        may_update,
        &fingerprints,
        &mut spill,
        pack_finder.as_mut(),
    )?;
    // A manifest that turned out not to be one: no previous snapshot.
    let update = may_update && taken.previous.is_some();
    let pack_previous = pack_finder.filter(|_| update).map(pack::PackFinder::finish);
    if had_previous {
        phases.end("previous manifest read and split, files taken over");
    }
    let caddy_derived = out.join(snapshot::CACHE_DIR).join("caddy").is_dir();
    if !update {
        // Replacing `out` as a whole must not delete what the user put in its web root.
        output::check_unlisted(out, opts.force)?;
        check_free_space(cat, opts, target.parent)?;
        phases.end("unlisted files, free space (estimated)");
    }
    if let Some(signal) = opts.interrupt.signal() {
        return Err(ExportError::Interrupted {
            signal,
            out: out.to_path_buf(),
            left: None,
        });
    }
    // The pack layout always builds a whole new tree (reusing the previous packs) and swaps it in.
    let mut staging = target.staging(update && layout == Layout::Files)?;
    let root = staging.path().to_path_buf();
    let run = Run {
        cat,
        opts,
        view,
        variants,
        token: &cat.store.tokens[opts.token as usize],
        root: &root,
        links: AtomicU64::new(0),
        written: AtomicU64::new(0),
        forbidden_url_lines: Default::default(),
    };
    // Stops between stages when a signal came (the render stage checks for itself).
    macro_rules! stop_if_interrupted {
        () => {
            if let Some(signal) = opts.interrupt.signal() {
                return Err(interrupted(&mut staging, run.written(), signal, out));
            }
        };
    }

    let mut files_writer = None;
    let mut pack_sink = None;
    let writer: &dyn Sink = match layout {
        Layout::Files => {
            files_writer.insert(run.writer(taken.previous.as_ref().filter(|_| update))?)
        }
        // Only an update builds on the previous packs (`--repair` rebuilds: they may be damaged).
        Layout::Pack => pack_sink.insert(pack::PackSink::new(
            &root,
            pack_previous.as_ref().filter(|_| update),
            opts.layout.pack_size,
        )?),
    };
    // Every file written this time goes to the spill (the rest are taken over). Error documents
    // first (what routers serve for statuses no file answers).
    let (routes, hosts) = run.write_error_documents_and_routers(writer, &mut spill)?;
    phases.end("error documents, routers");

    let readable = &fingerprints.readable;
    let mut spill = match run.render_routes(writer, readable, &taken, progress, spill) {
        Err(ExportError::Interrupted { signal, .. }) => {
            return Err(interrupted(&mut staging, run.written(), signal, out));
        }
        rendered => rendered?,
    };
    writer.end_render();
    phases.end("render and write routes");
    progress(readable.len() as u64);
    let forbidden = run.write_forbidden_markers(writer, &mut spill)?;
    let spill_dir = spill.dir().to_path_buf();
    let runs = spill.finish().map_err(spill_err(&spill_dir))?;
    let entry_runs = EntryRuns {
        runs: runs.written(),
        held_peak: runs.held_peak(),
    };
    phases.end("403 markers, entries spilled");
    // Everything is written: the dedupe and directory sets go.
    if let Some(w) = files_writer.take() {
        w.finish();
    }
    stop_if_interrupted!();

    let extra = match layout {
        Layout::Pack => run.forbidden_url_markers(),
        Layout::Files => Vec::new(),
    };
    let mut index = match pack_sink.take() {
        Some(sink) => Some(sink.into_index(runs.len(), &extra)?),
        None => None,
    };
    let (collated, root_hash) = match index.as_mut() {
        // Files layout: a pass over the merged runs for the counts, the route files' changes
        // and the hosts' tables, which the manifest lists and hashes; then one for the manifest.
        None => {
            let collated = run.collate(
                &runs,
                taken.previous.as_mut(),
                (taken.kept, &taken.reused_asset),
                &routes,
                &hosts,
                readable.len() as u64,
                forbidden,
            )?;
            phases.end("merge: count, compare routes, host tables");
            let root_hash = run.write_manifest_and_inputs(
                &runs,
                taken.previous.as_ref().map(|p| &p.text),
                &fingerprints,
                &mut |_| Ok(()),
            )?;
            phases.end("manifest (router files hashed), recorded inputs");
            (collated, root_hash)
        }
        // Pack layout: the manifest lists neither the index nor host tables, so one pass over
        // the merged runs writes it and takes each entry for the counts and the index. (Its
        // changed objects are listed from the trees: `pack::object_changes`.)
        Some(index) => {
            let mut collator = run.collator(
                runs.len(),
                None,
                (taken.kept, &taken.reused_asset),
                Some(index),
                &routes,
                &hosts,
                readable.len() as u64,
                forbidden,
            )?;
            let root_hash = run.write_manifest_and_inputs(
                &runs,
                taken.previous.as_ref().map(|p| &p.text),
                &fingerprints,
                &mut |e| collator.add(e),
            )?;
            let collated = collator.finish(&run.forbidden_url_lines)?;
            phases.end("merge: manifest, counts, index, recorded inputs");
            (collated, root_hash)
        }
    };
    let (mut changes, counts) = (collated.changes, collated.counts);
    let pack_report = match index {
        Some(index) => {
            let report = index.finish(&root, &extra, &mut || {
                runs.merge().map_err(spill_err(&spill_dir))
            })?;
            phases.end("packs, index");
            Some(report)
        }
        None => None,
    };
    // The runs are read: their disk is freed before the new snapshot goes in (what cannot be
    // removed now, the next export removes).
    drop(runs);
    stop_if_interrupted!();
    run.write_snapshot_json(&counts, &root_hash)?;

    match layout {
        Layout::Files => run.compare(&mut changes, taken.previous, &root_hash, counts.files)?,
        Layout::Pack => {
            changes = pack::object_changes(&root, out)
                .and_then(|mut c| {
                    changes::meta_changes(&mut c, taken.previous.as_ref(), &root_hash, &root, out)
                        .map(|()| c)
                })
                .map_err(io_err(format!("comparing with {}", out.display())))?;
        }
    }
    phases.end("compare");
    // The last point where stopping leaves `out` as it was; from here the new snapshot goes
    // in, and a signal is only reported once it is.
    stop_if_interrupted!();
    let linked = run.links.into_inner();
    if update && layout == Layout::Files {
        journal::apply(&staging.keep(), out, &changes, None)?;
        phases.end("apply the changes");
    } else {
        swap_into_place(staging.keep(), out)?;
        phases.end("swap into place");
    }
    // What `public/` takes, computed from the entries when walking it would be slow.
    let public_disk = collated.public;
    // Caddy's ETag shards are derived from `_routers/etags.txt` by `router caddy` into
    // `_cache/`, which the export replaces: a snapshot served by Caddy gets them again, so
    // that an export needs no second step (nor Caddy a reload).
    if caddy_derived && layout == Layout::Files {
        crate::router::caddy::derive_etags(out).map_err(io_err(
            "deriving Caddy's ETag shards (`router caddy` does it too)",
        ))?;
        phases.end("Caddy's ETag shards");
    }
    // Measured, not summed from what was written: an incremental export keeps most files,
    // and only the file system knows its blocks (about 1 s at 300,000 files; above, walking
    // `public/` can take minutes, and it is computed from the entries instead).
    let disk = match public_disk {
        None => disk_use(out).ok().map(Disk::Measured),
        Some(public) => disk::with_public(out, public).ok().map(Disk::Estimated),
    };
    phases.end(match disk {
        Some(Disk::Estimated(_)) => "disk use (public/ computed)",
        _ => "measure disk use",
    });
    Ok(Report {
        counts,
        linked,
        reused: taken.reused,
        root_hash,
        changes,
        incremental: update,
        rolled_back: target.rolled_back,
        phases,
        interrupted: opts.interrupt.signal(),
        pack: pack_report,
        repair,
        disk,
        entries: entry_runs,
    })
}

/// What the stages of one export share: the catalog, the options, the token's view, the
/// variants written and the staging tree they fill.
struct Run<'a> {
    cat: &'a Catalog,
    opts: &'a ExportOptions,
    view: &'a View,
    variants: Variants,
    /// The token exported.
    token: &'a crate::store::Token,
    /// The staging tree (what becomes `out`).
    root: &'a Path,
    /// Files hard-linked instead of written ([`Report::linked`]).
    links: AtomicU64,
    /// Files put into the staging tree so far.
    written: AtomicU64,
    /// The lines of the files layout's forbidden-URL tables, once written (CloudFront's key
    /// value store holds them too).
    forbidden_url_lines: std::sync::OnceLock<Vec<snapshot::forbidden::Line>>,
}

/// The readable assets and their input fingerprints, from [`fingerprint`].
struct Fingerprints {
    /// The fingerprint of everything the export shares ([`inputs::global`]; `None` when the
    /// executable cannot be identified).
    global: Option<[u8; 32]>,
    /// The assets the view can read.
    readable: Vec<AssetIdx>,
    /// The input fingerprint of each of `readable`, in the same order.
    per_asset: Vec<Option<u128>>,
}

/// What an export takes over from the previous snapshot, from [`take_over`].
struct TakenOver {
    /// How many manifest entries of the assets whose files are kept as they are (written to a
    /// run of the spill).
    kept: u64,
    /// The rest of the previous manifest, which the files written are compared with.
    previous: Option<previous::Previous>,
    /// By asset index: whether the asset's files were taken over.
    reused_asset: Vec<bool>,
    /// How many readable assets' files were taken over.
    reused: u64,
}

impl Run<'_> {
    /// A writer into the staging tree; `previous` is the snapshot an incremental export
    /// updates.
    fn writer<'w>(
        &'w self,
        previous: Option<&'w previous::Previous>,
    ) -> Result<Writer<'w>, ExportError> {
        Writer::new(
            self.root,
            self.opts.dedupe,
            previous.map(|p| (p, self.opts.out.as_path())),
        )
    }

    /// Counts `put` in [`Report::linked`] if it hard-linked a body.
    fn count_link(&self, put: Put) {
        self.written.fetch_add(1, Ordering::Relaxed);
        if put == Put::Linked {
            self.links.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Files put into the staging tree so far.
    fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Writes the error documents, the body of requests the profile left out and the routers'
    /// configs (`_routers/`) into `fresh` and the staging tree; returns the hosts written.
    fn write_error_documents_and_routers(
        &self,
        writer: &dyn Sink,
        fresh: &mut spill::Spill,
    ) -> Result<(routes::RouteSpec, Vec<&'static crate::router::Host>), ExportError> {
        let (cat, opts, root) = (self.cat, self.opts, self.root);
        for status in [400u16, 401, 403, 404, 405] {
            let body = crate::api::response::error_body(status);
            let rel = path::error_file(status);
            let hash = blake3::hash(&body);
            self.count_link(writer.put(&rel, &body, hash)?);
            push(fresh, &entry(&rel, vec![], status, &body, hash))?;
        }
        // The routing table and the body of requests the profile left out.
        let routes = opts.profile.route_spec(
            &cat.store.meta.contexts,
            &self.variants.contexts,
            (!opts.routing.public).then_some(self.token.token.as_str()),
            opts.routing.cors.clone(),
            opts.routing.cache_control.clone(),
        );
        let body = routes.not_exported_body();
        let hash = blake3::hash(&body);
        self.count_link(writer.put(routes::NOT_EXPORTED_FILE, &body, hash)?);
        push(
            fresh,
            &entry(routes::NOT_EXPORTED_FILE, vec![], 404, &body, hash),
        )?;
        let mut routes = routes;
        if opts.layout.layout == Layout::Files {
            routes.forbidden_url_digits = self.write_forbidden_url_tables(writer, fresh)?;
        }
        let hosts = match opts.layout.layout {
            Layout::Files => crate::router::select(&opts.routing.routers)
                .map_err(|e| ExportError::UnknownRouter(e.to_string()))?,
            // Hosts that read packs: those whose configs say so.
            Layout::Pack => crate::router::select_for_pack(&opts.routing.routers)
                .map_err(|e| ExportError::UnknownRouter(e.to_string()))?,
        };
        crate::router::write_all(root, &routes, &hosts).map_err(io_err(format!(
            "writing {}",
            root.join(snapshot::ROUTERS_DIR).display()
        )))?;
        Ok((routes, hosts))
    }

    /// Renders and writes every route of the `readable` assets not `taken` over (calling
    /// `progress` as they are done); their entries go to `spill`, which is returned.
    ///
    /// The assets are rendered in chunks of [`CHUNK_ASSETS`], each in parallel; a thread of its
    /// own hands the chunks in order to [`Sink::take`] (the pack layout appends the new bodies
    /// to its packs there) while the next chunk renders, and spills their entries (issue 20:
    /// sorted runs on disk, never all held). That thread is fed through a bounded channel by
    /// this one, never by a rayon worker, and needs no rayon itself, so neither side can starve
    /// the other.
    fn render_routes(
        &self,
        sink: &dyn Sink,
        readable: &[AssetIdx],
        taken: &TakenOver,
        progress: &(dyn Fn(u64) + Sync),
        spill: spill::Spill,
    ) -> Result<spill::Spill, ExportError> {
        let (reused_asset, reused) = (&taken.reused_asset, taken.reused);
        let api = api_options(self.cat, self.opts);
        let done = AtomicU64::new(reused);
        progress(reused);
        let todo: Vec<AssetIdx> = readable
            .iter()
            .copied()
            .filter(|&a| !reused_asset[a as usize])
            .collect();
        // One chunk in the channel, one being taken, one rendering: the bodies of three chunks
        // at most are in memory.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Rendered>>(1);
        std::thread::scope(|scope| {
            let consumer = std::thread::Builder::new()
                .name("matrix-snapshot-chunks".into())
                .spawn_scoped(scope, move || {
                    let mut spill = spill;
                    for mut chunk in rx {
                        sink.take(&mut chunk, &|put| self.count_link(put))?;
                        for e in chunk.iter().flat_map(|r| &r.entries) {
                            push(&mut spill, e)?;
                        }
                    }
                    Ok::<_, ExportError>(spill)
                })
                .map_err(io_err("starting the render stage's writer thread"))?;
            let mut rendering = Ok(());
            // A session per render thread, kept from chunk to chunk: neighbouring assets share
            // most asset objects (`api::Session`).
            let sessions: Vec<std::sync::Mutex<crate::api::Session>> = (0
                ..rayon::current_num_threads())
                .map(|_| std::sync::Mutex::new(crate::api::Session::new(self.cat, &api)))
                .collect();
            for assets in todo.chunks(CHUNK_ASSETS) {
                let chunk = assets
                    .par_iter()
                    .map(|&a| {
                        let thread = rayon::current_thread_index().unwrap_or(0);
                        let mut session = sessions[thread % sessions.len()]
                            .lock()
                            .expect("a render thread panicked");
                        self.render_asset(sink, &mut session, a, &done, progress)
                    })
                    .collect::<Result<Vec<Rendered>, ExportError>>();
                match chunk {
                    // A closed channel: the writer thread stopped, and says why below.
                    Ok(chunk) => {
                        if tx.send(chunk).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        rendering = Err(e);
                        break;
                    }
                }
            }
            drop(tx);
            let taken = consumer
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            rendering?;
            taken
        })
    }

    /// Renders the routes of the readable asset `a` (putting each body, unless the sink takes
    /// them with the chunk).
    fn render_asset(
        &self,
        sink: &dyn Sink,
        session: &mut crate::api::Session,
        a: AssetIdx,
        done: &AtomicU64,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Rendered, ExportError> {
        let (cat, opts) = (self.cat, self.opts);
        if let Some(signal) = opts.interrupt.signal() {
            return Err(ExportError::Interrupted {
                signal,
                out: opts.out.clone(),
                left: None,
            });
        }
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if n % 64 == 0 {
            progress(n);
        }
        let takes = sink.takes_bodies();
        let mut local: Vec<Staged> = Vec::new();
        // The bodies handed on with the chunk (a sink that takes them), each distinct one once.
        let mut bodies: rustc_hash::FxHashMap<[u8; 32], Vec<u8>> = Default::default();
        for job in plan_asset(cat, self.view, opts, &self.variants, a) {
            match job {
                Job::Render { path, target } => {
                    let resp = session.answer(&request_for(self.token, opts, &target));
                    let hash = blake3::hash(&resp.body);
                    let (status, size) = (resp.status, resp.body.len());
                    let e = Staged {
                        entry: Entry::json(&path, vec![target], status, size as u64, hash),
                        owner: a,
                        previous_line: NO_LINE,
                        pack_loc: None,
                    };
                    if !takes {
                        self.count_link(sink.put(&path, &resp.body, hash)?);
                    } else if sink.wants(&hash) {
                        bodies.entry(*hash.as_bytes()).or_insert(resp.body);
                    }
                    local.push(e);
                }
                Job::Alias {
                    path,
                    target,
                    source,
                } => {
                    // Its source is a by-id route of this asset, rendered before it (a few dozen
                    // entries at most: searched, not hashed).
                    let from = local
                        .iter()
                        .rev()
                        .find(|e| {
                            let rel = e.path.strip_prefix(snapshot::PUBLIC_DIR);
                            rel.and_then(|r| r.strip_prefix('/')) == Some(source.as_str())
                        })
                        .expect("an alias follows its source");
                    let (hash, status, size) = (from.blake3, from.status, from.size as usize);
                    if !takes {
                        self.count_link(sink.alias(&path, &source, &hash)?);
                    }
                    local.push(Staged {
                        entry: Entry::json(&path, vec![target], status, size as u64, hash),
                        owner: a,
                        previous_line: NO_LINE,
                        pack_loc: None,
                    });
                }
            }
        }
        // Path order: what the pack layout's body order follows within an asset, and the order
        // an entry spill would want. (Paths are distinct.)
        local.sort_unstable_by(|x, y| x.path.cmp(&y.path));
        let bodies = if takes {
            local
                .iter()
                .map(|e| {
                    let body = bodies.remove(e.blake3.as_bytes())?;
                    let etag = snapshot::pack::body_etag(&body);
                    Some((body, etag))
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Rendered {
            entries: local,
            bodies,
        })
    }

    /// Writes a 403 marker for each asset that exists but the token may not read, into `fresh`
    /// and the staging tree; returns how many.
    fn write_forbidden_markers(
        &self,
        writer: &dyn Sink,
        fresh: &mut spill::Spill,
    ) -> Result<u64, ExportError> {
        // Forbidden ids: a 403 marker each (the live API answers 403, not 404, for them).
        let forbidden_body = crate::api::response::error_body(403);
        let forbidden_hash = blake3::hash(&forbidden_body);
        let mut forbidden = 0;
        for (i, asset) in self.cat.store.assets.iter().enumerate() {
            if asset.trashed || self.view.can_read(i as AssetIdx) {
                continue;
            }
            let rel = path::forbidden_file(&path::asset_dir(&asset.id));
            self.count_link(writer.put(&rel, &forbidden_body, forbidden_hash)?);
            forbidden += 1;
            push(
                fresh,
                &entry(
                    &rel,
                    vec![format!("/__api/assets/{}", pct(&asset.id))],
                    403,
                    &forbidden_body,
                    forbidden_hash,
                ),
            )?;
        }
        Ok(forbidden)
    }

    /// The forbidden markers of the URLs of assets the token may not read (spec §5 403,
    /// revised 2026-12): `<url directory>/~forbidden.json`, unsorted, maybe repeated. They are
    /// never written as they are: the pack layout indexes a hash of each, the files layout
    /// lists a hash of each in its forbidden-URL tables.
    fn forbidden_url_marker_paths(&self) -> impl Iterator<Item = String> + '_ {
        self.cat
            .store
            .assets
            .iter()
            .enumerate()
            .filter(|(i, a)| !a.trashed && !self.view.can_read(*i as AssetIdx))
            .flat_map(|(_, a)| a.urls.iter().filter_map(|u| crate::store::url::key(u)))
            .map(|key| path::forbidden_file(&path::url_dir(&key)))
    }

    /// The pack layout's 403 markers for the URLs of assets the token may not read:
    /// `(key, key of the 403 body)`. They are index entries only — the index holds hashes of
    /// keys, so no file name, manifest line or table shows the URL.
    fn forbidden_url_markers(&self) -> Vec<(String, String)> {
        let body = path::error_file(403);
        let mut keys: Vec<(String, String)> = self
            .forbidden_url_marker_paths()
            .map(|marker| (marker, body.clone()))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// The files layout's forbidden-URL tables (`snapshot::forbidden`, decision D-057): a hash
    /// of each forbidden URL's marker, in a few sorted tables under `__api/~/forbidden-urls/`,
    /// written into `fresh` and the staging tree like the error documents (status 0, no
    /// request: routers read them, no request is answered with them). Returns the digits that
    /// split them, for `routes.json`; `None` (no table) when the token may read every URL.
    fn write_forbidden_url_tables(
        &self,
        writer: &dyn Sink,
        fresh: &mut spill::Spill,
    ) -> Result<Option<u8>, ExportError> {
        use snapshot::forbidden;
        let mut lines: Vec<forbidden::Line> = self
            .forbidden_url_marker_paths()
            .map(|marker| forbidden::line_of(&marker))
            .collect();
        if lines.is_empty() {
            return Ok(None);
        }
        lines.par_sort_unstable();
        lines.dedup();
        let digits = forbidden::digits_for(lines.len());
        let tables = forbidden::tables(&lines, digits);
        let _ = self.forbidden_url_lines.set(lines);
        for (rel, bytes) in tables {
            let hash = blake3::hash(&bytes);
            self.count_link(writer.put(&rel, &bytes, hash)?);
            push(
                fresh,
                &Staged {
                    entry: Entry {
                        path: format!("{}/{rel}", snapshot::PUBLIC_DIR),
                        requests: Vec::new(),
                        status: snapshot::manifest::ROUTER_FILE_STATUS,
                        content_type: snapshot::ContentType::Other("".into()),
                        size: bytes.len() as u64,
                        blake3: hash,
                    },
                    owner: inputs::NO_OWNER,
                    previous_line: NO_LINE,
                    pack_loc: None,
                },
            )?;
        }
        Ok(Some(digits))
    }

    /// What takes every entry in path order for the counts, the route files' changes against
    /// `previous` (`taken`: how many entries were taken over as they were, and by asset
    /// whether its were), the files layout's host tables (`hosts`), the pack layout's `index`,
    /// and, above [`disk::WALK_LIMIT`] files, what `public/` takes on disk.
    #[allow(clippy::too_many_arguments)]
    fn collator<'c, 'p>(
        &'c self,
        entries: u64,
        previous: Option<&'c mut previous::Previous>,
        taken: (u64, &'c [bool]),
        index: Option<&'c mut pack::PackIndex<'p>>,
        routes: &'c routes::RouteSpec,
        hosts: &[&crate::router::Host],
        assets: u64,
        forbidden: u64,
    ) -> Result<Collator<'c, 'p>, ExportError> {
        let (opts, root) = (self.opts, self.root);
        let files_layout = opts.layout.layout == Layout::Files;
        let tables = match files_layout {
            true => {
                Some(crate::router::Tables::create(root, routes, hosts).map_err(tables_err(root))?)
            }
            false => None,
        };
        let public = (files_layout && entries > disk::WALK_LIMIT)
            .then(|| disk::PublicModel::new(opts.dedupe, estimate::block_size(&opts.out)));
        let (kept, reused_asset) = taken;
        Ok(Collator {
            root,
            tables,
            public,
            changes: changes::RouteChanges::new(previous, kept),
            unique: index.is_none().then(Default::default),
            counts: Counts {
                assets,
                forbidden,
                files: 0,
                bytes: 0,
                unique_bodies: 0,
                unique_bytes: 0,
            },
            reused_asset,
            index,
        })
    }

    /// [`Run::collator`] over every entry of `runs`, merged in path order, in one pass (the
    /// files layout's, before its manifest).
    #[allow(clippy::too_many_arguments)]
    fn collate(
        &self,
        runs: &spill::Runs,
        previous: Option<&mut previous::Previous>,
        taken: (u64, &[bool]),
        routes: &routes::RouteSpec,
        hosts: &[&crate::router::Host],
        assets: u64,
        forbidden: u64,
    ) -> Result<Collated, ExportError> {
        let mut collator = self.collator(
            runs.len(),
            previous,
            taken,
            None,
            routes,
            hosts,
            assets,
            forbidden,
        )?;
        let read_err = |e: io::Error| spill_err(runs_dir(runs))(e);
        let mut merged = runs.merge().map_err(read_err)?;
        while let Some(e) = merged.next().map_err(read_err)? {
            collator.add(e)?;
        }
        drop(merged);
        collator.finish(&self.forbidden_url_lines)
    }

    /// Writes `manifest.jsonl` (every entry of `runs`, merged in path order, after the router
    /// files' lines) and, when the executable could be identified, the inputs it records
    /// (`_cache/`: each asset's fingerprint and the owner of each manifest line); returns the
    /// root hash. `each` takes every entry as it goes by, in path order.
    fn write_manifest_and_inputs(
        &self,
        runs: &spill::Runs,
        previous: Option<&previous::ManifestText>,
        fingerprints: &Fingerprints,
        each: &mut (dyn FnMut(&Staged) -> Result<(), ExportError> + Send),
    ) -> Result<String, ExportError> {
        let (cat, root) = (self.cat, self.root);
        let routers = snapshot::manifest::router_entries(root).map_err(io_err(format!(
            "hashing {}",
            root.join(snapshot::ROUTERS_DIR).display()
        )))?;
        // The recorded inputs, and each asset's position in them (what the owners file holds),
        // are rendered on a thread of their own while the manifest is written (alone before
        // it, they took a 1M-asset export's merge its first second, one core busy): each line's
        // owner is kept as its asset meanwhile, turned into its position at the end.
        let recording = fingerprints.global.is_some();
        let render_inputs = || {
            fingerprints.global.as_ref().map(|g| {
                let listed = fingerprints
                    .readable
                    .iter()
                    .zip(&fingerprints.per_asset)
                    .filter_map(|(&a, fp)| Some((cat.store.asset(a).id.as_str(), (*fp)?, a)))
                    .collect();
                inputs::render(g, listed, cat.store.assets.len())
            })
        };
        // The router files' lines come first: no owner.
        let mut owners: Vec<u32> = Vec::new();
        if recording {
            owners.reserve_exact(routers.len() + runs.len() as usize);
            owners.extend(std::iter::repeat_n(inputs::NO_OWNER, routers.len()));
        }
        // The entries come from the runs a group at a time (formatted in parallel, then
        // written); the manifest is streamed to disk while it is hashed: at millions of files it
        // runs to gigabytes. A line taken over is read again from the previous manifest, which
        // must not have changed since it was read.
        let mut merged = runs.merge().map_err(spill_err(runs_dir(runs)))?;
        // One thread merges the runs into groups while this one formats the previous group in
        // parallel and a third hashes and writes the one before, then hands each of its entries
        // to `each` (`manifest::write_groups`).
        let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Group>>(1);
        // Written groups come back to be filled again: their entries' strings are reused.
        let (back_tx, back_rx) = std::sync::mpsc::sync_channel::<Vec<Staged>>(2);
        let copy_failed = std::sync::OnceLock::new();
        let refused = std::sync::OnceLock::new();
        let (written, owners, recorded) = std::thread::scope(|scope| {
            let recorded = std::thread::Builder::new()
                .name("matrix-snapshot-inputs".into())
                .spawn_scoped(scope, render_inputs)
                .map_err(io_err("starting the recorded inputs' thread"))?;
            let producer = scope.spawn(move || {
                'groups: loop {
                    let mut group = back_rx
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(MANIFEST_GROUP));
                    let mut n = 0;
                    while n < MANIFEST_GROUP {
                        match merged.next() {
                            Ok(Some(e)) => {
                                if recording {
                                    owners.push(e.owner);
                                }
                                match group.get_mut(n) {
                                    Some(to) => copy_staged(to, e),
                                    None => group.push(e.clone()),
                                }
                                n += 1;
                            }
                            Ok(None) => break,
                            Err(e) => {
                                let _ = tx.send(Err(e));
                                break 'groups;
                            }
                        }
                    }
                    group.truncate(n);
                    // A closed channel: the writer stopped, and says why.
                    let group = Group {
                        entries: group,
                        back: back_tx.clone(),
                    };
                    if group.is_empty() || tx.send(Ok(group)).is_err() {
                        break;
                    }
                }
                owners
            });
            // Gigabytes at millions of files, which nothing reads during the export: written
            // past the page cache (`direct`).
            let manifest = root.join(snapshot::MANIFEST_FILE);
            let written = direct::DirectFile::replace(&manifest, MANIFEST_WRITE_BUFFER).and_then(
                |mut out| {
                    let hash = snapshot::manifest::write_groups(
                        &mut out,
                        &routers,
                        rx.into_iter(),
                        |e: &Staged, buf| match previous.filter(|_| e.previous_line != NO_LINE) {
                            Some(text) => {
                                if let Err(e) = text.line(e.previous_line, buf) {
                                    let _ = copy_failed.set(e);
                                }
                            }
                            None => e.entry.write_line(buf),
                        },
                        // What `each` refused stops the manifest (the staging tree is not
                        // kept); it is returned below, not the error that stopped the writer.
                        |e: &Staged| {
                            each(e).map_err(|err| {
                                let _ = refused.set(err);
                                io::Error::other("refused")
                            })
                        },
                    )?;
                    out.finish(&mut |_| {})?;
                    Ok(hash)
                },
            );
            let owners = producer
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            let recorded = recorded
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            Ok::<_, ExportError>((written, owners, recorded))
        })?;
        if let Some(err) = refused.into_inner() {
            return Err(err);
        }
        let root_hash = written
            .and_then(|hash| copy_failed.into_inner().map_or(Ok(hash), Err))
            .map_err(io_err(format!("writing {}", snapshot::MANIFEST_FILE)))?;
        if let Some((text, positions)) = recorded {
            let owners = inputs::render_owners(
                &root_hash,
                owners.into_iter().map(|a| match a {
                    inputs::NO_OWNER => inputs::NO_OWNER,
                    a => positions[a as usize],
                }),
            );
            let path = root.join(inputs::FILE);
            fs::create_dir_all(path.parent().expect("under root"))
                .and_then(|()| fs::write(&path, text))
                .and_then(|()| fs::write(root.join(inputs::OWNERS_FILE), owners))
                .map_err(io_err(format!("writing {}", path.display())))?;
        }
        Ok(root_hash)
    }

    /// Writes `snapshot.json`.
    fn write_snapshot_json(&self, counts: &Counts, root_hash: &str) -> Result<(), ExportError> {
        let (cat, opts, root, token) = (self.cat, self.opts, self.root, self.token);
        let info = snapshot::Info {
            format: opts.layout.layout.format().to_string(),
            tool: concat!("matrix-snapshot ", env!("CARGO_PKG_VERSION")).to_string(),
            store: snapshot::StoreInfo {
                name: cat.store.meta.name.clone(),
                fingerprint: cat.store.fingerprint.clone(),
            },
            token: snapshot::TokenInfo {
                name: token.name.clone(),
                user_id: token.user_id.clone().unwrap_or_default(),
            },
            root_nodes: token.root_nodes.clone(),
            base_url: opts.base_url.as_ref().map(|(s, h)| {
                format!(
                    "{}://{h}",
                    if *s == Scheme::Http { "http" } else { "https" }
                )
            }),
            profile: profile_summary(&opts.profile),
            counts: counts.clone(),
            root_hash: root_hash.to_string(),
        };
        fs::write(root.join(snapshot::INFO_FILE), info.to_json())
            .map_err(io_err(format!("writing {}", snapshot::INFO_FILE)))
    }

    /// Completes `changes` (the route files' changes) with the staged meta files compared with
    /// what `out` holds; in a first export, every file is added: the `files` route files are
    /// those of the manifest (not listed: [`Changes::all_routes_added`]).
    fn compare(
        &self,
        changes: &mut Changes,
        previous: Option<previous::Previous>,
        root_hash: &str,
        files: u64,
    ) -> Result<(), ExportError> {
        let out = &self.opts.out;
        if previous.is_none() {
            changes.all_routes_added = Some(AllAdded {
                manifest: out.join(snapshot::MANIFEST_FILE),
                files,
            });
        }
        changes::meta_changes(changes, previous.as_ref(), root_hash, self.root, out)
            .map_err(io_err(format!("comparing with {}", out.display())))?;
        drop(previous);
        Ok(())
    }
}

/// What [`Run::collate`] found.
struct Collated {
    changes: Changes,
    counts: Counts,
    /// What `public/` takes on disk (files layout, above [`disk::WALK_LIMIT`] files).
    public: Option<u64>,
}

/// Takes every entry of an export in path order ([`Run::collator`]), once.
struct Collator<'c, 'p> {
    root: &'c Path,
    tables: Option<crate::router::Tables<'c>>,
    public: Option<disk::PublicModel>,
    changes: changes::RouteChanges<'c>,
    /// Files layout: the distinct bodies, by the first 16 bytes of their blake3 (FxHash: the
    /// keys are already uniformly distributed hashes). The pack layout's index counts them
    /// without a lookup for each entry ([`pack::PackIndex::distinct_bodies`]).
    unique: Option<rustc_hash::FxHashSet<u128>>,
    counts: Counts,
    reused_asset: &'c [bool],
    index: Option<&'c mut pack::PackIndex<'p>>,
}

impl Collator<'_, '_> {
    /// The next entry (after every one that sorts before it).
    fn add(&mut self, e: &Staged) -> Result<(), ExportError> {
        let counts = &mut self.counts;
        counts.files += 1;
        counts.bytes += e.size;
        let first = self.unique.as_mut().is_some_and(|unique| {
            unique.insert(u128::from_le_bytes(
                e.blake3.as_bytes()[..16].try_into().expect("16 bytes"),
            ))
        });
        if first {
            counts.unique_bodies += 1;
            counts.unique_bytes += e.size;
        }
        let taken_over = e.owner != inputs::NO_OWNER && self.reused_asset[e.owner as usize];
        if !taken_over {
            self.changes.fresh(e);
        }
        if let Some(t) = &mut self.tables {
            t.add(e).map_err(tables_err(self.root))?;
        }
        if let Some(index) = self.index.as_deref_mut() {
            index.add(e)?;
        }
        if let Some(m) = &mut self.public {
            m.add(&e.path, e.size, first);
        }
        Ok(())
    }

    /// The counts and changes, once every entry is in; the host tables completed with the
    /// forbidden-URL lines.
    fn finish(
        self,
        forbidden_url_lines: &std::sync::OnceLock<Vec<snapshot::forbidden::Line>>,
    ) -> Result<Collated, ExportError> {
        drop(self.unique);
        let mut counts = self.counts;
        if let Some(index) = &self.index {
            (counts.unique_bodies, counts.unique_bytes) = index.distinct_bodies();
        }
        if let Some(t) = self.tables {
            let lines = forbidden_url_lines.get().map_or(&[][..], Vec::as_slice);
            t.finish(lines).map_err(tables_err(self.root))?;
        }
        Ok(Collated {
            changes: self.changes.finish(),
            counts,
            public: self.public.map(disk::PublicModel::finish),
        })
    }
}

/// An error writing the host tables into the staging tree `root`.
fn tables_err(root: &Path) -> impl FnOnce(io::Error) -> ExportError {
    io_err(format!(
        "writing {}",
        root.join(crate::router::ETAGS_FILE).display()
    ))
}

/// A group of entries on its way to the manifest's writer; once written (dropped), it goes back
/// to the thread that fills groups, whose next group reuses its entries' strings
/// ([`copy_staged`]) instead of allocating three for each of millions of entries.
struct Group {
    entries: Vec<Staged>,
    back: std::sync::mpsc::SyncSender<Vec<Staged>>,
}

impl std::ops::Deref for Group {
    type Target = [Staged];
    fn deref(&self) -> &[Staged] {
        &self.entries
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // Full (or the filler gone): the entries are simply freed.
        let _ = self.back.try_send(std::mem::take(&mut self.entries));
    }
}

/// Overwrites `to` with `from`, reusing `to`'s strings.
fn copy_staged(to: &mut Staged, from: &Staged) {
    let (t, f) = (&mut to.entry, &from.entry);
    t.path.clone_from(&f.path);
    t.requests.clone_from(&f.requests);
    t.status = f.status;
    t.content_type.clone_from(&f.content_type);
    t.size = f.size;
    t.blake3 = f.blake3;
    to.owner = from.owner;
    to.previous_line = from.previous_line;
    to.pack_loc = from.pack_loc;
}

/// Entries formatted at a time for the manifest: about 10 MB of entries and 12 MB of lines.
const MANIFEST_GROUP: usize = snapshot::manifest::GROUP;

/// The manifest's write buffer: whole pages past the page cache, 4 MiB at a time.
const MANIFEST_WRITE_BUFFER: usize = 4 << 20;

/// The scratch directory of `runs`, for errors.
fn runs_dir(runs: &spill::Runs) -> &Path {
    runs.path()
}

/// Adds `e` to the spill.
fn push(spill: &mut spill::Spill, e: &Staged) -> Result<(), ExportError> {
    spill.push(e).map_err(|err| spill_err(spill.dir())(err))
}

fn entry(rel: &str, requests: Vec<String>, status: u16, body: &[u8], hash: blake3::Hash) -> Staged {
    Staged {
        entry: Entry::json(rel, requests, status, body.len() as u64, hash),
        owner: inputs::NO_OWNER,
        previous_line: NO_LINE,
        pack_loc: None,
    }
}

/// The readable assets and the input fingerprint of each (in parallel).
fn fingerprint(
    cat: &Catalog,
    opts: &ExportOptions,
    view: &View,
    variants: &Variants,
) -> Fingerprints {
    let global = inputs::global(&render_settings(cat, opts, variants));
    let readable: Vec<AssetIdx> = view.readable().collect();
    let per_asset: Vec<Option<u128>> = readable
        .par_iter()
        .map(|&a| global.map(|g| inputs::of_asset(cat, view, &g, a)))
        .collect();
    Fingerprints {
        global,
        readable,
        per_asset,
    }
}

/// The entries taken over, into a sorted run of the spill, and which assets they belong to.
struct TakeOver<'a> {
    run: spill::SortedRun,
    reused_asset: &'a mut [bool],
}

impl previous::Keep for TakeOver<'_> {
    fn keep(&mut self, e: &Staged) -> io::Result<()> {
        self.reused_asset[e.owner as usize] = true;
        self.run.push(e)
    }

    fn restart(&mut self) -> io::Result<()> {
        self.reused_asset.fill(false);
        self.run.clear()
    }
}

/// Reads and splits the previous manifest of `out`: in an incremental export (`update`), the
/// entries of the assets whose fingerprints are those the previous snapshot recorded are taken
/// over (into a sorted run of `spill`, as they are read: in manifest order); the rest is what
/// this export's files are compared with. `pack` finds the previous bodies as the lines are
/// read. [`TakenOver::previous`] is `None` when there was no previous snapshot or its manifest
/// is not one.
fn take_over(
    cat: &Catalog,
    out: &Path,
    previous: Option<previous::PreviousManifest>,
    update: bool,
    fingerprints: &Fingerprints,
    spill: &mut spill::Spill,
    mut pack: Option<&mut pack::PackFinder>,
) -> Result<TakenOver, ExportError> {
    let readable = &fingerprints.readable;
    let spill_dir = spill.dir().to_path_buf();
    // Assets whose files were taken over (their entries carry the owner).
    let mut reused_asset = vec![false; cat.store.assets.len()];
    let mut kept = 0;
    let mut seen = |files: &[(&str, [u8; 32])]| {
        if let Some(p) = pack.as_deref_mut() {
            p.add(files);
        }
    };
    let previous = match (previous, &fingerprints.global) {
        (Some(prev), Some(g)) if update => {
            let recorded = inputs::load(out, g);
            let mut kept_as = vec![inputs::NO_OWNER; recorded.len()];
            for (&a, fp) in readable.iter().zip(&fingerprints.per_asset) {
                match (recorded.get(cat.store.asset(a).id.as_str()), fp) {
                    (Some(&(pos, old)), Some(fp)) if old == *fp => kept_as[pos as usize] = a,
                    _ => {}
                }
            }
            drop(recorded);
            let mut keep = TakeOver {
                run: spill.sorted_run().map_err(spill_err(&spill_dir))?,
                reused_asset: &mut reused_asset,
            };
            let rest = prev
                .split_into(&kept_as, &mut keep, &mut seen)
                .map_err(spill_err(&spill_dir))?;
            kept = spill.add_sorted(keep.run).map_err(spill_err(&spill_dir))?;
            rest
        }
        (Some(prev), _) => prev
            .split_into(&[], &mut NoKeep, &mut seen)
            .map_err(spill_err(&spill_dir))?,
        (None, _) => None,
    };
    let reused = readable
        .iter()
        .filter(|&&a| reused_asset[a as usize])
        .count() as u64;
    Ok(TakenOver {
        kept,
        previous: previous.map(|(rest, _)| rest),
        reused_asset,
        reused,
    })
}

/// Takes nothing over (a full export compares with the previous snapshot only).
struct NoKeep;

impl previous::Keep for NoKeep {
    fn keep(&mut self, _: &Staged) -> io::Result<()> {
        Ok(())
    }

    fn restart(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What every body of an export depends on besides the store (the input of
/// [`inputs::global`]): the profile, `--base-url`, the store's contexts and those exported.
fn render_settings(cat: &Catalog, opts: &ExportOptions, variants: &Variants) -> Vec<u8> {
    let mut profile = profile_summary(&opts.profile);
    profile.remove("name"); // the same profile read from another path renders alike
    serde_json::to_vec(&serde_json::json!({
        "format": snapshot::FORMAT,
        "profile": profile,
        "base_url": opts.base_url.as_ref().map(|(s, h)| (*s == Scheme::Https, h)),
        "contexts": cat.store.meta.contexts,
        "context_variants": variants.contexts,
    }))
    .expect("settings serialize")
}

fn profile_summary(p: &Profile) -> BTreeMap<String, serde_json::Value> {
    use serde_json::json;
    let datas = |v: &[Data]| v.iter().map(|d| json!(d.canonical())).collect::<Vec<_>>();
    let mut summary: BTreeMap<&str, serde_json::Value> = BTreeMap::from([
        ("name", json!(p.name)),
        ("data", json!(datas(&p.data))),
        ("children_data", json!(datas(&p.children_data))),
        (
            "sort_by",
            json!(p
                .sort_by
                .iter()
                .map(|k| k.map_or("tree", |k| k.as_str()))
                .collect::<Vec<_>>()),
        ),
        (
            "sort_order",
            json!(p.sort_order.iter().map(|o| o.as_str()).collect::<Vec<_>>()),
        ),
        ("limits", json!(p.limits)),
        ("asset_types", json!(p.asset_types)),
    ]);
    if !p.exclude_attributes.is_empty() {
        summary.insert("exclude_attributes", json!(p.exclude_attributes));
    }
    if p.include_dependents {
        summary.insert("include_dependents", json!([false, true]));
    }
    if !p.base_urls.is_empty() {
        summary.insert("base_urls", json!(p.base_urls));
    }
    match &p.contexts {
        profile::Contexts::Default => {}
        profile::Contexts::All => {
            summary.insert("contexts", json!("all"));
        }
        profile::Contexts::Named(names) => {
            summary.insert("contexts", json!(names));
        }
    }
    summary
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

#[cfg(test)]
mod tests;
