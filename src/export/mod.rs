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

mod incremental;
pub mod inputs;
pub mod path;
pub mod profile;

pub use incremental::Changes;

pub use profile::{Contexts, Profile, ProfileError};

use crate::access::View;
use crate::api::{answer_with, Catalog, Data, Options, Request, SortKey, SortOrder};
use crate::route::{self, RouteSpec};
use crate::store::url::{self, Scheme};
use crate::store::AssetIdx;
use path::Variant;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
}

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

/// What [`Writer::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Put {
    /// Wrote the bytes.
    Written,
    /// Hard-linked an identical body.
    Linked,
    /// The previous snapshot already holds these bytes at this path (incremental export).
    Unchanged,
}

/// A file to produce for one route.
enum Job {
    /// Render `target` and write it at `path`.
    Render { path: String, target: String },
    /// The same body as the file at `source` (by_url aliases of by-id files).
    Alias {
        path: String,
        target: String,
        source: String,
    },
}

/// The Content API 1.2.0 variants an export writes (the profile's `include_dependents`,
/// `base_urls` and `contexts` against the store), each with the query parameters that ask for
/// it, plain requests first.
pub(crate) struct Variants {
    /// Variants of asset routes (with and without dependents).
    asset: Vec<(Variant, Vec<(&'static str, String)>)>,
    /// Variants of lineage and children routes (`include_dependents` does not apply).
    shared: Vec<(Variant, Vec<(&'static str, String)>)>,
    /// The store's indices of the contexts written.
    pub(crate) contexts: Vec<usize>,
}

impl Variants {
    pub(crate) fn new(cat: &Catalog, profile: &Profile) -> Result<Variants, ExportError> {
        let declared = &cat.store.meta.contexts;
        let contexts = profile.context_indices(declared)?;
        let mut shared = Vec::new();
        for &x in &contexts {
            for b in 0..=profile.base_urls.len() {
                let v = Variant {
                    dependents: false,
                    base_url: (b > 0).then_some(b),
                    context: (x > 0).then_some(x),
                };
                let mut q = Vec::new();
                if b > 0 {
                    q.push(("base_url", profile.base_urls[b - 1].clone()));
                }
                if x > 0 {
                    q.push(("context", declared[x].clone()));
                }
                shared.push((v, q));
            }
        }
        let mut asset = Vec::new();
        for (v, q) in &shared {
            asset.push((*v, q.clone()));
            if profile.include_dependents {
                let mut dq = vec![("include_dependents", "true".to_string())];
                dq.extend(q.iter().cloned());
                asset.push((
                    Variant {
                        dependents: true,
                        ..*v
                    },
                    dq,
                ));
            }
        }
        Ok(Variants {
            asset,
            shared,
            contexts,
        })
    }
}

/// The routes of one readable asset (every file it contributes), in a fixed order.
fn plan_asset(
    cat: &Catalog,
    view: &View,
    opts: &ExportOptions,
    variants: &Variants,
    a: AssetIdx,
) -> Vec<Job> {
    let p = &opts.profile;
    let asset = cat.store.asset(a);
    let id_dir = path::asset_dir(&asset.id);
    let id_target = format!("/__api/assets/{}", pct(&asset.id));
    let mut jobs = Vec::new();
    let data_q = |d: Data, extra: &[(&'static str, String)]| {
        let mut q = vec![("data", d.canonical())];
        q.extend(extra.iter().cloned());
        q
    };
    for &d in &p.data {
        for (v, extra) in &variants.asset {
            jobs.push(Job::Render {
                path: path::asset_file(&id_dir, d, *v),
                target: with_query(&id_target, &data_q(d, extra)),
            });
        }
        for (v, extra) in &variants.shared {
            jobs.push(Job::Render {
                path: path::lineage_file(&id_dir, d, *v),
                target: with_query(&format!("{id_target}/lineage/site"), &data_q(d, extra)),
            });
        }
    }
    let mut children = Vec::new();
    for types in &p.asset_types {
        let total = cat.readable_children(view, a, types.as_deref()).count() as u64;
        for &limit in &p.limits {
            let pages = if limit == 0 {
                1
            } else {
                total.div_ceil(limit).max(1)
            };
            for &data in &p.children_data {
                for &sort in &p.sort_by {
                    for &order in &p.sort_order {
                        for page in 1..=pages {
                            for (variant, extra) in &variants.shared {
                                let mut query = children_query(
                                    data,
                                    sort,
                                    order,
                                    types.as_deref(),
                                    limit,
                                    page,
                                );
                                query.extend(extra.iter().cloned());
                                children.push(ChildrenPage {
                                    data,
                                    sort,
                                    order,
                                    types: types.as_deref(),
                                    limit,
                                    page,
                                    variant: *variant,
                                    query,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    for c in &children {
        jobs.push(Job::Render {
            path: c.file(&id_dir),
            target: with_query(&format!("{id_target}/children"), &c.query),
        });
    }
    // by_url: one directory per URL key; asset and children bodies are the by-id ones.
    let mut keys: Vec<(String, &str)> = asset
        .urls
        .iter()
        .filter_map(|u| url::key(u).map(|k| (k, u.as_str())))
        .collect();
    keys.sort();
    keys.dedup_by(|x, y| x.0 == y.0);
    for (key, spelling) in keys {
        let dir = path::url_dir(&key);
        let url_q = ("url", spelling.to_string());
        let by_url_q = |d: Data, extra: &[(&'static str, String)]| {
            let mut q = vec![url_q.clone()];
            q.extend(data_q(d, extra));
            q
        };
        for &d in &p.data {
            for (v, extra) in &variants.asset {
                jobs.push(Job::Alias {
                    path: path::asset_file(&dir, d, *v),
                    target: with_query("/__api/assets/by_url", &by_url_q(d, extra)),
                    source: path::asset_file(&id_dir, d, *v),
                });
            }
            for (v, extra) in &variants.shared {
                jobs.push(Job::Render {
                    path: path::lineage_file(&dir, d, *v),
                    target: with_query("/__api/assets/by_url/lineage/site", &by_url_q(d, extra)),
                });
            }
        }
        for c in &children {
            let mut q = vec![url_q.clone()];
            q.extend(c.query.iter().cloned());
            jobs.push(Job::Alias {
                path: c.file(&dir),
                target: with_query("/__api/assets/by_url/children", &q),
                source: c.file(&id_dir),
            });
        }
    }
    jobs
}

/// One children page of an asset, as the profile asks for it.
struct ChildrenPage<'p> {
    data: Data,
    sort: Option<SortKey>,
    order: SortOrder,
    types: Option<&'p [String]>,
    limit: u64,
    page: u64,
    variant: Variant,
    /// Its canonical query (without `url`).
    query: Vec<(&'static str, String)>,
}

impl ChildrenPage<'_> {
    fn file(&self, dir: &str) -> String {
        path::children_file(
            dir,
            self.data,
            self.sort,
            self.order,
            self.types,
            self.limit,
            self.page,
            self.variant,
        )
    }
}

/// The canonical query of a children page: defaults left out, fixed parameter order.
fn children_query(
    d: Data,
    sort: Option<SortKey>,
    order: SortOrder,
    types: Option<&[String]>,
    limit: u64,
    page: u64,
) -> Vec<(&'static str, String)> {
    let mut q = vec![("data", d.canonical())];
    if let Some(t) = types {
        q.push(("asset_types", t.join(",")));
    }
    if let Some(k) = sort {
        q.push(("sort_by", k.as_str().to_string()));
    }
    if order == SortOrder::Desc {
        q.push(("sort_order", "desc".into()));
    }
    if limit != crate::api::request::DEFAULT_LIMIT {
        q.push(("limit", limit.to_string()));
    }
    if page != 1 {
        q.push(("page", page.to_string()));
    }
    q
}

fn with_query(path: &str, params: &[(&str, String)]) -> String {
    let q: Vec<String> = params
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", pct(v)))
        .collect();
    if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", q.join("&"))
    }
}

/// What an export would write, from [`estimate`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Estimate {
    /// Readable assets.
    pub assets: u64,
    /// Assets with a 403 marker.
    pub forbidden: u64,
    /// Files, exactly (routes plus error documents and markers).
    pub files: u64,
    /// Files that are by_url aliases (hard links whatever `--dedupe` says).
    pub aliases: u64,
    /// Body bytes as served, estimated from a sample.
    pub bytes: u64,
    /// Disk use estimated from the same sample: every written file takes whole 4 KiB blocks.
    pub disk_bytes: u64,
    /// Assets rendered for the byte estimate.
    pub sampled: u64,
}

const BLOCK: u64 = 4096;

/// Counts the files of an export exactly and estimates its size by rendering every k-th asset
/// (about 500 in all): nothing is written.
pub fn estimate(cat: &Catalog, opts: &ExportOptions) -> Result<Estimate, ExportError> {
    let view = cat.view(opts.token)?;
    let variants = Variants::new(cat, &opts.profile)?;
    let token = &cat.store.tokens[opts.token as usize];
    let readable: Vec<AssetIdx> = view.readable().collect();
    let step = (readable.len() / 500).max(1);
    let api = api_options(cat, opts);
    let per_asset: Vec<(u64, u64, u64, u64, bool)> = readable
        .par_iter()
        .enumerate()
        .map(|(i, &a)| {
            let jobs = plan_asset(cat, view, opts, &variants, a);
            let aliases = jobs
                .iter()
                .filter(|j| matches!(j, Job::Alias { .. }))
                .count() as u64;
            let (mut bytes, mut disk) = (0, 0);
            let sampled = i % step == 0;
            if sampled {
                let mut sizes: HashMap<&str, u64> = HashMap::new();
                // With --dedupe, an asset's variants with the same body (an asset without URLs
                // under every base_url, an untranslated one in every context) share one file.
                let mut bodies: std::collections::HashSet<blake3::Hash> = Default::default();
                for job in &jobs {
                    match job {
                        Job::Render { path, target } => {
                            let body =
                                answer_with(cat, &api, &request_for(token, opts, target)).body;
                            let size = body.len() as u64;
                            sizes.insert(path, size);
                            bytes += size;
                            if !opts.dedupe || bodies.insert(blake3::hash(&body)) {
                                disk += size.div_ceil(BLOCK).max(1) * BLOCK;
                            }
                        }
                        Job::Alias { source, .. } => bytes += sizes[source.as_str()],
                    }
                }
            }
            (jobs.len() as u64, aliases, bytes, disk, sampled)
        })
        .collect();
    let forbidden = (0..cat.store.assets.len() as AssetIdx)
        .filter(|&a| !cat.store.asset(a).trashed && !view.can_read(a))
        .count() as u64;
    let sampled = per_asset.iter().filter(|p| p.4).count() as u64;
    let scale = |x: u64| {
        if sampled == 0 {
            0
        } else {
            (x as u128 * readable.len() as u128 / sampled as u128) as u64
        }
    };
    Ok(Estimate {
        assets: readable.len() as u64,
        forbidden,
        files: per_asset.iter().map(|p| p.0).sum::<u64>() + forbidden + ERROR_FILES,
        aliases: per_asset.iter().map(|p| p.1).sum(),
        bytes: scale(per_asset.iter().map(|p| p.2).sum()),
        disk_bytes: scale(per_asset.iter().map(|p| p.3).sum()) + (forbidden + ERROR_FILES) * BLOCK,
        sampled,
    })
}

/// What each Content API 1.2.0 dimension of the profile adds to an export: the estimate of
/// the profile without any of them, then, for each dimension the profile enables, its name
/// and the estimate with that dimension alone (`export --dry-run` prints the differences).
pub fn estimate_dimensions(
    cat: &Catalog,
    opts: &ExportOptions,
) -> Result<(Estimate, Vec<(String, Estimate)>), ExportError> {
    let p = &opts.profile;
    let plain = Profile {
        include_dependents: false,
        base_urls: Vec::new(),
        contexts: profile::Contexts::Default,
        ..p.clone()
    };
    let with = |profile: Profile| {
        estimate(
            cat,
            &ExportOptions {
                profile,
                ..opts.clone()
            },
        )
    };
    let mut dims = Vec::new();
    if p.include_dependents {
        let one = Profile {
            include_dependents: true,
            ..plain.clone()
        };
        dims.push(("include_dependents = [false, true]".to_string(), with(one)?));
    }
    if !p.base_urls.is_empty() {
        let one = Profile {
            base_urls: p.base_urls.clone(),
            ..plain.clone()
        };
        dims.push((
            format!("base_urls ({} values)", p.base_urls.len()),
            with(one)?,
        ));
    }
    if p.contexts != profile::Contexts::Default {
        let n = p.context_indices(&cat.store.meta.contexts)?.len();
        let one = Profile {
            contexts: p.contexts.clone(),
            ..plain.clone()
        };
        dims.push((format!("contexts ({n}, the default included)"), with(one)?));
    }
    Ok((with(plain)?, dims))
}

/// Free bytes for an unprivileged writer on the filesystem holding `dir`.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// The API options an export renders with: the catalog's, minus the profile's excluded
/// attributes.
fn api_options(cat: &Catalog, opts: &ExportOptions) -> Options {
    Options {
        exclude_attributes: opts.profile.exclude_attributes.clone(),
        ..cat.options.clone()
    }
}

fn request_for(token: &crate::store::Token, opts: &ExportOptions, target: &str) -> Request {
    let r = Request::get(target).bearer(&token.token);
    match &opts.base_url {
        Some((scheme, host)) => r.on_host(*scheme, host),
        None => r,
    }
}

/// Writes files into the staging directory, hard-linking identical bodies; in an incremental
/// export, only the files whose bytes differ from the previous snapshot's.
struct Writer<'a> {
    root: &'a Path,
    dedupe: bool,
    seen: Mutex<HashMap<blake3::Hash, String>>,
    dirs: Mutex<std::collections::HashSet<PathBuf>>,
    /// The previous snapshot being updated, and where it is.
    previous: Option<(&'a incremental::Previous, &'a Path)>,
}

impl Writer<'_> {
    fn make_dir(&self, full: &Path) -> Result<(), ExportError> {
        let dir = full.parent().expect("files live in directories");
        let new_dir = self
            .dirs
            .lock()
            .expect("dirs lock")
            .insert(dir.to_path_buf());
        if new_dir {
            fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        }
        Ok(())
    }

    fn unchanged(&self, rel: &str, hash: &blake3::Hash) -> bool {
        self.previous.is_some_and(|(p, _)| p.unchanged(rel, hash))
    }

    /// A by_url alias at `rel` of the file at `source` (written, or unchanged, this run).
    fn alias(&self, rel: &str, source: &str, hash: &blake3::Hash) -> Result<Put, ExportError> {
        if self.unchanged(rel, hash) {
            return Ok(Put::Unchanged);
        }
        let staged = self.root.join("public").join(source);
        let src = match self.previous {
            Some((_, live)) if self.unchanged(source, hash) => live.join("public").join(source),
            _ => staged,
        };
        let full = self.root.join("public").join(rel);
        self.make_dir(&full)?;
        match fs::hard_link(&src, &full) {
            Ok(()) => Ok(Put::Linked),
            Err(e) if too_many_links(&e) => {
                fs::copy(&src, &full).map_err(io_err(format!("writing {}", full.display())))?;
                Ok(Put::Written)
            }
            Err(e) => Err(io_err(format!("linking {}", full.display()))(e)),
        }
    }

    /// Writes `body` at `rel` (under `public/`).
    fn put(&self, rel: &str, body: &[u8], hash: blake3::Hash) -> Result<Put, ExportError> {
        if rel.split('/').any(|c| c.len() > 255) {
            return Err(ExportError::NameTooLong(rel.to_string()));
        }
        if self.unchanged(rel, &hash) {
            return Ok(Put::Unchanged);
        }
        let full = self.root.join("public").join(rel);
        self.make_dir(&full)?;
        if self.dedupe {
            let first = self.seen.lock().expect("dedupe lock").get(&hash).cloned();
            if let Some(first) = first {
                let src = self.root.join("public").join(first);
                match fs::hard_link(&src, &full) {
                    Ok(()) => return Ok(Put::Linked),
                    // The inode has as many links as the filesystem allows (65,000 on ext4):
                    // write a fresh copy and link later duplicates to it.
                    Err(e) if too_many_links(&e) => {
                        fs::write(&full, body)
                            .map_err(io_err(format!("writing {}", full.display())))?;
                        self.seen
                            .lock()
                            .expect("dedupe lock")
                            .insert(hash, rel.to_string());
                        return Ok(Put::Written);
                    }
                    Err(e) => return Err(io_err(format!("linking {}", full.display()))(e)),
                }
            }
        }
        // Inside the staging tree a plain write is enough: nothing is visible until the swap.
        fs::write(&full, body).map_err(io_err(format!("writing {}", full.display())))?;
        if self.dedupe {
            // Registered only once complete, so a link never points at a half-written file.
            self.seen
                .lock()
                .expect("dedupe lock")
                .entry(hash)
                .or_insert_with(|| rel.to_string());
        }
        Ok(Put::Written)
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
    let token = &cat.store.tokens[opts.token as usize];
    let out = &opts.out;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
    check_out_dir(out, opts.force)?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "snapshot".into());
    remove_stale(parent, &name);
    // An incremental export interrupted mid-update: put the previous snapshot back first.
    let rolled_back = recover_interrupted(out).map_err(io_err(format!(
        "rolling back an interrupted update of {}",
        out.display()
    )))?;
    phases.end("view and checks");
    // Read with --full too: the changes are still reported against it.
    let previous = incremental::PreviousManifest::load(out);
    let update = !opts.full && previous.is_some();
    if previous.is_some() {
        phases.end("previous manifest");
    }
    if !update {
        check_free_space(cat, opts, parent)?;
    }
    let staging = tempfile::Builder::new()
        .prefix(&if update {
            incremental::staging_prefix(&name)
        } else {
            format!(".{name}.tmp-")
        })
        .tempdir_in(parent)
        .map_err(io_err(format!(
            "creating a staging directory in {}",
            parent.display()
        )))?;
    let root = staging.path();

    // Input fingerprints: an asset whose inputs are those the previous snapshot recorded keeps
    // its files as they are, without rendering; its manifest lines are taken over (an
    // incremental export).
    let global = inputs::global(&render_settings(cat, opts, &variants));
    let readable: Vec<AssetIdx> = view.readable().collect();
    let fingerprints: Vec<Option<u128>> = readable
        .par_iter()
        .map(|&a| global.map(|g| inputs::of_asset(cat, view, &g, a)))
        .collect();
    let (kept, previous) = match (previous, &global) {
        (Some(prev), Some(g)) if update && prev.has_owners() => {
            let recorded = inputs::load(out, g);
            let mut kept_as = vec![inputs::NO_OWNER; recorded.len()];
            for (&a, fp) in readable.iter().zip(&fingerprints) {
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
    phases.end("fingerprints, previous files taken over");

    let writer = Writer {
        root,
        dedupe: opts.dedupe,
        seen: Mutex::new(HashMap::new()),
        dirs: Mutex::new(Default::default()),
        previous: previous
            .as_ref()
            .filter(|_| update)
            .map(|p| (p, out.as_path())),
    };
    let request = |target: &str| request_for(token, opts, target);
    let api = api_options(cat, opts);

    // Every file written this time (the rest are `kept`). Error documents first (what routers
    // serve for statuses no file answers).
    let mut fresh: Vec<Entry> = Vec::new();
    let links = std::sync::atomic::AtomicU64::new(0);
    let count_link = |put: Put| {
        if put == Put::Linked {
            links.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    };
    for status in [400u16, 401, 403, 404, 405] {
        let body = crate::api::response::error_body(status);
        let rel = format!("__api/~/errors/{status}.json");
        let hash = blake3::hash(&body);
        count_link(writer.put(&rel, &body, hash)?);
        fresh.push(entry(&rel, vec![], status, &body, hash));
    }
    // The routing table and the body of requests the profile left out.
    let routes = RouteSpec::new(
        &opts.profile,
        &cat.store.meta.contexts,
        &variants.contexts,
        (!opts.routing.public).then_some(token.token.as_str()),
        opts.routing.cors.clone(),
        opts.routing.cache_control.clone(),
    );
    let body = routes.not_exported_body();
    let hash = blake3::hash(&body);
    count_link(writer.put(route::NOT_EXPORTED_FILE, &body, hash)?);
    fresh.push(entry(route::NOT_EXPORTED_FILE, vec![], 404, &body, hash));
    let hosts = crate::router::select(&opts.routing.routers).map_err(ExportError::UnknownRouter)?;
    crate::router::write_all(root, &routes, &hosts).map_err(io_err(format!(
        "writing {}",
        root.join("_routers").display()
    )))?;
    phases.end("error documents, routers");

    let done = std::sync::atomic::AtomicU64::new(reused);
    progress(reused);
    let per_asset: Result<Vec<Vec<Entry>>, ExportError> = readable
        .par_iter()
        .filter(|&&a| !reused_asset[a as usize])
        .map(|&a| {
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n % 64 == 0 {
                progress(n);
            }
            let mut local = Vec::new();
            let mut written: HashMap<String, (blake3::Hash, u16, usize)> = HashMap::new();
            for job in plan_asset(cat, view, opts, &variants, a) {
                match job {
                    Job::Render { path, target } => {
                        let resp = answer_with(cat, &api, &request(&target));
                        let hash = blake3::hash(&resp.body);
                        count_link(writer.put(&path, &resp.body, hash)?);
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
                        count_link(writer.alias(&path, &source, &hash)?);
                        local.push(Entry {
                            path: format!("public/{path}"),
                            requests: vec![target],
                            status,
                            content_type: crate::api::response::CONTENT_TYPE,
                            size: size as u64,
                            blake3: hash,
                            owner: a,
                        });
                    }
                }
            }
            Ok(local)
        })
        .collect();
    let per_asset = per_asset?;
    phases.end("render and write routes");
    // Sized once: growing by doubling would hold two copies of millions of entries at once.
    // (The forbidden markers come next: at most one per asset not read.)
    fresh.reserve_exact(
        per_asset.iter().map(Vec::len).sum::<usize>() + (cat.store.assets.len() - readable.len()),
    );
    for local in per_asset {
        fresh.extend(local);
    }
    progress(readable.len() as u64);

    // Forbidden ids: a 403 marker each (the live API answers 403, not 404, for them).
    let forbidden_body = crate::api::response::error_body(403);
    let forbidden_hash = blake3::hash(&forbidden_body);
    let mut forbidden = 0;
    for (i, asset) in cat.store.assets.iter().enumerate() {
        if asset.trashed || view.can_read(i as AssetIdx) {
            continue;
        }
        let rel = path::forbidden_file(&path::asset_dir(&asset.id));
        count_link(writer.put(&rel, &forbidden_body, forbidden_hash)?);
        forbidden += 1;
        fresh.push(entry(
            &rel,
            vec![format!("/__api/assets/{}", pct(&asset.id))],
            403,
            &forbidden_body,
            forbidden_hash,
        ));
    }
    phases.end("collect entries, 403 markers");
    // Everything is written: the dedupe and directory sets go.
    let Writer { seen, dirs, .. } = writer;
    drop_in_background((seen.into_inner(), dirs.into_inner()));

    fresh.par_sort_unstable_by(|a, b| a.path.cmp(&b.path));
    let mut changes = incremental::route_changes(previous.as_ref(), &fresh, kept.len() as u64);
    let mut entries = merge_sorted(kept, fresh);
    // FxHash: the keys are already uniformly distributed hashes.
    let mut unique: rustc_hash::FxHashMap<&blake3::Hash, u64> =
        rustc_hash::FxHashMap::with_capacity_and_hasher(entries.len() / 2, Default::default());
    for e in &entries {
        unique.insert(&e.blake3, e.size);
    }
    let counts = Counts {
        assets: readable.len() as u64,
        forbidden,
        files: entries.len() as u64,
        bytes: entries.iter().map(|e| e.size).sum(),
        unique_bodies: unique.len() as u64,
        unique_bytes: unique.values().sum(),
    };
    drop(unique);
    phases.end("sort, compare routes, count");
    // The manifest is streamed to disk while it is hashed: at millions of files it runs to
    // gigabytes.
    let root_hash = write_manifest(&root.join("manifest.jsonl"), &entries)
        .map_err(io_err("writing manifest.jsonl"))?;
    if let Some(g) = &global {
        let listed = readable
            .iter()
            .zip(&fingerprints)
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
    phases.end("manifest, recorded inputs");
    crate::router::write_tables(root, &entries, &hosts).map_err(io_err(format!(
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
        root_hash: &root_hash,
    };
    let mut json = serde_json::to_vec_pretty(&info).expect("snapshot info serializes");
    json.push(b'\n');
    fs::write(root.join("snapshot.json"), json).map_err(io_err("writing snapshot.json"))?;
    phases.end("host tables, snapshot.json");

    if previous.is_none() {
        // A first export: every file is new. Their paths are moved out of the entries, which
        // are not needed any more, rather than copied (a GB at millions of files).
        changes.added = entries
            .iter_mut()
            .map(|e| std::mem::take(&mut e.path))
            .collect();
    }
    incremental::meta_changes(&mut changes, previous.as_ref(), &root_hash, root, out)
        .map_err(io_err(format!("comparing with {}", out.display())))?;
    drop(previous);
    phases.end("compare");
    if update {
        incremental::apply(&staging.keep(), out, &changes, None)?;
        phases.end("apply the changes");
    } else {
        swap_into_place(staging.keep(), out)?;
        phases.end("swap into place");
    }
    let linked = links.into_inner();
    drop_in_background(entries);
    Ok(Report {
        counts,
        linked,
        reused,
        root_hash,
        changes,
        incremental: update,
        rolled_back,
        phases,
    })
}

/// Writes `manifest.jsonl` (one JSON line per entry) and returns its blake3 (the root hash).
/// Lines are formatted in parallel, a bounded group of entries at a time (about 100 MB at most
/// in memory, whatever the snapshot's size), then written and hashed in order.
fn write_manifest(path: &Path, entries: &[Entry]) -> io::Result<String> {
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
                    serde_json::to_writer(&mut buf, e).expect("entries serialize");
                    buf.push(b'\n');
                }
                buf
            })
            .collect();
        for part in parts {
            hasher.update(&part);
            io::Write::write_all(&mut out, &part)?;
        }
    }
    io::Write::flush(&mut out)?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// `EMLINK`: the file already has the most hard links the filesystem allows.
fn too_many_links(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::MLINK.raw_os_error())
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
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "snapshot".into());
    Ok(incremental::recover_all(parent, &name, out)?.len())
}

/// Staging trees of incremental exports into `out` interrupted while moving files in (until
/// the next export rolls them back, `out` may mix old and new files).
pub fn interrupted_updates(out: &Path) -> Vec<PathBuf> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "snapshot".into());
    incremental::interrupted(parent, &name)
}

/// Refuses a full export whose estimated size exceeds the free space of `parent`.
fn check_free_space(cat: &Catalog, opts: &ExportOptions, parent: &Path) -> Result<(), ExportError> {
    if let Some(free) = free_bytes(parent) {
        let est = estimate(cat, opts)?;
        if est.disk_bytes > free {
            return Err(ExportError::NoSpace {
                needed: est.disk_bytes / 1_000_000,
                free: free / 1_000_000,
                dir: parent.to_path_buf(),
            });
        }
    }
    Ok(())
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
                let _ = fs::remove_dir_all(e.path());
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
            let _ = fs::remove_dir_all(&old);
            return Ok(());
        }
    }
    // `staging` now holds the previous tree.
    fs::remove_dir_all(&staging).map_err(io_err(format!(
        "removing the previous snapshot {}",
        staging.display()
    )))?;
    Ok(())
}

#[cfg(test)]
mod tests;
