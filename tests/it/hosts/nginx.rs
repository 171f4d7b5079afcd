//! nginx with the njs module, serving real snapshots with the config `matrix-snapshot router
//! nginx` prints: the demo (a token snapshot, and a public one with CORS) and a generated store.

use super::{export, export_api12, free_port, require, router_config};
use crate::hosts::generated_store;
use matrix_snapshot::conformance::{self, Case, Harness, Tally};
use matrix_snapshot::route::{self, preview::Snapshot};
use matrix_snapshot::Catalog;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// An nginx master (and its workers, in their own process group) in the foreground, stopped on
/// drop — even when an assertion fails.
struct Nginx {
    child: Child,
    prefix: PathBuf,
    addr: String,
}

impl Nginx {
    /// Writes the config for `snapshot` into `prefix` and starts nginx with it. `None` when
    /// nginx is not installed (see [`require`]).
    fn start(snapshot: &Path, prefix: &Path) -> Option<Nginx> {
        let nginx = require("nginx", "apt-get install nginx-light libnginx-mod-http-js")?;
        let addr = format!("127.0.0.1:{}", free_port());
        fs::create_dir_all(prefix).unwrap();
        let conf = prefix.join("nginx.conf");
        fs::write(&conf, router_config("nginx", snapshot, &addr, &[])).unwrap();
        let child = Command::new(nginx)
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(prefix)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // Before error_log is open, nginx reports to stderr.
            .stderr(fs::File::create(prefix.join("stderr.log")).unwrap())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut server = Nginx {
            child,
            prefix: prefix.to_path_buf(),
            addr,
        };
        server.wait_listening();
        Some(server)
    }

