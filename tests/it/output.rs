//! The output directory (`export --out DIR`): nothing the tool did not write is lost, two
//! exports never write one directory at once, a symbolic link is followed, and a signal leaves
//! `DIR` as it was (`docs/snapshot-format.md`, "What the tool owns in --out").

use crate::util::{bin, export_args, generated, run};
use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

fn export(out: &Path, extra: &[&str], code: i32) -> String {
    let args = export_args(
        "demo-public",
        "minimal",
        out.to_str().unwrap(),
        &[&["--quiet"], extra].concat(),
    );
    String::from_utf8_lossy(&run(&args, code).stderr).into_owned()
}

fn verify(dir: &Path) {
    run(&["verify", dir.to_str().unwrap()], 0);
}

/// What sits beside `out` (staging trees, lock files), by name.
fn beside(out: &Path) -> Vec<String> {
    let name = out.file_name().unwrap().to_string_lossy().into_owned();
    let mut v: Vec<String> = fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!(".{name}.")))
        .collect();
    v.sort();
    v
}

/// A git checkout, notes and the like at the top of `DIR` survive a full export (carried into
/// the new tree) and an update.
#[test]
fn what_the_user_keeps_beside_the_snapshot_survives() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dist");
    export(&out, &[], 0);
    fs::create_dir_all(out.join(".git/refs")).unwrap();
    fs::write(out.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    fs::write(out.join("NOTES.md"), "release notes\n").unwrap();
    for extra in [&["--full"][..], &[][..]] {
        export(&out, extra, 0);
        assert_eq!(
            fs::read_to_string(out.join(".git/HEAD")).unwrap(),
            "ref: refs/heads/main\n",
            "{extra:?}"
        );
        assert_eq!(
            fs::read_to_string(out.join("NOTES.md")).unwrap(),
            "release notes\n"
        );
        verify(&out);
    }
    assert!(beside(&out).is_empty(), "{:?}", beside(&out));
}

/// A file the user put under `public/` would be deleted by replacing the snapshot: refused,
/// naming it, unless `--force`.
#[test]
fn unlisted_files_in_the_web_root_are_refused_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dist");
    export(&out, &[], 0);
    fs::write(out.join("public/robots.txt"), "User-agent: *\n").unwrap();
    let err = export(&out, &["--full"], 2);
    assert!(err.contains("public/robots.txt"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert!(out.join("public/robots.txt").is_file(), "nothing deleted");
    export(&out, &["--full", "--force"], 0);
    assert!(!out.join("public/robots.txt").exists());
    verify(&out);
}

/// Only a real snapshot (a matrix-snapshot format and a manifest) is replaced without `--force`:
/// a directory that merely holds a `snapshot.json` is the user's.
#[test]
fn a_directory_with_any_snapshot_json_is_not_a_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("site");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("snapshot.json"), "{}").unwrap();
    fs::write(out.join("index.html"), "<h1>mine</h1>").unwrap();
    let err = export(&out, &[], 2);
    assert!(err.contains("not a matrix-snapshot snapshot"), "{err}");
    assert_eq!(
        fs::read_to_string(out.join("index.html")).unwrap(),
        "<h1>mine</h1>"
    );
    fs::write(
        out.join("snapshot.json"),
        r#"{"format":"matrix-snapshot/1"}"#,
    )
    .unwrap();
    let err = export(&out, &[], 2);
    assert!(
        err.contains("not a matrix-snapshot snapshot"),
        "no manifest: {err}"
    );
}

/// While one export holds `DIR`'s lock, another refuses with a message naming the holder; the
/// lock is gone once the first ends.
#[test]
fn a_second_export_into_the_same_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dist");
    export(&out, &[], 0);
    assert!(
        beside(&out).is_empty(),
        "the lock file is removed after a run"
    );
    // Hold the lock as a running export would.
    let lock_path = tmp.path().join(".dist.lock");
    let lock = fs::File::create(&lock_path).unwrap();
    fs::write(&lock_path, "pid 4242\n").unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    let err = export(&out, &[], 2);
    assert!(
        err.contains("another matrix-snapshot export is writing"),
        "{err}"
    );
    assert!(err.contains("pid 4242"), "{err}");
    drop(lock);
    // A lock file left by a dead process (no lock held) does not stop anyone.
    export(&out, &[], 0);
    verify(&out);
}

