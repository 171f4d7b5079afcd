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