    fn wait_listening(&mut self) {
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(&self.addr).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited ({status}):\n{}", self.log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "nginx does not listen on {}:\n{}",
                self.addr,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What nginx said: stderr, then error.log.
    fn log(&self) -> String {
        ["stderr.log", "error.log"]
            .iter()
            .map(|f| fs::read_to_string(self.prefix.join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to the whole group: the master and its workers.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// A temp dir the nginx workers can read: run as root, the master hands requests to
/// unprivileged workers, and `tempdir()` is 0700.
fn tempdir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    tmp
}

/// Whether nginx refuses `case`'s request line before reading its headers: the path has `%00`
/// or a `%` without two hex digits (nginx 1.22 `ngx_http_parse_complex_uri`). `..` segments that
/// climb above the root are refused too; the corpus sends none.
fn refused_before_headers(case: &Case) -> bool {
    let path = case.target.split('?').next().unwrap_or("").as_bytes();
    path.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && match (path.get(i + 1), path.get(i + 2)) {
                (Some(h), Some(l)) => {
                    !h.is_ascii_hexdigit() || !l.is_ascii_hexdigit() || (*h == b'0' && *l == b'0')
                }
                _ => true,
            }
    })
}

/// Replays `n` corpus requests against nginx. Every answer must be right, except one limit of
/// nginx (docs/hosting/nginx.md): a request nginx refuses before reading its headers cannot have
/// its token checked, so a token snapshot answers it as a valid token would (404, 400, 405; a
/// 401 where a file or a 403 would answer) — wrong only when the token is missing or wrong.
/// Those are counted apart and listed; anything else wrong fails.
fn assert_conforms(cat: &Catalog, snapshot: &Path, addr: &str, seed: u64, n: usize) -> Tally {
    let harness = Harness::open(cat, snapshot).expect("harness");
    let cases = harness.corpus(seed, n);
    let mut tally = conformance::run_http(&harness, &cases, addr);
    let valid = format!("Bearer {}", harness.token());
    let (limit, wrong): (Vec<_>, Vec<_>) = tally.differ.drain(..).partition(|(case, diff)| {
        refused_before_headers(case)
            && case.authorization.as_deref() != Some(valid.as_str())
            && diff.starts_with("status ")
            && diff.contains("(want 401)")
    });
    tally.differ = wrong;
    assert!(tally.passed(), "{}", tally.report(addr, 25));
    assert!(
        limit.len() * 200 < n,
        "the documented limit explains {} answers of {n}",
        limit.len()
    );
    eprintln!(
        "{addr}: agreement {}/{} ({} not exported, {} documented deviations); the other {} were refused by nginx before it read the token (documented limit)",
        tally.agree,
        tally.compared() - limit.len(),
        tally.not_exported,
        tally.deviations,
        limit.len()
    );
    tally
}

fn demo() -> Catalog {
    Catalog::new(matrix_snapshot::demo::store().unwrap())
}

const DEMO: &[&str] = &[
    "--token",
    "demo-research",
    "--profile",
    "standard",
    "--base-url",
    "https://research.uni.test",
];

#[test]
fn nginx_conforms_on_the_demo() {
    let tmp = tempdir();
    let out = export(tmp.path(), DEMO);
    let Some(nginx) = Nginx::start(&out, &tmp.path().join("nginx")) else {
        return;
    };
    let tally = assert_conforms(&demo(), &out, &nginx.addr, 21, 10_000);
    assert!(tally.agree >= 8_000, "{}", tally.report(&nginx.addr, 0));
    assert!(tally.not_exported > 0, "{}", tally.report(&nginx.addr, 0));
}

#[test]
fn nginx_conforms_on_the_demo_public_with_cors() {
    let tmp = tempdir();
    let mut args = DEMO.to_vec();
    args.extend(["--public", "--cors", "https://app.test"]);
    let out = export(tmp.path(), &args);
    let Some(nginx) = Nginx::start(&out, &tmp.path().join("nginx")) else {
        return;
    };
    let tally = assert_conforms(&demo(), &out, &nginx.addr, 22, 10_000);
    assert!(tally.agree >= 8_000, "{}", tally.report(&nginx.addr, 0));
}

#[test]
fn nginx_conforms_on_a_generated_store() {
    let tmp = tempdir();
    let (store, cat) = generated_store(tmp.path());
    for token in ["gen-editor", "gen-site1"] {
        let dir = tmp.path().join(token);
        let out = export(
            &dir,
            &[
                "--store",
                store.to_str().unwrap(),
                "--token",
                token,
                "--profile",
                "minimal",
            ],
        );
        let Some(nginx) = Nginx::start(&out, &dir.join("nginx")) else {
            return;
        };
        let tally = assert_conforms(&cat, &out, &nginx.addr, 23, 10_000);
        assert!(tally.agree >= 8_000, "{}", tally.report(&nginx.addr, 0));
    }
}

/// Content API 1.2.0 parameters (`include_dependents`, `base_url`, `context`) over the demo
/// exported with all three dimensions: every exported variant agrees, the rest is "not
/// exported" or a 400 (an undeclared context), never a wrong 200.
#[test]
fn nginx_conforms_with_api_1_2_0_dimensions() {
    let tmp = tempdir();
    let out = export_api12(tmp.path(), &[]);
    let cat = demo();
    let cases = Harness::open(&cat, &out).unwrap().corpus(24, 10_000);
    let with = |p: &str| cases.iter().filter(|c| c.target.contains(p)).count();
    assert!(
        with("include_dependents=true") > 300,
        "corpus covers dependents"
    );
    assert!(with("base_url=") > 300 && with("context=") > 300);
    let Some(nginx) = Nginx::start(&out, &tmp.path().join("nginx")) else {
        return;
    };
    let tally = assert_conforms(&cat, &out, &nginx.addr, 24, 10_000);
    assert!(tally.agree >= 7_000, "{}", tally.report(&nginx.addr, 0));
    assert!(tally.not_exported > 0, "{}", tally.report(&nginx.addr, 0));
}

/// The odd context of [`hostile_api12`].
pub const ODD_CONTEXT: &str = "q\"uo'te\\back]]slash \u{101} </script>";

/// The demo store with odd assets (non-ASCII, dotted and percent-spelled ids and URLs, one id
/// long enough for chunked names) and two more declared contexts whose names are hard to spell
/// in JavaScript (quotes, a backslash, `</script>`, non-ASCII; U+2028, a line terminator in
/// older JavaScript), and a profile with `base_url` values holding such bytes and control
/// bytes (JSON's `\u00XX`), exported for demo-public into `dir/out`: its catalog and the
/// snapshot.
pub fn hostile_api12(dir: &Path) -> (Catalog, PathBuf) {
    let store = dir.join("store");
    fs::create_dir_all(&store).unwrap();
    for f in ["principals.jsonl", "tokens.jsonl"] {
        fs::copy(crate::util::repo("demo/store").join(f), store.join(f)).unwrap();
    }
    let odd = [
        (
            "\u{c9}".repeat(150),
            format!("https://www.uni.test/caf\u{e9}/{}", "\u{101}".repeat(20)),
        ),
        (
            ".hidden".to_string(),
            "https://www.uni.test/.well-known/\u{dc}n\u{ef} Space+Plus".to_string(),
        ),
        (
            "UPPER Case%41+plus".to_string(),
            "https://WWW.uni.test/A%41/b".to_string(),
        ),
    ];
    let mut assets = fs::read_to_string(crate::util::repo("demo/store/assets.jsonl")).unwrap();
    let mut links = fs::read_to_string(crate::util::repo("demo/store/links.jsonl")).unwrap();
    let mut perms = fs::read_to_string(crate::util::repo("demo/store/permissions.jsonl")).unwrap();
    for (i, (id, url)) in odd.iter().enumerate() {
        let when = serde_json::json!({"date": "2020-01-01T10:00:00+13:00", "user_id": "10"});
        let asset = serde_json::json!({
            "id": id, "type": "page_standard", "type_name": "Standard Page", "version": "0.0.1",
            "name": format!("Odd {i}"), "short_name": format!("Odd {i}"), "status": 16,
            "created": when, "updated": when, "published": when, "status_changed": when,
            "urls": [url], "attributes": {"name": format!("Odd {i}")}, "metadata": null,
            "contents": "", "trashed": false,
        });
        assets.push_str(&format!("{asset}\n"));
        // Each under the site (7), the next one under it: children and lineage of odd ids.
        let parent = if i == 0 { "7" } else { odd[i - 1].0.as_str() };
        let link = serde_json::json!({
            "link_id": format!("odd{i}"), "major_id": parent, "minor_id": id,
            "link_type": "menu", "value": "", "sort_order": 90 + i,
            "is_dependent": false, "is_exclusive": false,
        });
        links.push_str(&format!("{link}\n"));
        let perm = serde_json::json!({
            "asset_id": id, "principal_id": "15", "access": "read", "granted": true,
        });
        perms.push_str(&format!("{perm}\n"));
    }
    fs::write(store.join("assets.jsonl"), assets).unwrap();
    fs::write(store.join("links.jsonl"), links).unwrap();
    fs::write(store.join("permissions.jsonl"), perms).unwrap();
    let meta = serde_json::json!({
        "format": "matrix-snapshot-store/1",
        "name": "Demo University",
        "contexts": ["Default", "M\u{101}ori", ODD_CONTEXT, "line\u{2028}sep\u{2029}"],
    });
    fs::write(store.join("store.json"), meta.to_string()).unwrap();
    let profile = dir.join("hostile12.toml");
    fs::write(
        &profile,
        r#"
data = [[], ["urls"]]
children_data = [[]]
sort_by = ["tree"]
sort_order = ["asc"]
limits = [100]
include_dependents = [false, true]
base_urls = ["https://www.uni.test/q\"uo'te\\back]]slash\u0001\u001f\u007f</script>", "http://\u00dcn\u00ef.test/\u0101%41\u2028"]
contexts = "all"
"#,
    )
    .unwrap();
    let out = export(
        dir,
        &[
            "--store",
            store.to_str().unwrap(),
            "--token",
            "demo-public",
            "--profile",
            profile.to_str().unwrap(),
        ],
    );
    let routes: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("_routers/routes.json")).unwrap()).unwrap();
    assert_eq!(routes["contexts"][2], ODD_CONTEXT);
    assert_eq!(routes["context_variants"], serde_json::json!([0, 1, 2, 3]));
    (
        Catalog::new(matrix_snapshot::Store::load(&store).unwrap()),
        out,
    )
}

