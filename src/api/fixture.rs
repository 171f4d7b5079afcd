//! A small store that exercises every rule of spec §2–§4 (`tests/fixtures/stores/rules/`),
//! shared by the unit tests of `access`, `api` and `store`; integration tests load the same files.

use crate::api::{answer, Catalog, Request, Response};
use crate::store::Store;

pub const STORE_JSON: &str = include_str!("../../tests/fixtures/stores/rules/store.json");

pub const ASSETS: &str = include_str!("../../tests/fixtures/stores/rules/assets.jsonl");

pub const LINKS: &str = include_str!("../../tests/fixtures/stores/rules/links.jsonl");

pub const PRINCIPALS: &str = include_str!("../../tests/fixtures/stores/rules/principals.jsonl");

pub const PERMISSIONS: &str = include_str!("../../tests/fixtures/stores/rules/permissions.jsonl");

pub const TOKENS: &str = include_str!("../../tests/fixtures/stores/rules/tokens.jsonl");

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