/// Two exports started together into one directory: one writes the snapshot, the other is
/// refused or runs after it; the snapshot verifies either way.
#[test]
fn concurrent_exports_never_corrupt_the_output() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dist");
    let o = out.to_str().unwrap();
    let args = [
        "export",
        "-q",
        "--token",
        "demo-public",
        "--profile",
        "standard",
        "--out",
        o,
    ];
    let children: Vec<_> = (0..2)
        .map(|_| bin().args(args).stderr(Stdio::piped()).spawn().unwrap())
        .collect();
    let codes: Vec<i32> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.code().unwrap())
        .collect();
    assert!(codes.contains(&0), "{codes:?}");
    assert!(codes.iter().all(|c| *c == 0 || *c == 2), "{codes:?}");
    verify(&out);
}

/// `--out` a symbolic link: followed as `cp` and `rsync` do. The link stays a link, its target
/// holds the snapshot, nothing is left beside either.
#[test]
fn a_symbolic_link_as_out_is_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("real");
    fs::create_dir(&target).unwrap();
    let link = tmp.path().join("dist");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for extra in [&[][..], &["--full"][..], &[][..]] {
        export(&link, extra, 0);
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(target.join("snapshot.json").is_file());
        verify(&target);
    }
    assert!(beside(&link).is_empty() && beside(&target).is_empty());
    // A dangling link is an error that says so.
    let dangling = tmp.path().join("dangling");
    std::os::unix::fs::symlink(tmp.path().join("nowhere"), &dangling).unwrap();
    let err = export(&dangling, &[], 2);
    assert!(err.contains("symbolic link"), "{err}");
}

/// SIGINT or SIGTERM during an export: exit 130 / 143, `DIR` exactly as before, no staging
/// tree left (a small one is removed at once).
#[test]
fn a_signal_stops_the_export_and_leaves_the_previous_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    generated(&store, 1500, 3);
    let out = tmp.path().join("dist");
    let (s, o) = (store.to_str().unwrap(), out.to_str().unwrap());
    let base = ["export", "-q", "--store", s, "--out", o, "--token"];
    run(
        &[&base[..], &["gen-public", "--profile", "minimal"]].concat(),
        0,
    );
    let before = fs::read(out.join("manifest.jsonl")).unwrap();
    let mut stopped = 0;
    for (signal, code, full) in [
        ("-INT", 130, true),
        ("-TERM", 143, false),
        ("-INT", 130, false),
    ] {
        let mut child = bin()
            .args(base)
            .args(["gen-editor", "--profile", "minimal"])
            .args(full.then_some("--full"))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Once it is writing its staging tree.
        for _ in 0..5000 {
            if beside(&out)
                .iter()
                .any(|n| n.contains(".tmp-") || n.contains(".inc-"))
                || child.try_wait().unwrap().is_some()
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status();
        let output = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        match output.status.code() {
            Some(c) if c == code => {
                stopped += 1;
                assert!(err.contains("interrupted"), "{err}");
                assert_eq!(
                    fs::read(out.join("manifest.jsonl")).unwrap(),
                    before,
                    "{err}"
                );
            }
            // Finished before the signal came: a complete new snapshot.
            Some(0) => {}
            other => panic!("exit {other:?}: {err}"),
        }
        verify(&out);
        assert!(beside(&out).is_empty(), "{:?} {err}", beside(&out));
        // Back to the first snapshot for the next round.
        if fs::read(out.join("manifest.jsonl")).unwrap() != before {
            run(
                &[&base[..], &["gen-public", "--profile", "minimal"]].concat(),
                0,
            );
        }
    }
    assert!(
        stopped > 0,
        "no signal landed during an export: make it longer"
    );
}

