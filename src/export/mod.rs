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

mod estimate;
mod incremental;
pub mod inputs;
pub mod path;
mod plan;
pub mod profile;
mod writer;

pub use estimate::{estimate, estimate_dimensions, free_bytes, Estimate};
pub use incremental::Changes;

pub use profile::{Contexts, Profile, ProfileError};

use crate::access::View;
use crate::api::{answer_with, Catalog, Data};
use crate::route::{self, RouteSpec};
use crate::store::url::Scheme;
use crate::store::AssetIdx;
use estimate::check_free_space;
#[cfg(test)]
use estimate::BLOCK;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use plan::{api_options, plan_asset, request_for, Job, Variants};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use writer::{Put, Writer};

/// Error documents in every snapshot: the five statuses and the "not exported" 404.
const ERROR_FILES: u64 = 6;

/// The snapshot format written in `snapshot.json`.
pub const SNAPSHOT_FORMAT: &str = "matrix-snapshot/1";

/// Characters left raw in request targets written to the manifest (RFC 3986 unreserved).
const TARGET_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b',');

/// Percent-encodes a path segment or query value for a canonical request target.
pub fn pct(s: &str) -> String {
    utf8_percent_encode(s, TARGET_ESCAPES).to_string()
}

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
}

/// Router options of an export (they shape `_routers/`, never a body).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    /// `--public`: routers do not check the token.
    pub public: bool,
    /// `--cors ORIGIN`.
    pub cors: Option<String>,
    /// `--cache-control VALUE` of 200 answers (default [`crate::route::DEFAULT_CACHE_CONTROL`]).
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
    #[error("{} exists and is not a matrix-snapshot snapshot (no snapshot.json); choose another --out or pass --force to replace it", .0.display())]
    NotASnapshot(PathBuf),
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

/// One line of `manifest.jsonl`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the snapshot directory (`public/__api/…`).
    pub path: String,
    /// The canonical request(s) this file answers.
    pub requests: Vec<String>,
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Size in bytes.
    pub size: u64,
    /// blake3 of the bytes (written as hex; kept as bytes, which matters at millions of files).
    #[serde(serialize_with = "hex_hash")]
    pub blake3: blake3::Hash,
    /// The readable asset whose routes include this file (its index in the store), or
    /// [`inputs::NO_OWNER`] (error documents, 403 markers). Not written in the manifest: an
    /// incremental export records it in [`inputs::OWNERS_FILE`].
    #[serde(skip)]
    pub owner: AssetIdx,
    /// For an entry taken over from the previous manifest: its line there, which the new
    /// manifest copies as it is (then `requests` may be left empty); else [`NO_LINE`].
    #[serde(skip)]
    pub previous_line: u32,
}

/// [`Entry::previous_line`] of an entry formatted anew.
pub const NO_LINE: u32 = u32::MAX;

/// Frees `value` on another thread: millions of entries take seconds to free (10 s at 8M
/// files), which the caller need not wait for; a command-line run exits without waiting.
fn drop_in_background<T: Send + 'static>(value: T) {
    // If no thread can be started, the closure, and `value` with it, is dropped right here.
    let _ = std::thread::Builder::new()
        .name("matrix-snapshot-free".into())
        .spawn(move || drop(value));
}

/// Merges two lists of entries sorted by path into one.
fn merge_sorted(a: Vec<Entry>, b: Vec<Entry>) -> Vec<Entry> {
    if a.is_empty() {
        return b;
    }
    if b.is_empty() {
        return a;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.path <= y.path,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        out.push(if take_a { a.next() } else { b.next() }.expect("peeked"));
    }
    out
}

fn hex_hash<S: serde::Serializer>(h: &blake3::Hash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(h.to_hex().as_str())
}

/// What an export wrote (all derived from the manifest, so identical for identical exports).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Readable assets exported.
    pub assets: u64,
    /// Assets that exist but the token may not read (403 markers).
    pub forbidden: u64,
    /// Files (manifest entries).
    pub files: u64,
    /// Bytes of all files, as a static host serves them.
    pub bytes: u64,
    /// Distinct bodies (with `--dedupe`, each is stored once on disk; the rest are hard links).
    pub unique_bodies: u64,
    /// Bytes of the distinct bodies: the disk the snapshot really uses.
    pub unique_bytes: u64,
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
    /// none), and whether only those files were written (an incremental export).
    pub changes: Changes,
    /// Whether this run updated a previous snapshot in place (only changed files written).
    pub incremental: bool,
    /// Staging trees of interrupted incremental exports that this run rolled back.
    pub rolled_back: usize,
    /// Wall time of each phase, in order (`export --timings`).
    pub phases: Phases,
}

