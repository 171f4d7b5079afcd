//! The servers side by side (`cargo bench --bench servers -- [--seconds S] [--connections
//! 32,1000] [--rounds R] [--bin PATH] [--route N]`): `wrk -t2 -cC` against one route of the
//! demo's `minimal` export (token demo-public) served three ways:
//!
//! - `serve`: the live API over the embedded demo store (`answer()` per request);
//! - `preview`: the snapshot's routing over its files;
//! - nginx: the same bytes as a plain static file (no routing, no token check): the ceiling a
//!   static web server sets on this machine.
//!
//! The three servers run at once and are measured in turn, `--rounds` times (3 by default), and
//! each figure is the median of its rounds: on a shared machine, load that comes and goes then
//! falls on all three alike. `--bin` runs another build of matrix-snapshot (an older one, for
//! before/after figures).
//! Everything is written under a fresh scratch directory (`--scratch DIR`, default `.`) and
//! deleted at the end. Prints a Markdown table: requests/s, p50, p99, socket errors and
//! non-2xx answers, and each figure's ratio to nginx's at the same concurrency.

mod common;
use common::{arg, free_port, scratch, wait_listening, Process, BIN};

use std::path::Path;
use std::process::{Command, Stdio};

struct Figure {
    server: String,
    connections: u32,
    rps: f64,
    p50: String,
    p99: String,
    errors: String,
    non_2xx: u64,
}

