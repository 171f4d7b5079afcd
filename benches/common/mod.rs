#![allow(dead_code)] // each benchmark uses a subset of these helpers
//! Helpers shared by the benchmarks: arguments and running the real binary under
//! `/usr/bin/time` (Debian's `time`) for wall time and peak RSS.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

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
    let started = Instant::now();
    let out = if Path::new("/usr/bin/time").exists() {
        Command::new("/usr/bin/time")
            .args(["-f", "PEAK_RSS_KB=%M", BIN])
            .args(args)
            .output()
    } else {
        Command::new(BIN).args(args).output()
    }
    .expect("run matrix-snapshot");
    let secs = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
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

/// Copies a store, editing every 100th asset.
pub fn edit_store(from: &Path, to: &Path) -> usize {
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
                let name = format!("{} (revised)", v["name"].as_str().unwrap_or(""));
                v["name"] = name.into();
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
