//! Command-line behaviour: help, exit codes, errors that name file and line.

use crate::util::{export_args, repo, run};
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

fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is one JSON object ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `--format json` of check, verify and export: the documented fields (docs/json-output.md).
#[test]
fn check_verify_and_export_speak_json() {
    let out = run(&["check", "--format", "json"], 0);
    let check = json_of(&out);
    assert_eq!(check["format"], "matrix-snapshot-check/1");
    assert_eq!(check["valid"], true);
    assert_eq!(check["assets"], 205);
    let public = check["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["reads"] == 177)
        .expect("the public token reads 177 assets");
    assert_eq!(public["usable"], true);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("demo-public"));
    assert!(out.stderr.is_empty(), "no loaded line in json mode");

    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("s");
    let snap_s = snap.to_str().unwrap();
    let out = run(
        &export_args(
            "demo-public",
            "minimal",
            snap_s,
            &["--quiet", "--format", "json"],
        ),
        0,
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export = json_of(&out);
    assert_eq!(export["format"], "matrix-snapshot-export/1");
    assert_eq!(export["assets"], 177);
    assert_eq!(export["incremental"], false);
    let info: serde_json::Value =
        serde_json::from_slice(&fs::read(snap.join("snapshot.json")).unwrap()).unwrap();
    assert_eq!(export["root_hash"], info["root_hash"]);
    assert_eq!(export["files"], info["counts"]["files"]);

    let verify = json_of(&run(&["verify", snap_s, "--format", "json"], 0));
    assert_eq!(verify["format"], "matrix-snapshot-verify/1");
    assert_eq!(verify["ok"], true);
    assert_eq!(verify["files"], export["files"]);
    assert_eq!(verify["problems"], serde_json::json!([]));
    fs::write(snap.join("public/__api/stray"), "x").unwrap();
    let verify = json_of(&run(&["verify", snap_s, "--format", "json"], 1));
    assert_eq!(verify["ok"], false);
    assert_eq!(verify["counts"]["extra"], 1);
    assert_eq!(verify["problems"][0]["kind"], "extra");
    assert_eq!(verify["problems"][0]["path"], "public/__api/stray");
}

/// `completions SHELL` prints a script generated from the options (bash: valid syntax, knows
/// every command and option); `man` a roff page with a section per command and its examples
/// unfilled, hyphens as ASCII minus signs.
#[test]
fn completions_and_man_page_come_from_the_options() {
    let bash = String::from_utf8(run(&["completions", "bash"], 0).stdout).unwrap();
    for word in [
        "export",
        "diff",
        "archive",
        "--base-url",
        "--token-file",
        "--format",
    ] {
        assert!(bash.contains(word), "bash completion knows {word}");
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("c.bash");
    fs::write(&script, &bash).unwrap();
    let status = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .expect("bash");
    assert!(status.success(), "bash -n accepts the completion script");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        assert!(
            !run(&["completions", shell], 0).stdout.is_empty(),
            "{shell}"
        );
    }
    run(&["completions", "tcsh"], 2);

    let man = String::from_utf8(run(&["man"], 0).stdout).unwrap();
    assert!(
        man.starts_with(".ie") || man.starts_with(".TH"),
        "{}",
        &man[..80]
    );
    assert!(man.contains(".TH matrix-snapshot 1"), "title");
    for command in ["EXPORT", "VERIFY", "DIFF", "COMPLETIONS", "MAN"] {
        assert!(
            man.contains(&format!(".SH \"MATRIX-SNAPSHOT {command}\"")),
            "section for {command}"
        );
    }
    assert!(
        man.contains(".nf\nEXAMPLES:\n  matrix\\-snapshot export \\-\\-token demo\\-public \\-\\-base\\-url https://www.uni.test \\-\\-out dist\n"),
        "export's examples as written"
    );
}

/// Without a terminal (CI), `export` says what it starts and prints a progress line every few
/// seconds (here every 0.05 s); `-q` silences stderr entirely.
#[test]
fn export_progress_in_plain_lines_and_quiet_means_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s");
    let args = [
        "export",
        "--token",
        "demo-public",
        "--profile",
        "minimal",
        "--out",
        out.to_str().unwrap(),
    ];
    let run_with = |extra: &[&str]| {
        let out = crate::util::bin()
            .args(args)
            .args(extra)
            .env("MATRIX_SNAPSHOT_PROGRESS_SECS", "0.05")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stderr).unwrap()
    };
    let err = run_with(&["--progress", "plain", "--full"]);
    assert!(
        err.contains("matrix-snapshot: exporting 177 assets\n"),
        "{err}"
    );
    let line = err
        .lines()
        .find(|l| l.starts_with("matrix-snapshot: exporting: "))
        .unwrap_or_else(|| panic!("a progress line:\n{err}"));
    assert!(
        line.contains("/177 assets (") && line.contains("/s, "),
        "{line}"
    );
    // The default without a terminal is the same.
    assert!(run_with(&["--full"]).contains("matrix-snapshot: exporting 177 assets\n"));
    assert_eq!(run_with(&["--full", "-q"]), "", "-q: nothing on stderr");
}