/// Wall time of the phases of an export, in the order they ran.
#[derive(Debug, Clone)]
pub struct Phases {
    last: std::time::Instant,
    /// (phase, seconds).
    pub done: Vec<(&'static str, f64)>,
}

impl Phases {
    fn start() -> Phases {
        Phases {
            last: std::time::Instant::now(),
            done: Vec::new(),
        }
    }

    /// Ends the phase `name`, which began when the previous one ended.
    fn end(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.done
            .push((name, now.duration_since(self.last).as_secs_f64()));
        self.last = now;
    }
}

/// Exports the view of `opts.token` into `opts.out`. `progress` is called with the number of
/// assets done so far.
pub fn export(
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
    let previous = incremental::PreviousManifest::load(out);
    let update = !opts.full && previous.is_some();
    if previous.is_some() {
        phases.end("previous manifest");
    }
    if !update {
        check_free_space(cat, opts, target.parent)?;
    }
    let staging = target.staging(update)?;
    let run = Run {
        cat,
        opts,
        view,
        variants,
        token: &cat.store.tokens[opts.token as usize],
        root: staging.path(),
        links: AtomicU64::new(0),
    };

    // Input fingerprints: an asset whose inputs are those the previous snapshot recorded keeps
    // its files as they are, without rendering; its manifest lines are taken over (an
    // incremental export).
    let fingerprints = run.fingerprint();
    let taken = run.take_over(previous, update, &fingerprints);
    phases.end("fingerprints, previous files taken over");

    let writer = run.writer(taken.previous.as_ref().filter(|_| update))?;
    // Every file written this time (the rest are `taken.kept`). Error documents first (what
    // routers serve for statuses no file answers).
    let mut fresh: Vec<Entry> = Vec::new();
    let hosts = run.write_error_documents_and_routers(&writer, &mut fresh)?;
    phases.end("error documents, routers");

    let readable = &fingerprints.readable;
    let per_asset = run.render_routes(&writer, readable, &taken, progress)?;
    phases.end("render and write routes");
    run.collect_entries(&mut fresh, per_asset, readable.len());
    progress(readable.len() as u64);
    let forbidden = run.write_forbidden_markers(&writer, &mut fresh)?;
    phases.end("collect entries, 403 markers");
    // Everything is written: the dedupe and directory sets go.
    writer.finish();

    let (mut changes, mut entries, counts) = sort_and_count(
        fresh,
        taken.kept,
        taken.previous.as_ref(),
        readable.len() as u64,
        forbidden,
    );
    phases.end("sort, compare routes, count");
    let root_hash = run.write_manifest_and_inputs(
        &entries,
        taken.previous.as_ref().map(|p| &p.text),
        &fingerprints,
    )?;
    phases.end("manifest, recorded inputs");
    run.write_tables_and_snapshot_json(&entries, &hosts, &counts, &root_hash)?;
    phases.end("host tables, snapshot.json");

    run.compare(&mut changes, &mut entries, taken.previous, &root_hash)?;
    phases.end("compare");
    let linked = run.links.into_inner();
    if update {
        incremental::apply(&staging.keep(), out, &changes, None)?;
        phases.end("apply the changes");
    } else {
        swap_into_place(staging.keep(), out)?;
        phases.end("swap into place");
    }
    drop_in_background(entries);
    Ok(Report {
        counts,
        linked,
        reused: taken.reused,
        root_hash,
        changes,
        incremental: update,
        rolled_back: target.rolled_back,
        phases,
    })
}

/// Where an export goes, from [`prepare_out`].
struct Target<'a> {
    /// The directory holding `out` (created), where the staging tree is made.
    parent: &'a Path,
    /// `out`'s file name, which names the staging tree.
    name: String,
    /// Staging trees of interrupted incremental exports that were rolled back.
    rolled_back: usize,
}

