//! Response bodies (spec §3): the asset object, the link object, lineage and children, written
//! straight into bytes with `encode`. Which assets appear is the view's decision (`access`);
//! how they look and in which order is decided here.

use super::encode::{write_number, write_opt_str, write_seq, write_str, write_str_list, write_u64};
use super::objects::{Objects, Shape};
use super::order::{cmp_id, Key, Shown};
use super::request::{BaseUrl, Data, Params, SortOrder};
use super::Catalog;
use crate::access::View;
use crate::store::url::{self, Scheme};
use crate::store::{Asset, AssetIdx, Event, LinkIdx, Metadata, Ordered, Overrides, Scalar};
use std::borrow::Cow;
use std::cell::RefCell;

/// The names of an asset as one reader sees them (current, or the `live` version).
struct Version<'a> {
    name: &'a str,
    short_name: &'a str,
    version: &'a str,
}

/// Attributes, metadata and contents as one reader sees them (read only for `data` that shows
/// them: a store may have to read them from its file).
struct ShownFields<'a> {
    attributes: Cow<'a, Ordered<Scalar>>,
    metadata: Cow<'a, Metadata>,
    contents: Cow<'a, str>,
}

/// Renders bodies for one request: a view, the `data` asked for and the host called on.
pub(crate) struct Renderer<'a> {
    pub cat: &'a Catalog,
    pub view: &'a View,
    pub data: Data,
    /// Attribute names never written (sorted).
    pub exclude: &'a [String],
    /// The request's host (normalised: lower case, default port dropped).
    pub host: Option<String>,
    pub scheme: Scheme,
    /// `base_url` (1.2.0): when given, it alone decides each asset's `url`.
    pub base_url: Option<&'a BaseUrl>,
    /// `context` (1.2.0): a declared context other than the default; `None` = the default.
    pub context: Option<&'a str>,
    /// `include_dependents=true` (1.2.0, asset endpoints only).
    pub dependents: bool,
    /// A session's asset objects (`super::Session`) and the number of this renderer's shape
    /// among them: each object is written once and copied after that.
    pub objects: Option<(&'a RefCell<Objects>, u32)>,
}

impl<'a> Renderer<'a> {
    /// What its asset objects' bytes depend on besides the asset (its catalog and excluded
    /// attributes aside).
    pub fn shape(&self) -> Shape {
        Shape {
            view: Shape::of(self.view),
            data: self.data,
            host: self.host.clone(),
            scheme: self.scheme,
            base_url: self.base_url.cloned(),
            context: self.context.map(str::to_string),
            dependents: self.dependents,
        }
    }

