//! A Cloudflare Worker (Workers Static Assets) in workerd, run by Miniflare from npm, serving
//! real snapshots with the config `matrix-snapshot router cloudflare` prints: the demo (a token
//! snapshot, and a public one with CORS) and a generated store.
//!
//! Miniflare comes from the node project `tests/hosts/cloudflare/` (`npm ci --prefix
//! tests/hosts/cloudflare`, which `.ci/run` does); its `serve.mjs` starts workerd with the
//! rendered wrangler.toml and worker.js.

use super::injection::with_hostile_values;
use super::{
    assert_conforms_but, free_port, on_a_generated_store, on_the_demo,
    on_the_public_demo_with_cors, require, router_config, skip, with_api_1_2_0_dimensions,
    with_hostile_names, Limit, Process, Server,
};
use crate::util::repo;
use matrix_snapshot::conformance::{self, Case, Tally};
use matrix_snapshot::snapshot::Layout;
use matrix_snapshot::Catalog;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The node project with Miniflare, when installed; `None` (after saying why) when the test
/// should skip, as [`require`] does.
fn miniflare() -> Option<(PathBuf, PathBuf)> {
    let node = require("node", "apt-get install nodejs npm")?;
    let project = repo("tests/hosts/cloudflare");
    // Miniflare's HTTP client (undici 7) needs node >= 20.18.1.
    let version = Command::new(&node)
        .arg("--version")
        .output()
        .unwrap()
        .stdout;
    let version = String::from_utf8_lossy(&version).trim().to_string();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let problem = if major < 20 {
        Some(format!(
            "node {version} is too old (Miniflare needs >= 20.18.1)"
        ))
    } else if !project
        .join("node_modules/miniflare/package.json")
        .is_file()
    {
        Some(format!(
            "Miniflare is not installed (npm ci --prefix {})",
            project.display()
        ))
    } else {
        None
    };
    if let Some(problem) = problem {
        skip(&format!(
            "{problem}; skipping the Cloudflare conformance test"
        ));
        return None;
    }
    Some((node, project.join("serve.mjs")))
}

/// Miniflare (node, and workerd under it, in their own process group), stopped on drop.
pub(super) struct Workerd {
    _process: Process,
    addr: String,
}

impl Server for Workerd {
    const NAME: &'static str = "cloudflare";

    /// Writes the config for `snapshot` into `dir` and starts workerd with it. `None` when node
    /// or Miniflare is not installed.
    fn start(snapshot: &Path, dir: &Path) -> Option<Workerd> {
        let (node, serve) = miniflare()?;
        let addr = format!("127.0.0.1:{}", free_port());
        fs::create_dir_all(dir).unwrap();
        let conf = dir.join("wrangler.toml");
        fs::write(&conf, router_config("cloudflare", snapshot, &addr, &[])).unwrap();
        let log = dir.join("miniflare.log");
        let out = fs::File::create(&log).unwrap();
        let mut command = Command::new(node);
        command.arg(serve).arg(&conf).arg(&addr);
        // A pack snapshot's files go into the local R2 bucket the config binds.
        if matrix_snapshot::snapshot::check_format(snapshot).unwrap() == Layout::Pack {
            command.arg(snapshot.join("public"));
        }
        let mut process = Process::spawn_group(
            "miniflare (workerd)",
            command
                .current_dir(dir)
                .env("HOME", dir)
                // Its R2 bucket's temporary directory goes in `dir` too: removed with the test's
                // even when workerd is killed before `serve.mjs` can remove it.
                .env("TMPDIR", dir)
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out),
        );
        process.wait_listening(&addr, Duration::from_secs(60), || {
            fs::read_to_string(&log).unwrap_or_default()
        });
        Some(Workerd {
            _process: process,
            addr,
        })
    }

    fn addr(&self) -> &str {
        &self.addr
    }

    /// Replays `n` corpus requests against the Worker. Every answer must be right, except one
    /// limit of the platform (docs/hosting/cloudflare.md): a Worker sees `request.url`, which
    /// the WHATWG URL parser has already normalised, never the raw target; a NUL (`%00`) in a
    /// segment that a later `..` removes is gone before the Worker runs, so it routes what is
    /// left instead of answering the spec's 404 (the NUL is judged before dot segments). Those
    /// are counted apart and listed; anything else wrong fails, and so do more than 1 %.
    fn assert_conforms(&self, cat: &Catalog, snapshot: &Path, seed: u64, n: usize) -> Tally {
        let limit = Limit {
            explains: &|harness, case, _| {
                nul_resolved_away(case) && harness.expect_status(case) == 404
            },
            one_in: 100,
            had: "had a NUL in a segment the URL parser removed with a dot segment",
        };
        assert_conforms_but(cat, snapshot, self.addr(), seed, n, limit)
    }
}

