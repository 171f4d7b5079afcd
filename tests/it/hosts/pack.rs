//! The pack layout (`export --layout pack`) on the hosts whose routers read it
//! (`router::PACK_HOSTS`): the conformance runs of the files layout on the same corpora (the
//! demo, the demo `--public --cors`, a generated store for two tokens, the Content API 1.2.0
//! dimensions, hostile names), each corpus exported once and served by every pack router in
//! turn — `preview`, real nginx and workerd, and the Netlify and Vercel routers in the node model of
//! `edge.rs`, whose static files ignore `Range` (the whole-body fallback) or honour it — and
//! damaged packs and shards answered with a 500 and the API's error body, never wrong bytes.

use super::cloudflare::{assert_head_lengths, Workerd};
use super::edge::{pack_conforms, Platform, Ranges};
use super::hostile::{assert_corpus_asks_hostile_names, hostile_api12_with};
use super::nginx::Nginx;
use super::preview::Preview;
use super::{
    assert_api12_corpus, demo, export, export_api12, export_demo, generated_store,
    readable_tempdir, serve, Reach, Server, DEMO, PUBLIC_CORS,
};
use matrix_snapshot::conformance::{self, Case, Harness, Tally};
use matrix_snapshot::snapshot::pack;
use matrix_snapshot::Catalog;
use std::fs;
use std::path::{Path, PathBuf};

/// What the host tests add to an export for the pack layout: packs of 256 KiB (the demo's
/// 2.6 MB of bodies in 11 packs), so that a body range is read from one of many packs and a
/// host that ignores `Range` sends a small pack, not all bodies (`--pack-size` is there for
/// such hosts).
pub const PACK: &[&str] = &["--layout", "pack", "--pack-size", "256KiB"];

/// Serves the pack snapshot `out` (of `cat`) with every pack router in turn, 10,000 corpus
/// requests (seed `seed`) each, judged as each host is judged, reaching `reach`: `preview` (the
/// reference), nginx, workerd (each skipped when not installed), Netlify's Edge Function with static files that ignore
/// `Range`, Vercel's middleware with static files that honour it (and, with `both_ways`, each
/// the other way too). With `head_token`, HEAD answers of nginx and workerd carry GET's
/// lengths.
fn on_every_pack_host(
    cat: &Catalog,
    out: &Path,
    seed: u64,
    reach: Reach,
    both_ways: bool,
    head_token: Option<&str>,
) {
    assert_is_pack(out);
    serve::<Preview>(cat, out, seed, reach);
    if let Some(server) = serve::<Nginx>(cat, out, seed, reach) {
        if let Some(token) = head_token {
            assert_head_lengths(server.addr(), token);
        }
    }
    if let Some(server) = serve::<Workerd>(cat, out, seed, reach) {
        if let Some(token) = head_token {
            assert_head_lengths(server.addr(), token);
        }
    }
    let edge = (reach.agree, reach.not_exported);
    pack_conforms(Platform::Netlify, cat, out, seed, edge, Ranges::Whole);
    pack_conforms(Platform::Vercel, cat, out, seed, edge, Ranges::Honoured);
    if both_ways {
        pack_conforms(Platform::Netlify, cat, out, seed, edge, Ranges::Honoured);
        pack_conforms(Platform::Vercel, cat, out, seed, edge, Ranges::Whole);
    }
}

/// The demo ([`super::DEMO`]): at least 8,000 answers agree, some "not exported"; Netlify and
/// Vercel with static files that ignore `Range` and that honour it.
#[test]
fn pack_routers_conform_on_the_demo() {
    let tmp = readable_tempdir();
    let out = export_demo(tmp.path(), PACK);
    let reach = Reach {
        agree: 8_000,
        not_exported: true,
    };
    on_every_pack_host(&demo(), &out, 61, reach, true, Some("demo-research"));
}