    fn asset(&self, idx: AssetIdx) -> &'a Asset {
        self.cat.store.asset(idx)
    }

    /// Safe editing (spec §4): readers without write see the last live version.
    fn live(&self, idx: AssetIdx) -> Option<&'a Overrides> {
        let a = self.asset(idx);
        a.live
            .as_deref()
            .filter(|_| a.status.is_safe_editing() && !self.view.can_write(idx))
    }

    /// `context` (1.2.0 [D]): the asset's entry for that context, applied over the values this
    /// reader sees in the default context (live or current), field by field.
    fn context(&self, idx: AssetIdx) -> Option<&'a Overrides> {
        let name = self.context?;
        let a = self.asset(idx);
        a.contexts.iter().find(|(n, _)| n == name).map(|(_, o)| o)
    }

    /// The names this reader sees.
    fn version(&self, idx: AssetIdx) -> Version<'a> {
        let a = self.asset(idx);
        let mut v = Version {
            name: &a.name,
            short_name: &a.short_name,
            version: &a.version,
        };
        if let Some(live) = self.live(idx) {
            if let Some(n) = &live.name {
                v.name = n;
            }
            if let Some(n) = &live.short_name {
                v.short_name = n;
            }
            if let Some(n) = &live.version {
                v.version = n;
            }
        }
        if let Some(o) = self.context(idx) {
            if let Some(n) = &o.name {
                v.name = n;
            }
            if let Some(n) = &o.short_name {
                v.short_name = n;
            }
        }
        v
    }

    /// The attributes, metadata and contents this reader sees; attributes and metadata fields
    /// of a context one by one (Matrix keeps a value per attribute and context).
    fn shown_fields(&self, idx: AssetIdx) -> ShownFields<'a> {
        let mut v = match self.cat.store.fields(idx) {
            Cow::Borrowed(f) => ShownFields {
                attributes: Cow::Borrowed(&f.attributes),
                metadata: Cow::Borrowed(&f.metadata),
                contents: Cow::Borrowed(&f.contents),
            },
            Cow::Owned(f) => ShownFields {
                attributes: Cow::Owned(f.attributes),
                metadata: Cow::Owned(f.metadata),
                contents: Cow::Owned(f.contents),
            },
        };
        if let Some(live) = self.live(idx) {
            if let Some(x) = &live.attributes {
                v.attributes = Cow::Borrowed(x);
            }
            if let Some(x) = &live.metadata {
                v.metadata = Cow::Borrowed(x);
            }
            if let Some(x) = &live.contents {
                v.contents = Cow::Borrowed(x);
            }
        }
        if let Some(o) = self.context(idx) {
            if let Some(x) = &o.attributes {
                v.attributes = Cow::Owned(merge(&v.attributes, x));
            }
            if let Some(Some(x)) = &o.metadata {
                let base = v.metadata.as_ref().as_ref();
                v.metadata = Cow::Owned(Some(base.map_or_else(|| x.clone(), |b| merge(b, x))));
            }
            if let Some(x) = &o.contents {
                v.contents = Cow::Borrowed(x);
            }
        }
        v
    }

    /// The asset's `url`: with `base_url`, Matrix's weighting (A-003, [`base_url_choice`]);
    /// else spec §4 `url` choice [D]: among the URLs on the request's host (and non-default
    /// port), the first with the request's scheme, else the first on that host, else the first
    /// URL; `""` when the asset has none.
    pub fn url(&self, idx: AssetIdx) -> &'a str {
        let urls = &self.asset(idx).urls;
        if let Some(base) = self.base_url {
            return base_url_choice(base, urls);
        }
        if let Some(host) = &self.host {
            let mut on_host = None;
            for u in urls {
                let (Some(scheme), Some(key)) = (url::scheme(u), url::key(u)) else {
                    continue;
                };
                if url::key_host(&key) == host {
                    if scheme == self.scheme {
                        return u;
                    }
                    on_host.get_or_insert(u.as_str());
                }
            }
            if let Some(u) = on_host {
                return u;
            }
        }
        urls.first().map_or("", String::as_str)
    }

    /// Appends the asset object (spec §3), honouring `data`: copied from the session's objects
    /// when it was written before in this shape.
    pub fn write_asset(&self, out: &mut Vec<u8>, idx: AssetIdx) {
        let Some((objects, shape)) = self.objects else {
            return self.encode_asset(out, idx);
        };
        if let Some(bytes) = objects.borrow().get(shape, idx) {
            out.extend_from_slice(bytes);
            return;
        }
        // Not borrowed while encoding: its dependents are written (and kept) through here too.
        let start = out.len();
        self.encode_asset(out, idx);
        objects.borrow_mut().keep(shape, idx, &out[start..]);
    }

    /// Encodes the asset object.
    fn encode_asset(&self, out: &mut Vec<u8>, idx: AssetIdx) {
        let a = self.asset(idx);
        let v = self.version(idx);
        out.extend_from_slice(b"{\"id\":");
        write_str(out, &a.id);
        out.extend_from_slice(b",\"type\":");
        write_str(out, &a.type_code);
        out.extend_from_slice(b",\"type_name\":");
        write_str(out, &a.type_name);
        out.extend_from_slice(b",\"version\":");
        write_str(out, v.version);
        out.extend_from_slice(b",\"name\":");
        write_str(out, v.name);
        out.extend_from_slice(b",\"short_name\":");
        write_str(out, v.short_name);
        let (code, name) = a.status.describe().expect("statuses are validated at load");
        out.extend_from_slice(b",\"status\":{\"id\":");
        write_u64(out, a.status.0 as u64);
        out.extend_from_slice(b",\"code\":");
        write_str(out, code);
        out.extend_from_slice(b",\"name\":");
        write_str(out, name);
        out.push(b'}');
        for (key, event) in [
            ("created", &a.created),
            ("updated", &a.updated),
            ("published", &a.published),
            ("status_changed", &a.status_changed),
        ] {
            write_event(out, key, event);
        }
        if self.data.has(Data::URLS) {
            out.extend_from_slice(b",\"urls\":");
            write_str_list(out, &a.urls);
            out.extend_from_slice(b",\"url\":");
            write_str(out, self.url(idx));
        }
        let fields = [Data::ATTRIBUTES, Data::METADATA, Data::CONTENTS]
            .iter()
            .any(|&d| self.data.has(d))
            .then(|| self.shown_fields(idx));
        if let Some(v) = fields.as_ref().filter(|_| self.data.has(Data::ATTRIBUTES)) {
            out.extend_from_slice(b",\"attributes\":{");
            let shown = v
                .attributes
                .0
                .iter()
                .filter(|(k, _)| self.exclude.binary_search(k).is_err());
            for (i, (k, val)) in shown.enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                match val {
                    Scalar::Str(s) => write_str(out, s),
                    Scalar::Num(n) => write_number(out, n),
                    Scalar::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
                }
            }
            out.push(b'}');
        }
        if let Some(v) = fields.as_ref().filter(|_| self.data.has(Data::METADATA)) {
            out.extend_from_slice(b",\"metadata\":");
            match v.metadata.as_ref() {
                None => out.extend_from_slice(b"null"),
                Some(fields) => {
                    out.push(b'{');
                    for (i, (k, values)) in fields.0.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        write_str(out, k);
                        out.push(b':');
                        write_str_list(out, values);
                    }
                    out.push(b'}');
                }
            }
        }
        if let Some(v) = fields.as_ref().filter(|_| self.data.has(Data::CONTENTS)) {
            out.extend_from_slice(b",\"contents\":");
            write_str(out, &v.contents);
        }
        if self.dependents {
            out.extend_from_slice(b",\"include_dependents\":");
            write_seq(out, &self.dependents_of(idx), |out, &a| {
                self.write_asset(out, a)
            });
        }
        out.push(b'}');
    }

    /// `include_dependents` (1.2.0): the asset's dependent children — minors of its dependent
    /// `menu`/`hidden`/`invisible` links, not trashed, that the view may read [D] — once each
    /// (through the lowest (`sort_order`, `link_id`) link), in tree order.
    pub fn dependents_of(&self, idx: AssetIdx) -> Vec<AssetIdx> {
        let store = &self.cat.store;
        let mut links: Vec<LinkIdx> = store
            .links_from(idx)
            .iter()
            .copied()
            .filter(|&l| {
                let link = store.link(l);
                let minor = store.link_ends(l).1;
                link.is_dependent
                    && link.link_type.is_tree()
                    && !store.asset(minor).trashed
                    && self.view.can_read(minor)
            })
            .collect();
        once_each_in_tree_order(store, &mut links);
        links.into_iter().map(|l| store.link_ends(l).1).collect()
    }

    /// Appends the link object (spec "Link object").
    pub fn write_link(&self, out: &mut Vec<u8>, idx: LinkIdx) {
        let l = self.cat.store.link(idx);
        out.extend_from_slice(b"{\"link_id\":");
        write_str(out, &l.link_id);
        out.extend_from_slice(b",\"major_id\":");
        write_str(out, &l.major_id);
        out.extend_from_slice(b",\"minor_id\":");
        write_str(out, &l.minor_id);
        out.extend_from_slice(b",\"link_type\":");
        write_str(out, l.link_type.as_str());
        out.extend_from_slice(b",\"value\":");
        write_str(out, &l.value);
        out.extend_from_slice(b",\"sort_order\":");
        out.extend_from_slice(l.sort_order.to_string().as_bytes());
        out.extend_from_slice(if l.is_dependent {
            b",\"is_dependent\":true"
        } else {
            b",\"is_dependent\":false"
        });
        out.extend_from_slice(if l.is_exclusive {
            b",\"is_exclusive\":true}"
        } else {
            b",\"is_exclusive\":false}"
        });
    }

    /// The lineage path (spec §3 lineage [D]): from the site (or the highest visible asset) down
    /// to `idx`, following `url_key` (the requested URL for by_url, else the asset's `url`).
    /// Returns the assets top-down and the links between them.
    pub fn lineage_path(
        &self,
        idx: AssetIdx,
        url_key: Option<String>,
    ) -> (Vec<AssetIdx>, Vec<LinkIdx>) {
        let store = &self.cat.store;
        let mut assets = vec![idx];
        let mut links = Vec::new();
        let mut current = idx;
        let mut key = url_key;
        while store.asset(current).type_code != "site" {
            let parents = &self.cat.parents[current as usize];
            let Some(&fallback) = parents.first() else {
                break;
            };
            let wanted = key.as_deref().and_then(url::parent_key);
            let by_url = wanted.and_then(|w| {
                parents.iter().copied().find(|&l| {
                    let major = store.link_ends(l).0;
                    store.asset(major).urls.iter().any(|u| url::has_key(u, w))
                })
            });
            let link = match by_url {
                Some(l) => {
                    // The parent key is a prefix of the key: cut, not copied.
                    let parent_len = wanted.map_or(0, str::len);
                    if let Some(k) = &mut key {
                        k.truncate(parent_len);
                    }
                    l
                }
                None => {
                    let major = store.link_ends(fallback).0;
                    key = url::key(self.url(major));
                    fallback
                }
            };
            current = store.link_ends(link).0;
            links.push(link);
            assets.push(current);
        }
        assets.reverse();
        links.reverse();
        // Start below the lowest asset the token may not read (an unbroken run to `idx`).
        if let Some(hidden) = assets.iter().rposition(|&a| !self.view.can_read(a)) {
            assets.drain(..=hidden);
            links.drain(..=hidden);
        }
        (assets, links)
    }

    /// Appends the lineage object `{"links":[…],"assets":[…]}`.
    pub fn write_lineage(&self, out: &mut Vec<u8>, idx: AssetIdx, url_key: Option<String>) {
        let (assets, links) = self.lineage_path(idx, url_key);
        out.reserve(256 * assets.len());
        out.extend_from_slice(b"{\"links\":");
        write_seq(out, &links, |out, &l| self.write_link(out, l));
        out.extend_from_slice(b",\"assets\":");
        write_seq(out, &assets, |out, &a| self.write_asset(out, a));
        out.push(b'}');
    }

    /// The children of `idx` the view can read, filtered and sorted (spec §2, §3 children).
    pub fn children_links(&self, idx: AssetIdx, params: &Params) -> Vec<LinkIdx> {
        let store = &self.cat.store;
        let mut links: Vec<LinkIdx> = self
            .cat
            .readable_children(self.view, idx, params.asset_types.as_deref())
            .collect();
        if let Some(sort_by) = params.sort_by {
            // Stable: ties keep tree order (then id), as spec §2 says.
            links.sort_by_cached_key(|&l| {
                let minor = store.link_ends(l).1;
                let v = self.version(minor);
                let shown = Shown {
                    name: v.name,
                    short_name: v.short_name,
                    version: v.version,
                };
                Key::of(sort_by, store.asset(minor), &shown)
            });
        }
        if params.sort_order == SortOrder::Desc {
            links.reverse();
        }
        links
    }

    /// Appends the children object; `false` (nothing appended) when `page` is past the last
    /// page (404).
    pub fn write_children(&self, out: &mut Vec<u8>, idx: AssetIdx, params: &Params) -> bool {
        let links = self.children_links(idx, params);
        let total = links.len() as u64;
        let total_pages = if params.limit == 0 {
            1
        } else {
            total.div_ceil(params.limit).max(1)
        };
        if params.page > total_pages {
            return false;
        }
        let page: &[LinkIdx] = if params.limit == 0 {
            &links
        } else {
            let start = ((params.page - 1) * params.limit) as usize;
            let end = (start as u64 + params.limit).min(total) as usize;
            &links[start.min(links.len())..end]
        };
        out.reserve(512 * page.len() + 64);
        out.extend_from_slice(b"{\"links\":");
        write_seq(out, page, |out, &l| self.write_link(out, l));
        out.extend_from_slice(b",\"assets\":");
        write_seq(out, page, |out, &l| {
            self.write_asset(out, self.cat.store.link_ends(l).1)
        });
        out.extend_from_slice(b",\"page_info\":{\"page\":");
        write_u64(out, params.page);
        out.extend_from_slice(b",\"limit\":");
        write_u64(out, params.limit);
        out.extend_from_slice(b",\"total\":");
        write_u64(out, total);
        out.extend_from_slice(b",\"total_pages\":");
        write_u64(out, total_pages);
        out.extend_from_slice(b"}}");
        true
    }
}

