//! Stage 0 (optional): `crawl` a live Content API into a store (store-format.md).
//!
//! Input: a base URL, a token and root asset ids. Output: a store directory whose single token
//! `crawl` reproduces what the real token saw, so `export`, `diff` and `archive` work on it.
//! Crawl records what it receives; it decides nothing about the API (docs/crawl.md lists what a
//! crawl cannot learn).
//!
//! The walk (docs/crawl.md "What it asks"):
//! 1. each root's lineage by id, with all data (the root itself, and the path that places it);
//! 2. every children list from the roots down, with all data (`limit=0`: all in one page, or
//!    the largest pages the server allows): every child arrives whole in its parent's list, so
//!    walking the tree costs one request per asset;
//! 3. the lineages the crawl cannot infer for sure from what it saw (`known.rs` module doc),
//!    asked where the inference stops being sure, so one answer serves every asset below;
//! 4. answers that contradict each other (the site changed meanwhile: a URL on two assets, a
//!    listed asset that is gone, a cycle) are asked again, and what was done is reported.
//!
//! Each answer is appended to `.OUT.crawl/state.jsonl` (beside OUT) as it completes, so
//! `--resume` continues without asking anything again. The finished store is built in that
//! directory, checked by the store loader, and renamed into place.

pub mod client;
mod known;
mod write;

pub use client::{Client, ClientOptions, FetchError, Stats};

use client::Answer;
use known::{Ask, Known};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The `data` every lineage request asks for: the whole asset.
pub const ALL_DATA: &str = "urls,attributes,metadata,contents";
/// The token value of the crawled store (the real token is never stored).
pub const CRAWL_TOKEN: &str = "crawl";
/// The state file's format line.
const STATE_FORMAT: &str = "matrix-snapshot-crawl-state/2";

/// Bytes kept as they are in an asset id put in a path (RFC 3986 unreserved).
const ID_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What to crawl and how.
#[derive(Debug, Clone)]
pub struct CrawlOptions {
    /// The site's base URL (`https://www.example.edu`); `/__api/` is appended.
    pub base_url: String,
    /// Asset ids to start from.
    pub roots: Vec<String>,
    /// The store directory to write.
    pub out: PathBuf,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Continue an interrupted crawl of the same base URL and roots.
    pub resume: bool,
    /// HTTP settings.
    pub client: ClientOptions,
    /// Set from another thread (Ctrl-C) to stop: requests in flight finish and are checkpointed,
    /// nothing new starts, and the crawl returns [`CrawlError::Interrupted`].
    pub cancel: Arc<AtomicBool>,
}

/// An asset the crawl could not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The asset id.
    pub id: String,
    /// The HTTP status (403, 404, …).
    pub status: u16,
    /// The URL asked.
    pub url: String,
    /// The server's message.
    pub message: String,
}

/// What a finished crawl did.
#[derive(Debug, Clone, Default)]
pub struct CrawlReport {
    /// HTTP requests made by this run (retries and redirects included).
    pub requests: u64,
    /// Retried attempts.
    pub retries: u64,
    /// Assets walked (reachable through children lists from the roots), this run and resumed
    /// ones.
    pub walked: usize,
    /// Of which were already done by an earlier, interrupted run.
    pub resumed: usize,
    /// Lineage requests made (the rest are inferred: docs/crawl.md).
    pub lineages: usize,
    /// Requests made again because answers contradicted each other (the site changed).
    pub reasked: usize,
    /// What was done about a site that changed during the crawl, one line each.
    pub changes: Vec<String>,
    /// Assets in the store (walked ones plus ancestors learnt only from lineages).
    pub assets: usize,
    /// Links in the store.
    pub links: usize,
    /// Unreadable parents added so lineages start where the live API's do (docs/crawl.md).
    pub placeholders: usize,
    /// Assets answered with a 4xx (recorded, not fatal).
    pub refused: Vec<Refusal>,
    /// Wall time of this run.
    pub elapsed: Duration,
}

