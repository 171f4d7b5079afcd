//! Real web servers serving real snapshots with the configs `export` writes, judged by the
//! conformance harness against `answer()`. One module per host.
//!
//! A host's server must be installed (`.ci/run` installs them all). When one is missing, its
//! test says so on stderr and returns — unless `MATRIX_SNAPSHOT_REQUIRE_HOSTS=1` (set by
//! `.ci/run`), where a missing server fails the test.

mod apache;
mod caddy;
mod cloudflare;
mod edge;
mod nginx;
mod preview;

use crate::util::run;
use matrix_snapshot::conformance::{self, Harness, Tally};
use matrix_snapshot::Catalog;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[allow(dead_code)] // used by the real-server modules
/// The path of `program` if installed; `None` (after saying why) when the test should skip.
pub fn require(program: &str, install: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let msg = format!("{program} is not installed ({install}); skipping its conformance test");
        if std::env::var("MATRIX_SNAPSHOT_REQUIRE_HOSTS").as_deref() == Ok("1") {
            panic!("{msg}, but MATRIX_SNAPSHOT_REQUIRE_HOSTS=1");
        }
        eprintln!("{msg}");
    }
    found
}

/// The generated store of the host tests (1,500 assets, seed 5) in `dir/store`, and its catalog.
pub fn generated_store(dir: &Path) -> (PathBuf, Catalog) {
    let store = dir.join("store");
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
    let cat = Catalog::new(matrix_snapshot::Store::load(&store).unwrap());
    (store, cat)
}

/// A profile with every Content API 1.2.0 dimension (dependents, two `base_url` values, every
/// context of the demo store) over a small `standard`-like base, written to `dir/api12.toml`.
/// Host tests export the demo with it (`--token demo-editor --base-url https://www.uni.test`).
pub fn api12_profile(dir: &Path) -> PathBuf {
    let path = dir.join("api12.toml");
    std::fs::write(
        &path,
        indoc::indoc! {r#"
            data = [[], ["urls", "attributes", "metadata", "contents"], ["urls"]]
            children_data = [[], ["urls", "attributes", "metadata", "contents"]]
            sort_by = ["tree", "name"]
            sort_order = ["asc", "desc"]
            limits = [100, 5]
            asset_types = [[], ["news_item", "page_standard"]]
            include_dependents = [false, true]
            base_urls = ["https://research.uni.test", "http://www.uni.test/news"]
            contexts = "all"
        "#},
    )
    .unwrap();
    path
}

/// Exports the demo with [`api12_profile`] into `dir/out` (token `demo-editor`, base URL
/// `https://www.uni.test`, plus `extra` arguments).
pub fn export_api12(dir: &Path, extra: &[&str]) -> PathBuf {
    let profile = api12_profile(dir);
    let mut args = vec![
        "--token",
        "demo-editor",
        "--base-url",
        "https://www.uni.test",
        "--profile",
        profile.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    export(dir, &args)
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `addr`.
pub fn wait_listening(addr: &str) {
    let start = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "nothing listens on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Exports with the CLI into `dir/out`; returns the snapshot directory.
pub fn export(dir: &Path, args: &[&str]) -> PathBuf {
    let out = dir.join("out");
    let mut all = vec!["export", "--quiet", "--out", out.to_str().unwrap()];
    all.extend_from_slice(args);
    run(&all, 0);
    out
}

#[allow(dead_code)] // used by the real-server modules
/// `matrix-snapshot router TARGET --snapshot DIR --listen ADDR [extra]`, as text.
pub fn router_config(target: &str, snapshot: &Path, listen: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "router",
        target,
        "--snapshot",
        snapshot.to_str().unwrap(),
        "--listen",
        listen,
    ];
    args.extend_from_slice(extra);
    String::from_utf8(run(&args, 0).stdout).unwrap()
}

/// Replays `n` corpus requests (seed `seed`) against `addr` and asserts every answer is right.
pub fn assert_conforms(cat: &Catalog, snapshot: &Path, addr: &str, seed: u64, n: usize) -> Tally {
    let harness = Harness::open(cat, snapshot).expect("harness");
    let cases = harness.corpus(seed, n);
    let tally = conformance::run_http(&harness, &cases, addr);
    assert!(tally.passed(), "{}", tally.report(addr, 25));
    tally
}
