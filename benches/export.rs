//! Export benchmark (`cargo bench --bench export -- --assets N --profile P [--wget N]`).
//!
//! On a generated store of N assets:
//! 1. `matrix-snapshot export` (the release binary under `/usr/bin/time`) into a fresh
//!    directory: wall time, files/s, MB/s, peak RSS, output size, dedupe saving;
//! 2. right after, on the same disk and with no delete in between, a plain single-threaded
//!    `std::fs::write` loop writing the same number of files of the same sizes into another fresh
//!    directory (1,000 per directory): the ratio export/raw says how close the exporter gets to
//!    what this disk allows (its create rate swings 10× after large deletes, so only an
//!    interleaved baseline is meaningful: ext4 scans recently freed inodes on every create).
//!    When both do not fit on the disk (1M assets: about 35 GB each), the export is deleted
//!    first, then `sync` and two minutes' wait before the loop; the table says so;
//! 3. with `--wget N`: Debian's `wget -i urls.txt` (keep-alive, the bearer header) fetching N
//!    routes from `matrix-snapshot serve`, scaled to all routes, as a ratio to the export.
//!
//! Everything is written under a fresh scratch directory and deleted at the end.

mod common;
use common::{arg, scratch, timed, BIN};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

struct ManifestSummary {
    sizes: Vec<u64>,
    requests: Vec<String>,
    unique_bytes: u64,
}

fn read_manifest(dir: &Path) -> ManifestSummary {
    let text = std::fs::read_to_string(dir.join("manifest.jsonl")).expect("manifest");
    let mut sizes = Vec::new();
    let mut requests = Vec::new();
    let mut unique = std::collections::HashMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let size = v["size"].as_u64().unwrap();
        sizes.push(size);
        unique.insert(v["blake3"].as_str().unwrap().to_string(), size);
        if v["status"] == 200 {
            if let Some(r) = v["requests"][0].as_str() {
                requests.push(r.to_string());
            }
        }
    }
    ManifestSummary {
        sizes,
        requests,
        unique_bytes: unique.values().sum(),
    }
}

/// Seconds to wait after deleting the export before the raw loop (ext4 without a journal does
/// not reuse inodes freed in the last ~60 s, and scanning past them slows creates 10×).
const SETTLE_SECS: u64 = 120;

