//! Hostile clients against `serve` and `preview`, over raw TCP on 127.0.0.1 (issue 16 part 1;
//! spec §1, "Header values may carry bytes 0x80–0xFF"). Each test sends what once crashed,
//! froze or fooled the servers, checks the answer, then checks that the process is alive and
//! still answers another client.

use crate::util::{bin, export_public, Served};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RULES: &str = "tests/fixtures/stores/rules";

/// `serve` on the rules fixture store.
fn serve() -> Served {
    Served::start(&["--store", RULES])
}

/// `preview` of a `minimal` export of the demo (token demo-public) written under `dir`.
fn preview(dir: &Path, extra: &[&str]) -> Served {
    let out = dir.join("snap");
    if !out.exists() {
        export_public("minimal", None, &out, &[]);
    }
    let mut args = vec![
        "preview",
        out.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    Served::spawn(&args)
}

/// Runs `check` against `serve` and against `preview`.
fn on_both(check: impl Fn(&str, &mut Served)) {
    let mut s = serve();
    check("serve", &mut s);
    let tmp = tempfile::tempdir().unwrap();
    let mut p = preview(tmp.path(), &[]);
    check("preview", &mut p);
}

/// Sends `bytes` (write errors ignored: the server may close first) and reads until the
/// server closes or `wait` passes without a byte.
fn exchange(addr: &str, bytes: &[u8], wait: Duration) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(wait)).unwrap();
    let _ = stream.write_all(bytes);
    read_all(&mut stream)
}

fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return raw,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
}

/// The status of every response in `raw`, in order (bodies are JSON: no line of theirs starts
/// with `HTTP/1.`).
fn statuses(raw: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(raw);
    let mut out = Vec::new();
    let mut rest: &str = &text;
    while let Some(i) = rest.find("HTTP/1.") {
        let at_line_start = i == 0 || rest[..i].ends_with('\n') || rest[..i].ends_with('}');
        let line = &rest[i..];
        if at_line_start {
            if let Some(code) = line.get(9..12).and_then(|c| c.parse().ok()) {
                out.push(code);
            }
        }
        rest = &rest[i + 7..];
    }
    out
}

/// The first response's head, lower-cased.
fn head(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw).to_ascii_lowercase();
    text.split("\r\n\r\n").next().unwrap_or("").to_string()
}

/// The process is running and answers a plain request at once.
fn assert_alive(name: &str, served: &mut Served) {
    assert!(
        matches!(served.child.try_wait(), Ok(None)),
        "{name}: the server exited: {:?}",
        served.child.try_wait()
    );
    let raw = exchange(
        &served.addr,
        b"GET /__api/assets/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(
        statuses(&raw),
        vec![401],
        "{name}: another client gets no answer: {:?}",
        String::from_utf8_lossy(&raw)
    );
}

#[test]
fn a_huge_content_length_does_not_kill_the_server() {
    on_both(|name, served| {
        let raw = exchange(
            &served.addr,
            b"GET /x HTTP/1.1\r\nHost: t\r\nContent-Length: 4611686018427387904\r\n\r\n",
            Duration::from_secs(5),
        );
        assert_eq!(statuses(&raw).len(), 1, "{name}: one answer");
        assert!(head(&raw).contains("connection: close"), "{name}: {raw:?}");
        std::thread::sleep(Duration::from_millis(200));
        assert_alive(name, served);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    exchange(
                        &served.addr,
                        b"GET /x HTTP/1.1\r\nHost: t\r\nContent-Length: 18446744073709551615\r\n\r\n",
                        Duration::from_secs(5),
                    )
                });
            }
        });
        std::thread::sleep(Duration::from_millis(200));
        assert_alive(name, served);
    });
}

#[test]
fn clients_that_never_send_their_body_freeze_nothing() {
    on_both(|name, served| {
        let held: Vec<TcpStream> = (0..8)
            .map(|_| {
                let mut s = TcpStream::connect(&served.addr).unwrap();
                // Part of the declared body, then nothing.
                s.write_all(b"GET /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\nabc")
                    .unwrap();
                s
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1000));
        let start = Instant::now();
        assert_alive(name, served);
        assert!(start.elapsed() < Duration::from_secs(2), "{name}: slow");
        drop(held);
    });
}

#[test]
fn an_over_long_request_line_is_refused_with_connection_close() {
    on_both(|name, served| {
        // Just over 64 KiB, and far over (the server must not read it all).
        for len in [65 * 1024, 16 * 1024 * 1024] {
            let mut req = b"GET /".to_vec();
            req.resize(len, b'a');
            req.extend_from_slice(b" HTTP/1.1\r\nHost: t\r\n\r\n");
            let raw = exchange(&served.addr, &req, Duration::from_secs(5));
            let st = statuses(&raw);
            assert!(
                st == [414] || st == [400],
                "{name}: a {len}-byte target: {st:?} {:?}",
                head(&raw)
            );
            assert!(head(&raw).contains("connection: close"), "{name} {len}");
        }
        assert_alive(name, served);
    });
}