/// An update of the demo snapshot after a release (`diff::edited_store`: renamed, trashed, made
/// private, moved, added) that keeps the base shards and writes an overlay of what changed:
/// every pack router reads the overlay first — changed and new keys, and deleted ones — and
/// answers as a fresh export of the edited store would.
#[test]
fn pack_routers_conform_on_an_update_with_an_overlay() {
    let tmp = readable_tempdir();
    let out = export_demo(tmp.path(), PACK);
    let store2 = crate::diff::edited_store(tmp.path());
    let onto = export(
        tmp.path(),
        &[&["--store", store2.to_str().unwrap()][..], DEMO, PACK].concat(),
    );
    assert_eq!(onto, out);
    let public = out.join("public");
    let reader = pack::Reader::open(pack::DirSource(public.clone()), &public).unwrap();
    let overlay = reader
        .root
        .overlay
        .clone()
        .expect("the update wrote an overlay");
    assert_eq!(reader.root.format, pack::ROOT_FORMAT_OVERLAY);
    let (mut deleted, mut set) = (0, 0);
    for i in 0..overlay.shards.len() as u32 {
        for r in reader.overlay_shard(i).unwrap().records() {
            match r.is_deleted() {
                true => deleted += 1,
                false => set += 1,
            }
        }
    }
    assert!(deleted > 0 && set > 0, "{deleted} deleted, {set} set");
    let cat = Catalog::new(matrix_snapshot::Store::load(&store2).unwrap());
    let reach = Reach {
        agree: 8_000,
        not_exported: true,
    };
    on_every_pack_host(&cat, &out, 63, reach, false, None);
}

/// The demo exported `--public --cors`.
#[test]
fn pack_routers_conform_on_the_public_demo_with_cors() {
    let tmp = readable_tempdir();
    let out = export_demo(tmp.path(), &[PUBLIC_CORS, PACK].concat());
    let reach = Reach {
        agree: 8_000,
        not_exported: false,
    };
    on_every_pack_host(&demo(), &out, 62, reach, false, None);
}

/// The generated store (1,500 assets) exported `minimal` for `gen-editor` and `gen-site1`.
#[test]
fn pack_routers_conform_on_a_generated_store() {
    let tmp = readable_tempdir();
    let (store, cat) = generated_store(tmp.path());
    let reach = Reach {
        agree: 8_000,
        not_exported: false,
    };
    for token in ["gen-editor", "gen-site1"] {
        let args = [
            &["--store", store.to_str().unwrap(), "--token", token],
            &["--profile", "minimal"][..],
            PACK,
        ]
        .concat();
        let out = export(&tmp.path().join(token), &args);
        on_every_pack_host(&cat, &out, 67, reach, false, None);
    }
}

/// Content API 1.2.0 parameters over the demo exported with all three dimensions
/// ([`export_api12`]): every exported variant agrees (7,000 at least), some are "not exported".
#[test]
fn pack_routers_conform_with_api_1_2_0_dimensions() {
    let tmp = readable_tempdir();
    let out = export_api12(tmp.path(), PACK);
    let cat = demo();
    assert_api12_corpus(&cat, &out, 68);
    let reach = Reach {
        agree: 7_000,
        not_exported: true,
    };
    on_every_pack_host(&cat, &out, 68, reach, false, None);
}

/// Ids, URLs and Content API 1.2.0 names that are hard to spell (`hostile::hostile_api12`): the
/// index keys of their files are found by the same hashes in every router.
#[test]
fn pack_routers_conform_with_hostile_names() {
    let tmp = readable_tempdir();
    let (cat, out) = hostile_api12_with(tmp.path(), PACK);
    assert_corpus_asks_hostile_names(&cat, &out, 69);
    let reach = Reach {
        agree: 7_000,
        not_exported: false,
    };
    on_every_pack_host(&cat, &out, 69, reach, false, None);
}

