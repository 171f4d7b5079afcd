//! `export --out DIR` onto a previous snapshot: only changed files are written, the result is
//! byte-identical to a fresh export, unchanged files keep their inode and mtime, and
//! `--changed-list` names every added, modified and deleted path.

use crate::diff::edited_store;
use crate::util::run;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Every file under `dir`: bytes, inode and mtime (ns).
fn files(dir: &Path) -> BTreeMap<String, (Vec<u8>, u64, i128)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let m = e.metadata().unwrap();
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let mtime = m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128;
            (rel, (fs::read(e.path()).unwrap(), m.ino(), mtime))
        })
        .collect()
}

fn export(store: Option<&Path>, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["export", "--token", "demo-public", "--profile", "standard"];
    if let Some(s) = store {
        args.extend(["--store", s.to_str().unwrap()]);
    }
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    String::from_utf8(run(&args, 0).stderr).unwrap()
}

#[test]
fn re_export_writes_only_changes_and_equals_a_fresh_export() {
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    export(None, &dist, &["-q"]);
    let before = files(&dist);

    let store2 = edited_store(tmp.path());
    let list = tmp.path().join("changes.txt");
    // In small runs of entries (issue 20): the taken-over entries' run merged with dozens of
    // runs of the rendered ones.
    let said = export(
        Some(&store2),
        &dist,
        &[
            "--changed-list",
            list.to_str().unwrap(),
            "--timings",
            "--entry-buffer",
            "2KiB",
        ],
    );
    assert!(said.contains("updated"), "{said}");
    // --timings: one line per phase, the update's own among them, each with its wall and CPU
    // time and the resident memory as it ended (issue 20).
    let linux = cfg!(target_os = "linux");
    for phase in [
        "load the store",
        "previous manifest",
        "render and write routes",
        "apply the changes",
    ] {
        assert!(
            said.lines().any(|l| {
                let Some((wall, rest)) = l.trim_start().split_once("s ") else {
                    return false;
                };
                let rest = rest.trim_start();
                let (cpu, rest) = rest.split_once("s  ").unwrap_or(("", rest));
                wall.parse::<f64>().is_ok()
                    && (!linux || cpu.parse::<f64>().is_ok_and(|c| c >= 0.0))
                    && rest.starts_with(phase)
                    && (!linux || (rest.contains(" rss ") && rest.contains(" MB, peak ")))
            }),
            "no `<wall>s <cpu>s  {phase}  rss … MB, peak … MB` line in {said}"
        );
    }
    let fresh = tmp.path().join("fresh");
    export(Some(&store2), &fresh, &["-q"]);
    let after = files(&dist);
    let want = files(&fresh);

    // Byte-identical to a fresh export of the edited store.
    let bytes = |m: &BTreeMap<String, (Vec<u8>, u64, i128)>| -> BTreeMap<String, Vec<u8>> {
        m.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect()
    };
    assert_eq!(bytes(&after), bytes(&want), "incremental != fresh");

    // Unchanged files are the same files (inode, mtime); the changed list is exactly the diff.
    let mut expected = String::new();
    let mut unchanged = 0;
    let mut all: Vec<&String> = before.keys().chain(after.keys()).collect();
    all.sort();
    all.dedup();
    for path in all {
        match (before.get(path), after.get(path)) {
            (Some(b), Some(a)) if b.0 == a.0 => {
                assert_eq!((b.1, b.2), (a.1, a.2), "{path} was rewritten");
                unchanged += 1;
            }
            (Some(_), Some(_)) => expected.push_str(&format!("M\t{path}\n")),
            (None, Some(_)) => expected.push_str(&format!("A\t{path}\n")),
            (Some(_), None) => expected.push_str(&format!("D\t{path}\n")),
            (None, None) => unreachable!(),
        }
    }
    let listed = fs::read_to_string(&list).unwrap();
    assert_eq!(listed, expected);
    for kind in ["A\t", "M\t", "D\t"] {
        assert!(
            listed.contains(kind),
            "the edit adds, changes and deletes: {listed}"
        );
    }
    assert!(
        unchanged * 2 > after.len(),
        "most files are untouched ({unchanged} of {})",
        after.len()
    );
    assert!(
        said.contains(&format!("{} unchanged", unchanged)),
        "{said} ({unchanged} unchanged)"
    );

    // Nothing left beside DIR; the same export again changes nothing.
    let names: Vec<String> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    let said = export(
        Some(&store2),
        &dist,
        &["--changed-list", list.to_str().unwrap()],
    );
    assert!(
        said.contains("0 files added, 0 changed, 0 deleted"),
        "{said}"
    );
    assert_eq!(fs::read_to_string(&list).unwrap(), "");
    assert_eq!(files(&dist), after);
}

