//! What a request asks for: the method, the endpoint (spec §2) and its parameters, decoded and
//! validated exactly as the spec says ([D] decoding rules in §1, parameter rules in §2).
//!
//! Parsing never looks at the store: an unknown endpoint or an invalid parameter is known from
//! the request alone, which is why static routers can reproduce these answers.

use crate::store::url::{self, Scheme};
use std::borrow::Cow;

/// An HTTP request as the API sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, as sent (`GET`, `HEAD`, …; case-sensitive as in HTTP).
    pub method: String,
    /// The request target: path plus optional `?query`, still percent-encoded.
    pub target: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The host the API is called on (`Host` for `serve`, `--base-url` for `export`), with port.
    pub host: Option<String>,
    /// The scheme the API is called on.
    pub scheme: Scheme,
}

impl Request {
    /// A `GET` of `target` with no headers.
    pub fn get(target: impl Into<String>) -> Request {
        Request {
            method: "GET".into(),
            target: target.into(),
            authorization: None,
            host: None,
            scheme: Scheme::Https,
        }
    }

    /// The same request with another method.
    pub fn with_method(mut self, method: &str) -> Request {
        self.method = method.into();
        self
    }

    /// The same request with `Authorization: Bearer <token>`.
    pub fn bearer(mut self, token: &str) -> Request {
        self.authorization = Some(format!("Bearer {token}"));
        self
    }

    /// The same request with an `Authorization` header as given.
    pub fn authorization(mut self, value: &str) -> Request {
        self.authorization = Some(value.into());
        self
    }

    /// The same request called on `host` (with optional `:port`) over `scheme`.
    pub fn on_host(mut self, scheme: Scheme, host: &str) -> Request {
        self.scheme = scheme;
        self.host = Some(host.into());
        self
    }
}

/// Which asset a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/__api/assets/{assetId}…`, decoded once.
    Id(String),
    /// `/__api/assets/by_url…` (the asset comes from the `url` parameter).
    ByUrl,
}

/// The three kinds of answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The asset object.
    Asset,
    /// `…/lineage/site`.
    Lineage,
    /// `…/children`.
    Children,
}

/// The path of a raw request target as the front servers hand it on (spec §1, revised
/// 2026-12): `None` when the decoded path holds a NUL byte (a 404 before any other check: the
/// method, the token), else the raw path with its dot segments resolved.
///
/// Dot segments are resolved as RFC 3986 §5.2.4 `remove_dot_segments` on the raw path's
/// segments, where `%2e`/`%2E` spell a dot too (`.%2e`, `%2E%2e`); `..` never climbs above `/`.
/// Nothing else changes: segments stay percent-encoded (`%2F` stays inside an id), `//` stays.
pub fn normalize_path(path: &str) -> Option<Cow<'_, str>> {
    if path.contains("%00") || path.contains('\0') {
        return None;
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Some(Cow::Borrowed(path));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    if !parts.iter().any(|p| dot_segment(p).is_some()) {
        return Some(Cow::Borrowed(path));
    }
    let mut out: Vec<&str> = Vec::with_capacity(parts.len());
    let last = parts.len() - 1;
    for (i, part) in parts.iter().enumerate() {
        match dot_segment(part) {
            Some(dots) => {
                if dots == 2 {
                    out.pop();
                }
                if i == last {
                    out.push(""); // `/a/b/..` is `/a/`: the path ends in a slash
                }
            }
            None => out.push(part),
        }
    }
    Some(Cow::Owned(format!("/{}", out.join("/"))))
}

/// `Some(1)` for a `.` segment, `Some(2)` for `..`, also spelled with `%2e` or `%2E`.
fn dot_segment(raw: &str) -> Option<u8> {
    let b = raw.as_bytes();
    let dot = |s: &[u8]| s == b"." || s.eq_ignore_ascii_case(b"%2e");
    match b.len() {
        1 | 3 if dot(b) => Some(1),
        2 | 4 | 6 => (1..b.len())
            .any(|i| dot(&b[..i]) && dot(&b[i..]))
            .then_some(2),
        _ => None,
    }
}