/// `base` with the values of `over`: `base`'s keys in its order, then keys only in `over`.
fn merge<T: Clone>(base: &Ordered<T>, over: &Ordered<T>) -> Ordered<T> {
    let mut out = base.clone();
    for (k, val) in &over.0 {
        match out.0.iter_mut().find(|(bk, _)| bk == k) {
            Some((_, slot)) => *slot = val.clone(),
            None => out.0.push((k.clone(), val.clone())),
        }
    }
    out
}

/// `url` with a `base_url` (1.2.0 [D], Matrix's `getAssetURL`): the highest [`BaseUrl::score`];
/// ties go to the shorter URL (its key: Matrix's lookup rows carry no scheme), then store order;
/// else (no http(s) URL) the first URL, `""` when there is none.
fn base_url_choice<'u>(base: &BaseUrl, urls: &'u [String]) -> &'u str {
    let mut best: Option<(usize, usize, &str)> = None;
    for u in urls {
        let Some((score, key)) = base.score(u) else {
            continue;
        };
        if best.is_none_or(|(s, len, _)| score > s || (score == s && key.len() < len)) {
            best = Some((score, key.len(), u));
        }
    }
    match best {
        Some((_, _, u)) => u,
        None => urls.first().map_or("", String::as_str),
    }
}