/// Whether the corpus of `seed` over [`hostile_api12`]'s snapshot asks for its odd names.
pub fn assert_corpus_asks_hostile_names(cat: &Catalog, out: &Path, seed: u64) {
    let cases = Harness::open(cat, out).unwrap().corpus(seed, 10_000);
    let with = |p: &str| cases.iter().filter(|c| c.target.contains(p)).count();
    assert!(
        with("context=q%22uo%27te%5Cback%5D%5Dslash") > 20,
        "corpus asks for the odd context"
    );
    assert!(with("%01%1F%7F") > 20, "corpus asks for the odd base_url");
    let public = out.join("public");
    for dir in [
        matrix_snapshot::export::path::asset_dir(&"\u{c9}".repeat(150)),
        matrix_snapshot::export::path::url_dir("www.uni.test/.well-known/\u{dc}n\u{ef} Space+Plus"),
    ] {
        assert!(
            public.join(&dir).join("~asset.----.json").is_file(),
            "{dir}"
        );
    }
    let odd = |p: &str| {
        cases
            .iter()
            .filter(|c| c.target.contains(p) && !c.target.contains("url="))
            .count()
    };
    assert!(
        odd("/__api/assets/%C3%89%C3%89") > 0,
        "corpus asks for the odd ids"
    );
}

