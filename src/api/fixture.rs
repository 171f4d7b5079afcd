//! API test helpers over `store::fixture`: the catalogs of its stores, a request answered, and
//! what tests read off a response. Shared by the unit tests of `api` and the layers above it.

use crate::api::{answer, Catalog, Request, Response};
use crate::store::fixture::{CONTEXTS, RULES};

/// The catalog of `store::fixture::RULES`, the store that exercises every rule of spec §2–§4.
pub fn catalog() -> Catalog {
    Catalog::new(RULES.load())
}

/// The catalog of `store::fixture::CONTEXTS`, the store of the Content API 1.2.0 parameters.
pub fn contexts_catalog() -> Catalog {
    Catalog::new(CONTEXTS.load())
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