/// The decoded segments of a raw path (split on raw `/`, each percent-decoded once); `None`
/// when one is not UTF-8.
fn decoded_segments(path: &str) -> Option<Vec<Cow<'_, str>>> {
    path.split('/')
        .map(|s| match percent_decode(s.as_bytes(), false) {
            Cow::Borrowed(b) => std::str::from_utf8(b).ok().map(Cow::Borrowed),
            Cow::Owned(v) => String::from_utf8(v).ok().map(Cow::Owned),
        })
        .collect()
}

/// Whether a (normalised) raw path is under `/__api/`, its first segment judged decoded like
/// every other (spec §1, revised 2026-12: `/%5F_api/assets/78` is the API).
pub fn in_api(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    match rest.split_once('/') {
        Some((first, _)) => percent_decode(first.as_bytes(), false).as_ref() == b"__api",
        None => false,
    }
}

/// The route of a (normalised, see [`normalize_path`]) raw path under `/__api/`: `None` is an
/// unknown endpoint (404).
pub fn route(path: &str) -> Option<(Target, Endpoint)> {
    if !in_api(path) {
        return None;
    }
    // Split on raw '/', then decode each segment once: `%2F` stays inside an id (spec §1).
    let all = decoded_segments(path)?; // invalid UTF-8 in a segment: 404 [D]
    let segments = &all[2..]; // "" before the first '/', then "__api"
    let seg = |i: usize| segments.get(i).map(|s| s.as_ref());
    if seg(0) != Some("assets") {
        return None;
    }
    let id = seg(1).filter(|s| !s.is_empty())?;
    let target = if id == "by_url" {
        Target::ByUrl
    } else {
        Target::Id(id.to_string())
    };
    let endpoint = match (seg(2), seg(3), segments.len()) {
        (None, None, 2) => Endpoint::Asset,
        (Some("lineage"), Some("site"), 4) => Endpoint::Lineage,
        (Some("children"), None, 3) => Endpoint::Children,
        _ => return None,
    };
    Some((target, endpoint))
}

