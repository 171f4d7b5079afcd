//! What a crawl knows from the answers so far, which lineages it can be sure of without asking,
//! and where a site edited during the crawl left answers that contradict each other.
//!
//! **Inference** (docs/crawl.md, "What it asks"). The live lineage walk (spec §3) from an asset
//! `X` following a URL key `k` steps up to the parent that owns `parent_key(k)`, and stops at a
//! site. The crawl is sure of that step when the owner of `parent_key(k)` is an asset it holds
//! (URLs are unique, so the owner is the only candidate) and a link from it to `X` was seen (in a
//! children list or a lineage), and `X` has no other parent in what the crawl saw. It is sure of
//! the whole walk when such steps reach a site, or an (asset, key) whose lineage was asked (the
//! rest of the walk depends only on that pair). Everything else is a *point to ask*: an unknown
//! prefix, no URL, a prefix owned by an asset that is not a known parent (an `invisible` link
//! the children lists do not show), several parents, a walk ending at an asset whose parents
//! are out of view. The crawled store then answers the inferred lineages itself: it holds the
//! same owners and links, and everything on such a walk is in view for the token `crawl`.

use super::{str_of, Refusal};
use crate::store::url;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A URL key followed by a lineage walk (`None`: the asset has no URL).
pub(super) type Key = Option<String>;

/// A lineage (or the top part of one): asset ids top-down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Lineage {
    pub assets: Vec<String>,
}

/// A lineage request the crawl must make: the asset and the URL to follow (`None`: by id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Ask {
    pub id: String,
    pub url: Option<String>,
}

/// Answers that contradict each other (the site changed during the crawl).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Conflicts {
    /// A URL key held by several assets, with their ids.
    pub urls: Vec<(String, Vec<String>)>,
    /// Cycles among tree links (link ids).
    pub cycles: Vec<Vec<String>>,
    /// Walked assets whose children list was refused (they vanished or became unreadable).
    pub vanished: Vec<String>,
}

impl Conflicts {
    pub fn is_empty(&self) -> bool {
        self.urls.is_empty() && self.cycles.is_empty() && self.vanished.is_empty()
    }

    /// Nothing the store loader would reject (a listed asset that still answers but whose
    /// children were refused is only reported).
    pub fn loads(&self) -> bool {
        self.urls.is_empty() && self.cycles.is_empty()
    }
}

/// Everything learnt so far.
#[derive(Debug, Default)]
pub(super) struct Known {
    /// The latest object of every asset, with the number of the answer it came in.
    pub assets: HashMap<String, (Value, u64)>,
    /// Every link object, by `link_id` (the latest answer), with the number of that answer.
    pub links: HashMap<String, (Value, u64)>,
    /// Each children list answered: parent → its link ids (the latest answer).
    pub listed: HashMap<String, Vec<String>>,
    /// Lineages answered, and the top parts of them: (asset, key followed) → the path.
    pub lineages: HashMap<(String, Key), Lineage>,
    /// Assets to walk: the roots that answered and every child listed.
    pub walked: BTreeSet<String>,
    /// Roots whose lineage was answered (or refused).
    pub roots_done: HashSet<String>,
    /// Assets whose children were answered (or refused).
    pub children_done: HashSet<String>,
    /// Lineage requests made (answered or refused).
    pub asked: HashSet<Ask>,
    /// Assets the API refused, by id (the latest refusal).
    pub refused: BTreeMap<String, Refusal>,
    /// Assets that answered 403/404 when asked again: left out of the store.
    pub removed: BTreeSet<String>,
    /// Assets asked again (`GET /__api/assets/{id}`).
    pub asked_again: HashSet<String>,
    /// Answers applied so far.
    pub answers: u64,
}

fn keys_of(a: &Value) -> impl Iterator<Item = String> + '_ {
    a.get("urls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(url::key)
}

/// The URL of `a` whose key is `key`.
pub(super) fn url_with_key(a: &Value, key: &str) -> Option<String> {
    a.get("urls")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find(|u| url::key(u).as_deref() == Some(key))
        .map(str::to_string)
}

impl Known {
    /// Takes in the asset objects and links of one answer.
    pub fn learn(&mut self, assets: &[Value], links: &[Value]) {
        self.answers += 1;
        let n = self.answers;
        for a in assets {
            self.assets
                .insert(str_of(a, "id").to_string(), (a.clone(), n));
        }
        for l in links {
            self.links
                .insert(str_of(l, "link_id").to_string(), (l.clone(), n));
        }
    }

