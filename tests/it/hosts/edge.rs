//! Edge hosts without an offline runtime — Netlify (Edge Function), Vercel (Routing Middleware)
//! and AWS CloudFront (a CloudFront Function in front of S3) — checked offline: their files,
//! rendered by real exports, against each platform's documented rules, and their JavaScript run
//! in node under a model of the platform (`edge_fetch_shim.mjs`, `edge_cloudfront_shim.cjs`)
//! over 10,000 corpus requests per snapshot, judged by the conformance harness like a real
//! server. What a platform cannot do (docs/hosting/<host>.md, "Limits") is counted apart with
//! strict predicates; any other difference fails.

use super::hostile::{assert_corpus_asks_hostile_names, hostile_api12};
use super::{
    assert_api12_corpus, demo, export, export_api12, export_demo, export_store, generated_store,
    require, PUBLIC_CORS,
};
use crate::util::repo;
use data_encoding::BASE64;
use matrix_snapshot::conformance::{self, Case, Expected, Harness, Received, Tally};
use matrix_snapshot::route::preview::Snapshot;
use matrix_snapshot::Catalog;
use std::fs;
use std::path::Path;
use std::process::Command;

/// The platforms modelled here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Platform {
    Netlify,
    Vercel,
    CloudFront,
}

impl Platform {
    fn host(self) -> &'static str {
        match self {
            Platform::Netlify => "netlify",
            Platform::Vercel => "vercel",
            Platform::CloudFront => "cloudfront",
        }
    }

    /// What explains an answer as the platform's documented limit, and how many such answers
    /// a run may have at the most.
    fn limits(self) -> (Limit, usize) {
        match self {
            Platform::Netlify | Platform::Vercel => (url_rewritten, 200),
            Platform::CloudFront => (cloudfront_limits, 20),
        }
    }
}

/// One answer of a shim: what the client received, and the target the function was handed.
struct ShimAnswer {
    received: Received,
    seen: String,
}

/// How the model's static files answer a `Range` header (`edge_fetch_shim.mjs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ranges {
    /// Ignore it: 200 and the whole file (`netlify dev`).
    Whole,
    /// A 206 with the range (`vercel dev`).
    Honoured,
}

impl Ranges {
    fn arg(self) -> &'static str {
        match self {
            Ranges::Whole => "whole",
            Ranges::Honoured => "ranges",
        }
    }
}

/// What the function did with the model's static files in one run (`OUT_JSON.stats`).
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
pub(super) struct ShimStats {
    /// Static file reads (the function's own `fetch()`es).
    pub fetches: usize,
    /// The most for one request.
    pub most: usize,
    /// Reads with a `Range` header.
    pub ranges: usize,
    /// 206 answers.
    pub partial: usize,
    /// 200 answers to a `Range` request (the whole file).
    pub whole: usize,
    /// Bytes the function pulled from static bodies.
    pub streamed: u64,
    /// Static bodies the function cancelled before their end.
    pub cancelled: usize,
}