/// Percent-decodes once; `+` becomes a space only in form (query) decoding. A `%` not followed by
/// two hex digits is kept as it is [D].
pub fn percent_decode(input: &[u8], form: bool) -> Cow<'_, [u8]> {
    if !input.iter().any(|&b| b == b'%' || (form && b == b'+')) {
        return Cow::Borrowed(input);
    }
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'%' if i + 2 < input.len() => match (hex(input[i + 1]), hex(input[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if form => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// The query string as decoded `(name, value)` pairs, in order.
pub struct Query {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Query {
    /// Form-decodes a raw query string (`+` is a space; names are case-sensitive).
    pub fn parse(raw: &str) -> Query {
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (n, v) = p.split_once('=').unwrap_or((p, ""));
                (
                    percent_decode(n.as_bytes(), true).into_owned(),
                    percent_decode(v.as_bytes(), true).into_owned(),
                )
            })
            .collect();
        Query { pairs }
    }

    /// The first occurrence's value, whatever it is (spec §2: the first occurrence counts).
    pub fn first(&self, name: &str) -> Option<&[u8]> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// The first value when non-empty (an empty value counts as absent, except for `url`).
    pub fn present(&self, name: &str) -> Option<&[u8]> {
        self.first(name).filter(|v| !v.is_empty())
    }
}

/// Which optional parts of an asset a request asks for (`data`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Data(u8);

impl Data {
    /// `urls` (and `url`).
    pub const URLS: Data = Data(1);
    /// `attributes`.
    pub const ATTRIBUTES: Data = Data(2);
    /// `metadata`.
    pub const METADATA: Data = Data(4);
    /// `contents`.
    pub const CONTENTS: Data = Data(8);
    /// The items in the order bodies and canonical queries list them.
    pub const ITEMS: [(Data, &'static str); 4] = [
        (Data::URLS, "urls"),
        (Data::ATTRIBUTES, "attributes"),
        (Data::METADATA, "metadata"),
        (Data::CONTENTS, "contents"),
    ];

    /// No optional data.
    pub const NONE: Data = Data(0);
    /// All four items.
    pub const ALL: Data = Data(15);

    /// Whether every item of `other` is asked for.
    pub fn has(self, other: Data) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union.
    pub fn with(self, other: Data) -> Data {
        Data(self.0 | other.0)
    }

    /// Parses a `data` value: order, repeats, empty and unknown items are irrelevant (spec §2).
    pub fn parse(value: &str) -> Data {
        value.split(',').fold(Data::NONE, |acc, item| {
            match Data::ITEMS.iter().find(|(_, n)| *n == item) {
                Some((d, _)) => acc.with(*d),
                None => acc,
            }
        })
    }

    /// The canonical `data` value (`urls,attributes,metadata,contents` order), empty for none.
    pub fn canonical(self) -> String {
        Data::ITEMS
            .iter()
            .filter(|(d, _)| self.has(*d))
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// All 16 subsets, from none to all.
    pub fn all_subsets() -> impl Iterator<Item = Data> {
        (0..16).map(Data)
    }
}

/// `sort_by` keys (spec §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    /// `id`
    Id,
    /// `type`
    Type,
    /// `version`
    Version,
    /// `name`
    Name,
    /// `short_name`
    ShortName,
    /// `status.id`
    Status,
    /// `created.date`
    CreatedDate,
    /// `created.user_id`
    CreatedUser,
    /// `updated.date`
    UpdatedDate,
    /// `updated.user_id`
    UpdatedUser,
    /// `published.date`
    PublishedDate,
    /// `published.user_id`
    PublishedUser,
    /// `status_changed.date`
    StatusChangedDate,
    /// `status_changed.userid` (also accepted as `status_changed.user_id` [D])
    StatusChangedUser,
}

impl SortKey {
    /// Every key with its canonical spelling, in the spec's order.
    pub const ALL: [(SortKey, &'static str); 14] = [
        (SortKey::Id, "id"),
        (SortKey::Type, "type"),
        (SortKey::Version, "version"),
        (SortKey::Name, "name"),
        (SortKey::ShortName, "short_name"),
        (SortKey::Status, "status.id"),
        (SortKey::CreatedDate, "created.date"),
        (SortKey::CreatedUser, "created.user_id"),
        (SortKey::UpdatedDate, "updated.date"),
        (SortKey::UpdatedUser, "updated.user_id"),
        (SortKey::PublishedDate, "published.date"),
        (SortKey::PublishedUser, "published.user_id"),
        (SortKey::StatusChangedDate, "status_changed.date"),
        (SortKey::StatusChangedUser, "status_changed.userid"),
    ];

    /// Parses a value; `status_changed.user_id` is another spelling of `status_changed.userid`.
    pub fn parse(value: &str) -> Option<SortKey> {
        if value == "status_changed.user_id" {
            return Some(SortKey::StatusChangedUser);
        }
        SortKey::ALL
            .iter()
            .find(|(_, n)| *n == value)
            .map(|(k, _)| *k)
    }

    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        SortKey::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map(|(_, n)| *n)
            .expect("every key is listed")
    }
}

/// `sort_order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SortOrder {
    /// `asc` (default).
    #[default]
    Asc,
    /// `desc`: the whole order reversed, ties included.
    Desc,
}

impl SortOrder {
    /// The spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        }
    }
}

/// Default `limit` (spec §2).
pub const DEFAULT_LIMIT: u64 = 100;

/// Validated parameters of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// `data`.
    pub data: Data,
    /// `url` (by_url endpoints), decoded once.
    pub url: Option<String>,
    /// `limit` (0 = all in one page).
    pub limit: u64,
    /// `page` (≥ 1).
    pub page: u64,
    /// `asset_types` filter (`None` = no filter), deduplicated and sorted.
    pub asset_types: Option<Vec<String>>,
    /// `sort_by` (`None` = tree order).
    pub sort_by: Option<SortKey>,
    /// `sort_order`.
    pub sort_order: SortOrder,
    /// `include_dependents` (asset endpoints): exactly `true`; any other value is false.
    pub include_dependents: bool,
    /// `base_url`, when it is an absolute http(s) URL (others are ignored).
    pub base_url: Option<BaseUrl>,
    /// `context`, decoded once; `None` when absent or empty (the default context). Whether the
    /// store declares it is checked by `answer()` (still a 400, before the asset lookup).
    pub context: Option<String>,
}

