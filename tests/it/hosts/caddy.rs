//! Caddy 2.6 (Debian's `caddy`, standard modules only) with the Caddyfile `matrix-snapshot router
//! caddy` prints: the demo (token and `--public --cors`) and a generated store, 10,000 requests
//! each, every answer judged against `answer()`.

use super::{export, free_port, require, router_config, wait_listening};
use crate::util::run;
use matrix_snapshot::conformance::{self, Harness, Tally};
use matrix_snapshot::{Catalog, Store};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A `caddy run` in the foreground, its config, autosave, data and log inside `dir`; killed on
/// drop, also when an assertion fails.
struct Caddy {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Caddy {
    fn start(caddy: &Path, snapshot: &Path, dir: &Path) -> Caddy {
        let addr = format!("127.0.0.1:{}", free_port());
        let config = dir.join("Caddyfile");
        fs::write(&config, router_config("caddy", snapshot, &addr, &[])).unwrap();
        let log = dir.join("caddy.log");
        let child = Command::new(caddy)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&config)
            // `caddy run` autosaves its config and keeps a storage directory: both here.
            .env("HOME", dir)
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_DATA_HOME", dir.join("data"))
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.join("caddy.out")).unwrap())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("start caddy");
        let caddy = Caddy { child, addr, log };
        wait_listening(&caddy.addr);
        caddy
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves `snapshot` with Caddy and replays `n` corpus requests (seed `seed`); every answer must
/// be right.
fn check(caddy: &Path, cat: &Catalog, snapshot: &Path, seed: u64, n: usize) -> Tally {
    let dir = snapshot.parent().unwrap().join("caddy");
    fs::create_dir_all(&dir).unwrap();
    let server = Caddy::start(caddy, snapshot, &dir);
    let harness = Harness::open(cat, snapshot).expect("harness");
    let cases = harness.corpus(seed, n);
    let tally = conformance::run_http(&harness, &cases, &server.addr);
    let report = tally.report(&format!("caddy {}", server.addr), 25);
    eprintln!("{report}");
    assert!(
        tally.passed(),
        "{report}\n--- caddy log (errors)\n{}",
        server.log()
    );
    assert_eq!(tally.agree, tally.compared(), "{report}");
    tally
}

fn caddy() -> Option<PathBuf> {
    require("caddy", "apt-get install caddy")
}

fn demo() -> Catalog {
    Catalog::new(matrix_snapshot::demo::store().unwrap())
}

#[test]
fn caddy_conforms_on_the_demo_standard_export() {
    let Some(caddy) = caddy() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = export(
        tmp.path(),
        &[
            "--token",
            "demo-research",
            "--profile",
            "standard",
            "--base-url",
            "https://research.uni.test",
        ],
    );
    let tally = check(&caddy, &demo(), &out, 21, 10_000);
    assert!(tally.agree >= 8_000 && tally.not_exported > 0);
}

#[test]
fn caddy_conforms_on_a_public_cors_export() {
    let Some(caddy) = caddy() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = export(
        tmp.path(),
        &[
            "--token",
            "demo-research",
            "--profile",
            "standard",
            "--base-url",
            "https://research.uni.test",
            "--public",
            "--cors",
            "https://app.test",
        ],
    );
    let tally = check(&caddy, &demo(), &out, 22, 10_000);
    assert!(tally.agree >= 8_000);
}

#[test]
fn caddy_conforms_on_a_generated_store() {
    let Some(caddy) = caddy() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    run(
        &[
            "generate",
            "--assets",
            "1500",
            "--seed",
            "5",
            "--out",
            store.to_str().unwrap(),
        ],
        0,
    );
    let cat = Catalog::new(Store::load(&store).unwrap());
    let dir = tmp.path().join("gen-editor");
    let out = export(
        &dir,
        &[
            "--store",
            store.to_str().unwrap(),
            "--token",
            "gen-editor",
            "--profile",
            "minimal",
        ],
    );
    let tally = check(&caddy, &cat, &out, 23, 10_000);
    assert!(tally.agree >= 8_000);
}