/// Why a crawl stopped without writing the store.
#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    /// Bad options (base URL, token, output directory).
    #[error("{0}")]
    Usage(String),
    /// The token was refused: nothing more can be read.
    #[error(transparent)]
    Unauthorized(FetchError),
    /// Some assets failed after every retry (or did not answer like the Content API); what was
    /// fetched is checkpointed for `--resume`.
    #[error("{} asset(s) could not be fetched; what was fetched is kept, run again with --resume to continue:\n  {}", .0.len(), .0.iter().take(10).map(|e| e.to_string()).collect::<Vec<_>>().join("\n  "))]
    Incomplete(Vec<FetchError>),
    /// Stopped by [`CrawlOptions::cancel`]; what was fetched is checkpointed.
    #[error("interrupted; what was fetched is kept in {}: run the same command with --resume to continue", .0.display())]
    Interrupted(PathBuf),
    /// Reading or writing files.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The store built from the answers did not load (a bug, or answers that contradict each
    /// other).
    #[error("the crawled store does not load: {0}")]
    Invalid(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CrawlError {
    let what = what.into();
    move |source| CrawlError::Io { what, source }
}

/// The staging directory beside `out`: `.NAME.crawl`.
pub fn staging_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "store".into());
    out.with_file_name(format!(".{name}.crawl"))
}

/// A request (or the pages of one) the crawl makes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Job {
    /// The lineage of `id` with all data: by id (`url: None`) or following `url` (`by_url`).
    Lineage { id: String, url: Option<String> },
    /// Every children page of `id`, with all data.
    Children(String),
    /// The asset `id` again, with all data (its answers conflict with others).
    Asset(String),
}

impl Job {
    fn id(&self) -> &str {
        match self {
            Job::Lineage { id, .. } | Job::Children(id) | Job::Asset(id) => id,
        }
    }
}

/// One answered job: one line of the state file.
#[derive(Debug, Clone)]
struct Entry {
    job: Job,
    refused: Option<Refusal>,
    assets: Vec<Value>,
    links: Vec<Value>,
    /// The requests it took, retries and refused `limit=0` left out (its pages).
    requests: u64,
}

impl Entry {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        let (kind, url) = match &self.job {
            Job::Lineage { url, .. } => ("lineage", url.clone()),
            Job::Children(_) => ("children", None),
            Job::Asset(_) => ("asset", None),
        };
        m.insert("job".into(), json!(kind));
        m.insert("id".into(), json!(self.job.id()));
        if let Some(u) = url {
            m.insert("url".into(), json!(u));
        }
        m.insert("requests".into(), json!(self.requests));
        if let Some(r) = &self.refused {
            m.insert(
                "refused".into(),
                json!({"status": r.status, "url": r.url, "message": r.message}),
            );
        }
        m.insert("links".into(), Value::Array(self.links.clone()));
        m.insert("assets".into(), Value::Array(self.assets.clone()));
        Value::Object(m)
    }

    fn from_json(v: &Value) -> Option<Entry> {
        let id = v.get("id")?.as_str()?.to_string();
        let job = match v.get("job")?.as_str()? {
            "lineage" => Job::Lineage {
                id: id.clone(),
                url: v.get("url").and_then(Value::as_str).map(str::to_string),
            },
            "children" => Job::Children(id.clone()),
            "asset" => Job::Asset(id.clone()),
            _ => return None,
        };
        let refused = match v.get("refused") {
            Some(r) => Some(Refusal {
                id,
                status: r.get("status")?.as_u64()? as u16,
                url: r.get("url")?.as_str()?.to_string(),
                message: r.get("message")?.as_str()?.to_string(),
            }),
            None => None,
        };
        Some(Entry {
            job,
            refused,
            assets: v.get("assets")?.as_array()?.clone(),
            links: v.get("links")?.as_array()?.clone(),
            requests: v.get("requests")?.as_u64()?,
        })
    }
}

/// Takes an answer into what is known; returns the assets it adds to the walk.
fn apply(known: &mut Known, e: &Entry, roots: &[String]) -> Vec<String> {
    let id = e.job.id();
    if let Some(r) = &e.refused {
        known.refused.insert(id.to_string(), r.clone());
    }
    match &e.job {
        Job::Lineage { url, .. } => {
            known.asked.insert(Ask {
                id: id.to_string(),
                url: url.clone(),
            });
            if url.is_none() {
                known.roots_done.insert(id.to_string());
            }
            let Some(own) = e.assets.last().filter(|_| e.refused.is_none()) else {
                return Vec::new();
            };
            let key = match url {
                Some(u) => crate::store::url::key(u),
                None => crate::store::url::key(str_of(own, "url")),
            };
            known.lineage(&e.assets, &e.links, key);
            if url.is_none() && roots.iter().any(|r| r == id) && known.walked.insert(id.into()) {
                return vec![id.to_string()];
            }
            Vec::new()
        }
        Job::Children(_) if e.refused.is_some() => {
            known.children_done.insert(id.to_string());
            Vec::new()
        }
        Job::Children(_) => known.children(id, &e.links, &e.assets),
        Job::Asset(_) => {
            known.asked_again.insert(id.to_string());
            if e.refused.is_some() {
                known.removed.insert(id.to_string());
            } else {
                known.removed.remove(id);
                known.learn(&e.assets, &[]);
            }
            Vec::new()
        }
    }
}