/// Ids, URLs and Content API 1.2.0 names that are hard to spell ([`hostile_api12`]): route.js
/// must load and match their bytes exactly (njs 0.7 hands nginx variables over as byte
/// strings, which the core must not mix with text).
#[test]
fn nginx_conforms_with_hostile_api_1_2_0_names() {
    let tmp = tempdir();
    let (cat, out) = hostile_api12(tmp.path());
    assert_corpus_asks_hostile_names(&cat, &out, 25);
    let Some(nginx) = Nginx::start(&out, &tmp.path().join("nginx")) else {
        return;
    };
    let tally = assert_conforms(&cat, &out, &nginx.addr, 25, 10_000);
    assert!(tally.agree >= 7_000, "{}", tally.report(&nginx.addr, 0));
}

/// The rendered route.js is plain JavaScript (`node --check`), when node is installed.
#[test]
fn nginx_route_js_parses() {
    let Some(node) = which("node") else {
        eprintln!("node is not installed; skipping the syntax check of route.js");
        return;
    };
    let tmp = tempdir();
    let out = export(tmp.path(), DEMO);
    let js = out.join("_routers/nginx/route.js");
    // As an ES module (route.js ends in `export default`).
    let mjs = tmp.path().join("route.mjs");
    fs::copy(&js, &mjs).unwrap();
    let status = Command::new(node)
        .arg("--check")
        .arg(&mjs)
        .status()
        .unwrap();
    assert!(status.success(), "node --check {}", js.display());
}

/// templates/js/route-core.js decides exactly as `route::resolve` (the reference router) on
/// 10,000 corpus requests over the demo snapshot's files, run in node: status, body file,
/// headers and the files asked about. Every JavaScript host reuses this core.
#[test]
fn route_core_js_decides_as_resolve() {
    let tmp = tempdir();
    let mut args = DEMO.to_vec();
    args.extend(["--cors", "https://app.test"]);
    let out = export(tmp.path(), &args);
    route_core_agrees(tmp.path(), &demo(), &out, 31);
}

/// The same over the demo exported with every Content API 1.2.0 dimension
/// (`include_dependents`, two `base_url` values, the contexts `Default` and `Māori`).
#[test]
fn route_core_js_decides_as_resolve_with_api_1_2_0_dimensions() {
    let tmp = tempdir();
    let out = export_api12(tmp.path(), &["--cors", "https://app.test"]);
    route_core_agrees(tmp.path(), &demo(), &out, 32);
    let tmp = tempdir();
    let (cat, out) = hostile_api12(tmp.path());
    route_core_agrees(tmp.path(), &cat, &out, 33);
}

