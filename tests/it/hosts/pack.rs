//! The pack layout (`export --layout pack`) on the hosts whose routers read it
//! (`router::PACK_HOSTS`): the same conformance runs as the files layout, and damaged packs and
//! shards answered with a 500 and the API's error body, never wrong bytes. Each host's module
//! calls these with its [`Server`].

use super::{demo, export_demo, serve, Reach, Server, PUBLIC_CORS};
use matrix_snapshot::conformance::{self, Case, Harness};
use std::fs;
use std::path::{Path, PathBuf};

/// [`super::on_the_demo`] on a pack export: at least 8,000 answers agree, some "not exported".
pub fn on_the_demo_pack<S: Server>(tmp: &Path, seed: u64) -> Option<S> {
    let out = export_demo(tmp, &["--layout", "pack"]);
    assert_is_pack(&out);
    let reach = Reach {
        agree: 8_000,
        not_exported: true,
    };
    serve(&demo(), &out, seed, reach)
}

/// [`super::on_the_public_demo_with_cors`] on a pack export.
pub fn on_the_public_demo_with_cors_pack<S: Server>(tmp: &Path, seed: u64) {
    let out = export_demo(tmp, &[PUBLIC_CORS, &["--layout", "pack"]].concat());
    assert_is_pack(&out);
    let reach = Reach {
        agree: 8_000,
        not_exported: false,
    };
    serve::<S>(&demo(), &out, seed, reach);
}

fn assert_is_pack(out: &Path) {
    assert_eq!(
        matrix_snapshot::snapshot::check_format(out).unwrap(),
        matrix_snapshot::snapshot::Layout::Pack
    );
    // No file per route (the files layout writes over 20,000 here): the web root holds the
    // packs, the shards (256 entries each on average) and root.json only.
    let files = walkdir::WalkDir::new(out.join("public"))
        .into_iter()
        .filter(|e| e.as_ref().unwrap().file_type().is_file())
        .count();
    assert!(files < 200, "{files} files under public/");
}

/// The files of `dir` (sorted), which must exist.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

/// A pack export of the demo damaged after export, before `S` starts (hosts may load the files
/// when they start): (1) its pack cut to half its length, (2) one byte of an index shard's
/// entries changed (its length stays right). 2,000 corpus requests (those `skip` leaves) must
/// each be answered right or with a 500 and the API's error body — never other bytes — and
/// many with the 500.
pub fn damaged<S: Server>(tmp: &Path, seed: u64, skip: &dyn Fn(&Case) -> bool) {
    for damage in ["truncated-pack", "altered-shard"] {
        let dir = tmp.join(damage);
        let out = export_demo(&dir, &["--layout", "pack"]);
        let root = out.join("public/__api/~/pack");
        if damage == "truncated-pack" {
            let packs = files_in(&root.join("packs"));
            let file = fs::OpenOptions::new().write(true).open(&packs[0]).unwrap();
            let len = file.metadata().unwrap().len();
            file.set_len(len / 2).unwrap();
        } else {
            // Every shard (a request reads one of dozens): the first entry's body offset
            // (16-byte header, 8-byte key hash, 4-byte pack): the shard no longer matches its
            // name, and the entry points at other bytes.
            for shard in files_in(&root.join("index")) {
                let mut bytes = fs::read(&shard).unwrap();
                if bytes.len() > 16 + 12 {
                    bytes[16 + 12] ^= 1;
                    fs::write(&shard, bytes).unwrap();
                }
            }
        }
        let Some(server) = S::start(&out, &dir.join(S::NAME)) else {
            return;
        };
        let cat = demo();
        let harness = Harness::open(&cat, &out).unwrap();
        let cases: Vec<Case> = harness
            .corpus(seed, 2_000)
            .into_iter()
            .filter(|c| !skip(c))
            .collect();
        let mut tally = conformance::run_http(&harness, &cases, server.addr());
        let body = r#"body "{\"code\":500,\"message\":\"Internal Server Error\"}""#;
        let (faults, wrong): (Vec<_>, Vec<_>) = tally.differ.drain(..).partition(|(case, diff)| {
            // A HEAD answer has no body to compare.
            diff.starts_with("status 500 ") && (diff.contains(body) || case.method == "HEAD")
        });
        tally.differ = wrong;
        assert!(
            tally.passed(),
            "{damage}: answers that are neither right nor the 500:\n{}",
            tally.report(server.addr(), 25)
        );
        assert!(
            faults.len() > 100,
            "{damage}: only {} answers of {} were the 500 ({} agree)",
            faults.len(),
            cases.len(),
            tally.agree
        );
        eprintln!(
            "{damage}: {} answers the 500, {} right, of {}",
            faults.len(),
            tally.agree + tally.not_exported,
            cases.len()
        );
    }
}

/// `router HOST` on a pack snapshot: the pack variant for the hosts that read packs; a message
/// that says which do for the others. The pack routers bundle no table that grows with the
/// snapshot: `_routers/` holds `routes.json` and each pack host's two files, nothing else.
#[test]
fn router_prints_pack_variants_and_refuses_files_only_hosts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = export_demo(tmp.path(), &["--layout", "pack"]);
    let dir = out.to_str().unwrap();
    for host in ["apache", "caddy", "cloudfront", "netlify", "vercel"] {
        let got = crate::util::run(&["router", host, "--snapshot", dir], 2);
        let stderr = String::from_utf8_lossy(&got.stderr);
        assert!(
            stderr.contains(&format!(
                "the {host} router reads only the files layout (one file per route), and this is a pack snapshot"
            )) && stderr.contains("a router that reads packs: nginx, cloudflare"),
            "{stderr}"
        );
    }
    let nginx = super::router_config("nginx", &out, "127.0.0.1:8080", &[]);
    assert!(nginx.contains("matrix-snapshot pack snapshot") && !nginx.contains("etags"));
    let cloudflare = super::router_config("cloudflare", &out, "127.0.0.1:8080", &[]);
    assert!(cloudflare.contains("[[r2_buckets]]") && !cloudflare.contains("[assets]"));
    let mut files: Vec<String> = walkdir::WalkDir::new(out.join("_routers"))
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(out.join("_routers")).unwrap();
            rel.to_string_lossy().into_owned()
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "cloudflare/worker.js",
            "cloudflare/wrangler.toml",
            "nginx/nginx.conf",
            "nginx/route.js",
            "routes.json"
        ]
    );
}
