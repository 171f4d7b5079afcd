//! `matrix-snapshot export` end to end: the golden minimal export of the demo, token sources,
//! refusals, dry runs, no leaks over generated stores, and atomicity under `kill -9`.

use crate::util::{bin, export_args, files_under, generated, repo, run};
use matrix_snapshot::{Catalog, Store};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// Every file under `dir`, path → bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(dir, "")
}

/// The golden export: demo-public, minimal profile, base URL https://www.uni.test.
#[test]
fn golden_minimal_export_of_the_demo() {
    check_golden(&[], "export-minimal");
}

/// The same export in the pack layout: packs, index shards and root byte for byte (a fresh pack
/// export is deterministic), and the routes' manifest lines identical to the files layout's
/// (the `_routers/` lines differ: only the files layout writes host tables).
#[test]
fn golden_minimal_pack_export_of_the_demo() {
    check_golden(&["--layout", "pack"], "export-minimal-pack");
    let routes = |name: &str| -> Vec<String> {
        fs::read_to_string(repo(&format!("snapshots/demo/{name}/manifest.jsonl")))
            .unwrap()
            .lines()
            // Not routes: the router files, and the files layout's forbidden-URL tables (the
            // pack index holds the same hashes).
            .filter(|l| {
                !l.starts_with(r#"{"path":"_routers/"#)
                    && !l.starts_with(r#"{"path":"public/__api/~/forbidden-urls/"#)
            })
            .map(str::to_string)
            .collect()
    };
    assert_eq!(routes("export-minimal-pack"), routes("export-minimal"));
}

/// Issue 20: the manifest's entries spilled in runs of a few KB (dozens of runs, merged back)
/// give the golden exports byte for byte; a first export's `--changed-list` lists every file
/// of the snapshot as added (the route files read back from the manifest, not held).
#[test]
fn golden_exports_in_small_entry_runs() {
    check_golden(&["--entry-buffer", "4KiB"], "export-minimal");
    check_golden(
        &["--entry-buffer", "3000", "--layout", "pack"],
        "export-minimal-pack",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    let list = dir.path().join("changes.txt");
    let said = run(
        &export_args(
            "demo-public",
            "minimal",
            out.to_str().unwrap(),
            &[
                "--entry-buffer",
                "4KiB",
                "--changed-list",
                list.to_str().unwrap(),
                "--timings",
            ],
        ),
        0,
    );
    let want: String = tree(&out).keys().map(|p| format!("A\t{p}\n")).collect();
    assert!(want.lines().count() > 1000);
    assert_eq!(fs::read_to_string(&list).unwrap(), want);
    let said = String::from_utf8(said.stderr).unwrap();
    let runs = said
        .lines()
        .find_map(|l| l.split_once(" in ")?.1.split_once(" sorted run(s)"))
        .map(|(n, _)| n.parse::<usize>().unwrap());
    assert!(runs.is_some_and(|n| n > 20), "{said}");
}

/// Exports the demo (demo-public, minimal, base URL https://www.uni.test, plus `extra`) and
/// compares it with `snapshots/demo/<name>` (`UPDATE_SNAPSHOTS=1` rewrites it).
fn check_golden(extra: &[&str], name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    let mut args = vec![
        "export",
        "--token",
        "demo-public",
        "--profile",
        "minimal",
        "--base-url",
        "https://www.uni.test",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    run(&args, 0);
    let golden = repo(&format!("snapshots/demo/{name}"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        let _ = fs::remove_dir_all(&golden);
        fs::create_dir_all(&golden).unwrap();
        for (rel, bytes) in tree(&out)
            .into_iter()
            .filter(|(k, _)| !k.starts_with("_cache/"))
        {
            let p = golden.join(&rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, bytes).unwrap();
        }
    }
    // `_cache/inputs.tsv` depends on the binary (it makes re-exports incremental), so it is no
    // golden output.
    let mut got = tree(&out);
    got.retain(|k, _| !k.starts_with("_cache/"));
    let want = tree(&golden);
    let missing: Vec<_> = want
        .keys()
        .filter(|k| !got.contains_key(*k))
        .take(5)
        .collect();
    let extra: Vec<_> = got
        .keys()
        .filter(|k| !want.contains_key(*k))
        .take(5)
        .collect();
    let changed: Vec<_> = got
        .iter()
        .filter(|(k, v)| want.get(*k).is_some_and(|w| w != *v))
        .map(|(k, _)| k)
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && changed.is_empty(),
        "export differs from snapshots/demo/{name} (UPDATE_SNAPSHOTS=1 cargo test, then review)\nmissing {missing:?}\nextra {extra:?}\nchanged {changed:?}"
    );
}

#[test]
fn token_from_file_and_env_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    let token_file = dir.path().join("token");
    fs::write(&token_file, "demo-research\n").unwrap();
    let o = out.to_str().unwrap();
    run(
        &[
            "export",
            "--token-file",
            token_file.to_str().unwrap(),
            "--profile",
            "minimal",
            "--out",
            o,
            "-q",
        ],
        0,
    );
    let info = fs::read_to_string(out.join("snapshot.json")).unwrap();
    assert!(info.contains("Research site build") && !info.contains("demo-research"));
    let out2 = bin()
        .args([
            "export",
            "--token-env",
            "MS_TEST_TOKEN",
            "--profile",
            "minimal",
            "--out",
            o,
            "-q",
        ])
        .env("MS_TEST_TOKEN", "demo-editor")
        .output()
        .unwrap();
    assert!(
        out2.status.success(),
        "{}",
        String::from_utf8_lossy(&out2.stderr)
    );
    // 401 tokens: exit 2 before anything is written.
    let fresh = dir.path().join("never");
    for token in ["demo-disabled", "nope"] {
        let r = run(
            &["export", "--token", token, "--out", fresh.to_str().unwrap()],
            2,
        );
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains("401"), "{err}");
        assert!(
            !err.contains(token) || token == "nope" && !err.contains("nope"),
            "the token value is never echoed: {err}"
        );
        assert!(!fresh.exists());
    }
    // A directory that is not a snapshot.
    let other = dir.path().join("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("x"), "x").unwrap();
    let r = run(
        &[
            "export",
            "--token",
            "demo-public",
            "--out",
            other.to_str().unwrap(),
            "-q",
        ],
        2,
    );
    assert!(String::from_utf8_lossy(&r.stderr).contains("--force"));
    run(
        &export_args(
            "demo-public",
            "minimal",
            other.to_str().unwrap(),
            &["-q", "--force"],
        ),
        0,
    );
    assert!(!other.join("x").exists());
}

#[test]
fn dry_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    let r = run(
        &[
            "export",
            "--token",
            "demo-public",
            "--out",
            out.to_str().unwrap(),
            "--dry-run",
        ],
        0,
    );
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(
        // 26,805 routes' and error files and one forbidden-URL table (decision D-057).
        text.contains("177 readable assets") && text.contains("26806 files"),
        "{text}"
    );
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// `--dry-run` with the 1.2.0 dimensions says what each adds; a context the store does not
/// declare is an error that names the declared ones, and nothing is written.
#[test]
fn dry_run_shows_each_api_1_2_0_dimension_and_bad_contexts_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.toml");
    fs::write(
        &p,
        "data = [[]]\nchildren_data = [[]]\nsort_by = [\"tree\"]\nsort_order = [\"asc\"]\n\
         include_dependents = [false, true]\nbase_urls = [\"https://research.uni.test\"]\n\
         contexts = [\"Default\", \"Māori\"]\n",
    )
    .unwrap();
    let out = dir.path().join("dist");
    let export = |profile: &Path, code: i32| {
        run(
            &export_args(
                "demo-public",
                profile.to_str().unwrap(),
                out.to_str().unwrap(),
                &["--dry-run"],
            ),
            code,
        )
    };
    let text = String::from_utf8_lossy(&export(&p, 0).stdout).into_owned();
    for needle in [
        "include_dependents = [false, true]: +",
        "base_urls (1 values): +",
        "contexts (2, the default included): +",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    fs::write(&p, "contexts = [\"Default\", \"maori\"]\n").unwrap();
    let err = String::from_utf8_lossy(&export(&p, 2).stderr).into_owned();
    assert!(
        err.contains("\"maori\" is not declared") && err.contains("\"Default\", \"Māori\""),
        "{err}"
    );
    fs::write(&p, "include_dependents = [true]\n").unwrap();
    let err = String::from_utf8_lossy(&export(&p, 2).stderr).into_owned();
    assert!(err.contains("must list false"), "{err}");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "only p.toml");
}

#[test]
fn bad_profile_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.toml");
    fs::write(&p, "sort_by = [\"status\"]\n").unwrap();
    let r = run(
        &export_args(
            "demo-public",
            p.to_str().unwrap(),
            dir.path().join("d").to_str().unwrap(),
            &[],
        ),
        2,
    );
    assert!(String::from_utf8_lossy(&r.stderr).contains("unknown key"));
}

/// No leak, over generated stores and every usable token: each asset object in every file is
/// one the token's view can read.
#[test]
fn exports_of_generated_stores_never_leak() {
    let dir = tempfile::tempdir().unwrap();
    for seed in [3u64, 11] {
        let store_dir = dir.path().join(format!("store{seed}"));
        generated(&store_dir, 400, seed);
        let cat = Catalog::new(Store::load(&store_dir).unwrap());
        for (t, token) in cat.store.tokens.iter().enumerate() {
            let Ok(view) = cat.view(t as u32) else {
                continue;
            };
            let out = dir.path().join(format!("out{seed}-{t}"));
            run(
                &[
                    "export",
                    "--store",
                    store_dir.to_str().unwrap(),
                    "--token",
                    &token.token,
                    "--profile",
                    "minimal",
                    "--out",
                    out.to_str().unwrap(),
                    "-q",
                ],
                0,
            );
            for (rel, body) in tree(&out.join("public")) {
                // The forbidden-URL tables hold hashes only (32 hex digits a line): no body.
                if rel.starts_with("__api/~/forbidden-urls/") {
                    let text = String::from_utf8(body).unwrap();
                    assert!(text.lines().all(|l| l.len() == 32
                        && l.bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))));
                    continue;
                }
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let mut ids = vec![];
                collect_asset_ids(&v, &mut ids);
                for id in ids {
                    let a = cat.store.asset_by_id(&id).unwrap();
                    assert!(view.can_read(a), "token {} sees {id} in {rel}", token.name);
                }
            }
        }
    }
}

