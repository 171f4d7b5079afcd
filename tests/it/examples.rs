//! Every example of README.md and of each command's `--help` works as printed (issue 19).
//!
//! The examples are read from README.md (its `sh` code blocks) and from the binary's `--help`
//! output, so they cannot drift from what a reader sees. They run in order in one directory: the
//! README first (it makes `dist`, which the commands' examples use), then each command's
//! examples. `cargo run --release --` is the built binary; servers (`serve`, `preview`, nginx,
//! Apache) get free ports in place of the printed ones, and every URL follows; `curl` examples
//! are sent with the same header and must answer 200 (or the 404 their comment announces).
//! Examples that need a live Matrix or `cargo install` are not run here: the binary's unit test
//! `cli::tests::every_example_parses` checks every example's arguments with clap.

use crate::hosts::{free_port, readable_tempdir, require, wait_listening, Process};
use crate::util::{bin, http, repo, Served};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The example lines of README.md's `sh` code blocks, with `cargo run --release --` spelled
/// `matrix-snapshot`.
fn readme_examples() -> Vec<String> {
    let text = std::fs::read_to_string(repo("README.md")).unwrap();
    let mut lines = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("```") {
            inside = !inside && line == "```sh";
            continue;
        }
        let line = line.trim();
        if inside && !line.is_empty() && !line.starts_with('#') {
            lines.push(line.replace("cargo run --release -- ", "matrix-snapshot "));
        }
    }
    lines
}