/// A `base_url` parameter (Content API 1.2.0): the reference point that replaces the request's
/// host when each asset's `url` is chosen (spec §2 1.2.0 parameters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// Its scheme (`http` or `https`).
    pub scheme: Scheme,
    /// Its URL key (`store::url::key`: host lower case, default port dropped, no query,
    /// fragment or single trailing `/`).
    pub key: String,
}

impl BaseUrl {
    /// An absolute `http://` or `https://` URL with a host; anything else is `None` (ignored).
    pub fn parse(value: &str) -> Option<BaseUrl> {
        let scheme = url::scheme(value)?;
        if scheme == Scheme::None {
            return None;
        }
        Some(BaseUrl {
            scheme,
            key: url::key(value)?,
        })
    }

    /// The form under which two values that choose alike are equal: `http://KEY` or
    /// `https://KEY` (scheme lower case, then the URL key). Exports name `base_url` variants by it.
    pub fn canonical(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Https => "https",
            _ => "http",
        };
        format!("{scheme}://{}", self.key)
    }

    /// Matrix's weighting of one asset URL against this base (`getAssetURL`, research
    /// matrix-model §4.3): one point for the same scheme, plus one per leading segment (host
    /// first, then path segments, compared as URL keys) the two have in common. `None` for a URL
    /// that can never match (another scheme).
    pub fn score(&self, candidate: &str) -> Option<(usize, String)> {
        let scheme = url::scheme(candidate)?;
        let key = url::key(candidate)?;
        let common = self
            .key
            .split('/')
            .zip(key.split('/'))
            .take_while(|(a, b)| a == b)
            .count();
        Some((usize::from(scheme == self.scheme) + common, key))
    }
}

impl Default for Params {
    fn default() -> Self {
        Params {
            data: Data::NONE,
            url: None,
            limit: DEFAULT_LIMIT,
            page: 1,
            asset_types: None,
            sort_by: None,
            sort_order: SortOrder::Asc,
            include_dependents: false,
            base_url: None,
            context: None,
        }
    }
}

/// A parameter is invalid: the request answers 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadParam(pub &'static str);

fn utf8<'a>(name: &'static str, v: &'a [u8]) -> Result<&'a str, BadParam> {
    std::str::from_utf8(v).map_err(|_| BadParam(name))
}

/// `^[0-9]+$`, at most 2^63−1; leading zeros allowed (spec §2).
fn integer(name: &'static str, v: &[u8]) -> Result<u64, BadParam> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return Err(BadParam(name));
    }
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|n| *n <= i64::MAX as u64)
        .ok_or(BadParam(name))
}

