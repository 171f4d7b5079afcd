//! `answer()` against the Content API 1.2.0 parameters (spec §2 "Content API 1.2.0
//! parameters"): `include_dependents`, `base_url` and `context`, alone and combined with `data`,
//! `asset_types`, paging, sorting, tokens with and without write access, safe editing and the
//! check order, over `store::fixture::CONTEXTS` (small, so each expectation can be read off it).

use super::fixture::{contexts_catalog, text};
use super::*;
use crate::store::url::Scheme;
use serde_json::Value;

/// A GET on `www.uni.test` over https.
fn get(cat: &Catalog, token: &str, target: &str) -> Response {
    answer(
        cat,
        &Request::get(target)
            .bearer(token)
            .on_host(Scheme::Https, "www.uni.test"),
    )
}

fn json(cat: &Catalog, token: &str, target: &str) -> Value {
    let r = get(cat, token, target);
    assert_eq!(r.status, 200, "{target}: {}", text(&r));
    serde_json::from_slice(&r.body).expect("JSON body")
}

/// The dependents tree as `id[children…]`.
fn tree(asset: &Value) -> String {
    let deps = asset["include_dependents"]
        .as_array()
        .expect("an include_dependents list");
    let inner: Vec<String> = deps.iter().map(tree).collect();
    format!("{}[{}]", asset["id"].as_str().expect("id"), inner.join(","))
}

fn status(cat: &Catalog, token: Option<&str>, target: &str) -> u16 {
    let mut req = Request::get(target).on_host(Scheme::Https, "www.uni.test");
    if let Some(t) = token {
        req = req.bearer(t);
    }
    answer(cat, &req).status
}

