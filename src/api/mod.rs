//! Stage 3: what a request returns, down to the byte. [`answer`] is the single source of truth
//! that `serve`, `export` and the conformance tests all rely on: a pure function of the
//! [`Catalog`] and the [`Request`] — no I/O, no clock.
//!
//! Check order for any path under `/__api/` (spec §3 errors [D]):
//! 405 method → 401 token → 404 unknown endpoint → 400 parameters → 404 asset (or URL) →
//! 403 access → 404 page.

mod body;
pub mod encode;
mod objects;
pub mod order;
pub mod request;
pub mod response;

pub use request::{BaseUrl, Data, Endpoint, Params, Query, Request, SortKey, SortOrder, Target};
pub use response::{AuthProblem, Response};

use crate::access::{Unusable, View};
use crate::store::url::{self, Scheme};
use crate::store::{AssetIdx, LinkIdx, LinkType, Store};
use body::Renderer;
use objects::Objects;
use rayon::prelude::*;
use std::cell::RefCell;

/// Options that change answers for every request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `--cors ORIGIN`: CORS headers on every answer and 204 preflights (spec §1 [D]).
    pub cors: Option<String>,
    /// Attribute names left out of every body (a profile's `exclude_attributes`: a documented
    /// deviation from the live API, for secrets such as API keys). Sorted, distinct.
    pub exclude_attributes: Vec<String>,
}

/// A loaded store with one precomputed view per token and the API's tree indexes.
#[derive(Debug)]
pub struct Catalog {
    /// The store.
    pub store: Store,
    /// Options.
    pub options: Options,
    views: Vec<Result<View, Unusable>>,
    /// Per asset: its children links (non-dependent menu/hidden, to non-trashed assets, one per
    /// child through its lowest (sort_order, link_id) link), in tree order.
    children: Vec<Vec<LinkIdx>>,
    /// Per asset: its tree links from non-trashed parents, lowest (sort_order, link_id) first.
    parents: Vec<Vec<LinkIdx>>,
}

/// `check` warns (and `export --dry-run` details the lineage files) when some lineage lists this
/// many ancestors: real sites are a few levels to a few dozen deep; a chain of 64 already lists
/// 2,080 assets in its 64 lineage bodies.
pub const LINEAGE_WARN_DEPTH: u32 = 64;

/// How much the lineage files of an export weigh ([`Catalog::lineage_growth`]): every lineage
/// body lists each ancestor, so a chain of depth d costs about d²/2 listed assets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageGrowth {
    /// The asset with the deepest lineage.
    pub id: String,
    /// How many ancestors its lineage lists.
    pub depth: u32,
    /// Assets listed by the lineage bodies of every asset (one each: one data subset, by id).
    pub entries: u64,
    /// Their bytes, estimated from the deepest lineage.
    pub bytes: u64,
}

impl Catalog {
    /// Builds the catalog: every token's view and the tree indexes, in parallel.
    pub fn new(store: Store) -> Catalog {
        let views = (0..store.tokens.len() as u32)
            .map(|t| View::for_token(&store, t))
            .collect();
        let children = (0..store.assets.len() as AssetIdx)
            .into_par_iter()
            .map(|a| children_of(&store, a))
            .collect();
        let parents = (0..store.assets.len() as AssetIdx)
            .into_par_iter()
            .map(|a| {
                let mut links: Vec<LinkIdx> = store
                    .links_to(a)
                    .iter()
                    .copied()
                    .filter(|&l| {
                        store.link(l).link_type.is_tree()
                            && !store.asset(store.link_ends(l).0).trashed
                    })
                    .collect();
                links.sort_by(|&x, &y| body::cmp_link_rank(&store, x, y));
                links
            })
            .collect();
        Catalog {
            store,
            options: Options::default(),
            views,
            children,
            parents,
        }
    }

    /// Per asset: how many ancestors its lineage lists when it follows each asset's first
    /// tree parent up to a site (what a lineage without a URL does; a view or a URL can make it
    /// shorter). Every lineage body lists each ancestor, so a deep chain makes the lineage files
    /// grow with the square of its depth (`check` warns; `export --dry-run` estimates them).
    pub fn lineage_depths(&self) -> Vec<u32> {
        const UNKNOWN: u32 = u32::MAX;
        let store = &self.store;
        let mut depth = vec![UNKNOWN; store.assets.len()];
        let mut chain = Vec::new();
        for start in 0..store.assets.len() as AssetIdx {
            let mut current = start;
            // Up until a known depth or the top; cycles are refused when the store loads.
            let top = loop {
                if depth[current as usize] != UNKNOWN {
                    break depth[current as usize];
                }
                if store.asset(current).type_code == "site" {
                    depth[current as usize] = 0;
                    break 0;
                }
                match self.parents[current as usize].first() {
                    Some(&l) if chain.len() <= store.assets.len() => {
                        chain.push(current);
                        current = store.link_ends(l).0;
                    }
                    _ => {
                        depth[current as usize] = 0;
                        break 0;
                    }
                }
            };
            for (i, &a) in chain.iter().rev().enumerate() {
                depth[a as usize] = top + i as u32 + 1;
            }
            chain.clear();
        }
        depth
    }