    /// Records a children list of `parent` (all its pages): replaces the previous list, and drops
    /// the links of the previous list that are gone (a link a children list would show: a
    /// non-dependent menu or hidden one).
    pub fn children(&mut self, parent: &str, links: &[Value], assets: &[Value]) -> Vec<String> {
        let ids: Vec<String> = links
            .iter()
            .map(|l| str_of(l, "link_id").to_string())
            .collect();
        if self
            .listed
            .insert(parent.to_string(), ids.clone())
            .is_some()
        {
            // Asked again: the links from the parent that a children list would show (menu or
            // hidden, not dependent) but this one does not are gone.
            let now: HashSet<&String> = ids.iter().collect();
            self.links.retain(|id, (l, _)| {
                now.contains(id)
                    || str_of(l, "major_id") != parent
                    || !matches!(str_of(l, "link_type"), "menu" | "hidden")
                    || l.get("is_dependent").and_then(Value::as_bool) == Some(true)
            });
        }
        self.learn(assets, links);
        self.children_done.insert(parent.to_string());
        let mut new = Vec::new();
        for a in assets {
            let id = str_of(a, "id");
            if self.walked.insert(id.to_string()) {
                new.push(id.to_string());
            }
        }
        new
    }

    /// Records a lineage answer (`key`: the URL key it followed) and every top part of it: the
    /// walk above any step is the lineage of that step's asset for the key the walk had there.
    pub fn lineage(&mut self, assets: &[Value], links: &[Value], key: Key) {
        self.learn(assets, links);
        let ids: Vec<String> = assets.iter().map(|a| str_of(a, "id").to_string()).collect();
        let mut key = key;
        for i in (0..ids.len()).rev() {
            self.lineages
                .entry((ids[i].clone(), key.clone()))
                .or_insert_with(|| Lineage {
                    assets: ids[..=i].to_vec(),
                });
            if i == 0 {
                break;
            }
            // The step up to assets[i-1] was by URL when it owns parent_key(key), else the
            // fallback step, which continues with that parent's `url`.
            let wanted = key.as_deref().and_then(url::parent_key).map(str::to_string);
            let parent = &assets[i - 1];
            key = match wanted {
                Some(w) if keys_of(parent).any(|k| k == w) => Some(w),
                _ => parent.get("url").and_then(Value::as_str).and_then(url::key),
            };
        }
    }

    fn live(&self, id: &str) -> Option<&Value> {
        if self.removed.contains(id) {
            return None;
        }
        self.assets.get(id).map(|(a, _)| a)
    }

    /// URL key → the assets holding it.
    fn url_owners(&self) -> HashMap<String, Vec<&str>> {
        let mut owners: HashMap<String, Vec<&str>> = HashMap::new();
        for (id, (a, _)) in &self.assets {
            if self.removed.contains(id) {
                continue;
            }
            let mut seen = HashSet::new();
            for k in keys_of(a) {
                if seen.insert(k.clone()) {
                    owners.entry(k).or_default().push(id);
                }
            }
        }
        owners
    }

    /// Tree links whose two ends are assets in the store.
    fn tree_links(&self) -> impl Iterator<Item = (&str, &Value, u64)> {
        self.links.iter().filter_map(|(id, (l, n))| {
            let (major, minor) = (str_of(l, "major_id"), str_of(l, "minor_id"));
            (str_of(l, "link_type") != "reference"
                && self.live(major).is_some()
                && self.live(minor).is_some())
            .then_some((id.as_str(), l, *n))
        })
    }

    /// Asset → its known tree parents (distinct).
    fn parents(&self) -> HashMap<&str, Vec<&str>> {
        let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
        for (_, l, _) in self.tree_links() {
            let list = parents.entry(str_of(l, "minor_id")).or_default();
            let major = str_of(l, "major_id");
            if !list.contains(&major) {
                list.push(major);
            }
        }
        parents
    }

    /// The lineage requests still needed so that every lineage of every walked asset (by id and
    /// for each of its URLs) is either asked or inferred for sure (module doc). Sorted.
    pub fn lineages_to_ask(&self) -> Vec<Ask> {
        let owners = self.url_owners();
        let parents = self.parents();
        let mut memo: HashMap<(&str, Key), Option<(&str, Key)>> = HashMap::new();
        let mut asks: BTreeSet<Ask> = BTreeSet::new();
        for x in &self.walked {
            let Some(a) = self.live(x) else { continue };
            let mut keys: Vec<Key> = Vec::new();
            for k in keys_of(a) {
                if !keys.contains(&Some(k.clone())) {
                    keys.push(Some(k));
                }
            }
            if keys.is_empty() {
                keys.push(None);
            }
            for k in keys {
                let point = self.resolve(x, k, &owners, &parents, &mut memo);
                if let Some((id, key)) = point {
                    let url = match &key {
                        Some(k) => self.live(id).and_then(|a| url_with_key(a, k)),
                        None => None,
                    };
                    asks.insert(Ask {
                        id: id.to_string(),
                        url,
                    });
                }
            }
        }
        asks.into_iter().collect()
    }