/// Runs `cases` through the platform model in node, its static files answering `Range` as
/// `ranges` says: the answers, and what the function did with the static files. `None` when
/// node is not installed (see [`require`]).
fn run_shim_with(
    platform: Platform,
    out: &Path,
    work: &Path,
    cases: &[Case],
    ranges: Ranges,
) -> Option<(Vec<ShimAnswer>, ShimStats)> {
    let node = require("node", "apt-get install nodejs")?;
    let routers = out.join("_routers").join(platform.host());
    let fn_dir = work.join(platform.host());
    copy_dir(&routers, &fn_dir);
    fs::write(fn_dir.join("package.json"), "{\"type\": \"module\"}\n").unwrap();
    let shim = match platform {
        Platform::CloudFront => "tests/it/hosts/edge_cloudfront_shim.cjs",
        _ => "tests/it/hosts/edge_fetch_shim.mjs",
    };
    let input: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| serde_json::json!([c.method, c.target, c.authorization]))
        .collect();
    let cases_file = work.join(format!("{}-cases.json", platform.host()));
    let out_file = work.join(format!("{}-answers.json", platform.host()));
    fs::write(&cases_file, serde_json::to_vec(&input).unwrap()).unwrap();
    let output = Command::new(node)
        .arg(repo(shim))
        .arg(platform.host())
        .arg(&fn_dir)
        .arg(out.join("public"))
        .arg(&cases_file)
        .arg(&out_file)
        // The CloudFront model has no static file reads of the function's own.
        .args((platform != Platform::CloudFront).then_some(ranges.arg()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the {} shim failed:\n{}",
        platform.host(),
        String::from_utf8_lossy(&output.stderr)
    );
    type Raw = (u16, Vec<(String, String)>, String, String);
    let raw: Vec<Raw> = serde_json::from_slice(&fs::read(&out_file).unwrap()).unwrap();
    assert_eq!(raw.len(), cases.len());
    let stats_file = work.join(format!("{}-answers.json.stats", platform.host()));
    let stats: ShimStats = match platform {
        Platform::CloudFront => ShimStats::default(),
        _ => serde_json::from_slice(&fs::read(stats_file).unwrap()).unwrap(),
    };
    Some((
        raw.into_iter()
            .map(|(status, headers, body, seen)| ShimAnswer {
                received: Received {
                    status,
                    headers,
                    body: BASE64.decode(body.as_bytes()).unwrap(),
                },
                seen,
            })
            .collect(),
        stats,
    ))
}

fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dest = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            fs::create_dir_all(&dest).unwrap();
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// The reference router's answer (`preview`'s, `route::resolve` over either layout) to a
/// request: status and body bytes.
fn reference(
    snapshot: &Snapshot,
    method: &str,
    target: &str,
    auth: Option<&str>,
) -> (u16, Vec<u8>) {
    let mut request = matrix_snapshot::api::Request::get(target).with_method(method);
    if let Some(auth) = auth {
        request = request.authorization(auth);
    }
    let answer = snapshot.answer(&request);
    (answer.status, answer.body)
}

/// The pack router of `platform` (`export --layout pack`) on the pack snapshot `out`, its
/// static files answering `Range` as `ranges` says: 10,000 corpus requests (seed `seed`), every
/// answer right or the URL parser's limit, at least `agree` agree, some "not exported" when
/// `not_exported`. At most 3 static reads a request (root, shard, range; shards and root
/// cached); with [`Ranges::Whole`] the bodies came from whole packs, sliced and cancelled, with
/// [`Ranges::Honoured`] from 206s. Runtime files in `out`'s parent. Skips without node.
pub(super) fn pack_conforms(
    platform: Platform,
    cat: &Catalog,
    out: &Path,
    seed: u64,
    (agree, not_exported): (usize, bool),
    ranges: Ranges,
) {
    let work = out
        .parent()
        .unwrap()
        .join(format!("{}-{}", platform.host(), ranges.arg()));
    fs::create_dir_all(&work).unwrap();
    let (limit, _) = platform.limits();
    let Some((tally, limited, stats)) =
        assert_conforms_with(platform, cat, out, &work, seed, 10_000, limit, ranges)
    else {
        return;
    };
    if not_exported {
        assert!(
            tally.not_exported > 0,
            "{}",
            tally.report(platform.host(), 0)
        );
    }
    assert_reach(platform, (tally, limited), agree);
    eprintln!(
        "{} pack, {ranges:?} ranges: {:.2} static reads a request, {} bytes streamed ({stats:?})",
        platform.host(),
        stats.fetches as f64 / 10_000.0,
        stats.streamed
    );
    assert!(stats.most <= 3, "{stats:?}: over 3 reads for one request");
    // Shards stay cached: about one read (the range) an answer.
    assert!(stats.fetches <= 2 * 10_000, "{stats:?}");
    assert_eq!(stats.ranges, stats.partial + stats.whole, "{stats:?}");
    match ranges {
        Ranges::Whole => assert!(
            stats.whole > 0 && stats.partial == 0 && stats.cancelled > 0,
            "{stats:?}: whole packs answered, sliced and cancelled"
        ),
        Ranges::Honoured => assert!(
            stats.partial > 0 && stats.whole == 0,
            "{stats:?}: ranges answered with 206"
        ),
    }
}