/// NO_COLOR (https://no-color.org) turns diff's colours off on a terminal; --color always
/// still colours. The terminal is `script`'s pseudo-terminal.
#[test]
fn diff_on_a_terminal_honours_no_color() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: script(1) is not installed (util-linux)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    crate::util::export_public("minimal", None, &a, &[]);
    run(
        &export_args("demo-admin", "minimal", b.to_str().unwrap(), &["--quiet"]),
        0,
    );
    let on_tty = |no_color: Option<&str>, extra: &str| {
        let command = format!(
            "{} diff {} {} {extra}",
            env!("CARGO_BIN_EXE_matrix-snapshot"),
            a.display(),
            b.display()
        );
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-qec", &command, "/dev/null"])
            .env_remove("NO_COLOR");
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        String::from_utf8(cmd.output().unwrap().stdout).unwrap()
    };
    assert!(on_tty(None, "").contains("\x1b["), "coloured on a terminal");
    let plain = on_tty(Some("1"), "");
    assert!(
        plain.contains("became readable") && !plain.contains("\x1b["),
        "{plain}"
    );
    assert!(
        on_tty(Some(""), "").contains("\x1b["),
        "an empty NO_COLOR is unset"
    );
    assert!(on_tty(Some("1"), "--color always").contains("\x1b["));
}

/// Errors that teach: the profiles are listed, a token's name is not its value, the demo's
/// tokens are named, a byte order mark is named alone, a non-UTF-8 snapshot path is refused
/// before it becomes a wrong path in a config, and no cause repeats the headline.
#[test]
fn errors_teach_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s");
    let out_s = out.to_str().unwrap();
    let err = |args: &[&str]| String::from_utf8(run(args, 2).stderr).unwrap();

    let e = err(&export_args("demo-public", "huge", out_s, &[]));
    assert!(e.contains("minimal, standard, full"), "{e}");
    let e = err(&export_args("demo-public", "nope.toml", out_s, &[]));
    assert!(
        !e.contains("caused by"),
        "the headline already says it:\n{e}"
    );

    let e = err(&["export", "--token", "Public website build", "--out", out_s]);
    assert!(e.contains("is a token's name; pass its value"), "{e}");
    let e = err(&["export", "--token", "demo-publik", "--out", out_s]);
    assert!(
        e.contains("demo-public, demo-editor, demo-research and demo-admin"),
        "{e}"
    );
    assert!(!e.contains("check`"), "check shows names, not values:\n{e}");

    let store = dir.path().join("store");
    fs::create_dir(&store).unwrap();
    for entry in fs::read_dir(repo("tests/fixtures/stores/rules")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), store.join(entry.file_name())).unwrap();
    }
    let meta = store.join("store.json");
    let mut text = b"\xEF\xBB\xBF".to_vec();
    text.extend(fs::read(&meta).unwrap());
    fs::write(&meta, text).unwrap();
    let e = err(&["check", "--store", store.to_str().unwrap()]);
    assert!(
        e.contains("store.json:1: starts with a UTF-8 byte order mark"),
        "{e}"
    );
    assert!(e.contains("(1 problem)"), "the BOM alone, no cascade:\n{e}");

    use std::os::unix::ffi::OsStrExt;
    let odd = dir.path().join(std::ffi::OsStr::from_bytes(b"snap\xff"));
    let status = crate::util::bin()
        .args([
            "export",
            "--quiet",
            "--token",
            "demo-public",
            "--profile",
            "minimal",
            "--out",
        ])
        .arg(&odd)
        .status()
        .unwrap();
    assert!(status.success());
    let out = crate::util::bin()
        .args(["router", "nginx", "--snapshot"])
        .arg(&odd)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("is not valid UTF-8") && e.contains("move the snapshot"),
        "{e}"
    );
    assert!(out.stdout.is_empty(), "no config with a wrong path");
}

/// Examples in `--help` are whole command lines even where they are longer than the 100
/// columns clap wraps help to without a terminal; the prose above them still wraps.
#[test]
fn help_examples_are_never_wrapped() {
    let text = String::from_utf8(run(&["export", "--help"], 0).stdout).unwrap();
    let example = "  matrix-snapshot export --token demo-research --profile minimal --base-url https://research.uni.test --out research\n";
    assert!(example.len() > 100);
    assert!(text.contains(example), "{text}");
    let prose = text.lines().take_while(|l| *l != "EXAMPLES:");
    for line in prose {
        assert!(line.chars().count() <= 100, "wrapped prose: {line:?}");
    }
    let via_help = String::from_utf8(run(&["help", "export"], 0).stdout).unwrap();
    assert!(via_help.contains(example), "help export: {via_help}");
}
