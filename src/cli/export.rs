use super::StoreArgs;
use anyhow::{bail, Context};
use clap::Args;
use matrix_snapshot::api::split_base_url;
use matrix_snapshot::export::{self, ExportOptions, Profile};
use matrix_snapshot::snapshot::Layout;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Write everything a token can ask the Content API as static files.
///
/// For every asset the token's user may read (within its root nodes), every route of the
/// profile — the asset, its lineage and every children page, by id and by each of its URLs — is
/// written under DIR/public/ with the exact bytes the live API answers. Beside it:
/// DIR/manifest.jsonl (every file, its request, status and blake3) and DIR/snapshot.json.
/// Identical bodies are stored once and hard-linked. The snapshot is built beside DIR and
/// swapped in only when complete; the same input always gives byte-identical output.
#[derive(Debug, Args)]
#[command(after_long_help = "\
PROFILES:
  minimal    no data / all data; tree order, ascending; limit 100 (smallest)
  standard   every data subset for assets and lineage; children without and with all data,
             every sort_by, both orders, limit 100 (the default)
  full       every data subset everywhere, every sort, both orders, limits 100 and 0
  FILE.toml  your own (docs/profiles.md), e.g. with the Content API 1.2.0 dimensions
             include_dependents = [false, true], base_urls = [\"https://...\"],
             contexts = \"all\" (--dry-run shows what each adds)

EXAMPLES:
  matrix-snapshot export --token demo-public --base-url https://www.uni.test --out dist
  matrix-snapshot export --token demo-research --profile minimal --base-url https://research.uni.test --out research
  matrix-snapshot export --token demo-public --base-url https://www.uni.test --out dist --changed-list changes.txt   # again later: only what changed
  matrix-snapshot export --token demo-public --base-url https://www.uni.test --out dist --repair   # after `verify dist` failed: rewrite damaged files
  MATRIX_TOKEN=demo-public matrix-snapshot export --token-env MATRIX_TOKEN --profile full --out dist-full --dry-run
  matrix-snapshot export --token demo-public --profile minimal --out dist-min --quiet --format json")]
pub struct ExportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The Content API token whose view is exported (prefer --token-file or --token-env).
    #[arg(
        long,
        value_name = "TOKEN",
        group = "token_source",
        help_heading = "Token"
    )]
    token: Option<String>,
    /// Output directory. Created if absent; if it holds a previous snapshot, only the files
    /// whose bytes change are rewritten and files no longer produced are removed (unchanged
    /// files keep their mtime), with a rollback journal so an interruption leaves the previous
    /// snapshot intact.
    #[arg(short, long, value_name = "DIR", help_heading = "Output")]
    out: PathBuf,
    /// The scheme and host the API is served on: picks each asset's `url` (default: none, so
    /// `url` is each asset's first URL).
    #[arg(long, value_name = "URL", help_heading = "Output")]
    base_url: Option<String>,
    /// Which variants to write: minimal, standard, full or a TOML file.
    #[arg(
        long,
        value_name = "PROFILE",
        default_value = "standard",
        help_heading = "Output"
    )]
    profile: String,
    /// Worker threads (default: one per core).
    #[arg(short, long, value_name = "N", help_heading = "Output")]
    jobs: Option<usize>,
    /// Print what would be written (files, estimated size, free space) and write nothing.
    #[arg(long, help_heading = "Output")]
    dry_run: bool,
    /// Replace DIR even if it is not a previous snapshot.
    #[arg(long, help_heading = "Output")]
    force: bool,
    /// Rebuild the whole snapshot beside DIR and swap it in, instead of updating a previous
    /// snapshot in place.
    #[arg(long, help_heading = "Output")]
    full: bool,
    /// Check every file of the previous snapshot in DIR against its manifest line (size and
    /// blake3, each hard-linked body read once) and rewrite the ones missing or changed since
    /// the last export; an update otherwise trusts them. `verify DIR` says when it is needed.
    /// Files the manifest does not list are left alone (and named).
    #[arg(long, help_heading = "Output", conflicts_with_all = ["full", "dry_run"])]
    repair: bool,
    /// Write the paths that changed against the previous snapshot to FILE, one per line as
    /// `A|M|D<TAB>path` (added, modified, deleted; paths relative to DIR), for uploaders.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    changed_list: Option<PathBuf>,
    /// How public/ holds the routes: `files`, one file per route (any static host), or `pack`,
    /// a few large packs and a sharded index (thousands of files for a million assets: for
    /// hosts with file-count limits; read by `preview` and the pack routers, docs/hosting.md).
    #[arg(long, value_enum, default_value = "files", help_heading = "Output")]
    layout: LayoutArg,
    /// The largest pack of the pack layout (bytes, or with KiB, MiB, GiB) [default: 20MiB,
    /// under Cloudflare's 25 MiB a file]. Smaller packs cost less where a host cannot read a
    /// byte range and sends a whole pack.
    #[arg(long, value_name = "SIZE", value_parser = pack_size, help_heading = "Output")]
    pack_size: Option<u64>,
    /// Memory for the manifest's entries (bytes, or with KiB, MiB, GiB) [default: 64MiB]: past
    /// it they are written, sorted, as a run in a scratch directory beside DIR and merged back
    /// (about 280 bytes of disk per file); a run is written while the next fills, so up to twice
    /// this is held. Any value gives the same snapshot; a smaller one holds less and writes more
    /// runs.
    #[arg(long, value_name = "SIZE", value_parser = entry_buffer, help_heading = "Output")]
    entry_buffer: Option<usize>,
    /// Write every file in full instead of hard-linking identical bodies.
    #[arg(long, help_heading = "Output")]
    no_dedupe: bool,
    /// Routers serve the snapshot without checking the token (anyone who can reach the host
    /// reads what this token reads). Default: a request needs `Authorization: Bearer <token>`,
    /// as the live API does.
    #[arg(long, help_heading = "Routers")]
    public: bool,
    /// Answer cross-origin requests from ORIGIN (CORS headers and OPTIONS preflights).
    #[arg(long, value_name = "ORIGIN", help_heading = "Routers", value_parser = super::origin)]
    cors: Option<String>,
    /// Write the config of these hosts only (repeat, or separate with commas) [default: every
    /// host]; export then warns about what a chosen host cannot honour for this snapshot.
    #[arg(long = "router", value_name = "HOST", value_delimiter = ',', help_heading = "Routers",
          value_parser = clap::builder::PossibleValuesParser::new(matrix_snapshot::router::HOSTS.iter().map(|h| h.name)))]
    routers: Vec<String>,
    /// `Cache-Control` of 200 answers [default: no-cache: revalidate with the ETag every time].
    #[arg(long, value_name = "VALUE", help_heading = "Routers", value_parser = super::cache_control)]
    cache_control: Option<String>,
    /// Nothing on stderr but warnings and errors: no "loaded" line, no progress, no summary.
    #[arg(short, long)]
    quiet: bool,
    /// Format of the summary: text on stderr, or json on stdout (format
    /// `matrix-snapshot-export/1`, docs/json-output.md), printed with --quiet too.
    #[arg(long, value_enum, default_value = "text", conflicts_with = "dry_run")]
    format: super::Format,
    /// Progress on stderr: a bar on a terminal, a line every 5 s otherwise (CI logs).
    #[arg(long, value_enum, value_name = "HOW", default_value = "auto")]
    progress: super::progress::Mode,
    /// Print the wall time of each phase (loading the store, rendering, manifest, host tables,
    /// comparing and applying an incremental update...) to stderr at the end.
    #[arg(long)]
    timings: bool,
    // Last: the help heading it sets would apply to the fields after it.
    #[command(flatten, next_help_heading = "Token")]
    token_source: super::TokenArgs,
}