/// The pack router of `platform` on a damaged pack export (`pack::damaged_export`): 2,000
/// corpus requests, each answered right or with a 500 and the API's error body, never other
/// bytes, many with the 500. Requests the URL parser rewrites are left out.
pub(super) fn pack_damaged(platform: Platform, tmp: &Path, seed: u64, ranges: Ranges) {
    for damage in super::pack::DAMAGES {
        let dir = tmp.join(format!("{damage}-{}", ranges.arg()));
        let out = super::pack::damaged_export(&dir, damage);
        let cat = demo();
        let harness = Harness::open(&cat, &out).unwrap();
        let cases = harness.corpus(seed, 2_000);
        let Some((answers, _)) = run_shim_with(platform, &out, &dir, &cases, ranges) else {
            return;
        };
        let (cases, answers): (Vec<Case>, Vec<ShimAnswer>) = cases
            .into_iter()
            .zip(answers)
            .filter(|(case, got)| got.seen == case.target)
            .unzip();
        let mut next = answers.into_iter();
        let tally = conformance::run(&harness, &cases, |_| {
            Ok(next.next().expect("one answer per case").received)
        });
        super::pack::assert_right_or_500(damage, cases.len(), tally, platform.host());
    }
}

/// A warm isolate keeps the whole index of a mid-sized snapshot (`PACK_SHARD_BYTES` in
/// `templates/js/pack-read.js`): a 40,000-asset pack export has 512 shards and more than 8 MiB
/// of index (more than the 256 shards and 8 MiB the LRU kept until 2026-12-07), and a corpus asked twice
/// reads each shard once, then one range an answer. With the old bound about half the second
/// pass read its shard again. (10,000 assets made 512 shards until shards held 128 entries
/// on average rather than 1,024: decision E-019.)
#[test]
fn pack_shards_stay_cached_in_a_warm_isolate() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, cat) = super::generated_store_of(tmp.path(), 40_000);
    let out = super::export_store_with(
        &tmp.path().join("pack"),
        &store,
        "gen-public",
        "minimal",
        &["--layout", "pack"],
    );
    let root: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("public/__api/~/pack/root.json")).unwrap())
            .unwrap();
    let shards = root["shards"].as_array().unwrap().len();
    let index: u64 = fs::read_dir(out.join("public/__api/~/pack/index"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        shards > 256 && index > 8 << 20,
        "{shards} shards, {index} bytes: the test needs more than 256 and 8 MiB"
    );
    let harness = Harness::open(&cat, &out).unwrap();
    let corpus = harness.corpus(61, 3_000);
    let cases: Vec<Case> = corpus.iter().chain(&corpus).cloned().collect();
    let Some((answers, stats)) =
        run_shim_with(Platform::Vercel, &out, tmp.path(), &cases, Ranges::Honoured)
    else {
        return;
    };
    let bodies = answers.iter().filter(|a| a.received.status == 200).count();
    assert!(bodies > 1_000, "{bodies} answers with a body");
    // Each shard once, the root once every 5 s (PACK_ROOT_TTL; the run takes a few seconds),
    // then a range per 200 answer.
    assert!(
        stats.fetches <= stats.ranges + shards + 10,
        "{stats:?}: {shards} shards, {} requests",
        cases.len()
    );
    assert!(stats.ranges <= cases.len(), "{stats:?}");
}

/// Why an answer that differs from the API's is the platform's documented limit, or `None`.
type Limit = fn(&Harness, &Snapshot, &Case, &ShimAnswer, &str) -> Option<&'static str>;

