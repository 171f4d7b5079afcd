//! `archive DIR --warc OUT`: deterministic WARC/1.1 that warcio reads back with valid digests
//! and pywb replays with the same bodies.
//!
//! The Python tools come from a virtualenv named by `MATRIX_SNAPSHOT_VENV` (`.ci/run` makes
//! one with warcio and pywb from PyPI); without it those two tests say so and return, unless
//! `MATRIX_SNAPSHOT_REQUIRE_HOSTS=1`.

use crate::hosts::{free_port, wait_listening};
use crate::util::{bin, run};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn snapshot(dir: &Path) -> PathBuf {
    let out = dir.join("snap");
    run(
        &[
            "export",
            "--quiet",
            "--token",
            "demo-public",
            "--profile",
            "minimal",
            "--base-url",
            "https://www.uni.test",
            "--out",
            out.to_str().unwrap(),
        ],
        0,
    );
    out
}

fn archive(snap: &Path, warc: &Path, extra: &[&str]) {
    let mut args = vec![
        "archive",
        snap.to_str().unwrap(),
        "--warc",
        warc.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args, 0);
}

/// URL → sha256 hex of the body, from the manifest and files.
fn expected(snap: &Path) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for line in fs::read_to_string(snap.join("manifest.jsonl"))
        .unwrap()
        .lines()
    {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let body = fs::read(snap.join(v["path"].as_str().unwrap())).unwrap();
        let hex: String = Sha256::digest(&body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        for r in v["requests"].as_array().unwrap() {
            m.insert(
                format!("https://www.uni.test{}", r.as_str().unwrap()),
                hex.clone(),
            );
        }
    }
    m
}

fn venv() -> Option<PathBuf> {
    match std::env::var_os("MATRIX_SNAPSHOT_VENV") {
        Some(v) => Some(PathBuf::from(v)),
        None => {
            let msg =
                "MATRIX_SNAPSHOT_VENV is not set (a virtualenv with warcio and pywb); skipping";
            if std::env::var("MATRIX_SNAPSHOT_REQUIRE_HOSTS").as_deref() == Ok("1") {
                panic!("{msg}, but MATRIX_SNAPSHOT_REQUIRE_HOSTS=1");
            }
            eprintln!("{msg}");
            None
        }
    }
}

