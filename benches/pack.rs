//! Pack layout benchmark (`cargo bench --bench pack -- --assets N --profile P`): both layouts
//! in one run, on a generated store of N assets.
//!
//! 1. `export` in the files layout, then in the pack layout, each into a fresh directory after
//!    a `sync`: wall time, peak RSS, files under `public/` (what a host must take), their bytes,
//!    the largest file;
//! 2. two second releases of the store, each exported onto the first release's pack snapshot
//!    with `--changed-list`: 1 % of assets renamed and edited (as `benches/lifecycle.rs`: a
//!    rename changes descendants' lineages and the parent's children pages), and 1 % with only
//!    their contents edited; for each, wall time and the bytes to upload (the added and
//!    modified files under `public/`: packs, shards, the root) as a share of a full upload;
//! 3. whether each layout fits the hosts' published file-count limits (`docs/hosting.md`);
//! 4. with `wrk` installed: `preview` latency, p50 and p99, over the same requests (up to 100,000
//!    distinct routes of the first release, each asked once or twice, so most answers miss
//!    `preview`'s answer cache and read the layout), after a first pass over up to 100,000
//!    other routes (a server in steady state: the pack layout's shards cached), files against
//!    pack, one connection; the
//!    same for the Cloudflare Worker in workerd (Miniflare, from `npm ci --prefix
//!    tests/hosts/cloudflare`) — Workers Static Assets for the files layout, a local R2 bucket
//!    for the pack layout — unless `--no-workerd` (Miniflare loads every file of the files
//!    layout at start: keep `--assets` small, a few thousand, for it).
//!
//! Everything is written under a fresh scratch directory (in `--scratch DIR`, default `.`) and
//! deleted at the end.

mod common;
use common::{arg, edit_store_with, export_generated, scratch, timed, Edit};

use std::fs;
use std::path::Path;

/// Files under `dir/public`, their total bytes and the largest.
fn public_files(dir: &Path) -> (u64, u64, u64) {
    let (mut n, mut bytes, mut largest) = (0, 0, 0);
    for e in walkdir::WalkDir::new(dir.join("public")) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let len = e.metadata().unwrap().len();
            n += 1;
            bytes += len;
            largest = largest.max(len);
        }
    }
    (n, bytes, largest)
}

