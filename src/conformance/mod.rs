//! The conformance harness: replays a request corpus against a host serving a snapshot and
//! against [`crate::answer`], and compares status, `Content-Type`, `WWW-Authenticate`, `Allow`
//! (and the CORS origin when the snapshot has one) and body bytes.
//!
//! Two kinds of answer are counted apart from agreement, never as agreement:
//! - **not exported**: a valid request for a readable asset with a parameter value outside the
//!   profile must get the snapshot's "not exported" 404 (`docs/routing.md`), never a wrong 200;
//! - **documented deviations**: a by_url request for an asset the token may not read answers 403
//!   live; both layouts record such URLs by a hash of their key and answer the 403 (decision
//!   D-057: the pack layout in its index, the files layout in its forbidden-URL tables), except a
//!   files-layout snapshot exported before D-057 (its `routes.json` has no
//!   `forbidden_url_digits`), which answers 404 there (decision E-003: export it again).
//!
//! For a `--public` snapshot every request is compared with the answer the snapshot's token
//! gets, since that is what a public snapshot promises.

pub mod client;
pub mod corpus;

use crate::api::request::{self, Params, Query, Target};
use crate::api::{answer_with, Catalog, Options, Request, Response};
use crate::snapshot;
use crate::snapshot::routes::{self, Auth, RouteSpec, NOT_EXPORTED_FILE};
use crate::store::url::{self, Scheme};
use crate::View;
pub use client::{Client, Received};
pub use corpus::{corpus, Case, Source};
use std::fs;
use std::path::Path;

/// A snapshot and the store it was exported from, ready to judge answers.
pub struct Harness<'a> {
    catalog: &'a Catalog,
    token: u32,
    view: &'a View,
    routes: RouteSpec,
    scheme: Scheme,
    host: Option<String>,
    not_exported_body: Vec<u8>,
    /// The snapshot's layout: the pack layout's `ETag` is a SHA-256 prefix; a files-layout
    /// snapshot without forbidden-URL tables (exported before D-057) answers 404 for them.
    layout: snapshot::Layout,
}

