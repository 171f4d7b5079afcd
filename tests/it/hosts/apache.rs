//! Apache httpd (mod_lua) with the config `matrix-snapshot router apache` prints, started as a
//! foreground process on a free port with its pid file and error log in the test's temp dir.

use super::{assert_conforms, export, free_port, require, router_config, wait_listening};
use crate::util::run;
use matrix_snapshot::{Catalog, Store};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `apache2 -DFOREGROUND`, stopped (SIGTERM, then SIGKILL) on drop, even when an
/// assertion failed.
struct Apache {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Apache {
    /// Renders the config for `snapshot` and starts Apache on a free port; runtime files go
    /// to `run_dir`.
    fn start(apache2: &Path, snapshot: &Path, run_dir: &Path) -> Apache {
        let addr = format!("127.0.0.1:{}", free_port());
        let conf = run_dir.join("httpd.conf");
        fs::write(&conf, router_config("apache", snapshot, &addr, &[])).unwrap();
        let log = run_dir.join("stderr.log");
        let child = Command::new(apache2)
            .arg("-f")
            .arg(&conf)
            .arg("-DFOREGROUND")
            .arg("-C")
            .arg(format!(
                "Define MATRIX_SNAPSHOT_RUN_DIR {}",
                run_dir.display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("start apache2");
        let mut apache = Apache { child, addr, log };
        if let Ok(Some(status)) = apache.child.try_wait() {
            panic!("apache2 exited at once ({status}):\n{}", apache.log());
        }
        wait_listening(&apache.addr);
        apache
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        // SIGTERM makes the parent stop its workers before it exits.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temp dir the workers can read: started as root, Apache's workers run as `nobody`.
fn readable_tempdir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    }
    tmp
}

/// Exports with `args`, serves the snapshot with Apache and replays 10,000 corpus requests.
fn check(cat: &Catalog, args: &[&str], seed: u64) {
    let Some(apache2) = require("apache2", "apt-get install apache2") else {
        return;
    };
    let tmp = readable_tempdir();
    let out = export(tmp.path(), args);
    let run_dir = tmp.path().join("run");
    fs::create_dir(&run_dir).unwrap();
    let apache = Apache::start(&apache2, &out, &run_dir);
    let tally = assert_conforms(cat, &out, &apache.addr, seed, 10_000);
    assert_eq!(
        tally.agree,
        tally.compared(),
        "{}",
        tally.report("apache", 0)
    );
    assert!(tally.agree >= 5_000, "{}", tally.report("apache", 0));
    let log = apache.log();
    assert!(
        !log.contains("lua") && !log.contains("matrix-snapshot"),
        "the router logged errors:\n{log}"
    );
}

fn demo() -> Catalog {
    Catalog::new(matrix_snapshot::demo::store().unwrap())
}

#[test]
fn apache_conforms_on_the_demo_standard_export() {
    check(
        &demo(),
        &[
            "--token",
            "demo-research",
            "--profile",
            "standard",
            "--base-url",
            "https://research.uni.test",
        ],
        21,
    );
}

#[test]
fn apache_conforms_on_a_public_cors_export() {
    check(
        &demo(),
        &[
            "--token",
            "demo-research",
            "--profile",
            "standard",
            "--base-url",
            "https://research.uni.test",
            "--public",
            "--cors",
            "https://app.test",
        ],
        22,
    );
}

#[test]
fn apache_conforms_on_a_generated_store() {
    let tmp = tempfile::tempdir().unwrap();
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
    check(
        &cat,
        &[
            "--store",
            store.to_str().unwrap(),
            "--token",
            "gen-editor",
            "--profile",
            "minimal",
        ],
        23,
    );
}