#[test]
fn an_over_large_header_block_is_a_431() {
    on_both(|name, served| {
        let many: String = (0..80)
            .map(|i| format!("X-Filler-{i}: {}\r\n", "v".repeat(1000)))
            .collect();
        let one_line = format!("X-Long: {}\r\n", "v".repeat(70 * 1024));
        let huge = format!("X-Huge: {}\r\n", "v".repeat(8 * 1024 * 1024));
        for block in [many, one_line, huge] {
            let req = format!("GET /__api/assets/1 HTTP/1.1\r\nHost: t\r\n{block}\r\n");
            let raw = exchange(&served.addr, req.as_bytes(), Duration::from_secs(5));
            assert_eq!(statuses(&raw), vec![431], "{name}: {:?}", head(&raw));
            assert!(head(&raw).contains("connection: close"), "{name}");
        }
        // 60 KiB of headers in all is within the limit.
        let fine: String = (0..60)
            .map(|i| format!("X-Filler-{i}: {}\r\n", "v".repeat(1000)))
            .collect();
        let req =
            format!("GET /__api/assets/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{fine}\r\n");
        let raw = exchange(&served.addr, req.as_bytes(), Duration::from_secs(5));
        assert_eq!(statuses(&raw), vec![401], "{name}");
        assert_alive(name, served);
    });
}

fn threads(child: &Child) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

#[test]
fn slow_connections_cost_no_thread_each() {
    on_both(|name, served| {
        let held: Vec<TcpStream> = (0..400)
            .map(|_| {
                let mut s = TcpStream::connect(&served.addr).unwrap();
                s.write_all(b"GET /__api/assets/1 HTTP/1.1\r\nHost: t\r\n")
                    .unwrap();
                s
            })
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        let during = threads(&served.child);
        // The runtime's workers (one per core by default) and a few of its own, whatever the clients.
        assert!(
            during <= 16,
            "{name}: {during} threads with 400 slow connections"
        );
        assert_alive(name, served);
        drop(held);
    });
}

#[test]
fn header_bytes_above_0x7f_are_compared_as_bytes() {
    on_both(|name, served| {
        for token in [&b"t\xc3\xb6k\xc3\xa9n"[..], b"\xe9", b"\xff\xfe"] {
            let mut req = b"GET /__api/assets/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer ".to_vec();
            req.extend_from_slice(token);
            req.extend_from_slice(b"\r\nX-Other: caf\xe9\r\n\r\n");
            let raw = exchange(&served.addr, &req, Duration::from_secs(5));
            assert_eq!(statuses(&raw), vec![401], "{name}: {token:?}");
            let h = head(&raw);
            assert!(h.contains("invalid_token"), "{name}: {h}");
            assert!(raw.ends_with(b"}"), "{name}: the JSON error body");
        }
        assert_alive(name, served);
    });
}

#[test]
fn ambiguous_framing_is_a_400_that_closes_the_connection() {
    let smuggled = "GET /__api/assets/1 HTTP/1.1\r\nHost: t\r\n\r\n";
    let cases: Vec<String> = vec![
        "Content-Length: abc\r\n".into(),
        "Content-Length: 5, 5\r\n".into(),
        "Content-Length: +5\r\n".into(),
        "Content-Length: 5\r\nContent-Length: 5\r\n".into(),
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n".into(),
        "Transfer-Encoding: chunked\r\n".into(),
        "Transfer-Encoding: gzip, chunked\r\n".into(),
        "Transfer-Encoding: identity\r\n".into(),
    ];
    on_both(|name, served| {
        for headers in &cases {
            // The body (whatever framing a proxy might pick) holds a second request.
            let body = format!("{:x}\r\n{smuggled}\r\n0\r\n\r\n", smuggled.len());
            let req = format!("GET /x HTTP/1.1\r\nHost: t\r\n{headers}\r\n{body}");
            let raw = exchange(&served.addr, req.as_bytes(), Duration::from_secs(5));
            assert_eq!(
                statuses(&raw),
                vec![400],
                "{name}: {headers:?}: {:?}",
                String::from_utf8_lossy(&raw)
            );
            assert!(head(&raw).contains("connection: close"), "{name}");
        }
        assert_alive(name, served);
    });
}

#[test]
fn a_small_get_body_is_skipped_and_the_connection_kept() {
    on_both(|name, served| {
        let one = "GET /__api/assets/1 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
        let last = "GET /__api/assets/2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        // Pipelined: three requests in one write, answered in order on one connection.
        let req = format!("{one}{one}{last}");
        let raw = exchange(&served.addr, req.as_bytes(), Duration::from_secs(5));
        assert_eq!(statuses(&raw), vec![401, 401, 401], "{name}");
    });
}

/// Starts `serve` with its access log, collected.
fn serve_logging() -> (Served, Arc<Mutex<Vec<u8>>>) {
    let mut child = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--store", RULES])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "serve exited");
        if let Some(rest) = line.trim().split(" on http://").nth(1) {
            break rest.split('/').next().unwrap().to_string();
        }
    };
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    (Served { child, addr }, log)
}