fn write_event(out: &mut Vec<u8>, key: &str, e: &Event) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":{\"date\":");
    write_opt_str(out, e.date.as_deref());
    out.extend_from_slice(b",\"user_id\":");
    write_opt_str(out, e.user_id.as_deref());
    out.push(b'}');
}

/// Tree order of two child links under one parent (spec §2): link `sort_order`, then the child's
/// type code (by code point, as Matrix's SQL `ORDER BY`), then the child's id, then the link id.
pub(crate) fn cmp_tree_order(
    cat_store: &crate::store::Store,
    a: LinkIdx,
    b: LinkIdx,
) -> std::cmp::Ordering {
    let (la, lb) = (cat_store.link(a), cat_store.link(b));
    let (ma, mb) = (
        cat_store.asset(cat_store.link_ends(a).1),
        cat_store.asset(cat_store.link_ends(b).1),
    );
    la.sort_order
        .cmp(&lb.sort_order)
        .then_with(|| ma.type_code.cmp(&mb.type_code))
        .then_with(|| cmp_id(&ma.id, &mb.id))
        .then_with(|| cmp_id(&la.link_id, &lb.link_id))
}

/// Links from one parent, one per child — its lowest (`sort_order`, `link_id`) link — in tree
/// order: how children (D-035) and dependents list a child linked twice.
pub(crate) fn once_each_in_tree_order(store: &crate::store::Store, links: &mut Vec<LinkIdx>) {
    links.sort_by(|&x, &y| {
        store
            .link_ends(x)
            .1
            .cmp(&store.link_ends(y).1)
            .then_with(|| cmp_link_rank(store, x, y))
    });
    links.dedup_by_key(|l| store.link_ends(*l).1);
    links.sort_by(|&x, &y| cmp_tree_order(store, x, y));
}

/// The order among links to one asset (dedupe of children, lineage parents): lowest
/// (`sort_order`, `link_id`) first, `link_id` in id order.
pub(crate) fn cmp_link_rank(
    store: &crate::store::Store,
    a: LinkIdx,
    b: LinkIdx,
) -> std::cmp::Ordering {
    let (la, lb) = (store.link(a), store.link(b));
    la.sort_order
        .cmp(&lb.sort_order)
        .then_with(|| cmp_id(&la.link_id, &lb.link_id))
}
