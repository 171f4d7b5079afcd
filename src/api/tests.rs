//! `answer()` against spec §1–§3, one test per rule, over `api::fixture`.

use super::fixture::{catalog, get, ids, text};
use super::*;
use crate::store::url::Scheme;

fn children(cat: &Catalog, token: &str, id: &str, query: &str) -> Vec<String> {
    let r = get(cat, token, &format!("/__api/assets/{id}/children?{query}"));
    assert_eq!(r.status, 200, "{id}?{query}: {}", text(&r));
    ids(&r)
}

/// §3 asset object: eleven fixed keys, then urls/url, attributes, metadata, contents; exact
/// bytes with PHP escaping and numbers as written.
#[test]
fn asset_object_exact_bytes() {
    let cat = catalog();
    let r = answer(
        &cat,
        &Request::get("/__api/assets/78?data=contents,metadata,attributes,urls")
            .bearer("pub")
            .on_host(Scheme::Http, "WWW.uni.test:80"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        text(&r),
        concat!(
            r#"{"id":"78","type":"news_item","type_name":"News Item","version":"0.2.0","#,
            r#""name":"Clickbait \u003Cheadline\u003E","short_name":"Clickbait","#,
            r#""status":{"id":16,"code":"live","name":"Live"},"#,
            r#""created":{"date":"2019-08-20T19:33:50+10:00","user_id":"10"},"#,
            r#""updated":{"date":"2019-08-20T19:34:22+10:00","user_id":"10"},"#,
            r#""published":{"date":"2019-08-21T09:00:00+10:00","user_id":"9"},"#,
            r#""status_changed":{"date":"2019-08-20T19:34:22+10:00","user_id":"10"},"#,
            r#""urls":["https://www.uni.test/news/clickbait","http://www.uni.test/news/clickbait","https://research.uni.test/clickbait"],"#,
            r#""url":"http://www.uni.test/news/clickbait","#,
            r#""attributes":{"name":"Clickbait \u003Cheadline\u003E","allow_comments":true,"word_count":312,"rating":4.5},"#,
            r#""metadata":{"description":["M\u0101ori \u0022news\u0022 \ud83e\udd93"],"keywords":["a","b"],"robots":[]},"#,
            r#""contents":"\u003Ch1\u003EClickbait\u003C/h1\u003E\n\t\u003Cp\u003Eit's & /\u003C/p\u003E"}"#
        )
    );
    assert_eq!(
        r.header("Content-Type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        r.header("Content-Length"),
        Some(r.body.len().to_string().as_str())
    );
}

/// §3: without `data` only the eleven keys; defaults applied; metadata null; attributes in order.
#[test]
fn asset_defaults_and_data_subsets() {
    let cat = catalog();
    let r = get(&cat, "pub", "/__api/assets/1");
    assert_eq!(
        text(&r),
        concat!(
            r#"{"id":"1","type":"folder","type_name":"Folder","version":"0.1.0","name":"Root Folder","#,
            r#""short_name":"Root Folder","status":{"id":16,"code":"live","name":"Live"},"#,
            r#""created":{"date":null,"user_id":null},"updated":{"date":null,"user_id":null},"#,
            r#""published":{"date":null,"user_id":null},"status_changed":{"date":null,"user_id":null}}"#
        )
    );
    let r = get(&cat, "pub", "/__api/assets/1?data=urls,metadata,thumbnail");
    assert!(
        text(&r).ends_with(r#","urls":[],"url":"","metadata":null}"#),
        "{}",
        text(&r)
    );
    let r = get(&cat, "pub", "/__api/assets/100?data=attributes");
    assert!(text(&r).ends_with(r#""attributes":{"b":1,"a":2}}"#));
}

/// §4 `url` choice: the request's host (and non-default port), its scheme preferred, else first.
#[test]
fn url_follows_the_request_host() {
    let cat = catalog();
    let url_on = |scheme, host: &str| {
        let r = answer(
            &cat,
            &Request::get("/__api/assets/78?data=urls")
                .bearer("pub")
                .on_host(scheme, host),
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        v["url"].as_str().unwrap().to_string()
    };
    assert_eq!(
        url_on(Scheme::Https, "www.uni.test"),
        "https://www.uni.test/news/clickbait"
    );
    assert_eq!(
        url_on(Scheme::Http, "www.uni.test"),
        "http://www.uni.test/news/clickbait"
    );
    assert_eq!(
        url_on(Scheme::Https, "research.uni.test:443"),
        "https://research.uni.test/clickbait"
    );
    assert_eq!(
        url_on(Scheme::Http, "research.uni.test"),
        "https://research.uni.test/clickbait"
    );
    assert_eq!(
        url_on(Scheme::Http, "127.0.0.1:8080"),
        "https://www.uni.test/news/clickbait"
    );
}

/// §2 by_url: scheme, trailing slash, host case and default ports ignored; path case matters.
#[test]
fn by_url_matching() {
    let cat = catalog();
    for u in [
        "https%3A%2F%2Fwww.uni.test%2Fnews%2Fclickbait",
        "http://WWW.UNI.TEST:80/news/clickbait/",
        "www.uni.test/news/clickbait?x=1#frag",
        "https://research.uni.test/clickbait",
    ] {
        let r = get(&cat, "pub", &format!("/__api/assets/by_url?url={u}"));
        assert_eq!(r.status, 200, "{u}");
        assert!(text(&r).starts_with(r#"{"id":"78""#));
    }
    for u in [
        "https://www.uni.test/News/clickbait",
        "ftp://www.uni.test/news/clickbait",
        "https://www.uni.test:8443/news/clickbait",
    ] {
        assert_eq!(
            get(&cat, "pub", &format!("/__api/assets/by_url?url={u}")).status,
            404,
            "{u}"
        );
    }
    assert_eq!(get(&cat, "pub", "/__api/assets/by_url").status, 400);
    assert_eq!(get(&cat, "pub", "/__api/assets/by_url?url=").status, 400);
    assert_eq!(
        get(
            &cat,
            "pub",
            "/__api/assets/by_url?url=https://www.uni.test/news/binned"
        )
        .status,
        404,
        "trashed"
    );
    assert_eq!(
        get(
            &cat,
            "pub",
            "/__api/assets/by_url?url=https://www.uni.test/intranet"
        )
        .status,
        403
    );
}

/// §2 `assetId` is decoded once; shadow ids with `:` and `/` work.
#[test]
fn shadow_ids_are_percent_encoded() {
    let cat = catalog();
    let r = get(&cat, "pub", "/__api/assets/12%3Aab%2Fc");
    assert_eq!(r.status, 200);
    assert!(text(&r).starts_with(r#"{"id":"12:ab/c""#));
    assert_eq!(
        get(&cat, "pub", "/__api/assets/12:ab/c").status,
        404,
        "raw / splits the path"
    );
}

/// §4: trashed assets do not exist: 404, even for the system administrator, who reads
/// everything else (access leaves them out of every view).
#[test]
fn trashed_assets_do_not_exist() {
    let cat = catalog();
    assert_eq!(get(&cat, "admin", "/__api/assets/202").status, 404);
    assert_eq!(get(&cat, "admin", "/__api/assets/206").status, 200);
}

/// §3 check order: 405 → 401 → 404 endpoint → 400 → 404 asset → 403 → 404 page.
#[test]
fn check_order() {
    let cat = catalog();
    let req = |m: &str, t: &str, tok: Option<&str>| {
        let r = Request::get(t).with_method(m);
        answer(
            &cat,
            &(match tok {
                Some(x) => r.bearer(x),
                None => r,
            }),
        )
    };
    assert_eq!(req("POST", "/__api/nope", None).status, 405);
    assert_eq!(req("GET", "/__api/nope", None).status, 401);
    assert_eq!(req("GET", "/__api/nope?limit=x", Some("pub")).status, 404);
    assert_eq!(
        req("GET", "/__api/assets/999/children?limit=x", Some("pub")).status,
        400
    );
    assert_eq!(
        req("GET", "/__api/assets/999/children?page=2", Some("pub")).status,
        404
    );
    assert_eq!(
        req("GET", "/__api/assets/203/children?page=9", Some("pub")).status,
        403
    );
    assert_eq!(
        req("GET", "/__api/assets/203/children?page=9", Some("ed")).status,
        404
    );
    assert_eq!(
        req("GET", "/__api/assets/203/children?page=1", Some("ed")).status,
        200
    );
}

/// §1 methods: only GET/HEAD; 405 carries `Allow`; HEAD = GET headers, no body.
#[test]
fn methods_and_head() {
    let cat = catalog();
    for m in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get"] {
        let r = answer(
            &cat,
            &Request::get("/__api/assets/1").with_method(m).bearer("pub"),
        );
        assert_eq!(r.status, 405, "{m}");
        assert_eq!(r.header("Allow"), Some("GET, HEAD"));
        assert_eq!(text(&r), r#"{"code":405,"message":"Method not allowed"}"#);
    }
    let full = get(&cat, "pub", "/__api/assets/78?data=contents");
    let head = answer(
        &cat,
        &Request::get("/__api/assets/78?data=contents")
            .with_method("HEAD")
            .bearer("pub"),
    );
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.headers, full.headers);
    let head401 = answer(&cat, &Request::get("/__api/assets/78").with_method("HEAD"));
    assert_eq!((head401.status, head401.body.len()), (401, 0));
    assert_eq!(head401.header("Content-Length"), Some("37"));
}

/// §1: paths outside `/__api/` are 404 without a token check, 405 for other methods.
#[test]
fn outside_the_api() {
    let cat = catalog();
    assert_eq!(answer(&cat, &Request::get("/")).status, 404);
    assert_eq!(answer(&cat, &Request::get("/__api")).status, 404);
    assert_eq!(
        answer(&cat, &Request::get("/x").with_method("DELETE")).status,
        405
    );
}

/// §3 401: `WWW-Authenticate` by case (RFC 6750).
#[test]
fn unauthorized_cases() {
    let cat = catalog();
    let www = |auth: Option<&str>| {
        let mut r = Request::get("/__api/assets/1");
        r.authorization = auth.map(str::to_string);
        let resp = answer(&cat, &r);
        assert_eq!(resp.status, 401, "{auth:?}");
        assert_eq!(text(&resp), r#"{"code":401,"message":"Unauthorized"}"#);
        resp.header("WWW-Authenticate").unwrap().to_string()
    };
    let realm = r#"Bearer realm="Matrix Content API""#;
    assert_eq!(www(None), realm);
    for bad in [
        "bearer pub",
        "Bearer",
        "Bearer ",
        "Bearer  pub",
        "Basic cHViOg==",
        "Bearer pub x",
    ] {
        assert_eq!(
            www(Some(bad)),
            format!(r#"{realm}, error="invalid_request""#),
            "{bad:?}"
        );
    }
    for unusable in ["Bearer nope", "Bearer off", "Bearer bin", "Bearer nobody"] {
        assert_eq!(
            www(Some(unusable)),
            format!(r#"{realm}, error="invalid_token""#),
            "{unusable}"
        );
    }
}

/// §3 children: non-dependent menu/hidden links only; once per child through its lowest link;
/// tree order = sort_order, type code, id; unreadable and trashed children left out.
#[test]
fn children_in_tree_order() {
    let cat = catalog();
    assert_eq!(
        children(&cat, "pub", "3", ""),
        ["5", "9", "100"],
        "203 forbidden, 205 reference"
    );
    assert_eq!(children(&cat, "ed", "3", ""), ["5", "9", "100", "203"]);
    // 200 and 12:ab/c tie on sort_order and type: digit ids first.
    assert_eq!(
        children(&cat, "ed", "5", ""),
        ["78", "200", "12:ab/c", "201", "205"]
    );
    assert_eq!(
        children(&cat, "pub", "100", ""),
        Vec::<String>::new(),
        "dependent bodycopy"
    );
    let r = get(&cat, "ed", "/__api/assets/5/children?limit=1");
    assert!(text(&r).starts_with(r#"{"links":[{"link_id":"50","major_id":"5","minor_id":"78","link_type":"menu","value":"first","sort_order":0,"is_dependent":false,"is_exclusive":false}],"assets":[{"id":"78""#));
    assert!(text(&r).ends_with(r#""page_info":{"page":1,"limit":1,"total":5,"total_pages":5}}"#));
}

/// §2 `desc` without sort_by reverses tree order; with sort_by it reverses ties too.
#[test]
fn desc_reverses_whole_order() {
    let cat = catalog();
    assert_eq!(
        children(&cat, "ed", "5", "sort_order=desc"),
        ["205", "201", "12:ab/c", "200", "78"]
    );
    let asc = children(&cat, "ed", "5", "sort_by=type");
    let mut desc = children(&cat, "ed", "5", "sort_by=type&sort_order=desc");
    desc.reverse();
    assert_eq!(asc, desc);
    assert_eq!(
        asc,
        ["78", "201", "200", "12:ab/c", "205"],
        "news_item < page_standard, ties in tree order"
    );
}

/// §2 sort keys: text case-insensitive, ids digits-first, dates as instants, null first.
#[test]
fn sort_keys() {
    let cat = catalog();
    assert_eq!(
        children(&cat, "pub", "3", "sort_by=name"),
        ["100", "9", "5"],
        "About < contact < News"
    );
    assert_eq!(children(&cat, "pub", "3", "sort_by=id"), ["5", "9", "100"]);
    // created.date: 2020-01-01T10:00+10:00 (= 00:00Z) ties 2020-01-01T00:00Z; 5 is 2024.
    assert_eq!(
        children(&cat, "pub", "3", "sort_by=created.date"),
        ["9", "100", "5"]
    );
    assert_eq!(
        children(&cat, "pub", "3", "sort_by=created.user_id"),
        ["5", "100", "9"],
        "10 < 099 < 100"
    );
    // published: null/empty first (12:ab/c has "" user, 201/78 null/ "9").
    assert_eq!(
        children(&cat, "ed", "5", "sort_by=published.user_id"),
        ["200", "12:ab/c", "201", "205", "78"]
    );
    assert_eq!(
        children(&cat, "ed", "5", "sort_by=published.date"),
        ["200", "201", "205", "78", "12:ab/c"]
    );
    assert_eq!(
        children(&cat, "ed", "5", "sort_by=status.id"),
        ["200", "78", "12:ab/c", "205", "201"]
    );
    assert_eq!(
        children(&cat, "ed", "5", "sort_by=status_changed.user_id"),
        children(&cat, "ed", "5", "sort_by=status_changed.userid")
    );
    for (_, key) in SortKey::ALL {
        children(&cat, "ed", "5", &format!("sort_by={key}"));
    }
}

/// §2 paging: limit 0 = all; page past the end 404; page 1 of nothing exists.
#[test]
fn paging() {
    let cat = catalog();
    assert_eq!(children(&cat, "ed", "5", "limit=2&page=3"), ["205"]);
    assert_eq!(
        children(&cat, "ed", "5", "limit=0"),
        ["78", "200", "12:ab/c", "201", "205"]
    );
    assert_eq!(
        get(&cat, "ed", "/__api/assets/5/children?limit=2&page=4").status,
        404
    );
    assert_eq!(
        get(&cat, "ed", "/__api/assets/5/children?limit=0&page=2").status,
        404
    );
    let r = get(&cat, "pub", "/__api/assets/100/children");
    assert_eq!(
        text(&r),
        r#"{"links":[],"assets":[],"page_info":{"page":1,"limit":100,"total":0,"total_pages":1}}"#
    );
    let r = get(&cat, "ed", "/__api/assets/5/children?limit=0");
    assert!(text(&r).ends_with(r#"{"page":1,"limit":0,"total":5,"total_pages":1}}"#));
}

/// §2 asset_types: exact type codes; total counts after filtering.
#[test]
fn asset_types_filter() {
    let cat = catalog();
    assert_eq!(
        children(&cat, "ed", "5", "asset_types=news_item"),
        ["78", "201"]
    );
    assert_eq!(
        children(&cat, "ed", "5", "asset_types=,news_item,,page_standard"),
        ["78", "200", "12:ab/c", "201", "205"]
    );
    assert_eq!(
        children(&cat, "ed", "5", "asset_types=News_Item"),
        Vec::<String>::new()
    );
    let r = get(
        &cat,
        "ed",
        "/__api/assets/5/children?asset_types=news_item&limit=1",
    );
    assert!(text(&r).ends_with(r#"{"page":1,"limit":1,"total":2,"total_pages":2}}"#));
}

/// §3 lineage: from the site down, following the URL; links parallel to assets.
#[test]
fn lineage_follows_the_url() {
    let cat = catalog();
    let r = get(&cat, "pub", "/__api/assets/78/lineage/site");
    assert_eq!(
        ids(&r),
        ["3", "5", "78"],
        "url on no host = first URL, under the main site"
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let links: Vec<&str> = v["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["link_id"].as_str().unwrap())
        .collect();
    assert_eq!(links, ["42", "50"]);
    let r = get(
        &cat,
        "pub",
        "/__api/assets/by_url/lineage/site?url=https://research.uni.test/clickbait",
    );
    assert_eq!(ids(&r), ["30", "78"], "by_url follows the requested URL");
    let r = answer(
        &cat,
        &Request::get("/__api/assets/78/lineage/site")
            .bearer("pub")
            .on_host(Scheme::Https, "research.uni.test"),
    );
    assert_eq!(
        ids(&r),
        ["30", "78"],
        "the url chosen for the host drives the walk"
    );
    assert_eq!(
        ids(&get(&cat, "pub", "/__api/assets/3/lineage/site")),
        ["3"],
        "a site's lineage is itself"
    );
    assert_eq!(
        ids(&get(&cat, "pub", "/__api/assets/1/lineage/site")),
        ["1"],
        "no parents: starts there"
    );
}

/// §3 lineage [D]: a parent without the URL falls back to the lowest link; the path starts
/// below the lowest asset outside the view.
#[test]
fn lineage_fallback_and_visibility() {
    let cat = catalog();
    // 101 has no URL: its parent is found by the lowest link, then 100's URL is followed.
    assert_eq!(
        ids(&get(&cat, "pub", "/__api/assets/101/lineage/site")),
        ["3", "100", "101"]
    );
    // 204 sits under the intranet folder (403 for the public): the lineage starts below it.
    assert_eq!(
        ids(&get(&cat, "pub", "/__api/assets/204/lineage/site")),
        ["204"]
    );
    assert_eq!(
        ids(&get(&cat, "ed", "/__api/assets/204/lineage/site")),
        ["3", "203", "204"]
    );
    // Root node restriction: the research token cannot see site 3 or folder 5.
    assert_eq!(
        ids(&get(&cat, "research", "/__api/assets/78/lineage/site")),
        ["78"]
    );
    let r = get(&cat, "pub", "/__api/assets/206/lineage/site");
    assert_eq!(ids(&r), ["206"], "trashed parents are not part of paths");
}

/// §4 safe editing: readers without write see the `live` version; writers the current one.
#[test]
fn safe_editing_shows_live_to_readers() {
    let cat = catalog();
    let r = get(&cat, "pub", "/__api/assets/201?data=attributes,contents");
    let t = text(&r);
    assert!(
        t.contains(r#""version":"0.2.0","name":"Live name","short_name":"Live""#),
        "{t}"
    );
    assert!(t.contains(r#""status":{"id":64,"code":"editing","name":"Safe Editing"}"#));
    assert!(t.ends_with(r#""attributes":{"title":"old"},"contents":"old body"}"#));
    let t = text(&get(
        &cat,
        "ed",
        "/__api/assets/201?data=attributes,contents",
    ));
    assert!(t.contains(r#""name":"Edited name""#));
    assert!(t.ends_with(r#""attributes":{"title":"new"},"contents":"new body"}"#));
}

/// §1 CORS [D, opt-in]: headers on every answer, 204 preflight.
#[test]
fn cors_is_opt_in() {
    let cat = catalog();
    let r = answer(
        &cat,
        &Request::get("/__api/assets/1").with_method("OPTIONS"),
    );
    assert_eq!(r.status, 405);
    let cat = cat.with_options(Options {
        cors: Some("https://app.test".into()),
        ..Options::default()
    });
    let r = answer(
        &cat,
        &Request::get("/__api/assets/1").with_method("OPTIONS"),
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("Access-Control-Allow-Methods"), Some("GET, HEAD"));
    assert_eq!(
        r.header("Access-Control-Allow-Headers"),
        Some("Authorization")
    );
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://app.test")
    );
    let r = answer(&cat, &Request::get("/__api/assets/1"));
    assert_eq!((r.status, r.header("Vary")), (401, Some("Origin")));
}

/// §2: parameters on endpoints that do not take them are ignored, even malformed.
#[test]
fn foreign_parameters_are_ignored() {
    let cat = catalog();
    assert_eq!(
        get(&cat, "pub", "/__api/assets/1?limit=abc&sort_by=x&url=").status,
        200
    );
    assert_eq!(
        get(&cat, "pub", "/__api/assets/1/lineage/site?page=0").status,
        200
    );
    assert_eq!(
        get(&cat, "pub", "/__api/assets/1/children?data=%ff").status,
        400,
        "invalid UTF-8 value"
    );
}

/// Requests that mean the same get the same bytes (what lets export write one file per route).
#[test]
fn spellings_of_one_request_agree() {
    let cat = catalog();
    let a = get(
        &cat,
        "ed",
        "/__api/assets/5/children?data=urls,contents&limit=100&page=1&sort_order=asc",
    );
    for spelling in [
        "/__api/assets/5/children?data=contents,urls,,urls",
        "/__api/assets/5/children?sort_order=asc&data=urls%2Ccontents&limit=0100",
        "/__api/assets/5/children?data=urls,contents&data=attributes&limit=&asset_types=",
        "/__api/assets/%35/%63hildren?data=urls,contents",
    ] {
        assert_eq!(get(&cat, "ed", spelling), a, "{spelling}");
    }
}

/// Issue 17: the depth of each asset's lineage (first tree parent up to a site), which `check`
/// warns about: a chain of 300 below the site "3" is 1 to 300 deep; the site itself 0.
#[test]
fn lineage_depths_follow_the_first_parent_to_the_site() {
    use crate::store::fixture::{ASSETS, LINKS, RULES};
    let mut assets = ASSETS.to_string();
    let mut links = LINKS.to_string();
    for i in 1..=300 {
        assets.push_str(&format!(
            "{{\"id\":\"c{i}\",\"type\":\"folder\",\"type_name\":\"Folder\",\"name\":\"c{i}\",\"status\":16}}\n"
        ));
        let major = if i == 1 {
            "3".to_string()
        } else {
            format!("c{}", i - 1)
        };
        links.push_str(&format!(
            "{{\"link_id\":\"l{i}\",\"major_id\":\"{major}\",\"minor_id\":\"c{i}\",\"link_type\":\"menu\",\"sort_order\":0}}\n"
        ));
    }
    let store = RULES
        .load_with(&[("assets.jsonl", &assets), ("links.jsonl", &links)])
        .unwrap();
    let cat = Catalog::new(store);
    let depths = cat.lineage_depths();
    let at = |id: &str| depths[cat.store.asset_by_id(id).unwrap() as usize];
    assert_eq!(at("3"), 0);
    assert_eq!(at("c1"), 1);
    assert_eq!(at("c300"), 300);
    assert_eq!(depths.iter().max(), Some(&300));
}
