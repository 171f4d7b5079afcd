//! [`Session`] (asset objects kept between answers) and [`lineage_key`] against [`answer_with`].

use super::fixture::{catalog, contexts_catalog, text};
use super::objects::{Objects, Shape};
use super::*;
use crate::store::url::Scheme;

/// Every request of the tests below over `cat`: every asset (by id and by each URL), every
/// endpoint, several `data`, contexts, base URLs, `include_dependents`, hosts and tokens, in an
/// order that changes how the bodies are rendered from one request to the next.
fn requests(cat: &Catalog, tokens: &[&str]) -> Vec<Request> {
    let queries = [
        "",
        "?data=contents",
        "?data=urls,attributes,metadata,contents",
        "?data=attributes,metadata,contents&context=fr",
        "?data=metadata&context=mi",
        "?data=urls&base_url=https://research.uni.test",
        "?data=urls,contents&include_dependents=true",
        "?data=urls,attributes&sort_by=name&limit=2&page=2",
    ];
    let hosts: [Option<(Scheme, &str)>; 3] = [
        None,
        Some((Scheme::Http, "www.uni.test")),
        Some((Scheme::Https, "research.uni.test")),
    ];
    let mut out = Vec::new();
    for a in &cat.store.assets {
        let mut targets = vec![format!("/__api/assets/{}", a.id)];
        for u in &a.urls {
            let u = percent_encoding::utf8_percent_encode(u, percent_encoding::NON_ALPHANUMERIC);
            targets.push(format!("/__api/assets/by_url?url={u}"));
        }
        for target in &targets {
            for query in queries {
                for endpoint in ["", "/lineage/site", "/children"] {
                    let (path, q) = target.split_once('?').unwrap_or((target, ""));
                    let q = [q, query.trim_start_matches('?')]
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join("&");
                    let t = format!("{path}{endpoint}?{q}");
                    for token in tokens {
                        for host in hosts {
                            let r = Request::get(t.clone()).bearer(token);
                            out.push(match host {
                                Some((scheme, h)) => r.on_host(scheme, h),
                                None => r,
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

/// One session answers a long run of requests exactly as `answer_with` does — whatever it kept
/// from the requests before, with every limit (one that drops everything at almost every
/// object, and one that keeps nothing) — over a store held in memory and one read from a
/// directory (whose fields are read again from `assets.jsonl`).
#[test]
fn a_session_answers_every_request_as_answer_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    crate::store::fixture::CONTEXTS.write_to(dir.path());
    let from_dir = Catalog::new(crate::store::Store::load(dir.path()).expect("valid"));
    let cors = Options {
        cors: Some("https://x.test".into()),
        exclude_attributes: vec!["name".into()],
    };
    for (cat, tokens, options) in [
        (
            catalog(),
            &["pub", "ed", "research", "admin"][..],
            Options::default(),
        ),
        (
            contexts_catalog(),
            &["pub", "ed", "about"][..],
            Options::default(),
        ),
        (from_dir, &["pub", "ed", "about"][..], Options::default()),
        (contexts_catalog(), &["pub", "ed"][..], cors),
    ] {
        let requests = requests(&cat, tokens);
        for limit in [Session::DEFAULT_LIMIT, 700, 0] {
            let mut session = Session::with_limit(&cat, &options, limit);
            let (mut ok, mut kept) = (0, 0);
            for req in &requests {
                let want = answer_with(&cat, &options, req);
                let got = session.answer(req);
                assert_eq!(
                    (got.status, &got.headers, text(&got)),
                    (want.status, &want.headers, text(&want)),
                    "{} as {:?} on {:?} (limit {limit})",
                    req.target,
                    req.authorization,
                    req.host
                );
                ok += usize::from(want.status == 200);
                kept = kept.max(session.objects_kept());
            }
            assert!(ok > 200, "only {ok} answers were 200");
            match limit {
                0 => assert_eq!(kept, 0, "a session with no room keeps nothing"),
                700 => assert!(kept >= 1, "the session kept nothing"),
                _ => assert!(kept > 20, "the session kept {kept} objects at most"),
            }
        }
    }
}

/// The objects are found by asset and shape: another asset, or the same asset rendered another
/// way, is never given an object kept for the first.
#[test]
fn objects_are_kept_per_asset_and_shape() {
    let cat = contexts_catalog();
    let (pub_view, ed_view) = (
        cat.view(cat.store.token_by_value("pub").unwrap()).unwrap(),
        cat.view(cat.store.token_by_value("ed").unwrap()).unwrap(),
    );
    let base = Shape {
        view: Shape::of(pub_view),
        data: Data::ALL,
        host: None,
        scheme: Scheme::None,
        base_url: None,
        context: None,
        dependents: false,
    };
    let others = [
        Shape {
            view: Shape::of(ed_view),
            ..base.clone()
        },
        Shape {
            data: Data::NONE,
            ..base.clone()
        },
        Shape {
            host: Some("www.uni.test".into()),
            ..base.clone()
        },
        Shape {
            scheme: Scheme::Https,
            ..base.clone()
        },
        Shape {
            base_url: BaseUrl::parse("https://research.uni.test"),
            ..base.clone()
        },
        Shape {
            context: Some("fr".into()),
            ..base.clone()
        },
        Shape {
            dependents: true,
            ..base.clone()
        },
    ];
    let mut o = Objects::new(64);
    let b = o.shape(base.clone());
    assert_eq!(o.shape(base.clone()), b, "one shape, one number");
    let numbers: Vec<u32> = others.iter().map(|s| o.shape(s.clone())).collect();
    for (i, n) in numbers.iter().enumerate() {
        assert_ne!(*n, b, "{:?}", others[i]);
        assert!(!numbers[..i].contains(n), "{:?}", others[i]);
    }
    o.keep(b, 1, b"{\"id\":\"1\"}");
    o.keep(b, 2, b"{\"id\":\"2\"}");
    assert_eq!(o.get(b, 1), Some(&b"{\"id\":\"1\"}"[..]));
    assert_eq!(o.get(b, 2), Some(&b"{\"id\":\"2\"}"[..]));
    assert_eq!(o.get(b, 3), None);
    for n in &numbers {
        assert_eq!(o.get(*n, 1), None);
    }
    // Past the limit everything kept goes; an object larger than the limit is not kept.
    o.keep(numbers[0], 1, &[b'x'; 50]);
    assert_eq!((o.get(b, 1), o.get(b, 2)), (None, None));
    assert_eq!(o.get(numbers[0], 1), Some(&[b'x'; 50][..]));
    o.keep(b, 4, &[b'y'; 65]);
    assert_eq!(o.get(b, 4), None);
    assert_eq!(o.get(numbers[0], 1), Some(&[b'x'; 50][..]));
}

/// A lineage by URL answers as the lineage by id of the same asset, token, host and query
/// whenever the URL's key is the one `lineage_key` says the lineage by id follows (what an
/// export writes as an alias); and the fixtures have lineages by URL that follow another path.
#[test]
fn a_lineage_by_url_answers_as_the_lineage_by_id_that_follows_its_key() {
    for (cat, tokens) in [
        (catalog(), &["pub", "ed", "research"][..]),
        (contexts_catalog(), &["pub", "ed", "about"][..]),
    ] {
        let options = Options::default();
        let (mut same, mut differ) = (0, 0);
        let requests = requests(&cat, tokens);
        let by_id: std::collections::HashMap<(&str, &Option<String>, &Option<String>), &Request> =
            requests
                .iter()
                .filter(|r| r.target.contains("/lineage/") && !r.target.contains("by_url"))
                .map(|r| ((r.target.as_str(), &r.authorization, &r.host), r))
                .collect();
        for by_url in requests
            .iter()
            .filter(|r| r.target.contains("/lineage/") && r.target.contains("by_url"))
        {
            let (_, q) = by_url.target.split_once('?').unwrap();
            let (url, rest) = q.split_once('&').unwrap_or((q, ""));
            let url = percent_encoding::percent_decode_str(url.trim_start_matches("url="))
                .decode_utf8()
                .unwrap();
            let Some(key) = url::key(&url) else { continue };
            let Some(a) = cat.store.asset_by_url_key(&key) else {
                continue;
            };
            let target = format!(
                "/__api/assets/{}/lineage/site?{rest}",
                cat.store.asset(a).id
            );
            let other = by_id[&(target.as_str(), &by_url.authorization, &by_url.host)];
            let (x, y) = (answer(&cat, by_url), answer(&cat, other));
            if x.status != 200 {
                assert_eq!(lineage_key(&cat, &options, by_url), None);
                continue;
            }
            assert_eq!(lineage_key(&cat, &options, by_url).as_ref(), Some(&key));
            if lineage_key(&cat, &options, other).as_ref() == Some(&key) {
                assert_eq!(x.body, y.body, "{} and {}", by_url.target, other.target);
                same += 1;
            } else if x.body != y.body {
                differ += 1;
            }
        }
        assert!(same > 20 && differ > 5, "{same} same, {differ} differ");
    }
    // Only lineages have one.
    let cat = catalog();
    let options = Options::default();
    let get = |t: &str| Request::get(t).bearer("pub");
    assert_eq!(lineage_key(&cat, &options, &get("/__api/assets/78")), None);
    assert_eq!(
        lineage_key(&cat, &options, &get("/__api/assets/78/children")),
        None
    );
    assert!(lineage_key(&cat, &options, &get("/__api/assets/78/lineage/site")).is_some());
}