/// The checks and clean-up before an export writes anything: creates the directory holding
/// `out`, refuses an `out` that is not a snapshot (unless `force`), removes what killed runs
/// left there and rolls back interrupted incremental exports.
fn prepare_out(out: &Path, force: bool) -> Result<Target<'_>, ExportError> {
    let (parent, name) = parent_and_name(out);
    fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
    check_out_dir(out, force)?;
    remove_stale(parent, &name);
    // An incremental export interrupted mid-update: put the previous snapshot back first.
    let rolled_back = recover_interrupted(out).map_err(io_err(format!(
        "rolling back an interrupted update of {}",
        out.display()
    )))?;
    Ok(Target {
        parent,
        name,
        rolled_back,
    })
}

impl Target<'_> {
    /// Creates the staging tree beside `out` that the export fills: `.NAME.tmp-…` for a full
    /// export (swapped in when complete), [`incremental::staging_prefix`] for an update (its
    /// changes applied to `out`).
    fn staging(&self, update: bool) -> Result<tempfile::TempDir, ExportError> {
        tempfile::Builder::new()
            .prefix(&if update {
                incremental::staging_prefix(&self.name)
            } else {
                format!(".{}.tmp-", self.name)
            })
            .tempdir_in(self.parent)
            .map_err(io_err(format!(
                "creating a staging directory in {}",
                self.parent.display()
            )))
    }
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
}

/// The readable assets and their input fingerprints, from [`Run::fingerprint`].
struct Fingerprints {
    /// The fingerprint of everything the export shares ([`inputs::global`]; `None` when the
    /// executable cannot be identified).
    global: Option<[u8; 32]>,
    /// The assets the view can read.
    readable: Vec<AssetIdx>,
    /// The input fingerprint of each of `readable`, in the same order.
    per_asset: Vec<Option<u128>>,
}