/// The plain loop: one thread, `fs::write` of same-sized files, 1,000 per directory.
fn raw_loop(dir: &Path, sizes: &[u64]) -> f64 {
    let max = sizes.iter().copied().max().unwrap_or(0) as usize;
    let buf = vec![b'x'; max];
    let started = Instant::now();
    for (i, &size) in sizes.iter().enumerate() {
        let sub = dir.join(format!("d{}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        std::fs::write(sub.join(format!("f{i}.json")), &buf[..size as usize]).unwrap();
    }
    started.elapsed().as_secs_f64()
}

fn main() {
    let assets: u64 = arg("--assets")
        .map(|s| s.parse().expect("--assets N"))
        .unwrap_or(10_000);
    let profile = arg("--profile").unwrap_or_else(|| "standard".into());
    let wget_sample: usize = arg("--wget")
        .map(|s| s.parse().expect("--wget N"))
        .unwrap_or(0);
    let base = arg("--dir").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
    });
    let scratch = scratch("matrix-snapshot-export-bench-", &base);
    let store = scratch.path().join("store");
    let out = scratch.path().join("out");
    let raw = scratch.path().join("raw");
    let s = store.to_str().unwrap();

    println!("## export benchmark: {assets} assets, profile `{profile}`\n");
    println!("| step | figure |\n|---|---|");
    let (secs, _, _) = timed(&[
        "generate",
        "--assets",
        &assets.to_string(),
        "--seed",
        "1",
        "--out",
        s,
    ]);
    println!("| generate | {secs:.1} s |");
    let (secs, rss, stderr) = timed(&[
        "export",
        "--store",
        s,
        "--token",
        "gen-public",
        "--profile",
        &profile,
        "--out",
        out.to_str().unwrap(),
    ]);
    let m = read_manifest(&out);
    let files = m.sizes.len() as f64;
    let bytes: u64 = m.sizes.iter().sum();
    let summary = stderr
        .lines()
        .find(|l| l.contains("exported"))
        .unwrap_or("")
        .to_string();
    println!(
        "| export (`gen-public`) | {secs:.1} s, {:.0} files/s, {:.1} MB/s served, peak RSS {} |",
        files / secs,
        bytes as f64 / 1e6 / secs,
        rss.map_or("n/a".into(), |r| format!("{r:.0} MiB"))
    );
    println!(
        "| output | {} files, {:.1} MB served, {:.1} MB stored after dedupe ({:.0} % saved) |",
        m.sizes.len(),
        bytes as f64 / 1e6,
        m.unique_bytes as f64 / 1e6,
        100.0 * (1.0 - m.unique_bytes as f64 / bytes.max(1) as f64)
    );
    // The raw loop stores every file whole (no hard links), in 4 KiB blocks. At 1M assets the
    // export and the loop do not fit side by side on this disk (68 GB free, 16.7M inodes):
    // then the export is deleted first, and the loop starts once ext4 reuses freed inodes
    // again (it skips inodes freed in about the last minute, longer while their table is dirty).
    let raw_needs: u64 = m
        .sizes
        .iter()
        .map(|s| s.div_ceil(4096).max(1) * 4096)
        .sum::<u64>()
        + m.sizes.len() as u64 / 1000 * 4096;
    let free = matrix_snapshot::export::free_bytes(scratch.path()).unwrap_or(u64::MAX);
    let free_inodes = rustix::fs::statvfs(scratch.path()).map_or(u64::MAX, |s| s.f_favail);
    let raw_inodes = m.sizes.len() as u64 + m.sizes.len() as u64 / 1000;
    let raw_when = if raw_needs + raw_needs / 10 > free
        || raw_inodes + raw_inodes / 10 > free_inodes
    {
        let started = Instant::now();
        std::fs::remove_dir_all(&out).unwrap();
        let deleted = started.elapsed().as_secs_f64();
        Command::new("sync").status().unwrap();
        std::thread::sleep(std::time::Duration::from_secs(SETTLE_SECS));
        println!(
            "| the export deleted first: the loop needs {:.1} GB, {:.1} GB free | deleted in {deleted:.0} s, then `sync` and {SETTLE_SECS} s for the disk to settle |",
            raw_needs as f64 / 1e9,
            free as f64 / 1e9
        );
        "fresh dir after the export was deleted"
    } else {
        "fresh dir right after"
    };
    let raw_secs = raw_loop(&raw, &m.sizes);
    println!("| raw `std::fs::write` loop, same count and sizes, {raw_when} | {raw_secs:.1} s, {:.0} files/s |", files / raw_secs);
    println!(
        "| **export / raw rate** | **{:.0} %** |",
        100.0 * raw_secs / secs
    );

    if let Some(wget_sample) = std::num::NonZeroUsize::new(wget_sample) {
        let wget_sample = wget_sample.get();
        let mut child = Command::new(BIN)
            .args(["serve", "--store", s, "--listen", "127.0.0.1:0", "--quiet"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let addr = loop {
            line.clear();
            std::io::BufRead::read_line(&mut err, &mut line).unwrap();
            if let Some(rest) = line.split("listening on http://").nth(1) {
                break rest.split('/').next().unwrap().to_string();
            }
        };
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
        let step = (m.requests.len() / wget_sample).max(1);
        let sample: Vec<&String> = m.requests.iter().step_by(step).take(wget_sample).collect();
        let urls = scratch.path().join("urls.txt");
        let mut f = std::fs::File::create(&urls).unwrap();
        for r in &sample {
            writeln!(f, "http://{addr}{r}").unwrap();
        }
        drop(f);
        let started = Instant::now();
        let status = Command::new("wget")
            .args([
                "-q",
                "-O",
                "/dev/null",
                "--header",
                "Authorization: Bearer gen-public",
                "-i",
                urls.to_str().unwrap(),
            ])
            .status()
            .expect("wget (apt-get install wget)");
        let wget_secs = started.elapsed().as_secs_f64();
        let _ = child.kill();
        let _ = child.wait();
        assert!(status.success(), "wget failed: {status}");
        let scaled = wget_secs * m.requests.len() as f64 / sample.len() as f64;
        println!("| wget crawl of `serve`: {} routes | {wget_secs:.1} s → {scaled:.0} s scaled to all {} 200-routes |", sample.len(), m.requests.len());
        println!(
            "| **export speed-up over the crawl** | **{:.1}×** |",
            scaled / secs
        );
    }
    println!("\n(export summary: {summary})");
    let started = Instant::now();
    drop(scratch);
    eprintln!(
        "(removed the scratch directory in {:.1}s)",
        started.elapsed().as_secs_f64()
    );
}
