//! A small store that exercises every rule of spec §2–§4, shared by the unit tests of `access`
//! and `api` (test-only).

use crate::api::{answer, Catalog, Request, Response};
use crate::store::Store;
use indoc::indoc;

pub const STORE_JSON: &str =
    r#"{"format":"matrix-snapshot-store/1","name":"Fixture","contexts":["Default"]}"#;

pub const ASSETS: &str = indoc! {r#"
    {"id":"1","type":"folder","type_name":"Folder","name":"Root Folder","status":16}
    {"id":"3","type":"site","type_name":"Site","name":"Uni","status":16,"urls":["https://www.uni.test","http://www.uni.test"]}
    {"id":"30","type":"site","type_name":"Site","name":"Research","status":16,"urls":["https://research.uni.test"]}
    {"id":"5","type":"folder","type_name":"Folder","name":"News","status":16,"urls":["https://www.uni.test/news"],"created":{"date":"2024-01-01T00:00:00+00:00","user_id":"10"}}
    {"id":"78","type":"news_item","type_name":"News Item","version":"0.2.0","name":"Clickbait <headline>","short_name":"Clickbait","status":16,"created":{"date":"2019-08-20T19:33:50+10:00","user_id":"10"},"updated":{"date":"2019-08-20T19:34:22+10:00","user_id":"10"},"published":{"date":"2019-08-21T09:00:00+10:00","user_id":"9"},"status_changed":{"date":"2019-08-20T19:34:22+10:00","user_id":"10"},"urls":["https://www.uni.test/news/clickbait","http://www.uni.test/news/clickbait","https://research.uni.test/clickbait"],"attributes":{"name":"Clickbait <headline>","allow_comments":true,"word_count":312,"rating":4.50},"metadata":{"description":["Māori \"news\" 🦓"],"keywords":["a","b"],"robots":[]},"contents":"<h1>Clickbait</h1>\n\t<p>it's & /</p>"}
    {"id":"100","type":"page_standard","type_name":"Standard Page","name":"About","status":16,"urls":["https://www.uni.test/about"],"created":{"date":"2020-01-01T00:00:00Z","user_id":"099"},"attributes":{"b":1,"a":2}}
    {"id":"101","type":"bodycopy","type_name":"Bodycopy","name":"About bodycopy","status":16,"contents":"<p>dependent</p>"}
    {"id":"9","type":"page_standard","type_name":"Standard Page","name":"contact","status":16,"urls":["https://www.uni.test/contact"],"created":{"date":"2020-01-01T10:00:00+10:00","user_id":"100"}}
    {"id":"12:ab/c","type":"page_standard","type_name":"Standard Page","name":"Shadow","status":16,"urls":["https://www.uni.test/news/shadow"],"published":{"date":"2021-01-01T00:00:00+00:00","user_id":""}}
    {"id":"200","type":"page_standard","type_name":"Standard Page","name":"Draft","status":2,"urls":["https://www.uni.test/news/draft"]}
    {"id":"201","type":"news_item","type_name":"News Item","name":"Edited name","short_name":"Edited","version":"0.3.0","status":64,"urls":["https://www.uni.test/news/edited"],"attributes":{"title":"new"},"contents":"new body","live":{"name":"Live name","short_name":"Live","version":"0.2.0","attributes":{"title":"old"},"contents":"old body"}}
    {"id":"202","type":"news_item","type_name":"News Item","name":"Binned","status":16,"urls":["https://www.uni.test/news/binned"],"trashed":true}
    {"id":"203","type":"folder","type_name":"Folder","name":"Intranet","status":16,"urls":["https://www.uni.test/intranet"]}
    {"id":"204","type":"page_standard","type_name":"Standard Page","name":"Canteen","status":16,"urls":["https://www.uni.test/intranet/canteen"]}
    {"id":"205","type":"page_standard","type_name":"Standard Page","name":"Members","status":16,"urls":["https://www.uni.test/news/members"]}
    {"id":"206","type":"page_standard","type_name":"Standard Page","name":"Orphan","status":16,"urls":["https://www.uni.test/orphan"]}
"#};

pub const LINKS: &str = indoc! {r#"
    {"link_id":"40","major_id":"1","minor_id":"3","link_type":"menu","sort_order":0}
    {"link_id":"41","major_id":"1","minor_id":"30","link_type":"menu","sort_order":1}
    {"link_id":"42","major_id":"3","minor_id":"5","link_type":"menu","sort_order":0}
    {"link_id":"43","major_id":"3","minor_id":"100","link_type":"menu","sort_order":1}
    {"link_id":"44","major_id":"3","minor_id":"9","link_type":"hidden","sort_order":1}
    {"link_id":"45","major_id":"3","minor_id":"203","link_type":"menu","sort_order":3}
    {"link_id":"46","major_id":"3","minor_id":"205","link_type":"reference","sort_order":2}
    {"link_id":"47","major_id":"100","minor_id":"101","link_type":"invisible","sort_order":0,"is_dependent":true}
    {"link_id":"50","major_id":"5","minor_id":"78","link_type":"menu","sort_order":0,"value":"first"}
    {"link_id":"51","major_id":"5","minor_id":"78","link_type":"menu","sort_order":7,"value":"again"}
    {"link_id":"52","major_id":"5","minor_id":"12:ab/c","link_type":"menu","sort_order":1}
    {"link_id":"53","major_id":"5","minor_id":"200","link_type":"menu","sort_order":1}
    {"link_id":"54","major_id":"5","minor_id":"201","link_type":"menu","sort_order":2}
    {"link_id":"55","major_id":"5","minor_id":"202","link_type":"menu","sort_order":3}
    {"link_id":"56","major_id":"5","minor_id":"205","link_type":"hidden","sort_order":4,"is_exclusive":true}
    {"link_id":"57","major_id":"30","minor_id":"78","link_type":"menu","sort_order":0}
    {"link_id":"58","major_id":"203","minor_id":"204","link_type":"menu","sort_order":0}
    {"link_id":"59","major_id":"202","minor_id":"206","link_type":"menu","sort_order":0}
"#};

pub const PRINCIPALS: &str = indoc! {r#"
    {"id":"1","kind":"root","name":"Root User"}
    {"id":"2","kind":"system_admin","name":"Sys Admin"}
    {"id":"7","kind":"public","name":"Public User"}
    {"id":"10","kind":"user","name":"Ed Itor","groups":["20"]}
    {"id":"12","kind":"user","name":"Dan Denied","groups":["22"]}
    {"id":"20","kind":"group","name":"Web Editors","groups":["22"]}
    {"id":"22","kind":"group","name":"Staff"}
"#};

pub const PERMISSIONS: &str = indoc! {r#"
    {"asset_id":"1","principal_id":"7","access":"read","granted":true}
    {"asset_id":"3","principal_id":"7","access":"read","granted":true}
    {"asset_id":"30","principal_id":"7","access":"read","granted":true}
    {"asset_id":"5","principal_id":"7","access":"read","granted":true}
    {"asset_id":"78","principal_id":"7","access":"read","granted":true}
    {"asset_id":"100","principal_id":"7","access":"read","granted":true}
    {"asset_id":"101","principal_id":"7","access":"read","granted":true}
    {"asset_id":"9","principal_id":"7","access":"read","granted":true}
    {"asset_id":"12:ab/c","principal_id":"7","access":"read","granted":true}
    {"asset_id":"200","principal_id":"7","access":"read","granted":true}
    {"asset_id":"201","principal_id":"7","access":"read","granted":true}
    {"asset_id":"202","principal_id":"7","access":"read","granted":true}
    {"asset_id":"204","principal_id":"7","access":"read","granted":true}
    {"asset_id":"206","principal_id":"7","access":"read","granted":true}
    {"asset_id":"203","principal_id":"22","access":"read","granted":true}
    {"asset_id":"5","principal_id":"20","access":"write","granted":true}
    {"asset_id":"200","principal_id":"20","access":"write","granted":true}
    {"asset_id":"201","principal_id":"20","access":"write","granted":true}
    {"asset_id":"78","principal_id":"20","access":"write","granted":true}
    {"asset_id":"78","principal_id":"20","access":"write","granted":false}
    {"asset_id":"9","principal_id":"12","access":"read","granted":false}
    {"asset_id":"205","principal_id":"7","access":"read","granted":false}
    {"asset_id":"205","principal_id":"7","access":"admin","granted":true}
"#};

pub const TOKENS: &str = indoc! {r#"
    {"token":"pub","name":"Public website","enabled":true,"user_id":"7"}
    {"token":"ed","name":"Editor","enabled":true,"user_id":"10"}
    {"token":"dan","name":"Dan","enabled":true,"user_id":"12"}
    {"token":"research","name":"Research only","enabled":true,"user_id":"7","root_nodes":["30"]}
    {"token":"admin","name":"Admin","enabled":true,"user_id":"2"}
    {"token":"binroot","name":"Trashed root","enabled":true,"user_id":"2","root_nodes":["202"]}
    {"token":"intranet","name":"Intranet root","enabled":true,"user_id":"7","root_nodes":["203"]}
    {"token":"off","name":"Disabled","enabled":false,"user_id":"7"}
    {"token":"bin","name":"Trashed","enabled":true,"trashed":true,"user_id":"7"}
    {"token":"nobody","name":"No user","enabled":true,"user_id":null}
"#};

/// The fixture's files with some replaced (for validation tests).
pub fn files_with<'a>(replace: &[(&'a str, &'a str)]) -> Vec<(&'a str, Vec<u8>)> {
    let base = [
        ("store.json", STORE_JSON),
        ("assets.jsonl", ASSETS),
        ("links.jsonl", LINKS),
        ("principals.jsonl", PRINCIPALS),
        ("permissions.jsonl", PERMISSIONS),
        ("tokens.jsonl", TOKENS),
    ];
    base.iter()
        .map(|(name, text)| {
            let text = replace
                .iter()
                .find(|(n, _)| n == name)
                .map_or(*text, |(_, t)| *t);
            (*name, text.as_bytes().to_vec())
        })
        .collect()
}

/// Loads files produced by [`files_with`].
pub fn load(files: &[(&str, Vec<u8>)]) -> Result<Store, crate::store::LoadError> {
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    Store::from_memory(&refs, "fixture")
}

/// The fixture's catalog.
pub fn catalog() -> Catalog {
    Catalog::new(load(&files_with(&[])).expect("the fixture store is valid"))
}

/// A GET with a bearer token, answered.
pub fn get(cat: &Catalog, token: &str, target: &str) -> Response {
    answer(cat, &Request::get(target).bearer(token))
}

/// The body as text.
pub fn text(r: &Response) -> String {
    String::from_utf8(r.body.clone()).expect("bodies are UTF-8")
}

/// The ids of the assets in a body's `assets` list (children, lineage).
pub fn ids(r: &Response) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON body");
    v["assets"]
        .as_array()
        .expect("an assets list")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_string())
        .collect()
}