/// Netlify and Vercel hand the function `request.url`, the target as the WHATWG URL parser
/// rewrote it (dot segments resolved, some bytes percent-encoded): the raw request line is not
/// available. Such an answer is the limit when the target was rewritten and the answer is
/// exactly what the reference router gives for the rewritten target.
fn url_rewritten(
    _: &Harness,
    snapshot: &Snapshot,
    case: &Case,
    got: &ShimAnswer,
    _: &str,
) -> Option<&'static str> {
    if got.seen == case.target {
        return None;
    }
    let want = reference(
        snapshot,
        &case.method,
        &got.seen,
        case.authorization.as_deref(),
    );
    (want == (got.received.status, got.received.body.clone()))
        .then_some("the platform parsed the target as a URL (Request.url)")
}

/// Replays `n` corpus requests (seed `seed`) through the platform model and judges them; the
/// answers `limit` explains are counted apart (and must stay rare). `None` when node is missing.
fn assert_conforms(
    platform: Platform,
    cat: &Catalog,
    out: &Path,
    work: &Path,
    seed: u64,
    n: usize,
    limit: Limit,
) -> Option<(Tally, usize)> {
    assert_conforms_with(platform, cat, out, work, seed, n, limit, Ranges::Whole)
        .map(|(tally, limited, _)| (tally, limited))
}

/// [`assert_conforms`] with the static files answering `Range` as `ranges` says; also what the
/// function did with them.
#[allow(clippy::too_many_arguments)]
fn assert_conforms_with(
    platform: Platform,
    cat: &Catalog,
    out: &Path,
    work: &Path,
    seed: u64,
    n: usize,
    limit: Limit,
    ranges: Ranges,
) -> Option<(Tally, usize, ShimStats)> {
    let harness = Harness::open(cat, out).expect("harness");
    let snapshot = Snapshot::open(out).unwrap();
    let mut cases = harness.corpus(seed, n);
    // D-057: forbidden URLs in every spelling answer the 403, never a limit.
    let forbidden = harness.forbidden_url_cases(3);
    cases.extend(forbidden.iter().cloned());
    let (answers, stats) = run_shim_with(platform, out, work, &cases, ranges)?;
    let mut next = answers.iter();
    let mut tally = conformance::run(&harness, &cases, |_| {
        Ok(next.next().expect("one answer per case").received.clone())
    });
    // Identical cases get identical answers: any of them stands for all.
    let key = |c: &Case| (c.method.clone(), c.target.clone(), c.authorization.clone());
    let by_case: std::collections::HashMap<_, &ShimAnswer> =
        cases.iter().map(key).zip(&answers).collect();
    let mut limited: Vec<(Case, &'static str)> = Vec::new();
    let mut wrong = Vec::new();
    for (case, diff) in tally.differ.drain(..) {
        match limit(&harness, &snapshot, &case, by_case[&key(&case)], &diff) {
            Some(why) => limited.push((case, why)),
            None => wrong.push((case, diff)),
        }
    }
    tally.differ = wrong;
    let name = format!("{} (node model)", platform.host());
    assert!(tally.passed(), "{}", tally.report(&name, 25));
    assert_eq!(tally.deviations, 0, "{}", tally.report(&name, 0));
    for (case, why) in &limited {
        assert!(!forbidden.contains(case), "{case}: {why}");
    }
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for (_, why) in &limited {
        *counts.entry(why).or_default() += 1;
    }
    let reasons: Vec<String> = counts.iter().map(|(why, n)| format!("{n} {why}")).collect();
    eprintln!(
        "{name} {}: agreement {}/{} ({} not exported, {} documented deviations); {} more answered as the platform's documented limits: {}",
        out.parent().unwrap().file_name().unwrap().to_string_lossy(),
        tally.agree,
        tally.compared() - limited.len(),
        tally.not_exported,
        tally.deviations,
        limited.len(),
        reasons.join("; ")
    );
    for (case, why) in limited.iter().take(5) {
        eprintln!("  limit: {case}: {why}");
    }
    Some((tally, limited.len(), stats))
}

/// Asserts a run of `platform` reached `agree` answers that agree or are its limits, with no
/// more limits than it may have.
fn assert_reach(platform: Platform, (tally, limited): (Tally, usize), agree: usize) {
    assert!(
        tally.agree + limited >= agree,
        "{}",
        tally.report(platform.host(), 0)
    );
    let (_, max_limited) = platform.limits();
    assert!(
        limited <= max_limited,
        "{limited} answers explained by limits"
    );
}

/// The three runs of one platform: the demo (token), the demo `--public --cors`, and a
/// generated store's snapshots for two tokens.
fn conforms(platform: Platform) {
    let (limit, _) = platform.limits();
    let tmp = tempfile::tempdir().unwrap();
    let out = export_demo(&tmp.path().join("demo"), &[]);
    let Some(run) = assert_conforms(platform, &demo(), &out, tmp.path(), 41, 10_000, limit) else {
        return;
    };
    assert!(run.0.not_exported > 0);
    assert_reach(platform, run, 8_000);

    let out = export_demo(&tmp.path().join("public"), PUBLIC_CORS);
    let run = assert_conforms(platform, &demo(), &out, tmp.path(), 42, 10_000, limit).unwrap();
    assert_reach(platform, run, 8_000);

    let (store, cat) = generated_store(tmp.path());
    for token in ["gen-editor", "gen-site1"] {
        let out = export_store(&tmp.path().join(token), &store, token, "minimal");
        let run = assert_conforms(platform, &cat, &out, tmp.path(), 43, 10_000, limit).unwrap();
        assert_reach(platform, run, 8_000);
    }
}

/// Content API 1.2.0 parameters (`include_dependents`, `base_url`, `context`) over the demo
/// exported with all three dimensions: every exported variant agrees, the rest is "not
/// exported" or a 400 (an undeclared context), never a wrong 200.
fn conforms_with_api_1_2_0_dimensions(platform: Platform) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("api12");
    fs::create_dir_all(&dir).unwrap();
    let out = export_api12(&dir, &[]);
    let cat = demo();
    assert_api12_corpus(&cat, &out, 45);
    let (limit, _) = platform.limits();
    let Some(run) = assert_conforms(platform, &cat, &out, tmp.path(), 45, 10_000, limit) else {
        return;
    };
    assert!(run.0.not_exported > 0);
    assert_reach(platform, run, 7_000);
}

