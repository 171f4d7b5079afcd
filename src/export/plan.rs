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
    /// Variants of asset routes (with and without dependents).
    asset: Vec<(Variant, Vec<(&'static str, String)>)>,
    /// Variants of lineage and children routes (`include_dependents` does not apply).
    shared: Vec<(Variant, Vec<(&'static str, String)>)>,
    /// The store's indices of the contexts written.
    pub(crate) contexts: Vec<usize>,
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
        Ok(Variants {
            asset,
            shared,
            contexts,
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
    let asset = cat.store.asset(a);
    let id_dir = path::asset_dir(&asset.id);
    let id_target = format!("/__api/assets/{}", pct(&asset.id));
    let mut jobs = Vec::new();
    let data_q = |d: Data, extra: &[(&'static str, String)]| {
        let mut q = vec![("data", d.canonical())];
        q.extend(extra.iter().cloned());
        q
    };
    for &d in &p.data {
        for (v, extra) in &variants.asset {
            jobs.push(Job::Render {
                path: path::asset_file(&id_dir, d, *v),
                target: with_query(&id_target, &data_q(d, extra)),
            });
        }
        for (v, extra) in &variants.shared {
            jobs.push(Job::Render {
                path: path::lineage_file(&id_dir, d, *v),
                target: with_query(&format!("{id_target}/lineage/site"), &data_q(d, extra)),
            });
        }
    }
    let mut children = Vec::new();
    for types in &p.asset_types {
        let total = cat.readable_children(view, a, types.as_deref()).count() as u64;
        for &limit in &p.limits {
            let pages = if limit == 0 {
                1
            } else {
                total.div_ceil(limit).max(1)
            };
            for &data in &p.children_data {
                for &sort in &p.sort_by {
                    for &order in &p.sort_order {
                        for page in 1..=pages {
                            for (variant, extra) in &variants.shared {
                                let mut query = children_query(
                                    data,
                                    sort,
                                    order,
                                    types.as_deref(),
                                    limit,
                                    page,
                                );
                                query.extend(extra.iter().cloned());
                                children.push(ChildrenPage {
                                    data,
                                    sort,
                                    order,
                                    types: types.as_deref(),
                                    limit,
                                    page,
                                    variant: *variant,
                                    query,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    for c in &children {
        jobs.push(Job::Render {
            path: c.file(&id_dir),
            target: with_query(&format!("{id_target}/children"), &c.query),
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
                let by_id = with_query(
                    &format!("{id_target}/lineage/site"),
                    &data_q(Data::NONE, extra),
                );
                api::lineage_key(cat, &api_opts, &request_for(token, opts, &by_id))
            })
            .collect()
    };
    for (key, spelling) in keys {
        let dir = path::url_dir(&key);
        let url_q = ("url", spelling.to_string());
        let by_url_q = |d: Data, extra: &[(&'static str, String)]| {
            let mut q = vec![url_q.clone()];
            q.extend(data_q(d, extra));
            q
        };
        // Per variant: whether the lineage by this URL answers as the asset's lineage by id
        // (`api::lineage_key`: the URL the lineage by id follows has this key, as it has for
        // an asset with one URL key).
        let same_path: Vec<bool> = by_id_lineage_keys
            .iter()
            .map(|k| k.as_deref() == Some(key.as_str()))
            .collect();
        for &d in &p.data {
            for (v, extra) in &variants.asset {
                jobs.push(Job::Alias {
                    path: path::asset_file(&dir, d, *v),
                    target: with_query("/__api/assets/by_url", &by_url_q(d, extra)),
                    source: path::asset_file(&id_dir, d, *v),
                });
            }
            for ((v, extra), &same) in variants.shared.iter().zip(&same_path) {
                let path = path::lineage_file(&dir, d, *v);
                let target = with_query("/__api/assets/by_url/lineage/site", &by_url_q(d, extra));
                jobs.push(if same {
                    Job::Alias {
                        path,
                        target,
                        source: path::lineage_file(&id_dir, d, *v),
                    }
                } else {
                    Job::Render { path, target }
                });
            }
        }
        for c in &children {
            let mut q = vec![url_q.clone()];
            q.extend(c.query.iter().cloned());
            jobs.push(Job::Alias {
                path: c.file(&dir),
                target: with_query("/__api/assets/by_url/children", &q),
                source: c.file(&id_dir),
            });
        }
    }
    jobs
}

/// One children page of an asset, as the profile asks for it.
struct ChildrenPage<'p> {
    data: Data,
    sort: Option<SortKey>,
    order: SortOrder,
    types: Option<&'p [String]>,
    limit: u64,
    page: u64,
    variant: Variant,
    /// Its canonical query (without `url`).
    query: Vec<(&'static str, String)>,
}

impl ChildrenPage<'_> {
    fn file(&self, dir: &str) -> String {
        path::children_file(
            dir,
            self.data,
            self.sort,
            self.order,
            self.types,
            self.limit,
            self.page,
            self.variant,
        )
    }
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
    // Written into one string (a render stage builds a few million of them).
    let mut out = String::with_capacity(path.len() + 48);
    out.push_str(path);
    let mut sep = '?';
    for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
        out.push(sep);
        out.push_str(k);
        out.push('=');
        out.push_str(&pct(v));
        sep = '&';
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
