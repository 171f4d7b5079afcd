//! `matrix-snapshot crawl` against `serve`: crawl, then export the crawled store (token `crawl`)
//! and the original (the real token) and compare every 200 file of every asset reachable
//! through children from the roots, byte for byte. Then the same through a fault-injecting
//! proxy (latency, dropped connections, 500, 429 + Retry-After, truncated bodies), an
//! interrupted crawl resumed, and bad input (unreachable host, wrong token, an HTML server).

use crate::util::{bin, run, Served};
use matrix_snapshot::api::request::{route, Query, Target};
use matrix_snapshot::store::url;
use matrix_snapshot::{answer, Catalog, Request, Store};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Runs `crawl` with the token in a file; returns the output (exit code checked).
fn crawl(dir: &Path, addr: &str, token: &str, roots: &[&str], extra: &[&str], code: i32) -> Output {
    let token_file = dir.join("token.txt");
    fs::write(&token_file, format!("{token}\n")).unwrap();
    let out = dir.join("store");
    let base = format!("http://{addr}");
    let mut args = vec![
        "crawl",
        "--base-url",
        &base,
        "--token-file",
        token_file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    for r in roots {
        args.extend(["--root", r]);
    }
    args.extend_from_slice(extra);
    let output = run(&args, code);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains(token),
        "the token must never be printed: {stderr}"
    );
    output
}

/// `(requests, retries)` from the crawl's summary line.
fn counts(output: &Output) -> (u64, u64) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains(" requests ("))
        .unwrap_or_else(|| panic!("no summary in {stderr}"));
    let num_before = |word: &str| -> u64 {
        let i = line.find(word).unwrap();
        line[..i]
            .trim_end()
            .rsplit([' ', '('])
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (num_before(" requests ("), num_before(" retries)"))
}

/// `(assets walked, requests)` from the crawl's summary line, and checks the requests per asset
/// it prints.
fn walked_and_requests(output: &Output) -> (u64, u64) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains(" requests ("))
        .unwrap_or_else(|| panic!("no summary in {stderr}"));
    let walked: u64 = line
        .split("crawled ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no assets walked in {line}"));
    let (requests, _) = counts(output);
    let printed = format!("({:.2} per asset", requests as f64 / walked as f64);
    assert!(line.contains(&printed), "{printed} not in {line}");
    (walked, requests)
}

/// The assets reachable through children (non-dependent menu/hidden links the token may read)
/// from the roots, asked of the library directly.
fn reachable(cat: &Catalog, token: &str, roots: &[&str]) -> HashSet<String> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut stack: Vec<String> = Vec::new();
    for r in roots {
        let resp = answer(
            cat,
            &Request::get(format!("/__api/assets/{r}")).bearer(token),
        );
        if resp.status == 200 && seen.insert(r.to_string()) {
            stack.push(r.to_string());
        }
    }
    while let Some(id) = stack.pop() {
        let path = format!(
            "/__api/assets/{}/children?limit=0",
            percent_encoding::utf8_percent_encode(&id, percent_encoding::NON_ALPHANUMERIC)
        );
        let resp = answer(cat, &Request::get(path).bearer(token));
        assert_eq!(resp.status, 200, "children of {id}");
        let body: Value = serde_json::from_slice(&resp.body).unwrap();
        for a in body["assets"].as_array().unwrap() {
            let child = a["id"].as_str().unwrap().to_string();
            if seen.insert(child.clone()) {
                stack.push(child);
            }
        }
    }
    seen
}

