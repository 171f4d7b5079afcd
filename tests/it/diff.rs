//! `diff OLD NEW`: two exports of the demo store, the second after an edit of every kind.

use crate::util::{export_public as export, repo, run};
use std::fs;
use std::path::Path;
use std::process::Output;

/// Rewrites each JSON line of `file` with `edit`; `extra` lines are appended.
pub fn edit_lines(file: &Path, edit: impl Fn(&mut serde_json::Value), extra: &[&str]) {
    let text = fs::read_to_string(file).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        edit(&mut v);
        out.push_str(&serde_json::to_string(&v).unwrap());
        out.push('\n');
    }
    for e in extra {
        out.push_str(e);
        out.push('\n');
    }
    fs::write(file, out).unwrap();
}

/// The demo store after a release: 100 renamed and rewritten, 123 trashed, 133 made private,
/// 120 moved from Study to Faculties, 9999 added under News.
pub fn edited_store(dir: &Path) -> std::path::PathBuf {
    let store = dir.join("store2");
    fs::create_dir_all(&store).unwrap();
    for e in fs::read_dir(repo("demo/store")).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), store.join(e.file_name())).unwrap();
    }
    edit_lines(
        &store.join("assets.jsonl"),
        |a| match a["id"].as_str().unwrap() {
            "100" => {
                a["name"] = "Kia ora — Welcome!".into();
                a["attributes"]["name"] = "Kia ora — Welcome!".into();
                a["attributes"]["banner"] = "2026".into();
                let c = a["contents"]
                    .as_str()
                    .unwrap()
                    .replace("Welcome", "Nau mai");
                a["contents"] = c.into();
            }
            "123" => a["trashed"] = true.into(),
            _ => {}
        },
        &[
            r#"{"id":"9999","type":"news_item","type_name":"News Item","version":"0.1.0","name":"New building opens","short_name":"New building","status":16,"created":{"date":"2026-11-01T09:00:00+13:00","user_id":"9"},"updated":{"date":"2026-11-01T09:00:00+13:00","user_id":"9"},"published":{"date":"2026-11-01T09:00:00+13:00","user_id":"9"},"status_changed":{"date":"2026-11-01T09:00:00+13:00","user_id":"9"},"urls":["https://www.uni.test/news/new-building"],"attributes":{"name":"New building opens"},"metadata":null,"contents":"<p>Open now.</p>","trashed":false}"#,
        ],
    );
    edit_lines(
        &store.join("links.jsonl"),
        |l| {
            if l["link_id"] == "29" {
                l["major_id"] = "105".into();
            }
        },
        &[
            r#"{"link_id":"99999","major_id":"106","minor_id":"9999","link_type":"menu","value":"","sort_order":50,"is_dependent":false,"is_exclusive":false}"#,
        ],
    );
    edit_lines(
        &store.join("permissions.jsonl"),
        |_| {},
        &[
            r#"{"asset_id":"9999","principal_id":"15","access":"read","granted":true}"#,
            r#"{"asset_id":"133","principal_id":"15","access":"read","granted":false}"#,
        ],
    );
    store
}

/// `matrix-snapshot diff OLD NEW ARGS…`, asserting the exit code.
fn diff(old: &Path, new: &Path, args: &[&str], code: i32) -> Output {
    let mut all = vec!["diff", old.to_str().unwrap(), new.to_str().unwrap()];
    all.extend_from_slice(args);
    run(&all, code)
}

#[test]
fn diff_reports_every_kind_of_change() {
    let tmp = tempfile::tempdir().unwrap();
    let (old, new) = (tmp.path().join("old"), tmp.path().join("new"));
    export("minimal", None, &old, &[]);
    export("minimal", Some(&edited_store(tmp.path())), &new, &[]);

    let o = diff(&old, &new, &["--format", "json", "--routes"], 1);
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(d["format"], "matrix-snapshot-diff/1");
    let ids = |k: &str| -> Vec<String> {
        d[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids("added"), ["9999"]);
    assert_eq!(ids("removed"), ["123"]);
    assert_eq!(ids("became_forbidden"), ["133"]);
    assert!(ids("became_readable").is_empty());
    assert!(ids("moved").contains(&"120".to_string()), "{d:#}");
    let moved = d["moved"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "120")
        .unwrap();
    assert_eq!(moved["old_path"], serde_json::json!(["7", "104", "120"]));
    assert_eq!(moved["new_path"], serde_json::json!(["7", "105", "120"]));
    let changed = d["changed"].as_array().unwrap();
    let c100 = changed
        .iter()
        .find(|c| c["id"] == "100")
        .expect("100 changed");
    let fields: Vec<&str> = c100["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "contents"]);
    assert_eq!(c100["fields"][0]["new"], "Kia ora — Welcome!");
    assert_eq!(
        c100["attributes"]["changed"],
        serde_json::json!(["name"]),
        "the name attribute follows the name"
    );
    let cd = c100["contents_diff"].as_str().unwrap();
    assert!(
        cd.contains("-") && cd.contains("+") && cd.contains("Nau mai"),
        "{cd}"
    );
    let r = &d["routes"];
    assert!(
        r["added"].as_u64().unwrap() > 0
            && r["removed"].as_u64().unwrap() > 0
            && r["changed"].as_u64().unwrap() > 0
    );
    assert_eq!(d["summary"]["added"], 1);

    // Text and Markdown say the same.
    let o = diff(&old, &new, &["--color", "never"], 1);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("1 added, 1 removed"), "{text}");
    assert!(
        text.contains("+ #9999 \"New building opens\" (https://www.uni.test/news/new-building)"),
        "{text}"
    );
    assert!(text.contains("> #120"), "{text}");
    assert!(!text.contains('\u{1b}'), "no colour when asked");
    let o = diff(&old, &new, &["--color", "always"], 1);
    assert!(String::from_utf8_lossy(&o.stdout).contains('\u{1b}'));
    let o = diff(&old, &new, &["--format", "markdown"], 1);
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(
        md.starts_with("## Content changes")
            && md.contains("### Added (1)")
            && md.contains("```diff"),
        "{md}"
    );
}

#[test]
fn identical_snapshots_exit_0_and_bad_input_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    export("minimal", None, &a, &[]);
    export("minimal", None, &b, &[]);
    let o = diff(&a, &b, &["--routes"], 0);
    assert!(String::from_utf8_lossy(&o.stdout).contains("0 added, 0 removed, 0 changed"));
    fs::remove_file(b.join("manifest.jsonl")).unwrap();
    let o = diff(&a, &b, &[], 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("manifest.jsonl is missing"));
}

/// Snapshots with Content API 1.2.0 variants (dependents, base URLs, contexts): fields are
/// compared in the plain variant (the default context, no dependents), not in whichever
/// variant file has the longest name.
#[test]
fn diff_compares_the_plain_variant_of_1_2_0_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let profile = crate::hosts::api12_profile(tmp.path());
    let profile = profile.to_str().unwrap();
    let (old, new) = (tmp.path().join("old"), tmp.path().join("new"));
    let nginx = ["--router", "nginx"];
    export(profile, None, &old, &nginx);
    export(profile, Some(&edited_store(tmp.path())), &new, &nginx);
    let o = diff(&old, &new, &["--format", "json"], 1);
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let c100 = d["changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "100")
        .expect("100 changed");
    assert_eq!(c100["fields"][0]["field"], "name");
    assert_eq!(
        c100["fields"][0]["old"],
        "Kia ora — Welcome to the University of Test"
    );
    assert_eq!(c100["fields"][0]["new"], "Kia ora — Welcome!");
}
