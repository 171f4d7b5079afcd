//! Edge hosts without an offline runtime — Netlify (Edge Function), Vercel (Routing Middleware)
//! and AWS CloudFront (a CloudFront Function in front of S3) — checked offline: their files,
//! rendered by real exports, against each platform's documented rules, and their JavaScript run
//! in node under a model of the platform (`edge_fetch_shim.mjs`, `edge_cloudfront_shim.cjs`)
//! over 10,000 corpus requests per snapshot, judged by the conformance harness like a real
//! server. What a platform cannot do (docs/hosting/<host>.md, "Limits") is counted apart with
//! strict predicates; any other difference fails.

use super::{export, require};
use crate::util::{repo, run};
use data_encoding::BASE64;
use matrix_snapshot::conformance::{self, Case, Expected, Harness, Received, Tally};
use matrix_snapshot::route::{self, preview::Snapshot};
use matrix_snapshot::{Catalog, Store};
use std::fs;
use std::path::Path;
use std::process::Command;

/// The platforms modelled here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Platform {
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
}

/// One answer of a shim: what the client received, and the target the function was handed.
struct ShimAnswer {
    received: Received,
    seen: String,
}

/// Runs `cases` through the platform model in node. `None` when node is not installed (see
/// [`require`]).
fn run_shim(
    platform: Platform,
    out: &Path,
    work: &Path,
    cases: &[Case],
) -> Option<Vec<ShimAnswer>> {
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
    Some(
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
    )
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

/// The reference router's answer (`route::resolve`) to a request: status and body bytes.
fn reference(
    snapshot: &Snapshot,
    method: &str,
    target: &str,
    auth: Option<&str>,
) -> (u16, Vec<u8>) {
    let routed = route::resolve(&snapshot.routes, method, target, auth, &|rel: &str| {
        snapshot.public.join(rel).is_file()
    });
    let body = match &routed.file {
        Some(f) if method != "HEAD" => fs::read(snapshot.public.join(f)).unwrap(),
        _ => Vec::new(),
    };
    (routed.status, body)
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
    let harness = Harness::open(cat, out).expect("harness");
    let snapshot = Snapshot::open(out).unwrap();
    let cases = harness.corpus(seed, n);
    let answers = run_shim(platform, out, work, &cases)?;
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
    let mut reasons: Vec<&str> = limited.iter().map(|(_, why)| *why).collect();
    reasons.sort();
    reasons.dedup();
    eprintln!(
        "{name}: agreement {}/{} ({} not exported, {} documented deviations); {} more answered as the platform's documented limits: {}",
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
    Some((tally, limited.len()))
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

/// The three runs of one platform: the demo (token), the demo `--public --cors`, and a
/// generated store's snapshots for two tokens.
fn conforms(platform: Platform, limit: Limit, max_limited: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let out = export(&tmp.path().join("demo"), DEMO);
    let Some((tally, limited)) =
        assert_conforms(platform, &demo(), &out, tmp.path(), 41, 10_000, limit)
    else {
        return;
    };
    assert!(
        tally.agree + limited >= 8_000,
        "{}",
        tally.report(platform.host(), 0)
    );
    assert!(tally.not_exported > 0 || platform == Platform::CloudFront);
    assert!(
        limited <= max_limited,
        "{limited} answers explained by limits"
    );

    let mut args = DEMO.to_vec();
    args.extend(["--public", "--cors", "https://app.test"]);
    let out = export(&tmp.path().join("public"), &args);
    let (tally, limited) =
        assert_conforms(platform, &demo(), &out, tmp.path(), 42, 10_000, limit).unwrap();
    assert!(
        tally.agree + limited >= 8_000,
        "{}",
        tally.report(platform.host(), 0)
    );
    assert!(
        limited <= max_limited,
        "{limited} answers explained by limits"
    );

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
        let out = export(
            &tmp.path().join(token),
            &[
                "--store",
                store.to_str().unwrap(),
                "--token",
                token,
                "--profile",
                "minimal",
            ],
        );
        let (tally, limited) =
            assert_conforms(platform, &cat, &out, tmp.path(), 43, 10_000, limit).unwrap();
        assert!(
            tally.agree + limited >= 8_000,
            "{}",
            tally.report(platform.host(), 0)
        );
        assert!(
            limited <= max_limited,
            "{limited} answers explained by limits"
        );
    }
}

#[test]
fn netlify_edge_function_conforms() {
    conforms(Platform::Netlify, url_rewritten, 200);
}

#[test]
fn vercel_middleware_conforms() {
    conforms(Platform::Vercel, url_rewritten, 200);
}

/// CloudFront serves 200 files from S3 and cannot look at the bucket before: S3's `ETag` (the
/// quoted MD5) instead of the blake3 one, and the generic 404 (custom error response) where
/// the answer is a 403 for a forbidden id or the "not exported" 404. Those exactly, and nothing
/// else, are the limit.
fn cloudfront_limits(
    harness: &Harness,
    snapshot: &Snapshot,
    case: &Case,
    got: &ShimAnswer,
    _: &str,
) -> Option<&'static str> {
    let got = &got.received;
    let auth = case.authorization.as_deref();
    let generic_404 = match case.method.as_str() {
        "HEAD" => Vec::new(),
        _ => fs::read(snapshot.public.join("__api/~/errors/404.json")).unwrap(),
    };
    let expected = harness.expect(case);
    let want_status = harness.expect_status(case);
    if got.status == 200 && want_status == 200 {
        let etag = got.header("ETag").unwrap_or("");
        let md5_shaped = etag.len() == 34
            && etag.starts_with('"')
            && etag.ends_with('"')
            && etag[1..33].bytes().all(|b| b.is_ascii_hexdigit());
        let (_, get_body) = reference(snapshot, "GET", &case.target, auth);
        let mut fixed = got.clone();
        for (name, value) in &mut fixed.headers {
            if name.eq_ignore_ascii_case("ETag") {
                *value = route::preview::etag(&get_body);
            }
        }
        let only_etag = !matches!(harness.judge(case, &fixed), conformance::Outcome::Differ(_));
        return (md5_shaped && only_etag).then_some("S3's ETag (MD5)");
    }
    let generic = got.status == 404
        && got.body == generic_404
        && got.header("Content-Type") == Some("application/json; charset=utf-8");
    if generic && want_status == 403 {
        return Some("a forbidden id answers S3's missing-object 404");
    }
    if generic && matches!(expected, Expected::NotExported(_)) {
        return Some("a variant outside the profile answers S3's missing-object 404");
    }
    None
}

#[test]
fn cloudfront_function_conforms() {
    conforms(Platform::CloudFront, cloudfront_limits, 10_000);
}
