//! Command-line behaviour: help, exit codes, errors that name file and line.

use crate::util::{repo, run};
use std::fs;

#[test]
fn help_teaches() {
    let out = run(&["--help"], 0);
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["export", "serve", "check", "generate", "Exit codes"] {
        assert!(text.contains(word), "--help mentions {word}:\n{text}");
    }
    for command in ["export", "serve", "check", "generate"] {
        let out = run(&[command, "--help"], 0);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("EXAMPLES"),
            "{command} --help has examples"
        );
    }
}

#[test]
fn check_summarises_a_valid_store() {
    let out = run(&["check", "--store", "tests/fixtures/stores/rules"], 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("16 assets (1 trashed)"), "{text}");
    assert!(
        text.contains("token \"Disabled\": unusable (the token is disabled)"),
        "{text}"
    );
    assert!(!text.contains("pub\""), "token values are never printed");
}

#[test]
fn bad_store_exits_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(repo("tests/fixtures/stores/rules")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let links = dir.path().join("links.jsonl");
    let mut text = fs::read_to_string(&links).unwrap();
    text.push_str("{\"link_id\":\"99\",\"major_id\":\"nope\",\"minor_id\":\"5\",\"link_type\":\"menu\",\"sort_order\":0}\n");
    fs::write(&links, text).unwrap();
    let out = run(&["check", "--store", dir.path().to_str().unwrap()], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("links.jsonl:19: major_id names unknown asset \"nope\""),
        "{err}"
    );
    assert!(err.starts_with("matrix-snapshot: error:"), "{err}");
}

#[test]
fn missing_store_exits_2() {
    let out = run(&["check", "--store", "/nonexistent/store"], 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/store"));
}