/// `--full` rebuilds and swaps even onto a previous snapshot: same bytes, new files.
#[test]
fn full_re_export_rewrites_everything_with_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    export(None, &dist, &["-q"]);
    let before = files(&dist);
    let list = tmp.path().join("changes.txt");
    let said = export(
        None,
        &dist,
        &["--full", "--changed-list", list.to_str().unwrap()],
    );
    assert!(!said.contains("updated"), "{said}");
    let after = files(&dist);
    assert_eq!(before.len(), after.len());
    for (path, (bytes, ino, _)) in &after {
        assert_eq!(&before[path].0, bytes);
        assert_ne!(before[path].1, *ino, "{path}: --full writes a new file");
    }
    assert_eq!(fs::read_to_string(&list).unwrap(), "", "no content changed");
}

/// A staging tree with a plan and no `done` beside DIR: `verify` reports the interrupted update,
/// and the next export rolls it back first (here: a plan whose one move had happened).
#[test]
fn verify_reports_an_interrupted_update_and_export_rolls_it_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    export(None, &dist, &["-q"]);
    let before = files(&dist);
    // As if killed right after moving a new file in: plan written, old file backed up.
    let staging = tmp.path().join(".dist.inc-test");
    let rel = "public/__api/assets/100/~asset.----.json";
    fs::create_dir_all(staging.join("~backup/public/__api/assets/100")).unwrap();
    fs::write(staging.join("plan"), format!("W\t{rel}\n")).unwrap();
    fs::rename(dist.join(rel), staging.join("~backup").join(rel)).unwrap();
    fs::write(dist.join(rel), b"{\"new\":1}").unwrap();

    let out = run(&["verify", dist.to_str().unwrap()], 1).stdout;
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.contains("interrupted") && out.contains(".dist.inc-test"),
        "{out}"
    );

    // The next export rolls back before comparing: nothing changed, and the old file is back.
    let said = export(None, &dist, &[]);
    assert!(said.contains("rolled back 1"), "{said}");
    assert!(
        said.contains("0 files added, 0 changed, 0 deleted"),
        "{said}"
    );
    assert!(!staging.exists());
    let after = files(&dist);
    assert_eq!(
        after[rel], before[rel],
        "same bytes, inode and mtime as before"
    );
    run(&["verify", dist.to_str().unwrap()], 0);
}

/// One edit of a store file: lines `edit` changes (returns `true` for) are rewritten, the others
/// keep their bytes; `extra` lines are appended.
type Edit<'a> = (
    &'a str,
    &'a dyn Fn(&mut serde_json::Value) -> bool,
    &'a [&'a str],
);

/// The demo store copied into `dir` with `edits` applied.
fn demo_with(dir: &Path, edits: &[Edit]) -> std::path::PathBuf {
    fs::create_dir_all(dir).unwrap();
    for e in fs::read_dir(crate::util::repo("demo/store")).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    for (file, edit, extra) in edits {
        let text = fs::read_to_string(dir.join(file)).unwrap();
        let mut out = String::new();
        let mut edited = extra.len();
        for line in text.lines() {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            if edit(&mut v) {
                out.push_str(&serde_json::to_string(&v).unwrap());
                edited += 1;
            } else {
                out.push_str(line);
            }
            out.push('\n');
        }
        assert!(edited > 0, "the edit of {file} changes nothing");
        for e in extra.iter() {
            out.push_str(e);
            out.push('\n');
        }
        fs::write(dir.join(file), out).unwrap();
    }
    dir.to_path_buf()
}

fn none(_: &mut serde_json::Value) -> bool {
    false
}