    /// What a deep lineage costs ([`LineageGrowth`]), when some asset's lineage lists at least
    /// `warn_from` ancestors; `None` otherwise.
    pub fn lineage_growth(&self, warn_from: u32) -> Option<LineageGrowth> {
        let depths = self.lineage_depths();
        let store = &self.store;
        let (deepest, &depth) = depths
            .iter()
            .enumerate()
            .filter(|(a, _)| !store.assets[*a].trashed)
            .max_by_key(|(a, d)| (**d, std::cmp::Reverse(*a)))?;
        if depth < warn_from {
            return None;
        }
        let entries: u64 = depths
            .iter()
            .zip(&store.assets)
            .filter(|(_, a)| !a.trashed)
            .map(|(&d, _)| d as u64 + 1)
            .sum();
        let id = &store.assets[deepest].id;
        // Bytes per listed ancestor: the deepest lineage without data, as the first token that
        // reads it gets it (else a typical 400 bytes).
        let target = format!(
            "/__api/assets/{}/lineage/site",
            percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
        );
        let per_entry = store
            .tokens
            .iter()
            .find_map(|t| {
                let mut req = Request::get(target.clone());
                req.authorization = Some(format!("Bearer {}", t.token));
                let r = answer(self, &req);
                (r.status == 200).then(|| r.body.len() as u64 / (depth as u64 + 1))
            })
            .unwrap_or(400);
        Some(LineageGrowth {
            id: id.clone(),
            depth,
            entries,
            bytes: entries * per_entry,
        })
    }

    /// The same catalog with other options.
    pub fn with_options(mut self, options: Options) -> Catalog {
        self.options = options;
        self
    }

    /// The view of the token at index `token`, or why it cannot be used.
    pub fn view(&self, token: u32) -> Result<&View, Unusable> {
        self.views[token as usize].as_ref().map_err(|e| *e)
    }

    /// Authenticates an `Authorization` header value (spec §1, §3 401).
    pub fn authenticate(&self, header: Option<&str>) -> Result<&View, AuthProblem> {
        let header = header.ok_or(AuthProblem::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .filter(|t| !t.is_empty() && !t.chars().any(char::is_whitespace))
            .ok_or(AuthProblem::Malformed)?;
        let idx = self
            .store
            .token_by_value(token)
            .ok_or(AuthProblem::InvalidToken)?;
        self.view(idx).map_err(|_| AuthProblem::InvalidToken)
    }

    /// The children a view lists under `asset` (spec §3 children): readable, of one of
    /// `types` when given, in tree order. `answer()` and the exporter's page counts both use it.
    pub fn readable_children<'a>(
        &'a self,
        view: &'a View,
        asset: AssetIdx,
        types: Option<&'a [String]>,
    ) -> impl Iterator<Item = LinkIdx> + 'a {
        self.children[asset as usize]
            .iter()
            .copied()
            .filter(move |&l| {
                let minor = self.store.link_ends(l).1;
                view.can_read(minor)
                    && types
                        .is_none_or(|t| t.iter().any(|t| *t == self.store.asset(minor).type_code))
            })
    }

    /// The context a request's `context` parameter names (1.2.0 [D]): `None` for the default
    /// context (parameter absent, empty, or the default's name), a declared name, or `Err` for a
    /// name the store does not declare (400). Names compare exactly (case-sensitive).
    pub fn context<'a>(&'a self, name: Option<&str>) -> Result<Option<&'a str>, UndeclaredContext> {
        let Some(name) = name else {
            return Ok(None);
        };
        let declared = &self.store.meta.contexts;
        match declared.iter().position(|c| c == name) {
            Some(0) => Ok(None),
            Some(i) => Ok(Some(declared[i].as_str())),
            None => Err(UndeclaredContext),
        }
    }

    /// The child links of an asset in tree order, before permission and type filtering.
    pub fn tree_children(&self, asset: AssetIdx) -> &[LinkIdx] {
        &self.children[asset as usize]
    }
}

/// A `context` the store does not declare: the request answers 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UndeclaredContext;

fn children_of(store: &Store, a: AssetIdx) -> Vec<LinkIdx> {
    let mut links: Vec<LinkIdx> = store
        .links_from(a)
        .iter()
        .copied()
        .filter(|&l| {
            let link = store.link(l);
            matches!(link.link_type, LinkType::Menu | LinkType::Hidden)
                && !link.is_dependent
                && !store.asset(store.link_ends(l).1).trashed
        })
        .collect();
    // One appearance per child: its lowest (sort_order, link_id) link.
    body::once_each_in_tree_order(store, &mut links);
    links
}