/// The lines under EXAMPLES: in `matrix-snapshot COMMAND --help`.
fn help_examples(command: &str) -> Vec<String> {
    let out = bin().args([command, "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .skip_while(|l| *l != "EXAMPLES:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim().to_string())
        .collect()
}

/// The commands, in `--help` order.
fn commands() -> Vec<String> {
    let out = bin().arg("--help").output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // A description that wraps continues on lines indented further.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

/// A directory where examples run, and the servers they started.
struct Session {
    dir: tempfile::TempDir,
    path: String,
    /// Printed address -> the address really used.
    addrs: BTreeMap<String, String>,
    served: Vec<Served>,
    /// Apache and its workers (a process group, stopped as one).
    children: Vec<Process>,
    ran: usize,
    /// Exports already run with the same arguments (their result is the same: run once).
    exported: std::collections::BTreeSet<String>,
}

impl Session {
    fn new() -> Session {
        let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_matrix-snapshot"))
            .parent()
            .unwrap()
            .to_path_buf();
        let mut path = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .collect::<Vec<_>>();
        path.insert(0, bin_dir);
        if let Some(venv) = std::env::var_os("MATRIX_SNAPSHOT_VENV") {
            path.insert(1, PathBuf::from(venv).join("bin"));
        }
        path.extend([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")]);
        let path = std::env::join_paths(path).unwrap().into_string().unwrap();
        // The README is read in a clone of the repository: its examples may name files in it.
        let dir = readable_tempdir();
        std::os::unix::fs::symlink(repo("demo"), dir.path().join("demo")).unwrap();
        Session {
            dir,
            path,
            addrs: BTreeMap::new(),
            served: Vec::new(),
            children: Vec::new(),
            ran: 0,
            exported: Default::default(),
        }
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the servers of the previous script (they listened on the printed addresses).
    fn stop_servers(&mut self) {
        self.served.clear();
        self.children.clear();
        let pid = self.dir().join("nginx.pid");
        if let Ok(pid) = std::fs::read_to_string(&pid) {
            let _ = Command::new("kill").arg(pid.trim()).status();
            let _ = std::fs::remove_file(pid);
        }
        self.addrs.clear();
    }

    /// `line` with every printed address replaced by the one in use.
    fn mapped(&self, line: &str) -> String {
        self.addrs
            .iter()
            .fold(line.to_string(), |l, (from, to)| l.replace(from, to))
    }

    /// The programs `line` needs besides matrix-snapshot and bash builtins, if one is missing.
    fn missing_program(&self, line: &str) -> Option<String> {
        let programs = [
            ("nginx ", "apt-get install nginx-light libnginx-mod-http-js"),
            ("apache2 ", "apt-get install apache2-bin"),
            ("| jq", "apt-get install jq"),
            ("wacz ", "pip install wacz (or MATRIX_SNAPSHOT_VENV)"),
        ];
        for (word, install) in programs {
            if line.starts_with(word) || (word.starts_with('|') && line.contains(word)) {
                let name = word.trim_start_matches("| ").trim();
                let found = std::env::split_paths(&self.path).any(|d| d.join(name).is_file());
                if !found {
                    // Same rule as the host tests: skip, or fail when they are required.
                    require(name, install);
                    return Some(name.to_string());
                }
            }
        }
        None
    }

    /// Runs one example line.
    fn run(&mut self, source: &str, line: &str) {
        let (command, comment) = match line.find("  #") {
            Some(i) => (line[..i].trim(), line[i + 3..].trim()),
            None => (line, ""),
        };
        if needs_live_matrix_or_install(command) {
            return;
        }
        if let Some(program) = self.missing_program(command) {
            eprintln!("examples: skipped {source} `{command}`: {program} is not installed");
            return;
        }
        let what = format!("{source}: `{line}`");
        // Several commands' examples start with the README's export: the same snapshot.
        if command.starts_with("matrix-snapshot export ")
            && !command.contains("--changed-list")
            && !self.exported.insert(command.to_string())
        {
            return;
        }
        self.ran += 1;
        let started = std::time::Instant::now();
        self.run_command(&what, command, comment);
        eprintln!("examples: {:5.1}s {what}", started.elapsed().as_secs_f64());
    }

    fn run_command(&mut self, what: &str, command: &str, comment: &str) {
        // Router configs name a listen address: give it a free port before the config is made.
        if let Some(addr) = command
            .split_once("--listen ")
            .map(|(_, rest)| rest.split(' ').next().unwrap().to_string())
        {
            if command.starts_with("matrix-snapshot router") {
                let port = free_port();
                self.addrs.insert(addr, format!("127.0.0.1:{port}"));
            }
        }
        let command = self.mapped(command);
        let words: Vec<&str> = command.split_whitespace().collect();
        match words.as_slice() {
            ["curl", ..] => self.curl(what, &command, comment),
            ["matrix-snapshot", "serve" | "preview", ..] => self.server(&command),
            ["apache2", ..] => {
                let child = Process::spawn_group(
                    "apache2",
                    Command::new("bash")
                        .args(["-c", &format!("exec {command}")])
                        .current_dir(self.dir())
                        .env("PATH", &self.path)
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null()),
                );
                self.children.push(child);
                let listen = self.listening_on("apache.conf");
                wait_listening(&listen);
            }
            _ => {
                let out = self.bash(&command);
                let code = out.status.code();
                // diff(1)'s convention: 1 means "there are differences".
                let ok = code == Some(0)
                    || (code == Some(1)
                        && command.starts_with("matrix-snapshot diff")
                        && !command.contains('|'))
                    || (code == Some(1)
                        && command.contains(" --against ")
                        && only_nul_ids_differ(&String::from_utf8_lossy(&out.stdout)));
                assert!(
                    ok,
                    "{what} exited {code:?}\n--- stdout\n{}\n--- stderr\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                if command.starts_with("nginx ") && !command.contains(" -s ") {
                    let listen = self.listening_on("nginx.conf");
                    wait_listening(&listen);
                }
            }
        }
    }

    /// The address a config written by `router` listens on.
    fn listening_on(&self, config: &str) -> String {
        let text = std::fs::read_to_string(self.dir().join(config)).unwrap();
        self.addrs
            .values()
            .find(|a| text.contains(a.as_str()))
            .unwrap_or_else(|| panic!("{config} listens on none of {:?}", self.addrs))
            .clone()
    }

    fn bash(&self, command: &str) -> std::process::Output {
        Command::new("bash")
            .args(["-c", command])
            .current_dir(self.dir())
            .env("PATH", &self.path)
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .output()
            .expect("bash")
    }

    /// `matrix-snapshot serve|preview ...` (in the foreground or with `&`): started on a free
    /// port, which replaces the printed address (default 127.0.0.1:8080) from now on.
    fn server(&mut self, command: &str) {
        let command = command.trim_end_matches('&').trim();
        let mut args: Vec<String> = command
            .split_whitespace()
            .skip(1)
            .map(|s| s.to_string())
            .collect();
        let printed = match args.iter().position(|a| a == "--listen") {
            Some(i) => std::mem::replace(&mut args[i + 1], "127.0.0.1:0".into()),
            None => {
                args.extend(["--listen".into(), "127.0.0.1:0".into()]);
                "127.0.0.1:8080".into()
            }
        };
        // A server on the same printed address is the one this replaces (Ctrl-C first).
        if self.addrs.contains_key(&printed) {
            self.served.clear();
        }
        args.push("--quiet".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let served = Served::spawn_in(self.dir(), &args);
        self.addrs.insert(printed, served.addr.clone());
        self.served.push(served);
    }

    /// `curl -H 'NAME: VALUE' 'URL'`, sent as such; the answer must be 200, or the status the
    /// comment starts with.
    fn curl(&self, what: &str, command: &str, comment: &str) {
        let quoted: Vec<&str> = command.split('\'').skip(1).step_by(2).collect();
        let (header, url) = match quoted.as_slice() {
            [h, u] => (*h, *u),
            _ => panic!("{what}: expected curl -H 'HEADER' 'URL'"),
        };
        let (name, value) = header.split_once(": ").expect("a header");
        let rest = url.strip_prefix("http://").expect("an http URL");
        let (addr, target) = rest.split_at(rest.find('/').unwrap());
        let answer = http(addr, "GET", target, &[(name, value)]);
        let expected = comment
            .split(':')
            .next()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(200u16);
        assert_eq!(
            answer.status,
            expected,
            "{what}\n{}",
            String::from_utf8_lossy(&answer.body)
        );
        if expected == 200 {
            serde_json::from_slice::<serde_json::Value>(&answer.body)
                .unwrap_or_else(|e| panic!("{what}: the body is not JSON: {e}"));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop_servers();
    }
}

/// Whether every request a `conformance` report lists as wrong has a NUL in its path: nginx
/// answers those 404 before the token check (seen with `--requests 20000` on demo-public). The
/// spec's December revision puts the NUL check first, and the routers follow it in the
/// hostile-input work; remove this tolerance once that is merged.
fn only_nul_ids_differ(report: &str) -> bool {
    let requests: Vec<&str> = report
        .lines()
        .filter(|l| {
            [
                "  GET ",
                "  HEAD ",
                "  POST ",
                "  PUT ",
                "  DELETE ",
                "  OPTIONS ",
                "  PATCH ",
            ]
            .iter()
            .any(|m| l.starts_with(m))
        })
        .collect();
    !requests.is_empty() && requests.iter().all(|l| l.contains("%00"))
}

/// Lines this test does not run: a live Matrix, installing, or building.
fn needs_live_matrix_or_install(command: &str) -> bool {
    command.contains("example.edu")
        || command.contains("MATRIX_TOKEN=...")
        || command.starts_with("cargo ")
        || command.starts_with("man ")
}

#[test]
fn every_readme_and_help_example_works_as_printed() {
    let mut session = Session::new();
    let readme = readme_examples();
    assert!(readme.len() >= 10, "README examples found: {readme:?}");
    for line in &readme {
        session.run("README.md", line);
    }
    session.stop_servers();
    let commands = commands();
    assert!(commands.contains(&"export".to_string()), "{commands:?}");
    for command in commands {
        let examples = help_examples(&command);
        assert!(!examples.is_empty(), "{command} --help has examples");
        for line in &examples {
            session.run(&format!("{command} --help"), line);
        }
        session.stop_servers();
    }
    eprintln!("examples: ran {}", session.ran);
}