impl Params {
    /// Validates the parameters an endpoint takes; the others are ignored, even malformed [D].
    pub fn parse(query: &Query, target: &Target, endpoint: Endpoint) -> Result<Params, BadParam> {
        let mut p = Params::default();
        if let Some(v) = query.present("data") {
            p.data = Data::parse(utf8("data", v)?);
        }
        // Content API 1.2.0: `base_url` and `context` on every endpoint, `include_dependents`
        // on the asset endpoints only.
        if let Some(v) = query.present("base_url") {
            p.base_url = BaseUrl::parse(utf8("base_url", v)?);
        }
        if let Some(v) = query.present("context") {
            p.context = Some(utf8("context", v)?.to_string());
        }
        if endpoint == Endpoint::Asset {
            p.include_dependents = query.first("include_dependents") == Some(b"true");
        }
        if *target == Target::ByUrl {
            // `url` is required; empty is missing, judged after the URL clean-up (spec §2,
            // revised 2026-12: `url=%20` is a 400).
            let v = query.present("url").ok_or(BadParam("url"))?;
            let v = url::clean(utf8("url", v)?);
            if v.is_empty() {
                return Err(BadParam("url"));
            }
            p.url = Some(v.into_owned());
        }
        if endpoint == Endpoint::Children {
            if let Some(v) = query.present("limit") {
                p.limit = integer("limit", v)?;
            }
            if let Some(v) = query.present("page") {
                p.page = integer("page", v)?;
                if p.page == 0 {
                    return Err(BadParam("page"));
                }
            }
            if let Some(v) = query.present("asset_types") {
                let mut types: Vec<String> = utf8("asset_types", v)?
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect();
                types.sort();
                types.dedup();
                p.asset_types = (!types.is_empty()).then_some(types);
            }
            if let Some(v) = query.present("sort_by") {
                p.sort_by = Some(SortKey::parse(utf8("sort_by", v)?).ok_or(BadParam("sort_by"))?);
            }
            if let Some(v) = query.present("sort_order") {
                p.sort_order = match v {
                    b"asc" => SortOrder::Asc,
                    b"desc" => SortOrder::Desc,
                    _ => return Err(BadParam("sort_order")),
                };
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &str, target: Target, e: Endpoint) -> Result<Params, BadParam> {
        Params::parse(&Query::parse(q), &target, e)
    }

    fn children(q: &str) -> Result<Params, BadParam> {
        params(q, Target::Id("1".into()), Endpoint::Children)
    }

    /// Spec §1: split on raw `/`, decode each segment once; `%2F` stays in an id.
    #[test]
    fn route_decodes_segments_once() {
        assert_eq!(
            route("/__api/assets/12%3A3%2Fx"),
            Some((Target::Id("12:3/x".into()), Endpoint::Asset))
        );
        assert_eq!(
            route("/__api/assets/by%5Furl/lineage/site"),
            Some((Target::ByUrl, Endpoint::Lineage))
        );
        assert_eq!(
            route("/__api/assets/%2541"),
            Some((Target::Id("%41".into()), Endpoint::Asset)),
            "decoded once only"
        );
        assert_eq!(
            route("/__api/assets/a+b"),
            Some((Target::Id("a+b".into()), Endpoint::Asset)),
            "+ is literal in a path"
        );
        assert_eq!(
            route("/__api/%61ssets/1/children"),
            Some((Target::Id("1".into()), Endpoint::Children))
        );
    }

    /// Spec §2: a trailing slash, an empty segment or anything else is an unknown endpoint.
    #[test]
    fn unknown_endpoints() {
        for p in [
            "/__api/assets/1/",
            "/__api/assets/",
            "/__api/assets",
            "/__api/assets//children",
            "/__api/assets/1/lineage",
            "/__api/assets/1/lineage/site/",
            "/__api/assets/1/children/x",
            "/__api/asset/1",
            "/__api/",
            "/__api/assets/%ff",
        ] {
            assert_eq!(route(p), None, "{p}");
        }
    }

    /// Spec §2 `data`: order, repeats, empty and unknown items are irrelevant.
    #[test]
    fn data_order_repeats_unknown_items() {
        let a = Data::parse("contents,,attributes,contents");
        assert_eq!(a, Data::parse("attributes,contents"));
        assert_eq!(Data::parse("thumbnail,URLS,urls "), Data::NONE);
        assert_eq!(a.canonical(), "attributes,contents");
    }

    /// Spec §2 `limit`/`page`: `^[0-9]+$`, leading zeros allowed, ≤ 2^63−1; page ≥ 1.
    #[test]
    fn limit_and_page_syntax() {
        assert_eq!(children("limit=05").unwrap().limit, 5);
        assert_eq!(children("limit=0").unwrap().limit, 0);
        for bad in ["-1", "abc", "1.5", "+3", "%203", "9223372036854775808"] {
            assert_eq!(
                children(&format!("limit={bad}")),
                Err(BadParam("limit")),
                "{bad}"
            );
        }
        assert_eq!(
            children("limit=9223372036854775807").unwrap().limit,
            i64::MAX as u64
        );
        assert_eq!(children("page=0"), Err(BadParam("page")));
        assert_eq!(children("page=2").unwrap().page, 2);
    }

    /// Spec §2: the first occurrence counts; an empty value is absent; others are ignored.
    #[test]
    fn first_occurrence_and_empty_values() {
        assert_eq!(children("limit=&limit=abc").unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(children("limit=3&limit=abc").unwrap().limit, 3);
        assert_eq!(children("sort_by=&sort_order=").unwrap(), Params::default());
        assert_eq!(children("asset_types=,,").unwrap().asset_types, None);
        assert_eq!(children("LIMIT=abc&unknown=1").unwrap(), Params::default());
    }

    /// Spec §2: parameters are validated only on the endpoints that take them.
    #[test]
    fn params_of_other_endpoints_are_ignored() {
        let p = params(
            "limit=abc&sort_by=nope",
            Target::Id("1".into()),
            Endpoint::Asset,
        );
        assert_eq!(p, Ok(Params::default()));
        let p = params("url=", Target::Id("1".into()), Endpoint::Lineage);
        assert!(p.is_ok());
    }

    /// Spec §2 `url`: required on by_url; missing or empty → 400; form-decoded once.
    #[test]
    fn url_required_on_by_url() {
        let e = Endpoint::Asset;
        assert_eq!(params("", Target::ByUrl, e), Err(BadParam("url")));
        assert_eq!(params("url=&url=x", Target::ByUrl, e), Err(BadParam("url")));
        let p = params("url=https%3A%2F%2Fa.test%2Fx+y", Target::ByUrl, e).unwrap();
        assert_eq!(p.url.as_deref(), Some("https://a.test/x y"));
        assert_eq!(params("url=%ff", Target::ByUrl, e), Err(BadParam("url")));
    }

    /// Content API 1.2.0: `include_dependents` only on asset endpoints (exactly `true`, first
    /// occurrence); `base_url` and `context` on all, invalid UTF-8 → 400; a `base_url` that is
    /// not an absolute http(s) URL is ignored.
    #[test]
    fn api_1_2_0_parameters() {
        let asset = |q: &str| params(q, Target::Id("1".into()), Endpoint::Asset);
        assert!(asset("include_dependents=true").unwrap().include_dependents);
        for q in [
            "include_dependents=True",
            "include_dependents=&include_dependents=true",
        ] {
            assert!(!asset(q).unwrap().include_dependents, "{q}");
        }
        assert!(
            !children("include_dependents=true")
                .unwrap()
                .include_dependents
        );
        let lineage = params("include_dependents=true", Target::ByUrl, Endpoint::Lineage);
        assert_eq!(lineage, Err(BadParam("url")));
        let p = params(
            "include_dependents=true&url=x",
            Target::ByUrl,
            Endpoint::Lineage,
        );
        assert!(!p.unwrap().include_dependents);
        assert_eq!(
            children("base_url=HTTP://A.test:80/x/?q").unwrap().base_url,
            Some(BaseUrl {
                scheme: Scheme::Http,
                key: "a.test/x".into()
            })
        );
        for ignored in ["a.test/x", "//a.test", "ftp://a.test", "https://", "/x"] {
            let q = format!("base_url={ignored}");
            assert_eq!(children(&q).unwrap().base_url, None, "{ignored}");
        }
        assert_eq!(children("base_url=%ff"), Err(BadParam("base_url")));
        assert_eq!(
            asset("context=fr+CA").unwrap().context.as_deref(),
            Some("fr CA")
        );
        assert_eq!(asset("context=&context=fr").unwrap().context, None);
        assert_eq!(asset("context=%ff"), Err(BadParam("context")));
    }

    /// `base_url` scoring: a point for the scheme, one per leading segment in common.
    #[test]
    fn base_url_score() {
        let b = BaseUrl::parse("https://a.test/x/y").unwrap();
        let score = |u: &str| b.score(u).map(|(s, _)| s);
        assert_eq!(score("https://a.test/x/y/z"), Some(4));
        assert_eq!(score("http://A.test:80/x/y"), Some(3));
        assert_eq!(score("https://a.test/x/yz"), Some(3));
        assert_eq!(score("https://a.test/y/x"), Some(2));
        assert_eq!(score("https://b.test/x/y"), Some(1));
        assert_eq!(score("ftp://a.test/x/y"), None);
    }

    #[test]
    fn sort_by_and_order() {
        assert_eq!(
            children("sort_by=status_changed.user_id").unwrap().sort_by,
            Some(SortKey::StatusChangedUser)
        );
        assert_eq!(children("sort_by=status"), Err(BadParam("sort_by")));
        assert_eq!(children("sort_order=ASC"), Err(BadParam("sort_order")));
        assert_eq!(
            children("sort_order=desc").unwrap().sort_order,
            SortOrder::Desc
        );
    }

    #[test]
    fn asset_types_is_a_set() {
        let p = children("asset_types=page,folder,,page").unwrap();
        assert_eq!(p.asset_types, Some(vec!["folder".into(), "page".into()]));
    }

    #[test]
    fn malformed_percent_is_literal() {
        assert_eq!(&*percent_decode(b"a%2", false), b"a%2");
        assert_eq!(&*percent_decode(b"%zz%41", false), b"%zzA");
        assert_eq!(&*percent_decode(b"a+b%2B", true), b"a b+");
    }

    /// Spec §1 (revised 2026-12): a NUL in the decoded path is judged first; a `%2500` is not one.
    #[test]
    fn nul_in_the_decoded_path() {
        assert_eq!(normalize_path("/__api/assets/1%00"), None);
        assert_eq!(normalize_path("/x/%00/../y"), None, "before dot segments");
        assert_eq!(normalize_path("/a\0b"), None);
        assert_eq!(
            normalize_path("/__api/assets/1%2500").as_deref(),
            Some("/__api/assets/1%2500")
        );
    }

    /// Spec §1 (revised 2026-12): RFC 3986 remove_dot_segments on the raw segments, `%2e` too.
    #[test]
    fn dot_segments_are_resolved() {
        let n = |p: &str| normalize_path(p).unwrap().into_owned();
        assert_eq!(n("/__api/assets/x/../78"), "/__api/assets/78");
        assert_eq!(n("/__api/../x"), "/x");
        assert_eq!(n("/__api/assets/%2e%2E/assets/78"), "/__api/assets/78");
        assert_eq!(n("/__api/assets/.%2e/assets/78"), "/__api/assets/78");
        assert_eq!(n("/__api/assets/%2E./assets/78"), "/__api/assets/78");
        assert_eq!(n("/__api/./assets/%2e/78"), "/__api/assets/78");
        assert_eq!(n("/__api/assets/78/."), "/__api/assets/78/");
        assert_eq!(n("/__api/assets/78/.."), "/__api/assets/");
        assert_eq!(
            n("/../../__api/assets/78"),
            "/__api/assets/78",
            "never above /"
        );
        assert_eq!(n("/.."), "/");
        assert_eq!(
            n("/a//../b"),
            "/a/b",
            "RFC 3986: an empty segment is a segment"
        );
        assert_eq!(n("/__api/assets/a%2F..%2F78"), "/__api/assets/a%2F..%2F78");
        assert_eq!(n("/__api/assets/..."), "/__api/assets/...");
        assert_eq!(n("/__api/assets/%2e%2e%2e"), "/__api/assets/%2e%2e%2e");
        assert_eq!(n("/__api//assets/78"), "/__api//assets/78", "`//` stays");
    }

    /// Spec §1 (revised 2026-12): the prefix is a decoded segment like any other.
    #[test]
    fn api_prefix_is_matched_decoded() {
        assert!(in_api("/%5F_api/assets/78"));
        assert!(in_api("/%5f%5fapi/"));
        assert!(in_api("/__api/"));
        assert!(!in_api("/__api"));
        assert!(!in_api("/%5F_api"));
        assert!(!in_api("/__API/assets/78"));
        assert!(!in_api("/__api%2Fassets/78"));
        assert_eq!(
            route("/%5F_api/assets/78"),
            Some((Target::Id("78".into()), Endpoint::Asset))
        );
        assert_eq!(route("/__apix/assets/78"), None);
    }

    /// Spec §2 (revised 2026-12): emptiness of `url` is judged after the clean-up.
    #[test]
    fn url_blank_after_clean_up_is_missing() {
        for q in ["url=%20", "url=+", "url=%09%0A", "url=%01%20"] {
            assert_eq!(
                params(q, Target::ByUrl, Endpoint::Asset),
                Err(BadParam("url")),
                "{q}"
            );
        }
        let p = params(
            "url=%20https://x.test/a%09b%0A+",
            Target::ByUrl,
            Endpoint::Asset,
        )
        .unwrap();
        assert_eq!(p.url.as_deref(), Some("https://x.test/ab"));
    }
}