/// Answers one request exactly as the Content API would (spec §1–§4).
pub fn answer(cat: &Catalog, req: &Request) -> Response {
    answer_with(cat, &cat.options, req)
}

/// [`answer`] with other [`Options`] than the catalog's (the conformance harness judges
/// snapshots exported with `--cors` against the same store).
pub fn answer_with(cat: &Catalog, options: &Options, req: &Request) -> Response {
    let mut body = Vec::new();
    let response = match respond(cat, options, req, None, &mut body) {
        Ok(()) => Response::json(200, body),
        Err(answer) => answer,
    };
    finish(options, req, response)
}

/// Answers many requests over one catalog, as [`answer_with`] does, byte for byte, keeping the
/// asset objects it writes so that the next body showing one copies it (an export's bodies
/// share most of theirs: an ancestor's is in every descendant's lineage, a child's in its
/// parent's children pages). The objects kept are bounded ([`Session::DEFAULT_LIMIT`] bytes);
/// the session borrows its catalog, so it cannot answer from another.
#[derive(Debug)]
pub struct Session<'c> {
    cat: &'c Catalog,
    options: &'c Options,
    objects: RefCell<Objects>,
    scratch: Vec<u8>,
}

impl<'c> Session<'c> {
    /// The bytes of asset objects a session keeps at most by default.
    pub const DEFAULT_LIMIT: usize = 16 << 20;

    /// A session answering over `cat` with `options`.
    pub fn new(cat: &'c Catalog, options: &'c Options) -> Session<'c> {
        Session::with_limit(cat, options, Session::DEFAULT_LIMIT)
    }

    /// A session keeping at most `limit` bytes of asset objects.
    pub fn with_limit(cat: &'c Catalog, options: &'c Options, limit: usize) -> Session<'c> {
        Session {
            cat,
            options,
            objects: RefCell::new(Objects::new(limit)),
            scratch: Vec::new(),
        }
    }

    /// Answers `req` (what [`answer_with`] answers).
    pub fn answer(&mut self, req: &Request) -> Response {
        // Rendered into a buffer that keeps its size from body to body, then copied into a body
        // of its exact length (a growing body is copied at each doubling, and held with up to
        // twice its length).
        self.scratch.clear();
        let response = match respond(
            self.cat,
            self.options,
            req,
            Some(&self.objects),
            &mut self.scratch,
        ) {
            Ok(()) => Response::json(200, self.scratch.as_slice().to_vec()),
            Err(answer) => answer,
        };
        if self.scratch.capacity() > Session::DEFAULT_LIMIT {
            self.scratch = Vec::new();
        }
        finish(self.options, req, response)
    }

    /// Asset objects kept now.
    #[cfg(test)]
    pub(crate) fn objects_kept(&self) -> usize {
        self.objects.borrow().len()
    }
}

/// The URL key the lineage `req` answers with follows (spec §3 lineage [D]): the requested
/// URL's for by_url, else the asset's `url`'s; `None` when `req` is not answered with a lineage
/// (an error), or when it follows no URL (an asset without one).
///
/// A lineage's bytes depend on the asset, how it is rendered (token, `data`, host, `base_url`,
/// `context`) and this key alone; so a lineage by URL answers as the lineage by id of the same
/// asset and parameters exactly when the URL's key is the one the lineage by id follows. An
/// export writes such a lineage by URL as an alias of the file of the lineage by id.
pub fn lineage_key(cat: &Catalog, options: &Options, req: &Request) -> Option<String> {
    let p = prepare(cat, options, req).ok()?;
    if p.endpoint != Endpoint::Lineage {
        return None;
    }
    p.followed_key(&p.renderer())
}

/// The CORS headers, and no body for `HEAD`.
fn finish(options: &Options, req: &Request, mut response: Response) -> Response {
    if let Some(origin) = &options.cors {
        response
            .headers
            .push(("Access-Control-Allow-Origin", origin.clone()));
        response.headers.push(("Vary", "Origin".to_string()));
    }
    if req.method == "HEAD" {
        response.without_body()
    } else {
        response
    }
}

/// A request that answers with a body, checked: what renders it.
struct Prepared<'a> {
    cat: &'a Catalog,
    view: &'a View,
    exclude: &'a [String],
    host: Option<String>,
    scheme: Scheme,
    context: Option<&'a str>,
    endpoint: Endpoint,
    asset: AssetIdx,
    /// The URL key of a by_url request.
    requested_key: Option<String>,
    params: Params,
}

