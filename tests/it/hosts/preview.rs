//! `preview DIR` as a host: started as a process on a fixed port, like the real servers.

use super::injection::with_hostile_values;
use super::{
    api12_profile, assert_api12_corpus, assert_forbidden_urls, demo, export, export_api12,
    export_demo, free_port, serve, Process, Reach, Server,
};
use crate::util::bin;
use std::path::Path;
use std::process::Stdio;

/// `matrix-snapshot preview DIR --listen ADDR`, stopped on drop.
pub(super) struct Preview {
    _process: Process,
    addr: String,
}

impl Server for Preview {
    const NAME: &'static str = "preview";

    fn start(snapshot: &Path, _: &Path) -> Option<Preview> {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut process = Process::spawn(
            "preview",
            bin()
                .args([
                    "preview",
                    snapshot.to_str().unwrap(),
                    "--listen",
                    &addr,
                    "--quiet",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        process.wait_listening(&addr, std::time::Duration::from_secs(20), String::new);
        Some(Preview {
            _process: process,
            addr,
        })
    }

    fn addr(&self) -> &str {
        &self.addr
    }
}

#[test]
fn preview_process_conforms_on_10000_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let out = export_demo(tmp.path(), &[]);
    let reach = Reach {
        agree: 8_000,
        not_exported: false,
    };
    let server = serve::<Preview>(&demo(), &out, 11, reach).unwrap();
    // The demo token reads one site: the other's URLs are forbidden, asked in 9 spellings on 3
    // endpoints (and a HEAD on each) and answered 403 (decision D-057).
    assert_eq!(
        assert_forbidden_urls(&demo(), &out, server.addr()),
        3 * (9 * 3 + 3)
    );
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

fn preview_conforms_api12(out: &Path, seed: u64) {
    let cat = demo();
    assert_api12_corpus(&cat, out, seed);
    let reach = Reach {
        agree: 7_000,
        not_exported: false,
    };
    serve::<Preview>(&cat, out, seed, reach);
}

/// Issue 16: `preview` sends the table's values as they are (tests/it/hosts/injection.rs).
#[test]
fn preview_takes_hostile_values_literally() {
    with_hostile_values::<Preview>(tempfile::tempdir().unwrap().path(), 30);
}
