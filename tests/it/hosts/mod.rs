//! Real web servers serving real snapshots with the configs `export` writes, judged by the
//! conformance harness against `answer()`. One module per host.
//!
//! A host's server must be installed (`.ci/run` installs them all). When one is missing, its
//! test says so on stderr and returns — unless `MATRIX_SNAPSHOT_REQUIRE_HOSTS=1` (set by
//! `.ci/run`), where a missing server fails the test.
//!
//! Most hosts run the same five checks ([`on_the_demo`], [`on_the_public_demo_with_cors`],
//! [`on_a_generated_store`], [`with_api_1_2_0_dimensions`], [`with_hostile_names`]) through the
//! [`Server`] trait; each host's module adds what only it has.

mod apache;
mod caddy;
mod cloudflare;
mod edge;
mod hostile;
mod injection;
mod nginx;
mod pack;
mod preview;

use crate::util::run;
use matrix_snapshot::conformance::{self, Case, Harness, Tally};
use matrix_snapshot::Catalog;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Says on stderr why a test skips (the caller then returns) — or, with
/// `MATRIX_SNAPSHOT_REQUIRE_HOSTS=1`, fails the test with it.
pub fn skip(why: &str) {
    if std::env::var("MATRIX_SNAPSHOT_REQUIRE_HOSTS").as_deref() == Ok("1") {
        panic!("{why}, but MATRIX_SNAPSHOT_REQUIRE_HOSTS=1");
    }
    eprintln!("{why}");
}

/// The path of `program` if installed; `None` (after saying why, see [`skip`]) when the test
/// should skip.
pub fn require(program: &str, install: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        skip(&format!(
            "{program} is not installed ({install}); skipping its conformance test"
        ));
    }
    found
}

/// A temp dir any user can read: servers run as root hand requests to unprivileged workers,
/// and `tempfile::tempdir()` is 0700.
pub fn readable_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    tmp
}

/// The demo store's catalog.
pub fn demo() -> Catalog {
    Catalog::new(matrix_snapshot::demo::store().unwrap())
}

/// The demo export of the host tests: token `demo-research`, profile `standard`, a base URL.
pub const DEMO: &[&str] = &[
    "--token",
    "demo-research",
    "--profile",
    "standard",
    "--base-url",
    "https://research.uni.test",
];

/// What [`on_the_public_demo_with_cors`] adds to [`DEMO`].
pub const PUBLIC_CORS: &[&str] = &["--public", "--cors", "https://app.test"];

/// Exports the demo with [`DEMO`] and `extra` into `dir/out`; returns the snapshot directory.
pub fn export_demo(dir: &Path, extra: &[&str]) -> PathBuf {
    export(dir, &[DEMO, extra].concat())
}

/// The generated store of the host tests (1,500 assets, seed 5) in `dir/store`, and its catalog.
pub fn generated_store(dir: &Path) -> (PathBuf, Catalog) {
    generated_store_of(dir, 1500)
}

/// [`generated_store`] with `assets` assets.
pub fn generated_store_of(dir: &Path, assets: u32) -> (PathBuf, Catalog) {
    let store = dir.join("store");
    run(
        &[
            "generate",
            "--assets",
            &assets.to_string(),
            "--seed",
            "5",
            "--out",
            store.to_str().unwrap(),
        ],
        0,
    );
    let cat = Catalog::new(matrix_snapshot::Store::load(&store).unwrap());
    (store, cat)
}

/// Exports `store` for `token` with `profile` into `dir/out`; returns the snapshot directory.
pub fn export_store(dir: &Path, store: &Path, token: &str, profile: &str) -> PathBuf {
    export_store_with(dir, store, token, profile, &[])
}

/// [`export_store`] with `extra` arguments.
pub fn export_store_with(
    dir: &Path,
    store: &Path,
    token: &str,
    profile: &str,
    extra: &[&str],
) -> PathBuf {
    let store = store.to_str().unwrap();
    let args = [
        &["--store", store, "--token", token, "--profile", profile][..],
        extra,
    ]
    .concat();
    export(dir, &args)
}

