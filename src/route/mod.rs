//! Stage 5: which snapshot file answers a request — the rules every router config encodes
//! (`docs/routing.md`).
//!
//! A snapshot cannot run [`crate::answer`]: it only has files. [`resolve`] is the reference
//! router over those files: it decides a status and the file whose bytes are the body from the
//! request alone plus "does this file exist?", which is all a static host can ask. `preview`
//! serves with it, and the host configs in `templates/` encode the same steps; the conformance
//! harness ([`crate::conformance`]) checks every one of them against `answer()`.
//!
//! Steps, in the API's check order (spec §3): CORS preflight → 405 method → (outside `/__api/`:
//! 404) → 401 token → 404 endpoint → 400 parameters → the file, if it exists: 200 → 403 when the
//! id's `~forbidden.json` marker exists, or a hash of the URL's is recorded (the pack layout's
//! index, the files layout's forbidden-URL tables) → 404 when the asset's anchor file does not
//! → 404 "not exported" when a parameter value is outside the profile → 404 (a page past the
//! end).

use crate::api::request::{self, Endpoint, Params, Query, Target};
use crate::api::response::{self, AuthProblem};
use crate::api::{SortKey, UndeclaredContext};
use crate::snapshot::forbidden;
use crate::snapshot::path::{self, Variant};
use crate::snapshot::routes::{token_hash, Auth, RouteSpec, NOT_EXPORTED_FILE};
use crate::store::url;

pub mod preview;

/// What kind of answer a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A route's file (200).
    File,
    /// One of the API's fixed error bodies.
    Error,
    /// The "not exported" 404: the profile left this variant out.
    NotExported,
    /// A CORS preflight (204, no body).
    Preflight,
}

/// The decision for one request: status, the file (relative to the web root) whose bytes are
/// the body, and the headers besides `Content-Type`, `Content-Length` and caching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// Status code.
    pub status: u16,
    /// The body's file under the web root (`None`: no body).
    pub file: Option<String>,
    /// `WWW-Authenticate`, `Allow`, CORS headers.
    pub headers: Vec<(&'static str, String)>,
    /// Which kind of answer.
    pub kind: Kind,
}

impl Routed {
    fn error(status: u16) -> Routed {
        Routed {
            status,
            file: Some(path::error_file(status)),
            headers: Vec::new(),
            kind: Kind::Error,
        }
    }
}

/// Why a token does not open the snapshot: checked as the live API does (spec §3 401).
fn check_token(spec: &RouteSpec, authorization: Option<&str>) -> Result<(), AuthProblem> {
    let header = authorization.ok_or(AuthProblem::Missing)?;
    let token = header
        .strip_prefix("Bearer ")
        .filter(|t| !t.is_empty() && !t.chars().any(char::is_whitespace))
        .ok_or(AuthProblem::Malformed)?;
    match &spec.token_sha256 {
        Some(h) if *h == token_hash(token) => Ok(()),
        _ => Err(AuthProblem::InvalidToken),
    }
}

