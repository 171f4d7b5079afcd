//! A closed stdout (`| head -1`, a pager that quit) ends any command quietly: exit 0, nothing on
//! stderr but what the command says anyway, never a panic (issue 19).

use crate::util::{bin, export_args, export_public};
use std::io::Read;
use std::process::Stdio;

/// Runs the binary with `args`, its stdout a pipe whose reader is closed at once (before the
/// command has loaded anything, so its first write finds no reader); returns the exit code
/// and stderr.
fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn matrix-snapshot");
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap().code(), err)
}

fn assert_quiet(args: &[&str]) {
    let (code, err) = with_closed_stdout(args);
    assert_eq!(code, Some(0), "matrix-snapshot {}: {err}", args.join(" "));
    assert!(
        !err.contains("panicked") && !err.contains("error"),
        "matrix-snapshot {}: {err}",
        args.join(" ")
    );
}

#[test]
fn a_closed_stdout_ends_every_printing_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old"), dir.path().join("new"));
    export_public("minimal", None, &old, &[]);
    export_public(
        "minimal",
        None,
        &new,
        &["--base-url", "https://www.uni.test"],
    );
    let (old, new) = (old.to_str().unwrap(), new.to_str().unwrap());
    // Each of these prints to stdout (the diffs differ, so diff would exit 1 if it finished).
    assert_quiet(&["diff", old, new, "--format", "json"]);
    assert_quiet(&["diff", old, new, "--format", "markdown"]);
    assert_quiet(&["diff", old, new]);
    assert_quiet(&["verify", old]);
    assert_quiet(&["check"]);
    assert_quiet(&["router", "nginx", "--snapshot", old]);
    let out = dir.path().join("dry");
    assert_quiet(&[
        "export",
        "--token",
        "demo-public",
        "--out",
        out.to_str().unwrap(),
        "--dry-run",
    ]);
    let out = dir.path().join("json");
    assert_quiet(&export_args(
        "demo-public",
        "minimal",
        out.to_str().unwrap(),
        &["--quiet", "--format", "json"],
    ));
    assert_quiet(&["verify", old, "--format", "json"]);
    assert_quiet(&["--help"]);
    assert_quiet(&["export", "--help"]);
}