/// Ids, URLs and Content API 1.2.0 names that are hard to spell (`hostile::hostile_api12`):
/// the rendered (and, for CloudFront, minified) table must match their bytes exactly.
fn conforms_with_hostile_names(platform: Platform) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hostile");
    fs::create_dir_all(&dir).unwrap();
    let (cat, out) = hostile_api12(&dir);
    assert_corpus_asks_hostile_names(&cat, &out, 47);
    let (limit, _) = platform.limits();
    if let Some(run) = assert_conforms(platform, &cat, &out, tmp.path(), 47, 10_000, limit) {
        assert_reach(platform, run, 7_000);
    }
}

/// Netlify's pack router (static files ignoring `Range`) on a truncated pack, an altered shard,
/// a missing pack, missing shards (`pack::DAMAGES`): each answer right or the API's 500, never
/// other bytes.
#[test]
fn netlify_pack_answers_500_for_a_truncated_pack_or_an_altered_shard() {
    pack_damaged(
        Platform::Netlify,
        tempfile::tempdir().unwrap().path(),
        70,
        Ranges::Whole,
    );
}

/// Vercel's pack router (static files honouring `Range`: a truncated pack answers 416 or a
/// short 206) on the same damage.
#[test]
fn vercel_pack_answers_500_for_a_truncated_pack_or_an_altered_shard() {
    pack_damaged(
        Platform::Vercel,
        tempfile::tempdir().unwrap().path(),
        71,
        Ranges::Honoured,
    );
}

#[test]
fn netlify_edge_function_conforms() {
    conforms(Platform::Netlify);
}

#[test]
fn vercel_middleware_conforms() {
    conforms(Platform::Vercel);
}

