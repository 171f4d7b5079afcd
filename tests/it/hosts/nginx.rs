//! nginx with the njs module, serving real snapshots with the config `matrix-snapshot router
//! nginx` prints: the demo (a token snapshot, and a public one with CORS) and a generated store.

use super::{assert_conforms, export, free_port, require, router_config, wait_listening};
use crate::util::run;
use matrix_snapshot::{Catalog, Store};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// An nginx master (and its workers, in their own process group) in the foreground, stopped on
/// drop — even when an assertion fails.
struct Nginx {
    child: Child,
    prefix: PathBuf,
    addr: String,
}

impl Nginx {
    /// Writes the config for `snapshot` into `prefix` and starts nginx with it. `None` when
    /// nginx is not installed (see [`require`]).
    fn start(snapshot: &Path, prefix: &Path) -> Option<Nginx> {
        let nginx = require("nginx", "apt-get install nginx-light libnginx-mod-http-js")?;
        let addr = format!("127.0.0.1:{}", free_port());
        fs::create_dir_all(prefix).unwrap();
        let conf = prefix.join("nginx.conf");
        fs::write(&conf, router_config("nginx", snapshot, &addr, &[])).unwrap();
        let child = Command::new(nginx)
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(prefix)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut server = Nginx {
            child,
            prefix: prefix.to_path_buf(),
            addr,
        };
        server.wait_listening();
        Some(server)
    }

    fn wait_listening(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("nginx exited ({status}):\n{}", self.log());
        }
        wait_listening(&self.addr);
    }

    fn log(&self) -> String {
        fs::read_to_string(self.prefix.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to the whole group: the master and its workers.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// A temp dir the nginx workers can read: run as root, the master hands requests to
/// unprivileged workers, and `tempdir()` is 0700.
fn tempdir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    tmp
}

fn demo() -> Catalog {
    Catalog::new(matrix_snapshot::demo::store().unwrap())
}

const DEMO: &[&str] = &[
    "--token",
    "demo-research",
    "--profile",
    "standard",
    "--base-url",
    "https://research.uni.test",
];

#[test]
fn nginx_conforms_on_the_demo() {
    let tmp = tempdir();
    let out = export(tmp.path(), DEMO);
    let Some(nginx) = Nginx::start(&out, &tmp.path().join("nginx")) else {
        return;
    };
    let tally = assert_conforms(&demo(), &out, &nginx.addr, 21, 10_000);
    assert!(tally.agree >= 8_000, "{}", tally.report(&nginx.addr, 0));
    assert!(tally.not_exported > 0, "{}", tally.report(&nginx.addr, 0));
    eprintln!("{}", tally.report("nginx demo", 0));
}

#[test]
fn nginx_conforms_on_the_demo_public_with_cors() {
    let tmp = tempdir();
    let mut args = DEMO.to_vec();
    args.extend(["--public", "--cors", "https://app.test"]);
    let out = export(tmp.path(), &args);
    let Some(nginx) = Nginx::start(&out, &tmp.path().join("nginx")) else {
        return;
    };
    let tally = assert_conforms(&demo(), &out, &nginx.addr, 22, 10_000);
    assert!(tally.agree >= 8_000, "{}", tally.report(&nginx.addr, 0));
    eprintln!("{}", tally.report("nginx demo --public --cors", 0));
}

#[test]
fn nginx_conforms_on_a_generated_store() {
    let tmp = tempdir();
    let store = tmp.path().join("store");
    run(
        &[
            "generate",
            "--assets",
            "1500",
            "--seed",
            "5",
            "--out",
            store.to_str().unwrap(),
        ],
        0,
    );
    let cat = Catalog::new(Store::load(&store).unwrap());
    for token in ["gen-editor", "gen-site1"] {
        let dir = tmp.path().join(token);
        let out = export(
            &dir,
            &[
                "--store",
                store.to_str().unwrap(),
                "--token",
                token,
                "--profile",
                "minimal",
            ],
        );
        let Some(nginx) = Nginx::start(&out, &dir.join("nginx")) else {
            return;
        };
        let tally = assert_conforms(&cat, &out, &nginx.addr, 23, 10_000);
        assert!(tally.agree >= 8_000, "{}", tally.report(&nginx.addr, 0));
        eprintln!("{}", tally.report(&format!("nginx {token}"), 0));
    }
}

/// The rendered route.js is plain JavaScript (`node --check`), when node is installed.
#[test]
fn nginx_route_js_parses() {
    let Ok(node) = which_node() else {
        eprintln!("node is not installed; skipping the syntax check of route.js");
        return;
    };
    let tmp = tempdir();
    let out = export(tmp.path(), DEMO);
    let js = out.join("_routers/nginx/route.js");
    // As an ES module (route.js ends in `export default`).
    let mjs = tmp.path().join("route.mjs");
    fs::copy(&js, &mjs).unwrap();
    let status = Command::new(node)
        .arg("--check")
        .arg(&mjs)
        .status()
        .unwrap();
    assert!(status.success(), "node --check {}", js.display());
}

fn which_node() -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("node"))
                .find(|p| p.is_file())
        })
        .ok_or(())
}
