//! Turns the crawl's visits into store files (store-format.md) and installs them atomically.
//!
//! - assets: each asset object as the API gave it (`status.id` → `status`, `url` dropped: it
//!   is computed per request); the view's version only, so no `live` and no `contexts`;
//! - links: every link object seen in a lineage or a children list, once per `link_id`;
//! - one user `crawl` granted read (write below LIVE, where reading is a write check) on every
//!   asset, and one token `crawl` whose root nodes are the given roots plus the first asset of
//!   every lineage (so assets placed above the roots by their lineage stay visible);
//! - an unreadable placeholder parent for every lineage that starts below something the token
//!   could not read, so the crawled store's lineage starts at the same asset (docs/crawl.md).

use super::known::Known;
use super::{io, CrawlError, CRAWL_TOKEN};
use crate::store::{url, Store};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::Path;

/// The user the crawled token reads as.
const CRAWL_USER: &str = "crawl";
/// Prefix of placeholder ids (asset and link); `~` never starts a Matrix id.
const PLACEHOLDER: &str = "~crawl-unreadable-parent-of-";
/// Prefix of placeholders standing for an unreadable parent URL.
const URL_PLACEHOLDER: &str = "~crawl-unreadable-url-";

/// The files of a crawled store, ready to write.
pub(super) struct Built {
    files: Vec<(&'static str, Vec<u8>)>,
    pub assets: usize,
    pub links: usize,
    pub placeholders: usize,
}

/// Checks that an asset object has what the store needs.
pub(super) fn check_asset(a: &Value) -> Result<(), String> {
    let o = a.as_object().ok_or("an asset is not an object")?;
    for k in ["id", "type", "type_name", "name"] {
        if !o.get(k).is_some_and(Value::is_string) {
            return Err(format!("an asset has no string `{k}`"));
        }
    }
    if !o
        .get("status")
        .and_then(|s| s.get("id"))
        .is_some_and(Value::is_u64)
    {
        return Err("an asset has no numeric `status.id`".into());
    }
    Ok(())
}

/// Checks that a link object has what the store needs.
pub(super) fn check_link(l: &Value) -> Result<(), String> {
    let o = l.as_object().ok_or("a link is not an object")?;
    for k in ["link_id", "major_id", "minor_id", "link_type"] {
        if !o.get(k).is_some_and(Value::is_string) {
            return Err(format!("a link has no string `{k}`"));
        }
    }
    if !o.get("sort_order").is_some_and(Value::is_i64) {
        return Err("a link has no integer `sort_order`".into());
    }
    Ok(())
}

/// Id order (spec §2): all-digit ids first, numerically; then the rest by code point.
fn id_key(id: &str) -> (bool, usize, &str) {
    let digits = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
    let trimmed = if digits {
        id.trim_start_matches('0')
    } else {
        id
    };
    (!digits, if digits { trimmed.len() } else { 0 }, id)
}

fn asset_record(a: &Value) -> Map<String, Value> {
    let mut r = Map::new();
    for k in ["id", "type", "type_name", "version", "name", "short_name"] {
        if let Some(v) = a.get(k) {
            r.insert(k.into(), v.clone());
        }
    }
    r.insert(
        "status".into(),
        a.get("status")
            .and_then(|s| s.get("id"))
            .cloned()
            .unwrap_or(json!(16)),
    );
    for k in [
        "created",
        "updated",
        "published",
        "status_changed",
        "urls",
        "attributes",
        "metadata",
        "contents",
    ] {
        if let Some(v) = a.get(k) {
            r.insert(k.into(), v.clone());
        }
    }
    r
}

fn link_record(l: &Value) -> Map<String, Value> {
    let mut r = Map::new();
    for k in [
        "link_id",
        "major_id",
        "minor_id",
        "link_type",
        "value",
        "sort_order",
        "is_dependent",
        "is_exclusive",
    ] {
        if let Some(v) = l.get(k) {
            r.insert(k.into(), v.clone());
        }
    }
    r
}

fn urls_of(a: &Value) -> impl Iterator<Item = &str> {
    a.get("urls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// Builds the store files from what the crawl learnt.
pub(super) fn build(known: &Known, roots: &[String], api: &str) -> Result<Built, CrawlError> {
    // Assets: the latest answer for each (they are the same view; the latest is the freshest),
    // leaving out those that were gone when asked again.
    let assets: HashMap<&str, &Value> = known
        .assets
        .iter()
        .filter(|(id, _)| !known.removed.contains(*id))
        .map(|(id, (a, _))| (id.as_str(), a))
        .collect();
    let mut links: BTreeMap<&str, &Value> = BTreeMap::new();
    for (id, (l, _)) in &known.links {
        let (major, minor) = (str_of(l, "major_id"), str_of(l, "minor_id"));
        if assets.contains_key(major) && assets.contains_key(minor) {
            links.insert(id.as_str(), l);
        }
    }
    // The lineages answered (and their top parts), in a fixed order.
    let mut lineages: Vec<(&String, &Option<String>, &str)> = known
        .lineages
        .iter()
        .map(|((id, key), l)| (id, key, l.assets[0].as_str()))
        .collect();
    lineages.sort();

    // Root nodes: the roots that answered, plus every lineage's first asset.
    let mut root_nodes: Vec<&str> = roots
        .iter()
        .map(String::as_str)
        .filter(|r| assets.contains_key(r))
        .collect();
    for (_, _, top) in &lineages {
        if assets.contains_key(top) {
            root_nodes.push(top);
        }
    }
    root_nodes.sort_by_key(|id| id_key(id));
    root_nodes.dedup();

    // Placeholders, where a lineage starts at a non-site asset that (in what we know) has tree
    // parents: the live walk stopped there at a parent the token could not read. Each answered
    // lineage and each top part of one says, for its first asset T and the URL key K the walk
    // had there, that the walk from (T, K) stops at T.
    // - When K has a parent URL no asset the crawl saw has (Matrix derives URLs from parents),
    //   that parent was the unreadable one: an unreadable placeholder at that URL, last in the
    //   fallback order, so only walks following that URL meet it.
    // - Otherwise the walk took its fallback step (lowest link) to an unreadable parent: an
    //   unreadable placeholder parent first in that order.
    let mut known_keys: HashSet<String> = HashSet::new();
    for a in assets.values() {
        for u in urls_of(a) {
            if let Some(k) = url::key(u) {
                known_keys.insert(k);
            }
        }
    }
    let mut has_parent: HashSet<&str> = HashSet::new();
    for l in links.values() {
        if str_of(l, "link_type") != "reference" {
            has_parent.insert(str_of(l, "minor_id"));
        }
    }
    let is_site = |id: &str| assets.get(id).is_none_or(|a| str_of(a, "type") == "site");
    let mut url_parents: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut placeholder_of: Vec<&str> = Vec::new();
    for (id, key, top) in &lineages {
        if id.as_str() != *top || is_site(top) || !has_parent.contains(top) {
            continue;
        }
        match key.as_deref().and_then(url::parent_key) {
            Some(pk) if !known_keys.contains(pk) => {
                url_parents.entry(pk.to_string()).or_default().push(top)
            }
            _ => placeholder_of.push(top),
        }
    }
    placeholder_of.sort_by_key(|id| id_key(id));
    placeholder_of.dedup();

    // assets.jsonl, in id order.
    let mut ids: Vec<&str> = assets.keys().copied().collect();
    ids.sort_by_key(|id| id_key(id));
    let mut assets_jsonl = Vec::new();
    let mut permissions = Vec::new();
    for id in &ids {
        let a = assets[id];
        let record = asset_record(a);
        writeln!(assets_jsonl, "{}", Value::Object(record)).expect("write to memory");
        let status = a
            .get("status")
            .and_then(|s| s.get("id"))
            .and_then(Value::as_u64)
            .unwrap_or(16);
        // Below LIVE, reading is a write check (spec §4 status gate).
        let access = if status < 16 { "write" } else { "read" };
        writeln!(
            permissions,
            "{}",
            json!({"asset_id": id, "principal_id": CRAWL_USER, "access": access, "granted": true})
        )
        .expect("write to memory");
    }
    for id in &placeholder_of {
        writeln!(
            assets_jsonl,
            "{}",
            json!({"id": format!("{PLACEHOLDER}{id}"), "type": "folder", "type_name": "Folder",
                   "name": "(a parent the crawl could not read)", "status": 16})
        )
        .expect("write to memory");
    }
    for (n, key) in url_parents.keys().enumerate() {
        writeln!(
            assets_jsonl,
            "{}",
            json!({"id": format!("{URL_PLACEHOLDER}{n}"), "type": "folder", "type_name": "Folder",
                   "name": "(a parent the crawl could not read)", "status": 16,
                   "urls": [format!("https://{key}")]})
        )
        .expect("write to memory");
    }
    let mut links_jsonl = Vec::new();
    let mut link_list: Vec<&Value> = links.values().copied().collect();
    link_list.sort_by_key(|l| id_key(str_of(l, "link_id")));
    for l in &link_list {
        writeln!(links_jsonl, "{}", Value::Object(link_record(l))).expect("write to memory");
    }
    for id in &placeholder_of {
        // Lowest possible sort order: the lineage walk's fallback step takes it first.
        writeln!(
            links_jsonl,
            "{}",
            json!({"link_id": format!("{PLACEHOLDER}{id}"), "major_id": format!("{PLACEHOLDER}{id}"),
                   "minor_id": id, "link_type": "invisible", "value": "", "sort_order": -(1i64 << 53),
                   "is_dependent": false, "is_exclusive": false})
        )
        .expect("write to memory");
    }
    for (n, children) in url_parents.values().enumerate() {
        let mut children = children.clone();
        children.sort_by_key(|id| id_key(id));
        children.dedup();
        for child in children {
            writeln!(
                links_jsonl,
                "{}",
                json!({"link_id": format!("{URL_PLACEHOLDER}{n}-{child}"),
                       "major_id": format!("{URL_PLACEHOLDER}{n}"), "minor_id": child,
                       "link_type": "invisible", "value": "", "sort_order": 1i64 << 53,
                       "is_dependent": false, "is_exclusive": false})
            )
            .expect("write to memory");
        }
    }
    let principals = format!(
        "{}\n",
        json!({"id": CRAWL_USER, "kind": "user", "name": "Crawler", "groups": []})
    );
    let tokens = format!(
        "{}\n",
        json!({"token": CRAWL_TOKEN, "name": format!("crawl of {api}"), "enabled": true,
               "trashed": false, "user_id": CRAWL_USER, "root_nodes": root_nodes})
    );
    let meta = format!(
        "{}\n",
        json!({"format": crate::store::STORE_FORMAT, "name": format!("crawl of {api}"),
               "contexts": ["Default"]})
    );
    Ok(Built {
        assets: ids.len(),
        links: link_list.len(),
        placeholders: placeholder_of.len() + url_parents.len(),
        files: vec![
            ("store.json", meta.into_bytes()),
            ("assets.jsonl", assets_jsonl),
            ("links.jsonl", links_jsonl),
            ("principals.jsonl", principals.into_bytes()),
            ("permissions.jsonl", permissions),
            ("tokens.jsonl", tokens.into_bytes()),
        ],
    })
}

/// Writes the store into the staging directory, checks that it loads, and swaps it in as `out`;
/// the staging directory (with the crawl state) is removed at the end.
pub(super) fn install(built: &Built, staging: &Path, out: &Path) -> Result<(), CrawlError> {
    let files: Vec<(&str, &[u8])> = built
        .files
        .iter()
        .map(|(n, b)| (*n, b.as_slice()))
        .collect();
    Store::from_memory(&files, "crawled store").map_err(|e| CrawlError::Invalid(e.to_string()))?;
    let new = staging.join("store");
    let _ = fs::remove_dir_all(&new);
    fs::create_dir_all(&new).map_err(io(format!("creating {}", new.display())))?;
    for (name, bytes) in &built.files {
        let path = new.join(name);
        fs::write(&path, bytes).map_err(io(format!("writing {}", path.display())))?;
    }
    if out.exists() {
        // Checked before the crawl: an empty directory or a previous store.
        let old = staging.join("old");
        fs::rename(out, &old).map_err(io(format!("moving the old {} aside", out.display())))?;
    }
    fs::rename(&new, out).map_err(io(format!("renaming the store to {}", out.display())))?;
    fs::remove_dir_all(staging).map_err(io(format!("removing {}", staging.display())))?;
    Ok(())
}