/// Why a harness cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The snapshot cannot be read.
    #[error(transparent)]
    Open(#[from] snapshot::ReadError),
    /// `snapshot.json` missing or unreadable.
    #[error("{path}: {message}")]
    Info {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The store is not the one exported.
    #[error("the snapshot was exported from store {snapshot:?} (fingerprint {fingerprint}), not from the store given ({given}); pass the same --store")]
    OtherStore {
        /// Store name in the snapshot.
        snapshot: String,
        /// Its fingerprint.
        fingerprint: String,
        /// The given store's fingerprint.
        given: String,
    },
    /// The snapshot's token is not in the store or cannot be used.
    #[error("the snapshot's token {0:?} is not a usable token of this store")]
    Token(String),
}

impl<'a> Harness<'a> {
    /// Opens the snapshot in `dir`, checking that `catalog` holds the store it came from.
    pub fn open(catalog: &'a Catalog, dir: &Path) -> Result<Harness<'a>, HarnessError> {
        let info = snapshot::read_info(dir)?;
        let routes = routes::read(dir)?;
        let info_err = |message: String| HarnessError::Info {
            path: dir.join(snapshot::INFO_FILE).display().to_string(),
            message,
        };
        if info.store.fingerprint != catalog.store.fingerprint {
            return Err(HarnessError::OtherStore {
                snapshot: info.store.name.clone(),
                fingerprint: info.store.fingerprint.clone(),
                given: catalog.store.fingerprint.clone(),
            });
        }
        let name = info.token.name.as_str();
        let token = catalog
            .store
            .token_by_name_or_value(name)
            .ok_or_else(|| HarnessError::Token(name.to_string()))?;
        let view = catalog
            .view(token)
            .map_err(|_| HarnessError::Token(name.to_string()))?;
        let (scheme, host) = match info
            .base_url
            .as_deref()
            .and_then(crate::api::split_base_url)
        {
            Some((s, h)) => (s, Some(h)),
            None => (Scheme::Http, None),
        };
        let layout = snapshot::Layout::of_format(&info.format).unwrap_or_default();
        let not_exported_body = match layout {
            snapshot::Layout::Files => {
                fs::read(dir.join(snapshot::PUBLIC_DIR).join(NOT_EXPORTED_FILE))
                    .map_err(|e| info_err(format!("{NOT_EXPORTED_FILE}: {e}")))?
            }
            snapshot::Layout::Pack => routes.not_exported_body(),
        };
        Ok(Harness {
            catalog,
            token,
            view,
            routes,
            scheme,
            host,
            not_exported_body,
            layout,
        })
    }

    /// The snapshot's token value (what the corpus sends).
    pub fn token(&self) -> &str {
        &self.catalog.store.tokens[self.token as usize].token
    }

    /// `n` corpus requests from `seed`.
    pub fn corpus(&self, seed: u64, n: usize) -> Vec<Case> {
        let src = Source {
            catalog: self.catalog,
            token: self.token(),
            view: self.view,
            routes: &self.routes,
        };
        corpus::corpus(&src, seed, n)
    }

    /// By-URL requests for the URLs of live assets the token may not read (the live API's 403,
    /// decision D-057), at most `assets` of them (in store order): each URL in the spellings the
    /// URL clean-up of spec §2 takes for the same key (a trailing `/`, no scheme, `//`, the
    /// host's case, `:0443` and `:080`, an empty port, a query and fragment, spaces and
    /// controls around it, a tab inside), on the three endpoints, and a `HEAD`. Empty when the
    /// token may read every URL.
    pub fn forbidden_url_cases(&self, assets: usize) -> Vec<Case> {
        let store = &self.catalog.store;
        let bearer = format!("Bearer {}", self.token());
        let mut cases = Vec::new();
        let urls = (0..store.assets.len() as crate::store::AssetIdx)
            .filter(|&a| !store.asset(a).trashed && !self.view.can_read(a))
            .filter_map(|a| store.asset(a).urls.first())
            .filter_map(|u| {
                let (scheme, rest) = u.split_once("://")?;
                let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                // Spellings of a plain `scheme://host/path` (no port, no trailing `/`).
                (!host.contains(':') && !path.ends_with('/') && url::key(u).is_some()).then(|| {
                    (
                        u.clone(),
                        scheme.to_string(),
                        host.to_string(),
                        path.to_string(),
                    )
                })
            })
            .take(assets);
        for (u, scheme, host, path) in urls {
            let spellings = [
                u.clone(),
                format!("{u}/"),
                format!("{host}{path}"),
                format!("//{host}{path}"),
                format!(
                    "{}://{}:0443{path}",
                    scheme.to_ascii_uppercase(),
                    host.to_ascii_uppercase()
                ),
                format!("http://{host}:080{path}?x=1#top"),
                format!("{scheme}://{host}:{path}"),
                format!(" {u}\t"),
                format!("{scheme}://{host}/\t{}", path.trim_start_matches('/')),
            ];
            for (i, spelling) in spellings.iter().enumerate() {
                let value = percent_encoding::utf8_percent_encode(
                    spelling,
                    percent_encoding::NON_ALPHANUMERIC,
                );
                for endpoint in ["by_url", "by_url/lineage/site", "by_url/children"] {
                    let target = format!("/__api/assets/{endpoint}?url={value}");
                    let methods: &[&str] = if i == 0 { &["GET", "HEAD"] } else { &["GET"] };
                    for method in methods {
                        cases.push(Case {
                            method: method.to_string(),
                            target: target.clone(),
                            authorization: Some(bearer.clone()),
                        });
                    }
                }
            }
        }
        cases
    }

    fn live(&self, case: &Case, authorization: Option<&str>) -> Response {
        let mut req = Request::get(case.target.clone()).with_method(&case.method);
        req.authorization = authorization.map(str::to_string);
        if let Some(h) = &self.host {
            req = req.on_host(self.scheme, h);
        }
        let options = Options {
            cors: self.routes.cors.clone(),
            exclude_attributes: self.routes.exclude_attributes.clone(),
        };
        answer_with(self.catalog, &options, &req)
    }

    /// What the snapshot must answer to `case`.
    pub fn expect(&self, case: &Case) -> Expected {
        let mut live = self.live(case, case.authorization.as_deref());
        if self.routes.auth == Auth::Public && live.status == 401 {
            let bearer = format!("Bearer {}", self.token());
            live = self.live(case, Some(&bearer));
        }
        let (path, query) = case
            .target
            .split_once('?')
            .unwrap_or((case.target.as_str(), ""));
        let path = request::normalize_path(path).unwrap_or_default();
        let routed = request::route(&path).and_then(|(target, endpoint)| {
            let params = Params::parse(&Query::parse(query), &target, endpoint).ok()?;
            Some((target, endpoint, params))
        });
        if let Some((target, endpoint, params)) = routed {
            let asset = match &target {
                Target::Id(id) => self.catalog.store.asset_by_id(id),
                Target::ByUrl => params
                    .url
                    .as_deref()
                    .and_then(url::key)
                    .and_then(|k| self.catalog.store.asset_by_url_key(&k)),
            }
            .filter(|&a| !self.catalog.store.asset(a).trashed);
            let readable = asset.is_some_and(|a| self.view.can_read(a));
            if (live.status == 200 || live.status == 404)
                && readable
                && !self.routes.holds(endpoint, &params)
            {
                let r = Response::json(404, self.not_exported_body.clone());
                return Expected::NotExported(self.finish(case, r));
            }
            if live.status == 403
                && target == Target::ByUrl
                && self.layout == snapshot::Layout::Files
                && self.routes.forbidden_url_digits.is_none()
            {
                return Expected::Deviation("E-003", self.finish(case, Response::error(404)));
            }
        }
        Expected::Same(live)
    }

    /// A response the snapshot gives where the live API cannot: with CORS and HEAD applied as
    /// `answer()` applies them.
    fn finish(&self, case: &Case, mut r: Response) -> Response {
        if let Some(origin) = &self.routes.cors {
            r.headers
                .push(("Access-Control-Allow-Origin", origin.clone()));
            r.headers.push(("Vary", "Origin".to_string()));
        }
        if case.method == "HEAD" {
            r = r.without_body();
        }
        r
    }

    /// The status the snapshot must answer `case` with.
    pub fn expect_status(&self, case: &Case) -> u16 {
        match self.expect(case) {
            Expected::Same(r) | Expected::NotExported(r) | Expected::Deviation(_, r) => r.status,
        }
    }

    /// Compares what a host answered with what it must answer.
    pub fn judge(&self, case: &Case, got: &Received) -> Outcome {
        let (kind, want) = match self.expect(case) {
            Expected::Same(r) => (Outcome::Agree, r),
            Expected::NotExported(r) => (Outcome::NotExported, r),
            Expected::Deviation(d, r) => (Outcome::Deviation(d), r),
        };
        let mut diffs = Vec::new();
        if got.status != want.status {
            diffs.push(format!("status {} (want {})", got.status, want.status));
        }
        let mut names = vec!["Content-Type", "WWW-Authenticate", "Allow"];
        if self.routes.cors.is_some() {
            names.push("Access-Control-Allow-Origin");
        }
        for name in names {
            let (g, w) = (got.header(name), want.header(name));
            if g != w {
                diffs.push(format!("{name} {g:?} (want {w:?})"));
            }
        }
        if want.status == 200 && got.status == 200 {
            // Caching (docs/routing.md): every 200 carries the table's Cache-Control and a
            // strong ETag, the quoted blake3 of the body (HEAD: of the body GET would give).
            let cache = Some(self.routes.cache_control.as_str());
            if got.header("Cache-Control") != cache {
                diffs.push(format!(
                    "Cache-Control {:?} (want {cache:?})",
                    got.header("Cache-Control")
                ));
            }
            let tag = |body: &[u8]| match self.layout {
                snapshot::Layout::Files => crate::route::preview::etag(body),
                snapshot::Layout::Pack => {
                    format!(
                        "\"{}\"",
                        snapshot::pack::hex(&snapshot::pack::body_etag(body))
                    )
                }
            };
            let etag = if case.method == "HEAD" {
                let get = Case {
                    method: "GET".to_string(),
                    ..case.clone()
                };
                match self.expect(&get) {
                    Expected::Same(r) | Expected::NotExported(r) | Expected::Deviation(_, r) => {
                        tag(&r.body)
                    }
                }
            } else {
                tag(&want.body)
            };
            if got.header("ETag") != Some(etag.as_str()) {
                diffs.push(format!("ETag {:?} (want {etag:?})", got.header("ETag")));
            }
        }
        if got.body != want.body {
            diffs.push(format!(
                "body {} (want {})",
                preview_bytes(&got.body),
                preview_bytes(&want.body)
            ));
        }
        if diffs.is_empty() {
            kind
        } else {
            Outcome::Differ(diffs.join("; "))
        }
    }
}

fn preview_bytes(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.chars().count() > 120 {
        format!(
            "{:?}… ({} bytes)",
            s.chars().take(120).collect::<String>(),
            b.len()
        )
    } else {
        format!("{s:?}")
    }
}

/// What a snapshot must answer.
#[derive(Debug, Clone)]
pub enum Expected {
    /// The live answer.
    Same(Response),
    /// The "not exported" 404.
    NotExported(Response),
    /// A documented deviation (its decision number) and the answer instead.
    Deviation(&'static str, Response),
}

/// How one answer compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Same as the live API.
    Agree,
    /// The correct "not exported" 404.
    NotExported,
    /// The documented deviation.
    Deviation(&'static str),
    /// Wrong: what differs.
    Differ(String),
}

/// Counts over a corpus.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Requests sent.
    pub total: usize,
    /// Same as the live API.
    pub agree: usize,
    /// Correct "not exported" 404s.
    pub not_exported: usize,
    /// Documented deviations, answered as documented.
    pub deviations: usize,
    /// Wrong answers (or transport errors): the case and what differs.
    pub differ: Vec<(Case, String)>,
}

impl Tally {
    /// Requests the live API answers the same way a snapshot can (agreement's denominator).
    pub fn compared(&self) -> usize {
        self.total - self.not_exported - self.deviations
    }

    /// Every answer is what it must be.
    pub fn passed(&self) -> bool {
        self.differ.is_empty()
    }

    /// A summary line plus the first `show` differences.
    pub fn report(&self, target: &str, show: usize) -> String {
        let wrong = self.differ.len();
        let mut out = format!(
            "{target}: agreement {}/{} ({:.2} %); not exported (correct 404) {}; documented deviations {}; wrong {wrong}\n",
            self.agree,
            self.compared(),
            if self.compared() == 0 { 100.0 } else { 100.0 * self.agree as f64 / self.compared() as f64 },
            self.not_exported,
            self.deviations,
        );
        for (case, diff) in self.differ.iter().take(show) {
            out.push_str(&format!("  {case}\n    {diff}\n"));
        }
        if wrong > show {
            out.push_str(&format!("  … and {} more\n", wrong - show));
        }
        out
    }
}

/// Replays `cases` through `send` and judges every answer.
pub fn run(
    harness: &Harness,
    cases: &[Case],
    mut send: impl FnMut(&Case) -> std::io::Result<Received>,
) -> Tally {
    let mut tally = Tally {
        total: cases.len(),
        ..Tally::default()
    };
    for case in cases {
        let outcome = match send(case) {
            Ok(got) => harness.judge(case, &got),
            Err(e) => Outcome::Differ(format!("transport error: {e}")),
        };
        match outcome {
            Outcome::Agree => tally.agree += 1,
            Outcome::NotExported => tally.not_exported += 1,
            Outcome::Deviation(_) => tally.deviations += 1,
            Outcome::Differ(d) => tally.differ.push((case.clone(), d)),
        }
    }
    tally
}

/// Replays `cases` against an HTTP server at `addr` (`host:port`).
pub fn run_http(harness: &Harness, cases: &[Case], addr: &str) -> Tally {
    let mut client = Client::new(addr);
    run(harness, cases, |case| {
        let mut headers = Vec::new();
        if let Some(a) = &case.authorization {
            headers.push(("Authorization", a.as_str()));
        }
        client.send(&case.method, &case.target, &headers)
    })
}
