//! The request corpus: a deterministic, seeded mix of the requests clients send and the ones
//! they get wrong, over one store, one token and one profile.
//!
//! Every endpoint, by id and by URL; valid values of every parameter drawn from the profile, and
//! values outside it; invalid values; parameters in any order, repeated, empty, unknown;
//! `data` lists in any order with repeats, empty and unknown items; ids and URLs percent-encoded
//! in several ways, with `:`, spaces, non-ASCII, double encoding and `..`; good, unknown,
//! disabled and malformed tokens, lower-case `bearer`, no token; every common method.

use crate::access::View;
use crate::api::request::DEFAULT_LIMIT;
use crate::api::{Catalog, SortKey};
use crate::rng::Rng;
use crate::snapshot::manifest::pct;
use crate::snapshot::routes::RouteSpec;
use crate::store::AssetIdx;

/// One request of the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// Method.
    pub method: String,
    /// Raw request target (`/path?query`), as sent.
    pub target: String,
    /// `Authorization` header value, if any.
    pub authorization: Option<String>,
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.target)?;
        match &self.authorization {
            Some(a) => write!(f, " [Authorization: {}]", redact(a)),
            None => write!(f, " [no Authorization]"),
        }
    }
}

/// The header with the token's characters hidden (reports never print a token).
fn redact(header: &str) -> String {
    match header.split_once(' ') {
        Some((scheme, rest)) if !rest.is_empty() => format!("{scheme} <{} chars>", rest.len()),
        _ => header.to_string(),
    }
}

/// What the corpus is drawn from.
pub struct Source<'a> {
    /// The store's catalog.
    pub catalog: &'a Catalog,
    /// The snapshot's token value.
    pub token: &'a str,
    /// Its view.
    pub view: &'a View,
    /// The snapshot's routing table (valid values are drawn from its profile).
    pub routes: &'a RouteSpec,
}

/// `n` requests from `seed`: the same arguments always give the same corpus.
pub fn corpus(src: &Source, seed: u64, n: usize) -> Vec<Case> {
    let mut g = Gen::new(src, seed);
    (0..n).map(|_| g.case()).collect()
}

struct Gen<'a> {
    src: &'a Source<'a>,
    rng: Rng,
    readable: Vec<AssetIdx>,
    forbidden: Vec<AssetIdx>,
    /// Store tokens that answer 401 (disabled, trashed, without a user).
    unusable_tokens: Vec<String>,
    types: Vec<String>,
}

const DATA_ITEMS: [&str; 4] = ["urls", "attributes", "metadata", "contents"];