/// A file deleted or edited in place after an export: an update trusts the previous manifest,
/// so it leaves the damage and `verify` keeps failing, naming `--repair`; `export --repair`
/// rewrites exactly the damaged files (every hard link of an edited body among them) and says
/// how many, after which `verify` passes and the snapshot is the one a fresh export writes.
#[test]
fn export_repair_rewrites_damaged_files() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dist");
    export(&out, &[], 0);
    let clean = fs::read(out.join("manifest.jsonl")).unwrap();
    let listed: Vec<String> = String::from_utf8_lossy(&clean)
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let p = v["path"].as_str().unwrap().to_string();
            p.starts_with("public/").then_some(p)
        })
        .collect();
    // One body with hard links (editing it in place changes its duplicates), one without.
    let linked = listed
        .iter()
        .find(|p| fs::metadata(out.join(p)).unwrap().nlink() > 1)
        .unwrap()
        .clone();
    let ino = fs::metadata(out.join(&linked)).unwrap().ino();
    let duplicates = listed
        .iter()
        .filter(|p| fs::metadata(out.join(p)).unwrap().ino() == ino)
        .count();
    assert!(duplicates > 1);
    let deleted = listed
        .iter()
        .find(|p| fs::metadata(out.join(p)).unwrap().ino() != ino)
        .unwrap()
        .clone();
    fs::remove_file(out.join(&deleted)).unwrap();
    let mut body = fs::read(out.join(&linked)).unwrap();
    body[0] = b' ';
    fs::OpenOptions::new()
        .write(true)
        .open(out.join(&linked))
        .and_then(|mut f| std::io::Write::write_all(&mut f, &body))
        .unwrap();

    // An update trusts the manifest: exit 0, the damage stays.
    export(&out, &[], 0);
    let o = run(&["verify", out.to_str().unwrap()], 1);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains(&format!("{deleted}: missing")), "{said}");
    assert!(
        said.contains(&format!("{linked}: content changed")),
        "{said}"
    );
    assert!(said.contains("matrix-snapshot export … --out"), "{said}");
    assert!(said.contains("--repair"), "{said}");

    let err = repair(&out);
    assert!(
        err.contains(&format!(
            "repaired {} damaged file(s) of {} checked",
            duplicates + 1,
            listed.len() + router_lines(&clean)
        )),
        "{err}"
    );
    assert!(err.contains(&deleted) && err.contains(&linked), "{err}");
    verify(&out);
    assert_eq!(fs::read(out.join("manifest.jsonl")).unwrap(), clean);
    // Nothing left to repair.
    let err = repair(&out);
    assert!(err.contains("repaired 0 damaged file(s)"), "{err}");
    // --repair rebuilds what a changed manifest can no longer say.
    let edited = String::from_utf8_lossy(&clean).replacen("\"status\":200", "\"status\":404", 1);
    fs::write(out.join("manifest.jsonl"), edited).unwrap();
    let err = repair(&out);
    assert!(err.contains("rebuilt in full"), "{err}");
    verify(&out);
    assert!(beside(&out).is_empty(), "{:?}", beside(&out));
}

/// Manifest lines of the router files (`_routers/…`, not routes).
fn router_lines(manifest: &[u8]) -> usize {
    String::from_utf8_lossy(manifest)
        .lines()
        .filter(|l| l.starts_with("{\"path\":\"_routers/"))
        .count()
}