/// 200 files of a snapshot: path → (first request, blake3).
fn files_200(snapshot: &Path) -> BTreeMap<String, (String, String)> {
    fs::read_to_string(snapshot.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["status"] == 200)
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_string(),
                (
                    e["requests"][0].as_str().unwrap().to_string(),
                    e["blake3"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

/// The asset a request names (by id or by URL), in `store`.
fn asset_of(store: &Store, request: &str) -> Option<String> {
    let (path, query) = request.split_once('?').unwrap_or((request, ""));
    match route(path)?.0 {
        Target::Id(id) => Some(id),
        Target::ByUrl => {
            let q = Query::parse(query);
            let u = String::from_utf8(q.first("url")?.to_vec()).ok()?;
            let idx = store.asset_by_url_key(&url::key(&u)?)?;
            Some(store.asset(idx).id.clone())
        }
    }
}

fn export(store: Option<&Path>, token: &str, profile: &str, base_url: &str, out: &Path) {
    let mut args = vec![
        "export",
        "--token",
        token,
        "--profile",
        profile,
        "--base-url",
        base_url,
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    if let Some(s) = store {
        args.extend(["--store", s.to_str().unwrap()]);
    }
    run(&args, 0);
}

/// Exports the original (real token) and the crawled store (token `crawl`) and compares the 200
/// files of every reachable asset; returns how many files were compared.
fn assert_same_export(
    original: &Catalog,
    store_dir: Option<&Path>,
    crawled: &Path,
    token: &str,
    roots: &[&str],
    (profile, base_url): (&str, &str),
    dir: &Path,
) -> usize {
    let reach = reachable(original, token, roots);
    assert!(!reach.is_empty(), "{token} reads nothing from {roots:?}");
    let a = dir.join("export-original");
    let b = dir.join("export-crawled");
    export(store_dir, token, profile, base_url, &a);
    export(Some(crawled), "crawl", profile, base_url, &b);
    let (want, got) = (files_200(&a), files_200(&b));
    let mut compared = 0;
    let mut problems = Vec::new();
    let mut assets_seen = HashSet::new();
    for (path, (request, hash)) in &want {
        let Some(asset) = asset_of(&original.store, request) else {
            continue;
        };
        if !reach.contains(&asset) {
            continue;
        }
        assets_seen.insert(asset);
        compared += 1;
        match got.get(path) {
            None => problems.push(format!("missing {path}")),
            Some((_, h)) if h != hash => problems.push(format!("differs {path}")),
            Some(_) => {}
        }
    }
    assert!(
        problems.is_empty(),
        "{token}: {} of {compared} files wrong, e.g.:\n{}",
        problems.len(),
        problems[..problems.len().min(20)].join("\n")
    );
    assert_eq!(
        assets_seen.len(),
        reach.len(),
        "every reachable asset has files"
    );
    eprintln!(
        "{token} ({profile}): {compared}/{compared} files of {} reachable assets identical",
        reach.len()
    );
    compared
}

fn demo_sites(cat: &Catalog) -> Vec<String> {
    cat.store
        .assets
        .iter()
        .filter(|a| a.type_code == "site" && !a.trashed)
        .map(|a| a.id.clone())
        .collect()
}

/// The key test: crawl the demo with every token that has a view, export, compare.
#[test]
fn crawled_demo_exports_like_the_original_for_every_token() {
    let served = Served::start(&[]);
    let cat = Catalog::new(matrix_snapshot::demo::store().unwrap());
    let sites = demo_sites(&cat);
    for (token, roots, base_url) in [
        ("demo-public", vec![], "https://www.uni.test"),
        ("demo-editor", vec![], "https://www.uni.test"),
        (
            "demo-research",
            vec!["12".to_string()],
            "https://research.uni.test",
        ),
        ("demo-admin", vec![], "https://www.uni.test"),
    ] {
        let roots = if roots.is_empty() {
            sites.clone()
        } else {
            roots
        };
        let roots: Vec<&str> = roots.iter().map(String::as_str).collect();
        let tmp = tempfile::tempdir().unwrap();
        let out = crawl(tmp.path(), &served.addr, token, &roots, &[], 0);
        // The goal of issue 21: at most 1.2 requests per asset on the demo, for every token.
        let (walked, requests) = walked_and_requests(&out);
        assert!(
            requests * 10 <= walked * 12,
            "{token}: {requests} requests for {walked} assets"
        );
        let store = tmp.path().join("store");
        run(&["check", "--store", store.to_str().unwrap()], 0);
        let n = assert_same_export(
            &cat,
            None,
            &store,
            token,
            &roots,
            ("standard", base_url),
            tmp.path(),
        );
        assert!(n > 1000, "{token}: only {n} files compared");
        assert!(!tmp.path().join(".store.crawl").exists(), "{out:?}");
        assert_no_token_written(tmp.path(), token);
    }
}

/// The same over a generated store of 1,500 assets (deep trees, shadow ids, big folders).
#[test]
fn crawled_generated_store_exports_like_the_original() {
    let tmp = tempfile::tempdir().unwrap();
    let original = tmp.path().join("original");
    let o = original.to_str().unwrap();
    run(
        &["generate", "--assets", "1500", "--seed", "5", "--out", o],
        0,
    );
    let served = Served::start(&["--store", o]);
    let cat = Catalog::new(Store::load(&original).unwrap());
    let sites = demo_sites(&cat);
    // gen-editor reads the whole store (minimal profile keeps the export short); gen-site1 has
    // root nodes and unreadable parents below them.
    for (token, profile) in [("gen-editor", "minimal"), ("gen-site1", "standard")] {
        let t = cat.store.token_by_value(token).unwrap();
        let token_roots = cat.store.tokens[t as usize].root_nodes.clone();
        let roots = if token_roots.is_empty() {
            sites.clone()
        } else {
            token_roots
        };
        let roots: Vec<&str> = roots.iter().map(String::as_str).collect();
        let dir = tmp.path().join(token);
        fs::create_dir(&dir).unwrap();
        crawl(&dir, &served.addr, token, &roots, &["--quiet"], 0);
        let store = dir.join("store");
        let n = assert_same_export(
            &cat,
            Some(&original),
            &store,
            token,
            &roots,
            (profile, "https://site1.example.test"),
            &dir,
        );
        assert!(n > 5_000, "{token}: only {n} files compared");
    }
}

fn assert_no_token_written(dir: &Path, token: &str) {
    for e in walkdir::WalkDir::new(dir) {
        let e = e.unwrap();
        if e.file_type().is_file() && e.file_name() != "token.txt" {
            let bytes = fs::read(e.path()).unwrap();
            assert!(
                !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                "{} contains the token",
                e.path().display()
            );
        }
    }
}

// ---- fault injection -------------------------------------------------------------------

/// What the proxy does to the n-th request (1-based).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    Pass,
    Latency,
    Drop,
    Status500,
    TooMany,
    Truncate,
    Refuse,
    Redirect,
}

/// A one-request-per-connection HTTP proxy in front of `serve` that injects faults.
struct Proxy {
    addr: String,
    /// Faults injected that the client must retry.
    faults: Arc<AtomicU64>,
    /// Requests forwarded intact.
    passed: Arc<AtomicU64>,
    /// Same-origin redirects answered (followed, not retried).
    redirects: Arc<AtomicU64>,
    /// After this many forwarded requests, answer every request with 503 (0 = never).
    refuse_after: Arc<AtomicU64>,
    /// Answer 400 to `limit=0`, like a server that caps children pages.
    no_limit_zero: Arc<AtomicBool>,
    /// Serve `limit=0` as `limit=10`, like a server that caps page sizes without refusing.
    cap_pages: Arc<AtomicBool>,
    /// Milliseconds a `Latency` fault waits before forwarding.
    latency_ms: Arc<AtomicU64>,
    /// After this many forwarded requests, forward to `second` instead (0 = never): the site
    /// changes under the crawl.
    switch_after: Arc<AtomicU64>,
    second: Arc<std::sync::Mutex<String>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

impl Proxy {
    fn start(upstream: &str, plan: fn(u64) -> Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = Proxy {
            addr: listener.local_addr().unwrap().to_string(),
            faults: Arc::default(),
            passed: Arc::default(),
            redirects: Arc::default(),
            refuse_after: Arc::default(),
            no_limit_zero: Arc::default(),
            cap_pages: Arc::default(),
            latency_ms: Arc::new(AtomicU64::new(30)),
            switch_after: Arc::default(),
            second: Arc::default(),
            stop: Arc::default(),
        };
        let (faults, passed, redirects, refuse_after, stop) = (
            proxy.faults.clone(),
            proxy.passed.clone(),
            proxy.redirects.clone(),
            proxy.refuse_after.clone(),
            proxy.stop.clone(),
        );
        let no_limit_zero = proxy.no_limit_zero.clone();
        let (cap_pages, latency_ms) = (proxy.cap_pages.clone(), proxy.latency_ms.clone());
        let (switch_after, second) = (proxy.switch_after.clone(), proxy.second.clone());
        let upstream = upstream.to_string();
        let counter = Arc::new(AtomicU64::new(0));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let limit = refuse_after.load(Ordering::SeqCst);
                let fault = if limit > 0 && passed.load(Ordering::SeqCst) >= limit {
                    Fault::Refuse
                } else {
                    plan(n)
                };
                let counters = [faults.clone(), passed.clone(), redirects.clone()];
                let switch = switch_after.load(Ordering::SeqCst);
                let upstream = if switch > 0 && passed.load(Ordering::SeqCst) >= switch {
                    second.lock().unwrap().clone()
                } else {
                    upstream.clone()
                };
                let how = How {
                    no_limit_zero: no_limit_zero.load(Ordering::SeqCst),
                    cap_pages: cap_pages.load(Ordering::SeqCst),
                    latency: Duration::from_millis(latency_ms.load(Ordering::SeqCst)),
                };
                std::thread::spawn(move || {
                    let _ = handle(conn, &upstream, fault, &counters, how);
                });
            }
        });
        proxy
    }
}

fn read_head(conn: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// How the proxy treats every request (besides its fault).
#[derive(Clone, Copy)]
struct How {
    no_limit_zero: bool,
    cap_pages: bool,
    latency: Duration,
}

fn handle(
    mut conn: TcpStream,
    upstream: &str,
    fault: Fault,
    [faults, passed, redirects]: &[Arc<AtomicU64>; 3],
    How {
        no_limit_zero,
        cap_pages,
        latency,
    }: How,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let head = read_head(&mut conn)?;
    let reply = |conn: &mut TcpStream, status: &str, extra: &str| {
        let body = r#"{"code":0,"message":"injected"}"#;
        write!(
            conn,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
            body.len()
        )
    };
    let target = head.split(' ').nth(1).unwrap_or("/");
    if no_limit_zero && target.contains("limit=0") {
        return reply(&mut conn, "400 Bad Request", "");
    }
    match fault {
        Fault::Drop => {
            faults.fetch_add(1, Ordering::SeqCst);
            return Ok(()); // closed without an answer
        }
        Fault::Status500 => {
            faults.fetch_add(1, Ordering::SeqCst);
            return reply(&mut conn, "500 Internal Server Error", "");
        }
        Fault::TooMany => {
            faults.fetch_add(1, Ordering::SeqCst);
            return reply(&mut conn, "429 Too Many Requests", "Retry-After: 1\r\n");
        }
        Fault::Refuse => {
            faults.fetch_add(1, Ordering::SeqCst);
            return reply(&mut conn, "503 Service Unavailable", "");
        }
        Fault::Redirect => {
            redirects.fetch_add(1, Ordering::SeqCst);
            let target = head.split(' ').nth(1).unwrap_or("/");
            return reply(
                &mut conn,
                "307 Temporary Redirect",
                &format!("Location: {target}\r\n"),
            );
        }
        Fault::Latency => std::thread::sleep(latency),
        Fault::Pass | Fault::Truncate => {}
    }
    // Forward with Connection: close, read the whole answer.
    let mut request = String::new();
    let mut head = head.clone();
    if no_limit_zero && target.contains("/children?") && !target.contains("limit=") {
        // This server's default page size is 10.
        head = head.replacen(target, &format!("{target}&limit=10"), 1);
    }
    if cap_pages && target.contains("/children?") {
        // This server serves at most 10 children a page, whatever `limit` asks.
        let capped = target.replace("limit=0&", "limit=10&");
        head = head.replacen(target, &capped, 1);
    }
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            request.push_str(line);
            request.push_str("\r\n");
        }
    }
    request.push_str("Connection: close\r\n\r\n");
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(request.as_bytes())?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    if fault == Fault::Truncate {
        let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let keep = split + (answer.len() - split) / 2;
        faults.fetch_add(1, Ordering::SeqCst);
        conn.write_all(&answer[..keep])?;
        return Ok(()); // Content-Length promised more
    }
    passed.fetch_add(1, Ordering::SeqCst);
    conn.write_all(&answer)
}