/// The function learns from the key value store whether an asset directory is readable or
/// forbidden, except for directory names over 512 bytes (the store's key limit), and the "not
/// exported" body unless it is over 1 KB (the value limit): then S3's generic 404 (custom error
/// response, or the function's own generic 404) answers where the API answers 403 or the "not
/// exported" 404. Those exactly, and nothing else, are the limit (met by the hostile names'
/// long id and by a profile whose "not exported" body is over 1 KB).
fn cloudfront_limits(
    harness: &Harness,
    snapshot: &Snapshot,
    case: &Case,
    got: &ShimAnswer,
    _: &str,
) -> Option<&'static str> {
    let got = &got.received;
    let generic_404 = match case.method.as_str() {
        "HEAD" => Vec::new(),
        _ => fs::read(snapshot.public.join("__api/~/errors/404.json")).unwrap(),
    };
    let expected = harness.expect(case);
    let want_status = harness.expect_status(case);
    let generic = got.status == 404
        && got.body == generic_404
        && got.header("Content-Type") == Some("application/json; charset=utf-8");
    if generic && want_status == 403 && !case.target.starts_with("/__api/assets/by_url") {
        return Some("a forbidden id answers S3's missing-object 404");
    }
    if generic && matches!(expected, Expected::NotExported(_)) {
        return Some("a variant outside the profile answers S3's missing-object 404");
    }
    None
}

#[test]
fn cloudfront_function_conforms() {
    conforms(Platform::CloudFront);
}

#[test]
fn cloudfront_conforms_with_api_1_2_0_dimensions() {
    conforms_with_api_1_2_0_dimensions(Platform::CloudFront);
}

/// A "not exported" body over the key value store's 1 KB (every `data` subset, five
/// `children_data`, two long `base_url` values, a long `asset_types` filter): the function answers the variants outside
/// the profile with the generic 404 (the documented limit), those with a `base_url` or
/// `context` it left out too, and never with a file that is not the variant's.
#[test]
fn cloudfront_without_the_not_exported_body_in_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("long");
    fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("long.toml");
    fs::write(
        &profile,
        indoc::indoc! {r#"
            data = "all"
            children_data = [[], ["urls", "attributes", "metadata", "contents"],
                ["urls", "attributes", "metadata"], ["attributes", "metadata", "contents"],
                ["urls", "attributes", "contents"]]
            sort_by = ["tree"]
            sort_order = ["asc"]
            limits = [100]
            asset_types = [[], ["page_standard", "folder", "image", "pdf_file", "site", "user",
                "content_type_wysiwyg", "ldap_bridge", "rest_resource", "root_folder"]]
            base_urls = [
                "https://research.uni.test/a/path/long/enough/to/fill/the/not-exported/body/of/this/snapshot/with/the/other/one",
                "http://www.uni.test/another/path/long/enough/to/fill/the/not-exported/body/of/this/snapshot/with/the/other/one",
            ]
        "#},
    )
    .unwrap();
    let out = export(
        &dir,
        &[
            "--token",
            "demo-editor",
            "--profile",
            profile.to_str().unwrap(),
        ],
    );
    let kvs = fs::read_to_string(out.join("_routers/cloudfront/kvs.json")).unwrap();
    assert!(!kvs.contains("~not-exported"), "the body is over 1 KB");
    let Some((tally, limited)) = assert_conforms(
        Platform::CloudFront,
        &demo(),
        &out,
        tmp.path(),
        46,
        10_000,
        cloudfront_limits,
    ) else {
        return;
    };
    assert!(limited > 100, "{limited} answers explained by limits");
    assert!(
        tally.agree + limited >= 7_000,
        "{}",
        tally.report("cloudfront", 0)
    );
}

#[test]
fn cloudfront_conforms_with_hostile_names() {
    conforms_with_hostile_names(Platform::CloudFront);
}

#[test]
fn netlify_conforms_with_hostile_names() {
    conforms_with_hostile_names(Platform::Netlify);
}

#[test]
fn vercel_conforms_with_hostile_names() {
    conforms_with_hostile_names(Platform::Vercel);
}

#[test]
fn netlify_conforms_with_api_1_2_0_dimensions() {
    conforms_with_api_1_2_0_dimensions(Platform::Netlify);
}

#[test]
fn vercel_conforms_with_api_1_2_0_dimensions() {
    conforms_with_api_1_2_0_dimensions(Platform::Vercel);
}