/// What an export takes over from the previous snapshot, from [`Run::take_over`].
struct TakenOver {
    /// The manifest entries of the assets whose files are kept as they are.
    kept: Vec<Entry>,
    /// The rest of the previous manifest, which the files written are compared with.
    previous: Option<incremental::Previous>,
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
        previous: Option<&'w incremental::Previous>,
    ) -> Result<Writer<'w>, ExportError> {
        Writer::new(
            self.root,
            self.opts.dedupe,
            previous.map(|p| (p, self.opts.out.as_path())),
        )
    }

    /// Counts `put` in [`Report::linked`] if it hard-linked a body.
    fn count_link(&self, put: Put) {
        if put == Put::Linked {
            self.links.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The readable assets and the input fingerprint of each (in parallel).
    fn fingerprint(&self) -> Fingerprints {
        let (cat, view) = (self.cat, self.view);
        let global = inputs::global(&render_settings(cat, self.opts, &self.variants));
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

    /// Splits the previous manifest: in an incremental export (`update`), the entries of the
    /// assets whose fingerprints are those the previous snapshot recorded are taken over; the
    /// rest is what this export's files are compared with.
    fn take_over(
        &self,
        previous: Option<incremental::PreviousManifest>,
        update: bool,
        fingerprints: &Fingerprints,
    ) -> TakenOver {
        let cat = self.cat;
        let readable = &fingerprints.readable;
        let (kept, previous) = match (previous, &fingerprints.global) {
            (Some(prev), Some(g)) if update && prev.has_owners() => {
                let recorded = inputs::load(&self.opts.out, g);
                let mut kept_as = vec![inputs::NO_OWNER; recorded.len()];
                for (&a, fp) in readable.iter().zip(&fingerprints.per_asset) {
                    match (recorded.get(cat.store.asset(a).id.as_str()), fp) {
                        (Some(&(pos, old)), Some(fp)) if old == *fp => kept_as[pos as usize] = a,
                        _ => {}
                    }
                }
                let (kept, rest) = prev.split(&kept_as);
                (kept, Some(rest))
            }
            (Some(prev), _) => (Vec::new(), Some(prev.split(&[]).1)),
            (None, _) => (Vec::new(), None),
        };
        // Assets whose files were taken over (their entries carry the owner).
        let mut reused_asset = vec![false; cat.store.assets.len()];
        for e in &kept {
            reused_asset[e.owner as usize] = true;
        }
        let reused = readable
            .iter()
            .filter(|&&a| reused_asset[a as usize])
            .count() as u64;
        TakenOver {
            kept,
            previous,
            reused_asset,
            reused,
        }
    }

    /// Writes the error documents, the body of requests the profile left out and the routers'
    /// configs (`_routers/`) into `fresh` and the staging tree; returns the hosts written.
    fn write_error_documents_and_routers(
        &self,
        writer: &Writer,
        fresh: &mut Vec<Entry>,
    ) -> Result<Vec<&'static crate::router::Host>, ExportError> {
        let (cat, opts, root) = (self.cat, self.opts, self.root);
        for status in [400u16, 401, 403, 404, 405] {
            let body = crate::api::response::error_body(status);
            let rel = format!("__api/~/errors/{status}.json");
            let hash = blake3::hash(&body);
            self.count_link(writer.put(&rel, &body, hash)?);
            fresh.push(entry(&rel, vec![], status, &body, hash));
        }
        // The routing table and the body of requests the profile left out.
        let routes = RouteSpec::new(
            &opts.profile,
            &cat.store.meta.contexts,
            &self.variants.contexts,
            (!opts.routing.public).then_some(self.token.token.as_str()),
            opts.routing.cors.clone(),
            opts.routing.cache_control.clone(),
        );
        let body = routes.not_exported_body();
        let hash = blake3::hash(&body);
        self.count_link(writer.put(route::NOT_EXPORTED_FILE, &body, hash)?);
        fresh.push(entry(route::NOT_EXPORTED_FILE, vec![], 404, &body, hash));
        let hosts =
            crate::router::select(&opts.routing.routers).map_err(ExportError::UnknownRouter)?;
        crate::router::write_all(root, &routes, &hosts).map_err(io_err(format!(
            "writing {}",
            root.join("_routers").display()
        )))?;
        Ok(hosts)
    }

    /// Renders and writes every route of the `readable` assets not `taken` over (in parallel,
    /// calling `progress` as they are done); returns each asset's entries.
    fn render_routes(
        &self,
        writer: &Writer,
        readable: &[AssetIdx],
        taken: &TakenOver,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Vec<Vec<Entry>>, ExportError> {
        let (cat, opts) = (self.cat, self.opts);
        let (reused_asset, reused) = (&taken.reused_asset, taken.reused);
        let request = |target: &str| request_for(self.token, opts, target);
        let api = api_options(cat, opts);
        let done = AtomicU64::new(reused);
        progress(reused);
        readable
            .par_iter()
            .filter(|&&a| !reused_asset[a as usize])
            .map(|&a| {
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n % 64 == 0 {
                    progress(n);
                }
                let mut local = Vec::new();
                let mut written: HashMap<String, (blake3::Hash, u16, usize)> = HashMap::new();
                for job in plan_asset(cat, self.view, opts, &self.variants, a) {
                    match job {
                        Job::Render { path, target } => {
                            let resp = answer_with(cat, &api, &request(&target));
                            let hash = blake3::hash(&resp.body);
                            self.count_link(writer.put(&path, &resp.body, hash)?);
                            written.insert(path.clone(), (hash, resp.status, resp.body.len()));
                            let mut e = entry(&path, vec![target], resp.status, &resp.body, hash);
                            e.owner = a;
                            local.push(e);
                        }
                        Job::Alias {
                            path,
                            target,
                            source,
                        } => {
                            let (hash, status, size) = written[&source];
                            self.count_link(writer.alias(&path, &source, &hash)?);
                            local.push(Entry {
                                path: format!("public/{path}"),
                                requests: vec![target],
                                status,
                                content_type: crate::api::response::CONTENT_TYPE,
                                size: size as u64,
                                blake3: hash,
                                owner: a,
                                previous_line: NO_LINE,
                            });
                        }
                    }
                }
                Ok(local)
            })
            .collect()
    }

    /// Moves the entries of the `readable` assets' routes into `fresh`, after the error
    /// documents.
    fn collect_entries(&self, fresh: &mut Vec<Entry>, per_asset: Vec<Vec<Entry>>, readable: usize) {
        // Sized once: growing by doubling would hold two copies of millions of entries at once.
        // (The forbidden markers come next: at most one per asset not read.)
        fresh.reserve_exact(
            per_asset.iter().map(Vec::len).sum::<usize>()
                + (self.cat.store.assets.len() - readable),
        );
        for local in per_asset {
            fresh.extend(local);
        }
    }

    /// Writes a 403 marker for each asset that exists but the token may not read, into `fresh`
    /// and the staging tree; returns how many.
    fn write_forbidden_markers(
        &self,
        writer: &Writer,
        fresh: &mut Vec<Entry>,
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
            fresh.push(entry(
                &rel,
                vec![format!("/__api/assets/{}", pct(&asset.id))],
                403,
                &forbidden_body,
                forbidden_hash,
            ));
        }
        Ok(forbidden)
    }

    /// Writes `manifest.jsonl` and, when the executable could be identified, the inputs it
    /// records (`_cache/`: each asset's fingerprint and the owner of each manifest line);
    /// returns the root hash.
    fn write_manifest_and_inputs(
        &self,
        entries: &[Entry],
        previous: Option<&incremental::ManifestText>,
        fingerprints: &Fingerprints,
    ) -> Result<String, ExportError> {
        let (cat, root) = (self.cat, self.root);
        // The manifest is streamed to disk while it is hashed: at millions of files it runs to
        // gigabytes.
        let root_hash = write_manifest(&root.join("manifest.jsonl"), entries, previous)
            .map_err(io_err("writing manifest.jsonl"))?;
        if let Some(g) = &fingerprints.global {
            let listed = fingerprints
                .readable
                .iter()
                .zip(&fingerprints.per_asset)
                .filter_map(|(&a, fp)| Some((cat.store.asset(a).id.as_str(), (*fp)?, a)))
                .collect();
            let (text, positions) = inputs::render(g, listed, cat.store.assets.len());
            let owners = inputs::render_owners(
                &root_hash,
                entries.iter().map(|e| match e.owner {
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

    /// Writes the lookup tables of the `hosts` (`_routers/`) and `snapshot.json`.
    fn write_tables_and_snapshot_json(
        &self,
        entries: &[Entry],
        hosts: &[&crate::router::Host],
        counts: &Counts,
        root_hash: &str,
    ) -> Result<(), ExportError> {
        let (cat, opts, root, token) = (self.cat, self.opts, self.root, self.token);
        crate::router::write_tables(root, entries, hosts).map_err(io_err(format!(
            "writing {}",
            root.join(crate::router::ETAGS_FILE).display()
        )))?;
        let info = SnapshotInfo {
            format: SNAPSHOT_FORMAT,
            tool: concat!("matrix-snapshot ", env!("CARGO_PKG_VERSION")),
            store: StoreInfo {
                name: &cat.store.meta.name,
                fingerprint: &cat.store.fingerprint,
            },
            token: TokenInfo {
                name: &token.name,
                user_id: token.user_id.as_deref().unwrap_or_default(),
            },
            root_nodes: &token.root_nodes,
            base_url: opts.base_url.as_ref().map(|(s, h)| {
                format!(
                    "{}://{h}",
                    if *s == Scheme::Http { "http" } else { "https" }
                )
            }),
            profile: profile_summary(&opts.profile),
            counts: counts.clone(),
            root_hash,
        };
        let mut json = serde_json::to_vec_pretty(&info).expect("snapshot info serializes");
        json.push(b'\n');
        fs::write(root.join("snapshot.json"), json).map_err(io_err("writing snapshot.json"))
    }

    /// Completes `changes` (the route files' changes) with the staged meta files compared with
    /// what `out` holds; in a first export, every file is added.
    fn compare(
        &self,
        changes: &mut Changes,
        entries: &mut [Entry],
        previous: Option<incremental::Previous>,
        root_hash: &str,
    ) -> Result<(), ExportError> {
        let out = &self.opts.out;
        if previous.is_none() {
            // A first export: every file is new. Their paths are moved out of the entries, which
            // are not needed any more, rather than copied (a GB at millions of files).
            changes.added = entries
                .iter_mut()
                .map(|e| std::mem::take(&mut e.path))
                .collect();
        }
        incremental::meta_changes(changes, previous.as_ref(), root_hash, self.root, out)
            .map_err(io_err(format!("comparing with {}", out.display())))?;
        drop(previous);
        Ok(())
    }
}

/// Sorts the files written this time by path, compares them with the previous snapshot's,
/// merges the entries taken over (`kept`) in and counts what the snapshot holds.
fn sort_and_count(
    mut fresh: Vec<Entry>,
    kept: Vec<Entry>,
    previous: Option<&incremental::Previous>,
    assets: u64,
    forbidden: u64,
) -> (Changes, Vec<Entry>, Counts) {
    fresh.par_sort_unstable_by(|a, b| a.path.cmp(&b.path));
    let changes = incremental::route_changes(previous, &fresh, kept.len() as u64);
    let entries = merge_sorted(kept, fresh);
    // FxHash: the keys are already uniformly distributed hashes.
    let mut unique: rustc_hash::FxHashMap<&blake3::Hash, u64> =
        rustc_hash::FxHashMap::with_capacity_and_hasher(entries.len() / 2, Default::default());
    for e in &entries {
        unique.insert(&e.blake3, e.size);
    }
    let counts = Counts {
        assets,
        forbidden,
        files: entries.len() as u64,
        bytes: entries.iter().map(|e| e.size).sum(),
        unique_bodies: unique.len() as u64,
        unique_bytes: unique.values().sum(),
    };
    drop(unique);
    (changes, entries, counts)
}

/// Writes `manifest.jsonl` (one JSON line per entry) and returns its blake3 (the root hash).
/// Lines are formatted in parallel, a bounded group of entries at a time (about 100 MB at most
/// in memory, whatever the snapshot's size), then written and hashed in order.
fn write_manifest(
    path: &Path,
    entries: &[Entry],
    previous: Option<&incremental::ManifestText>,
) -> io::Result<String> {
    const CHUNK: usize = 4096;
    const GROUP: usize = 64 * CHUNK;
    let mut out = io::BufWriter::with_capacity(1 << 20, fs::File::create(path)?);
    let mut hasher = blake3::Hasher::new();
    for group in entries.chunks(GROUP) {
        let parts: Vec<Vec<u8>> = group
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut buf = Vec::with_capacity(chunk.len() * 400);
                for e in chunk {
                    match previous.filter(|_| e.previous_line != NO_LINE) {
                        Some(text) => buf.extend_from_slice(text.line(e.previous_line)),
                        None => serde_json::to_writer(&mut buf, e).expect("entries serialize"),
                    }
                    buf.push(b'\n');
                }
                buf
            })
            .collect();
        for part in parts {
            // Hashed on one core while the kernel copies it on the other.
            let ((), written) = rayon::join(
                || {
                    hasher.update(&part);
                },
                || io::Write::write_all(&mut out, &part),
            );
            written?;
        }
    }
    io::Write::flush(&mut out)?;
    Ok(hasher.finalize().to_hex().to_string())
}

fn entry(rel: &str, requests: Vec<String>, status: u16, body: &[u8], hash: blake3::Hash) -> Entry {
    Entry {
        path: format!("public/{rel}"),
        requests,
        status,
        content_type: crate::api::response::CONTENT_TYPE,
        size: body.len() as u64,
        blake3: hash,
        owner: inputs::NO_OWNER,
        previous_line: NO_LINE,
    }
}

#[derive(Serialize)]
struct SnapshotInfo<'a> {
    format: &'static str,
    tool: &'static str,
    store: StoreInfo<'a>,
    token: TokenInfo<'a>,
    root_nodes: &'a [String],
    base_url: Option<String>,
    profile: BTreeMap<&'static str, serde_json::Value>,
    counts: Counts,
    root_hash: &'a str,
}

#[derive(Serialize)]
struct StoreInfo<'a> {
    name: &'a str,
    fingerprint: &'a str,
}

#[derive(Serialize)]
struct TokenInfo<'a> {
    name: &'a str,
    user_id: &'a str,
}

/// What every body of an export depends on besides the store (the input of
/// [`inputs::global`]): the profile, `--base-url`, the store's contexts and those exported.
fn render_settings(cat: &Catalog, opts: &ExportOptions, variants: &Variants) -> Vec<u8> {
    let mut profile = profile_summary(&opts.profile);
    profile.remove("name"); // the same profile read from another path renders alike
    serde_json::to_vec(&serde_json::json!({
        "format": SNAPSHOT_FORMAT,
        "profile": profile,
        "base_url": opts.base_url.as_ref().map(|(s, h)| (*s == Scheme::Https, h)),
        "contexts": cat.store.meta.contexts,
        "context_variants": variants.contexts,
    }))
    .expect("settings serialize")
}

fn profile_summary(p: &Profile) -> BTreeMap<&'static str, serde_json::Value> {
    use serde_json::json;
    let datas = |v: &[Data]| v.iter().map(|d| json!(d.canonical())).collect::<Vec<_>>();
    let mut summary = BTreeMap::from([
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
}

/// Rolls back the incremental exports into `out` that were interrupted while moving their files
/// in (`kill -9`, power loss), so `out` is the previous snapshot again; removes their staging
/// trees. Returns how many were rolled back. Every export does this first.
pub fn recover_interrupted(out: &Path) -> io::Result<usize> {
    let (parent, name) = parent_and_name(out);
    Ok(incremental::recover_all(parent, &name, out)?.len())
}

/// Staging trees of incremental exports into `out` interrupted while moving files in (until
/// the next export rolls them back, `out` may mix old and new files).
pub fn interrupted_updates(out: &Path) -> Vec<PathBuf> {
    let (parent, name) = parent_and_name(out);
    incremental::interrupted(parent, &name)
}

/// The directory holding `out` (`.` for a bare name) and `out`'s file name, which names the
/// staging trees beside it.
fn parent_and_name(out: &Path) -> (&Path, String) {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "snapshot".into());
    (parent, name)
}

/// `out` may be absent, empty, or a previous snapshot (else `--force`).
fn check_out_dir(out: &Path, force: bool) -> Result<(), ExportError> {
    match fs::read_dir(out) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(format!("reading {}", out.display()))(e)),
        Ok(mut entries) => {
            if entries.next().is_none() || out.join("snapshot.json").is_file() || force {
                Ok(())
            } else {
                Err(ExportError::NotASnapshot(out.to_path_buf()))
            }
        }
    }
}