fn store_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    [
        "assets.jsonl",
        "links.jsonl",
        "principals.jsonl",
        "permissions.jsonl",
    ]
    .iter()
    .map(|n| (n.to_string(), fs::read(dir.join(n)).unwrap()))
    .collect()
}

fn root_nodes(dir: &Path) -> Value {
    let t: Value =
        serde_json::from_str(fs::read_to_string(dir.join("tokens.jsonl")).unwrap().trim()).unwrap();
    t["root_nodes"].clone()
}

/// Every kind of fault, often: the crawl completes with the same store, every fault retried.
#[test]
fn crawl_survives_faults_and_counts_its_retries() {
    let served = Served::start(&[]);
    let clean = tempfile::tempdir().unwrap();
    let direct = crawl(clean.path(), &served.addr, "demo-research", &["12"], &[], 0);
    let (direct_requests, direct_retries) = counts(&direct);
    assert_eq!(direct_retries, 0);

    let proxy = Proxy::start(&served.addr, |n| match n % 13 {
        2 => Fault::Drop,
        4 => Fault::Status500,
        7 => Fault::TooMany,
        9 => Fault::Truncate,
        11 => Fault::Redirect,
        _ if n % 3 == 0 => Fault::Latency,
        _ => Fault::Pass,
    });
    let faulty = tempfile::tempdir().unwrap();
    let out = crawl(
        faulty.path(),
        &proxy.addr,
        "demo-research",
        &["12"],
        &["--concurrency", "3"],
        0,
    );
    let (requests, retries) = counts(&out);
    let faults = proxy.faults.load(Ordering::SeqCst);
    assert!(faults >= 8, "only {faults} faults injected");
    let redirects = proxy.redirects.load(Ordering::SeqCst);
    assert!(redirects >= 2, "only {redirects} redirects");
    assert_eq!(retries, faults, "one retry per injected fault");
    assert_eq!(requests, direct_requests + faults + redirects);
    assert_eq!(
        store_files(&faulty.path().join("store")),
        store_files(&clean.path().join("store"))
    );
    assert_eq!(
        root_nodes(&faulty.path().join("store")),
        root_nodes(&clean.path().join("store"))
    );
    // And the promise itself, on the store crawled through the faults.
    let cat = Catalog::new(matrix_snapshot::demo::store().unwrap());
    let n = assert_same_export(
        &cat,
        None,
        &faulty.path().join("store"),
        "demo-research",
        &["12"],
        ("standard", "https://research.uni.test"),
        faulty.path(),
    );
    assert!(n > 100, "only {n} files compared");
}

