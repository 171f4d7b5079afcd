//! nginx with the njs module, serving real snapshots with the config `matrix-snapshot router
//! nginx` prints: the demo (a token snapshot, and a public one with CORS) and a generated store.

use super::hostile::hostile_api12;
use super::injection::with_hostile_values;
use super::{
    assert_conforms_but, demo, export_api12, export_demo, free_port, on_a_generated_store,
    on_the_demo, on_the_public_demo_with_cors, readable_tempdir, require, router_config,
    with_api_1_2_0_dimensions, with_hostile_names, Limit, Process, Server,
};
use matrix_snapshot::conformance::{Case, Harness, Tally};
use matrix_snapshot::route::{self, preview::Snapshot};
use matrix_snapshot::Catalog;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// nginx (master and workers in their own process group), stopped on drop.
pub(super) struct Nginx {
    _process: Process,
    addr: String,
}

impl Server for Nginx {
    const NAME: &'static str = "nginx";

    fn start(snapshot: &Path, prefix: &Path) -> Option<Nginx> {
        let nginx = require("nginx", "apt-get install nginx-light libnginx-mod-http-js")?;
        let addr = format!("127.0.0.1:{}", free_port());
        fs::create_dir_all(prefix).unwrap();
        let conf = prefix.join("nginx.conf");
        fs::write(&conf, router_config("nginx", snapshot, &addr, &[])).unwrap();
        let mut process = Process::spawn_group(
            "nginx",
            Command::new(nginx)
                .arg("-c")
                .arg(&conf)
                .arg("-p")
                .arg(prefix)
                .args(["-g", "daemon off;"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                // Before error_log is open, nginx reports to stderr.
                .stderr(fs::File::create(prefix.join("stderr.log")).unwrap()),
        );
        // What nginx said: stderr, then error.log.
        let log = || {
            ["stderr.log", "error.log"]
                .iter()
                .map(|f| fs::read_to_string(prefix.join(f)).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("")
        };
        process.wait_listening(&addr, Duration::from_secs(20), log);
        Some(Nginx {
            _process: process,
            addr,
        })
    }

    fn addr(&self) -> &str {
        &self.addr
    }

    /// Replays `n` corpus requests against nginx. Every answer must be right, except one limit
    /// of nginx (docs/hosting/nginx.md): a request nginx refuses before reading its headers
    /// cannot have its token checked, so a token snapshot answers it as a valid token would
    /// (404, 400, 405; a 401 where a file or a 403 would answer) — wrong only when the token is
    /// missing or wrong. Those are counted apart and listed; anything else wrong fails.
    fn assert_conforms(&self, cat: &Catalog, snapshot: &Path, seed: u64, n: usize) -> Tally {
        let limit = Limit {
            explains: &|harness, case, diff| {
                refused_before_headers(case)
                    && case.authorization.as_deref()
                        != Some(format!("Bearer {}", harness.token()).as_str())
                    && diff.starts_with("status ")
                    && diff.contains("(want 401)")
            },
            one_in: 200,
            had: "were refused by nginx before it read the token",
        };
        assert_conforms_but(cat, snapshot, self.addr(), seed, n, limit)
    }
}

/// Whether nginx refuses `case`'s request line before reading its headers and the answer still
/// depends on the token: the path has a `%` without two hex digits (nginx 1.22
/// `ngx_http_parse_complex_uri`). nginx refuses `%00` too, but a NUL is the spec's 404 before
/// any token check, which the router answers exactly; `..` segments that climb above the root
/// are refused too, and the corpus sends none.
fn refused_before_headers(case: &Case) -> bool {
    let path = case.target.split('?').next().unwrap_or("").as_bytes();
    path.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && match (path.get(i + 1), path.get(i + 2)) {
                (Some(h), Some(l)) => !h.is_ascii_hexdigit() || !l.is_ascii_hexdigit(),
                _ => true,
            }
    })
}

#[test]
fn nginx_conforms_on_the_demo() {
    on_the_demo::<Nginx>(readable_tempdir().path(), 21);
}

#[test]
fn nginx_conforms_on_the_demo_public_with_cors() {
    on_the_public_demo_with_cors::<Nginx>(readable_tempdir().path(), 22);
}

#[test]
fn nginx_conforms_on_a_generated_store() {
    on_a_generated_store::<Nginx>(readable_tempdir().path(), 23);
}

#[test]
fn nginx_conforms_with_api_1_2_0_dimensions() {
    with_api_1_2_0_dimensions::<Nginx>(readable_tempdir().path(), 24);
}

/// Ids, URLs and Content API 1.2.0 names that are hard to spell ([`hostile_api12`]): route.js
/// must load and match their bytes exactly (njs 0.7 hands nginx variables over as byte
/// strings, which the core must not mix with text).
#[test]
fn nginx_conforms_with_hostile_api_1_2_0_names() {
    with_hostile_names::<Nginx>(readable_tempdir().path(), 25);
}

/// The rendered route.js is plain JavaScript (`node --check`), when node is installed.
#[test]
fn nginx_route_js_parses() {
    let Some(node) = require("node", "apt-get install nodejs") else {
        return;
    };
    let tmp = readable_tempdir();
    let out = export_demo(tmp.path(), &[]);
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
    let tmp = readable_tempdir();
    let out = export_demo(tmp.path(), &["--cors", "https://app.test"]);
    route_core_agrees(tmp.path(), &demo(), &out, 31);
}

/// The same over the demo exported with every Content API 1.2.0 dimension
/// (`include_dependents`, two `base_url` values, the contexts `Default` and `Māori`).
#[test]
fn route_core_js_decides_as_resolve_with_api_1_2_0_dimensions() {
    let tmp = readable_tempdir();
    let out = export_api12(tmp.path(), &["--cors", "https://app.test"]);
    route_core_agrees(tmp.path(), &demo(), &out, 32);
    let tmp = readable_tempdir();
    let (cat, out) = hostile_api12(tmp.path());
    route_core_agrees(tmp.path(), &cat, &out, 33);
}

/// Runs route-core.js in node over `out`'s files on 10,000 corpus requests (seed `seed`) and
/// the edges below, and asserts it decides as `route::resolve` on every one.
fn route_core_agrees(tmp: &Path, cat: &Catalog, out: &Path, seed: u64) {
    let Some(node) = require("node", "apt-get install nodejs") else {
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
    // By-URL forbidden markers: a hash in the forbidden-URL tables (D-057), read here as the
    // files routers read them; the table they read is what is "asked".
    assert!(
        snapshot.routes.forbidden_url_digits.is_some(),
        "the demo token may not read some URLs"
    );
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
         var fs = require('fs');\nvar PUBLIC = {public};\n\
         var out = {input}.map(function (c) {{\n\
           var asked = [];\n\
           var a = route(c[0], c[1], c[2], TABLE, sha256hex, function (p, cand) {{\n\
             if (cand && cand.hashed) {{\n\
               var h = sha256hex(p); var t = forbiddenUrlTable(TABLE, h); asked.push(t);\n\
               return tableLists(fs.readFileSync(PUBLIC + '/' + t, 'utf8'), h);\n\
             }}\n\
             asked.push(p); return FILES[p] === true; }});\n\
           return [a.status, a.file, a.headers, asked];\n\
         }});\nprocess.stdout.write(JSON.stringify(out));\n",
        core = fs::read_to_string(crate::util::repo("templates/js/route-core.js")).unwrap(),
        table = table,
        files = serde_json::to_string(&files).unwrap(),
        public = serde_json::to_string(&snapshot.public).unwrap(),
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
            &|rel: &str| {
                asked.borrow_mut().push(rel.to_string());
                fs::read(snapshot.public.join(rel)).ok()
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

/// Issue 16: `--cache-control` and `--cors` values reached nginx as `$variables`, and a snapshot
/// path with `"` or `$` broke the config (tests/it/hosts/injection.rs).
#[test]
fn nginx_takes_hostile_values_literally() {
    with_hostile_values::<Nginx>(readable_tempdir().path(), 26);
}

/// The pack layout: route.js finds each file in the pack index and reads its byte range
/// (`fs.readSync` at a position); its conformance runs are `pack::pack_routers_conform_*`,
/// which serve each corpus's pack export with every pack router.
///
/// A truncated pack, an altered shard, a missing pack, missing shards: a 500 with the API's
/// error body, never wrong bytes.
#[test]
fn nginx_pack_answers_500_for_a_truncated_pack_or_an_altered_shard() {
    super::pack::damaged::<Nginx>(readable_tempdir().path(), 63, &|_| false);
}