impl ExportArgs {
    fn token_value(&self) -> anyhow::Result<String> {
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        if let Some(t) = self.token_source.read()? {
            return Ok(t);
        }
        bail!("no token given: use --token, --token-file FILE or --token-env VAR (demo tokens: demo-public, demo-editor, demo-research, demo-admin)")
    }

    /// The profile named by --profile, or an error that lists the names.
    fn profile(&self) -> anyhow::Result<Profile> {
        let spec = &self.profile;
        let named = matches!(spec.as_str(), "minimal" | "standard" | "full");
        if !named && !spec.ends_with(".toml") && !std::path::Path::new(spec).exists() {
            bail!(
                "--profile {spec:?} is neither a profile (minimal, standard, full) nor a file: pass one of those names, or the path of a TOML profile (docs/profiles.md)"
            );
        }
        Ok(Profile::named_or_file(spec)?)
    }

    /// Why no token of the store has the value given, and what to do.
    fn unknown_token(&self, catalog: &matrix_snapshot::Catalog, value: &str) -> String {
        let store = &catalog.store;
        let mut why = String::from(
            "no token of the store has this value, so the API would answer 401 to every request",
        );
        if let Some(t) = store.tokens.iter().find(|t| t.name == value) {
            why.push_str(&format!(
                ": {:?} is a token's name; pass its value (the `value` of its row in tokens.jsonl)",
                t.name
            ));
        } else if value.trim() != value || value.contains(['"', '\'']) {
            why.push_str(
                ": the value given has surrounding spaces or quotes; pass the token alone",
            );
        } else if self.store.store.is_none() {
            why.push_str(": the embedded demo's tokens are demo-public, demo-editor, demo-research and demo-admin (or pass --store DIR)");
        } else {
            why.push_str(&format!(
                ": a token is the `value` of a row of tokens.jsonl; this store has {} token(s) (`matrix-snapshot check --store DIR` lists their names and what each reads)",
                store.tokens.len()
            ));
        }
        why
    }