/// Whether the raw path of `case` holds a NUL only in segments that a dot segment removes (the
/// NUL is then gone from what the WHATWG URL parser hands the Worker).
fn nul_resolved_away(case: &Case) -> bool {
    let path = case.target.split('?').next().unwrap_or("");
    if !path.contains("%00") {
        return false;
    }
    let mut kept: Vec<&str> = Vec::new();
    for seg in path.split('/').skip(1) {
        match seg.to_ascii_lowercase().replace("%2e", ".").as_str() {
            "." => {}
            ".." => {
                kept.pop();
            }
            _ => kept.push(seg),
        }
    }
    !kept.iter().any(|s| s.contains("%00"))
}

/// HEAD answers carry the Content-Length GET would (workerd drops it from a HEAD answer with a
/// body; the Worker measures the body instead): a 200, an error and a 401.
pub(super) fn assert_head_lengths(addr: &str, token: &str) {
    let mut client = conformance::Client::new(addr);
    let auth = format!("Bearer {token}");
    for (target, authorization) in [
        ("/__api/assets/12", Some(auth.as_str())),
        ("/__api/assets/12/children?limit=x", Some(auth.as_str())),
        ("/__api/assets/12", None),
        ("/nowhere", None),
    ] {
        let headers: Vec<(&str, &str)> = authorization
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        let get = client.send("GET", target, &headers).unwrap();
        let head = client.send("HEAD", target, &headers).unwrap();
        assert_eq!(head.status, get.status, "HEAD {target}");
        assert_eq!(
            head.header("Content-Length"),
            Some(get.body.len().to_string().as_str()),
            "HEAD {target}: {:?}",
            head.headers
        );
        assert_eq!(head.header("ETag"), get.header("ETag"), "HEAD {target}");
    }
}

#[test]
fn cloudflare_conforms_on_the_demo() {
    let tmp = tempfile::tempdir().unwrap();
    if let Some(server) = on_the_demo::<Workerd>(tmp.path(), 41) {
        assert_head_lengths(server.addr(), "demo-research");
    }
}

#[test]
fn cloudflare_conforms_on_the_demo_public_with_cors() {
    on_the_public_demo_with_cors::<Workerd>(tempfile::tempdir().unwrap().path(), 42);
}

#[test]
fn cloudflare_conforms_on_a_generated_store() {
    on_a_generated_store::<Workerd>(tempfile::tempdir().unwrap().path(), 43);
}

#[test]
fn cloudflare_conforms_with_api_1_2_0_dimensions() {
    with_api_1_2_0_dimensions::<Workerd>(tempfile::tempdir().unwrap().path(), 44);
}

/// Ids, URLs and Content API 1.2.0 names that are hard to spell (`hostile::hostile_api12`):
/// worker.js must load and match their bytes exactly.
#[test]
fn cloudflare_conforms_with_hostile_names() {
    with_hostile_names::<Workerd>(tempfile::tempdir().unwrap().path(), 48);
}

/// Issue 16: hostile values and a hostile snapshot path in wrangler.toml and worker.js
/// (tests/it/hosts/injection.rs).
#[test]
fn workerd_takes_hostile_values_literally() {
    with_hostile_values::<Workerd>(tempfile::tempdir().unwrap().path(), 29);
}

/// The pack layout: the Worker reads the pack index and byte ranges of packs from R2 (a local
/// bucket in Miniflare, filled with the snapshot's public/ files); its conformance runs are
/// `pack::pack_routers_conform_*`, which serve each corpus's pack export with every pack router.
///
/// A truncated pack, an altered shard, a missing pack, missing shards in R2: a 500 with the API's error body, never wrong bytes
/// (requests the URL parser changes, see [`nul_resolved_away`], are left out).
#[test]
fn cloudflare_pack_answers_500_for_a_truncated_pack_or_an_altered_shard() {
    super::pack::damaged::<Workerd>(tempfile::tempdir().unwrap().path(), 66, &|c| {
        c.target.contains("%00")
    });
}
