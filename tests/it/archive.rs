//! `archive DIR --warc OUT`: deterministic WARC/1.1 that warcio reads back with valid digests
//! and pywb replays with the same bodies; `--wacz OUT`: a deterministic WACZ 1.1.1 that py-wacz
//! validates, whose index is the one cdxj-indexer makes, and that pywb replays.
//!
//! The Python tools come from a virtualenv named by `MATRIX_SNAPSHOT_VENV` (`.ci/run` makes
//! one with warcio, pywb and wacz from PyPI); without it the tests that need them say so and
//! return, unless `MATRIX_SNAPSHOT_REQUIRE_HOSTS=1`.

use crate::hosts::{free_port, skip, wait_listening};
use crate::util::{bin, export_public, run};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The archive date of most tests (`--date`).
const DATE: &str = "2026-11-25T00:00:00Z";

/// The base URL the snapshots are exported with.
const BASE_URL: &[&str] = &["--base-url", "https://www.uni.test"];

/// The demo exported `minimal` with [`BASE_URL`] into `dir/snap`.
fn snapshot(dir: &Path) -> PathBuf {
    let out = dir.join("snap");
    export_public("minimal", None, &out, BASE_URL);
    out
}

/// `matrix-snapshot archive SNAP ARGS…`, to run.
fn archive_command(snap: &Path, args: &[&str]) -> Command {
    let mut command = bin();
    command.arg("archive").arg(snap).args(args);
    command
}

/// Runs `matrix-snapshot archive SNAP ARGS…`, asserting it succeeds.
fn archive(snap: &Path, args: &[&str]) -> Output {
    let mut all = vec!["archive", snap.to_str().unwrap()];
    all.extend_from_slice(args);
    run(&all, 0)
}

