//! Property tests over generated stores (proptest): no token ever sees an asset its user may not
//! read or that lies outside its root nodes — checked against an independent oracle written
//! straight from spec §4 (it walks *up* from each asset, where `access` walks down from roots) —
//! and every sort is a total order whose `desc` is exactly the reverse of `asc`.

use matrix_snapshot::api::SortKey;
use matrix_snapshot::store::{Access, AssetIdx, LinkType, PrincipalKind, Store};
use matrix_snapshot::{answer, Catalog, Request};
use proptest::prelude::*;
use std::collections::HashSet;

fn generated(assets: u64, seed: u64) -> (tempfile::TempDir, Catalog) {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::util::generated(&dir.path().join("store"), assets, seed);
    let store = Store::load(&out).unwrap_or_else(|e| panic!("generated store is invalid: {e}"));
    (dir, Catalog::new(store))
}

/// Spec §4, read literally, for one token and asset.
fn oracle_can_read(store: &Store, token: usize, asset: AssetIdx) -> bool {
    let t = &store.tokens[token];
    let a = store.asset(asset);
    if a.trashed {
        return false;
    }
    let user = store
        .principal_by_id(t.user_id.as_deref().unwrap())
        .unwrap();
    let mut principals: HashSet<String> = HashSet::new();
    let mut todo = vec![store.principal(user).id.clone()];
    while let Some(p) = todo.pop() {
        if principals.insert(p.clone()) {
            let idx = store.principal_by_id(&p).unwrap();
            todo.extend(store.principal(idx).groups.iter().cloned());
        }
    }
    let kind = store.principal(user).kind;
    let level = if a.status.0 < 16 {
        Access::Write
    } else {
        Access::Read
    };
    let bypass = matches!(kind, PrincipalKind::Root | PrincipalKind::SystemAdmin);
    let rows = store.permissions(asset);
    let id_of = |p: u32| store.principal(p).id.clone();
    let denied = rows
        .iter()
        .any(|r| !r.granted && r.access == level && principals.contains(&id_of(r.principal)));
    let public = store
        .principals
        .iter()
        .find(|p| p.kind == PrincipalKind::Public)
        .map(|p| p.id.clone());
    let granted = rows.iter().any(|r| {
        let who = id_of(r.principal);
        r.granted
            && r.access >= level
            && (principals.contains(&who) || Some(&who) == public.as_ref())
    });
    if !(bypass || (!denied && granted)) {
        return false;
    }
    if t.root_nodes.is_empty() {
        return true;
    }
    // Upward: is some root node this asset or an ancestor through tree links, via live assets?
    let roots: HashSet<&str> = t.root_nodes.iter().map(String::as_str).collect();
    let mut seen = HashSet::new();
    let mut todo = vec![asset];
    while let Some(x) = todo.pop() {
        if !seen.insert(x) || store.asset(x).trashed {
            continue;
        }
        if roots.contains(store.asset(x).id.as_str()) {
            return true;
        }
        for &l in store.links_to(x) {
            if store.link(l).link_type != LinkType::Reference {
                todo.push(store.link_ends(l).0);
            }
        }
    }
    false
}

fn body_ids(body: &[u8]) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect()
}

fn enc(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// No leak: each view equals the oracle, and every body only names readable assets.
    #[test]
    fn no_token_sees_what_its_user_may_not_read(seed in 0u64..1_000_000, assets in 60u64..400) {
        let (_dir, cat) = generated(assets, seed);
        let store = &cat.store;
        for (t, token) in store.tokens.iter().enumerate() {
            let Ok(view) = cat.view(t as u32) else { continue };
            let mut readable = HashSet::new();
            for a in 0..store.assets.len() as AssetIdx {
                let want = oracle_can_read(store, t, a);
                prop_assert_eq!(view.can_read(a), want, "token {} asset {}", token.name, store.asset(a).id);
                if want {
                    readable.insert(store.asset(a).id.clone());
                }
            }
            for id in readable.iter().take(40) {
                for suffix in ["/children?limit=0", "/lineage/site"] {
                    let r = answer(&cat, &Request::get(format!("/__api/assets/{}{suffix}", enc(id))).bearer(&token.token));
                    prop_assert_eq!(r.status, 200);
                    for seen in body_ids(&r.body) {
                        prop_assert!(readable.contains(&seen), "token {} sees {} in {}{}", token.name, seen, id, suffix);
                    }
                }
            }
        }
    }

    /// Sorting: deterministic, and `desc` is the exact reverse of `asc` for every key.
    #[test]
    fn desc_is_the_reverse_of_asc(seed in 0u64..1_000_000) {
        let (_dir, cat) = generated(300, seed);
        let token = cat.store.tokens.iter().find(|t| t.token == "gen-admin").unwrap().token.clone();
        let parents: Vec<String> = cat.store.assets.iter().filter(|a| !a.trashed).map(|a| a.id.clone()).collect();
        let mut checked = 0;
        for id in parents.iter() {
            let base = format!("/__api/assets/{}/children?limit=0", enc(id));
            let tree = answer(&cat, &Request::get(&base).bearer(&token));
            if body_ids(&tree.body).len() < 2 { continue; }
            checked += 1;
            let keys = std::iter::once(None).chain(SortKey::ALL.iter().map(|(_, n)| Some(*n)));
            for key in keys {
                let q = key.map(|k| format!("&sort_by={k}")).unwrap_or_default();
                let asc = body_ids(&answer(&cat, &Request::get(format!("{base}{q}")).bearer(&token)).body);
                let again = body_ids(&answer(&cat, &Request::get(format!("{base}{q}&sort_order=asc")).bearer(&token)).body);
                let mut desc = body_ids(&answer(&cat, &Request::get(format!("{base}{q}&sort_order=desc")).bearer(&token)).body);
                desc.reverse();
                prop_assert_eq!(&asc, &again);
                prop_assert_eq!(&asc, &desc, "{} sort_by={:?}", id, key);
            }
            if checked > 25 { break; }
        }
        prop_assert!(checked > 0, "the generated store has parents with children");
    }
}