/// Each host's files, rendered by a token export and a `--public --cors` one, follow the rules
/// the platforms document: `node --check`; CloudFront's 10 KB and runtime (one script defining
/// `handler`, only the `crypto` module, no `eval`); netlify.toml's keys; `_redirects` and
/// `_headers` line grammar; vercel.json's schema (keys, and `routes` not mixed with
/// `rewrites`/`headers`/`redirects`/`cleanUrls`/`trailingSlash`).
#[test]
fn edge_files_follow_the_platforms_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let token = export_demo(&tmp.path().join("token"), &[]);
    let public = export_demo(&tmp.path().join("public"), PUBLIC_CORS);
    for out in [&token, &public] {
        let routers = out.join("_routers");
        check_cloudfront(&routers.join("cloudfront"));
        check_netlify(&routers.join("netlify"));
        check_vercel(&routers.join("vercel"));
    }
    let node = match require("node", "apt-get install nodejs") {
        Some(node) => node,
        None => return,
    };
    for out in [&token, &public] {
        let routers = out.join("_routers");
        // CloudFront Functions are scripts; the Edge Function and the middleware ES modules.
        // An ES module: it imports 'cloudfront'.
        let script = tmp.path().join("function.mjs");
        fs::copy(routers.join("cloudfront/function.js"), &script).unwrap();
        let response_script = tmp.path().join("viewer-response.js");
        fs::copy(
            routers.join("cloudfront/viewer-response.js"),
            &response_script,
        )
        .unwrap();
        for (file, as_module) in [
            (script, false),
            (response_script, false),
            (
                routers.join("netlify/netlify/edge-functions/matrix-api.js"),
                true,
            ),
            (
                routers.join("netlify/netlify/edge-functions/snapshot-files.js"),
                true,
            ),
            (routers.join("vercel/middleware.js"), true),
            (routers.join("vercel/snapshot-files.js"), true),
        ] {
            let file = if as_module {
                let mjs = tmp.path().join("check.mjs");
                fs::copy(&file, &mjs).unwrap();
                mjs
            } else {
                file
            };
            let status = Command::new(&node)
                .arg("--check")
                .arg(&file)
                .status()
                .unwrap();
            assert!(status.success(), "node --check {}", file.display());
        }
    }
}

fn check_cloudfront(dir: &Path) {
    let viewer_response = fs::read_to_string(dir.join("viewer-response.js")).unwrap();
    assert!(viewer_response.len() <= 10_240 && viewer_response.contains("function handler("));
    assert!(!viewer_response.contains("require("));
    let status = Command::new("sh")
        .arg("-n")
        .arg(dir.join("upload.sh"))
        .status()
        .unwrap();
    assert!(status.success(), "sh -n upload.sh");
    let code = fs::read_to_string(dir.join("function.js")).unwrap();
    assert!(
        code.len() <= 10_240,
        "a CloudFront Function holds at most 10 KB; function.js has {} bytes",
        code.len()
    );
    assert!(code.contains("function handler("), "no handler");
    assert_eq!(code.matches("require(").count(), 1, "one require");
    assert!(code.contains("require('crypto')"));
    // The one import the runtime has, first: the key value store's module.
    assert!(
        code.starts_with("import cf from'cloudfront';"),
        "the import first"
    );
    assert_eq!(code.matches("import").count(), 1);
    let kvs: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("kvs.json")).unwrap()).unwrap();
    let data = kvs["data"].as_array().unwrap();
    let mut size = 0;
    for entry in data {
        let (key, value) = (
            entry["key"].as_str().unwrap(),
            entry["value"].as_str().unwrap(),
        );
        assert!(
            !key.is_empty() && key.len() <= 512 && value.len() <= 1024,
            "{key}"
        );
        size += key.len() + value.len();
    }
    assert!(size <= 5 << 20, "a key value store holds at most 5 MB");
    for bad in [
        "export ",
        "eval(",
        "Function(",
        "setTimeout",
        "XMLHttpRequest",
        "fetch(",
    ] {
        assert!(!code.contains(bad), "CloudFront Functions have no {bad}");
    }
}