    /// What `--repair` did, on stderr (the damaged files are named, the first 20).
    fn say_repaired(&self, r: &export::Repair) {
        if r.rebuilt {
            errln!(
                "matrix-snapshot: repaired {}: {}, so the snapshot was rebuilt in full",
                self.out.display(),
                if r.manifest_changed {
                    "manifest.jsonl no longer matched the root hash in snapshot.json"
                } else {
                    "its bodies are in packs (--layout pack), which are repaired whole"
                }
            );
            return;
        }
        if self.quiet {
            return;
        }
        errln!(
            "matrix-snapshot: repaired {} damaged file(s) of {} checked in {}",
            r.damaged.len(),
            r.checked,
            self.out.display()
        );
        for p in r.damaged.iter().take(20) {
            errln!("  {p}");
        }
        if r.damaged.len() > 20 {
            errln!("  … and {} more", r.damaged.len() - 20);
        }
    }

    pub fn run(self) -> anyhow::Result<ExitCode> {
        if let Some(n) = self.jobs {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .build_global()
                .ok();
        }
        let profile = self.profile()?;
        let base_url = match &self.base_url {
            None => None,
            Some(u) => Some(split_base_url(u).with_context(|| {
                format!(
                    "--base-url {u:?} is not an absolute http(s) URL such as https://www.uni.test"
                )
            })?),
        };
        let value = self.token_value()?;
        let loading = Instant::now();
        let loading_cpu = matrix_snapshot::cpu::used();
        let catalog = self
            .store
            .load_catalog(self.quiet || self.format == super::Format::Json)?;
        let load_secs = loading.elapsed().as_secs_f64();
        let load_rss = matrix_snapshot::rss::current();
        let load_cpu = matrix_snapshot::cpu::used()
            .zip(loading_cpu)
            .map(|(now, then)| now - then);
        let Some(token) = catalog.store.token_by_value(&value) else {
            bail!("{}", self.unknown_token(&catalog, &value));
        };
        let opts = ExportOptions {
            token,
            profile,
            base_url,
            out: self.out.clone(),
            force: self.force,
            dedupe: !self.no_dedupe,
            full: self.full,
            routing: export::Routing {
                public: self.public,
                cors: self.cors.clone(),
                cache_control: self.cache_control.clone(),
                routers: self.routers.clone(),
            },
            interrupt: export::Interrupt::default(),
            layout: export::LayoutOptions {
                layout: match self.layout {
                    LayoutArg::Files => Layout::Files,
                    LayoutArg::Pack => Layout::Pack,
                },
                pack_size: self
                    .pack_size
                    .unwrap_or(matrix_snapshot::snapshot::pack::DEFAULT_PACK_SIZE),
            },
            repair: self.repair,
            run_bytes: self.entry_buffer.unwrap_or(export::DEFAULT_RUN_BYTES),
        };
        if self.pack_size.is_some() && opts.layout.layout != Layout::Pack {
            bail!("--pack-size is an option of the pack layout: add --layout pack");
        }
        let token_name = &catalog.store.tokens[token as usize].name;
        if self.dry_run {
            let est = export::estimate(&catalog, &opts)?;
            let parent = self
                .out
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            outln!("dry run: nothing written");
            outln!(
                "  token {token_name:?}, profile {}",
                opts.profile.describe()
            );
            outln!(
                "  {} readable assets, {} forbidden (403 markers)",
                est.assets,
                est.forbidden
            );
            outln!(
                "  {} files ({} of them by_url hard links)",
                est.files,
                est.aliases
            );
            outln!(
                "  about {:.1} MB of bodies, {:.1} MB on disk as du will count it ({:.1} MB of it manifest and router tables; from {} sampled assets, {}-byte blocks)",
                est.bytes as f64 / 1e6,
                est.disk_bytes as f64 / 1e6,
                est.meta_bytes as f64 / 1e6,
                est.sampled,
                export::block_size(&self.out)
            );
            if let Some(g) = catalog.lineage_growth(matrix_snapshot::api::LINEAGE_WARN_DEPTH) {
                outln!(
                    "  of which lineage files about {:.1} MB: the lineage of asset {:?} lists {} ancestors, and every lineage body lists each ancestor (growth with the square of the depth; `check` warns)",
                    est.lineage_bytes as f64 / 1e6,
                    g.id,
                    g.depth
                );
            }
            match export::free_bytes(parent) {
                Some(free) => outln!(
                    "  {:.1} MB free in {}{}",
                    free as f64 / 1e6,
                    parent.display(),
                    if free < est.disk_bytes {
                        ": NOT ENOUGH"
                    } else {
                        ""
                    }
                ),
                None => outln!("  free space in {} unknown", parent.display()),
            }
            // Both layouts, against the hosts' published file limits.
            let (pack_files, pack_bytes, pack_largest) =
                export::pack::estimate(est.files, est.bytes, opts.layout.pack_size);
            outln!(
                "  layouts: files {} files under public/; pack {} files ({:.1} MB at most, the largest {:.1} MB)",
                est.files,
                pack_files,
                pack_bytes as f64 / 1e6,
                pack_largest as f64 / 1e6
            );
            for limit in matrix_snapshot::router::PUBLISHED {
                let say = |fits: bool| if fits { "fits" } else { "too many files" };
                outln!(
                    "    {} ({} files): files layout {}, pack layout {}",
                    limit.host,
                    limit.files,
                    say(matrix_snapshot::router::fits(limit, est.files, 0)),
                    say(matrix_snapshot::router::fits(
                        limit,
                        pack_files,
                        pack_largest
                    ))
                );
            }
            let (plain, dims) = export::estimate_dimensions(&catalog, &opts)?;
            if !dims.is_empty() {
                outln!(
                    "  Content API 1.2.0 dimensions, each alone on top of the profile without them ({} files, {:.1} MB on disk):",
                    plain.files,
                    plain.disk_bytes as f64 / 1e6
                );
                for (name, est) in dims {
                    outln!(
                        "    {name}: +{} files (×{:.2}), +{:.1} MB on disk",
                        est.files - plain.files,
                        est.files as f64 / plain.files.max(1) as f64,
                        est.disk_bytes.saturating_sub(plain.disk_bytes) as f64 / 1e6
                    );
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        let view = catalog.view(token).map_err(export::ExportError::from)?;
        let total = view.readable_count() as u64;
        let progress = super::progress::Progress::start(
            self.progress,
            self.quiet,
            "exporting",
            "assets",
            total,
        );
        let started = Instant::now();
        // From here Ctrl-C (SIGINT) and SIGTERM stop the export cleanly: `out` is left as it
        // was (or, once the new snapshot is going in, it finishes), then the exit status is
        // 128 + the signal, as a shell reports a process the signal ended.
        let signal = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for s in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register_usize(s, signal.clone(), s as usize)
                .context("installing the signal handlers")?;
        }
        let opts = ExportOptions {
            interrupt: export::Interrupt(Some(signal)),
            ..opts
        };
        let result = export::export(&catalog, &opts, &|n| progress.set(n));
        progress.finish();
        let report = match result {
            Err(e @ export::ExportError::Interrupted { signal, .. }) => {
                eprintln!("matrix-snapshot: {e}");
                return Ok(ExitCode::from(128 + signal as u8));
            }
            result => result?,
        };
        if !self.routers.is_empty() {
            let spec = matrix_snapshot::route::preview::Snapshot::open(&self.out)?.routes;
            let layout = matrix_snapshot::snapshot::check_format(&self.out)?;
            for name in &self.routers {
                // The export refused a host that cannot read its layout.
                let host = matrix_snapshot::router::host_for(name, layout)
                    .map_err(|e| anyhow::anyhow!(e))?;
                for limit in
                    matrix_snapshot::router::limits(host, &self.out, &spec, report.counts.files)
                {
                    errln!("matrix-snapshot: warning: {name}: {limit}");
                }
            }
        }
        if let Some(path) = &self.changed_list {
            // Streamed: a first export lists every file of the manifest (millions of lines).
            std::fs::File::create(path)
                .and_then(|f| {
                    let mut out = std::io::BufWriter::with_capacity(1 << 20, f);
                    report.changes.write_name_status(&mut out)?;
                    std::io::Write::flush(&mut out)
                })
                .with_context(|| format!("writing --changed-list {}", path.display()))?;
        }
        if !self.quiet && report.rolled_back > 0 {
            errln!(
                "matrix-snapshot: rolled back {} interrupted update(s) of {} first",
                report.rolled_back,
                self.out.display()
            );
        }
        if let Some(r) = &report.repair {
            self.say_repaired(r);
        }
        if !self.quiet && report.incremental {
            let ch = &report.changes;
            errln!(
                "matrix-snapshot: updated {} in place: {} files added, {} changed, {} deleted, {} unchanged; {} of {} assets kept without rendering (inputs unchanged)",
                self.out.display(),
                ch.added_count(),
                ch.modified.len(),
                ch.deleted.len(),
                ch.unchanged,
                report.reused,
                report.counts.assets
            );
        }
        if let (Some(p), false) = (&report.pack, self.quiet) {
            errln!(
                "matrix-snapshot: pack layout: {} packs ({} written, {} kept, {:.1} MB), {} index shards{} ({} files written, {} kept) for {} index entries{}",
                p.packs_written + p.packs_kept,
                p.packs_written,
                p.packs_kept,
                p.pack_bytes as f64 / 1e6,
                p.shards,
                match p.overlay_shards {
                    0 => String::new(),
                    n => format!(
                        " as before and an overlay of {n} shards holding the {} entries that changed",
                        p.overlay_entries
                    ),
                },
                p.shards_written,
                p.shards_kept,
                p.entries,
                if p.repacked { "; repacked: too much of the kept packs was no longer used" } else { "" }
            );
        }
        let secs = started.elapsed().as_secs_f64();
        if self.format == super::Format::Json {
            let c = &report.counts;
            let ch = &report.changes;
            super::print_json(&serde_json::json!({
                "format": "matrix-snapshot-export/1",
                "out": self.out.to_string_lossy(),
                "token": token_name,
                "profile": opts.profile.describe(),
                "assets": c.assets,
                "forbidden": c.forbidden,
                "files": c.files,
                "bytes": c.bytes,
                "unique_bodies": c.unique_bodies,
                "unique_bytes": c.unique_bytes,
                "disk_bytes": report.disk.map(|d| d.allocated()),
                "apparent_bytes": report.disk.and_then(|d| d.apparent()),
                "disk_measured": matches!(report.disk, Some(export::Disk::Measured(_))),
                "root_hash": report.root_hash,
                "incremental": report.incremental,
                "changes": {
                    "added": ch.added_count(),
                    "modified": ch.modified.len(),
                    "deleted": ch.deleted.len(),
                    "unchanged": ch.unchanged,
                },
                "reused_assets": report.reused,
                "rolled_back": report.rolled_back,
                "repaired": report.repair.as_ref().map(|r| serde_json::json!({
                    "checked": r.checked,
                    "damaged": r.damaged,
                    "manifest_changed": r.manifest_changed,
                    "rebuilt": r.rebuilt,
                })),
                "seconds": (secs * 1000.0).round() / 1000.0,
            }))?;
        } else if !self.quiet {
            let c = &report.counts;
            let (what, shared) = match &report.pack {
                None => ("files", format!("{} hard links", report.linked)),
                Some(_) => ("routes", "in packs".to_string()),
            };
            // What `du -s` will say: bodies in whole blocks, directories, manifest, tables.
            let disk = match report.disk {
                Some(export::Disk::Measured(d)) => {
                    format!("{:.1} MB on disk", d.allocated as f64 / 1e6)
                }
                Some(export::Disk::Estimated(bytes)) => format!(
                    "about {:.1} MB on disk (estimated: `du -s` gives it exactly)",
                    bytes as f64 / 1e6
                ),
                None => "disk use unknown".to_string(),
            };
            errln!(
                "matrix-snapshot: exported {} assets of token {token_name:?} to {}: {} {what} ({shared}), {:.1} MB of bodies ({:.1} MB distinct), {disk} in {:.1}s, {:.0} {what}/s; root hash {}",
                c.assets,
                self.out.display(),
                c.files,
                c.bytes as f64 / 1e6,
                c.unique_bytes as f64 / 1e6,
                secs,
                c.files as f64 / secs.max(1e-9),
                &report.root_hash[..16]
            );
        }
        if self.timings {
            let mut rest = started.elapsed().as_secs_f64();
            errln!("matrix-snapshot: timings");
            let load = export::Phase {
                name: "load the store",
                secs: load_secs,
                cpu: load_cpu,
                rss: load_rss,
            };
            errln!("     wall      cpu  phase (cpu: user + system, all threads)");
            for phase in std::iter::once(&load).chain(&report.phases.done) {
                let cpu = phase.cpu.map_or("       ".into(), |c| format!("{c:>7.2}s"));
                match phase.rss {
                    Some(rss) => errln!(
                        "  {:>7.2}s {cpu}  {:<50} rss {:>10}, peak {:>10}",
                        phase.secs,
                        phase.name,
                        matrix_snapshot::rss::mb(rss.now),
                        matrix_snapshot::rss::mb(rss.peak)
                    ),
                    None => errln!("  {:>7.2}s {cpu}  {}", phase.secs, phase.name),
                }
                rest -= phase.secs;
            }
            rest += load_secs;
            errln!(
                "  {:>7.2}s {:>8}  progress, warnings, summary",
                rest.max(0.0),
                ""
            );
            let e = &report.entries;
            errln!(
                "  manifest entries: {} in {} sorted run(s), at most {} held (--entry-buffer)",
                c_files(report.counts.files),
                e.runs,
                matrix_snapshot::rss::mb(e.held_peak as u64)
            );
        }
        if let Some(signal) = report.interrupted {
            eprintln!(
                "matrix-snapshot: interrupted (signal {signal}) while the new snapshot was going in: it is complete in {}; stopping now",
                self.out.display()
            );
            std::mem::forget(catalog);
            return Ok(ExitCode::from(128 + signal as u8));
        }
        // The process ends right after this: freeing the store and the change list one
        // allocation at a time would only delay the exit (10 s at a million assets).
        std::mem::forget(catalog);
        std::mem::forget(report);
        Ok(ExitCode::SUCCESS)
    }
}

/// `--layout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LayoutArg {
    /// One file per route.
    Files,
    /// Packs and a sharded index.
    Pack,
}

/// `--pack-size`: bytes, or a number with KiB, MiB or GiB.
fn pack_size(s: &str) -> Result<u64, String> {
    match size(s)? {
        b if (4096..=(4u64 << 30) - 1).contains(&b) => Ok(b),
        _ => Err(format!(
            "{s:?}: a pack is between 4 KiB and 4 GiB (offsets are 32-bit)"
        )),
    }
}

/// `--entry-buffer`: a size (as [`size`] reads it) from 1 byte (a run per entry) to 1 GiB.
fn entry_buffer(s: &str) -> Result<usize, String> {
    match size(s)? {
        b if (1..=1u64 << 30).contains(&b) => Ok(b as usize),
        _ => Err(format!(
            "{s:?}: the entry buffer is between 1 byte and 1 GiB"
        )),
    }
}

/// A size in bytes, or with a unit: `20MiB`, `512K`, `1048576`.
fn size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit {other:?}: use KiB, MiB or GiB (e.g. 20MiB)"
            ))
        }
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size such as 20MiB or 1048576"))?;
    n.checked_mul(scale)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// A count with thousands separated (`8,312,345`).
fn c_files(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    out
}
