//! Stage 0 (optional): `crawl` a live Content API into a store (store-format.md).
//!
//! Input: a base URL, a token and root asset ids. Output: a store directory whose single token
//! `crawl` reproduces what the real token saw, so `export`, `diff` and `archive` work on it.
//! Crawl records what it receives; it decides nothing about the API (docs/crawl.md lists what a
//! crawl cannot learn).
//!
//! The walk, per asset (2 requests, plus one per extra children page):
//! 1. `GET /__api/assets/{id}/lineage/site?data=urls,attributes,metadata,contents`: the asset
//!    itself with all its data (the lineage's last entry) and the path that places it, with the
//!    link of every step (this is how invisible links and ancestors outside the crawl are learnt);
//! 2. `GET /__api/assets/{id}/children?limit=0`: every child id and link in one page (or the
//!    largest pages the server allows, if it caps `limit`).
//!
//! Each finished asset is appended to `.OUT.crawl/state.jsonl` (beside OUT) as it completes, so
//! `--resume` continues without refetching. The finished store is built in that directory,
//! checked by the store loader, and renamed into place.

pub mod client;
mod write;

pub use client::{Client, ClientOptions, FetchError, Stats};

use client::Answer;
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
const STATE_FORMAT: &str = "matrix-snapshot-crawl-state/1";

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
    /// Assets walked (lineage and children fetched), this run and resumed ones.
    pub walked: usize,
    /// Of which were already done by an earlier, interrupted run.
    pub resumed: usize,
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

/// What one asset's visit learnt (one line of the state file).
#[derive(Debug, Clone, Default)]
struct Visit {
    id: String,
    refused: Option<Refusal>,
    /// Asset objects from the lineages (the asset itself last).
    assets: Vec<Value>,
    /// The first asset of each lineage (where the live API's lineage starts).
    tops: Vec<String>,
    /// The URL each lineage followed (`""`: the asset has none).
    walked: Vec<String>,
    /// Link objects from the lineage and the children.
    links: Vec<Value>,
    /// Child ids, in the order listed.
    children: Vec<String>,
}

impl Visit {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        if let Some(r) = &self.refused {
            m.insert(
                "refused".into(),
                json!({"status": r.status, "url": r.url, "message": r.message}),
            );
        }
        m.insert("assets".into(), Value::Array(self.assets.clone()));
        m.insert("tops".into(), json!(self.tops));
        m.insert("walked".into(), json!(self.walked));
        m.insert("links".into(), Value::Array(self.links.clone()));
        m.insert("children".into(), json!(self.children));
        Value::Object(m)
    }

    fn from_json(v: &Value) -> Option<Visit> {
        let id = v.get("id")?.as_str()?.to_string();
        let refused = match v.get("refused") {
            Some(r) => Some(Refusal {
                id: id.clone(),
                status: r.get("status")?.as_u64()? as u16,
                url: r.get("url")?.as_str()?.to_string(),
                message: r.get("message")?.as_str()?.to_string(),
            }),
            None => None,
        };
        let strings = |k: &str| -> Option<Vec<String>> {
            v.get(k)?
                .as_array()?
                .iter()
                .map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        Some(Visit {
            refused,
            assets: v.get("assets")?.as_array()?.clone(),
            links: v.get("links")?.as_array()?.clone(),
            children: strings("children")?,
            tops: strings("tops")?,
            walked: strings("walked")?,
            id,
        })
    }
}