/// Routes one request over a snapshot whose files `exists` can see (paths relative to the web
/// root) and whose forbidden-URL tables `table` reads (the files layout, when `routes.json`
/// has `forbidden_url_digits`: a table's bytes, `None` when it cannot be read, which the caller
/// reports; it is asked only for a by-URL request no file answers). `target` is the raw request
/// target (`/path?query`, not normalised).
pub fn resolve(
    spec: &RouteSpec,
    method: &str,
    target: &str,
    authorization: Option<&str>,
    exists: &dyn Fn(&str) -> bool,
    table: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Routed {
    let mut routed =
        decide(
            spec,
            method,
            target,
            authorization,
            &|rel: &str| match forbidden_url_lookup(spec, rel) {
                Some((file, line)) => table(&file).is_some_and(|t| forbidden::lists(&t, &line)),
                None => exists(rel),
            },
        );
    if let Some(origin) = &spec.cors {
        routed
            .headers
            .push(("Access-Control-Allow-Origin", origin.clone()));
        routed.headers.push(("Vary", "Origin".to_string()));
    }
    routed
}

fn decide(
    spec: &RouteSpec,
    method: &str,
    target: &str,
    authorization: Option<&str>,
    exists: &dyn Fn(&str) -> bool,
) -> Routed {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    // As `answer()`: a NUL first (404), then dot segments and the decoded `/__api/` prefix.
    let Some(path) = request::normalize_path(path) else {
        return Routed::error(404);
    };
    let path = path.as_ref();
    let in_api = request::in_api(path);
    if in_api && method == "OPTIONS" && spec.cors.is_some() {
        return Routed {
            status: 204,
            file: None,
            headers: vec![
                ("Access-Control-Allow-Methods", response::ALLOW.to_string()),
                ("Access-Control-Allow-Headers", "Authorization".to_string()),
            ],
            kind: Kind::Preflight,
        };
    }
    if method != "GET" && method != "HEAD" {
        let mut r = Routed::error(405);
        r.headers.push(("Allow", response::ALLOW.to_string()));
        return r;
    }
    if !in_api {
        return Routed::error(404);
    }
    if spec.auth == Auth::Token {
        if let Err(problem) = check_token(spec, authorization) {
            let mut r = Routed::error(401);
            r.headers.push(("WWW-Authenticate", problem.challenge()));
            return r;
        }
    }
    let Some((target, endpoint)) = request::route(path) else {
        return Routed::error(404);
    };
    let Ok(params) = Params::parse(&Query::parse(query), &target, endpoint) else {
        return Routed::error(400);
    };
    // The 1.2.0 variant: an undeclared context is a 400 (the parameter step); a value the
    // profile left out names no file.
    let Ok((variant, listed)) = spec.variant(&params) else {
        return Routed::error(400);
    };
    let dir = match &target {
        Target::Id(id) => path::asset_dir(id),
        Target::ByUrl => match params.url.as_deref().and_then(url::key) {
            Some(key) => path::url_dir(&key),
            None => return Routed::error(404),
        },
    };
    let file = match endpoint {
        Endpoint::Asset => path::asset_file(&dir, params.data, variant),
        Endpoint::Lineage => path::lineage_file(&dir, params.data, variant),
        Endpoint::Children => path::children_file(
            &dir,
            params.data,
            params.sort_by,
            params.sort_order,
            params.asset_types.as_deref(),
            params.limit,
            params.page,
            variant,
        ),
    };
    if listed && exists(&file) {
        return Routed {
            status: 200,
            file: Some(file),
            headers: Vec::new(),
            kind: Kind::File,
        };
    }
    // An asset the token may not read: by id, its marker; by URL, a hash of the marker's path
    // (the URL key's): the pack layout's index entry, or a line of the files layout's
    // forbidden-URL tables (`resolve` looks there; decision D-057).
    if exists(&path::forbidden_file(&dir)) {
        return Routed::error(403);
    }
    if !exists(&format!("{dir}/{}", spec.anchor)) {
        return Routed::error(404);
    }
    if !spec.holds(endpoint, &params) {
        return Routed {
            status: 404,
            file: Some(NOT_EXPORTED_FILE.to_string()),
            headers: Vec::new(),
            kind: Kind::NotExported,
        };
    }
    Routed::error(404) // a children page past the end
}

/// Where the files layout records the forbidden marker `rel` when it is a by-URL one and the
/// snapshot has forbidden-URL tables (`routes.json`'s `forbidden_url_digits`): the table (path
/// relative to the web root) and the line to look for (`snapshot::forbidden`). `None`: `rel`
/// is looked up as a file (a by-id marker, the pack layout's index entry, or a snapshot
/// without tables).
pub fn forbidden_url_lookup(spec: &RouteSpec, rel: &str) -> Option<(String, String)> {
    let digits = spec.forbidden_url_digits?;
    if !(rel.starts_with(BY_URL_PREFIX) && rel.ends_with(FORBIDDEN_SUFFIX)) {
        return None;
    }
    let line = forbidden::hex(&forbidden::line_of(rel));
    Some((forbidden::table_file(digits, &line), line))
}

/// Where by-URL directories start, and how a forbidden marker's path ends.
const BY_URL_PREFIX: &str = "__api/assets/by_url/";
const FORBIDDEN_SUFFIX: &str = "/~forbidden.json";

impl RouteSpec {
    /// The position of a request's `context` among the declared contexts: `None` for the
    /// default (absent, empty or the default's name), `Err` for an undeclared name (400), as
    /// `Catalog::context` decides for `answer()`.
    pub fn context_position(&self, name: Option<&str>) -> Result<Option<usize>, UndeclaredContext> {
        match name {
            None => Ok(None),
            Some(n) => match self.contexts.iter().position(|c| c == n) {
                Some(0) => Ok(None),
                Some(i) => Ok(Some(i)),
                None => Err(UndeclaredContext),
            },
        }
    }

    /// The Content API 1.2.0 variant a request asks for, and whether the profile exported it
    /// (a `base_url` or `context` value it left out, or `include_dependents=true` when it wrote
    /// no dependents, names no file); `Err` for an undeclared context (400).
    pub fn variant(&self, p: &Params) -> Result<(Variant, bool), UndeclaredContext> {
        let context = self.context_position(p.context.as_deref())?;
        let base_url = match &p.base_url {
            None => Some(None),
            Some(b) => {
                let canonical = b.canonical();
                self.base_urls
                    .iter()
                    .position(|u| *u == canonical)
                    .map(|i| Some(i + 1))
            }
        };
        let listed = base_url.is_some()
            && context.is_none_or(|x| self.context_variants.contains(&x))
            && (!p.include_dependents || self.include_dependents);
        let variant = Variant {
            dependents: p.include_dependents,
            base_url: base_url.flatten(),
            context,
        };
        Ok((variant, listed))
    }

    /// Whether the profile holds this variant of the endpoint (valid parameters assumed).
    pub fn holds(&self, endpoint: Endpoint, p: &Params) -> bool {
        if !self.variant(p).is_ok_and(|(_, listed)| listed) {
            return false;
        }
        let data = path::data_code(p.data);
        match endpoint {
            Endpoint::Asset | Endpoint::Lineage => self.data.contains(&data),
            Endpoint::Children => {
                let sort = path::sort_code(p.sort_by);
                let types = path::types_code(p.asset_types.as_deref());
                self.children_data.contains(&data)
                    && self.sort_by.iter().any(|s| s.code == sort)
                    && self.sort_order.iter().any(|o| o == p.sort_order.as_str())
                    && self.limits.contains(&p.limit)
                    && self.asset_types.iter().any(|t| t.code == types)
            }
        }
    }
}

/// Every `sort_by` value the API accepts (both spellings of `status_changed.userid`) with its
/// file code: routers validate against this list, whatever the profile holds.
pub fn sort_keys() -> Vec<(&'static str, String)> {
    let mut keys: Vec<(&'static str, String)> = SortKey::ALL
        .iter()
        .map(|(k, name)| (*name, path::sort_code(Some(*k))))
        .collect();
    keys.push((
        "status_changed.user_id",
        path::sort_code(SortKey::parse("status_changed.user_id")),
    ));
    keys
}