impl<'a> Gen<'a> {
    fn new(src: &'a Source<'a>, seed: u64) -> Gen<'a> {
        let store = &src.catalog.store;
        let readable: Vec<AssetIdx> = src.view.readable().collect();
        let forbidden = (0..store.assets.len() as AssetIdx)
            .filter(|&a| !store.asset(a).trashed && !src.view.can_read(a))
            .collect();
        let unusable_tokens = (0..store.tokens.len() as u32)
            .filter(|&t| src.catalog.view(t).is_err())
            .map(|t| store.tokens[t as usize].token.clone())
            .collect();
        let mut types: Vec<String> = store.assets.iter().map(|a| a.type_code.clone()).collect();
        types.sort();
        types.dedup();
        Gen {
            src,
            rng: Rng::new(seed),
            readable,
            forbidden,
            unusable_tokens,
            types,
        }
    }

    fn pct(&mut self, n: u64) -> bool {
        self.rng.below(100) < n
    }

    fn case(&mut self) -> Case {
        let method = match self.rng.below(100) {
            0..=86 => "GET",
            87..=94 => "HEAD",
            _ => *self
                .rng
                .pick(&["POST", "PUT", "DELETE", "OPTIONS", "PATCH"]),
        }
        .to_string();
        let authorization = self.authorization();
        let target = match self.rng.below(100) {
            0..=1 => self.outside_api(),
            2..=5 => self.unknown_endpoint(),
            6..=9 => self.normalised_path(),
            _ => self.api_target(),
        };
        Case {
            method,
            target,
            authorization,
        }
    }

    fn authorization(&mut self) -> Option<String> {
        let token = self.src.token;
        Some(match self.rng.below(100) {
            0..=88 => format!("Bearer {token}"),
            89 | 90 => return None,
            91 => format!("bearer {token}"),
            92 => "Bearer".to_string(),
            93 => "Bearer ".to_string(),
            94 => "Basic dXNlcjpwYXNz".to_string(),
            95 | 96 => format!("Bearer {token}x"),
            97 => format!("Bearer  {token}"),
            98 => format!("Bearer {token} extra"),
            _ => match self.unusable_tokens.is_empty() {
                true => "Bearer no-such-token".to_string(),
                false => format!("Bearer {}", self.rng.pick(&self.unusable_tokens).clone()),
            },
        })
    }

    fn outside_api(&mut self) -> String {
        self.rng
            .pick(&[
                "/",
                "/index.html",
                "/__api",
                "/__apix/assets/1",
                "/assets/1",
                "/_routers/routes.json",
                "/manifest.jsonl",
                "/snapshot.json",
            ])
            .to_string()
    }

    /// What the front servers normalise (spec §1, revised 2026-12): dot segments (also spelled
    /// `%2e`) resolved before routing, the `/__api/` prefix judged decoded, a NUL in the decoded
    /// path a 404 before any other check. None climbs above `/` (nginx's core refuses that).
    fn normalised_path(&mut self) -> String {
        let api = self.api_target();
        let rest = api.strip_prefix("/__api/").unwrap_or(&api).to_string();
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p.to_string(), format!("?{q}")),
            None => (rest, String::new()),
        };
        let (head, tail) = path.split_once('/').unwrap_or((&path, ""));
        let spelled = match self.rng.below(14) {
            0 => format!("/%5F_api/{path}"),
            1 => format!("/%5f%5f%61pi/{path}"),
            2 => format!("/__api/{head}/x/../{tail}"),
            3 => format!("/__api/{head}/%2e%2E/{head}/{tail}"),
            4 => format!("/__api/./{head}/.%2e/{head}/%2E/{tail}"),
            5 => format!("/x/../__api/{path}"),
            6 => format!("/__api/{path}/."),
            7 => format!("/__api/{path}/.."),
            8 => format!("/__api/{head}/{tail}/%2e%2e/x/.."),
            9 => format!("/__api/../{path}"),
            10 => format!("/__api/{path}%00"),
            11 => format!("/__api/{head}/%00/../{tail}"),
            12 => format!("/x%00/../__api/{path}"),
            _ => format!("/__%61pi/{path}"),
        };
        format!("{spelled}{query}")
    }

    fn unknown_endpoint(&mut self) -> String {
        let id = self.id_segment();
        let shapes = [
            "/__api/".to_string(),
            "/__api/assets".to_string(),
            "/__api/assets/".to_string(),
            format!("/__api/assets/{id}/"),
            format!("/__api/assets/{id}/lineage"),
            format!("/__api/assets/{id}/lineage/site/"),
            format!("/__api/assets/{id}/lineage/page"),
            format!("/__api/assets/{id}/children/x"),
            format!("/__api/assets/{id}/Children"),
            format!("/__api/asset/{id}"),
            format!("/__api//assets/{id}"),
            format!("/__api/assets/{id}//children"),
            "/__api/assets/by_url/lineage?url=x".to_string(),
            "/__api/assets/by_url/?url=x".to_string(),
            "/__api/~/errors/404.json".to_string(),
            format!("/__api/assets/{id}/~asset.----.json"),
        ];
        self.rng.pick(&shapes).clone()
    }

    fn readable(&mut self) -> Option<AssetIdx> {
        (!self.readable.is_empty()).then(|| *self.rng.pick(&self.readable))
    }

    /// An id path segment: mostly readable assets, then forbidden, unknown and hostile ones.
    fn id_segment(&mut self) -> String {
        let store = &self.src.catalog.store;
        let roll = self.rng.below(100);
        let id = match roll {
            0..=79 => self.readable().map(|a| store.asset(a).id.clone()),
            80..=87 if !self.forbidden.is_empty() => {
                Some(store.asset(*self.rng.pick(&self.forbidden)).id.clone())
            }
            _ => None,
        };
        match id {
            Some(id) => self.spell_segment(&id),
            None => self
                .rng
                .pick(&[
                    "999999999",
                    "0",
                    "abc",
                    "..",
                    "%2e%2e",
                    ".",
                    "a%2Fb",
                    "..%2F..%2Fetc%2Fpasswd",
                    "12%3A34",
                    "12:34",
                    "%ff",
                    "caf%C3%A9",
                    "%E2%98%83",
                    "A",
                    "%20",
                    "a+b",
                    "%2541",
                    "by%5Furl",
                    "~forbidden.json",
                    "%7Easset.----.json",
                    "1%00",
                ])
                .to_string(),
        }
    }

    /// Percent-encodes an id for a path segment: minimally, or every byte, in either hex case.
    fn spell_segment(&mut self, id: &str) -> String {
        match self.rng.below(10) {
            0 => id.bytes().map(|b| format!("%{b:02X}")).collect(),
            1 => id.bytes().map(|b| format!("%{b:02x}")).collect(),
            _ => pct(id),
        }
    }

    fn api_target(&mut self) -> String {
        let by_url = self.pct(40);
        let endpoint = match self.rng.below(100) {
            0..=34 => "",
            35..=59 => "/lineage/site",
            _ => "/children",
        };
        let mut params: Vec<(String, String)> = Vec::new();
        let asset;
        let path = if by_url {
            let (url, a) = self.url_param();
            asset = a;
            if let Some(u) = url {
                params.push(("url".into(), u));
            }
            format!("/__api/assets/by_url{endpoint}")
        } else {
            let id = self.id_segment();
            asset = None;
            format!("/__api/assets/{id}{endpoint}")
        };
        let children = endpoint == "/children";
        if self.pct(80) {
            let value = self.data_value(children);
            params.push(("data".into(), value));
        }
        if children {
            self.children_params(&mut params, asset);
        }
        self.api12_params(&mut params, endpoint.is_empty());
        if self.pct(12) {
            let unknown = self
                .rng
                .pick(&["foo", "Limit", "DATA", "q", "thumbnail", "_"]);
            params.push((
                unknown.to_string(),
                self.rng.pick(&["1", "", "x,y", "%zz"]).to_string(),
            ));
        }
        if self.pct(10) && !params.is_empty() {
            // A repeat after the first occurrence: the first counts.
            let (name, _) = params[self.rng.below(params.len() as u64) as usize].clone();
            let other = self
                .rng
                .pick(&["", "1", "abc", "5", "desc", "urls"])
                .to_string();
            params.push((name, other));
        }
        // Any order, except that repeats stay after their first occurrence.
        let mut order: Vec<usize> = (0..params.len()).collect();
        for i in (1..order.len()).rev() {
            let j = self.rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        let mut seen = std::collections::HashSet::new();
        let mut firsts = Vec::new();
        let mut repeats = Vec::new();
        for (i, (n, _)) in params.iter().enumerate() {
            if seen.insert(n.clone()) {
                firsts.push(i);
            } else {
                repeats.push(i);
            }
        }
        let mut ordered: Vec<usize> = order.into_iter().filter(|i| firsts.contains(i)).collect();
        ordered.extend(repeats);
        let query: Vec<String> = ordered
            .iter()
            .map(|&i| {
                let (n, v) = &params[i];
                if v.is_empty() && self.pct(20) {
                    n.clone() // `name` without `=`
                } else {
                    format!("{n}={v}")
                }
            })
            .collect();
        let mut target = path;
        if !query.is_empty() {
            target.push('?');
            target.push_str(&query.join("&"));
            if self.pct(3) {
                target.push('&');
            }
        }
        target
    }

    /// Content API 1.2.0 parameters: `include_dependents` (mostly on asset endpoints, where it
    /// counts), `base_url` (the profile's values respelled, other URLs, values the API ignores)
    /// and `context` (exported, declared but not exported, undeclared, empty, the default).
    fn api12_params(&mut self, params: &mut Vec<(String, String)>, asset_endpoint: bool) {
        let routes = self.src.routes;
        if self.pct(if asset_endpoint { 12 } else { 3 }) {
            let v = match self.rng.below(10) {
                0..=6 => "true",
                _ => *self
                    .rng
                    .pick(&["TRUE", "1", "false", "", "yes", "true%20", "tru%65"]),
            };
            params.push(("include_dependents".into(), v.to_string()));
        }
        if self.pct(8) {
            let v = match self.rng.below(10) {
                0..=5 if !routes.base_urls.is_empty() => {
                    let u = self.rng.pick(&routes.base_urls).clone();
                    self.respell_url(&u)
                }
                0..=6 => match self.readable() {
                    Some(a) if !self.src.catalog.store.asset(a).urls.is_empty() => {
                        let u = self.rng.pick(&self.src.catalog.store.asset(a).urls).clone();
                        self.respell_url(&u)
                    }
                    _ => "https://www.uni.test".to_string(),
                },
                _ => self
                    .rng
                    .pick(&[
                        "ftp://www.uni.test",
                        "www.uni.test",
                        "//www.uni.test",
                        "/news",
                        "https://",
                        "mailto:x@uni.test",
                        "https://nowhere.test/a/b",
                        "HTTP://WWW.UNI.TEST:80/",
                        "https:/\u{e9}",
                    ])
                    .to_string(),
            };
            let v = self.encode_query_value(&v);
            params.push(("base_url".into(), v));
        }
        if self.pct(8) {
            let declared = &routes.contexts;
            let v = match self.rng.below(10) {
                0..=4 => {
                    let i = *self.rng.pick(&routes.context_variants);
                    declared[i].clone()
                }
                5 | 6 => self.rng.pick(declared).clone(),
                7 => String::new(),
                _ => {
                    let name = self.rng.pick(declared).clone();
                    match self.rng.below(4) {
                        0 => name.to_uppercase(),
                        1 => format!("{name} "),
                        2 => "xx".to_string(),
                        _ => format!("{}%ff", pct(&name)),
                    }
                }
            };
            let v = if v.ends_with("%ff") {
                v // already encoded; invalid UTF-8 once decoded: a 400
            } else {
                self.encode_query_value(&v)
            };
            params.push(("context".into(), v));
        }
    }

    /// A `url` parameter value (already encoded for the query) and the asset it names, if any.
    fn url_param(&mut self) -> (Option<String>, Option<AssetIdx>) {
        let store = &self.src.catalog.store;
        let roll = self.rng.below(100);
        let (url, asset) = match roll {
            0..=2 => return (None, None),
            3 => return (Some(String::new()), None),
            // Blank after the URL clean-up: missing (400).
            4 => {
                let blank = *self.rng.pick(&["%20", "+", "%09%0A", "%01", "%20%0D"]);
                return (Some(blank.to_string()), None);
            }
            5..=79 => match self.readable() {
                Some(a) if !store.asset(a).urls.is_empty() => {
                    (self.rng.pick(&store.asset(a).urls).clone(), Some(a))
                }
                _ => ("https://nowhere.test/x".to_string(), None),
            },
            80..=86 if !self.forbidden.is_empty() => {
                let a = *self.rng.pick(&self.forbidden);
                match store.asset(a).urls.first() {
                    Some(u) => (u.clone(), None),
                    None => ("https://nowhere.test/".to_string(), None),
                }
            }
            _ => (
                self.rng
                    .pick(&[
                        "https://nowhere.test/x",
                        "ftp://www.uni.test/",
                        "mailto:x@uni.test",
                        "https:///x",
                        "/relative/path",
                        "https://www.uni.test/../x",
                        "https://www.uni.test/%2e%2e/x",
                        "https://www.uni.test/a b",
                        "https://www.uni.test/caf\u{e9}",
                        "https://www.uni.test:8443/",
                        "http:/\u{e9}",
                    ])
                    .to_string(),
                None,
            ),
        };
        let url = self.respell_url(&url);
        (Some(self.encode_query_value(&url)), asset)
    }

    /// Another spelling of the same URL key: scheme, host case, default port, trailing slash,
    /// query and fragment.
    fn respell_url(&mut self, url: &str) -> String {
        let (scheme, rest) = match url.split_once("://") {
            Some((s, r)) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {
                (Some(s), r)
            }
            _ => (None, url),
        };
        let Some(scheme) = scheme else {
            return url.to_string();
        };
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let mut host = host.to_string();
        if self.pct(15) {
            host = host.to_uppercase();
        }
        if self.pct(10) && !host.contains(':') {
            host.push_str(if scheme.eq_ignore_ascii_case("http") {
                ":80"
            } else {
                ":443"
            });
        }
        let scheme = match self.rng.below(10) {
            0 => "http://",
            1 => "//",
            2 => "",
            3 => "HTTPS://",
            _ => match scheme {
                "http" => "http://",
                _ => "https://",
            },
        };
        let mut path = path.to_string();
        if self.pct(10) && !path.ends_with('/') {
            path.push('/');
        }
        if self.pct(8) {
            let extra = *self.rng.pick(&["?x=1", "#top", "?a=b#c"]);
            path.push_str(extra);
        }
        if scheme.is_empty() {
            return format!("{host}{path}");
        }
        // The WHATWG-style clean-up (spec §2, revised 2026-12): ports as numbers, an empty port,
        // bad ports that never match; surrounding spaces and controls, tabs and newlines inside.
        if self.pct(12) {
            let (name, port) = match host.rsplit_once(':') {
                Some((n, p)) if !n.ends_with(']') || p.is_empty() => (n.to_string(), p.to_string()),
                _ => (host.clone(), String::new()),
            };
            let port = match self.rng.below(8) {
                0 => format!("0{}", if port.is_empty() { "443" } else { &port }),
                1 => "00080".to_string(),
                2 if port.is_empty() => String::new(),
                2 => format!("000{port}"),
                3 => "65536".to_string(),
                4 => "8o".to_string(),
                5 => "99999999999999999999".to_string(),
                _ => port.clone(),
            };
            host = format!("{name}:{port}");
        }
        let mut url = format!("{scheme}{host}{path}");
        if self.pct(10) {
            let at = self.rng.below(url.len() as u64 + 1) as usize;
            let at = (0..=at)
                .rev()
                .find(|&i| url.is_char_boundary(i))
                .unwrap_or(0);
            url.insert(at, *self.rng.pick(&['\t', '\n', '\r']));
        }
        if self.pct(10) {
            let around = *self.rng.pick(&[" ", "\t", "\u{1}", " \u{1f}", "\n"]);
            url = if self.pct(50) {
                format!("{around}{url}")
            } else {
                format!("{url}{around}")
            };
        }
        url
    }

    /// Encodes a query value: fully, minimally (`:` `/` raw), spaces as `+` or `%20`.
    fn encode_query_value(&mut self, v: &str) -> String {
        let full = pct(v);
        match self.rng.below(3) {
            0 => full,
            1 => full.replace("%3A", ":").replace("%2F", "/"),
            _ => full.replace("%20", "+"),
        }
    }

    /// A `data` value: mostly a set of the profile, spelled in any order with repeats, empty
    /// and unknown items; sometimes any subset.
    fn data_value(&mut self, children: bool) -> String {
        let codes = if children {
            &self.src.routes.children_data
        } else {
            &self.src.routes.data
        };
        let set: Vec<&str> = if self.pct(85) && !codes.is_empty() {
            let code = self.rng.pick(codes).clone();
            DATA_ITEMS
                .iter()
                .zip(code.chars())
                .filter(|(_, c)| *c != '-')
                .map(|(d, _)| *d)
                .collect()
        } else {
            DATA_ITEMS
                .iter()
                .copied()
                .filter(|_| self.pct(50))
                .collect()
        };
        let mut items: Vec<&str> = set.clone();
        for item in &set {
            if self.pct(15) {
                items.push(item);
            }
        }
        if self.pct(20) {
            let unknown = *self
                .rng
                .pick(&["thumbnail", "additional", "URLS", "url", "all"]);
            items.push(unknown);
        }
        if self.pct(15) {
            items.push("");
        }
        for i in (1..items.len()).rev() {
            let j = self.rng.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
        let joined = items.join(",");
        if self.pct(15) {
            joined.replace(',', "%2C")
        } else {
            joined
        }
    }

    fn children_params(&mut self, params: &mut Vec<(String, String)>, asset: Option<AssetIdx>) {
        let routes = self.src.routes;
        // limit
        let limit: Option<u64> = match self.rng.below(100) {
            0..=24 => None,
            25..=69 => {
                let l = *self.rng.pick(&routes.limits);
                let spelled = if self.pct(15) {
                    format!("00{l}")
                } else {
                    l.to_string()
                };
                params.push(("limit".into(), spelled));
                Some(l)
            }
            70..=81 => {
                let l = *self.rng.pick(&[0u64, 1, 2, 7, 100, 1000]);
                params.push(("limit".into(), l.to_string()));
                Some(l)
            }
            _ => {
                let bad = self.rng.pick(&[
                    "-1",
                    "abc",
                    "1.5",
                    "%2B3",
                    "+3",
                    "%203",
                    "99999999999999999999",
                    "9223372036854775808",
                    "0x10",
                    "1e2",
                ]);
                params.push(("limit".into(), bad.to_string()));
                None
            }
        };
        // page: mostly within the pages that exist, sometimes one past the end
        if self.pct(50) {
            let total = asset
                .map(|a| {
                    self.src
                        .catalog
                        .readable_children(self.src.view, a, None)
                        .count() as u64
                })
                .unwrap_or(3);
            let l = limit.unwrap_or(DEFAULT_LIMIT);
            let pages = if l == 0 { 1 } else { total.div_ceil(l).max(1) };
            let page = match self.rng.below(10) {
                0 => "0".to_string(),
                1 => self
                    .rng
                    .pick(&[
                        "-1",
                        "x",
                        "1.0",
                        "9223372036854775807",
                        "9223372036854775808",
                    ])
                    .to_string(),
                2 => (pages + 1).to_string(),
                3 => format!("0{}", 1 + self.rng.below(pages)),
                _ => (1 + self.rng.below(pages)).to_string(),
            };
            params.push(("page".into(), page));
        }
        // sort_by
        match self.rng.below(100) {
            0..=39 => {}
            40..=69 => {
                let s = self.rng.pick(&routes.sort_by).sort_by.clone();
                if let Some(s) = s {
                    params.push(("sort_by".into(), s));
                }
            }
            70..=89 => {
                let (_, name) = *self.rng.pick(&SortKey::ALL);
                params.push(("sort_by".into(), name.to_string()));
            }
            90..=94 => params.push(("sort_by".into(), "status_changed.user_id".into())),
            _ => {
                let bad = self
                    .rng
                    .pick(&["Name", "NAME", "name.x", "tree", "created", "id,name"]);
                params.push(("sort_by".into(), bad.to_string()));
            }
        }
        // sort_order
        match self.rng.below(100) {
            0..=49 => {}
            50..=93 => {
                let o = self.rng.pick(&["asc", "desc"]).to_string();
                params.push(("sort_order".into(), o));
            }
            _ => {
                let bad = self.rng.pick(&["ASC", "Desc", "up", "1"]);
                params.push(("sort_order".into(), bad.to_string()));
            }
        }
        // asset_types
        match self.rng.below(100) {
            0..=64 => {}
            65..=84 => {
                let filter = self.rng.pick(&routes.asset_types).types.clone();
                let mut items: Vec<String> = filter.clone();
                if self.pct(30) && !filter.is_empty() {
                    items.push(self.rng.pick(&filter).clone());
                }
                if self.pct(20) {
                    items.push(String::new());
                }
                for i in (1..items.len()).rev() {
                    let j = self.rng.below(i as u64 + 1) as usize;
                    items.swap(i, j);
                }
                let v: Vec<String> = items.iter().map(|t| pct(t)).collect();
                params.push(("asset_types".into(), v.join(",")));
            }
            _ => {
                let mut v = Vec::new();
                for _ in 0..1 + self.rng.below(2) {
                    if !self.types.is_empty() {
                        let t = self.rng.pick(&self.types).clone();
                        v.push(pct(&t));
                    }
                }
                if self.pct(20) {
                    v = vec![String::new(), String::new()];
                }
                params.push(("asset_types".into(), v.join(",")));
            }
        }
    }
}