impl Prepared<'_> {
    /// The renderer of its body.
    fn renderer(&self) -> Renderer<'_> {
        Renderer {
            cat: self.cat,
            view: self.view,
            data: self.params.data,
            exclude: self.exclude,
            host: self.host.clone(),
            scheme: self.scheme,
            base_url: self.params.base_url.as_ref(),
            context: self.context,
            dependents: self.params.include_dependents,
            objects: None,
        }
    }

    /// The URL key a lineage follows (spec §3 lineage [D]): the requested URL's for by_url,
    /// else the asset's `url`'s.
    fn followed_key(&self, r: &Renderer) -> Option<String> {
        self.requested_key
            .clone()
            .or_else(|| url::key(r.url(self.asset)))
    }
}

/// Checks a request in the order of spec §3 errors; `Err` is the answer when it is decided
/// before any body is rendered (an error, a preflight).
fn prepare<'a>(
    cat: &'a Catalog,
    options: &'a Options,
    req: &Request,
) -> Result<Prepared<'a>, Response> {
    let (path, query) = req
        .target
        .split_once('?')
        .unwrap_or((req.target.as_str(), ""));
    // Front-server normalisation (spec §1, revised 2026-12): a NUL is a 404 before any other
    // check; dot segments are resolved, and the `/__api/` prefix is judged decoded.
    let Some(path) = request::normalize_path(path) else {
        return Err(Response::error(404));
    };
    let path = path.as_ref();
    let in_api = request::in_api(path);
    if in_api && req.method == "OPTIONS" && options.cors.is_some() {
        let mut r = Response {
            status: 204,
            headers: vec![("Content-Length", "0".to_string())],
            body: Vec::new(),
        };
        r.headers
            .push(("Access-Control-Allow-Methods", response::ALLOW.to_string()));
        r.headers
            .push(("Access-Control-Allow-Headers", "Authorization".to_string()));
        return Err(r);
    }
    if req.method != "GET" && req.method != "HEAD" {
        return Err(Response::error(405));
    }
    if !in_api {
        return Err(Response::error(404));
    }
    let view = match cat.authenticate(req.authorization.as_deref()) {
        Ok(v) => v,
        Err(problem) => return Err(Response::unauthorized(problem)),
    };
    let Some((target, endpoint)) = request::route(path) else {
        return Err(Response::error(404));
    };
    let query = Query::parse(query);
    let params = match Params::parse(&query, &target, endpoint) {
        Ok(p) => p,
        Err(_) => return Err(Response::error(400)),
    };
    let Ok(context) = cat.context(params.context.as_deref()) else {
        return Err(Response::error(400));
    };
    let (asset, requested_key) = match &target {
        Target::Id(id) => (cat.store.asset_by_id(id), None),
        Target::ByUrl => {
            let key = params.url.as_deref().and_then(url::key);
            (
                key.as_deref().and_then(|k| cat.store.asset_by_url_key(k)),
                key,
            )
        }
    };
    let Some(asset) = asset.filter(|&a| !cat.store.asset(a).trashed) else {
        return Err(Response::error(404));
    };
    if !view.can_read(asset) {
        return Err(Response::error(403));
    }
    Ok(Prepared {
        cat,
        view,
        exclude: &options.exclude_attributes,
        host: req.host.as_deref().and_then(url::normalize_host),
        scheme: req.scheme,
        context,
        endpoint,
        asset,
        requested_key,
        params,
    })
}

/// Appends the body `req` answers with 200 to `out`; `Err` is any other answer.
fn respond(
    cat: &Catalog,
    options: &Options,
    req: &Request,
    objects: Option<&RefCell<Objects>>,
    out: &mut Vec<u8>,
) -> Result<(), Response> {
    let p = prepare(cat, options, req)?;
    let mut r = p.renderer();
    if let Some(objects) = objects {
        let shape = objects.borrow_mut().shape(r.shape());
        r.objects = Some((objects, shape));
    }
    let asset = p.asset;
    match p.endpoint {
        Endpoint::Asset => {
            out.reserve(1024);
            r.write_asset(out, asset);
        }
        Endpoint::Lineage => r.write_lineage(out, asset, p.followed_key(&r)),
        Endpoint::Children => {
            if !r.write_children(out, asset, &p.params) {
                return Err(Response::error(404));
            }
        }
    }
    Ok(())
}

/// The scheme and host of a base URL such as `https://www.uni.test` (for `export --base-url`):
/// the host as its URL key has it (spec §2, revised 2026-12: cleaned up, lower case, the port a
/// number, default and empty ports dropped); `None` for another scheme, no host or a bad port.
pub fn split_base_url(base: &str) -> Option<(Scheme, String)> {
    let scheme = url::scheme(base)?;
    let key = url::key(base)?;
    (scheme != Scheme::None).then(|| (scheme, url::key_host(&key).to_string()))
}

#[cfg(test)]
pub(crate) mod fixture;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_api12;
#[cfg(test)]
mod tests_session;