fn wrk(server: &str, url: &str, connections: u32, seconds: u64) -> Option<Figure> {
    let out = Command::new("wrk")
        .args([
            "-t2".to_string(),
            format!("-c{connections}"),
            format!("-d{seconds}s"),
            "--latency".to_string(),
            "-H".to_string(),
            "Authorization: Bearer demo-public".to_string(),
            url.to_string(),
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .map(|l| l.trim_start()[prefix.len()..].trim().to_string())
    };
    let first = |s: Option<String>| {
        s.and_then(|s| s.split_whitespace().next().map(str::to_string))
            .unwrap_or_default()
    };
    let rps: f64 = field("Requests/sec:")?.parse().ok()?;
    Some(Figure {
        server: server.to_string(),
        connections,
        rps,
        p50: first(field("50%")),
        p99: first(field("99%")),
        errors: field("Socket errors:").unwrap_or_else(|| "-".into()),
        non_2xx: field("Non-2xx or 3xx responses:")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    })
}

fn spawn(bin: &str, args: &[&str], addr: &str) -> Process {
    let p = Process::spawn(
        Command::new(bin)
            .args(args)
            .args(["--listen", addr, "--quiet"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .expect("start matrix-snapshot");
    assert!(wait_listening(addr), "{args:?} did not start");
    p
}

fn nginx(root: &Path, addr: &str) -> Option<Process> {
    let program = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let conf = root.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes auto;\npid {pid};\nerror_log {err} crit;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {tmp};\n  proxy_temp_path {tmp};\n\
             \x20 fastcgi_temp_path {tmp};\n  uwsgi_temp_path {tmp};\n  scgi_temp_path {tmp};\n\
             \x20 server {{\n    listen {addr};\n    root {www};\n\
             \x20   location / {{ default_type \"application/json; charset=utf-8\"; }}\n  }}\n}}\n",
            pid = root.join("nginx.pid").display(),
            err = root.join("error.log").display(),
            tmp = root.join("tmp").display(),
            www = root.join("www").display(),
        ),
    )
    .unwrap();
    let p = Process::spawn(
        Command::new(program)
            .args([
                "-c",
                conf.to_str()?,
                "-p",
                root.to_str()?,
                "-g",
                "daemon off;",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .ok()?;
    wait_listening(addr).then_some(p)
}

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed (apt-get install wrk)");
        std::process::exit(2);
    }
    let seconds: u64 = arg("--seconds").and_then(|s| s.parse().ok()).unwrap_or(10);
    let connections: Vec<u32> = arg("--connections")
        .unwrap_or_else(|| "32,1000".into())
        .split(',')
        .map(|c| c.parse().expect("--connections 32,1000"))
        .collect();
    let bin = arg("--bin").unwrap_or_else(|| BIN.to_string());
    let nth: usize = arg("--route").and_then(|s| s.parse().ok()).unwrap_or(0);
    let scratch = scratch(
        "msnap-servers-",
        arg("--scratch").unwrap_or_else(|| ".".into()),
    );
    let snap = scratch.path().join("snap");
    let out = Command::new(&bin)
        .args([
            "export",
            "--quiet",
            "--token",
            "demo-public",
            "--profile",
            "minimal",
        ])
        .arg("--out")
        .arg(&snap)
        .output()
        .expect("run matrix-snapshot");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The route: the nth 200 line of the manifest, and its file's bytes for nginx.
    let manifest = std::fs::read_to_string(snap.join("manifest.jsonl")).unwrap();
    let line = manifest
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["status"] == 200)
        .nth(nth)
        .expect("a 200 route");
    let route = line["requests"][0].as_str().unwrap().to_string();
    let file = line["path"].as_str().unwrap();
    let body = std::fs::read(snap.join(file)).unwrap();
    let www = scratch.path().join("nginx/www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::create_dir_all(scratch.path().join("nginx/tmp")).unwrap();
    std::fs::write(www.join("route.json"), &body).unwrap();
    let _ = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(scratch.path())
        .status();

    let rounds: usize = arg("--rounds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1);
    let snap_arg = snap.to_str().unwrap();
    let mut running = Vec::new();
    let mut servers: Vec<(String, String)> = Vec::new();
    for (name, args) in [
        ("serve", vec!["serve"]),
        ("preview", vec!["preview", snap_arg]),
    ] {
        let addr = format!("127.0.0.1:{}", free_port());
        running.push(spawn(&bin, &args, &addr));
        servers.push((name.to_string(), format!("http://{addr}{route}")));
    }
    let addr = format!("127.0.0.1:{}", free_port());
    match nginx(&scratch.path().join("nginx"), &addr) {
        Some(p) => {
            running.push(p);
            servers.push((
                "nginx (static file)".to_string(),
                format!("http://{addr}/route.json"),
            ));
        }
        None => eprintln!("nginx: skipped (not installed or did not start)"),
    }
    let mut runs: Vec<Vec<Figure>> = Vec::new();
    for _ in 0..rounds {
        for (name, url) in &servers {
            for &c in &connections {
                if let Some(f) = wrk(name, url, c, seconds) {
                    match runs
                        .iter_mut()
                        .find(|r| r[0].server == f.server && r[0].connections == c)
                    {
                        Some(r) => r.push(f),
                        None => runs.push(vec![f]),
                    }
                }
            }
        }
    }
    drop(running);
    // The median round of each server and concurrency.
    let figures: Vec<Figure> = runs
        .into_iter()
        .map(|mut r| {
            r.sort_by(|a, b| a.rps.total_cmp(&b.rps));
            let all = r
                .iter()
                .map(|f| format!("{:.0}", f.rps))
                .collect::<Vec<_>>();
            let mut median = r.swap_remove(r.len() / 2);
            median.errors = format!("{} (rounds: {})", median.errors, all.join(", "));
            median
        })
        .collect();

    println!(
        "\n## One demo route ({route}, {} bytes): wrk -t2 -d{seconds}s, median of {rounds}, {}\n",
        body.len(),
        if bin == BIN { "this build" } else { &bin }
    );
    println!(
        "| server | connections | requests/s | vs nginx | p50 | p99 | socket errors | non-2xx |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|---:|");
    for f in &figures {
        let nginx = figures
            .iter()
            .find(|g| g.server.starts_with("nginx") && g.connections == f.connections)
            .map_or(f64::NAN, |g| g.rps);
        println!(
            "| {} | {} | {:.0} | {:.0} % | {} | {} | {} | {} |",
            f.server,
            f.connections,
            f.rps,
            100.0 * f.rps / nginx,
            f.p50,
            f.p99,
            f.errors,
            f.non_2xx
        );
    }
}