/// The staging directory beside `out`: `.NAME.crawl`.
pub fn staging_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "store".into());
    out.with_file_name(format!(".{name}.crawl"))
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
    let mut done: Vec<Visit> = Vec::new();
    if state_path.exists() {
        if !options.resume {
            return Err(CrawlError::Usage(format!(
                "{} holds an unfinished crawl: pass --resume to continue it, or delete that directory to start over",
                staging.display()
            )));
        }
        done = read_state(&state_path, &header)?;
    } else {
        fs::create_dir_all(&staging).map_err(io(format!("creating {}", staging.display())))?;
        let mut f =
            File::create(&state_path).map_err(io(format!("creating {}", state_path.display())))?;
        writeln!(f, "{header}").map_err(io("writing the crawl state"))?;
    }
    let resumed = done.len();
    let mut state = OpenOptions::new()
        .append(true)
        .open(&state_path)
        .map_err(io(format!("opening {}", state_path.display())))?;

    // What is done, what is queued.
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue: Vec<String> = Vec::new();
    let done_ids: HashSet<String> = done.iter().map(|v| v.id.clone()).collect();
    let enqueue = |id: &str, seen: &mut HashSet<String>, queue: &mut Vec<String>| {
        if seen.insert(id.to_string()) {
            stats.found.fetch_add(1, Ordering::Relaxed);
            if !done_ids.contains(id) {
                queue.push(id.to_string());
            }
        }
    };
    for root in &options.roots {
        enqueue(root, &mut seen, &mut queue);
    }
    // Asset objects already kept: ancestors repeat in every lineage; keep each once (memory).
    let mut stored: HashSet<String> = HashSet::new();
    for v in &mut done {
        dedupe(v, &mut stored);
    }
    for v in &done {
        stats.assets.fetch_add(1, Ordering::Relaxed);
        if v.refused.is_some() {
            stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        for c in &v.children {
            enqueue(c, &mut seen, &mut queue);
        }
    }

    // Workers take ids and send back visits; this thread checkpoints and queues children.
    let stop = AtomicBool::new(false);
    let no_limit_zero = AtomicBool::new(false);
    let (job_tx, job_rx) = mpsc::channel::<String>();
    let job_rx = Mutex::new(job_rx);
    let (res_tx, res_rx) = mpsc::channel::<Result<Visit, FetchError>>();
    let mut failures: Vec<FetchError> = Vec::new();
    let mut fatal: Option<FetchError> = None;
    let mut write_error: Option<CrawlError> = None;
    let mut interrupted = false;
    std::thread::scope(|scope| {
        for _ in 0..options.concurrency.max(1) {
            let res_tx = res_tx.clone();
            let (client, stop, job_rx, no_limit_zero) = (&client, &stop, &job_rx, &no_limit_zero);
            scope.spawn(move || loop {
                let job = job_rx.lock().expect("job queue").recv();
                let Ok(id) = job else { return };
                if stop.load(Ordering::Relaxed) {
                    let _ = res_tx.send(Ok(Visit {
                        id,
                        ..Visit::default()
                    }));
                    continue;
                }
                let _ = res_tx.send(visit(client, &id, no_limit_zero));
            });
        }
        drop(res_tx);
        let mut outstanding = 0usize;
        for id in queue.drain(..) {
            outstanding += 1;
            let _ = job_tx.send(id);
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
                // Stopping: finished visits are still checkpointed, nothing new is queued.
                Ok(mut v) if stop.load(Ordering::Relaxed) => {
                    if !v.assets.is_empty() || v.refused.is_some() {
                        dedupe(&mut v, &mut stored);
                        let _ = writeln!(state, "{}", v.to_json()).and_then(|_| state.flush());
                    }
                }
                Ok(mut v) => {
                    dedupe(&mut v, &mut stored);
                    stats.assets.fetch_add(1, Ordering::Relaxed);
                    if v.refused.is_some() {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Err(e) = writeln!(state, "{}", v.to_json()).and_then(|_| state.flush()) {
                        write_error = Some(io("writing the crawl state")(e));
                        stop.store(true, Ordering::Relaxed);
                        continue;
                    }
                    for c in &v.children {
                        enqueue(c, &mut seen, &mut queue);
                    }
                    for id in queue.drain(..) {
                        outstanding += 1;
                        let _ = job_tx.send(id);
                    }
                    done.push(v);
                }
                Err(e @ FetchError::Unauthorized { .. }) => {
                    stop.store(true, Ordering::Relaxed);
                    fatal.get_or_insert(e);
                }
                Err(e) => {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    failures.push(e);
                }
            }
        }
        drop(job_tx);
    });
    drop(state);
    if let Some(e) = write_error {
        return Err(e);
    }
    if let Some(e) = fatal {
        return Err(CrawlError::Unauthorized(e));
    }
    if interrupted {
        return Err(CrawlError::Interrupted(staging));
    }
    if !failures.is_empty() {
        return Err(CrawlError::Incomplete(failures));
    }

    let mut report = CrawlReport {
        requests: Stats::get(&stats.requests),
        retries: Stats::get(&stats.retries),
        walked: done.len(),
        resumed,
        ..CrawlReport::default()
    };
    let built = write::build(&done, &options.roots, &origin)?;
    report.assets = built.assets;
    report.links = built.links;
    report.placeholders = built.placeholders;
    report.refused = done.iter().filter_map(|v| v.refused.clone()).collect();
    report.refused.sort_by(|a, b| a.id.cmp(&b.id));
    write::install(&built, &staging, &options.out)?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Drops the asset objects of a visit that an earlier visit already holds, and repeats of its
/// own object (one per lineage); its own object is always kept.
fn dedupe(v: &mut Visit, stored: &mut HashSet<String>) {
    let mut own_kept = false;
    v.assets.retain(|a| {
        let id = str_of(a, "id");
        if id == v.id {
            stored.insert(id.to_string());
            !std::mem::replace(&mut own_kept, true)
        } else {
            stored.insert(id.to_string())
        }
    });
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

fn read_state(path: &Path, header: &Value) -> Result<Vec<Visit>, CrawlError> {
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
            .and_then(Visit::from_json)
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

/// Fetches one asset's lineage (with all data) and children.
fn visit(client: &Client, id: &str, no_limit_zero: &AtomicBool) -> Result<Visit, FetchError> {
    let base = asset_path(id);
    let mut v = Visit {
        id: id.to_string(),
        ..Visit::default()
    };
    let refuse = |status: u16, path: &str, message: String| Refusal {
        id: id.to_string(),
        status,
        url: client.url(path),
        message,
    };
    let shape = |why: &str, path: &str| FetchError::NotApi {
        url: client.url(path),
        why: format!("not a Content API answer: {why}"),
    };
    // The lineage by id follows the asset's `url` as the server picks it; every other URL (by
    // key: the http and https forms walk alike) may climb another way, so it gets its own.
    let mut followed: Vec<String> = Vec::new();
    let mut path = format!("{base}/lineage/site?data={ALL_DATA}");
    let mut more_urls: Vec<String> = Vec::new();
    let mut walking: Option<String> = None; // None: the by-id lineage
    loop {
        let by_url = |u: &str| {
            format!(
                "/__api/assets/by_url/lineage/site?url={}&data={ALL_DATA}",
                utf8_percent_encode(u, ID_KEEP)
            )
        };
        let lineage = match client.get(&path)? {
            Answer::Json(j) => j,
            Answer::Refused(s, m) if followed.is_empty() => {
                v.refused = Some(refuse(s, &path, m));
                return Ok(v);
            }
            // A URL that does not answer (the asset changed meanwhile): its lineage is unknown.
            Answer::Refused(..) => {
                let Some(next) = more_urls.pop() else { break };
                path = by_url(&next);
                walking = Some(next);
                continue;
            }
        };
        let (links, assets) = parse_pair(&lineage).map_err(|w| shape(&w, &path))?;
        if assets.len() != links.len() + 1 {
            return Err(shape("a lineage has one link fewer than assets", &path));
        }
        let own = assets.last().expect("one asset at least");
        if own.get("id").and_then(Value::as_str) != Some(id) {
            return Err(shape("the lineage does not end at the asset asked", &path));
        }
        for a in &assets {
            write::check_asset(a).map_err(|w| shape(&w, &path))?;
        }
        for l in &links {
            write::check_link(l).map_err(|w| shape(&w, &path))?;
        }
        if followed.is_empty() {
            let url_key = |u: &str| crate::store::url::key(u);
            if let Some(k) = own.get("url").and_then(Value::as_str).and_then(url_key) {
                followed.push(k);
            }
            for u in own
                .get("urls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if let Some(k) = url_key(u) {
                    if !followed.contains(&k) {
                        followed.push(k);
                        more_urls.push(u.to_string());
                    }
                }
            }
            more_urls.reverse();
        }
        v.tops.push(str_of(&assets[0], "id").to_string());
        v.walked.push(
            walking
                .take()
                .unwrap_or_else(|| str_of(own, "url").to_string()),
        );
        v.assets.extend(assets);
        v.links.extend(links);
        let Some(next) = more_urls.pop() else { break };
        path = by_url(&next);
        walking = Some(next);
    }

    // Children: all in one page when the server allows `limit=0`, else page by page.
    let mut page = 1u64;
    let mut limit = if no_limit_zero.load(Ordering::Relaxed) {
        String::new()
    } else {
        "&limit=0".to_string()
    };
    loop {
        let path = format!("{base}/children?page={page}{limit}");
        let body = match client.get(&path)? {
            Answer::Json(j) => j,
            Answer::Refused(400, _) if limit == "&limit=0" => {
                // This server does not take limit=0: page with its default limit.
                no_limit_zero.store(true, Ordering::Relaxed);
                limit.clear();
                continue;
            }
            Answer::Refused(s, m) => {
                v.refused = Some(refuse(s, &path, m));
                return Ok(v);
            }
        };
        let (links, assets) = parse_pair(&body).map_err(|w| shape(&w, &path))?;
        if links.len() != assets.len() {
            return Err(shape("children links and assets differ in length", &path));
        }
        for (l, a) in links.iter().zip(&assets) {
            write::check_link(l).map_err(|w| shape(&w, &path))?;
            let child = a.get("id").and_then(Value::as_str);
            if child.is_none() || l.get("minor_id").and_then(Value::as_str) != child {
                return Err(shape("a child does not match its link", &path));
            }
            v.children.push(child.unwrap_or_default().to_string());
        }
        v.links.extend(links);
        let total_pages = body
            .get("page_info")
            .and_then(|p| p.get("total_pages"))
            .and_then(Value::as_u64)
            .unwrap_or(1);
        if page >= total_pages {
            break;
        }
        if let Some(server_limit) = body
            .get("page_info")
            .and_then(|p| p.get("limit"))
            .and_then(Value::as_u64)
        {
            limit = format!("&limit={server_limit}");
        }
        page += 1;
    }
    Ok(v)
}

/// `{"links":[…],"assets":[…]}` (lineage and children bodies).
fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

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