/// The server stops answering mid-crawl: the crawl exits 2 keeping what it fetched; `--resume`
/// finishes without fetching any finished asset again.
#[test]
fn interrupted_crawl_resumes_without_refetching() {
    let served = Served::start(&[]);
    let clean = tempfile::tempdir().unwrap();
    let roots: Vec<String> = demo_sites(&Catalog::new(matrix_snapshot::demo::store().unwrap()));
    let roots: Vec<&str> = roots.iter().map(String::as_str).collect();
    let direct = crawl(clean.path(), &served.addr, "demo-admin", &roots, &[], 0);
    let (direct_requests, _) = counts(&direct);

    let proxy = Proxy::start(&served.addr, |_| Fault::Pass);
    proxy.refuse_after.store(100, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let first = crawl(
        dir.path(),
        &proxy.addr,
        "demo-admin",
        &roots,
        &["--attempts", "2"],
        2,
    );
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("--resume"), "{stderr}");
    let store = dir.path().join("store");
    assert!(!store.exists(), "no partial store");
    // Requests the checkpointed answers cost (a children list in one page, or a lineage).
    let state = fs::read_to_string(dir.path().join(".store.crawl/state.jsonl")).unwrap();
    let done: Vec<Value> = state
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let done_cost: u64 = done.iter().map(|v| v["requests"].as_u64().unwrap()).sum();
    assert!(
        done.len() >= 20 && done_cost <= 100 + 8,
        "{} assets checkpointed with {done_cost} requests",
        done.len()
    );
    // Without --resume the unfinished crawl is not thrown away silently.
    let again = crawl(dir.path(), &proxy.addr, "demo-admin", &roots, &[], 2);
    assert!(String::from_utf8_lossy(&again.stderr).contains("pass --resume"));

    proxy.refuse_after.store(0, Ordering::SeqCst);
    let before = proxy.passed.load(Ordering::SeqCst);
    let second = crawl(
        dir.path(),
        &proxy.addr,
        "demo-admin",
        &roots,
        &["--resume"],
        0,
    );
    let (requests, retries) = counts(&second);
    assert_eq!(retries, 0);
    // Exactly what the assets not checkpointed cost.
    assert_eq!(requests, direct_requests - done_cost);
    assert_eq!(proxy.passed.load(Ordering::SeqCst) - before, requests);
    assert_eq!(
        store_files(&store),
        store_files(&clean.path().join("store"))
    );
    assert!(!matrix_snapshot::crawl::staging_dir(&store).exists());
    // And the promise itself, on the resumed crawl.
    let cat = Catalog::new(matrix_snapshot::demo::store().unwrap());
    let n = assert_same_export(
        &cat,
        None,
        &store,
        "demo-admin",
        &roots,
        ("standard", "https://www.uni.test"),
        dir.path(),
    );
    assert!(n > 1000, "only {n} files compared");
}