#[test]
fn archives_are_deterministic_and_bad_input_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = snapshot(tmp.path());
    // The same file name in two places (the name is recorded in the warcinfo record).
    for d in ["a", "b", "c"] {
        fs::create_dir_all(tmp.path().join(d)).unwrap();
    }
    let (a, b) = (
        tmp.path().join("a/out.warc.gz"),
        tmp.path().join("b/out.warc.gz"),
    );
    archive(&snap, &a, &["--date", "2026-11-25T00:00:00Z"]);
    archive(&snap, &b, &["--date", "2026-11-25T00:00:00Z"]);
    let same = |x: &Path, y: &Path| fs::read(x).unwrap() == fs::read(y).unwrap();
    assert!(same(&a, &b), "same snapshot, same date: same bytes");
    let c = tmp.path().join("c/out.warc.gz");
    let o = bin()
        .args([
            "archive",
            snap.to_str().unwrap(),
            "--warc",
            c.to_str().unwrap(),
        ])
        .env("SOURCE_DATE_EPOCH", "1764028800")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(
        !same(&a, &c),
        "SOURCE_DATE_EPOCH 1764028800 is 2025-11-25, not 2026"
    );
    fs::create_dir_all(tmp.path().join("d")).unwrap();
    let d = tmp.path().join("d/out.warc.gz");
    let o = bin()
        .args([
            "archive",
            snap.to_str().unwrap(),
            "--warc",
            d.to_str().unwrap(),
        ])
        .env("SOURCE_DATE_EPOCH", "1764028800")
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = |p: &Path| {
        use std::io::Read;
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(fs::File::open(p).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        s
    };
    assert!(text(&c).contains("WARC-Date: 2025-11-25T00:00:00Z"));
    assert!(same(&c, &d), "same date from SOURCE_DATE_EPOCH: same bytes");
    // Bad input: a bad date, a snapshot without base URL, no manifest.
    let o = bin()
        .args([
            "archive",
            snap.to_str().unwrap(),
            "--warc",
            c.to_str().unwrap(),
            "--date",
            "yesterday",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("RFC 3339"));
    let plain = tmp.path().join("plain");
    run(
        &[
            "export",
            "--quiet",
            "--token",
            "demo-public",
            "--profile",
            "minimal",
            "--out",
            plain.to_str().unwrap(),
        ],
        0,
    );
    let o = bin()
        .args([
            "archive",
            plain.to_str().unwrap(),
            "--warc",
            c.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--base-url"));
    fs::remove_file(plain.join("manifest.jsonl")).unwrap();
    let o = bin()
        .args([
            "archive",
            plain.to_str().unwrap(),
            "--warc",
            c.to_str().unwrap(),
            "--base-url",
            "https://x.test",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("manifest.jsonl is missing"));
}

const READ_BACK: &str = r#"
import hashlib, json, sys
from warcio.archiveiterator import ArchiveIterator
out = {}
with open(sys.argv[1], 'rb') as f:
    for r in ArchiveIterator(f, check_digests='raise'):
        if r.rec_type == 'response':
            out[r.rec_headers.get_header('WARC-Target-URI')] = hashlib.sha256(r.content_stream().read()).hexdigest()
print(json.dumps(out))
"#;

#[test]
fn warcio_reads_every_record_back_with_valid_digests() {
    let Some(venv) = venv() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let snap = snapshot(tmp.path());
    let warc = tmp.path().join("demo.warc.gz");
    archive(&snap, &warc, &["--date", "2026-11-25T00:00:00Z"]);
    let o = Command::new(venv.join("bin/python"))
        .args(["-c", READ_BACK, warc.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: BTreeMap<String, String> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(got, expected(&snap));
    assert!(got.len() > 1700);
}

#[test]
fn pywb_replays_the_archive_with_the_same_bodies() {
    let Some(venv) = venv() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let snap = snapshot(tmp.path());
    let warc = tmp.path().join("demo.warc.gz");
    archive(&snap, &warc, &["--date", "2026-11-25T00:00:00Z"]);
    let web = tmp.path().join("pywb");
    fs::create_dir_all(&web).unwrap();
    let wb = |args: &[&str]| {
        let s = Command::new(venv.join("bin/wb-manager"))
            .args(args)
            .current_dir(&web)
            .output()
            .unwrap();
        assert!(
            s.status.success(),
            "wb-manager {args:?}: {}",
            String::from_utf8_lossy(&s.stderr)
        );
    };
    wb(&["init", "demo"]);
    wb(&["add", "demo", warc.to_str().unwrap()]);
    let port = free_port();
    let mut child = Command::new(venv.join("bin/wayback"))
        .args(["-p", &port.to_string(), "-b", "127.0.0.1"])
        .current_dir(&web)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(std::mem::replace(
        &mut child,
        Command::new("true").spawn().unwrap(),
    ));
    let addr = format!("127.0.0.1:{port}");
    wait_listening(&addr);
    let want = expected(&snap);
    let mut client = matrix_snapshot::conformance::Client::new(&addr);
    let mut checked = 0;
    for (url, hash) in want.iter().step_by(want.len() / 60) {
        let target = format!("/demo/20261125000000id_/{url}");
        let r = client.send("GET", &target, &[]).unwrap();
        assert_eq!(r.status, 200, "{target}");
        let got: String = Sha256::digest(&r.body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(&got, hash, "{target}: {}", String::from_utf8_lossy(&r.body));
        checked += 1;
    }
    assert!(checked >= 60);
}