fn collect_asset_ids(v: &serde_json::Value, ids: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            if let (Some(id), Some(_)) = (m.get("id").and_then(|i| i.as_str()), m.get("type_name"))
            {
                ids.push(id.to_string());
            }
            m.values().for_each(|x| collect_asset_ids(x, ids));
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_asset_ids(x, ids)),
        _ => {}
    }
}

/// `kill -9` at any moment of a full export (`--full`: built beside, swapped in) leaves the
/// previous snapshot intact and nothing partial visible; the next run removes the stale staging
/// directory.
#[test]
fn kill_9_mid_export_leaves_the_previous_snapshot() {
    kill_9_mid_export(true);
}

/// `kill -9` at any moment of an incremental export (files staged, then moved in under a
/// rollback journal) leaves the previous snapshot intact, once rolled back if the kill landed
/// while files were being moved in; the next run rolls back and removes the staging directory.
#[test]
fn kill_9_mid_incremental_export_leaves_the_previous_snapshot() {
    kill_9_mid_export(false);
}

fn kill_9_mid_export(full: bool) {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    generated(&store_dir, 3000, 5);
    let out = dir.path().join("dist");
    let s = store_dir.to_str().unwrap();
    let o = out.to_str().unwrap();
    // The snapshot the interrupted exports must leave intact; exported again at the end.
    let export_public = quiet_public_export(s, o);
    run(&export_public, 0);
    let before = tree(&out);
    let mut killed_mid_run = 0;
    let mut killed_while_writing = 0;
    let staging = |dir: &Path| {
        fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(if full { ".dist.tmp-" } else { ".dist.inc-" })
            })
            .count()
    };
    // (wait for the staging directory?, then kill after this many ms)
    for (wait_for_writing, delay_ms) in [(false, 30u64), (true, 0), (true, 40), (true, 200)] {
        let mut child = bin()
            .args([
                "export",
                "--store",
                s,
                "--token",
                "gen-editor",
                "--profile",
                "standard",
                "--out",
                o,
                "-q",
            ])
            .args(full.then_some("--full"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if wait_for_writing {
            for _ in 0..6000 {
                if staging(dir.path()) > 0 || child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        let _ = child.wait();
        if finished {
            continue;
        }
        killed_mid_run += 1;
        if staging(dir.path()) > 0 {
            killed_while_writing += 1;
        }
        if !full && tree(&out) != before {
            // Killed while moving files in: the plan is there, verify says so, and rolling
            // back restores.
            assert_eq!(staging(dir.path()), 1);
            let said = run(&["verify", o], 1).stdout;
            assert!(
                String::from_utf8_lossy(&said).contains("interrupted"),
                "{}",
                String::from_utf8_lossy(&said)
            );
            assert_eq!(
                matrix_snapshot::export::recover_interrupted(&out).unwrap(),
                1
            );
        }
        assert_eq!(
            tree(&out),
            before,
            "killed after {delay_ms} ms: the previous snapshot is intact"
        );
    }
    assert!(
        killed_mid_run > 0,
        "no kill landed during an export: make the export longer"
    );
    assert!(
        killed_while_writing > 0,
        "no kill landed while files were being written"
    );
    run(&export_public, 0);
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with(".dist.")),
        "stale staging removed: {names:?}"
    );
    assert_eq!(
        tree(&out),
        before,
        "the same export again is byte-identical"
    );
}

/// `export --quiet` of a generated store `s` into `o`, token `gen-public`, profile `minimal`.
fn quiet_public_export<'a>(s: &'a str, o: &'a str) -> Vec<&'a str> {
    vec![
        "export",
        "--store",
        s,
        "--token",
        "gen-public",
        "--profile",
        "minimal",
        "--out",
        o,
        "-q",
    ]
}

/// `kill -9` while the manifest's entries are being spilled leaves their scratch directory
/// beside `out` (nothing can remove it then); the next export removes it and writes the same
/// snapshot as an export never interrupted.
#[test]
fn kill_9_leaves_entry_runs_for_the_next_export() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    generated(&store_dir, 600, 7);
    let out = dir.path().join("dist");
    let (s, o) = (store_dir.to_str().unwrap(), out.to_str().unwrap());
    let mut args = quiet_public_export(s, o);
    args.extend(["--entry-buffer", "1KiB"]);
    let runs_dirs = || -> Vec<std::path::PathBuf> {
        fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".dist.tmp-runs-")
            })
            .collect()
    };
    let mut child = bin()
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Until a few runs are written (a loaded machine may take long to load the store).
    let mut left = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while std::time::Instant::now() < deadline {
        if let Some(d) = runs_dirs().pop() {
            if fs::read_dir(&d).map_or(0, |r| r.count()) >= 5 {
                left = Some(d);
                break;
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = child.kill();
    let _ = child.wait();
    let left = left.expect("the export wrote no runs before it ended (or in 300 s)");
    assert!(left.is_dir(), "kill -9 leaves the runs");
    run(&args, 0);
    assert!(runs_dirs().is_empty(), "the next export removed them");
    let again = dir.path().join("again");
    let mut fresh = args.to_vec();
    fresh[8] = again.to_str().unwrap();
    run(&fresh, 0);
    let strip = |t: BTreeMap<String, Vec<u8>>| -> BTreeMap<String, Vec<u8>> {
        t.into_iter()
            .filter(|(k, _)| !k.starts_with("_cache/"))
            .collect()
    };
    assert_eq!(strip(tree(&out)), strip(tree(&again)));
}

/// `_routers/etags.txt`: every 200 file of the manifest once, in order, with its quoted blake3,
/// which is the hash of the bytes on disk, each line ended by `;` (an nginx `map` entry: nginx
/// reads the table as it is). No host directory holds another copy but Caddy's shards and the
/// edge hosts' module (one inode), and `table_bytes` (what `--dry-run` counts) is what the
/// tables take.
#[test]
fn etags_table_lists_every_200_file_with_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    run(
        &export_args(
            "demo-research",
            "minimal",
            out.to_str().unwrap(),
            &["--quiet"],
        ),
        0,
    );
    let manifest = fs::read_to_string(out.join("manifest.jsonl")).unwrap();
    let want: Vec<String> = manifest
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["status"] == 200)
        .map(|e| {
            let path = e["path"].as_str().unwrap();
            let on_disk = blake3::hash(&fs::read(out.join(path)).unwrap());
            assert_eq!(e["blake3"].as_str().unwrap(), on_disk.to_hex().as_str());
            format!("{} \"{}\";", &path["public/".len()..], on_disk.to_hex())
        })
        .collect();
    assert!(want.len() > 100);
    let got = fs::read_to_string(out.join("_routers/etags.txt")).unwrap();
    assert_eq!(got.lines().collect::<Vec<_>>(), want);
    assert!(got.ends_with('\n'));
    // Netlify's and Vercel's file modules are one file, written once and hard-linked.
    use std::os::unix::fs::MetadataExt;
    let netlify = out.join("_routers/netlify/netlify/edge-functions/snapshot-files.js");
    let vercel = out.join("_routers/vercel/snapshot-files.js");
    let (n, v) = (
        fs::metadata(&netlify).unwrap(),
        fs::metadata(&vercel).unwrap(),
    );
    assert_eq!((n.dev(), n.ino()), (v.dev(), v.ino()));
    assert_eq!(n.nlink(), 2);
    assert!(fs::read_to_string(&vercel).unwrap().contains(&format!(
        "\"{}\": \"\\\"",
        want[0].split(' ').next().unwrap()
    )));
    let mut nginx: Vec<String> = fs::read_dir(out.join("_routers/nginx"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    nginx.sort();
    assert_eq!(nginx, ["nginx.conf", "route.js"], "nginx reads etags.txt");
    let entries = matrix_snapshot::snapshot::read_manifest(&out)
        .unwrap()
        .lines;
    let hosts = matrix_snapshot::router::select(&[]).unwrap();
    let counted: u64 = entries
        .iter()
        .map(|e| matrix_snapshot::router::table_bytes(e, &hosts))
        .sum();
    let header = "// Written by matrix-snapshot export: every file under public/ -> its ETag (200 files) or null.\nexport default {\n};\n".len() as u64;
    assert_eq!(
        counted,
        got.len() as u64 + fs::metadata(&vercel).unwrap().len() - header
    );
    // Caddy's config and router only: `router caddy` derives its shards (`it::hosts::caddy`).
    let mut caddy: Vec<String> = fs::read_dir(out.join("_routers/caddy"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    caddy.sort();
    assert_eq!(
        caddy,
        ["Caddyfile", "router.txt"],
        "caddy derives its shards"
    );
    // No file under `_routers/` repeats the table's lines: each ETag is written once there
    // (and once in the edge module, a JavaScript form of every file, one inode for both).
    let line = &want[want.len() / 2];
    let mut holding = Vec::new();
    for e in walkdir::WalkDir::new(out.join("_routers")) {
        let e = e.unwrap();
        if e.file_type().is_file()
            && fs::read_to_string(e.path())
                .unwrap()
                .contains(line.as_str())
        {
            holding.push(e.path().strip_prefix(&out).unwrap().to_owned());
        }
    }
    assert_eq!(holding, [Path::new("_routers/etags.txt")]);
}

/// `--router` writes only the chosen hosts' configs and tables, and warns about what a chosen
/// host cannot honour for this snapshot; `router HOST` warns the same way.
#[test]
fn chosen_routers_only_and_their_limits() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    let o = out.to_str().unwrap();
    let said = run(
        &export_args(
            "demo-public",
            "standard",
            o,
            &["--router", "netlify,cloudflare", "--router", "nginx"],
        ),
        0,
    );
    let said = String::from_utf8_lossy(&said.stderr).into_owned();
    let mut hosts: Vec<String> = fs::read_dir(out.join("_routers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    hosts.sort();
    assert_eq!(
        hosts,
        ["cloudflare", "etags.txt", "netlify", "nginx", "routes.json"]
    );
    // 26,806 files (with the forbidden-URL table): over the Workers free plan's 20,000; a token
    // snapshot: Netlify's static rules cannot check it. nginx honours everything.
    assert!(
        said.contains("warning: cloudflare: 26806 files: Workers Static Assets"),
        "{said}"
    );
    assert!(
        said.contains("warning: netlify: its static rules"),
        "{said}"
    );
    assert!(!said.contains("warning: nginx"), "{said}");
    let router = run(&["router", "netlify", "--snapshot", o], 0);
    assert!(String::from_utf8_lossy(&router.stderr).contains("warning: netlify"));
    // A host left out cannot be printed, and says why.
    let missing = run(&["router", "apache", "--snapshot", o], 2);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--router"));

    // Public: the static rules answer everything; minimal: few enough files for Workers.
    let public = dir.path().join("public");
    let said = run(
        &[
            "export",
            "--token",
            "demo-public",
            "--profile",
            "minimal",
            "--public",
            "--out",
            public.to_str().unwrap(),
            "--router",
            "netlify,cloudflare",
        ],
        0,
    );
    let said = String::from_utf8_lossy(&said.stderr).into_owned();
    assert!(!said.contains("warning"), "{said}");
}

/// What `du -s` counts under `dir`, walked independently of the export's own walk: the
/// allocated blocks (`st_blocks` × 512) of every inode, directories included, each hard-linked
/// inode once.
fn du(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap().metadata().unwrap())
        .filter(|m| seen.insert((m.dev(), m.ino())))
        .map(|m| m.blocks() * 512)
        .sum()
}

/// Whether `got` is within 10 % of `want`.
fn within_10_percent(got: u64, want: u64) -> bool {
    got.abs_diff(want) * 10 <= want
}

/// Issue 19: the size an export reports is what `du` sees (bodies in whole blocks, hard links
/// once, directories, the manifest and `_routers/`), and `--dry-run`'s estimate is within
/// 10 % of it. The standard export of the README's demo, and a generated store large enough
/// that the estimate samples one asset in two.
#[test]
fn reported_and_estimated_disk_use_is_what_du_sees() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    let o = out.to_str().unwrap();
    let said = run(
        &export_args("demo-public", "standard", o, &["--format", "json"]),
        0,
    );
    let summary: serde_json::Value = serde_json::from_slice(&said.stdout).unwrap();
    let reported = summary["disk_bytes"].as_u64().unwrap();
    let seen = du(&out);
    assert!(within_10_percent(reported, seen), "{reported} vs du {seen}");
    // More than the bodies: the manifest and the tables are counted.
    let unique = summary["unique_bytes"].as_u64().unwrap();
    let meta = fs::metadata(out.join("manifest.jsonl")).unwrap().len()
        + fs::metadata(out.join("_routers/etags.txt")).unwrap().len();
    assert!(reported > unique + meta, "{reported} vs {unique} + {meta}");
    let text = run(&export_args("demo-public", "standard", o, &[]), 0);
    let text = String::from_utf8_lossy(&text.stderr).into_owned();
    assert!(
        text.contains(&format!("{:.1} MB on disk", du(&out) as f64 / 1e6)),
        "{text}"
    );

    let store_dir = dir.path().join("store");
    generated(&store_dir, 1400, 19);
    let cat = Catalog::new(Store::load(&store_dir).unwrap());
    let gen_out = dir.path().join("gen");
    let opts = matrix_snapshot::export::ExportOptions::new(
        cat.store.token_by_value("gen-public").unwrap(),
        matrix_snapshot::export::Profile::minimal(),
        gen_out.clone(),
    );
    let est = matrix_snapshot::export::estimate(&cat, &opts).unwrap();
    assert!(est.sampled < est.assets, "{est:?}");
    let report = matrix_snapshot::export::export(&cat, &opts, &|_| {}).unwrap();
    let seen = du(&gen_out);
    assert_eq!(
        report.disk,
        Some(matrix_snapshot::export::Disk::Measured(
            matrix_snapshot::export::disk_use(&gen_out).unwrap()
        ))
    );
    assert_eq!(report.disk.unwrap().allocated(), seen);
    // Above 300,000 files the summary computes `public/` from the manifest instead of walking
    // it: the model agrees with the walk here within 1 % (8 KB of 31.7 MB on ext4), and the rest is walked exactly.
    use matrix_snapshot::export::disk;
    let manifest = matrix_snapshot::snapshot::read_manifest(&gen_out).unwrap();
    let modelled = disk::public_model(
        manifest
            .lines
            .iter()
            .map(|e| (e.path.as_str(), e.size, e.blake3.as_bytes())),
        true,
        matrix_snapshot::export::block_size(&gen_out),
    );
    let walked = disk::disk_use(&gen_out.join("public")).unwrap().allocated;
    assert!(
        modelled.abs_diff(walked) * 100 <= walked,
        "public/ modelled {modelled} vs walked {walked}"
    );
    let total = disk::with_public(&gen_out, walked).unwrap();
    assert_eq!(total, seen, "the rest walked exactly");
    assert!(
        within_10_percent(est.disk_bytes, seen),
        "estimated {} vs du {seen}",
        est.disk_bytes
    );
}