/// Incremental exports keep the files of assets whose inputs did not change without rendering
/// them (input fingerprints): after each kind of edit — a record, a parent's name (lineage of
/// the subtree), a link's order, a permission, a trashed asset, a dependent's contents, a
/// context override, a URL, a new asset — the result is byte-identical to a fresh export, and
/// some assets, not all, were rendered again.
#[test]
fn unchanged_inputs_are_reused_and_the_result_equals_a_fresh_export() {
    let set = |id: &'static str, key: &'static str, value: serde_json::Value| {
        move |v: &mut serde_json::Value| {
            v["id"] == id && {
                v[key] = value.clone();
                true
            }
        }
    };
    let leaf = set("179", "name", "Our story".into());
    let parent = set("104", "name", "Learn".into());
    let trashed = set("111", "trashed", true.into());
    let dependent = set("103", "contents", "<p>Kia ora.</p>".into());
    let url = set(
        "106",
        "urls",
        serde_json::json!(["https://www.uni.test/whats-on"]),
    );
    let order = |v: &mut serde_json::Value| {
        v["link_id"] == "12" && {
            v["sort_order"] = 99.into();
            true
        }
    };
    let deny = |v: &mut serde_json::Value| {
        v["asset_id"] == "106" && v["principal_id"] == "15" && {
            v["granted"] = false.into();
            true
        }
    };
    let context = |v: &mut serde_json::Value| {
        v["id"] == "108" && {
            v["contexts"]["Māori"]["name"] = "Ko wai mātou".into();
            true
        }
    };
    let new_asset = [
        r#"{"id":"1236","type":"news_item","type_name":"News Item","name":"Fresh news","status":16,"urls":["https://www.uni.test/news/fresh"]}"#,
    ];
    let new_link = [
        r#"{"link_id":"90001","major_id":"106","minor_id":"1236","link_type":"menu","sort_order":0}"#,
    ];
    let new_perm = [r#"{"asset_id":"1236","principal_id":"15","access":"read","granted":true}"#];
    let cases: Vec<(&str, Vec<Edit>)> = vec![
        ("leaf record", vec![("assets.jsonl", &leaf, &[])]),
        ("parent name", vec![("assets.jsonl", &parent, &[])]),
        ("link order", vec![("links.jsonl", &order, &[])]),
        ("public deny", vec![("permissions.jsonl", &deny, &[])]),
        ("trashed", vec![("assets.jsonl", &trashed, &[])]),
        (
            "dependent contents",
            vec![("assets.jsonl", &dependent, &[])],
        ),
        ("context override", vec![("assets.jsonl", &context, &[])]),
        ("url", vec![("assets.jsonl", &url, &[])]),
        (
            "new asset",
            vec![
                ("assets.jsonl", &none, &new_asset),
                ("links.jsonl", &none, &new_link),
                ("permissions.jsonl", &none, &new_perm),
            ],
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let profile = crate::hosts::api12_profile(tmp.path());
    let run_export = |store: &Path, out: &Path| {
        let args = [
            "export",
            "--store",
            store.to_str().unwrap(),
            "--token",
            "demo-public",
            "--base-url",
            "https://www.uni.test",
            "--profile",
            profile.to_str().unwrap(),
            "--router",
            "nginx",
            "--out",
            out.to_str().unwrap(),
        ];
        String::from_utf8(run(&args, 0).stderr).unwrap()
    };
    let base = demo_with(&tmp.path().join("base"), &[]);
    let bytes = |dir: &Path| -> BTreeMap<String, Vec<u8>> {
        files(dir).into_iter().map(|(k, v)| (k, v.0)).collect()
    };
    for (i, (what, edits)) in cases.iter().enumerate() {
        let dist = tmp.path().join(format!("dist{i}"));
        run_export(&base, &dist);
        let store = demo_with(&tmp.path().join(format!("store{i}")), edits);
        let said = run_export(&store, &dist);
        let kept: Vec<u64> = said
            .split(" assets kept")
            .next()
            .and_then(|s| s.rsplit("; ").next())
            .map(|s| {
                s.split(" of ")
                    .filter_map(|n| n.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            kept.len() == 2 && kept[0] > 0 && kept[0] < kept[1],
            "{what}: some assets reused, not all: {said}"
        );
        let fresh = tmp.path().join(format!("fresh{i}"));
        run_export(&store, &fresh);
        assert_eq!(bytes(&dist), bytes(&fresh), "{what}: incremental != fresh");
        for d in [&dist, &fresh] {
            fs::remove_dir_all(d).unwrap();
        }
    }
}

/// A first export's `--changed-list` adds every file it wrote, sorted, and nothing else.
#[test]
fn a_first_export_lists_every_file_as_added() {
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    let list = tmp.path().join("changes.txt");
    export(
        None,
        &dist,
        &["-q", "--changed-list", list.to_str().unwrap()],
    );
    let text = fs::read_to_string(&list).unwrap();
    let listed: Vec<&str> = text
        .lines()
        .map(|l| {
            l.strip_prefix("A\t")
                .unwrap_or_else(|| panic!("not an A line: {l:?}"))
        })
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "sorted by path");
    let on_disk: Vec<String> = files(&dist).into_keys().collect();
    assert_eq!(listed, on_disk);
    assert!(listed.contains(&"manifest.jsonl") && listed.len() > 1000);
}
