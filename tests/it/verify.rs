//! `verify DIR`: an intact snapshot passes; every kind of damage is named with exit code 1;
//! what is not a readable snapshot is exit code 2 with a message that says what to do.

use crate::util::{bin, run};
use std::fs;
use std::path::Path;

fn demo_export(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("snap");
    run(
        &[
            "export",
            "--quiet",
            "--token",
            "demo-public",
            "--profile",
            "minimal",
            "--out",
            out.to_str().unwrap(),
        ],
        0,
    );
    out
}

fn verify(dir: &Path, code: i32) -> String {
    let o = run(&["verify", dir.to_str().unwrap(), "--show", "100"], code);
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn intact_snapshot_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = demo_export(tmp.path());
    let text = verify(&snap, 0);
    assert!(text.contains("ok: every file matches"), "{text}");
    // 1,779 routes' and error files, and one forbidden-URL table (decision D-057).
    assert!(text.contains("1780 files"), "{text}");
}

#[test]
fn every_kind_of_damage_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = demo_export(tmp.path());
    let public = snap.join("public/__api/assets");
    // Same size, one byte changed (a body of its own: asset 100 with all data).
    let changed = public.join("100/~asset.uamc.json");
    let mut b = fs::read(&changed).unwrap();
    let n = b.len();
    b[n - 2] ^= 0x20;
    fs::remove_file(&changed).unwrap();
    fs::write(&changed, &b).unwrap();
    // Truncated.
    let truncated = public.join("101/~lineage.uamc.json");
    let b = fs::read(&truncated).unwrap();
    fs::remove_file(&truncated).unwrap();
    fs::write(&truncated, &b[..b.len() / 2]).unwrap();
    // Removed, and added.
    fs::remove_file(public.join("102/~asset.----.json")).unwrap();
    fs::write(public.join("102/~asset.extra.json"), b"{}").unwrap();
    let text = verify(&snap, 1);
    for want in [
        "public/__api/assets/100/~asset.uamc.json: content changed",
        "public/__api/assets/101/~lineage.uamc.json: ",
        "manifest says",
        "public/__api/assets/102/~asset.----.json: missing",
        "public/__api/assets/102/~asset.extra.json: not in the manifest",
        "FAILED: 4 problems: 1 missing, 1 extra, 2 changed, 0 other",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
}

#[test]
fn shared_bodies_links_and_new_directories_are_all_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = demo_export(tmp.path());
    let manifest = fs::read_to_string(snap.join("manifest.jsonl")).unwrap();
    // A body shared by hard links (the 403 markers): editing it in place changes every name.
    let markers: Vec<String> = manifest
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["path"].as_str().unwrap().ends_with("/~forbidden.json"))
        .map(|v| v["path"].as_str().unwrap().to_string())
        .collect();
    assert!(markers.len() > 2, "{markers:?}");
    let first = snap.join(&markers[0]);
    let mut b = fs::read(&first).unwrap();
    b[0] = b'[';
    // Written in place: the inode all markers share.
    fs::write(&first, &b).unwrap();
    // A file replaced by a symbolic link to an identical copy outside: never followed.
    let linked = snap.join("public/__api/assets/100/~asset.----.json");
    let outside = tmp.path().join("outside.json");
    fs::copy(&linked, &outside).unwrap();
    fs::remove_file(&linked).unwrap();
    std::os::unix::fs::symlink(&outside, &linked).unwrap();
    // An unlisted file in an unlisted directory.
    fs::create_dir_all(snap.join("public/__api/new/dir")).unwrap();
    fs::write(snap.join("public/__api/new/dir/x.json"), b"{}").unwrap();
    let text = verify(&snap, 1);
    for m in &markers {
        assert!(
            text.contains(&format!("{m}: content changed")),
            "{m} in\n{text}"
        );
    }
    let link = "public/__api/assets/100/~asset.----.json: ";
    assert!(
        text.lines()
            .any(|l| l.contains(link) && !l.contains("content changed")),
        "{link} flagged as not a plain file in\n{text}"
    );
    assert!(
        text.contains("public/__api/new/dir/x.json: not in the manifest"),
        "{text}"
    );
}

#[test]
fn an_edited_manifest_breaks_the_root_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = demo_export(tmp.path());
    let manifest = snap.join("manifest.jsonl");
    let text = fs::read_to_string(&manifest).unwrap();
    // Drop the last line and its file: files and manifest agree, the root hash does not.
    let mut lines: Vec<&str> = text.lines().collect();
    let last = lines.pop().unwrap();
    let path = serde_json::from_str::<serde_json::Value>(last).unwrap()["path"]
        .as_str()
        .unwrap()
        .to_string();
    fs::remove_file(snap.join(path)).unwrap();
    fs::write(&manifest, lines.join("\n") + "\n").unwrap();
    let out = verify(&snap, 1);
    assert!(out.contains("manifest.jsonl was changed"), "{out}");
    assert!(
        out.contains("snapshot.json counts 1780 files, manifest.jsonl lists 1779"),
        "{out}"
    );
}