/// A profile with every Content API 1.2.0 dimension (dependents, two `base_url` values, every
/// context of the demo store) over a small `standard`-like base, written to `dir/api12.toml`.
/// Host tests export the demo with it (`--token demo-editor --base-url https://www.uni.test`).
pub fn api12_profile(dir: &Path) -> PathBuf {
    let path = dir.join("api12.toml");
    std::fs::write(
        &path,
        indoc::indoc! {r#"
            data = [[], ["urls", "attributes", "metadata", "contents"], ["urls"]]
            children_data = [[], ["urls", "attributes", "metadata", "contents"]]
            sort_by = ["tree", "name"]
            sort_order = ["asc", "desc"]
            limits = [100, 5]
            asset_types = [[], ["news_item", "page_standard"]]
            include_dependents = [false, true]
            base_urls = ["https://research.uni.test", "http://www.uni.test/news"]
            contexts = "all"
        "#},
    )
    .unwrap();
    path
}

/// Exports the demo with [`api12_profile`] into `dir/out` (token `demo-editor`, base URL
/// `https://www.uni.test`, plus `extra` arguments).
pub fn export_api12(dir: &Path, extra: &[&str]) -> PathBuf {
    let profile = api12_profile(dir);
    let mut args = vec![
        "--token",
        "demo-editor",
        "--base-url",
        "https://www.uni.test",
        "--profile",
        profile.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    export(dir, &args)
}

/// How many of `cases` have `part` in their target.
pub fn asking(cases: &[Case], part: &str) -> usize {
    cases.iter().filter(|c| c.target.contains(part)).count()
}

/// The corpus of `seed` (10,000 requests) over an [`export_api12`]-like snapshot, asserted to ask
/// often (over 300 times each) for dependents, a `base_url` and a `context`.
pub fn assert_api12_corpus(cat: &Catalog, snapshot: &Path, seed: u64) -> Vec<Case> {
    let cases = Harness::open(cat, snapshot).unwrap().corpus(seed, 10_000);
    assert!(
        asking(&cases, "include_dependents=true") > 300,
        "corpus covers dependents"
    );
    assert!(asking(&cases, "base_url=") > 300 && asking(&cases, "context=") > 300);
    cases
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `addr`.
pub fn wait_listening(addr: &str) {
    let start = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "nothing listens on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Exports with the CLI into `dir/out`; returns the snapshot directory.
pub fn export(dir: &Path, args: &[&str]) -> PathBuf {
    let out = dir.join("out");
    let mut all = vec!["export", "--quiet", "--out", out.to_str().unwrap()];
    all.extend_from_slice(args);
    run(&all, 0);
    out
}

/// `matrix-snapshot router TARGET --snapshot DIR --listen ADDR [extra]`, as text.
pub fn router_config(target: &str, snapshot: &Path, listen: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "router",
        target,
        "--snapshot",
        snapshot.to_str().unwrap(),
        "--listen",
        listen,
    ];
    args.extend_from_slice(extra);
    String::from_utf8(run(&args, 0).stdout).unwrap()
}

/// Replays `n` corpus requests (seed `seed`) against `addr` and asserts every answer is right.
pub fn assert_conforms(cat: &Catalog, snapshot: &Path, addr: &str, seed: u64, n: usize) -> Tally {
    let harness = Harness::open(cat, snapshot).expect("harness");
    let cases = harness.corpus(seed, n);
    let tally = conformance::run_http(&harness, &cases, addr);
    assert!(tally.passed(), "{}", tally.report(addr, 25));
    tally
}

/// A host's documented limit (docs/hosting/<host>.md): answers that differ from the API's in a
/// way the host cannot avoid.
pub struct Limit<'a> {
    /// Whether `diff`, how the answer to `case` differs, is exactly the limit.
    pub explains: &'a dyn Fn(&Harness, &Case, &str) -> bool,
    /// Fewer than one answer in this many may be the limit.
    pub one_in: usize,
    /// What the limited requests had, for the report ("the other 12 {had} (documented limit)").
    pub had: &'a str,
}

/// [`assert_conforms`] on a host with a documented `limit`: the answers it explains are counted
/// apart and listed, and must stay rare; anything else wrong fails.
pub fn assert_conforms_but(
    cat: &Catalog,
    snapshot: &Path,
    addr: &str,
    seed: u64,
    n: usize,
    limit: Limit,
) -> Tally {
    let harness = Harness::open(cat, snapshot).expect("harness");
    let cases = harness.corpus(seed, n);
    let mut tally = conformance::run_http(&harness, &cases, addr);
    let (limited, wrong): (Vec<_>, Vec<_>) = tally
        .differ
        .drain(..)
        .partition(|(case, diff)| (limit.explains)(&harness, case, diff));
    tally.differ = wrong;
    assert!(tally.passed(), "{}", tally.report(addr, 25));
    assert!(
        limited.len() * limit.one_in < n,
        "the documented limit explains {} answers of {n}",
        limited.len()
    );
    for (case, diff) in &limited {
        eprintln!("  documented limit: {case}: {diff}");
    }
    eprintln!(
        "{addr}: agreement {}/{} ({} not exported, {} documented deviations); the other {} {} (documented limit)",
        tally.agree,
        tally.compared() - limited.len(),
        tally.not_exported,
        tally.deviations,
        limited.len(),
        limit.had
    );
    tally
}

/// A server process a test started, stopped on drop — even when an assertion fails: SIGTERM, up
/// to 5 s to exit, then SIGKILL.
pub struct Process {
    child: Child,
    name: &'static str,
    /// Spawned in its own process group (a master and its workers, node and workerd): the
    /// signals go to the whole group, and SIGKILL always follows, for what the leader left
    /// behind.
    group: bool,
}

impl Process {
    /// Spawns `command` (the server `name`).
    pub fn spawn(name: &'static str, command: &mut Command) -> Process {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Process {
            child,
            name,
            group: false,
        }
    }

    /// Spawns `command` (the server `name`) in a process group of its own.
    pub fn spawn_group(name: &'static str, command: &mut Command) -> Process {
        use std::os::unix::process::CommandExt;
        let mut process = Process::spawn(name, command.process_group(0));
        process.group = true;
        process
    }

    /// Waits until something accepts connections on `addr`; fails, with what `log` says, when
    /// the process exits first or nothing listens within `timeout`.
    pub fn wait_listening(&mut self, addr: &str, timeout: Duration, log: impl Fn() -> String) {
        let start = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}):\n{}", self.name, log());
            }
            assert!(
                start.elapsed() < timeout,
                "{} does not listen on {addr}:\n{}",
                self.name,
                log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, signal: &str) {
        let id = self.child.id();
        let target = if self.group {
            format!("-{id}")
        } else {
            id.to_string()
        };
        // Quietly: the group may be gone already.
        let _ = Command::new("kill")
            .args([signal, "--", &target])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.signal("-TERM");
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.group {
            self.signal("-KILL");
        } else {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A real server under test, serving one snapshot on 127.0.0.1 until dropped.
pub trait Server: Sized {
    /// The host's name: the folder, beside the snapshot, its runtime files go in.
    const NAME: &'static str;

    /// Starts serving `snapshot` (with the config `matrix-snapshot router` prints), its runtime
    /// files in `dir`. `None` when the server is not installed (see [`require`]).
    fn start(snapshot: &Path, dir: &Path) -> Option<Self>;

    /// Where it listens.
    fn addr(&self) -> &str;

    /// Replays `n` corpus requests (seed `seed`) and asserts every answer is right; a host
    /// with documented limits counts those apart (and asserts they stay rare).
    fn assert_conforms(&self, cat: &Catalog, snapshot: &Path, seed: u64, n: usize) -> Tally {
        assert_conforms(cat, snapshot, self.addr(), seed, n)
    }
}

/// What a conformance run must reach besides every answer being right.
#[derive(Clone, Copy)]
pub struct Reach {
    /// Answers that agree with the API's, at least.
    pub agree: usize,
    /// Whether some requests must ask for variants the profile did not export.
    pub not_exported: bool,
}

/// Starts `S` on `snapshot` (runtime files beside it, in `<S::NAME>`), replays 10,000 corpus
/// requests (seed `seed`) judged as `S` judges them, and asserts they reach `reach`. Returns the
/// server, still serving; `None` when it is not installed.
pub fn serve<S: Server>(cat: &Catalog, snapshot: &Path, seed: u64, reach: Reach) -> Option<S> {
    let server = S::start(snapshot, &snapshot.parent().unwrap().join(S::NAME))?;
    let tally = server.assert_conforms(cat, snapshot, seed, 10_000);
    let addr = server.addr();
    assert!(tally.agree >= reach.agree, "{}", tally.report(addr, 0));
    // D-057: forbidden URLs answer 403 on every host; nothing is counted apart.
    assert_eq!(tally.deviations, 0, "{}", tally.report(addr, 0));
    assert_forbidden_urls(cat, snapshot, addr);
    if reach.not_exported {
        assert!(tally.not_exported > 0, "{}", tally.report(addr, 0));
    }
    Some(server)
}

/// Decision D-057: the host at `addr` answers the live API's 403 — status, headers and body as
/// `answer()` — for the URLs of live assets the snapshot's token may not read, in every
/// spelling the URL clean-up takes ([`Harness::forbidden_url_cases`]), none counted apart.
/// Returns how many requests were asked (0 when the token may read every URL).
pub fn assert_forbidden_urls(cat: &Catalog, snapshot: &Path, addr: &str) -> usize {
    let harness = Harness::open(cat, snapshot).expect("harness");
    let cases = harness.forbidden_url_cases(3);
    for case in &cases {
        assert_eq!(harness.expect_status(case), 403, "{case}");
    }
    let tally = conformance::run_http(&harness, &cases, addr);
    assert!(
        tally.passed() && tally.agree == cases.len(),
        "forbidden URLs: {}",
        tally.report(addr, 25)
    );
    cases.len()
}

/// The demo ([`DEMO`], exported into `tmp`): at least 8,000 answers agree, and some ask for
/// variants not exported. Returns the server, still serving; `None` when it is not installed.
pub fn on_the_demo<S: Server>(tmp: &Path, seed: u64) -> Option<S> {
    let out = export_demo(tmp, &[]);
    let reach = Reach {
        agree: 8_000,
        not_exported: true,
    };
    serve(&demo(), &out, seed, reach)
}

/// The demo exported `--public --cors` ([`PUBLIC_CORS`]): at least 8,000 answers agree.
pub fn on_the_public_demo_with_cors<S: Server>(tmp: &Path, seed: u64) {
    let out = export_demo(tmp, PUBLIC_CORS);
    let reach = Reach {
        agree: 8_000,
        not_exported: false,
    };
    serve::<S>(&demo(), &out, seed, reach);
}

/// The [`generated_store`] exported `minimal` for two tokens (`gen-editor`, `gen-site1`): at
/// least 8,000 answers agree for each.
pub fn on_a_generated_store<S: Server>(tmp: &Path, seed: u64) {
    let (store, cat) = generated_store(tmp);
    let reach = Reach {
        agree: 8_000,
        not_exported: false,
    };
    for token in ["gen-editor", "gen-site1"] {
        let out = export_store(&tmp.join(token), &store, token, "minimal");
        if serve::<S>(&cat, &out, seed, reach).is_none() {
            return;
        }
    }
}

/// Content API 1.2.0 parameters (`include_dependents`, `base_url`, `context`) over the demo
/// exported with all three dimensions ([`export_api12`]): every exported variant agrees (7,000
/// at least), the rest is "not exported" (some are) or a 400 (an undeclared context), never a
/// wrong 200.
pub fn with_api_1_2_0_dimensions<S: Server>(tmp: &Path, seed: u64) {
    let out = export_api12(tmp, &[]);
    let cat = demo();
    assert_api12_corpus(&cat, &out, seed);
    let reach = Reach {
        agree: 7_000,
        not_exported: true,
    };
    serve::<S>(&cat, &out, seed, reach);
}

/// Ids, URLs and Content API 1.2.0 names that are hard to spell ([`hostile::hostile_api12`]),
/// which the corpus asks for: at least 7,000 answers agree.
pub fn with_hostile_names<S: Server>(tmp: &Path, seed: u64) {
    let (cat, out) = hostile::hostile_api12(tmp);
    hostile::assert_corpus_asks_hostile_names(&cat, &out, seed);
    let reach = Reach {
        agree: 7_000,
        not_exported: false,
    };
    serve::<S>(&cat, &out, seed, reach);
}
