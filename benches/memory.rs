//! Memory benchmark (`cargo bench --bench memory -- --assets N [--skip files] [--bin PATH]`): the peak
//! resident memory (GNU `time -f %M`, the figure issue 20's goals are in) beside the wall time of
//! every command a large site runs, on a generated store of N assets (`minimal` profile):
//!
//! `check`; `export` in the files layout and in the pack layout; `serve` after loading and
//! after `wrk -t2 -c32` for 30 s over many distinct routes (its `VmHWM`, read before it is
//! stopped); `verify` of a snapshot; `diff` of two snapshots (the store, then the store with 1 %
//! of assets edited, as `benches/lifecycle.rs`); the incremental update after that edit, in both
//! layouts.
//!
//! `--bin PATH` measures another build (an older one, for the figures before a change).
//! `--skip files` leaves out the files layout's exports, diff and update (at 1M assets they
//! write 8.3M files each, 10 GB). Everything is written under a fresh scratch directory in the
//! current directory and deleted at the end.

mod common;
use common::{arg, edit_store, export_args, free_port, run_timed, scratch, sync, BIN};

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One measured command.
struct Row {
    what: String,
    secs: f64,
    rss_mib: Option<f64>,
}

fn main() {
    let assets = arg("--assets").unwrap_or_else(|| "100000".into());
    let skip_files = arg("--skip").is_some_and(|s| s.split(',').any(|x| x == "files"));
    let wrk_secs: u64 = arg("--wrk-seconds")
        .map(|s| s.parse().expect("--wrk-seconds N"))
        .unwrap_or(30);
    let scratch = scratch("msnap-memory-", ".");
    let p = |name: &str| scratch.path().join(name).to_str().unwrap().to_string();
    let bin = arg("--bin").unwrap_or_else(|| BIN.to_string());
    let mut rows = Vec::new();
    let mut run = |what: &str, args: &[&str]| {
        sync();
        // `diff` exits 1 when the snapshots differ.
        let ok: &[i32] = if args[0] == "diff" { &[0, 1] } else { &[0] };
        let (secs, rss_mib, _) = run_timed(&bin, args, ok);
        eprintln!("{what}: {secs:.1} s, {rss_mib:?} MiB");
        rows.push(Row {
            what: what.to_string(),
            secs,
            rss_mib,
        });
    };
    run(
        "generate",
        &["generate", "--assets", &assets, "--out", &p("store1")],
    );
    edit_store(
        &scratch.path().join("store1"),
        &scratch.path().join("store2"),
    );
    macro_rules! exported {
        ($what:expr, $store:expr, $out:expr, $layout:expr) => {{
            let (store, out) = (p($store), p($out));
            let mut args = export_args(&store, &out, "minimal");
            args.extend(["--layout", $layout]);
            run($what, &args);
        }};
    }
    run("check", &["check", "--store", &p("store1")]);
    exported!("export, pack layout", "store1", "pack1", "pack");
    if !skip_files {
        exported!("export, files layout", "store1", "files1", "files");
        exported!(
            "export of the edited store, files layout",
            "store2",
            "files2",
            "files"
        );
        run("verify, files layout", &["verify", &p("files1")]);
        run(
            "diff, files layout",
            &["diff", "--format", "json", &p("files1"), &p("files2")],
        );
        exported!(
            "update after 1 % edited, files layout",
            "store2",
            "files1",
            "files"
        );
    }
    run("verify, pack layout", &["verify", &p("pack1")]);
    exported!(
        "export of the edited store, pack layout",
        "store2",
        "pack2",
        "pack"
    );
    run(
        "diff, pack layout",
        &["diff", "--format", "json", &p("pack1"), &p("pack2")],
    );
    exported!(
        "update after 1 % edited, pack layout",
        "store2",
        "pack1",
        "pack"
    );
    let served = serve(&bin, scratch.path(), wrk_secs);
    rows.extend(served);

    let mut table = format!(
        "\n## Peak resident memory, {assets} assets, `minimal` ({} cores)\n\n| command | wall s | peak RSS |\n|---|---:|---:|\n",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for r in &rows {
        let rss = r
            .rss_mib
            .map_or("?".into(), |m| format!("{:.0} MB", m * 1.048576));
        let _ = writeln!(table, "| {} | {:.1} | {rss} |", r.what, r.secs);
    }
    println!("{table}");
}

/// `serve` on the store: its peak RSS once it answers, then after `wrk -t2 -c32` for `secs`
/// over up to 50,000 distinct asset and children routes of the store's first assets, as token
/// `gen-public` (the answers are the API's: 403 for the assets its user may not read, which
/// the row counts as wrk's "Non-2xx").
fn serve(bin: &str, scratch: &Path, secs: u64) -> Vec<Row> {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let store = scratch.join("store1");
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(["serve", "--quiet", "--listen", &addr, "--store"])
        .arg(&store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start serve");
    let listening = (0..1200).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        std::net::TcpStream::connect(&addr).is_ok()
    });
    let mut rows = Vec::new();
    if listening {
        rows.push(Row {
            what: "serve, loaded".into(),
            secs: started.elapsed().as_secs_f64(),
            rss_mib: peak_rss_mib(child.id()),
        });
        let ids: Vec<String> = std::fs::read_to_string(store.join("assets.jsonl"))
            .unwrap()
            .lines()
            .take(50_000)
            .filter_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                Some(v["id"].as_str()?.to_string())
            })
            .collect();
        let mut lua = String::from("local paths = {\n");
        for id in &ids {
            let _ = writeln!(lua, "  \"/__api/assets/{id}?data=urls,attributes,metadata,contents\",\n  \"/__api/assets/{id}/children\",");
        }
        lua.push_str("}\nlocal i = 0\nrequest = function()\n  i = i % #paths + 1\n  return wrk.format(\"GET\", paths[i], {[\"Authorization\"] = \"Bearer gen-public\"})\nend\n");
        let script = scratch.join("paths.lua");
        std::fs::write(&script, lua).unwrap();
        let wrk = Command::new("wrk")
            .args(["-t2", "-c32", &format!("-d{secs}s"), "-s"])
            .arg(&script)
            .arg(format!("http://{addr}/"))
            .output();
        match wrk {
            Ok(out) if out.status.success() => {
                let text = String::from_utf8_lossy(&out.stdout);
                let rps = text
                    .lines()
                    .find(|l| l.starts_with("Requests/sec"))
                    .unwrap_or("Requests/sec: ?");
                let non_2xx = text
                    .lines()
                    .find(|l| l.trim_start().starts_with("Non-2xx"))
                    .map_or(String::new(), |l| format!(", {}", l.trim()));
                rows.push(Row {
                    what: format!(
                        "serve, after wrk -t2 -c32 {secs} s ({}{non_2xx})",
                        rps.trim()
                    ),
                    secs: secs as f64,
                    rss_mib: peak_rss_mib(child.id()),
                });
            }
            _ => eprintln!("wrk is not installed or failed: serve under load not measured"),
        }
    } else {
        eprintln!("serve did not start listening within 2 minutes");
    }
    let _ = child.kill();
    let _ = child.wait();
    rows
}

/// `VmHWM` of a running process, in MiB.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line["VmHWM:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}
