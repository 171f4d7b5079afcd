//! Serving benchmark (`cargo bench --bench hosts -- [--assets N] [--seconds S]`): `wrk` against
//! the same routes served live by `matrix-snapshot serve` (answer() per request) and from a
//! snapshot by `preview` and by every real server whose router config exists and whose binary
//! is installed (nginx, Apache, Caddy): requests/s and latency, and each one's ratio to `serve`.
//!
//! The routes: every 200 route of a `minimal` export of a generated store, in a shuffled order,
//! each with the token's `Authorization` header (a Lua script cycles through them). Everything
//! is written under a fresh scratch directory and deleted at the end.

mod common;
use common::{arg, free_port, scratch, wait_listening, Process, BIN};

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn run(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run matrix-snapshot");
    assert!(
        out.status.success(),
        "matrix-snapshot {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn which(program: &str) -> Option<String> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|d| format!("{d}/{program}"))
        .find(|p| Path::new(p).exists())
}

/// Starts a real server from its router config; `None` when not available.
fn start_host(
    host: &str,
    snapshot: &Path,
    scratch: &Path,
    addr: &str,
    token: &str,
) -> Option<Process> {
    let dir = scratch.join(host);
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, token).unwrap();
    let config = Command::new(BIN)
        .args([
            "router",
            host,
            "--snapshot",
            snapshot.to_str().unwrap(),
            "--listen",
            addr,
        ])
        .args(["--token-file", token_file.to_str().unwrap()])
        .output()
        .ok()?;
    if !config.status.success() {
        eprintln!(
            "{host}: no router config ({})",
            String::from_utf8_lossy(&config.stderr).trim()
        );
        return None;
    }
    let file = dir.join("config");
    std::fs::write(&file, &config.stdout).unwrap();
    let f = file.to_str().unwrap();
    let (program, args): (&str, Vec<String>) = match host {
        "nginx" => (
            "nginx",
            vec![
                "-c".into(),
                f.into(),
                "-p".into(),
                dir.to_str().unwrap().into(),
                "-g".into(),
                "daemon off;".into(),
            ],
        ),
        "apache" => (
            "apache2",
            vec!["-f".into(), f.into(), "-DFOREGROUND".into()],
        ),
        "caddy" => (
            "caddy",
            vec![
                "run".into(),
                "--config".into(),
                f.into(),
                "--adapter".into(),
                "caddyfile".into(),
            ],
        ),
        _ => return None,
    };
    let path = which(program)?;
    let s = Process::spawn(
        Command::new(path)
            .args(&args)
            .env("HOME", &dir)
            .env("XDG_DATA_HOME", &dir)
            .env("XDG_CONFIG_HOME", &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .ok()?;
    wait_listening(addr).then_some(s)
}

struct Result {
    name: String,
    rps: f64,
    p50: String,
    p99: String,
}

fn wrk(name: &str, addr: &str, script: &Path, seconds: u64) -> Option<Result> {
    let out = Command::new("wrk")
        .args(["-t2", "-c32", &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(script)
        .arg(format!("http://{addr}"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string())
    };
    let rps: f64 = field("Requests/sec:")?.parse().ok()?;
    if text.contains("Non-2xx") {
        eprintln!("{name}: some answers were not 200:\n{text}");
    }
    Some(Result {
        name: name.to_string(),
        rps,
        p50: field("50%").unwrap_or_default(),
        p99: field("99%").unwrap_or_default(),
    })
}

fn main() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed (apt-get install wrk)");
        std::process::exit(2);
    }
    let assets = arg("--assets").unwrap_or_else(|| "10000".into());
    let seconds: u64 = arg("--seconds").and_then(|s| s.parse().ok()).unwrap_or(10);
    let scratch = scratch("msnap-hosts-", ".");
    let store = scratch.path().join("store");
    let snap = scratch.path().join("snap");
    run(&[
        "generate",
        "--assets",
        &assets,
        "--out",
        store.to_str().unwrap(),
    ]);
    run(&[
        "export",
        "--quiet",
        "--store",
        store.to_str().unwrap(),
        "--token",
        "gen-public",
        "--profile",
        "minimal",
        "--out",
        snap.to_str().unwrap(),
    ]);
    // Make the scratch tree readable by servers that drop privileges.
    let _ = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(scratch.path())
        .status();
    let token = "gen-public";

    // The routes: every 200 request of the manifest, shuffled deterministically.
    let manifest = std::fs::read_to_string(snap.join("manifest.jsonl")).unwrap();
    let mut routes: Vec<String> = manifest
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["status"] == 200)
        .flat_map(|v| {
            v["requests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..routes.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        routes.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let list = scratch.path().join("routes.txt");
    std::fs::write(&list, routes.join("\n") + "\n").unwrap();
    let script = scratch.path().join("routes.lua");
    let mut f = std::fs::File::create(&script).unwrap();
    write!(
        f,
        r#"
local paths = {{}}
for line in io.lines("{list}") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], {{ ["Authorization"] = "Bearer {token}" }})
end
"#,
        list = list.display()
    )
    .unwrap();
    drop(f);

    let mut results = Vec::new();
    {
        let addr = format!("127.0.0.1:{}", free_port());
        let _s = Process::spawn(
            Command::new(BIN)
                .args([
                    "serve",
                    "--quiet",
                    "--store",
                    store.to_str().unwrap(),
                    "--listen",
                    &addr,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .unwrap();
        assert!(wait_listening(&addr), "serve did not start");
        results.extend(wrk("serve (live, answer())", &addr, &script, seconds));
    }
    {
        let addr = format!("127.0.0.1:{}", free_port());
        let _s = Process::spawn(
            Command::new(BIN)
                .args([
                    "preview",
                    "--quiet",
                    snap.to_str().unwrap(),
                    "--listen",
                    &addr,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .unwrap();
        assert!(wait_listening(&addr), "preview did not start");
        results.extend(wrk("preview (snapshot)", &addr, &script, seconds));
    }
    for host in ["nginx", "apache", "caddy"] {
        let addr = format!("127.0.0.1:{}", free_port());
        if let Some(_s) = start_host(host, &snap, scratch.path(), &addr, token) {
            results.extend(wrk(&format!("{host} (snapshot)"), &addr, &script, seconds));
        } else {
            eprintln!("{host}: skipped (not installed or no router config)");
        }
    }

    let base = results.first().map(|r| r.rps).unwrap_or(1.0);
    println!(
        "\n## Serving {} routes of a {assets}-asset minimal snapshot: wrk -t2 -c32 -d{seconds}s\n",
        routes.len()
    );
    println!("| server | requests/s | p50 | p99 | vs serve |");
    println!("|---|---:|---:|---:|---:|");
    for r in &results {
        println!(
            "| {} | {:.0} | {} | {} | {:.2}× |",
            r.name,
            r.rps,
            r.p50,
            r.p99,
            r.rps / base
        );
    }
}