/// Rounds of asking again what conflicts before the last resort (`Known::settle`).
const CONFLICT_ROUNDS: usize = 2;

/// A crawl under way.
struct Crawler<'a> {
    client: &'a Client,
    options: &'a CrawlOptions,
    stats: &'a Stats,
    known: Known,
    state: File,
    no_limit_zero: AtomicBool,
}

/// Crawls the API into `options.out`. `token` is only sent in `Authorization` headers. `stats`
/// is updated as the crawl goes (for a progress bar).
pub fn crawl(
    options: &CrawlOptions,
    token: &str,
    stats: Arc<Stats>,
) -> Result<CrawlReport, CrawlError> {
    let started = Instant::now();
    if options.roots.is_empty() {
        return Err(CrawlError::Usage("at least one --root is needed".into()));
    }
    let client = Client::new(
        &options.base_url,
        token,
        options.client.clone(),
        stats.clone(),
    )
    .map_err(CrawlError::Usage)?;
    check_out(&options.out)?;
    let staging = staging_dir(&options.out);
    let state_path = staging.join("state.jsonl");
    let origin = client.url("");
    let header = json!({"format": STATE_FORMAT, "api": origin, "roots": options.roots});

    // Resume or start.
    let mut known = Known::default();
    if state_path.exists() {
        if !options.resume {
            return Err(CrawlError::Usage(format!(
                "{} holds an unfinished crawl: pass --resume to continue it, or delete that directory to start over",
                staging.display()
            )));
        }
        for e in read_state(&state_path, &header)? {
            apply(&mut known, &e, &options.roots);
        }
    } else {
        fs::create_dir_all(&staging).map_err(io(format!("creating {}", staging.display())))?;
        let mut f =
            File::create(&state_path).map_err(io(format!("creating {}", state_path.display())))?;
        writeln!(f, "{header}").map_err(io("writing the crawl state"))?;
    }
    let resumed = known.children_done.len();
    stats
        .assets
        .store(resumed as u64, std::sync::atomic::Ordering::Relaxed);
    let state = OpenOptions::new()
        .append(true)
        .open(&state_path)
        .map_err(io(format!("opening {}", state_path.display())))?;
    let mut c = Crawler {
        client: &client,
        options,
        stats: &stats,
        known,
        state,
        no_limit_zero: AtomicBool::new(false),
    };

    // Walk the children lists, then ask the lineages that cannot be inferred, then ask again
    // what answers that contradict each other (the site changed meanwhile).
    c.walk_and_lineages(&staging)?;
    let mut changes = Vec::new();
    let mut reasked = 0;
    for round in 0.. {
        let conflicts = c.known.conflicts(&options.roots);
        if conflicts.is_empty() {
            break;
        }
        if round == CONFLICT_ROUNDS {
            let mut conflicts = conflicts;
            // Each pass settles at least one URL or breaks at least one cycle.
            while !conflicts.loads() {
                changes.extend(c.known.settle(&conflicts));
                conflicts = c.known.conflicts(&options.roots);
            }
            break;
        }
        let mut jobs: Vec<Job> = Vec::new();
        let mut push = |j: Job| {
            if !jobs.contains(&j) {
                jobs.push(j);
            }
        };
        for (key, ids) in &conflicts.urls {
            if round == 0 {
                changes.push(format!(
                    "URL {key} was on assets {}: asked them again",
                    ids.join(", ")
                ));
            }
            ids.iter().for_each(|id| push(Job::Asset(id.clone())));
        }
        for cycle in &conflicts.cycles {
            if round == 0 {
                changes.push(format!(
                    "links {} formed a cycle: asked their parents' children again",
                    cycle.join(", ")
                ));
            }
            for l in cycle {
                if let Some((link, _)) = c.known.links.get(l) {
                    push(Job::Children(str_of(link, "major_id").to_string()));
                }
            }
        }
        for id in &conflicts.vanished {
            let status = c.known.refused.get(id).map_or(0, |r| r.status);
            changes.push(format!(
                "asset {id:?} answered {status} after it was listed: asked it again"
            ));
            push(Job::Asset(id.clone()));
        }
        reasked += jobs.len();
        c.run(jobs, true, &staging)?;
        c.walk_and_lineages(&staging)?;
    }
    for id in &c.known.removed {
        changes.push(format!(
            "asset {id:?} is gone or unreadable now: left out of the store"
        ));
    }

    let known = c.known;
    let walked = known
        .walked
        .iter()
        .filter(|id| !known.removed.contains(*id) && known.assets.contains_key(*id))
        .count();
    let mut report = CrawlReport {
        requests: Stats::get(&stats.requests),
        retries: Stats::get(&stats.retries),
        walked,
        resumed,
        lineages: known.asked.len(),
        reasked,
        changes,
        ..CrawlReport::default()
    };
    let built = write::build(&known, &options.roots, &origin)?;
    report.assets = built.assets;
    report.links = built.links;
    report.placeholders = built.placeholders;
    report.refused = known.refused.values().cloned().collect();
    write::install(&built, &staging, &options.out)?;
    report.elapsed = started.elapsed();
    Ok(report)
}