    /// Where the walk from (`x`, `key`) stops being sure: `None` when it is sure all the way.
    fn resolve<'a>(
        &'a self,
        x: &'a str,
        key: Key,
        owners: &HashMap<String, Vec<&'a str>>,
        parents: &HashMap<&str, Vec<&'a str>>,
        memo: &mut HashMap<(&'a str, Key), Option<(&'a str, Key)>>,
    ) -> Option<(&'a str, Key)> {
        let mut trail: Vec<(&str, Key)> = Vec::new();
        let (mut cur, mut key) = (x, key);
        let result = loop {
            if let Some(r) = memo.get(&(cur, key.clone())) {
                break r.clone();
            }
            if self.lineages.contains_key(&(cur.to_string(), key.clone())) {
                break None;
            }
            trail.push((cur, key.clone()));
            let here = Some((cur, key.clone()));
            let Some(asset) = self.live(cur) else {
                break here;
            };
            if str_of(asset, "type") == "site" {
                break None;
            }
            // Matrix trees are shallow; a walk longer than this is a cycle (an edited site).
            if trail.len() > 100_000 {
                break here;
            }
            let Some(wanted) = key.as_deref().and_then(url::parent_key) else {
                break here; // no URL, or at the host: the fallback step, unknown parents
            };
            let owner = match owners.get(wanted).map(Vec::as_slice) {
                Some([one]) => *one,
                _ => break here, // an unknown prefix (or two owners: an edited site)
            };
            match parents.get(cur).map(Vec::as_slice) {
                Some([only]) if *only == owner => {}
                _ => break here, // not a parent we saw (invisible, unreadable), or several
            }
            cur = owner;
            key = Some(wanted.to_string());
        };
        for step in trail {
            memo.insert(step, result.clone());
        }
        result
    }

    /// Answers that contradict each other (module doc), sorted.
    pub fn conflicts(&self, roots: &[String]) -> Conflicts {
        let mut urls: Vec<(String, Vec<String>)> = self
            .url_owners()
            .into_iter()
            .filter(|(_, ids)| ids.len() > 1)
            .map(|(k, ids)| {
                let mut ids: Vec<String> = ids.into_iter().map(str::to_string).collect();
                ids.sort();
                (k, ids)
            })
            .collect();
        urls.sort();
        let vanished = self
            .refused
            .keys()
            .filter(|id| {
                self.children_done.contains(*id)
                    && self.live(id).is_some()
                    && !self.asked_again.contains(*id)
                    && !roots.contains(id)
            })
            .cloned()
            .collect();
        Conflicts {
            urls,
            cycles: self.cycles(),
            vanished,
        }
    }

    /// Cycles among tree links: one per link that closes a cycle in a depth-first walk.
    fn cycles(&self) -> Vec<Vec<String>> {
        let mut out_links: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
        for (id, l, _) in self.tree_links() {
            out_links
                .entry(str_of(l, "major_id"))
                .or_default()
                .push((str_of(l, "minor_id"), id));
        }
        for list in out_links.values_mut() {
            list.sort();
        }
        // Iterative DFS: 0 unseen, 1 on the stack, 2 done.
        let mut state: HashMap<&str, u8> = HashMap::new();
        let mut cycles = Vec::new();
        let starts: Vec<&str> = out_links.keys().copied().collect();
        for start in starts {
            if state.contains_key(start) {
                continue;
            }
            // (node, next edge index, link used to get here)
            let mut stack: Vec<(&str, usize, &str)> = vec![(start, 0, "")];
            state.insert(start, 1);
            while let Some(top) = stack.last_mut() {
                let (node, i) = (top.0, top.1);
                let edges = out_links.get(node).map(Vec::as_slice).unwrap_or(&[]);
                if i >= edges.len() {
                    state.insert(node, 2);
                    stack.pop();
                    continue;
                }
                top.1 += 1;
                let (next, link) = edges[i];
                match state.get(next) {
                    None => {
                        state.insert(next, 1);
                        stack.push((next, 0, link));
                    }
                    Some(1) => {
                        let from = stack.iter().position(|s| s.0 == next).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            stack[from + 1..].iter().map(|s| s.2.to_string()).collect();
                        cycle.push(link.to_string());
                        cycles.push(cycle);
                    }
                    _ => {}
                }
            }
        }
        cycles
    }

    /// The last resort when asking again did not settle a conflict: each URL stays with the
    /// asset that answered last, and the link of each cycle that arrived first is dropped.
    /// Returns what was done, for the report.
    pub fn settle(&mut self, conflicts: &Conflicts) -> Vec<String> {
        let mut done = Vec::new();
        for (key, ids) in &conflicts.urls {
            let newest = ids
                .iter()
                .max_by_key(|id| self.assets.get(*id).map_or(0, |(_, n)| *n))
                .cloned()
                .unwrap_or_default();
            for id in ids.iter().filter(|id| **id != newest) {
                if let Some((a, _)) = self.assets.get_mut(id) {
                    if let Some(list) = a.get_mut("urls").and_then(Value::as_array_mut) {
                        list.retain(|u| u.as_str().and_then(url::key).as_deref() != Some(key));
                    }
                }
                done.push(format!(
                    "URL {key} was on assets {id:?} and {newest:?}: kept on {newest:?}, which answered last"
                ));
            }
        }
        for cycle in &conflicts.cycles {
            let oldest = cycle
                .iter()
                .min_by_key(|id| self.links.get(*id).map_or(0, |(_, n)| *n))
                .cloned();
            if let Some(id) = oldest {
                self.links.remove(&id);
                done.push(format!(
                    "links {} form a cycle: dropped link {id:?}, seen first",
                    cycle.join(", ")
                ));
            }
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn asset(id: &str, ty: &str, urls: &[&str]) -> Value {
        let url = urls.first().copied().unwrap_or("");
        json!({"id": id, "type": ty, "urls": urls, "url": url})
    }

    fn link(id: &str, major: &str, minor: &str, ty: &str) -> Value {
        json!({"link_id": id, "major_id": major, "minor_id": minor, "link_type": ty,
               "sort_order": 0, "is_dependent": false})
    }

    /// A site 1 with a folder 2 and a page 3 under it, all listed.
    fn site() -> Known {
        let mut k = Known::default();
        k.walked.insert("1".into());
        k.lineage(
            &[asset("1", "site", &["https://s.test"])],
            &[],
            Some("s.test".into()),
        );
        k.children(
            "1",
            &[link("l2", "1", "2", "menu")],
            &[asset("2", "folder", &["https://s.test/a"])],
        );
        k.children(
            "2",
            &[link("l3", "2", "3", "menu")],
            &[asset(
                "3",
                "page",
                &["https://s.test/a/b", "http://s.test/a/b"],
            )],
        );
        k.children("3", &[], &[]);
        k
    }

    #[test]
    fn urls_under_listed_parents_up_to_a_site_need_no_lineage() {
        assert_eq!(site().lineages_to_ask(), vec![]);
    }

    #[test]
    fn an_unknown_prefix_is_asked_where_the_walk_stops_being_sure() {
        let mut k = site();
        // 3 gets a second URL whose parent URL no crawled asset has.
        k.children(
            "2",
            &[link("l3", "2", "3", "menu")],
            &[asset(
                "3",
                "page",
                &["https://s.test/a/b", "https://s.test/x/c"],
            )],
        );
        assert_eq!(
            k.lineages_to_ask(),
            vec![Ask {
                id: "3".into(),
                url: Some("https://s.test/x/c".into())
            }]
        );
    }

    #[test]
    fn no_url_several_parents_and_unlisted_links_are_asked() {
        let mut k = site();
        // 4: no URL. 5: under 2 and 4. 6: its URL's parent is 2, but 2 does not list it.
        k.children(
            "2",
            &[
                link("l3", "2", "3", "menu"),
                link("l4", "2", "4", "menu"),
                link("l5", "2", "5", "menu"),
            ],
            &[
                asset("3", "page", &["https://s.test/a/b"]),
                asset("4", "folder", &[]),
                asset("5", "page", &["https://s.test/a/e"]),
            ],
        );
        k.children(
            "4",
            &[
                link("l5b", "4", "5", "hidden"),
                link("l6", "4", "6", "menu"),
            ],
            &[
                asset("5", "page", &["https://s.test/a/e"]),
                asset("6", "page", &["https://s.test/a/f"]),
            ],
        );
        let asks: Vec<String> = k.lineages_to_ask().into_iter().map(|a| a.id).collect();
        assert_eq!(asks, ["4", "5", "6"]);
        // Once 5's lineage is known, what hangs below it is sure again.
        k.children(
            "5",
            &[link("l7", "5", "7", "menu")],
            &[asset("7", "page", &["https://s.test/a/e/g"])],
        );
        let asks: Vec<String> = k.lineages_to_ask().into_iter().map(|a| a.id).collect();
        assert_eq!(asks, ["4", "5", "6"], "7 is asked through 5");
        k.lineage(
            &[
                asset("1", "site", &["https://s.test"]),
                asset("2", "folder", &["https://s.test/a"]),
                asset("5", "page", &["https://s.test/a/e"]),
            ],
            &[link("l2", "1", "2", "menu"), link("l5", "2", "5", "menu")],
            Some("s.test/a/e".into()),
        );
        let asks: Vec<String> = k.lineages_to_ask().into_iter().map(|a| a.id).collect();
        assert_eq!(asks, ["4", "6"]);
    }

    #[test]
    fn a_walk_ending_below_an_unreadable_parent_uses_the_asked_lineage() {
        // Root 2 (not a site): its lineage starts at itself (the site is out of view).
        let mut k = Known::default();
        k.walked.insert("2".into());
        k.lineage(
            &[asset(
                "2",
                "folder",
                &["https://s.test/a", "https://t.test"],
            )],
            &[],
            Some("s.test/a".into()),
        );
        k.children(
            "2",
            &[link("l3", "2", "3", "menu"), link("l4", "2", "4", "menu")],
            &[
                asset("3", "page", &["https://s.test/a/b"]),
                asset("4", "page", &["https://t.test/c"]),
            ],
        );
        // 3 walks through (2, s.test/a), which is known; 4 through (2, t.test), which is not.
        assert_eq!(
            k.lineages_to_ask(),
            vec![Ask {
                id: "2".into(),
                url: Some("https://t.test".into())
            }]
        );
    }

    #[test]
    fn top_parts_of_a_lineage_are_known_with_the_key_the_walk_had() {
        let mut k = Known::default();
        // 3 follows u/a/b up to 2 (by URL), then falls back to 1 (2's parent URL is nobody's)
        // and continues with 1's url.
        k.lineage(
            &[
                asset("1", "site", &["https://s.test"]),
                asset("2", "folder", &["https://t.test/a"]),
                asset("3", "page", &["https://t.test/a/b"]),
            ],
            &[
                link("l2", "1", "2", "invisible"),
                link("l3", "2", "3", "menu"),
            ],
            Some("t.test/a/b".into()),
        );
        assert!(k
            .lineages
            .contains_key(&("2".into(), Some("t.test/a".into()))));
        assert_eq!(
            k.lineages[&("1".into(), Some("s.test".into()))].assets,
            ["1"]
        );
    }

    #[test]
    fn conflicts_and_settling_them() {
        let mut k = site();
        // A URL moved from 3 to 4 while the crawl ran; 2 became a child of 3.
        k.children(
            "3",
            &[link("l4", "3", "4", "menu"), link("l9", "3", "2", "menu")],
            &[
                asset("4", "page", &["https://s.test/a/b"]),
                asset("2", "folder", &["https://s.test/a"]),
            ],
        );
        let c = k.conflicts(&["1".into()]);
        assert_eq!(
            c.urls,
            vec![("s.test/a/b".into(), vec!["3".into(), "4".into()])]
        );
        assert_eq!(c.cycles.len(), 1);
        let mut cycle = c.cycles[0].clone();
        cycle.sort();
        assert_eq!(cycle, ["l3", "l9"]);
        let notes = k.settle(&c);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(k.conflicts(&["1".into()]).is_empty());
        assert!(!k.links.contains_key("l3"), "the older link is dropped");
    }

    #[test]
    fn a_listed_asset_whose_children_are_refused_is_asked_again_once() {
        let mut k = site();
        let refusal = Refusal {
            id: "2".into(),
            status: 404,
            url: "http://x/__api/assets/2/children".into(),
            message: "Not found".into(),
        };
        k.refused.insert("2".into(), refusal);
        let roots = ["1".to_string()];
        assert_eq!(k.conflicts(&roots).vanished, ["2"]);
        // It still answers: kept (and reported), not asked about again.
        k.asked_again.insert("2".into());
        assert_eq!(k.conflicts(&roots), Conflicts::default());
        // The root's own refusal is not a conflict.
        k.refused.insert("1".into(), k.refused["2"].clone());
        assert!(k.conflicts(&roots).is_empty());
    }
}
