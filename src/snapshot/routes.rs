//! `_routers/routes.json`: the routing table of one snapshot — everything a router needs besides
//! the files (how the token is checked, CORS, caching, the variants the profile holds and their
//! codes in file names). `export` writes it; `preview`, `router`, the host tables and the
//! conformance harness read it with [`read`], which checks its format.

use super::{values, ReadError};
use crate::api::Data;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Where an export writes its routing table, relative to the snapshot directory.
pub const FILE: &str = "_routers/routes.json";
/// The format of [`FILE`].
pub const FORMAT: &str = "matrix-snapshot-routes/1";
/// The body of a request the profile left out, relative to the web root.
pub const NOT_EXPORTED_FILE: &str = "__api/~/errors/404-not-exported.json";
/// `Cache-Control` of 200 answers unless the export says otherwise: caches keep the body but
/// revalidate it (with its `ETag`) on every use, so a new snapshot is seen at once.
pub const DEFAULT_CACHE_CONTROL: &str = "no-cache";

/// Who may read the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    /// Requests must carry the export's token (`Authorization: Bearer …`), as the live API asks.
    Token,
    /// No token check (`export --public`).
    Public,
}

/// One sort of children pages: the `sort_by` value (`None` = tree order) and its file code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortEntry {
    /// The `sort_by` value, as the API spells it.
    pub sort_by: Option<String>,
    /// Its code in file names.
    #[serde(deserialize_with = "values::de_code")]
    pub code: String,
}

/// One `asset_types` filter: the type codes (sorted, distinct; empty = unfiltered) and its code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypesEntry {
    /// The type codes.
    pub types: Vec<String>,
    /// Its code in file names.
    #[serde(deserialize_with = "values::de_code")]
    pub code: String,
}

/// The routing table of one snapshot (`_routers/routes.json`): everything a router needs
/// besides the files. Host configs are rendered from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteSpec {
    /// [`FORMAT`].
    pub format: String,
    /// Token check or public.
    pub auth: Auth,
    /// SHA-256 (hex) of the token, for hosts that can hash; `None` when public.
    // Values that reach configs and headers are checked again when the file is read
    // (`values`): a file changed by hand must not inject either.
    #[serde(default, deserialize_with = "values::de_token_sha256")]
    pub token_sha256: Option<String>,
    /// `--cors ORIGIN`.
    #[serde(default, deserialize_with = "values::de_cors")]
    pub cors: Option<String>,
    /// `Cache-Control` of 200 answers.
    #[serde(deserialize_with = "values::de_cache_control")]
    pub cache_control: String,
    /// Data codes of asset and lineage files.
    #[serde(deserialize_with = "values::de_codes")]
    pub data: Vec<String>,
    /// Data codes of children pages.
    #[serde(deserialize_with = "values::de_codes")]
    pub children_data: Vec<String>,
    /// Sorts of children pages.
    pub sort_by: Vec<SortEntry>,
    /// `asc` / `desc`.
    pub sort_order: Vec<String>,
    /// Page sizes.
    pub limits: Vec<u64>,
    /// `asset_types` filters.
    pub asset_types: Vec<TypesEntry>,
    /// The file every readable asset's directory holds (the asset with the first data code):
    /// "the asset exists" for routers.
    #[serde(deserialize_with = "values::de_code")]
    pub anchor: String,
    /// Attribute names the bodies leave out (the profile's `exclude_attributes`); absent when
    /// none. Routers ignore it; the conformance harness judges with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_attributes: Vec<String>,
    /// Whether asset files exist with `include_dependents=true` too (Content API 1.2.0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_dependents: bool,
    /// The exported `base_url` values, canonical (`BaseUrl::canonical`); a request's value is
    /// canonicalised and looked up here, and its 1-based position names the files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub base_urls: Vec<String>,
    /// Every context the store declares (the default first): any other `context` is a 400.
    #[serde(
        default = "default_contexts",
        skip_serializing_if = "is_default_contexts"
    )]
    pub contexts: Vec<String>,
    /// Positions in `contexts` of the contexts exported (0, the default, always among them).
    #[serde(
        default = "default_context_variants",
        skip_serializing_if = "is_default_context_variants"
    )]
    pub context_variants: Vec<usize>,
    /// The files layout's forbidden-URL tables (`super::forbidden`): the hex digits that split
    /// them, present when the snapshot records forbidden URLs that way (absent: none to record,
    /// or the pack layout, whose index holds them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forbidden_url_digits: Option<u8>,
}

fn default_contexts() -> Vec<String> {
    vec![crate::store::DEFAULT_CONTEXT.to_string()]
}

fn is_default_contexts(c: &[String]) -> bool {
    c == default_contexts().as_slice()
}

fn default_context_variants() -> Vec<usize> {
    vec![0]
}

fn is_default_context_variants(c: &[usize]) -> bool {
    c == [0]
}

/// SHA-256 of a token, hex.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl RouteSpec {
    /// The body of the "not exported" 404: what this snapshot holds, so a client sees at once
    /// which values to ask for instead.
    pub fn not_exported_body(&self) -> Vec<u8> {
        let exported = serde_json::json!({
            "data": self.data.iter().map(|c| code_to_data(c)).collect::<Vec<_>>(),
            "children_data": self.children_data.iter().map(|c| code_to_data(c)).collect::<Vec<_>>(),
            "sort_by": self.sort_by.iter().map(|s| s.sort_by.clone()).collect::<Vec<_>>(),
            "sort_order": self.sort_order,
            "limit": self.limits,
            "asset_types": self.asset_types.iter().map(|t| t.types.join(",")).collect::<Vec<_>>(),
            "include_dependents": if self.include_dependents { vec![false, true] } else { vec![false] },
            "base_url": self.base_urls,
            "context": self.context_variants.iter().map(|&i| &self.contexts[i]).collect::<Vec<_>>(),
        });
        let mut body = serde_json::to_vec(&serde_json::json!({
            "code": 404,
            "message": "Not exported: this snapshot does not hold this variant of the route",
            "exported": exported,
        }))
        .expect("JSON value serializes");
        body.shrink_to_fit();
        body
    }
}

/// `u-m-` → `urls,metadata` (the `data` value a client sends).
fn code_to_data(code: &str) -> String {
    Data::ITEMS
        .iter()
        .zip(code.chars())
        .filter(|(_, c)| *c != '-')
        .map(|((_, name), _)| *name)
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads `dir/_routers/routes.json` after checking the snapshot's format
/// ([`super::check_format`]) and its own.
pub fn read(dir: &Path) -> Result<RouteSpec, ReadError> {
    super::check_format(dir)?;
    super::read_json(dir, FILE, &[FORMAT])
}

/// The routing table in `bytes`, read from `path` by the caller (e.g. through a directory
/// handle), its format checked as [`read`] does.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<RouteSpec, ReadError> {
    super::parse_json(path.to_path_buf(), bytes, &[FORMAT])
}

/// The bytes of `routes.json` for `spec` (pretty-printed, with a final newline).
pub fn to_json(spec: &RouteSpec) -> Vec<u8> {
    let mut json = serde_json::to_vec_pretty(spec).expect("route spec serializes");
    json.push(b'\n');
    json
}