impl Crawler<'_> {
    /// Walks every children list not yet asked (from the roots), then asks the lineages that
    /// cannot be inferred (`Known::lineages_to_ask`) until none is left.
    fn walk_and_lineages(&mut self, staging: &Path) -> Result<(), CrawlError> {
        let mut jobs: Vec<Job> = Vec::new();
        for root in &self.options.roots {
            if !self.known.roots_done.contains(root) {
                jobs.push(Job::Lineage {
                    id: root.clone(),
                    url: None,
                });
            }
        }
        for id in &self.known.walked {
            if !self.known.children_done.contains(id) {
                jobs.push(Job::Children(id.clone()));
            }
        }
        self.run(jobs, true, staging)?;
        loop {
            let asks: Vec<Job> = self
                .known
                .lineages_to_ask()
                .into_iter()
                .filter(|a| !self.known.asked.contains(a))
                .map(|a| Job::Lineage {
                    id: a.id,
                    url: a.url,
                })
                .collect();
            if asks.is_empty() {
                return Ok(());
            }
            self.run(asks, false, staging)?;
        }
    }

    /// Runs `jobs` on `--concurrency` threads; each answer is checkpointed, then taken in.
    /// With `walk`, the children found are walked too.
    fn run(&mut self, jobs: Vec<Job>, walk: bool, staging: &Path) -> Result<(), CrawlError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let stop = AtomicBool::new(false);
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let job_rx = Mutex::new(job_rx);
        type Done = Option<Result<Entry, FetchError>>;
        let (res_tx, res_rx) = mpsc::channel::<Done>();
        let mut failures: Vec<FetchError> = Vec::new();
        let mut fatal: Option<FetchError> = None;
        let mut write_error: Option<CrawlError> = None;
        let mut interrupted = false;
        let (client, no_limit_zero, stats) = (self.client, &self.no_limit_zero, self.stats);
        let (known, state, options) = (&mut self.known, &mut self.state, self.options);
        std::thread::scope(|scope| {
            for _ in 0..options.concurrency.max(1) {
                let res_tx = res_tx.clone();
                let (stop, job_rx) = (&stop, &job_rx);
                scope.spawn(move || loop {
                    let job = job_rx.lock().expect("job queue").recv();
                    let Ok(job) = job else { return };
                    if stop.load(Ordering::Relaxed) {
                        let _ = res_tx.send(None);
                        continue;
                    }
                    let _ = res_tx.send(Some(fetch(client, &job, no_limit_zero)));
                });
            }
            drop(res_tx);
            let mut outstanding = 0usize;
            for job in jobs {
                outstanding += 1;
                let _ = job_tx.send(job);
            }
            while outstanding > 0 {
                if options.cancel.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                    stop.store(true, Ordering::Relaxed);
                    interrupted = true;
                }
                let result = match res_rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(r) => r,
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                };
                outstanding -= 1;
                match result {
                    None => {}
                    Some(Ok(e)) => {
                        // Checkpointed before it counts, even when stopping.
                        if let Err(err) =
                            writeln!(state, "{}", e.to_json()).and_then(|_| state.flush())
                        {
                            write_error.get_or_insert(io("writing the crawl state")(err));
                            stop.store(true, Ordering::Relaxed);
                            continue;
                        }
                        if matches!(e.job, Job::Children(_)) {
                            stats.assets.fetch_add(1, Ordering::Relaxed);
                        }
                        if e.refused.is_some() {
                            stats.errors.fetch_add(1, Ordering::Relaxed);
                        }
                        let new = apply(known, &e, &options.roots);
                        stats
                            .found
                            .store(known.walked.len() as u64, Ordering::Relaxed);
                        if walk && !stop.load(Ordering::Relaxed) {
                            for id in new {
                                if !known.children_done.contains(&id) {
                                    outstanding += 1;
                                    let _ = job_tx.send(Job::Children(id));
                                }
                            }
                        }
                    }
                    Some(Err(e @ FetchError::Unauthorized { .. })) => {
                        stop.store(true, Ordering::Relaxed);
                        fatal.get_or_insert(e);
                    }
                    Some(Err(e)) => {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        failures.push(e);
                    }
                }
            }
            drop(job_tx);
        });
        if let Some(e) = write_error {
            return Err(e);
        }
        if let Some(e) = fatal {
            return Err(CrawlError::Unauthorized(e));
        }
        if interrupted {
            return Err(CrawlError::Interrupted(staging.to_path_buf()));
        }
        if !failures.is_empty() {
            return Err(CrawlError::Incomplete(failures));
        }
        Ok(())
    }
}