fn assert_is_pack(out: &Path) {
    assert_eq!(
        matrix_snapshot::snapshot::check_format(out).unwrap(),
        matrix_snapshot::snapshot::Layout::Pack
    );
    // No file per route (the files layout writes one per manifest line: over 20,000 for the
    // demo): the web root holds the packs, the shards (256 entries each on average) and
    // root.json only.
    let files = walkdir::WalkDir::new(out.join("public"))
        .into_iter()
        .filter(|e| e.as_ref().unwrap().file_type().is_file())
        .count();
    let routes = fs::read_to_string(out.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert!(
        files * 50 < routes,
        "{files} files under public/ for {routes} routes"
    );
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

/// The damage [`damaged_export`] does: a pack cut to half its length, one byte of every index
/// shard's entries changed (its length stays right), a pack deleted, every other shard deleted.
pub const DAMAGES: [&str; 4] = [
    "truncated-pack",
    "altered-shard",
    "missing-pack",
    "missing-shards",
];

/// A pack export of the demo into `dir` (the default pack size: all bodies in one pack, which
/// every 200 reads), damaged after export as `damage` (one of [`DAMAGES`]) says.
pub fn damaged_export(dir: &Path, damage: &str) -> PathBuf {
    let out = export_demo(dir, &["--layout", "pack"]);
    let root = out.join("public/__api/~/pack");
    match damage {
        "truncated-pack" | "missing-pack" => {
            // The largest pack.
            let packs = files_in(&root.join("packs"));
            let pack = packs
                .iter()
                .max_by_key(|p| fs::metadata(p).unwrap().len())
                .unwrap();
            if damage == "missing-pack" {
                fs::remove_file(pack).unwrap();
            } else {
                let file = fs::OpenOptions::new().write(true).open(pack).unwrap();
                let len = file.metadata().unwrap().len();
                file.set_len(len / 2).unwrap();
            }
        }
        "altered-shard" => {
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
        "missing-shards" => {
            for shard in files_in(&root.join("index")).iter().step_by(2) {
                fs::remove_file(shard).unwrap();
            }
        }
        other => panic!("no damage {other:?}"),
    }
    out
}

/// Asserts the answers of a run over a damaged export (`damage`, `n` requests, by `host`) were
/// each right or a 500 with the API's error body — never other bytes — and over 100 the 500.
pub fn assert_right_or_500(damage: &str, n: usize, mut tally: Tally, host: &str) {
    let body = r#"body "{\"code\":500,\"message\":\"Internal Server Error\"}""#;
    let (faults, wrong): (Vec<_>, Vec<_>) = tally.differ.drain(..).partition(|(case, diff)| {
        // A HEAD answer has no body to compare.
        diff.starts_with("status 500 ") && (diff.contains(body) || case.method == "HEAD")
    });
    tally.differ = wrong;
    assert!(
        tally.passed(),
        "{damage}: answers that are neither right nor the 500:\n{}",
        tally.report(host, 25)
    );
    assert!(
        faults.len() > 100,
        "{damage}: only {} answers of {n} were the 500 ({} agree)",
        faults.len(),
        tally.agree
    );
    eprintln!(
        "{host} {damage}: {} answers the 500, {} right, of {n}",
        faults.len(),
        tally.agree + tally.not_exported,
    );
}

/// [`damaged_export`]s served by `S` (started after the damage: hosts may load the files when
/// they start): 2,000 corpus requests (those `skip` leaves) each answered right or with a 500
/// and the API's error body ([`assert_right_or_500`]).
pub fn damaged<S: Server>(tmp: &Path, seed: u64, skip: &dyn Fn(&Case) -> bool) {
    for damage in DAMAGES {
        let dir = tmp.join(damage);
        let out = damaged_export(&dir, damage);
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
        let tally = conformance::run_http(&harness, &cases, server.addr());
        assert_right_or_500(damage, cases.len(), tally, server.addr());
    }
}

/// `router HOST` on a pack snapshot: the pack variant for the hosts that read packs; a message
/// that says which do for the others. The pack routers bundle no table that grows with the
/// snapshot: `_routers/` holds `routes.json` and each pack host's files, nothing else, and the
/// middleware is far under Vercel Hobby's 1 MB gzipped.
#[test]
fn router_prints_pack_variants_and_refuses_files_only_hosts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = export_demo(tmp.path(), &["--layout", "pack"]);
    let dir = out.to_str().unwrap();
    for host in ["apache", "caddy", "cloudfront"] {
        let got = crate::util::run(&["router", host, "--snapshot", dir], 2);
        let stderr = String::from_utf8_lossy(&got.stderr);
        assert!(
            stderr.contains(&format!(
                "the {host} router reads only the files layout (one file per route), and this is a pack snapshot"
            )) && stderr.contains("a router that reads packs: nginx, cloudflare, netlify, vercel"),
            "{stderr}"
        );
    }
    let nginx = super::router_config("nginx", &out, "127.0.0.1:8080", &[]);
    assert!(nginx.contains("matrix-snapshot pack snapshot") && !nginx.contains("etags"));
    let cloudflare = super::router_config("cloudflare", &out, "127.0.0.1:8080", &[]);
    assert!(cloudflare.contains("[[r2_buckets]]") && !cloudflare.contains("[assets]"));
    let netlify = super::router_config("netlify", &out, "127.0.0.1:8080", &[]);
    assert!(netlify.contains("matrix-snapshot pack snapshot") && netlify.contains("path = \"/*\""));
    let vercel = super::router_config("vercel", &out, "127.0.0.1:8080", &[]);
    assert!(vercel.contains("\"outputDirectory\": \"public\""));
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
            "netlify/netlify.toml",
            "netlify/netlify/edge-functions/matrix-api.js",
            "nginx/nginx.conf",
            "nginx/route.js",
            "routes.json",
            "vercel/middleware.js",
            "vercel/vercel.json",
        ]
    );
    let middleware = fs::read(out.join("_routers/vercel/middleware.js")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &middleware).unwrap();
    let gzipped = gz.finish().unwrap().len();
    assert!(gzipped < 100_000, "middleware.js: {gzipped} bytes gzipped");
}

