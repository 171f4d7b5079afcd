#![allow(dead_code)] // each benchmark uses a subset of these helpers
//! Helpers shared by the benchmarks: arguments and running the real binary under
//! `/usr/bin/time` (Debian's `time`) for wall time and peak RSS.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The value after `name` on the command line.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The release binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_matrix-snapshot");

/// Runs the binary (under `/usr/bin/time` when present): (seconds, peak RSS in MiB, stderr).
pub fn timed(args: &[&str]) -> (f64, Option<f64>, String) {
    run_timed(BIN, args, &[0])
}

/// Runs `bin args` (under `/usr/bin/time` when present), its standard output dropped, and
/// expects one of the exit codes `ok`: (seconds, peak RSS in MiB, stderr).
pub fn run_timed(bin: &str, args: &[&str], ok: &[i32]) -> (f64, Option<f64>, String) {
    let started = Instant::now();
    let mut command = if Path::new("/usr/bin/time").exists() {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "PEAK_RSS_KB=%M", bin]);
        c
    } else {
        Command::new(bin)
    };
    let out = command
        .args(args)
        .stdout(std::process::Stdio::null())
        .output()
        .expect("run matrix-snapshot");
    let secs = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.code().is_some_and(|c| ok.contains(&c)),
        "matrix-snapshot {args:?} failed:\n{stderr}"
    );
    let rss = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("PEAK_RSS_KB="))
        .next_back()
        .and_then(|kb| kb.trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0);
    (secs, rss, stderr)
}

/// `export --quiet --store STORE --token gen-public --profile PROFILE --out OUT`: the
/// generated store's export.
pub fn export_args<'a>(store: &'a str, out: &'a str, profile: &'a str) -> Vec<&'a str> {
    vec![
        "export",
        "--quiet",
        "--store",
        store,
        "--token",
        "gen-public",
        "--profile",
        profile,
        "--out",
        out,
    ]
}

/// A fresh scratch directory `<prefix>XXXX` in `base`, deleted when dropped.
pub fn scratch(prefix: &str, base: impl AsRef<Path>) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(base)
        .expect("create the scratch directory")
}

/// `sync`: the earlier steps' writes on disk, so that a timed step pays for none of them.
pub fn sync() {
    Command::new("sync").status().expect("run sync");
}

/// After a [`sync`], [`timed`] `export --quiet --store STORE --token gen-public --profile
/// PROFILE --out OUT` and `extra`: the generated store's export of the lifecycle and pack
/// benchmarks.
pub fn export_generated(
    store: &str,
    out: &str,
    profile: &str,
    extra: &[&str],
) -> (f64, Option<f64>, String) {
    sync();
    let mut args = export_args(store, out, profile);
    args.extend_from_slice(extra);
    timed(&args)
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `addr` accepts connections within 20 s.
pub fn wait_listening(addr: &str) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if std::net::TcpStream::connect(addr).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A server process, stopped on drop. It runs in a process group of its own, and the signals
/// go to the whole group: killing only nginx's master would leave its workers running (and
/// loading the machine under the next benchmark).
pub struct Process(Child);

impl Process {
    /// Spawns `command` in a process group of its own.
    pub fn spawn(command: &mut Command) -> std::io::Result<Process> {
        use std::os::unix::process::CommandExt;
        command.process_group(0).spawn().map(Process)
    }

    fn signal(&self, signal: &str) {
        // Quietly: the group may be gone already.
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.0.id())])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Drop for Process {
    /// SIGTERM to the group, up to 5 s to exit, then SIGKILL to what is left of it.
    fn drop(&mut self) {
        self.signal("-TERM");
        for _ in 0..100 {
            if let Ok(Some(_)) = self.0.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.signal("-KILL");
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How [`edit_store_with`] edits an asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // each bench uses some
pub enum Edit {
    /// Its name, its contents and an attribute: a rename changes its descendants' lineages and
    /// its parent's children pages too.
    Rename,
    /// Its contents and an attribute, the name kept: what an editor's day mostly is.
    Content,
}

/// Copies a store, editing every 100th asset (name, contents, an attribute).
pub fn edit_store(from: &Path, to: &Path) -> usize {
    edit_store_with(from, to, Edit::Rename)
}

/// Copies a store, editing every 100th asset as `edit` says.
pub fn edit_store_with(from: &Path, to: &Path, edit: Edit) -> usize {
    std::fs::create_dir_all(to).unwrap();
    let mut edited = 0;
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name != "assets.jsonl" {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap();
        let mut out = String::with_capacity(text.len() + 1024);
        for (i, line) in text.lines().enumerate() {
            if i % 100 == 50 {
                let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
                if edit == Edit::Rename {
                    let name = format!("{} (revised)", v["name"].as_str().unwrap_or(""));
                    v["name"] = name.into();
                }
                let contents = format!("{}<p>Revised.</p>", v["contents"].as_str().unwrap_or(""));
                v["contents"] = contents.into();
                if let Some(a) = v["attributes"].as_object_mut() {
                    a.insert("revision".into(), 2.into());
                }
                out.push_str(&serde_json::to_string(&v).unwrap());
                edited += 1;
            } else {
                out.push_str(line);
            }
            out.push('\n');
        }
        std::fs::write(to.join(&name), out).unwrap();
    }
    edited
}