/// Refuses an `out` that exists and is neither an empty directory nor a store.
fn check_out(out: &Path) -> Result<(), CrawlError> {
    if !out.exists() {
        return Ok(());
    }
    let is_store = out.join("store.json").is_file();
    let empty = out.is_dir()
        && fs::read_dir(out)
            .map_err(io(format!("reading {}", out.display())))?
            .next()
            .is_none();
    if is_store || empty {
        Ok(())
    } else {
        Err(CrawlError::Usage(format!(
            "{} exists and is not a store (no store.json): refusing to replace it",
            out.display()
        )))
    }
}

fn read_state(path: &Path, header: &Value) -> Result<Vec<Entry>, CrawlError> {
    let file = File::open(path).map_err(io(format!("reading {}", path.display())))?;
    let mut lines = BufReader::new(file).lines();
    let first = lines
        .next()
        .transpose()
        .map_err(io(format!("reading {}", path.display())))?
        .unwrap_or_default();
    let found: Value = serde_json::from_str(&first).unwrap_or(Value::Null);
    if &found != header {
        return Err(CrawlError::Usage(format!(
            "{} is a crawl of another API or other roots ({first}): delete it to start over",
            path.display()
        )));
    }
    let mut visits = Vec::new();
    for line in lines {
        let line = line.map_err(io(format!("reading {}", path.display())))?;
        // A line cut short by an interruption is simply fetched again.
        if let Some(v) = serde_json::from_str::<Value>(&line)
            .ok()
            .as_ref()
            .and_then(Entry::from_json)
        {
            visits.push(v);
        }
    }
    Ok(visits)
}

/// `/__api/assets/{id}` with the id percent-encoded.
fn asset_path(id: &str) -> String {
    format!("/__api/assets/{}", utf8_percent_encode(id, ID_KEEP))
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// `{"links":[…],"assets":[…]}` (lineage and children bodies).
fn parse_pair(body: &Value) -> Result<(Vec<Value>, Vec<Value>), String> {
    let obj = body.as_object().ok_or("the body is not an object")?;
    let list = |k: &str| -> Result<Vec<Value>, String> {
        obj.get(k)
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| format!("no `{k}` list"))
    };
    Ok((list("links")?, list("assets")?))
}

fn shape(client: &Client, why: &str, path: &str) -> FetchError {
    FetchError::NotApi {
        url: client.url(path),
        why: format!("not a Content API answer: {why}"),
    }
}