/// Runs route-core.js in node over `out`'s files on 10,000 corpus requests (seed `seed`) and
/// the edges below, and asserts it decides as `route::resolve` on every one.
fn route_core_agrees(tmp: &Path, cat: &Catalog, out: &Path, seed: u64) {
    let Some(node) = which("node") else {
        eprintln!("node is not installed; skipping the route-core.js check");
        return;
    };
    let snapshot = Snapshot::open(out).unwrap();
    let harness = Harness::open(cat, out).unwrap();
    let mut cases = harness.corpus(seed, 10_000);
    // Edges the corpus draws rarely: long ids (chunked names), dots, a `%` at the end, UTF-8
    // that is not valid, URL keys, numbers at the i64 limit, types to encode.
    let long = format!("/__api/assets/{}", "%C3%89".repeat(150));
    let dotted = format!("/__api/assets/{}.x", "a".repeat(197));
    let chunk_dot = format!("/__api/assets/{}.bc{}", "a".repeat(198), "Z".repeat(70));
    let edges = [
        long.as_str(),
        dotted.as_str(),
        chunk_dot.as_str(),
        "/__api/assets/12%",
        "/__api/assets/12%4",
        "/__api/assets/%C3%28",
        "/__api/assets/%ED%A0%80",
        "/__api/assets/%F4%90%80%80",
        "/__api/assets/%E2%82",
        "/__api/assets/.hidden",
        "/__api/assets/12?data=%ff",
        "/__api/assets/by_url?url=RESEARCH.UNI.TEST:443/",
        "/__api/assets/by_url?url=research.uni.test:80",
        "/__api/assets/by_url?url=//research.uni.test/",
        "/__api/assets/by_url?url=research.uni.test:x/a",
        "/__api/assets/by_url?url=a:1",
        "/__api/assets/by_url?url=%3A1",
        "/__api/assets/by_url?url=https://research.uni.test//",
        "/__api/assets/by_url?url=https://research.uni.test?x#y",
        "/__api/assets/by_url/children?url=https://research.uni.test&page=2",
        "/__api/assets/12/children?limit=9223372036854775807&page=09223372036854775807",
        "/__api/assets/12/children?limit=000&page=0001",
        "/__api/assets/12/children?asset_types=B,a,%C3%A9,,a",
        "/__api/assets/12/children?asset_types=%ff",
        "/__api/assets/12/children?sort_by=%ff",
        "/__api/assets/12/children?sort_by=status_changed.user_id&sort_order=desc",
        "/__api/assets/12/children?data=urls&data=metadata&=x&&",
        "/__api/assets/12?data=urls%2Cmetadata+",
        "/__api/assets/by%5furl?url=research.uni.test",
        "/__api/assets/a+b/lineage/site",
        // Content API 1.2.0: context (names compared as UTF-8 bytes, case-sensitive).
        "/__api/assets/12?context=M%C4%81ori",
        "/__api/assets/12?context=M%C4%81ori&data=urls",
        "/__api/assets/12?context=m%C4%81ori",
        "/__api/assets/12?context=Ma%CC%84ori",
        "/__api/assets/12?context=M%C4%81ori+",
        "/__api/assets/12?context=M\u{101}ori",
        "/__api/assets/12?context=Default",
        "/__api/assets/12?context=default",
        "/__api/assets/12?context=&context=nope",
        "/__api/assets/12?context=%ff",
        "/__api/assets/12?context=M%C4ori",
        "/__api/assets/12?context=M%E0%80%81ori",
        "/__api/assets/12/lineage/site?context=M%C4%81ori",
        "/__api/assets/12/children?context=M%C4%81ori&limit=5&sort_by=name",
        "/__api/assets/12/children?context=Nope&limit=x",
        "/__api/assets/by_url?url=ftp://x&context=nope",
        "/__api/assets/by_url?url=ftp://x&context=M%C4%81ori",
        "/__api/assets/by_url?url=https://research.uni.test&context=M%C4%81ori",
        "/__api/assets/by_url/children?url=nowhere.test&context=Nope",
        // base_url: canonical form (scheme and host case, default port, query, fragment, one
        // trailing slash), only http(s) with a host; the first occurrence.
        "/__api/assets/12?base_url=https://research.uni.test",
        "/__api/assets/12?base_url=HTTPS://RESEARCH.uni.test:443/?q=1#f",
        "/__api/assets/12?base_url=https:%2F%2Fresearch.uni.test",
        "/__api/assets/12?base_url=http://research.uni.test",
        "/__api/assets/12?base_url=http://WWW.uni.test:80/news/",
        "/__api/assets/12?base_url=http://www.uni.test/News",
        "/__api/assets/12?base_url=http://www.uni.test/news//",
        "/__api/assets/12?base_url=https://www.uni.test/news",
        "/__api/assets/12?base_url=//research.uni.test",
        "/__api/assets/12?base_url=research.uni.test",
        "/__api/assets/12?base_url=https://",
        "/__api/assets/12?base_url=https:///x",
        "/__api/assets/12?base_url=ftp://research.uni.test",
        "/__api/assets/12?base_url=mailto:x@uni.test",
        "/__api/assets/12?base_url=https://research.uni.test/M%C4%81ori",
        "/__api/assets/12?base_url=https://research.uni.test/%ff",
        "/__api/assets/12?base_url=&base_url=http://x",
        "/__api/assets/12?base_url=https://research.uni.test&base_url=http://x",
        "/__api/assets/12?base_url=http://x&base_url=https://research.uni.test",
        "/__api/assets/12/lineage/site?base_url=http://www.uni.test/news",
        "/__api/assets/12/children?base_url=https://research.uni.test&data=urls,attributes,metadata,contents",
        "/__api/assets/by_url?url=https://research.uni.test&base_url=https://research.uni.test",
        // include_dependents: exactly `true` (decoded once), asset endpoints only.
        "/__api/assets/12?include_dependents=true",
        "/__api/assets/12?include_dependents=%74rue",
        "/__api/assets/12?include_dependents=True",
        "/__api/assets/12?include_dependents=true+",
        "/__api/assets/12?include_dependents=&include_dependents=true",
        "/__api/assets/12?include_dependents=true&include_dependents=false",
        "/__api/assets/12/lineage/site?include_dependents=true",
        "/__api/assets/12/children?include_dependents=true",
        "/__api/assets/by_url?url=https://research.uni.test&include_dependents=true",
        "/__api/assets/12?include_dependents=true&base_url=http://www.uni.test/news&context=M%C4%81ori&data=urls",
        "/__api/assets/12?include_dependents=true&base_url=http://unlisted.test&context=M%C4%81ori",
        "/__api/assets/1?include_dependents=true&context=M%C4%81ori",
        "/__api/assets/1?base_url=http://unlisted.test",
        "/__api/assets/nope?base_url=http://unlisted.test",
        "/__api/assets/nope?context=M%C4%81ori",
    ];
    for target in edges {
        for authorization in [
            Some(format!("Bearer {}", harness.token())),
            Some(format!("Bearer {}\u{a0}", harness.token())),
            Some("Bearer t\u{e9}st".to_string()),
            None,
        ] {
            cases.push(Case {
                method: "GET".into(),
                target: target.to_string(),
                authorization,
            });
        }
    }
    let exists = |rel: &str| snapshot.public.join(rel).is_file();
    let mut table = serde_json::to_value(&snapshot.routes).unwrap();
    table["sort_keys"] = serde_json::to_value(route::sort_keys()).unwrap();
    let files: Vec<String> = walkdir::WalkDir::new(&snapshot.public)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(&snapshot.public).unwrap();
            rel.to_string_lossy().into_owned()
        })
        .collect();
    let input: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| serde_json::json!([c.method, c.target, c.authorization]))
        .collect();
    let script = format!(
        "{core}\nvar crypto = require('crypto');\n\
         function sha256hex(s) {{ return crypto.createHash('sha256').update(s, 'utf8').digest('hex'); }}\n\
         var TABLE = {table};\nvar FILES = {{}};\n{files}.forEach(function (f) {{ FILES[f] = true; }});\n\
         var out = {input}.map(function (c) {{\n\
           var asked = [];\n\
           var a = route(c[0], c[1], c[2], TABLE, sha256hex, function (p) {{ asked.push(p); return FILES[p] === true; }});\n\
           return [a.status, a.file, a.headers, asked];\n\
         }});\nprocess.stdout.write(JSON.stringify(out));\n",
        core = fs::read_to_string(crate::util::repo("templates/js/route-core.js")).unwrap(),
        table = table,
        files = serde_json::to_string(&files).unwrap(),
        input = serde_json::Value::Array(input),
    );
    let path = tmp.join("check.js");
    fs::write(&path, script).unwrap();
    let output = Command::new(node).arg(&path).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    type Decision = (u16, Option<String>, Vec<(String, String)>, Vec<String>);
    let got: Vec<Decision> = serde_json::from_slice(&output.stdout).unwrap();
    let mut wrong = Vec::new();
    for (case, got) in cases.iter().zip(&got) {
        // The files asked about, in order: the path mapping (chunked names included) too.
        let asked = std::cell::RefCell::new(Vec::new());
        let want = route::resolve(
            &snapshot.routes,
            &case.method,
            &case.target,
            case.authorization.as_deref(),
            &|rel: &str| {
                asked.borrow_mut().push(rel.to_string());
                exists(rel)
            },
        );
        let want = (
            want.status,
            want.file,
            want.headers
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect::<Vec<_>>(),
            asked.into_inner(),
        );
        let mut got = got.clone();
        // The core puts Cache-Control among a 200's headers; resolve leaves caching to hosts.
        got.2.retain(|(n, _)| n != "Cache-Control");
        if got != want {
            wrong.push(format!("{case}\n    got {got:?}\n    want {want:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} differ:\n{}",
        wrong.len(),
        cases.len(),
        wrong[..wrong.len().min(20)].join("\n")
    );
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}