#[test]
fn the_access_log_cannot_be_forged() {
    let (mut served, log) = serve_logging();
    let long = format!("/{}", "a".repeat(60 * 1024));
    let hostile: Vec<Vec<u8>> = vec![
        b"GET\n127.0.0.1 \"GET /forged HTTP/1.1\" 200 /x HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
        b"GET /a\x1b[31mred\x07 HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
        b"GET /a\"b\\c\x7f HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
        b"GET /caf\xc3\xa9\xff HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
        b"G\x01T /x HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
        format!("GET {long} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes(),
    ];
    for req in &hostile {
        exchange(&served.addr, req, Duration::from_millis(500));
    }
    assert_alive("serve", &mut served);
    served.interrupt();
    std::thread::sleep(Duration::from_millis(200));
    let log = log.lock().unwrap().clone();
    let text = String::from_utf8(log).expect("the log is ASCII (escaped)");
    let mut requests = 0;
    for line in text.lines() {
        if line.starts_with("matrix-snapshot:") {
            continue;
        }
        requests += 1;
        assert!(line.starts_with("127.0.0.1 \""), "forged line: {line:?}");
        assert!(
            line.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "raw control or non-ASCII byte: {line:?}"
        );
        assert!(
            line.len() < 2048,
            "target not truncated: {} bytes",
            line.len()
        );
        assert!(!line.contains("/forged"), "forged: {line:?}");
    }
    assert!(requests >= 2, "{text}");
}

/// The ETag of `raw`'s first response.
fn etag(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    text.split("\r\n\r\n")
        .next()?
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.eq_ignore_ascii_case("etag"))
        })
        .map(|(_, v)| v.trim().to_string())
}

/// A route of the demo's minimal export that is a 200 for demo-public.
fn a_route(snap: &Path) -> String {
    let manifest = std::fs::read_to_string(snap.join("manifest.jsonl")).unwrap();
    manifest
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["status"] == 200)
        .and_then(|v| v["requests"][0].as_str().map(str::to_string))
        .expect("a 200 route")
}

fn get(addr: &str, target: &str, extra: &str) -> Vec<u8> {
    let req = format!(
        "GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer demo-public\r\n{extra}\r\n"
    );
    exchange(addr, req.as_bytes(), Duration::from_secs(5))
}

#[test]
fn preview_answers_if_none_match_with_304() {
    let tmp = tempfile::tempdir().unwrap();
    let served = preview(tmp.path(), &[]);
    let route = a_route(&tmp.path().join("snap"));
    let raw = get(&served.addr, &route, "");
    assert_eq!(statuses(&raw), vec![200]);
    let tag = etag(&raw).expect("an ETag");
    for inm in [
        tag.clone(),
        format!("W/{tag}"),
        format!("\"other\", {tag}"),
        "*".to_string(),
    ] {
        let raw = get(&served.addr, &route, &format!("If-None-Match: {inm}\r\n"));
        assert_eq!(statuses(&raw), vec![304], "{inm}");
        assert_eq!(etag(&raw).as_deref(), Some(tag.as_str()));
        assert!(raw.ends_with(b"\r\n\r\n"), "no body");
    }
    let raw = get(&served.addr, &route, "If-None-Match: \"other\"\r\n");
    assert_eq!(statuses(&raw), vec![200]);
}

#[test]
fn preview_sees_a_re_exported_snapshot_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let served = preview(tmp.path(), &[]);
    let snap = tmp.path().join("snap");
    let route = a_route(&snap);
    let raw = get(&served.addr, &route, "");
    assert_eq!(statuses(&raw), vec![200]);
    assert!(!head(&raw).contains("access-control-allow-origin"));
    // `--full` builds a new tree and swaps it in (docs/snapshot-format.md, Atomicity).
    export_public(
        "minimal",
        None,
        &snap,
        &["--full", "--cors", "https://app.test"],
    );
    let start = Instant::now();
    loop {
        let raw = get(&served.addr, &route, "");
        assert_eq!(statuses(&raw), vec![200]);
        if head(&raw).contains("access-control-allow-origin: https://app.test") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still the old snapshot after 5 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn preview_closes_idle_connections() {
    let tmp = tempfile::tempdir().unwrap();
    let served = preview(tmp.path(), &["--idle-timeout", "1"]);
    let mut s = TcpStream::connect(&served.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let start = Instant::now();
    let raw = read_all(&mut s);
    assert!(raw.is_empty(), "{raw:?}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "closed by the read timeout only"
    );
}

#[test]
fn preview_stops_gracefully_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let mut served = preview(tmp.path(), &[]);
    // An idle keep-alive connection does not hold the shutdown.
    let mut idle = TcpStream::connect(&served.addr).unwrap();
    idle.write_all(b"GET /__api/assets/1 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    assert!(idle.read(&mut buf).unwrap() > 0);
    std::process::Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if let Ok(Some(status)) = served.child.try_wait() {
            assert_eq!(status.code(), Some(0), "SIGTERM is a clean stop");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("preview still running 5 s after SIGTERM");
}
