//! Test helpers: run the binary, start `serve`, speak raw HTTP/1.1.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The built binary.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_matrix-snapshot"))
}

/// A path under the repository.
pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs the binary with `args`, asserting the exit code; on failure prints everything.
pub fn run(args: &[&str], expect_code: i32) -> Output {
    let out = bin()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run matrix-snapshot");
    assert_eq!(
        out.status.code(),
        Some(expect_code),
        "matrix-snapshot {}\n--- stdout\n{}\n--- stderr\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `export --token TOKEN --profile PROFILE --out OUT`, then `extra`: the arguments the export
/// tests start from (`--quiet`, `--format json`, a store… in `extra`).
pub fn export_args<'a>(
    token: &'a str,
    profile: &'a str,
    out: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "export",
        "--token",
        token,
        "--profile",
        profile,
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    args
}

/// `matrix-snapshot export --quiet --token demo-public --profile PROFILE --out OUT` of `store`
/// (the embedded demo's when `None`), plus `extra` arguments; asserts success.
pub fn export_public(profile: &str, store: Option<&Path>, out: &Path, extra: &[&str]) {
    let mut more = vec!["--quiet"];
    if let Some(s) = store {
        more.extend(["--store", s.to_str().unwrap()]);
    }
    more.extend_from_slice(extra);
    run(
        &export_args("demo-public", profile, out.to_str().unwrap(), &more),
        0,
    );
}

/// A generated store of `assets` assets (seed `seed`) written to `dir`; returns `dir`.
pub fn generated(dir: &Path, assets: u64, seed: u64) -> PathBuf {
    matrix_snapshot::generate::generate(
        &matrix_snapshot::generate::GenerateOptions {
            assets,
            seed,
            ..Default::default()
        },
        dir,
    )
    .expect("generate a store");
    dir.to_path_buf()
}

/// Every file under `root/under` (`""`: all of `root`), path relative to `root` → its bytes,
/// sorted by path.
pub fn files_under(root: &Path, under: &str) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(root.join(under))
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path()
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// A running `matrix-snapshot serve`, stopped (SIGINT) on drop.
pub struct Served {
    pub child: Child,
    pub addr: String,
}

impl Served {
    /// Starts `serve` with extra args on a free port and waits until it listens.
    pub fn start(args: &[&str]) -> Served {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0", "--quiet"];
        all.extend_from_slice(args);
        Served::spawn(&all)
    }

    /// Runs the binary with `args` (a server that says `http://ADDR/` on stderr once it
    /// listens) and waits until it listens.
    pub fn spawn(args: &[&str]) -> Served {
        Served::spawn_in(Path::new("."), args)
    }

    /// [`Served::spawn`] in the working directory `dir`.
    pub fn spawn_in(dir: &Path, args: &[&str]) -> Served {
        let mut child = bin()
            .current_dir(dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        let addr = loop {
            line.clear();
            if stderr.read_line(&mut line).expect("read stderr") == 0 {
                panic!("serve exited before listening: {:?}", child.wait());
            }
            if let Some(rest) = line.trim().split(" on http://").nth(1) {
                break rest.split('/').next().expect("addr").to_string();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            let _ = stderr.read_to_string(&mut sink);
        });
        Served { child, addr }
    }

    /// Sends SIGINT and waits; returns the exit code.
    pub fn interrupt(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request (`Connection: close`) and reads the whole response.
pub fn http(addr: &str, method: &str, target: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8(raw[..split].to_vec()).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}