/// Runs `matrix-snapshot archive SNAP ARGS…`, asserting it refuses (exit 2) and says each of
/// `says` on stderr.
fn assert_refused(snap: &Path, args: &[&str], says: &[&str]) {
    let o = archive_command(snap, args).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    for s in says {
        assert!(err.contains(s), "{args:?} should say {s:?}: {err}");
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
        let hex = sha256_hex(&body);
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
    let venv = std::env::var_os("MATRIX_SNAPSHOT_VENV").map(PathBuf::from);
    if venv.is_none() {
        skip("MATRIX_SNAPSHOT_VENV is not set (a virtualenv with warcio, pywb and wacz); skipping");
    }
    venv
}

/// [`snapshot`] archived as `dir/demo.warc.gz`, dated [`DATE`]: the snapshot and the WARC.
fn dated_warc(dir: &Path) -> (PathBuf, PathBuf) {
    let snap = snapshot(dir);
    let warc = dir.join("demo.warc.gz");
    archive(&snap, &["--warc", warc.to_str().unwrap(), "--date", DATE]);
    (snap, warc)
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
    let dated = |out: &Path| {
        archive(&snap, &["--warc", out.to_str().unwrap(), "--date", DATE]);
    };
    dated(&a);
    dated(&b);
    let same = |x: &Path, y: &Path| fs::read(x).unwrap() == fs::read(y).unwrap();
    assert!(same(&a, &b), "same snapshot, same date: same bytes");
    let from_epoch = |out: &Path| {
        let o = archive_command(&snap, &["--warc", out.to_str().unwrap()])
            .env("SOURCE_DATE_EPOCH", "1764028800")
            .output()
            .unwrap();
        assert!(o.status.success());
    };
    let c = tmp.path().join("c/out.warc.gz");
    from_epoch(&c);
    assert!(
        !same(&a, &c),
        "SOURCE_DATE_EPOCH 1764028800 is 2025-11-25, not 2026"
    );
    fs::create_dir_all(tmp.path().join("d")).unwrap();
    let d = tmp.path().join("d/out.warc.gz");
    from_epoch(&d);
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
    let c = c.to_str().unwrap();
    assert_refused(&snap, &["--warc", c, "--date", "yesterday"], &["RFC 3339"]);
    let plain = tmp.path().join("plain");
    export_public("minimal", None, &plain, &[]);
    assert_refused(&plain, &["--warc", c], &["--base-url"]);
    fs::remove_file(plain.join("manifest.jsonl")).unwrap();
    assert_refused(
        &plain,
        &["--warc", c, "--base-url", "https://x.test"],
        &["manifest.jsonl is missing"],
    );
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
    let (snap, warc) = dated_warc(tmp.path());
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
    let (snap, warc) = dated_warc(tmp.path());
    replay_with_pywb(
        &venv,
        tmp.path(),
        &["add", "demo", warc.to_str().unwrap()],
        &snap,
    );
}

/// Adds an archive to a pywb collection `demo` (`wb-manager init demo`, then `add_args`), runs
/// `wayback` and checks that a sample of 60 URLs spread over the snapshot replays with the
/// snapshot's bodies (archived at 2026-11-25T00:00:00Z).
fn replay_with_pywb(venv: &Path, tmp: &Path, add_args: &[&str], snap: &Path) {
    let web = tmp.join("pywb");
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
    wb(add_args);
    let port = free_port();
    let child = Command::new(venv.join("bin/wayback"))
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
    let _guard = Kill(child);
    let addr = format!("127.0.0.1:{port}");
    wait_listening(&addr);
    let want = expected(snap);
    let mut client = matrix_snapshot::conformance::Client::new(&addr);
    let mut checked = 0;
    for (url, hash) in want.iter().step_by(want.len() / 60) {
        let target = format!("/demo/20261125000000id_/{url}");
        let r = client.send("GET", &target, &[]).unwrap();
        assert_eq!(r.status, 200, "{target}");
        let got = sha256_hex(&r.body);
        assert_eq!(&got, hash, "{target}: {}", String::from_utf8_lossy(&r.body));
        checked += 1;
    }
    assert!(checked >= 60);
}

/// A profile whose requests carry every kind of query the index keys must canonicalise as the
/// web-archive tools do: reordered arguments, percent-encoded URLs and non-ASCII (`Māori`).
const QUERIES_PROFILE: &str = r#"
data = [[], ["urls"]]
children_data = [[]]
sort_by = ["name"]
sort_order = ["desc"]
limits = [5]
include_dependents = [false, true]
base_urls = ["https://research.uni.test"]
contexts = ["Default", "Māori"]
"#;

/// A snapshot exported with [`QUERIES_PROFILE`].
fn query_snapshot(dir: &Path) -> PathBuf {
    let profile = dir.join("queries.toml");
    fs::write(&profile, QUERIES_PROFILE).unwrap();
    let out = dir.join("snap-queries");
    export_public(profile.to_str().unwrap(), None, &out, BASE_URL);
    out
}

/// [`query_snapshot`] archived as `dir/demo.wacz`, dated [`DATE`] (and `extra` arguments): the
/// snapshot and the WACZ.
fn query_wacz(dir: &Path, extra: &[&str]) -> (PathBuf, PathBuf) {
    let snap = query_snapshot(dir);
    let wacz = dir.join("demo.wacz");
    let mut args = vec!["--wacz", wacz.to_str().unwrap(), "--date", DATE];
    args.extend_from_slice(extra);
    archive(&snap, &args);
    (snap, wacz)
}

/// The entries of a ZIP: name, compression method, modification time and bytes, in file order.
fn unzip(path: &Path) -> Vec<(String, zip::CompressionMethod, zip::DateTime, Vec<u8>)> {
    use std::io::Read;
    let mut z = zip::ZipArchive::new(fs::File::open(path).unwrap()).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).unwrap();
            (
                f.name().to_string(),
                f.compression(),
                f.last_modified().unwrap(),
                bytes,
            )
        })
        .collect()
}

fn entry(path: &Path, name: &str) -> Vec<u8> {
    unzip(path)
        .into_iter()
        .find(|e| e.0 == name)
        .unwrap_or_else(|| panic!("{name} is not in {}", path.display()))
        .3
}

