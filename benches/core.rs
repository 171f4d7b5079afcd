//! Core benchmark (`cargo bench --bench core -- [--assets N] [--keep DIR]`): on a generated store
//! of N assets (default 100 000), measures
//!
//! 1. `matrix-snapshot generate`: wall time and peak RSS (the real binary, under `/usr/bin/time`);
//! 2. `matrix-snapshot check`: store load + validation + every token's view: time and peak RSS;
//! 3. `answer()` throughput on one thread, per request kind, in requests/s and MB/s.
//!
//! Inputs are written into a fresh directory and removed afterwards (unless `--keep DIR`), as
//! a reused one would skew them (ext4 creates files up to 10× slower for minutes after a large
//! delete). Figures go to stdout as a Markdown table.

mod common;
use common::{arg, scratch, timed};

use matrix_snapshot::store::Store;
use matrix_snapshot::{answer, Catalog, Request};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Makes the request target of one kind for an asset.
type TargetOf<'a> = Box<dyn Fn(u32) -> String + 'a>;

fn dir_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

fn main() {
    let assets: u64 = arg("--assets")
        .or_else(|| std::env::var("BENCH_ASSETS").ok())
        .map(|s| s.parse().expect("--assets N"))
        .unwrap_or(100_000);
    let keep = arg("--keep").map(PathBuf::from);
    let scratch = scratch(
        "matrix-snapshot-bench-",
        std::env::var_os("CARGO_TARGET_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir),
    );
    let store_dir = keep.clone().unwrap_or_else(|| scratch.path().join("store"));

    println!("## matrix-snapshot core benchmark: {assets} assets\n");
    println!("| step | figure |\n|---|---|");
    if !store_dir.join("store.json").exists() {
        let (secs, rss, _) = timed(&[
            "generate",
            "--assets",
            &assets.to_string(),
            "--seed",
            "1",
            "--out",
            store_dir.to_str().unwrap(),
        ]);
        println!(
            "| generate {assets} assets | {secs:.2} s, peak RSS {} |",
            fmt_mib(rss)
        );
    }
    println!(
        "| store size on disk | {:.1} MiB |",
        dir_bytes(&store_dir) as f64 / 1048576.0
    );
    let (secs, rss, _) = timed(&["check", "--store", store_dir.to_str().unwrap()]);
    println!(
        "| load + validate + token views (`check`) | {secs:.2} s, peak RSS {} |",
        fmt_mib(rss)
    );

    let started = Instant::now();
    let store = Store::load(&store_dir).expect("load");
    let load_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let catalog = Catalog::new(store);
    println!(
        "| in-process: `Store::load` / `Catalog::new` | {load_secs:.2} s / {:.2} s |",
        started.elapsed().as_secs_f64()
    );

    let (token_idx, token) = catalog
        .store
        .tokens
        .iter()
        .enumerate()
        .find(|(_, t)| t.token == "gen-public")
        .map(|(i, t)| (i as u32, t.token.clone()))
        .expect("generated stores have gen-public");
    let view = catalog.view(token_idx).expect("usable");
    let readable: Vec<u32> = view.readable().collect();
    // Fixed, spread-out samples (deterministic): any readable asset; readable parents with
    // readable children (so children pages are not empty); readable assets with a URL.
    let spread = |pool: &[u32]| -> Vec<u32> {
        (0..20_000u64)
            .map(|i| pool[((i * 2_654_435_761) % pool.len() as u64) as usize])
            .collect()
    };
    let parents: Vec<u32> = readable
        .iter()
        .copied()
        .filter(|&a| {
            let children = catalog.tree_children(a);
            children
                .iter()
                .any(|&l| view.can_read(catalog.store.link_ends(l).1))
        })
        .collect();
    let with_url: Vec<u32> = readable
        .iter()
        .copied()
        .filter(|&a| !catalog.store.asset(a).urls.is_empty())
        .collect();
    let samples = [spread(&readable), spread(&parents), spread(&with_url)];
    let enc = |id: &str| {
        percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let kinds: [(&str, usize, TargetOf); 5] = [
        (
            "asset, no data",
            0,
            Box::new(|a| format!("/__api/assets/{}", enc(&catalog.store.asset(a).id))),
        ),
        (
            "asset, all data",
            0,
            Box::new(|a| {
                format!(
                    "/__api/assets/{}?data=urls,attributes,metadata,contents",
                    enc(&catalog.store.asset(a).id)
                )
            }),
        ),
        (
            "lineage, all data",
            0,
            Box::new(|a| {
                format!(
                    "/__api/assets/{}/lineage/site?data=urls,attributes,metadata,contents",
                    enc(&catalog.store.asset(a).id)
                )
            }),
        ),
        (
            "children of parents (limit 100, sort_by=name, data=urls)",
            1,
            Box::new(|a| {
                format!(
                    "/__api/assets/{}/children?sort_by=name&data=urls",
                    enc(&catalog.store.asset(a).id)
                )
            }),
        ),
        (
            "by_url, urls",
            2,
            Box::new(|a| {
                let url = &catalog.store.asset(a).urls[0];
                format!("/__api/assets/by_url?data=urls&url={}", enc(url))
            }),
        ),
    ];
    for (name, pool, make) in kinds.iter() {
        let requests: Vec<Request> = samples[*pool]
            .iter()
            .map(|&a| Request::get(make(a)).bearer(&token))
            .collect();
        let started = Instant::now();
        let mut bytes = 0usize;
        let mut ok = 0usize;
        for r in &requests {
            let resp = answer(&catalog, r);
            bytes += resp.body.len();
            ok += (resp.status == 200) as usize;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "| `answer()` {name}, 1 thread | {:.0} req/s, {:.0} MB/s ({} requests, {} × 200, {:.1} KB avg) |",
            requests.len() as f64 / secs,
            bytes as f64 / secs / 1e6,
            requests.len(),
            ok,
            bytes as f64 / requests.len() as f64 / 1e3
        );
    }
    drop(kinds);
    drop(catalog);
    if keep.is_none() {
        let started = Instant::now();
        drop(scratch);
        eprintln!(
            "(removed the scratch store in {:.1}s)",
            started.elapsed().as_secs_f64()
        );
    }
}

fn fmt_mib(rss: Option<f64>) -> String {
    rss.map_or_else(
        || "n/a (install Debian's `time`)".to_string(),
        |m| format!("{m:.0} MiB"),
    )
}