/// Makes one job's requests.
fn fetch(client: &Client, job: &Job, no_limit_zero: &AtomicBool) -> Result<Entry, FetchError> {
    let mut e = Entry {
        job: job.clone(),
        refused: None,
        assets: Vec::new(),
        links: Vec::new(),
        requests: 1,
    };
    let id = job.id();
    let refuse = |status: u16, path: &str, message: String| Refusal {
        id: id.to_string(),
        status,
        url: client.url(path),
        message,
    };
    match job {
        Job::Lineage { url, .. } => {
            let path = match url {
                None => format!("{}/lineage/site?data={ALL_DATA}", asset_path(id)),
                Some(u) => format!(
                    "/__api/assets/by_url/lineage/site?url={}&data={ALL_DATA}",
                    utf8_percent_encode(u, ID_KEEP)
                ),
            };
            let body = match client.get(&path)? {
                Answer::Json(j) => j,
                Answer::Refused(s, m) => {
                    e.refused = Some(refuse(s, &path, m));
                    return Ok(e);
                }
            };
            let (links, assets) = parse_pair(&body).map_err(|w| shape(client, &w, &path))?;
            if assets.len() != links.len() + 1 {
                return Err(shape(
                    client,
                    "a lineage has one link fewer than assets",
                    &path,
                ));
            }
            // By URL, another asset may hold the URL by now (an edited site): kept, and the
            // conflict is asked again later.
            let last = assets.last().map(|a| str_of(a, "id"));
            if url.is_none() && last != Some(id) {
                return Err(shape(
                    client,
                    "the lineage does not end at the asset asked",
                    &path,
                ));
            }
            for a in &assets {
                write::check_asset(a).map_err(|w| shape(client, &w, &path))?;
            }
            for l in &links {
                write::check_link(l).map_err(|w| shape(client, &w, &path))?;
            }
            e.assets = assets;
            e.links = links;
        }
        Job::Asset(_) => {
            let path = format!("{}?data={ALL_DATA}", asset_path(id));
            match client.get(&path)? {
                Answer::Json(a) => {
                    write::check_asset(&a).map_err(|w| shape(client, &w, &path))?;
                    if str_of(&a, "id") != id {
                        return Err(shape(client, "another asset than the one asked", &path));
                    }
                    e.assets.push(a);
                }
                Answer::Refused(s, m) => e.refused = Some(refuse(s, &path, m)),
            }
        }
        Job::Children(_) => {
            e.requests = 0;
            // All in one page when the server allows `limit=0`, else page by page.
            let base = asset_path(id);
            let mut page = 1u64;
            let mut limit = if no_limit_zero.load(Ordering::Relaxed) {
                String::new()
            } else {
                "&limit=0".to_string()
            };
            let mut seen: HashSet<String> = HashSet::new();
            loop {
                let path = format!("{base}/children?page={page}{limit}&data={ALL_DATA}");
                let body = match client.get(&path)? {
                    Answer::Json(j) => j,
                    Answer::Refused(400, _) if limit == "&limit=0" => {
                        // This server does not take limit=0: page with its default limit.
                        no_limit_zero.store(true, Ordering::Relaxed);
                        limit.clear();
                        continue;
                    }
                    Answer::Refused(s, m) => {
                        e.requests += 1;
                        e.refused = Some(refuse(s, &path, m));
                        e.assets.clear();
                        e.links.clear();
                        return Ok(e);
                    }
                };
                e.requests += 1;
                let (links, assets) = parse_pair(&body).map_err(|w| shape(client, &w, &path))?;
                if links.len() != assets.len() {
                    return Err(shape(
                        client,
                        "children links and assets differ in length",
                        &path,
                    ));
                }
                for (l, a) in links.into_iter().zip(assets) {
                    write::check_link(&l).map_err(|w| shape(client, &w, &path))?;
                    write::check_asset(&a).map_err(|w| shape(client, &w, &path))?;
                    let child = str_of(&a, "id");
                    if str_of(&l, "minor_id") != child || str_of(&l, "major_id") != id {
                        return Err(shape(client, "a child does not match its link", &path));
                    }
                    // A child listed twice (the list changed between pages) is kept once.
                    if seen.insert(child.to_string()) {
                        e.links.push(l);
                        e.assets.push(a);
                    }
                }
                let info = body.get("page_info");
                let total_pages = info
                    .and_then(|p| p.get("total_pages"))
                    .and_then(Value::as_u64)
                    .unwrap_or(1);
                if page >= total_pages {
                    break;
                }
                // The next pages with the page size the server used (it may cap `limit`).
                let used = info
                    .and_then(|p| p.get("limit"))
                    .and_then(Value::as_u64)
                    .filter(|l| *l > 0)
                    .unwrap_or(e.links.len() as u64 / page);
                if used > 0 {
                    limit = format!("&limit={used}");
                }
                page += 1;
            }
        }
    }
    Ok(e)
}
