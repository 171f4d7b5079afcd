//! `serve` over real HTTP on 127.0.0.1: every answer equals the library's `answer()` (status,
//! headers that matter, body bytes), for every error case and the happy paths.

use crate::util::{http, repo, HttpResponse, Served};
use matrix_snapshot::api::Options;
use matrix_snapshot::store::url::Scheme;
use matrix_snapshot::{answer, Catalog, Request, Response, Store};

const RULES: &str = "tests/fixtures/stores/rules";

fn rules_catalog() -> Catalog {
    Catalog::new(Store::load(&repo(RULES)).expect("fixture store"))
}

/// Sends `req` over HTTP and asserts it equals `answer()` for the same request.
fn assert_same(
    served: &Served,
    cat: &Catalog,
    method: &str,
    target: &str,
    auth: Option<&str>,
) -> HttpResponse {
    let mut headers = vec![];
    if let Some(a) = auth {
        headers.push(("Authorization", a));
    }
    let live = http(&served.addr, method, target, &headers);
    let mut req = Request::get(target)
        .with_method(method)
        .on_host(Scheme::Http, &served.addr);
    req.authorization = auth.map(str::to_string);
    let want: Response = answer(cat, &req);
    let ctx = format!("{method} {target} auth={auth:?}");
    assert_eq!(live.status, want.status, "{ctx}");
    for name in [
        "Content-Type",
        "Content-Length",
        "WWW-Authenticate",
        "Allow",
        "Access-Control-Allow-Origin",
        "Vary",
    ] {
        if name == "Content-Length" && live.status == 204 {
            // RFC 9110 §8.6: no Content-Length on a 204; the HTTP layer leaves it out.
            assert_eq!(live.header(name), None, "{ctx}");
            continue;
        }
        assert_eq!(live.header(name), want.header(name), "{ctx}: header {name}");
    }
    assert_eq!(
        String::from_utf8_lossy(&live.body),
        String::from_utf8_lossy(&want.body),
        "{ctx}: body"
    );
    live
}

#[test]
fn every_status_over_http_matches_answer() {
    let served = Served::start(&["--store", RULES]);
    let cat = rules_catalog();
    let cases: &[(&str, &str, Option<&str>, u16)] = &[
        // 200s
        (
            "GET",
            "/__api/assets/78?data=urls,attributes,metadata,contents",
            Some("Bearer pub"),
            200,
        ),
        ("GET", "/__api/assets/12%3Aab%2Fc", Some("Bearer pub"), 200),
        (
            "GET",
            "/__api/assets/by_url?url=https%3A%2F%2Fwww.uni.test%2Fnews%2Fclickbait&data=urls",
            Some("Bearer pub"),
            200,
        ),
        (
            "GET",
            "/__api/assets/78/lineage/site?data=urls",
            Some("Bearer pub"),
            200,
        ),
        (
            "GET",
            "/__api/assets/by_url/lineage/site?url=https://research.uni.test/clickbait",
            Some("Bearer pub"),
            200,
        ),
        (
            "GET",
            "/__api/assets/5/children?limit=2&page=2&sort_by=name&sort_order=desc&data=contents",
            Some("Bearer ed"),
            200,
        ),
        (
            "GET",
            "/__api/assets/by_url/children?url=www.uni.test/news&asset_types=news_item",
            Some("Bearer ed"),
            200,
        ),
        (
            "HEAD",
            "/__api/assets/78?data=contents",
            Some("Bearer pub"),
            200,
        ),
        // 400
        (
            "GET",
            "/__api/assets/5/children?limit=-1",
            Some("Bearer pub"),
            400,
        ),
        (
            "GET",
            "/__api/assets/5/children?page=0",
            Some("Bearer pub"),
            400,
        ),
        (
            "GET",
            "/__api/assets/5/children?sort_by=status",
            Some("Bearer pub"),
            400,
        ),
        (
            "GET",
            "/__api/assets/5/children?sort_order=ASC",
            Some("Bearer pub"),
            400,
        ),
        ("GET", "/__api/assets/by_url", Some("Bearer pub"), 400),
        (
            "GET",
            "/__api/assets/by_url/children?url=",
            Some("Bearer pub"),
            400,
        ),
        // 401
        ("GET", "/__api/assets/1", None, 401),
        ("GET", "/__api/assets/1", Some("bearer pub"), 401),
        ("GET", "/__api/assets/1", Some("Basic cHViOg=="), 401),
        ("GET", "/__api/assets/1", Some("Bearer nope"), 401),
        ("GET", "/__api/assets/1", Some("Bearer off"), 401),
        ("GET", "/__api/assets/1", Some("Bearer bin"), 401),
        ("GET", "/__api/assets/1", Some("Bearer nobody"), 401),
        ("HEAD", "/__api/assets/1", None, 401),
        // 403
        ("GET", "/__api/assets/203", Some("Bearer pub"), 403),
        ("GET", "/__api/assets/3", Some("Bearer research"), 403),
        (
            "GET",
            "/__api/assets/by_url?url=https://www.uni.test/intranet",
            Some("Bearer pub"),
            403,
        ),
        // 404
        ("GET", "/__api/assets/999", Some("Bearer pub"), 404),
        ("GET", "/__api/assets/202", Some("Bearer pub"), 404),
        ("GET", "/__api/assets/1/", Some("Bearer pub"), 404),
        ("GET", "/__api/nothing", Some("Bearer pub"), 404),
        (
            "GET",
            "/__api/assets/5/children?page=99",
            Some("Bearer ed"),
            404,
        ),
        (
            "GET",
            "/__api/assets/by_url?url=https://www.uni.test/missing",
            Some("Bearer pub"),
            404,
        ),
        ("GET", "/index.html", None, 404),
        // 405
        ("POST", "/__api/assets/1", Some("Bearer pub"), 405),
        ("DELETE", "/__api/assets/1", None, 405),
        ("OPTIONS", "/__api/assets/1", None, 405),
        ("PUT", "/elsewhere", None, 405),
    ];
    for (method, target, auth, status) in cases {
        let live = assert_same(&served, &cat, method, target, *auth);
        assert_eq!(live.status, *status, "{method} {target}");
        if *method == "HEAD" {
            assert!(live.body.is_empty(), "HEAD has no body");
            assert_ne!(live.header("Content-Length"), Some("0"));
        }
    }
}

