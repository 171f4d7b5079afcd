//! `preview DIR` as a host: started as a process on a fixed port, like the real servers.

use super::{api12_profile, assert_conforms, export, export_api12, free_port, wait_listening};
use crate::util::bin;
use matrix_snapshot::Catalog;
use std::process::Stdio;

#[test]
fn preview_process_conforms_on_10000_requests() {
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
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = bin()
        .args([
            "preview",
            out.to_str().unwrap(),
            "--listen",
            &addr,
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(&addr);
    let cat = Catalog::new(matrix_snapshot::demo::store().unwrap());
    let tally = assert_conforms(&cat, &out, &addr, 11, 10_000);
    let _ = child.kill();
    let _ = child.wait();
    assert!(tally.agree >= 8_000, "{}", tally.report(&addr, 0));
}

/// Content API 1.2.0 parameters (`include_dependents`, `base_url`, `context`) over a snapshot
/// exported with all three dimensions: every exported variant agrees, the rest is "not
/// exported", never a wrong 200. With a token that may write (demo-editor: drafts and current
/// versions of safe-edited news) and one that may not (demo-public: live versions).
#[test]
fn preview_conforms_with_api_1_2_0_dimensions() {
    let tmp = tempfile::tempdir().unwrap();
    let out = export_api12(tmp.path(), &[]);
    preview_conforms_api12(&out, 12);
    let tmp = tempfile::tempdir().unwrap();
    let profile = api12_profile(tmp.path());
    let out = export(
        tmp.path(),
        &[
            "--token",
            "demo-public",
            "--profile",
            profile.to_str().unwrap(),
        ],
    );
    preview_conforms_api12(&out, 13);
}

fn preview_conforms_api12(out: &std::path::Path, seed: u64) {
    let cat = Catalog::new(matrix_snapshot::demo::store().unwrap());
    let harness = matrix_snapshot::conformance::Harness::open(&cat, out).unwrap();
    let cases = harness.corpus(seed, 10_000);
    let with = |p: &str| cases.iter().filter(|c| c.target.contains(p)).count();
    assert!(
        with("include_dependents=true") > 300,
        "corpus covers dependents"
    );
    assert!(with("base_url=") > 300 && with("context=") > 300);
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = bin()
        .args([
            "preview",
            out.to_str().unwrap(),
            "--listen",
            &addr,
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(&addr);
    let tally = matrix_snapshot::conformance::run_http(&harness, &cases, &addr);
    let _ = child.kill();
    let _ = child.wait();
    assert!(tally.passed(), "{}", tally.report(&addr, 25));
    assert!(tally.agree >= 7_000, "{}", tally.report(&addr, 0));
}