/// A server that refuses `limit=0` (it is our decision, not Matrix's documented behaviour) and
/// pages by 10, through dropped connections, 500s, truncated bodies and redirects: the crawl
/// pages through every folder, costs the extra pages, builds the same store, and its export is
/// the original's (a generated store through the fault-injection proxy).
#[test]
fn crawl_pages_children_when_limit_0_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let original = tmp.path().join("original");
    let o = original.to_str().unwrap();
    run(
        &["generate", "--assets", "1500", "--seed", "5", "--out", o],
        0,
    );
    let served = Served::start(&["--store", o]);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    fs::create_dir(&a).unwrap();
    fs::create_dir(&b).unwrap();
    let sites = demo_sites(&Catalog::new(Store::load(&original).unwrap()));
    let roots: Vec<&str> = sites.iter().map(String::as_str).collect();
    let direct = crawl(&a, &served.addr, "gen-admin", &roots, &[], 0);
    let proxy = Proxy::start(&served.addr, |n| match n % 37 {
        5 => Fault::Drop,
        11 => Fault::Status500,
        19 => Fault::Truncate,
        29 => Fault::Redirect,
        _ => Fault::Pass,
    });
    proxy.no_limit_zero.store(true, Ordering::SeqCst);
    let paged = crawl(&b, &proxy.addr, "gen-admin", &roots, &[], 0);
    // More requests: refused limit=0 (once per request in flight at most), the pages of
    // folders with more than 10 children, the faults retried and the redirects followed.
    let cat = Catalog::new(Store::load(&original).unwrap());
    let extra: u64 = children_counts(&cat, "gen-admin", &roots)
        .iter()
        .map(|&n| n.div_ceil(10).max(1) - 1)
        .sum();
    let ((paged_n, retries), direct_n) = (counts(&paged), counts(&direct).0);
    let redirects = proxy.redirects.load(Ordering::SeqCst);
    assert_eq!(retries, proxy.faults.load(Ordering::SeqCst));
    let refused = paged_n - direct_n - extra - retries - redirects;
    assert!(
        (1..=4).contains(&refused),
        "{paged_n} vs {direct_n} + {extra}"
    );
    assert_eq!(store_files(&a.join("store")), store_files(&b.join("store")));
    let n = assert_same_export(
        &cat,
        Some(&original),
        &b.join("store"),
        "gen-admin",
        &roots,
        ("minimal", "https://site1.example.test"),
        &b,
    );
    assert!(n > 3_000, "only {n} files compared");
}

// ---- bad input -------------------------------------------------------------------------

#[test]
fn unreachable_host_fails_with_the_url() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // closed again: nothing listens there
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{port}");
    let out = crawl(
        dir.path(),
        &addr,
        "demo-public",
        &["7"],
        &["--attempts", "2"],
        2,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("http://{addr}/__api/assets/7/lineage/site")),
        "{stderr}"
    );
    assert!(stderr.contains("after 2 attempts"), "{stderr}");
    assert!(!dir.path().join("store").exists());
}

#[test]
fn wrong_token_stops_with_the_servers_message() {
    let served = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let out = crawl(
        dir.path(),
        &served.addr,
        "not-a-real-token-42",
        &["7", "12"],
        &[],
        2,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("401"), "{stderr}");
    assert!(stderr.contains("Unauthorized"), "{stderr}");
    assert!(stderr.contains("invalid_token"), "{stderr}");
    assert!(!dir.path().join("store").exists());
}

#[test]
fn an_html_server_is_not_a_content_api() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let _ = read_head(&mut conn);
            let body = "<!DOCTYPE html><html><body>Welcome</body></html>";
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let out = crawl(dir.path(), &addr, "demo-public", &["7"], &[], 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not JSON"), "{stderr}");
    assert!(
        stderr.contains(&format!("http://{addr}/__api/assets/7/lineage/site")),
        "{stderr}"
    );
}

