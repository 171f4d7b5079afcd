//! Snapshot lifecycle benchmark (`cargo bench --bench lifecycle -- [--assets N] [--profile P]`):
//! two releases of a generated store, the second with 1 % of its assets edited (name, contents,
//! one attribute), exported with the same token and profile; then
//! - `diff OLD NEW` (manifests first, only changed files opened): wall time;
//! - `verify NEW`: wall time and read rate (GB/s);
//! - `export` of the second release again onto the first snapshot's directory — incremental
//!   when it holds a snapshot of the same store lineage — against the full export's time.
//!
//! Each timed export starts after a `sync`. Everything is written under a fresh scratch
//! directory and deleted at the end.

mod common;
use common::{arg, edit_store, export_generated, scratch, sync, timed};

fn main() {
    let assets = arg("--assets").unwrap_or_else(|| "100000".into());
    let profile = arg("--profile").unwrap_or_else(|| "minimal".into());
    let scratch = scratch("msnap-life-", ".");
    let p = |name: &str| scratch.path().join(name).to_str().unwrap().to_string();
    timed(&["generate", "--assets", &assets, "--out", &p("store1")]);
    let edited = edit_store(
        &scratch.path().join("store1"),
        &scratch.path().join("store2"),
    );
    // Each timed export starts with the earlier steps' writes on disk (`sync`), so that none
    // pays for another's writeback: the first run of this benchmark timed an update behind
    // 2 GB of pending writes from the two full exports.
    let export = |store: &str, out: &str| export_generated(store, out, &profile, &[]);
    let (full1, rss1, _) = export(&p("store1"), &p("old"));
    let (full2, _, _) = export(&p("store2"), &p("new"));

    let (diff_s, _, _) = {
        let started = std::time::Instant::now();
        let out = std::process::Command::new(common::BIN)
            .args(["diff", &p("old"), &p("new"), "--format", "json", "--routes"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        eprintln!("diff summary: {} routes: {}", d["summary"], d["routes"]);
        (started.elapsed().as_secs_f64(), None::<f64>, ())
    };
    let verify = std::process::Command::new(common::BIN)
        .args(["verify", &p("new")])
        .output()
        .unwrap();
    assert!(verify.status.success());
    let verify_line = String::from_utf8_lossy(&verify.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();

    // Re-export release 2 onto release 1's snapshot (incremental when supported).
    sync();
    let (again, rss_again, stderr) = timed(&[
        "export",
        "--store",
        &p("store2"),
        "--token",
        "gen-public",
        "--profile",
        &profile,
        "--out",
        &p("old"),
        "--timings",
    ]);
    let summary = stderr
        .lines()
        .find(|l| l.contains("updated"))
        .unwrap_or("(not incremental)")
        .trim_start_matches("matrix-snapshot: ")
        .to_string();

    println!("\n## Lifecycle: {assets} assets, profile {profile}, {edited} assets edited (1 %)\n");
    println!("| step | seconds | note |");
    println!("|---|---:|---|");
    println!(
        "| full export, release 1 | {full1:.1} | peak RSS {:.0} MiB |",
        rss1.unwrap_or(0.0)
    );
    println!("| full export, release 2 | {full2:.1} | |");
    println!("| diff release 1 → 2 | {diff_s:.2} | |");
    println!("| verify release 2 | | {verify_line} |");
    println!(
        "| export release 2 onto release 1 | {again:.1} | {summary}; {:.1}× faster than full; peak RSS {:.0} MiB |",
        full2 / again.max(1e-9),
        rss_again.unwrap_or(0.0)
    );
    println!("\nPhases of the incremental export (`export --timings`):\n");
    println!("| phase | wall s | cpu s |");
    println!("|---|---:|---:|");
    for line in stderr
        .lines()
        .skip_while(|l| !l.ends_with("timings"))
        .skip(2)
    {
        // `<wall>s <cpu>s  <phase>  rss …` (the CPU column blank where the kernel does not say).
        let Some((wall, rest)) = line.trim().split_once("s ") else {
            continue;
        };
        let (cpu, phase) = rest.trim_start().split_once("s  ").unwrap_or(("", rest));
        if wall.parse::<f64>().is_ok() {
            println!("| {} | {wall} | {cpu} |", phase.trim());
        }
    }
}