/// Removes `.NAME.tmp-*` and `.NAME.old-*` directories left by killed runs.
fn remove_stale(parent: &Path, name: &str) {
    let prefixes = [format!(".{name}.tmp-"), format!(".{name}.old-")];
    if let Ok(entries) = fs::read_dir(parent) {
        for e in entries.flatten() {
            let file_name = e.file_name().to_string_lossy().into_owned();
            if prefixes.iter().any(|p| file_name.starts_with(p.as_str())) {
                let _ = crate::tree::remove_tree(&e.path());
            }
        }
    }
}

/// Moves the finished staging directory to `out` atomically, then deletes the old tree.
fn swap_into_place(staging: PathBuf, out: &Path) -> Result<(), ExportError> {
    let ctx = || format!("moving the snapshot into {}", out.display());
    if !out.exists() {
        return fs::rename(&staging, out).map_err(io_err(ctx()));
    }
    // Exchange both names in one step: readers see the old tree or the new one, never neither.
    match rustix::fs::renameat_with(
        rustix::fs::CWD,
        &staging,
        rustix::fs::CWD,
        out,
        rustix::fs::RenameFlags::EXCHANGE,
    ) {
        Ok(()) => {}
        Err(_) => {
            // Filesystems without RENAME_EXCHANGE: two renames (a brief window without `out`).
            let old = staging.with_file_name(format!(
                "{}.old-{}",
                staging
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .replace(".tmp-", "."),
                std::process::id()
            ));
            fs::rename(out, &old).map_err(io_err(ctx()))?;
            fs::rename(&staging, out).map_err(io_err(ctx()))?;
            let _ = crate::tree::remove_tree(&old);
            return Ok(());
        }
    }
    // `staging` now holds the previous tree.
    crate::tree::remove_tree(&staging).map_err(io_err(format!(
        "removing the previous snapshot {}",
        staging.display()
    )))?;
    Ok(())
}

#[cfg(test)]
mod tests;
