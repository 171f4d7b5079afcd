//! Apache httpd (mod_lua) with the config `matrix-snapshot router apache` prints, started as a
//! foreground process on a free port with its pid file and error log in the test's temp dir.

use super::hostile::{
    assert_anchored, assert_asks_odd_names, demo_store_with, export_hostile12, OddAsset,
};
use super::injection::with_hostile_values;
use super::{
    asking, assert_api12_corpus, assert_conforms, assert_forbidden_urls, demo, export,
    export_api12, free_port, generated_store, readable_tempdir, require, router_config, Process,
    DEMO, PUBLIC_CORS,
};
use matrix_snapshot::conformance::Harness;
use matrix_snapshot::snapshot::path;
use matrix_snapshot::{Catalog, Store};
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A running `apache2 -DFOREGROUND`, stopped (SIGTERM, then SIGKILL) on drop, even when an
/// assertion failed.
struct Apache {
    _process: Process,
    addr: String,
    log: PathBuf,
}

impl Apache {
    /// Renders the config for `snapshot` and starts Apache on a free port; runtime files go
    /// to `run_dir`.
    fn start(apache2: &Path, snapshot: &Path, run_dir: &Path, defines: &[&str]) -> Apache {
        let addr = format!("127.0.0.1:{}", free_port());
        let conf = run_dir.join("httpd.conf");
        fs::write(&conf, router_config("apache", snapshot, &addr, &[])).unwrap();
        let log = run_dir.join("stderr.log");
        let mut process = Process::spawn(
            "apache2",
            Command::new(apache2)
                .arg("-f")
                .arg(&conf)
                .arg("-DFOREGROUND")
                .arg("-C")
                .arg(format!(
                    "Define MATRIX_SNAPSHOT_RUN_DIR {}",
                    run_dir.display()
                ))
                .args(defines.iter().flat_map(|d| ["-C", d]))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(&log).unwrap()),
        );
        process.wait_listening(&addr, Duration::from_secs(20), || {
            fs::read_to_string(&log).unwrap_or_default()
        });
        Apache {
            _process: process,
            addr,
            log,
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn apache2() -> Option<PathBuf> {
    require("apache2", "apt-get install apache2-bin")
}

/// Sends raw bytes on a fresh connection and returns everything the server sends back.
fn raw_exchange(addr: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Requests Apache refuses before the router runs still get JSON, never an HTML page.
fn assert_apache_errors_are_json(addr: &str, snapshot: &Path) {
    let bad_request = fs::read_to_string(snapshot.join("public/__api/~/errors/400.json")).unwrap();
    let long = format!(
        "GET /__api/assets/{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(9000)
    );
    for (request, status, body) in [
        (
            &b"GET /__api/a\x01b HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            "400",
            bad_request.as_str(),
        ),
        (
            &b"GET /__api/assets/1 HTTP/1.1\r\nConnection: close\r\n\r\n"[..],
            "400",
            bad_request.as_str(),
        ),
        (
            long.as_bytes(),
            "414",
            r#"{"code":414,"message":"URI too long"}"#,
        ),
    ] {
        let got = raw_exchange(addr, request);
        let head = got.split("\r\n\r\n").next().unwrap_or_default();
        assert!(
            got.starts_with(&format!("HTTP/1.1 {status} ")),
            "{status}: {got}"
        );
        assert!(
            head.contains("Content-Type: application/json; charset=utf-8"),
            "{got}"
        );
        assert!(got.ends_with(body), "{got}");
    }
}

/// Which user Apache's workers run as, when the test runs as root.
#[derive(Clone, Copy)]
enum Workers {
    /// The config as printed: no `User`, the workers keep the starting user.
    AsStarted,
    /// `-C "Define MATRIX_SNAPSHOT_USER nobody"` (and group `nogroup`), as the docs advise.
    Nobody,
}

/// Exports with `args`, serves the snapshot with Apache and replays 10,000 corpus requests.
/// Returns the temp dir holding the snapshot and the snapshot (`None`: Apache is missing).
fn check(
    label: &str,
    cat: &Catalog,
    args: &[&str],
    seed: u64,
    workers: Workers,
) -> Option<(tempfile::TempDir, PathBuf)> {
    let apache2 = apache2()?;
    let tmp = readable_tempdir();
    let out = export(tmp.path(), args);
    serve_and_check(&apache2, label, cat, &out, seed, workers);
    Some((tmp, out))
}

/// Serves the exported `out` (in a readable temp dir) with Apache and replays 10,000 corpus
/// requests: every one must agree, and Apache must log no error.
fn serve_and_check(
    apache2: &Path,
    label: &str,
    cat: &Catalog,
    out: &Path,
    seed: u64,
    workers: Workers,
) {
    let run_dir = out.parent().unwrap().join("run");
    fs::create_dir(&run_dir).unwrap();
    let defines: &[&str] = match workers {
        Workers::AsStarted => &[],
        Workers::Nobody => &[
            "Define MATRIX_SNAPSHOT_USER nobody",
            "Define MATRIX_SNAPSHOT_GROUP nogroup",
        ],
    };
    let apache = Apache::start(apache2, out, &run_dir, defines);
    let tally = assert_conforms(cat, out, &apache.addr, seed, 10_000);
    eprintln!("{}", tally.report(label, 0));
    assert_apache_errors_are_json(&apache.addr, out);
    assert_eq!(tally.agree, tally.compared(), "{}", tally.report(label, 0));
    // D-057: forbidden URLs answer 403 (the Lua router hashes and reads the tables).
    assert_eq!(tally.deviations, 0, "{}", tally.report(label, 0));
    assert_forbidden_urls(cat, out, &apache.addr);
    assert!(tally.agree >= 5_000, "{}", tally.report(label, 0));
    let log = apache.log();
    // Script errors, missing error bodies and MPM misconfiguration all log at error level.
    assert!(
        !log.contains("lua")
            && !log.contains("matrix-snapshot")
            && !log.contains(":error]")
            && !log.contains(":crit]"),
        "Apache logged errors:\n{log}"
    );
    drop(apache);
}

#[test]
fn apache_conforms_on_the_demo_standard_export() {
    check("apache, demo standard", &demo(), DEMO, 21, Workers::Nobody);
}

#[test]
fn apache_conforms_on_a_public_cors_export() {
    check(
        "apache, demo standard --public --cors",
        &demo(),
        &[DEMO, PUBLIC_CORS].concat(),
        22,
        Workers::AsStarted,
    );
}

#[test]
fn apache_conforms_on_a_generated_store() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, cat) = generated_store(tmp.path());
    for (token, seed) in [("gen-editor", 23), ("gen-site1", 24)] {
        check(
            &format!("apache, generated store, {token}"),
            &cat,
            &[
                "--store",
                store.to_str().unwrap(),
                "--token",
                token,
                "--profile",
                "minimal",
            ],
            seed,
            Workers::AsStarted,
        );
    }
}

/// Content API 1.2.0 parameters (`include_dependents`, `base_url`, `context`, the demo's
/// "Māori" context a non-ASCII name) over a snapshot exported with all three dimensions: every
/// exported variant agrees, the rest is "not exported", never a wrong 200.
#[test]
fn apache_conforms_with_api_1_2_0_dimensions() {
    let Some(apache2) = apache2() else { return };
    let tmp = readable_tempdir();
    let out = export_api12(tmp.path(), &[]);
    let cat = demo();
    let seed = 26;
    let cases = assert_api12_corpus(&cat, &out, seed);
    assert!(
        asking(&cases, "context=M%C4%81ori") > 50,
        "corpus asks for the Māori context"
    );
    serve_and_check(
        &apache2,
        "apache, demo api12 dimensions",
        &cat,
        &out,
        seed,
        Workers::AsStarted,
    );
}

/// Ids, URLs and types the demo lacks: names over 200 bytes cut into `~_` chunks (one chunk
/// starting with `.`), non-ASCII, upper case, `%`, `+`, spaces and a leading dot, so the Lua
/// `encode_segment` is checked against Rust's where they differ most.
fn hostile_store(dir: &Path) -> PathBuf {
    let odd = |id: String, url: String, ty| OddAsset {
        id,
        url,
        type_code: ty,
        type_name: ty,
    };
    let long_dot = format!("{}.tail{}", "a".repeat(198), "b".repeat(10));
    demo_store_with(
        dir,
        &[
            odd(
                "É".repeat(150),
                format!("https://www.uni.test/{}", "ā".repeat(100)),
                "page_standard",
            ),
            odd(
                ".hidden".into(),
                "https://www.uni.test/.well-known/Ünï Space+Plus".into(),
                "Odd_Type",
            ),
            odd(
                long_dot.clone(),
                format!("https://www.uni.test/x/{long_dot}/"),
                "folder",
            ),
            odd(
                "UPPER Case%41+plus".into(),
                "https://WWW.uni.test/A%41/b".into(),
                "Odd_Type",
            ),
            odd(
                "%2e%2e".into(),
                "https://www.uni.test/%2e%2e/c:d".into(),
                "page_standard",
            ),
        ],
    )
}

#[test]
fn apache_conforms_on_hostile_ids_and_urls() {
    let tmp = tempfile::tempdir().unwrap();
    let store = hostile_store(tmp.path());
    let cat = Catalog::new(Store::load(&store).unwrap());
    let checked = check(
        "apache, demo + hostile ids, demo-public",
        &cat,
        &[
            "--store",
            store.to_str().unwrap(),
            "--token",
            "demo-public",
            "--profile",
            "standard",
        ],
        25,
        Workers::AsStarted,
    );
    // The odd assets are in the snapshot, so the corpus asked for them (by id and by URL).
    let Some((_tmp, out)) = checked else { return };
    let chunked = path::asset_dir(&"É".repeat(150));
    assert!(chunked.contains("~_/"), "{chunked}");
    let long_dot = path::asset_dir(&format!("{}.tail{}", "a".repeat(198), "b".repeat(10)));
    assert!(long_dot.contains("~_/~2etail"), "{long_dot}");
    assert_anchored(
        &out,
        [
            chunked,
            long_dot,
            path::asset_dir(".hidden"),
            path::url_dir(&format!("www.uni.test/{}", "ā".repeat(100))),
            path::url_dir("www.uni.test/.well-known/Ünï Space+Plus"),
        ],
    );
}

/// Content API 1.2.0 names that are hard to spell in a Lua string literal: a declared context
/// with quotes, a backslash and `]]` besides the demo's non-ASCII "Māori", and `base_url` values
/// with those and control bytes (JSON's `\u00XX`), over the hostile ids and URLs. The rendered
/// script must load and match their bytes exactly.
#[test]
fn apache_conforms_with_hostile_api_1_2_0_names() {
    let Some(apache2) = apache2() else { return };
    let tmp = readable_tempdir();
    let store = hostile_store(tmp.path());
    let out = export_hostile12(
        tmp.path(),
        &store,
        &["Default", "Māori", r#"q"uo'te\back]]slash ā"#],
        r#"["https://www.uni.test/q\"uo'te\\back]]slash\u0001\u001f\u007f", "http://Ünï.test/ā%41"]"#,
    );
    let cat = Catalog::new(Store::load(&store).unwrap());
    let seed = 27;
    assert_asks_odd_names(&Harness::open(&cat, &out).unwrap().corpus(seed, 10_000));
    serve_and_check(
        &apache2,
        "apache, demo + hostile ids, hostile 1.2.0 names",
        &cat,
        &out,
        seed,
        Workers::AsStarted,
    );
}

/// Apache as a [`super::Server`] for the shared checks; its runtime files in a directory of
/// their own (a `Define` value cannot hold the spaces of [`super::injection::HOSTILE_DIR`]).
struct PlainApache {
    apache: Apache,
    _run: tempfile::TempDir,
}

impl super::Server for PlainApache {
    const NAME: &'static str = "apache";

    fn start(snapshot: &Path, _: &Path) -> Option<Self> {
        let apache2 = apache2()?;
        let run = readable_tempdir();
        let apache = Apache::start(&apache2, snapshot, run.path(), &[]);
        Some(PlainApache { apache, _run: run })
    }

    fn addr(&self) -> &str {
        &self.apache.addr
    }
}

/// Issue 16: a newline or quote in a value must not inject Apache directives or break the Lua
/// router (tests/it/hosts/injection.rs).
#[test]
fn apache_takes_hostile_values_literally() {
    with_hostile_values::<PlainApache>(readable_tempdir().path(), 27);
}
