//! What one readable asset's routes are: the variants a profile asks for, every file an asset
//! contributes (by id and by each of its URLs) and the request each one answers.

use super::path::{self, Variant};
use super::{pct, ExportError, ExportOptions, Profile};
use crate::access::View;
use crate::api::{self, Catalog, Data, Options, Request, SortKey, SortOrder};
use crate::store::url;
use crate::store::AssetIdx;

/// A file to produce for one route.
pub(super) enum Job {
    /// Render `target` and write it at `path`.
    Render { path: String, target: String },
    /// The same body as the file at `source` (by_url aliases of by-id files).
    Alias {
        path: String,
        target: String,
        source: String,
    },
}

/// The Content API 1.2.0 variants an export writes (the profile's `include_dependents`,
/// `base_urls` and `contexts` against the store), each with the query parameters that ask for
/// it, plain requests first.
pub(crate) struct Variants {
    /// Variants of lineage and children routes (`include_dependents` does not apply).
    shared: Vec<(Variant, Vec<(&'static str, String)>)>,
    /// The store's indices of the contexts written.
    pub(crate) contexts: Vec<usize>,
    /// What every asset's routes share, made once (`Templates`).
    templates: Templates,
}

/// The parts of an asset's routes that do not depend on the asset, made once per export: a
/// file name to put after the asset's directory and the encoded query of the request (`k=v`
/// pairs joined by `&`, empty values left out, as [`with_query`] writes them). An export plans
/// a few million routes; formatting and percent-encoding these for each took a quarter of the
/// render threads' time outside the API.
struct Templates {
    /// Per `data` of the profile: its asset routes (per asset variant) and its lineage routes
    /// (per shared variant).
    per_data: Vec<(Vec<Template>, Vec<Template>)>,
    /// Children pages: per `asset_types` entry, per limit, the pages' templates (the page
    /// number goes between their two halves).
    children: Vec<Vec<(u64, Vec<PageTemplate>)>>,
}

struct Template {
    file: String,
    query: String,
}

/// A children page of any page number: per (data, sort, order), per shared variant.
struct PageTemplate {
    /// `/~children.<data>.<sort>.<order>.<types>.<limit>.`, then the page, then `file_end`.
    file_start: String,
    file_end: String,
    /// The query's parameters before `page` and after it.
    query_start: String,
    query_end: String,
}

impl Templates {
    fn new(
        profile: &Profile,
        asset_variants: &[(Variant, Vec<(&'static str, String)>)],
        shared: &[(Variant, Vec<(&'static str, String)>)],
    ) -> Templates {
        let data_q = |d: Data, extra: &[(&'static str, String)]| {
            let mut q = vec![("data", d.canonical())];
            q.extend(extra.iter().cloned());
            encode_query(&q)
        };
        let per_data = profile
            .data
            .iter()
            .map(|&d| {
                let asset = asset_variants.iter().map(|(v, extra)| Template {
                    file: path::asset_file("", d, *v),
                    query: data_q(d, extra),
                });
                let lineage = shared.iter().map(|(v, extra)| Template {
                    file: path::lineage_file("", d, *v),
                    query: data_q(d, extra),
                });
                (asset.collect(), lineage.collect())
            })
            .collect();
        let children = profile
            .asset_types
            .iter()
            .map(|types| {
                let types = types.as_deref();
                profile
                    .limits
                    .iter()
                    .map(|&limit| {
                        let mut pages = Vec::new();
                        for &data in &profile.children_data {
                            for &sort in &profile.sort_by {
                                for &order in &profile.sort_order {
                                    for (v, extra) in shared {
                                        // Page 2's name, cut around its page number.
                                        let file = path::children_file(
                                            "", data, sort, order, types, limit, 2, *v,
                                        );
                                        let cut = format!(".{limit}.");
                                        let at = file.rfind(&format!("{cut}2")).expect(
                                            "a children file names its limit, then its page",
                                        ) + cut.len();
                                        pages.push(PageTemplate {
                                            file_start: file[..at].to_string(),
                                            file_end: file[at + 1..].to_string(),
                                            query_start: encode_query(&children_query(
                                                data, sort, order, types, limit, 1,
                                            )),
                                            query_end: encode_query(extra),
                                        });
                                    }
                                }
                            }
                        }
                        (limit, pages)
                    })
                    .collect()
            })
            .collect();
        Templates { per_data, children }
    }
}

impl Variants {
    pub(crate) fn new(cat: &Catalog, profile: &Profile) -> Result<Variants, ExportError> {
        let declared = &cat.store.meta.contexts;
        let contexts = profile.context_indices(declared)?;
        let mut shared = Vec::new();
        for &x in &contexts {
            for b in 0..=profile.base_urls.len() {
                let v = Variant {
                    dependents: false,
                    base_url: (b > 0).then_some(b),
                    context: (x > 0).then_some(x),
                };
                let mut q = Vec::new();
                if b > 0 {
                    q.push(("base_url", profile.base_urls[b - 1].clone()));
                }
                if x > 0 {
                    q.push(("context", declared[x].clone()));
                }
                shared.push((v, q));
            }
        }
        let mut asset = Vec::new();
        for (v, q) in &shared {
            asset.push((*v, q.clone()));
            if profile.include_dependents {
                let mut dq = vec![("include_dependents", "true".to_string())];
                dq.extend(q.iter().cloned());
                asset.push((
                    Variant {
                        dependents: true,
                        ..*v
                    },
                    dq,
                ));
            }
        }
        let templates = Templates::new(profile, &asset, &shared);
        Ok(Variants {
            shared,
            contexts,
            templates,
        })
    }
}

/// The routes of one readable asset (every file it contributes), in a fixed order.
pub(super) fn plan_asset(
    cat: &Catalog,
    view: &View,
    opts: &ExportOptions,
    variants: &Variants,
    a: AssetIdx,
) -> Vec<Job> {
    let p = &opts.profile;
    let t = &variants.templates;
    let asset = cat.store.asset(a);
    let id_dir = path::asset_dir(&asset.id);
    let id_target = format!("/__api/assets/{}", pct(&asset.id));
    let mut jobs = Vec::new();
    for (assets, lineages) in &t.per_data {
        for x in assets {
            jobs.push(Job::Render {
                path: concat(&[&id_dir, &x.file]),
                target: target(&[&id_target], &[&x.query]),
            });
        }
        for x in lineages {
            jobs.push(Job::Render {
                path: concat(&[&id_dir, &x.file]),
                target: target(&[&id_target, "/lineage/site"], &[&x.query]),
            });
        }
    }
    // Each children page: its file name after the asset's directory and its query.
    let mut children: Vec<(String, String)> = Vec::new();
    for (types, limits) in p.asset_types.iter().zip(&t.children) {
        let total = cat.readable_children(view, a, types.as_deref()).count() as u64;
        for (limit, templates) in limits {
            let pages = if *limit == 0 {
                1
            } else {
                total.div_ceil(*limit).max(1)
            };
            // Per (data, sort, order): each page, each variant (the order pages were planned in).
            for group in templates.chunks(variants.shared.len().max(1)) {
                for page in 1..=pages {
                    let n = itoa_u64(page);
                    let page_q = if page == 1 {
                        String::new()
                    } else {
                        concat(&["page=", &n])
                    };
                    for x in group {
                        children.push((
                            concat(&[&x.file_start, &n, &x.file_end]),
                            join_query(&[&x.query_start, &page_q, &x.query_end]),
                        ));
                    }
                }
            }
        }
    }
    for (file, query) in &children {
        jobs.push(Job::Render {
            path: concat(&[&id_dir, file]),
            target: target(&[&id_target, "/children"], &[query]),
        });
    }
    // by_url: one directory per URL key; asset and children bodies are the by-id ones.
    let mut keys: Vec<(String, &str)> = asset
        .urls
        .iter()
        .filter_map(|u| url::key(u).map(|k| (k, u.as_str())))
        .collect();
    keys.sort();
    keys.dedup_by(|x, y| x.0 == y.0);
    // The URL key each variant's lineage by id follows (whatever `data`: it changes no path).
    let by_id_lineage_keys: Vec<Option<String>> = if keys.is_empty() {
        Vec::new()
    } else {
        let token = &cat.store.tokens[opts.token as usize];
        let api_opts = api_options(cat, opts);
        variants
            .shared
            .iter()
            .map(|(_, extra)| {
                let mut q = vec![("data", Data::NONE.canonical())];
                q.extend(extra.iter().cloned());
                let by_id = with_query(&format!("{id_target}/lineage/site"), &q);
                api::lineage_key(cat, &api_opts, &request_for(token, opts, &by_id))
            })
            .collect()
    };
    for (key, spelling) in keys {
        let dir = path::url_dir(&key);
        let url_q = concat(&["url=", &pct(spelling)]);
        // Per variant: whether the lineage by this URL answers as the asset's lineage by id
        // (`api::lineage_key`: the URL the lineage by id follows has this key, as it has for
        // an asset with one URL key).
        let same_path: Vec<bool> = by_id_lineage_keys
            .iter()
            .map(|k| k.as_deref() == Some(key.as_str()))
            .collect();
        for (assets, lineages) in &t.per_data {
            for x in assets {
                jobs.push(Job::Alias {
                    path: concat(&[&dir, &x.file]),
                    target: target(&["/__api/assets/by_url"], &[&url_q, &x.query]),
                    source: concat(&[&id_dir, &x.file]),
                });
            }
            for (x, &same) in lineages.iter().zip(&same_path) {
                let path = concat(&[&dir, &x.file]);
                let target = target(&["/__api/assets/by_url/lineage/site"], &[&url_q, &x.query]);
                jobs.push(if same {
                    Job::Alias {
                        path,
                        target,
                        source: concat(&[&id_dir, &x.file]),
                    }
                } else {
                    Job::Render { path, target }
                });
            }
        }
        for (file, query) in &children {
            jobs.push(Job::Alias {
                path: concat(&[&dir, file]),
                target: target(&["/__api/assets/by_url/children"], &[&url_q, query]),
                source: concat(&[&id_dir, file]),
            });
        }
    }
    jobs
}

/// The pieces joined into one string, allocated once.
fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

/// A request target: the path's pieces, then `?` and the non-empty encoded queries joined by
/// `&` (nothing when all are empty).
fn target(path: &[&str], queries: &[&str]) -> String {
    let len = path.iter().chain(queries).map(|p| p.len() + 1).sum();
    let mut out = String::with_capacity(len);
    for p in path {
        out.push_str(p);
    }
    push_query(&mut out, queries);
    out
}

/// The non-empty encoded queries joined by `&`.
fn join_query(queries: &[&str]) -> String {
    let mut out = String::new();
    for q in queries.iter().filter(|q| !q.is_empty()) {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(q);
    }
    out
}

fn push_query(out: &mut String, queries: &[&str]) {
    let mut sep = '?';
    for q in queries.iter().filter(|q| !q.is_empty()) {
        out.push(sep);
        out.push_str(q);
        sep = '&';
    }
}

fn itoa_u64(n: u64) -> String {
    itoa::Buffer::new().format(n).to_string()
}

/// The canonical query of a children page: defaults left out, fixed parameter order.
fn children_query(
    d: Data,
    sort: Option<SortKey>,
    order: SortOrder,
    types: Option<&[String]>,
    limit: u64,
    page: u64,
) -> Vec<(&'static str, String)> {
    let mut q = vec![("data", d.canonical())];
    if let Some(t) = types {
        q.push(("asset_types", t.join(",")));
    }
    if let Some(k) = sort {
        q.push(("sort_by", k.as_str().to_string()));
    }
    if order == SortOrder::Desc {
        q.push(("sort_order", "desc".into()));
    }
    if limit != crate::api::request::DEFAULT_LIMIT {
        q.push(("limit", limit.to_string()));
    }
    if page != 1 {
        q.push(("page", page.to_string()));
    }
    q
}

fn with_query(path: &str, params: &[(&str, String)]) -> String {
    target(&[path], &[&encode_query(params)])
}

/// `k=v` pairs, values percent-encoded ([`pct`]), joined by `&`; empty values are left out.
fn encode_query(params: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(&pct(v));
    }
    out
}

/// The API options an export renders with: the catalog's, minus the profile's excluded
/// attributes.
pub(super) fn api_options(cat: &Catalog, opts: &ExportOptions) -> Options {
    Options {
        exclude_attributes: opts.profile.exclude_attributes.clone(),
        ..cat.options.clone()
    }
}

pub(super) fn request_for(
    token: &crate::store::Token,
    opts: &ExportOptions,
    target: &str,
) -> Request {
    let r = Request::get(target).bearer(&token.token);
    match &opts.base_url {
        Some((scheme, host)) => r.on_host(*scheme, host),
        None => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{answer, fixture};
    use crate::store::url::Scheme;

    /// A lineage by URL is an alias of the asset's lineage by id exactly when `api` says they
    /// answer alike; either way, its source answers its request byte for byte. The fixture has
    /// both kinds (assets with one URL key, and assets whose URLs on other hosts lead their
    /// lineage another way), with and without `--base-url` and base URL variants.
    #[test]
    fn by_url_lineages_alias_the_lineage_by_id_only_when_it_answers_alike() {
        let cat = fixture::catalog();
        let (mut aliased, mut rendered) = (0, 0);
        for base_url in [None, Some((Scheme::Https, "www.uni.test".to_string()))] {
            for token in ["pub", "ed", "research"] {
                let mut profile = Profile::minimal();
                profile.base_urls = vec!["https://research.uni.test".into()];
                let token = cat.store.token_by_value(token).expect("fixture token");
                let opts = ExportOptions {
                    base_url: base_url.clone(),
                    ..ExportOptions::new(token, profile, std::path::PathBuf::new())
                };
                let view = cat.view(opts.token).unwrap();
                let variants = Variants::new(&cat, &opts.profile).unwrap();
                let t = &cat.store.tokens[opts.token as usize];
                for a in view.readable() {
                    let jobs = plan_asset(&cat, view, &opts, &variants, a);
                    let target_of = |p: &str| {
                        jobs.iter()
                            .find_map(|j| match j {
                                Job::Render { path, target } if path == p => Some(target.clone()),
                                _ => None,
                            })
                            .expect("an alias's source is rendered")
                    };
                    for job in &jobs {
                        let (path, target, source) = match job {
                            Job::Render { path, target } => (path, target, None),
                            Job::Alias {
                                path,
                                target,
                                source,
                            } => (path, target, Some(source)),
                        };
                        if !(path.starts_with("__api/assets/by_url/") && path.contains("~lineage"))
                        {
                            continue;
                        }
                        let own = answer(&cat, &request_for(t, &opts, target));
                        assert_eq!(own.status, 200, "{target}");
                        let Some(source) = source else {
                            rendered += 1;
                            continue;
                        };
                        aliased += 1;
                        let theirs = answer(&cat, &request_for(t, &opts, &target_of(source)));
                        assert_eq!(own.body, theirs.body, "{path} is an alias of {source}");
                    }
                }
            }
        }
        assert!(
            aliased > 20 && rendered > 5,
            "{aliased} aliased, {rendered} rendered"
        );
    }
}