fn check_netlify(dir: &Path) {
    let toml: toml::Value = fs::read_to_string(dir.join("netlify.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(toml["build"]["publish"].as_str(), Some("public"));
    let functions = toml["edge_functions"].as_array().unwrap();
    assert_eq!(functions.len(), 1);
    assert_eq!(functions[0]["path"].as_str(), Some("/*"));
    let name = functions[0]["function"].as_str().unwrap();
    assert!(dir
        .join(format!("netlify/edge-functions/{name}.js"))
        .is_file());
    // _redirects: `from [name=value ...] to [status[!]]`; placeholders of `to` bound in `from`.
    let redirects = fs::read_to_string(dir.join("static/_redirects")).unwrap();
    let mut rules = 0;
    for line in redirects.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        rules += 1;
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(fields.len() >= 2, "{line}");
        let from = fields[0];
        assert!(from.starts_with('/'), "{line}");
        let to_at = fields[1..]
            .iter()
            .position(|f| f.starts_with('/'))
            .map(|i| i + 1)
            .unwrap_or_else(|| panic!("no target: {line}"));
        for query in &fields[1..to_at] {
            let (name, value) = query.split_once('=').unwrap_or_else(|| panic!("{line}"));
            assert!(!name.is_empty() && !value.is_empty(), "{line}");
        }
        let to = fields[to_at];
        for placeholder in to.split('/').filter(|p| p.starts_with(':')) {
            assert!(from.split('/').any(|p| p == placeholder), "{line}");
        }
        let rest = &fields[to_at + 1..];
        assert!(rest.len() <= 1, "{line}");
        if let Some(status) = rest.first() {
            let code: u16 = status.trim_end_matches('!').parse().unwrap();
            assert!([200, 301, 302, 303, 307, 308, 401, 403, 404, 410, 451].contains(&code));
        }
    }
    assert!(rules >= 1);
    // _headers: a path, then indented `Name: value` lines.
    let headers = fs::read_to_string(dir.join("static/_headers")).unwrap();
    let mut path_seen = false;
    for line in headers
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        if line.starts_with('/') {
            path_seen = true;
        } else {
            assert!(path_seen && line.starts_with("  "), "{line}");
            let (name, value) = line.trim().split_once(": ").unwrap();
            assert!(
                !name.is_empty() && !value.is_empty() && !name.contains(' '),
                "{line}"
            );
        }
    }
}

fn check_vercel(dir: &Path) {
    for file in ["vercel.json", "static/vercel.json"] {
        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join(file)).unwrap()).unwrap();
        let top = json.as_object().unwrap();
        let known = [
            "$schema",
            "buildCommand",
            "outputDirectory",
            "cleanUrls",
            "trailingSlash",
            "routes",
            "rewrites",
            "redirects",
            "headers",
        ];
        for key in top.keys() {
            assert!(known.contains(&key.as_str()), "{file}: unknown key {key}");
        }
        if let Some(routes) = top.get("routes") {
            for key in [
                "rewrites",
                "redirects",
                "headers",
                "cleanUrls",
                "trailingSlash",
            ] {
                assert!(
                    !top.contains_key(key),
                    "{file}: routes cannot be mixed with {key}"
                );
            }
            for route in routes.as_array().unwrap() {
                let route = route.as_object().unwrap();
                for key in route.keys() {
                    assert!(
                        ["src", "dest", "headers", "status", "has", "continue", "handle"]
                            .contains(&key.as_str()),
                        "{file}: route key {key}"
                    );
                }
                assert!(route.contains_key("src") != route.contains_key("handle"));
                if let Some(has) = route.get("has") {
                    for h in has.as_array().unwrap() {
                        let t = h["type"].as_str().unwrap();
                        assert!(["header", "cookie", "host", "query"].contains(&t));
                        assert!(h["key"].is_string());
                    }
                }
                if let Some(status) = route.get("status") {
                    assert!((100..600).contains(&status.as_u64().unwrap()));
                }
            }
        }
    }
}