#[test]
fn wacz_is_deterministic_and_packages_the_warc_with_its_index_pages_and_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = snapshot(tmp.path());
    let (a, b, c) = (
        tmp.path().join("a.wacz"),
        tmp.path().join("b.wacz"),
        tmp.path().join("c.wacz"),
    );
    let warc = tmp.path().join("data.warc.gz");
    let date = "2026-11-25T00:00:01Z";
    let (a_, warc_) = (a.to_str().unwrap(), warc.to_str().unwrap());
    let o = archive(&snap, &["--wacz", a_, "--warc", warc_, "--date", date]);
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(
        said.contains("WACZ 1.1.1") && said.contains("177 pages"),
        "{said}"
    );
    archive(&snap, &["--wacz", b.to_str().unwrap(), "--date", date]);
    assert!(
        fs::read(&a).unwrap() == fs::read(&b).unwrap(),
        "same snapshot, same date: same bytes, whatever the file name and with or without --warc"
    );
    let other_date = "2026-11-26T00:00:00Z";
    archive(
        &snap,
        &["--wacz", c.to_str().unwrap(), "--date", other_date],
    );
    assert!(
        fs::read(&a).unwrap() != fs::read(&c).unwrap(),
        "another date"
    );

    // The layout: fixed order, the WARC stored, times from the WARC date (ZIP: 2 s steps).
    let entries = unzip(&a);
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "datapackage.json",
            "datapackage-digest.json",
            "pages/pages.jsonl",
            "indexes/index.cdx",
            "archive/data.warc.gz"
        ]
    );
    for (name, method, time, _) in &entries {
        let want = if name.starts_with("archive/") {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        assert_eq!(*method, want, "{name}");
        assert_eq!(
            (
                time.year(),
                time.month(),
                time.day(),
                time.hour(),
                time.minute(),
                time.second()
            ),
            (2026, 11, 25, 0, 0, 0),
            "{name}"
        );
    }
    // archive/data.warc.gz is what `--warc data.warc.gz` writes.
    assert!(entry(&a, "archive/data.warc.gz") == fs::read(&warc).unwrap());

    // datapackage.json lists every other entry with its sha256 and size; the digest file hashes it.
    let dp_bytes = entry(&a, "datapackage.json");
    let dp: serde_json::Value = serde_json::from_slice(&dp_bytes).unwrap();
    assert_eq!(dp["profile"], "data-package");
    assert_eq!(dp["wacz_version"], "1.1.1");
    assert_eq!(dp["created"], "2026-11-25T00:00:01Z");
    assert_eq!(dp["modified"], "2026-11-25T00:00:01Z");
    assert_eq!(dp["title"], "Demo University / Public website build");
    assert!(dp["software"]
        .as_str()
        .unwrap()
        .starts_with("matrix-snapshot "));
    let resources = dp["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 3);
    for r in resources {
        let bytes = entry(&a, r["path"].as_str().unwrap());
        assert_eq!(r["bytes"].as_u64(), Some(bytes.len() as u64), "{r}");
        assert_eq!(r["hash"], format!("sha256:{}", sha256_hex(&bytes)), "{r}");
    }
    let digest: serde_json::Value =
        serde_json::from_slice(&entry(&a, "datapackage-digest.json")).unwrap();
    assert_eq!(digest["path"], "datapackage.json");
    assert_eq!(digest["hash"], format!("sha256:{}", sha256_hex(&dp_bytes)));

    // Pages: every asset route without query answered 200, titled with the asset's name.
    let pages = String::from_utf8(entry(&a, "pages/pages.jsonl")).unwrap();
    let mut lines = pages.lines();
    assert_eq!(
        lines.next(),
        Some(r#"{"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}"#)
    );
    let pages: Vec<serde_json::Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(pages.len(), 177, "demo-public reads 177 assets");
    let home = pages
        .iter()
        .find(|p| p["url"] == "https://www.uni.test/__api/assets/100")
        .expect("asset 100 is a page");
    assert_eq!(home["ts"], "2026-11-25T00:00:01Z");
    assert_eq!(home["title"], "Kia ora — Welcome to the University of Test");
    assert!(pages.iter().all(|p| {
        let u = p["url"].as_str().unwrap();
        !u.contains('?') && u.matches('/').count() == 5
    }));

    // The index: one line per response record, sorted, pointing at its gzip member.
    let index = String::from_utf8(entry(&a, "indexes/index.cdx")).unwrap();
    let lines: Vec<&str> = index.lines().collect();
    assert_eq!(lines.len(), expected(&snap).len());
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "sorted");
    let warc_bytes = fs::read(&warc).unwrap();
    for line in lines.iter().step_by(97) {
        let mut parts = line.splitn(3, ' ');
        let (key, ts, json) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        assert_eq!(ts, "20261125000001");
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        let url = v["url"].as_str().unwrap();
        assert_eq!(key, matrix_snapshot::archive::surt::surt(url));
        let offset: usize = v["offset"].as_str().unwrap().parse().unwrap();
        let length: usize = v["length"].as_str().unwrap().parse().unwrap();
        let mut record = String::new();
        use std::io::Read;
        flate2::read::GzDecoder::new(&warc_bytes[offset..offset + length])
            .read_to_string(&mut record)
            .unwrap();
        assert!(
            record.contains(&format!("WARC-Target-URI: {url}\r\n")),
            "{line}"
        );
    }
}

#[test]
fn archive_refuses_a_changed_snapshot_and_a_missing_directory_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = snapshot(tmp.path());
    let out_dir = tmp.path().join("out");
    fs::create_dir_all(&out_dir).unwrap();
    let wacz = out_dir.join("x.wacz");
    let warc = out_dir.join("x.warc.gz");
    let refused = |args: &[&str], says: &[&str]| {
        assert_refused(&snap, args, says);
        assert_eq!(
            fs::read_dir(&out_dir).unwrap().count(),
            0,
            "{args:?}: nothing written, no temporary file left"
        );
    };

    // Neither output: a usage error naming both.
    refused(&[], &["--warc", "--wacz"]);

    // OUT in a missing directory.
    let nowhere = tmp.path().join("missing/x.wacz");
    refused(
        &["--wacz", nowhere.to_str().unwrap()],
        &["missing", "does not exist", "mkdir -p"],
    );

    // A body changed after export (same size, other bytes): refused for both outputs.
    let manifest = fs::read_to_string(snap.join("manifest.jsonl")).unwrap();
    // A route's file (the router files' lines come first; archive does not read those).
    let route = manifest
        .lines()
        .filter(|l| l.starts_with(r#"{"path":"public/"#))
        .nth(10);
    let line: serde_json::Value = serde_json::from_str(route.unwrap()).unwrap();
    let victim = line["path"].as_str().unwrap().to_string();
    let original = fs::read(snap.join(&victim)).unwrap();
    let mut changed = original.clone();
    *changed.last_mut().unwrap() ^= 0x20;
    fs::write(snap.join(&victim), &changed).unwrap();
    for flag in ["--wacz", "--warc"] {
        let out = if flag == "--wacz" { &wacz } else { &warc };
        refused(
            &[flag, out.to_str().unwrap()],
            &[
                &victim,
                "blake3",
                "matrix-snapshot verify",
                "nothing was written",
            ],
        );
    }
    fs::write(snap.join(&victim), &original).unwrap();

    // The manifest changed after export (its root hash no longer matches).
    fs::write(
        snap.join("manifest.jsonl"),
        manifest.replacen("\"status\":200", "\"status\":404", 1),
    )
    .unwrap();
    refused(
        &["--wacz", wacz.to_str().unwrap()],
        &["manifest.jsonl was changed", "root hash"],
    );

    // No manifest at all.
    fs::remove_file(snap.join("manifest.jsonl")).unwrap();
    refused(
        &["--wacz", wacz.to_str().unwrap()],
        &["manifest.jsonl is missing"],
    );
    fs::write(snap.join("manifest.jsonl"), &manifest).unwrap();

    // Restored: written.
    archive(&snap, &["--wacz", wacz.to_str().unwrap()]);
    assert!(wacz.is_file());
}

#[test]
fn wacz_validate_accepts_the_wacz_and_cdxj_indexer_makes_the_same_index() {
    let Some(venv) = venv() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let warc = tmp.path().join("data.warc.gz");
    let (_, wacz) = query_wacz(tmp.path(), &["--warc", warc.to_str().unwrap()]);
    let validate = |wacz: &Path| {
        Command::new(venv.join("bin/wacz"))
            .args(["validate", "-f", wacz.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let o = validate(&wacz);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && said.contains("Validation succeeded"),
        "wacz validate: {said}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The validator can say no: a WACZ whose WARC is not the one datapackage.json hashes.
    let bad = tmp.path().join("bad.wacz");
    {
        let mut z = zip::ZipWriter::new(fs::File::create(&bad).unwrap());
        for (name, _, _, bytes) in unzip(&wacz) {
            use std::io::Write;
            z.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
                .unwrap();
            let bytes = if name == "archive/data.warc.gz" {
                bytes[..bytes.len() - 1].to_vec()
            } else {
                bytes
            };
            z.write_all(&bytes).unwrap();
        }
        z.finish().unwrap();
    }
    assert!(
        !validate(&bad).status.success(),
        "wacz validate accepts a WACZ whose WARC is cut short"
    );

    // cdxj-indexer, indexing the same WARC, writes our index byte for byte: same SURT keys
    // (every query form of the profile), offsets, lengths, digests and order.
    let o = Command::new(venv.join("bin/cdxj-indexer"))
        .args(["--sort", "data.warc.gz"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ours = entry(&wacz, "indexes/index.cdx");
    assert!(ours.len() > 1_000_000, "{} bytes", ours.len());
    if ours != o.stdout {
        let (ours, theirs) = (
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&o.stdout),
        );
        let first = ours
            .lines()
            .zip(theirs.lines())
            .find(|(a, b)| a != b)
            .map(|(a, b)| format!("ours:   {a}\ntheirs: {b}"));
        panic!("index.cdx differs from cdxj-indexer's: {first:?}");
    }
}

#[test]
fn pywb_replays_the_wacz_with_the_same_bodies() {
    let Some(venv) = venv() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (snap, wacz) = query_wacz(tmp.path(), &[]);
    // pywb 2.10 adds a WACZ by copying its WARC and merging its own index (indexes/index.cdx)
    // into the collection's: replay looks every URL up by the keys we wrote.
    replay_with_pywb(
        &venv,
        tmp.path(),
        &["add", "--unpack-wacz", "demo", wacz.to_str().unwrap()],
        &snap,
    );
}