/// `include_dependents=true`: dependent children (menu/hidden/invisible links marked
/// `is_dependent`), recursively, in tree order; trashed, unreadable and reference-linked ones are
/// left out; every asset object in the tree carries the key, `[]` when it has none.
#[test]
fn include_dependents_tree() {
    let cat = contexts_catalog();
    let v = json(&cat, "pub", "/__api/assets/2?include_dependents=true");
    assert_eq!(tree(&v), "2[3[4[]],8[]]");
    let v = json(&cat, "ed", "/__api/assets/2?include_dependents=true");
    assert_eq!(tree(&v), "2[3[4[]],5[],8[]]", "the editor reads 5");
    let v = json(&cat, "pub", "/__api/assets/6?include_dependents=true");
    assert_eq!(tree(&v), "6[]");
    // Placed last, after contents; dependents honour `data` too.
    let t = text(&get(
        &cat,
        "pub",
        "/__api/assets/3?include_dependents=true&data=contents",
    ));
    assert!(
        t.ends_with(r#","contents":"body","include_dependents":[{"id":"4","type":"content_type_wysiwyg","type_name":"WYSIWYG","version":"0.1.0","name":"Text","short_name":"Text","status":{"id":64,"code":"editing","name":"Safe Editing"},"created":{"date":null,"user_id":null},"updated":{"date":null,"user_id":null},"published":{"date":null,"user_id":null},"status_changed":{"date":null,"user_id":null},"contents":"\u003Cp\u003EOld\u003C/p\u003E","include_dependents":[]}]}"#),
        "{t}"
    );
    // by_url takes it as well.
    let v = json(
        &cat,
        "pub",
        "/__api/assets/by_url?url=https://www.uni.test/home&include_dependents=true",
    );
    assert_eq!(tree(&v), "2[3[4[]],8[]]");
}

/// `include_dependents`: exactly `true`, first occurrence; any other value is false, never a 400;
/// lineage and children do not take it (ignored).
#[test]
fn include_dependents_values_and_endpoints() {
    let cat = contexts_catalog();
    let plain = get(&cat, "pub", "/__api/assets/2");
    for q in [
        "include_dependents=TRUE",
        "include_dependents=1",
        "include_dependents=yes",
        "include_dependents=",
        "include_dependents=%ff",
        "include_dependents=&include_dependents=true",
        "include_dependents=false&include_dependents=true",
    ] {
        assert_eq!(
            get(&cat, "pub", &format!("/__api/assets/2?{q}")),
            plain,
            "{q}"
        );
    }
    let v = json(
        &cat,
        "pub",
        "/__api/assets/2?include_dependents=true&include_dependents=false",
    );
    assert_eq!(tree(&v), "2[3[4[]],8[]]");
    for (with, without) in [
        (
            "/__api/assets/2/children?include_dependents=true",
            "/__api/assets/2/children",
        ),
        (
            "/__api/assets/2/lineage/site?include_dependents=true",
            "/__api/assets/2/lineage/site",
        ),
    ] {
        assert_eq!(get(&cat, "pub", with), get(&cat, "pub", without), "{with}");
    }
    // Dependents are not children.
    let v = json(&cat, "pub", "/__api/assets/2/children");
    assert_eq!(v["page_info"]["total"], 1);
    assert_eq!(v["assets"][0]["id"], "6");
}

/// Safe editing applies inside the dependents: readers without write see the live version.
#[test]
fn include_dependents_and_safe_editing() {
    let cat = contexts_catalog();
    let q = "/__api/assets/2?include_dependents=true&data=contents";
    let pub_ = json(&cat, "pub", q);
    let ed = json(&cat, "ed", q);
    let wysiwyg = |v: &Value| v["include_dependents"][0]["include_dependents"][0].clone();
    assert_eq!(wysiwyg(&pub_)["contents"], "<p>Old</p>");
    assert_eq!(wysiwyg(&ed)["contents"], "<p>New</p>");
}

/// `base_url`: Matrix's weighting (same scheme + leading segments in common, host first), then
/// the shorter URL, then store order. It replaces the request's host.
#[test]
fn base_url_chooses_the_url() {
    let cat = contexts_catalog();
    let url = |id: &str, base: &str| {
        let v = json(
            &cat,
            "pub",
            &format!("/__api/assets/{id}?data=urls&base_url={base}"),
        );
        v["url"].as_str().expect("url").to_string()
    };
    // Without base_url: the request's host and scheme.
    assert_eq!(
        json(&cat, "pub", "/__api/assets/2?data=urls")["url"],
        "https://www.uni.test/home"
    );
    assert_eq!(
        url("2", "http://www.uni.test"),
        "http://www.uni.test/home",
        "scheme"
    );
    assert_eq!(
        url("2", "https://research.uni.test"),
        "https://research.uni.test/home",
        "a tie on score: the shorter wins"
    );
    assert_eq!(
        url("2", "https://research.uni.test/about/"),
        "https://research.uni.test/about/home",
        "more segments in common"
    );
    assert_eq!(
        url("2", "https%3A%2F%2FRESEARCH.uni.test%3A443%2Fabout%3Fx%3D1"),
        "https://research.uni.test/about/home",
        "compared as URL keys: host case, default port, query"
    );
    assert_eq!(
        url("2", "https://elsewhere.test/about"),
        "https://www.uni.test/home",
        "no host in common: scheme, then the shorter"
    );
    assert_eq!(
        url("2", "https://research.uni.test/ABOUT"),
        "https://research.uni.test/home",
        "paths are case-sensitive"
    );
    assert_eq!(
        url("2", "http://research.uni.test/about"),
        "https://research.uni.test/about/home",
        "segments outweigh the scheme"
    );
    assert_eq!(
        url("6", "https://www.uni.test"),
        "https://www.uni.test/home/news-b",
        "a full tie: store order"
    );
    assert_eq!(
        url("6", "https://www.uni.test/home/news-a/x"),
        "https://www.uni.test/home/news-a"
    );
    assert_eq!(url("3", "https://www.uni.test"), "", "no URL at all");
    // base_url replaces the host: a request on research.uni.test with base_url www.
    let r = answer(
        &cat,
        &Request::get("/__api/assets/2?data=urls&base_url=https://www.uni.test/")
            .bearer("pub")
            .on_host(Scheme::Https, "research.uni.test"),
    );
    assert!(text(&r).ends_with(r#""url":"https://www.uni.test/home"}"#));
}

/// `base_url` that is not an absolute http(s) URL is ignored; invalid UTF-8 is a 400 like any
/// parameter value (spec §1); spellings of one base give the same bytes.
#[test]
fn base_url_values() {
    let cat = contexts_catalog();
    let plain = get(&cat, "pub", "/__api/assets/2?data=urls");
    for base in [
        "www.research.uni.test",
        "//research.uni.test",
        "/about",
        "ftp://research.uni.test",
        "https://",
        "http:///about",
        "mailto:x@research.uni.test",
    ] {
        let q = format!("/__api/assets/2?data=urls&base_url={base}");
        assert_eq!(get(&cat, "pub", &q), plain, "{base}");
    }
    let a = get(
        &cat,
        "pub",
        "/__api/assets/2?data=urls&base_url=https://research.uni.test",
    );
    for spelling in [
        "base_url=HTTPS://Research.uni.test:443/",
        "base_url=https%3A%2F%2Fresearch.uni.test%23frag",
        "base_url=https://research.uni.test&base_url=http://www.uni.test",
    ] {
        let q = format!("/__api/assets/2?data=urls&{spelling}");
        assert_eq!(get(&cat, "pub", &q), a, "{spelling}");
    }
    assert_ne!(a, plain);
    assert_eq!(
        status(&cat, Some("pub"), "/__api/assets/2?base_url=%ff"),
        400
    );
    assert_eq!(
        status(&cat, Some("pub"), "/__api/assets/2/children?base_url=%ff"),
        400
    );
}

/// The `url` that `base_url` chooses drives the lineage walk (spec §3 lineage): through
/// research.uni.test/about the path goes by the About folder.
#[test]
fn base_url_drives_the_lineage() {
    let cat = contexts_catalog();
    let ids = |target: &str| -> Vec<String> {
        json(&cat, "pub", target)["assets"]
            .as_array()
            .expect("assets")
            .iter()
            .map(|a| a["id"].as_str().expect("id").to_string())
            .collect()
    };
    assert_eq!(ids("/__api/assets/2/lineage/site"), ["1", "2"]);
    assert_eq!(
        ids("/__api/assets/2/lineage/site?base_url=https://research.uni.test/about"),
        ["1", "20", "2"]
    );
    assert_eq!(
        ids("/__api/assets/2/lineage/site?base_url=https://research.uni.test"),
        ["1", "2"]
    );
    // by_url follows the requested URL, whatever base_url says.
    assert_eq!(
        ids("/__api/assets/by_url/lineage/site?url=https://www.uni.test/home&base_url=https://research.uni.test/about"),
        ["1", "2"]
    );
    // The assets in the lineage show their url as base_url chooses it.
    let v = json(
        &cat,
        "pub",
        "/__api/assets/2/lineage/site?data=urls&base_url=https://research.uni.test/about",
    );
    assert_eq!(v["assets"][0]["url"], "https://research.uni.test");
    assert_eq!(v["assets"][1]["url"], "https://research.uni.test/about");
    // A root node below the site: the lineage starts inside the view.
    let v = json(
        &cat,
        "about",
        "/__api/assets/2/lineage/site?base_url=https://research.uni.test/about",
    );
    assert_eq!(v["assets"].as_array().map(Vec::len), Some(2));
}

/// `context`: the asset's entry of that name, field by field over the default values; an asset
/// without an entry, and `Default` or an empty value, give the default values.
#[test]
fn context_overrides_field_by_field() {
    let cat = contexts_catalog();
    let q = |ctx: &str| format!("/__api/assets/2?data=attributes,metadata,contents&{ctx}");
    let default = get(&cat, "pub", &q(""));
    for same in ["context=Default", "context=", "context=&context=fr"] {
        assert_eq!(get(&cat, "pub", &q(same)), default, "{same}");
    }
    let fr = json(&cat, "pub", &q("context=fr"));
    assert_eq!(fr["name"], "Accueil");
    assert_eq!(
        fr["short_name"], "Home",
        "not overridden: the default value"
    );
    let t = text(&get(&cat, "pub", &q("context=fr")));
    assert!(
        t.contains(r#""attributes":{"title":"Bienvenue","size":3,"lang":"fr"},"metadata":{"description":["Page d'accueil"],"keywords":["home"]}"#),
        "attributes and metadata fields one by one, in the default's order, then the context's: {t}"
    );
    assert_eq!(fr["contents"], "home");
    let mi = json(&cat, "pub", &q("context=mi"));
    assert_eq!(mi["name"], "Home");
    assert_eq!(mi["short_name"], "Kāinga");
    assert_eq!(
        mi["metadata"],
        serde_json::json!({"description": ["Home page"], "keywords": ["kāinga"]})
    );
    assert_eq!(
        text(&get(&cat, "pub", "/__api/assets/3?context=fr")),
        text(&get(&cat, "pub", "/__api/assets/3")),
        "no entry for fr: default values"
    );
    // Percent-encoded like any value.
    assert_eq!(
        get(&cat, "pub", &q("context=%66r")),
        get(&cat, "pub", &q("context=fr"))
    );
}

/// `context` names must be declared (exact, case-sensitive): else 400, in the check order's
/// parameter step (after 405, 401 and 404 endpoint; before 404 asset and 403).
#[test]
fn context_undeclared_and_check_order() {
    let cat = contexts_catalog();
    for bad in ["de", "FR", "default", "fr%20", "%ff"] {
        for path in [
            "/__api/assets/2",
            "/__api/assets/2/children",
            "/__api/assets/2/lineage/site",
            "/__api/assets/by_url?url=https://www.uni.test/home",
        ] {
            let sep = if path.contains('?') { '&' } else { '?' };
            let target = format!("{path}{sep}context={bad}");
            assert_eq!(status(&cat, Some("pub"), &target), 400, "{target}");
        }
    }
    assert_eq!(status(&cat, None, "/__api/assets/2?context=de"), 401);
    assert_eq!(
        status(&cat, Some("pub"), "/__api/assets/2/x?context=de"),
        404
    );
    assert_eq!(
        status(&cat, Some("pub"), "/__api/assets/999?context=de"),
        400
    );
    assert_eq!(status(&cat, Some("pub"), "/__api/assets/5?context=de"), 400);
    assert_eq!(
        status(&cat, Some("pub"), "/__api/assets/999?context=fr"),
        404
    );
    assert_eq!(status(&cat, Some("pub"), "/__api/assets/5?context=fr"), 403);
    assert_eq!(
        status(
            &cat,
            Some("pub"),
            "/__api/assets/2/children?page=9&context=fr"
        ),
        404
    );
    let r = answer(
        &cat,
        &Request::get("/__api/assets/2?context=de")
            .bearer("pub")
            .with_method("POST"),
    );
    assert_eq!(r.status, 405);
}

/// `context` with safe editing: the context's fields win; the others fall back to what this
/// reader sees in the default context (the live version without write access).
#[test]
fn context_and_safe_editing() {
    let cat = contexts_catalog();
    let q = "/__api/assets/4?data=contents&context=fr";
    let pub_ = json(&cat, "pub", q);
    let ed = json(&cat, "ed", q);
    assert_eq!(pub_["name"], "Texte");
    assert_eq!(pub_["contents"], "<p>Old</p>");
    assert_eq!(ed["name"], "Texte");
    assert_eq!(ed["contents"], "<p>New</p>");
}

/// `context` in children (names, and `sort_by=name` sorts by the names shown), with
/// `asset_types` and paging, and in lineage.
#[test]
fn context_in_children_and_lineage() {
    let cat = contexts_catalog();
    let names = |target: &str| -> Vec<String> {
        json(&cat, "pub", target)["assets"]
            .as_array()
            .expect("assets")
            .iter()
            .map(|a| a["name"].as_str().expect("name").to_string())
            .collect()
    };
    assert_eq!(
        names("/__api/assets/1/children?sort_by=name"),
        ["About", "Home"]
    );
    assert_eq!(
        names("/__api/assets/1/children?sort_by=name&context=fr"),
        ["Accueil", "À propos"],
        "by Unicode lower case, then code point: a < à"
    );
    let v = json(
        &cat,
        "pub",
        "/__api/assets/1/children?sort_by=name&context=fr&limit=1&page=2",
    );
    assert_eq!(v["assets"][0]["name"], "À propos");
    assert_eq!(v["page_info"]["total_pages"], 2);
    assert_eq!(
        names("/__api/assets/1/children?asset_types=folder&context=fr"),
        ["À propos"]
    );
    assert_eq!(
        names("/__api/assets/2/lineage/site?context=fr&base_url=https://research.uni.test/about"),
        ["Université", "À propos", "Accueil"]
    );
}

/// All three together, with `data` and both tokens.
#[test]
fn all_three_combined() {
    let cat = contexts_catalog();
    let q = "/__api/assets/2?include_dependents=true&context=fr&base_url=https://research.uni.test/about&data=urls,contents";
    for token in ["pub", "ed"] {
        let v = json(&cat, token, q);
        assert_eq!(v["name"], "Accueil");
        assert_eq!(v["url"], "https://research.uni.test/about/home");
        let body = &v["include_dependents"][0];
        assert_eq!(body["id"], "3");
        assert_eq!(body["url"], "");
        let wysiwyg = &body["include_dependents"][0];
        assert_eq!(wysiwyg["name"], "Texte");
        let contents = if token == "ed" {
            "<p>New</p>"
        } else {
            "<p>Old</p>"
        };
        assert_eq!(wysiwyg["contents"], contents, "{token}");
    }
    assert_eq!(tree(&json(&cat, "ed", q)), "2[3[4[]],5[],8[]]");
}

/// `base_url` in children, with `asset_types`, sorting and paging: each child's `url` is chosen
/// against the base; the list and `page_info` do not change.
#[test]
fn base_url_in_children() {
    let cat = contexts_catalog();
    let urls = |target: &str| -> (Vec<String>, Value) {
        let v = json(&cat, "ed", target);
        let urls = v["assets"]
            .as_array()
            .expect("assets")
            .iter()
            .map(|a| a["url"].as_str().expect("url").to_string())
            .collect();
        (urls, v["page_info"].clone())
    };
    let (u, info) = urls("/__api/assets/1/children?data=urls&base_url=https://research.uni.test/about&sort_order=desc&limit=1&page=2");
    assert_eq!(u, ["https://research.uni.test/about/home"]);
    assert_eq!(
        info,
        serde_json::json!({"page":2,"limit":1,"total":2,"total_pages":2})
    );
    let (u, _) = urls(
        "/__api/assets/1/children?data=urls&asset_types=page_standard&base_url=http://www.uni.test",
    );
    assert_eq!(u, ["http://www.uni.test/home"]);
    let (u, _) = urls("/__api/assets/1/children?data=urls&asset_types=page_standard");
    assert_eq!(
        u,
        ["https://www.uni.test/home"],
        "without base_url: the Host"
    );
    assert_eq!(
        status(
            &cat,
            Some("ed"),
            "/__api/assets/1/children?base_url=https://research.uni.test&page=3"
        ),
        404
    );
}

/// Issue 20: a store read from a directory keeps where each asset's line is and reads
/// attributes, metadata and contents again for the bodies that show them; every body, with every
/// `data`, context and token (safe editing shows `live` contents to readers without write),
/// equals the one rendered from the store held in memory.
#[test]
fn a_store_read_from_a_directory_answers_as_one_held_in_memory() {
    let dir = tempfile::tempdir().expect("temp dir");
    crate::store::fixture::CONTEXTS.write_to(dir.path());
    let from_dir = Catalog::new(crate::store::Store::load(dir.path()).expect("valid"));
    let in_memory = contexts_catalog();
    let mut compared = 0;
    for a in &in_memory.store.assets {
        for token in ["pub", "ed"] {
            for query in [
                "",
                "?data=contents",
                "?data=urls,attributes,metadata,contents",
                "?data=attributes,metadata,contents&context=fr",
                "?data=metadata&context=mi",
            ] {
                for endpoint in ["", "/lineage", "/children"] {
                    let target = format!("/__api/assets/{}{endpoint}{query}", a.id);
                    let (m, d) = (
                        get(&in_memory, token, &target),
                        get(&from_dir, token, &target),
                    );
                    assert_eq!(
                        (m.status, text(&m)),
                        (d.status, text(&d)),
                        "{target} as {token}"
                    );
                    compared += (m.status == 200) as usize;
                }
            }
        }
    }
    assert!(compared > 100, "only {compared} answers were 200");
}