#[test]
fn redirects_to_another_host_are_not_followed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let _ = read_head(&mut conn);
            let _ = write!(
                conn,
                "HTTP/1.1 302 Found\r\nLocation: http://elsewhere.invalid/__api/assets/7\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let out = crawl(dir.path(), &addr, "demo-public", &["7"], &[], 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("elsewhere.invalid"), "{stderr}");
    assert!(stderr.contains("not followed"), "{stderr}");
}

#[test]
fn missing_and_forbidden_roots_are_reported_not_fatal() {
    let served = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    // demo-research reads only below 12: 7 is forbidden, 999999 does not exist.
    let out = crawl(
        dir.path(),
        &served.addr,
        "demo-research",
        &["12", "7", "999999"],
        &[],
        0,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("asset \"7\" answered 403"), "{stderr}");
    assert!(stderr.contains("asset \"999999\" answered 404"), "{stderr}");
    assert!(stderr.contains("2 refused"), "{stderr}");
}

#[test]
fn crawl_help_has_examples_and_needs_a_token_source() {
    let out = run(&["crawl", "--help"], 0);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("EXAMPLES"));
    assert!(help.contains("--token-env"));
    // The default pace, and a polite one for real servers.
    assert!(help.contains("default 4"), "{help}");
    assert!(help.contains("no rate limit"), "{help}");
    assert!(help.contains("--rate 10"), "{help}");
    let out = bin()
        .args([
            "crawl",
            "--base-url",
            "http://x",
            "--root",
            "1",
            "--out",
            "o",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Ctrl-C (SIGINT) mid-crawl: requests in flight are checkpointed, exit 2 with a --resume hint;
/// the resumed crawl fetches only what is missing and writes the same store.
#[test]
fn sigint_checkpoints_and_resume_finishes() {
    let served = Served::start(&[]);
    let roots: Vec<String> = demo_sites(&Catalog::new(matrix_snapshot::demo::store().unwrap()));
    let roots: Vec<&str> = roots.iter().map(String::as_str).collect();
    let clean = tempfile::tempdir().unwrap();
    let direct = crawl(clean.path(), &served.addr, "demo-admin", &roots, &[], 0);
    let (direct_requests, _) = counts(&direct);

    // Every request slowed down, so the crawl is still running when interrupted.
    let proxy = Proxy::start(&served.addr, |_| Fault::Latency);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token.txt");
    fs::write(&token_file, "demo-admin").unwrap();
    let store = dir.path().join("store");
    let base = format!("http://{}", proxy.addr);
    let mut args = vec![
        "crawl",
        "--base-url",
        &base,
        "--token-file",
        token_file.to_str().unwrap(),
        "--out",
        store.to_str().unwrap(),
        "--concurrency",
        "2",
    ];
    for r in &roots {
        args.extend(["--root", r]);
    }
    let mut child = bin()
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let state_file = dir.path().join(".store.crawl/state.jsonl");
    let lines = || {
        fs::read_to_string(&state_file)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    for _ in 0..400 {
        if lines() > 10 {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(lines() > 10, "the crawl did not start");
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("interrupted") && stderr.contains("--resume"),
        "{stderr}"
    );
    assert!(!store.exists());

    let state = fs::read_to_string(&state_file).unwrap();
    let done_cost: u64 = state
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| v["requests"].as_u64().unwrap())
        .sum();
    assert!(done_cost < direct_requests, "interrupted too late");
    let second = crawl(
        dir.path(),
        &served.addr,
        "demo-admin",
        &roots,
        &["--resume"],
        2,
    );
    // Another base URL is another crawl: refused, not mixed.
    assert!(String::from_utf8_lossy(&second.stderr).contains("another API"));
    let second = crawl(
        dir.path(),
        &proxy.addr,
        "demo-admin",
        &roots,
        &["--resume"],
        0,
    );
    assert_eq!(counts(&second).0, direct_requests - done_cost);
    assert_eq!(
        store_files(&store),
        store_files(&clean.path().join("store"))
    );
}

// ---- requests per asset (issue 21) -----------------------------------------------------

/// The number of children `token` reads under each asset reachable from `roots`.
fn children_counts(cat: &Catalog, token: &str, roots: &[&str]) -> Vec<u64> {
    reachable(cat, token, roots)
        .iter()
        .map(|id| {
            let path = format!(
                "/__api/assets/{}/children?limit=0",
                percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
            );
            let resp = answer(cat, &Request::get(path).bearer(token));
            let body: Value = serde_json::from_slice(&resp.body).unwrap();
            body["assets"].as_array().unwrap().len() as u64
        })
        .collect()
}

/// A count, not a timing (counting requests is deterministic): crawling a generated store with
/// the admin token from its sites costs at most 1.15 requests per asset (issue 21's goal; it was
/// 2.02 with a lineage asked for every asset), and exports like the original.
#[test]
fn requests_per_asset_stay_at_the_goal_on_a_generated_store() {
    let tmp = tempfile::tempdir().unwrap();
    let original = tmp.path().join("original");
    let o = original.to_str().unwrap();
    run(
        &["generate", "--assets", "3000", "--seed", "1", "--out", o],
        0,
    );
    let served = Served::start(&["--store", o]);
    let cat = Catalog::new(Store::load(&original).unwrap());
    let sites = demo_sites(&cat);
    let roots: Vec<&str> = sites.iter().map(String::as_str).collect();
    let dir = tmp.path().join("crawl");
    fs::create_dir(&dir).unwrap();
    let out = crawl(&dir, &served.addr, "gen-admin", &roots, &[], 0);
    let (walked, requests) = walked_and_requests(&out);
    assert_eq!(walked as usize, reachable(&cat, "gen-admin", &roots).len());
    assert!(walked > 1500, "only {walked} assets walked");
    // One children list per asset, one lineage per root; the rest is the lineages asked.
    assert!(requests >= walked + roots.len() as u64);
    assert!(
        requests * 100 <= walked * 115,
        "{requests} requests for {walked} assets: above 1.15 per asset"
    );
    let n = assert_same_export(
        &cat,
        Some(&original),
        &dir.join("store"),
        "gen-admin",
        &roots,
        ("minimal", "https://site2.example.test"),
        &dir,
    );
    assert!(n > 3_000, "only {n} files compared");
}

/// A server that serves at most 10 children a page (without refusing `limit=0`) costs exactly
/// the extra pages, and the store is the same.
#[test]
fn a_server_capping_page_sizes_costs_only_the_extra_pages() {
    let served = Served::start(&[]);
    let cat = Catalog::new(matrix_snapshot::demo::store().unwrap());
    let sites = demo_sites(&cat);
    let roots: Vec<&str> = sites.iter().map(String::as_str).collect();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let direct = crawl(a.path(), &served.addr, "demo-admin", &roots, &[], 0);
    let proxy = Proxy::start(&served.addr, |_| Fault::Pass);
    proxy.cap_pages.store(true, Ordering::SeqCst);
    let capped = crawl(b.path(), &proxy.addr, "demo-admin", &roots, &[], 0);
    let extra: u64 = children_counts(&cat, "demo-admin", &roots)
        .iter()
        .map(|&n| n.div_ceil(10).max(1) - 1)
        .sum();
    assert!(extra >= 3, "the demo has folders of more than 10 children");
    assert_eq!(counts(&capped).0, counts(&direct).0 + extra);
    assert_eq!(
        store_files(&a.path().join("store")),
        store_files(&b.path().join("store"))
    );
}

/// One line of a store file, parsed.
fn jsonl(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write_jsonl(path: &Path, lines: &[Value]) {
    let text: String = lines.iter().map(|v| format!("{v}\n")).collect();
    fs::write(path, text).unwrap();
}

/// The site changes while the crawl runs (the proxy switches to an edited copy after a few
/// requests): a URL moves from an asset seen early to one seen late, and an asset is trashed
/// after its parent listed it. The crawl asks the conflicting assets again, reports what it did,
/// and writes a store the loader accepts, with the URL on the asset that holds it now and
/// without the trashed asset.
#[test]
fn a_site_edited_during_the_crawl_yields_a_store_that_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let (before, after) = (tmp.path().join("before"), tmp.path().join("after"));
    run(
        &[
            "generate",
            "--assets",
            "600",
            "--seed",
            "3",
            "--out",
            before.to_str().unwrap(),
        ],
        0,
    );
    let cat = Catalog::new(Store::load(&before).unwrap());
    let sites = demo_sites(&cat);
    let roots: Vec<&str> = sites.iter().map(String::as_str).collect();
    // Depths from the sites, through what gen-admin reads.
    let mut depth: BTreeMap<String, usize> = BTreeMap::new();
    let mut parent: BTreeMap<String, String> = BTreeMap::new();
    let mut level: Vec<String> = sites.clone();
    for s in &sites {
        depth.insert(s.clone(), 0);
    }
    let mut d = 0;
    while !level.is_empty() {
        d += 1;
        let mut next = Vec::new();
        for id in &level {
            let path = format!(
                "/__api/assets/{}/children?limit=0",
                percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
            );
            let resp = answer(&cat, &Request::get(path).bearer("gen-admin"));
            let body: Value = serde_json::from_slice(&resp.body).unwrap();
            for a in body["assets"].as_array().unwrap() {
                let c = a["id"].as_str().unwrap().to_string();
                if !depth.contains_key(&c) {
                    depth.insert(c.clone(), d);
                    parent.insert(c.clone(), id.clone());
                    next.push(c);
                }
            }
        }
        level = next;
    }
    let urls_of = |id: &str| -> Vec<String> {
        let idx = cat.store.asset_by_id(id).unwrap();
        cat.store.asset(idx).urls.clone()
    };
    let ancestors = |id: &str| -> Vec<String> {
        let mut out = vec![id.to_string()];
        while let Some(p) = parent.get(out.last().unwrap()) {
            out.push(p.clone());
        }
        out
    };
    // X: seen early (a child of a site), with one URL; Y: one of the deepest, with a URL.
    let x = depth
        .iter()
        .find(|(id, d)| **d == 1 && urls_of(id).len() == 1)
        .map(|(id, _)| id.clone())
        .unwrap();
    let deepest = *depth.values().max().unwrap();
    assert!(deepest >= 4, "the generated tree is deep enough");
    let y = depth
        .iter()
        .find(|(id, d)| **d == deepest && !urls_of(id).is_empty())
        .map(|(id, _)| id.clone())
        .unwrap();
    // Z: listed by a site (before the edit), its children asked after it; not on Y's way.
    let y_path = ancestors(&y);
    let z = depth
        .iter()
        .find(|(id, d)| {
            **d == 1 && !y_path.contains(id) && id.as_str() != x && !urls_of(id).is_empty()
        })
        .map(|(id, _)| id.clone())
        .unwrap();
    let moved = urls_of(&x)[0].clone();

    // The edited copy.
    fs::create_dir(&after).unwrap();
    for f in [
        "store.json",
        "links.jsonl",
        "principals.jsonl",
        "permissions.jsonl",
        "tokens.jsonl",
    ] {
        fs::copy(before.join(f), after.join(f)).unwrap();
    }
    let mut assets = jsonl(&before.join("assets.jsonl"));
    for a in &mut assets {
        let id = a["id"].as_str().unwrap().to_string();
        if id == x {
            a["urls"] = Value::Array(vec![]);
        } else if id == y {
            a["urls"]
                .as_array_mut()
                .unwrap()
                .push(Value::from(moved.clone()));
        } else if id == z {
            a["trashed"] = Value::Bool(true);
        }
    }
    write_jsonl(&after.join("assets.jsonl"), &assets);
    run(&["check", "--store", after.to_str().unwrap()], 0);

    let served_before = Served::start(&["--store", before.to_str().unwrap()]);
    let served_after = Served::start(&["--store", after.to_str().unwrap()]);
    let proxy = Proxy::start(&served_before.addr, |_| Fault::Pass);
    *proxy.second.lock().unwrap() = served_after.addr.clone();
    // The roots' lineages and the sites' children lists come from before the edit.
    proxy
        .switch_after
        .store(2 * roots.len() as u64, Ordering::SeqCst);
    let dir = tmp.path().join("crawl");
    fs::create_dir(&dir).unwrap();
    let out = crawl(
        &dir,
        &proxy.addr,
        "gen-admin",
        &roots,
        &["--concurrency", "1"],
        0,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the site changed during the crawl"),
        "{stderr}"
    );
    assert!(stderr.contains("asked them again"), "{stderr}");
    assert!(
        stderr.contains(&format!("asset {z:?} is gone or unreadable now")),
        "{stderr}"
    );
    let store_dir = dir.join("store");
    run(&["check", "--store", store_dir.to_str().unwrap()], 0);
    let store = Store::load(&store_dir).unwrap();
    let key = url::key(&moved).unwrap();
    let holder = store.asset_by_url_key(&key).unwrap();
    assert_eq!(store.asset(holder).id, y, "the URL is where it is now");
    assert!(
        store.asset_by_id(&z).is_none(),
        "the trashed asset is left out"
    );
    assert!(store.asset_by_id(&x).is_some());
}

/// Wall time through the fault-injection proxy adding 50 ms to every answer, `--concurrency 4`,
/// on `generate --assets 10000 --seed 1` with gen-admin from the sites (docs/crawl.md).
/// `MATRIX_SNAPSHOT_CRAWL_BENCH_BIN` picks another binary (an older build, for a baseline).
#[test]
#[ignore = "a benchmark (minutes): cargo test --release --test it bench_crawl -- --ignored --nocapture"]
fn bench_crawl_through_a_50ms_proxy() {
    let tmp =
        tempfile::tempdir_in(std::env::var("MATRIX_SNAPSHOT_BENCH_DIR").unwrap_or(".".into()))
            .unwrap();
    let original = tmp.path().join("original");
    let o = original.to_str().unwrap();
    run(
        &["generate", "--assets", "10000", "--seed", "1", "--out", o],
        0,
    );
    let served = Served::start(&["--store", o, "--threads", "4"]);
    let cat = Catalog::new(Store::load(&original).unwrap());
    let sites = demo_sites(&cat);
    let proxy = Proxy::start(&served.addr, |_| Fault::Latency);
    proxy.latency_ms.store(50, Ordering::SeqCst);
    fs::write(tmp.path().join("token.txt"), "gen-admin").unwrap();
    let program = std::env::var("MATRIX_SNAPSHOT_CRAWL_BENCH_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| bin().get_program().into());
    let base = format!("http://{}", proxy.addr);
    let mut cmd = std::process::Command::new(program);
    cmd.args(["crawl", "--base-url", &base, "--token-file"])
        .arg(tmp.path().join("token.txt"))
        .arg("--out")
        .arg(tmp.path().join("store"))
        .args(["--concurrency", "4"]);
    for s in &sites {
        cmd.args(["--root", s]);
    }
    let started = std::time::Instant::now();
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let elapsed = started.elapsed();
    assert!(out.status.success(), "{out:?}");
    eprintln!(
        "{:.1} s wall: {}",
        elapsed.as_secs_f64(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}