fn main() {
    let assets = arg("--assets").unwrap_or_else(|| "100000".into());
    let profile = arg("--profile").unwrap_or_else(|| "minimal".into());
    // `--scratch DIR`: where the scratch directory goes (default: here).
    let scratch = scratch(
        "msnap-pack-",
        arg("--scratch").unwrap_or_else(|| ".".into()),
    );
    let p = |name: &str| scratch.path().join(name).to_str().unwrap().to_string();
    timed(&["generate", "--assets", &assets, "--out", &p("store1")]);
    let edited = edit_store_with(
        &scratch.path().join("store1"),
        &scratch.path().join("store2"),
        Edit::Rename,
    );
    edit_store_with(
        &scratch.path().join("store1"),
        &scratch.path().join("store3"),
        Edit::Content,
    );
    let export =
        |store: &str, out: &str, extra: &[&str]| export_generated(store, out, &profile, extra);
    // `--timings`: each export's phases are printed after the table (where its time went).
    let (files_s, files_rss, files_log) = export(&p("store1"), &p("files"), &["--timings"]);
    let files = public_files(&scratch.path().join("files"));
    let (pack_s, pack_rss, pack_log) =
        export(&p("store1"), &p("pack"), &["--layout", "pack", "--timings"]);
    let pack = public_files(&scratch.path().join("pack"));
    let latency = latency(
        scratch.path(),
        &["files", "pack"],
        !std::env::args().any(|a| a == "--no-workerd"),
    );
    fs::remove_dir_all(scratch.path().join("files")).unwrap();
    // Both edits start from the first release: the second onto a copy (hard links: an export
    // never changes a pack snapshot's files in place, it swaps a new tree in).
    let status = std::process::Command::new("cp")
        .args(["-al", &p("pack"), &p("pack-content")])
        .status()
        .unwrap();
    assert!(status.success(), "cp -al");
    let updates: Vec<Update> = [
        ("store2", "pack", Edit::Rename),
        ("store3", "pack-content", Edit::Content),
    ]
    .into_iter()
    .map(|(store, out, edit)| {
        let list = p(&format!("changes-{out}.txt"));
        let (seconds, rss, _) = export(
            &p(store),
            &p(out),
            &["--layout", "pack", "--changed-list", &list],
        );
        let dir = scratch.path().join(out);
        let total = public_files(&dir).1;
        let mut upload = Upload::default();
        for (c, path) in fs::read_to_string(&list)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('\t'))
        {
            if c == "D" || !path.starts_with("public/") {
                continue;
            }
            let len = fs::metadata(dir.join(path)).unwrap().len();
            if path.ends_with(".pack") {
                upload.packs += len;
            } else if path.ends_with(".idx") {
                upload.shards.0 += 1;
                upload.shards.1 += len;
            } else {
                upload.other += len;
            }
        }
        Update {
            edit,
            seconds,
            rss,
            upload,
            total,
        }
    })
    .collect();
    let mb = |b: u64| b as f64 / 1e6;
    let rss = |r: Option<f64>| r.map_or("?".into(), |r| format!("{r:.0} MiB"));
    println!("\n## Pack layout: {assets} assets, profile {profile}\n");
    println!("| | files layout | pack layout |");
    println!("|---|---|---|");
    println!(
        "| export wall time | {files_s:.1} s | {pack_s:.1} s ({:.1}× faster) |",
        files_s / pack_s
    );
    println!("| peak RSS | {} | {} |", rss(files_rss), rss(pack_rss));
    println!("| files under public/ | {} | {} |", files.0, pack.0);
    println!(
        "| their bytes | {:.1} MB | {:.1} MB |",
        mb(files.1),
        mb(pack.1)
    );
    println!(
        "| largest file | {:.1} KB | {:.1} MB |",
        files.2 as f64 / 1e3,
        mb(pack.2)
    );
    for (host, limit) in [
        ("Vercel CLI", 15_000u64),
        ("Cloudflare free", 20_000),
        ("Cloudflare paid", 100_000),
        ("GitLab Pages", 200_000),
    ] {
        let fits = |n: u64| if n <= limit { "fits" } else { "too many files" };
        println!(
            "| {host} ({limit} files) | {} | {} |",
            fits(files.0),
            fits(pack.0)
        );
    }
    for (name, p50, p99) in &latency {
        println!("| {name} | p50 {p50}, p99 {p99} |");
    }
    println!();
    for (layout, log) in [("files", &files_log), ("pack", &pack_log)] {
        println!("Phases of the {layout} layout's export (`--timings`):\n```");
        for line in log
            .lines()
            .skip_while(|l| !l.contains("timings"))
            .filter(|l| !l.starts_with("PEAK_RSS_KB="))
        {
            println!("{line}");
        }
        println!("```");
    }
    println!();
    for u in &updates {
        let what = match u.edit {
            Edit::Rename => "edited (name, contents, an attribute)",
            Edit::Content => "edited (contents and an attribute; names kept)",
        };
        let share = |b: u64| 100.0 * b as f64 / u.total.max(1) as f64;
        let all = u.upload.packs + u.upload.shards.1 + u.upload.other;
        println!(
            "Update with {edited} assets {what}: {:.1} s, peak RSS {}; upload {:.1} MB of {:.1} MB \
             ({:.2} % of a full upload): packs {:.1} MB ({:.2} %), {} shards {:.1} MB ({:.2} %), \
             root {:.1} KB",
            u.seconds,
            rss(u.rss),
            mb(all),
            mb(u.total),
            share(all),
            mb(u.upload.packs),
            share(u.upload.packs),
            u.upload.shards.0,
            mb(u.upload.shards.1),
            share(u.upload.shards.1),
            u.upload.other as f64 / 1e3,
        );
    }
}

/// What an update of the pack snapshot sends to a host (`--changed-list`, added and modified
/// files under `public/`).
#[derive(Default)]
struct Upload {
    packs: u64,
    /// How many, and their bytes.
    shards: (u64, u64),
    /// The root.
    other: u64,
}

/// One update of the first release's pack snapshot.
struct Update {
    edit: Edit,
    seconds: f64,
    rss: Option<f64>,
    upload: Upload,
    /// Bytes under `public/` after it (a full upload).
    total: u64,
}

/// A server under measurement, stopped (its whole process group) on drop.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = std::process::Command::new("kill")
            .args(["-TERM", "--", &group])
            .status();
        std::thread::sleep(std::time::Duration::from_millis(500));
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(std::process::Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

/// Starts `server` (`preview` or `workerd`) on the snapshot `dir`, listening on `addr`, and
/// waits until it accepts connections; `None` (said on stderr) when it cannot run here.
fn start(server: &str, dir: &Path, addr: &str) -> Option<Server> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let mut command = match server {
        "preview" => {
            let mut c = Command::new(common::BIN);
            c.args([
                "preview",
                dir.to_str().unwrap(),
                "--listen",
                addr,
                "--quiet",
            ]);
            c
        }
        _ => {
            let serve = Path::new("tests/hosts/cloudflare/serve.mjs");
            if !Path::new("tests/hosts/cloudflare/node_modules/miniflare").is_dir() {
                eprintln!("Miniflare is not installed (npm ci --prefix tests/hosts/cloudflare): no workerd figures");
                return None;
            }
            let config = Command::new(common::BIN)
                .args(["router", "cloudflare", "--snapshot", dir.to_str().unwrap()])
                .args(["--listen", addr])
                .output()
                .unwrap();
            assert!(config.status.success(), "router cloudflare");
            let conf = dir.with_extension("wrangler.toml");
            fs::write(&conf, config.stdout).unwrap();
            let mut c = Command::new("node");
            // The R2 bucket's temporary directory in the scratch directory: deleted with it.
            c.arg(serve)
                .arg(&conf)
                .arg(addr)
                .env("TMPDIR", dir.parent().unwrap());
            if matrix_snapshot::snapshot::check_format(dir).unwrap()
                == matrix_snapshot::snapshot::Layout::Pack
            {
                c.arg(dir.join("public"));
            }
            c
        }
    };
    let child = command
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server_process = Server(child);
    for _ in 0..1200 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Some(server_process);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{server} does not listen on {addr} after 60 s");
}

