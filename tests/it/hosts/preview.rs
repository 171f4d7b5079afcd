//! `preview DIR` as a host: started as a process on a fixed port, like the real servers.

use super::{assert_conforms, export, free_port, wait_listening};
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
