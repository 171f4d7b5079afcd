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

/// `--cors` and `--cache-control` go into HTTP headers and every host's config: a control
/// character (header injection, a broken Lua or JavaScript string) is refused with exit code 2
/// before anything is written (their full grammars: `it::hosts::injection`).
#[test]
fn header_values_must_be_one_line_of_visible_ascii() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    let o = out.to_str().unwrap();
    for (flag, value) in [
        ("--cors", "https://a.test\r\nSet-Cookie: x=1"),
        ("--cache-control", "max-age=60\n"),
        ("--cors", "https://é.test"),
        ("--cache-control", " "),
    ] {
        let args = ["export", "--token", "demo-public", "--out", o, flag, value];
        let err = String::from_utf8_lossy(&run(&args, 2).stderr).into_owned();
        assert!(err.contains(flag), "{flag} {value:?}: {err}");
        assert!(!out.exists(), "nothing written for {flag} {value:?}");
    }
    let err = run(&["serve", "--cors", "a\tb"], 2).stderr;
    assert!(String::from_utf8_lossy(&err).contains("cannot appear in an origin"));
    // A usual value passes.
    run(
        &[
            "export",
            "--token",
            "demo-public",
            "--out",
            o,
            "--profile",
            "minimal",
            "-q",
            "--cors",
            "https://www.uni.test",
            "--cache-control",
            "public, max-age=300",
        ],
        0,
    );
}