/// `export --repair` onto `out` (not quiet: it says what it repaired); its stderr.
fn repair(out: &Path) -> String {
    let o = run(
        &export_args(
            "demo-public",
            "minimal",
            out.to_str().unwrap(),
            &["--repair"],
        ),
        0,
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The root hash covers `_routers/` (status-0 manifest lines): switching `auth` to `public` in
/// `routes.json` (which `preview` would then serve without a token) fails `verify`, naming the
/// file; a file added there is reported too. A line break in its `cors` value (a header
/// injection in `preview`) is refused by the one reader of `routes.json` even before that.
#[test]
fn verify_covers_the_router_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dist");
    export(&out, &[], 0);
    verify(&out);
    let routes = out.join("_routers/routes.json");
    let clean = fs::read_to_string(&routes).unwrap();
    assert!(clean.contains(r#""auth": "token""#), "{clean}");
    fs::write(
        &routes,
        clean.replace(r#""auth": "token""#, r#""auth": "public""#),
    )
    .unwrap();
    let o = run(&["verify", out.to_str().unwrap()], 1);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("_routers/routes.json: "), "{said}");
    assert!(said.contains("--repair"), "{said}");
    fs::write(&routes, &clean).unwrap();
    verify(&out);
    fs::write(out.join("_routers/nginx/extra.conf"), "return 200;\n").unwrap();
    let o = run(&["verify", out.to_str().unwrap()], 1);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("_routers/nginx/extra.conf: not in the manifest"),
        "{said}"
    );
    fs::remove_file(out.join("_routers/nginx/extra.conf")).unwrap();

    // CR/LF in `cors`: routes.json's reader (preview, router, host tables) refuses it.
    let injected = clean.replace(
        r#""cors": null"#,
        r#""cors": "https://a.test\r\nSet-Cookie: x=1""#,
    );
    assert_ne!(injected, clean);
    fs::write(&routes, injected).unwrap();
    let err = matrix_snapshot::snapshot::routes::read(&out)
        .expect_err("a line break in cors")
        .to_string();
    assert!(err.contains("cors") && err.contains("re-export"), "{err}");
    // `--repair` puts the exported file back.
    let said = repair(&out);
    assert!(said.contains("_routers/routes.json"), "{said}");
    assert_eq!(fs::read_to_string(&routes).unwrap(), clean);
    verify(&out);
}

/// A snapshot whose manifest lists no router file (written by an earlier build) fails `verify`
/// with a message that says why and what to do; an update adds the lines.
#[test]
fn a_manifest_without_router_lines_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dist");
    export(&out, &[], 0);
    let manifest = fs::read_to_string(out.join("manifest.jsonl")).unwrap();
    let old: String = manifest
        .lines()
        .filter(|l| !l.starts_with(r#"{"path":"_routers/"#))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(old.len() < manifest.len());
    fs::write(out.join("manifest.jsonl"), &old).unwrap();
    // As an earlier build wrote it: the root hash of that manifest.
    let info = fs::read_to_string(out.join("snapshot.json")).unwrap();
    let root = |m: &str| blake3::hash(m.as_bytes()).to_hex().to_string();
    fs::write(
        out.join("snapshot.json"),
        info.replace(&root(&manifest), &root(&old)),
    )
    .unwrap();
    let o = run(&["verify", out.to_str().unwrap()], 1);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("_routers/ is not covered by the root hash"),
        "{said}"
    );
    assert!(said.contains("1 other"), "{said}");
    export(&out, &[], 0);
    verify(&out);
    assert_eq!(
        fs::read_to_string(out.join("manifest.jsonl")).unwrap(),
        manifest
    );
}

/// A store of one site and a chain of `depth` folders below it (no URLs), readable by the
/// root user's token `t`; `id` names the deepest folder (default: its number).
fn chain_store(dir: &Path, depth: usize, deepest_id: Option<&str>) {
    fs::create_dir_all(dir).unwrap();
    let id = |i: usize| match deepest_id {
        Some(id) if i == depth + 1 => id.to_string(),
        _ => i.to_string(),
    };
    let mut assets = String::from(
        r#"{"id":"1","type":"site","type_name":"Site","name":"Site","status":16,"urls":["https://chain.test"]}"#,
    );
    assets.push('\n');
    let mut links = String::new();
    for i in 2..=depth + 1 {
        assets.push_str(&format!(
            r#"{{"id":"{}","type":"folder","type_name":"Folder","name":"F{i}","status":16}}"#,
            id(i)
        ));
        assets.push('\n');
        links.push_str(&format!(
            r#"{{"link_id":"l{i}","major_id":"{}","minor_id":"{}","link_type":"menu","sort_order":0}}"#,
            id(i - 1),
            id(i)
        ));
        links.push('\n');
    }
    for (name, text) in [
        (
            "store.json",
            r#"{"format":"matrix-snapshot-store/1","name":"Chain","contexts":["Default"]}"#
                .to_string()
                + "\n",
        ),
        ("assets.jsonl", assets),
        ("links.jsonl", links),
        (
            "principals.jsonl",
            r#"{"id":"1","kind":"root","name":"Root User"}"#.to_string() + "\n",
        ),
        ("permissions.jsonl", String::new()),
        (
            "tokens.jsonl",
            r#"{"token":"t","name":"T","enabled":true,"user_id":"1"}"#.to_string() + "\n",
        ),
    ] {
        fs::write(dir.join(name), text).unwrap();
    }
}

/// Part 2 of issue 17: a store `check` accepts must export. A 5,000-byte id passed `check`, then
/// `export` failed with "File name too long": `check` now refuses it with `file:line` (ids are
/// at most 512 bytes: docs/store-format.md, "Limits"). A 5,000-deep chain without URLs (2.2 MB
/// of store, 13 GB of lineage files) passes with a warning naming the depth and the bytes, and
/// `export --dry-run` shows the lineage files' share before anything is written.
#[test]
fn stores_that_pass_check_export_and_deep_lineages_are_announced() {
    let tmp = tempfile::tempdir().unwrap();
    let long = tmp.path().join("long");
    let id = "7".repeat(5000);
    chain_store(&long, 3, Some(&id));
    let o = run(&["check", "--store", long.to_str().unwrap()], 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("assets.jsonl:4: id"), "{err}");
    assert!(
        err.contains("5000 bytes long; ids may be at most 512 bytes"),
        "{err}"
    );

    let deep = tmp.path().join("deep");
    chain_store(&deep, 5000, None);
    let o = run(&["check", "--store", deep.to_str().unwrap()], 0);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: the lineage of asset \"5001\" lists 5000 ancestors (warned from 64"),
        "{err}"
    );
    // 5001 lineages of 1 to 5001 assets: 12,507,501 listed.
    assert!(err.contains("12507501 assets listed, about "), "{err}");
    let mb: f64 = err
        .split("assets listed, about ")
        .nth(1)
        .and_then(|r| r.split(" MB").next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(mb > 1000.0, "{mb} MB for 12.5M listed assets");
    // A shallow store warns of nothing.
    let o = run(&["check"], 0);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("lineage"));

    // --dry-run (on a 300-deep chain: quick) shows the lineage files' growth; nothing written.
    let deep = tmp.path().join("deep300");
    chain_store(&deep, 300, None);
    let out = tmp.path().join("out");
    let o = run(
        &[
            "export",
            "--store",
            deep.to_str().unwrap(),
            "--token",
            "t",
            "--profile",
            "minimal",
            "--out",
            out.to_str().unwrap(),
            "--dry-run",
        ],
        0,
    );
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("of which lineage files about "), "{said}");
    assert!(said.contains("lists 300 ancestors"), "{said}");
    assert!(!out.exists());
}

/// A pack-layout snapshot's bodies are in packs, not files of the manifest: `--repair` rebuilds
/// it whole (and says so) rather than reporting every route missing.
#[test]
fn export_repair_rebuilds_a_pack_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dist");
    export(&out, &["--layout", "pack"], 0);
    let o = run(
        &export_args(
            "demo-public",
            "minimal",
            out.to_str().unwrap(),
            &["--layout", "pack", "--repair"],
        ),
        0,
    );
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(said.contains("its bodies are in packs"), "{said}");
    assert!(said.contains("rebuilt in full"), "{said}");
    verify(&out);
}