/// The `Host` header picks each asset's `url` (spec §3 asset object).
#[test]
fn host_header_picks_the_url() {
    let served = Served::start(&["--store", RULES]);
    let body = |host: &str| {
        let r = http(
            &served.addr,
            "GET",
            "/__api/assets/78?data=urls",
            &[("Authorization", "Bearer pub"), ("Host", host)],
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        v["url"].as_str().unwrap().to_string()
    };
    assert_eq!(
        body("research.uni.test"),
        "https://research.uni.test/clickbait"
    );
    assert_eq!(
        body("www.uni.test"),
        "http://www.uni.test/news/clickbait",
        "serve speaks http"
    );
    assert_eq!(body("localhost:1"), "https://www.uni.test/news/clickbait");
}

/// Content API 1.2.0 parameters over HTTP: `include_dependents`, `base_url` (which beats the
/// `Host` header) and `context` (an undeclared name is a 400) answer as `answer()` does.
#[test]
fn api_1_2_0_parameters_over_http() {
    let served = Served::start(&["--store", RULES]);
    let cat = rules_catalog();
    let auth = Some("Bearer pub");
    let r = assert_same(
        &served,
        &cat,
        "GET",
        "/__api/assets/100?include_dependents=true",
        auth,
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let deps = v["include_dependents"].as_array().expect("dependents");
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0]["id"], "101");
    assert_eq!(deps[0]["include_dependents"], serde_json::json!([]));
    let r = assert_same(
        &served,
        &cat,
        "GET",
        "/__api/assets/78?data=urls&base_url=https%3A%2F%2Fresearch.uni.test%2F",
        auth,
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["url"], "https://research.uni.test/clickbait");
    for (target, status) in [
        ("/__api/assets/78?context=Default&data=contents", 200),
        ("/__api/assets/78/children?context=fr", 400),
        ("/__api/assets/999?context=fr", 400),
        ("/__api/assets/78?base_url=%ff", 400),
        ("/__api/assets/78/lineage/site?include_dependents=true", 200),
    ] {
        let r = assert_same(&served, &cat, "GET", target, auth);
        assert_eq!(r.status, status, "{target}");
    }
}

#[test]
fn cors_preflight_over_http() {
    let served = Served::start(&["--store", RULES, "--cors", "https://app.test"]);
    let cat = rules_catalog().with_options(Options {
        cors: Some("https://app.test".into()),
        ..Options::default()
    });
    let r = assert_same(&served, &cat, "OPTIONS", "/__api/assets/1", None);
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("Access-Control-Allow-Headers"),
        Some("Authorization")
    );
    assert_same(&served, &cat, "GET", "/__api/assets/1", Some("Bearer pub"));
}

/// Concurrent clients all get correct answers.
#[test]
fn concurrent_requests() {
    let served = Served::start(&["--store", RULES]);
    let cat = rules_catalog();
    std::thread::scope(|s| {
        for t in 0..8 {
            let (served, cat) = (&served, &cat);
            s.spawn(move || {
                for i in 0..25 {
                    let target =
                        format!("/__api/assets/5/children?limit=1&page={}", 1 + (t + i) % 5);
                    assert_same(served, cat, "GET", &target, Some("Bearer ed"));
                }
            });
        }
    });
}

/// Ctrl-C (SIGINT) stops the server cleanly with exit code 0.
#[test]
fn sigint_stops_cleanly() {
    let mut served = Served::start(&["--store", RULES]);
    assert_eq!(
        http(&served.addr, "GET", "/__api/assets/1", &[]).status,
        401
    );
    assert_eq!(served.interrupt(), Some(0));
}

/// Without --store, the embedded demo is served.
#[test]
fn serves_the_embedded_demo() {
    let served = Served::start(&[]);
    let r = http(
        &served.addr,
        "GET",
        "/__api/assets/1",
        &[("Authorization", "Bearer demo-public")],
    );
    assert_ne!(r.status, 401, "demo-public is a demo token");
}