/// The pack routers' code is the same for any size of snapshot: two generated stores, one ten
/// times the other, exported alike, get byte-identical routers (the routing table holds the
/// profile and the token's hash, not the routes).
#[test]
fn pack_routers_do_not_grow_with_the_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let mut routers = Vec::new();
    for assets in ["150", "1500"] {
        let dir = tmp.path().join(assets);
        let store = dir.join("store");
        let store = store.to_str().unwrap();
        let generate = [
            "generate", "--assets", assets, "--seed", "5", "--out", store,
        ];
        crate::util::run(&generate, 0);
        let args = [
            &[
                "--store",
                store,
                "--token",
                "gen-editor",
                "--profile",
                "minimal",
            ][..],
            &["--layout", "pack"],
        ]
        .concat();
        let out = export(&dir, &args);
        let files: Vec<(PathBuf, Vec<u8>)> = walkdir::WalkDir::new(out.join("_routers"))
            .sort_by_file_name()
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let rel = e.path().strip_prefix(&out).unwrap().to_path_buf();
                (rel, fs::read(e.path()).unwrap())
            })
            .collect();
        assert_eq!(files.len(), 9);
        routers.push(files);
    }
    for (small, large) in routers[0].iter().zip(&routers[1]) {
        assert_eq!(small.0, large.0);
        assert!(small.1 == large.1, "{} differs", small.0.display());
    }
}

/// The files layout's static rules cannot check a token, and `export --router` and `router`
/// warn about them; a pack snapshot has none, so neither warns (its routers check the token).
#[test]
fn a_pack_snapshot_has_no_static_rules_to_warn_about() {
    let tmp = tempfile::tempdir().unwrap();
    let warning = "static rules (_routers/netlify/static/) cannot check a token";
    for (layout, warns) in [("files", true), ("pack", false)] {
        let out = tmp.path().join(layout);
        let args = [
            "export",
            "--out",
            out.to_str().unwrap(),
            "--layout",
            layout,
            "--router",
            "netlify",
            "--router",
            "vercel",
        ];
        let got = crate::util::run(&[&args[..], super::DEMO].concat(), 0);
        let stderr = String::from_utf8_lossy(&got.stderr);
        assert_eq!(stderr.contains(warning), warns, "{layout}: {stderr}");
        let got = crate::util::run(
            &["router", "netlify", "--snapshot", out.to_str().unwrap()],
            0,
        );
        let stderr = String::from_utf8_lossy(&got.stderr);
        assert_eq!(stderr.contains(warning), warns, "{layout}: {stderr}");
    }
}