#[test]
fn unreadable_snapshots_exit_2_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = demo_export(tmp.path());
    // Not a snapshot at all.
    let o = bin()
        .args(["verify", tmp.path().join("nothing").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("snapshot.json is missing"));
    // A truncated manifest line.
    let manifest = snap.join("manifest.jsonl");
    let text = fs::read_to_string(&manifest).unwrap();
    fs::write(&manifest, &text[..text.len() - 40]).unwrap();
    let o = bin()
        .args(["verify", snap.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    // The last line (after the lines of the router files, which come first).
    let last = text.lines().count();
    let routers = text
        .lines()
        .filter(|l| l.starts_with("{\"path\":\"_routers/"))
        .count();
    // routes.json, etags.txt, each host's config files and the tables written once (Caddy's
    // shards are derived by `router caddy`, outside the manifest).
    assert!(routers > 20, "{routers} router lines");
    assert_eq!(last, 1780 + routers);
    assert!(err.contains(&format!("manifest.jsonl:{last}:")), "{err}");
    // Missing manifest.
    fs::remove_file(&manifest).unwrap();
    let o = bin()
        .args(["verify", snap.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("manifest.jsonl is missing"));
    // Another format.
    let info = snap.join("snapshot.json");
    let text = fs::read_to_string(&info)
        .unwrap()
        .replace("matrix-snapshot/1", "matrix-snapshot/9");
    fs::write(&info, text).unwrap();
    let o = bin()
        .args(["verify", snap.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("format \"matrix-snapshot/9\""), "{err}");
    assert!(err.contains("export --full"), "{err}");
}

/// Every command that reads a snapshot checks its format first: a snapshot of another version
/// gets the same clear message (what it is, and that `export --full` rebuilds it), never a
/// parse error from whichever file it happened to read first.
#[test]
fn every_reader_names_a_snapshot_of_another_version() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = demo_export(tmp.path());
    let other = tmp.path().join("other");
    fs::create_dir(&other).unwrap();
    // Another version's snapshot.json, with fields this version does not know.
    fs::write(
        other.join("snapshot.json"),
        r#"{"format":"matrix-snapshot/9","layout":"future","root":"?"}"#,
    )
    .unwrap();
    let (s, o) = (snap.to_str().unwrap(), other.to_str().unwrap());
    let warc = tmp.path().join("a.warc.gz");
    let commands: [&[&str]; 7] = [
        &["verify", o],
        &["diff", s, o],
        &["diff", o, s],
        &[
            "archive",
            o,
            "--warc",
            warc.to_str().unwrap(),
            "--base-url",
            "https://x.test",
        ],
        &["router", "nginx", "--snapshot", o],
        &["preview", o, "--listen", "127.0.0.1:0"],
        &["conformance", "--snapshot", o],
    ];
    for args in commands {
        let out = bin().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("format \"matrix-snapshot/9\"") && err.contains("export --full"),
            "{args:?}: {err}"
        );
    }
}

/// Issue 20: `verify` looks listed files up by path rather than holding a listing of the tree,
/// yet a directory replaced by a symbolic link to an identical copy outside is never followed:
/// its files are missing and the link is not in the manifest — even when the directory held a
/// single file, so that the counts of files listed and found agree.
#[test]
fn a_directory_replaced_by_a_link_is_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = demo_export(tmp.path());
    // A directory of the web root holding exactly one file and no directory.
    let dir = walkdir::WalkDir::new(snap.join("public"))
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_dir())
        .map(|e| e.into_path())
        .find(|d| {
            let entries: Vec<_> = fs::read_dir(d).unwrap().map(|e| e.unwrap()).collect();
            entries.len() == 1 && entries[0].file_type().unwrap().is_file()
        })
        .expect("a directory with one file");
    let file = fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let copy = tmp.path().join("copy");
    fs::create_dir(&copy).unwrap();
    fs::copy(&file, copy.join(file.file_name().unwrap())).unwrap();
    fs::remove_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(&copy, &dir).unwrap();
    let rel = |p: &Path| p.strip_prefix(&snap).unwrap().to_str().unwrap().to_string();
    let text = verify(&snap, 1);
    assert!(text.contains(&format!("{}: missing", rel(&file))), "{text}");
    assert!(
        text.contains(&format!("{}: not in the manifest", rel(&dir))),
        "{text}"
    );
}