/// Reads every file under `public` once, so that both layouts are measured from the page
/// cache: the files layout's files were written through it, the packs past it (`O_DIRECT`),
/// and the first read of each pack page would otherwise go to the disk.
fn warm(public: &Path) {
    for entry in walkdir::WalkDir::new(public).into_iter().flatten() {
        if entry.file_type().is_file() {
            if let Ok(mut f) = fs::File::open(entry.path()) {
                let _ = std::io::copy(&mut f, &mut std::io::sink());
            }
        }
    }
}

/// Latency of `preview` (and of workerd, with `workerd`) on each of `layouts` (snapshot
/// directories under `dir`, each read once first: [`warm`]): `wrk -t1 -c1 --latency` for 10 s
/// over up to 100,000 routes of the first snapshot's manifest, after a first 10-s pass over
/// up to 100,000 others (steady state), one server at a time: (what, p50, p99). Empty without
/// wrk.
fn latency(dir: &Path, layouts: &[&str], workerd: bool) -> Vec<(String, String, String)> {
    use std::process::Command;
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed: no latency figures");
        return Vec::new();
    }
    let manifest = fs::read_to_string(dir.join(layouts[0]).join("manifest.jsonl")).unwrap();
    let mut targets: Vec<String> = manifest
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            (v["status"] == 200).then(|| v["requests"][0].as_str().map(str::to_string))?
        })
        .collect();
    // A fixed shuffle (the same for every layout): no two neighbours in one directory.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..targets.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        targets.swap(i, (state % (i as u64 + 1)) as usize);
    }
    targets.truncate(200_000);
    // Two scripts over two halves: the first pass (steady state, below) asks other requests
    // than the measured one, so the measured answers still miss `preview`'s answer cache.
    let half = targets.len().div_ceil(2);
    let script = |name: &str, targets: &[String]| {
        let paths = dir.join(format!("{name}.txt"));
        fs::write(&paths, targets.join("\n") + "\n").unwrap();
        let script = dir.join(format!("{name}.lua"));
        fs::write(
            &script,
            format!(
                "local t = {{}}\nfor l in io.lines({:?}) do t[#t + 1] = l end\nlocal i = 0\nrequest = function()\n  i = i % #t + 1\n  return wrk.format(\"GET\", t[i], {{[\"Authorization\"] = \"Bearer gen-public\"}})\nend\n",
                paths.to_str().unwrap()
            ),
        )
        .unwrap();
        script
    };
    let measured = script("targets", &targets[..half]);
    let first_pass = script("first-pass", &targets[half..]);
    let servers: &[&str] = if workerd {
        &["preview", "workerd"]
    } else {
        &["preview"]
    };
    let mut out = Vec::new();
    for (s, server) in servers.iter().enumerate() {
        for (i, layout) in layouts.iter().enumerate() {
            let addr = format!("127.0.0.1:{}", 18900 + 10 * s + i);
            if s == 0 {
                warm(&dir.join(layout).join("public"));
            }
            let Some(running) = start(server, &dir.join(layout), &addr) else {
                break;
            };
            let wrk = |script: &Path| {
                Command::new("wrk")
                    .args(["-t1", "-c1", "-d10s", "--latency", "-s"])
                    .arg(script)
                    .arg(format!("http://{addr}/"))
                    .output()
                    .unwrap()
            };
            // A server in steady state: a first pass over other requests of the same snapshot
            // fills what the server keeps across requests (the pack layout's shards: 8,192 at
            // 100k assets, nearly all touched in 10 s, so a cold cache made about one measured
            // request in seven a miss — which was the pack layout's p99). Both layouts get it.
            wrk(&first_pass);
            let r = wrk(&measured);
            drop(running);
            let text = String::from_utf8_lossy(&r.stdout);
            let field = |prefix: &str| {
                text.lines()
                    .find(|l| l.trim_start().starts_with(prefix))
                    .and_then(|l| l.trim_start()[prefix.len()..].split_whitespace().next())
                    .unwrap_or("?")
                    .to_string()
            };
            eprintln!("{server}, {layout}: {text}");
            out.push((
                format!("{server} latency, {layout} layout"),
                field("50%"),
                field("99%"),
            ));
        }
    }
    out
}
