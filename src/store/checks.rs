//! The cross-record checks: what one record says about others (ids unique in their file, URLs
//! unique across assets, links, permissions, groups and tokens naming records that exist, no
//! cycle among groups or non-reference links), building the lookup indexes of [`Store`] as
//! they go. Checks one record can make alone are in `record`.
//!
//! [`Store`]: super::Store

use super::diagnostic::Diagnostics;
use super::model::*;
use super::url;
use super::{AssetIdx, LinkIdx, PrincipalIdx};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::collections::HashMap;

/// Every record that parsed, file by file, with its 1-based line number.
pub(super) struct Records {
    pub(super) assets: Vec<Asset>,
    pub(super) asset_lines: Vec<u64>,
    pub(super) links: Vec<Link>,
    pub(super) link_lines: Vec<u64>,
    pub(super) principals: Vec<Principal>,
    pub(super) principal_lines: Vec<u64>,
    pub(super) permissions: Vec<PermissionRecord>,
    pub(super) permission_lines: Vec<u64>,
    pub(super) tokens: Vec<Token>,
    pub(super) token_lines: Vec<u64>,
}

/// The lookup indexes built by the checks (the fields of `Store` of the same names).
pub(super) struct Indexes {
    pub(super) asset_index: FxHashMap<String, AssetIdx>,
    pub(super) url_index: FxHashMap<String, AssetIdx>,
    pub(super) principal_index: HashMap<String, PrincipalIdx>,
    pub(super) principal_groups: Vec<Vec<PrincipalIdx>>,
    pub(super) link_ends: Vec<(AssetIdx, AssetIdx)>,
    pub(super) links_from: Vec<Vec<LinkIdx>>,
    pub(super) links_to: Vec<Vec<LinkIdx>>,
    pub(super) permissions: Vec<Vec<Permission>>,
    pub(super) token_index: HashMap<String, u32>,
}

/// Runs every cross-record check, file by file in [`super::FILES`] order, reporting into
/// `diags`; the indexes leave out what a check rejected.
///
/// The checks that follow the asset index run in parallel where they report on different files
/// (each file's diagnostics keep their order: they are sorted by file and line, stably).
pub(super) fn check(r: &Records, diags: &Diagnostics) -> Indexes {
    let asset_index = assets(r, diags);
    let (url_index, (principal_index, principal_groups, links, permissions, token_index)) =
        rayon::join(
            || urls(r, diags),
            || {
                let (principal_index, principal_groups) = principals(r, diags);
                let (links, (permissions, token_index)) = rayon::join(
                    || links(r, &asset_index, diags),
                    || {
                        (
                            permissions(r, &asset_index, &principal_index, diags),
                            tokens(r, &asset_index, &principal_index, diags),
                        )
                    },
                );
                (
                    principal_index,
                    principal_groups,
                    links,
                    permissions,
                    token_index,
                )
            },
        );
    Indexes {
        asset_index,
        url_index,
        principal_index,
        principal_groups,
        link_ends: links.ends,
        links_from: links.from,
        links_to: links.to,
        permissions,
        token_index,
    }
}

/// Asset ids are unique; the first of a duplicate keeps the id.
fn assets(r: &Records, diags: &Diagnostics) -> FxHashMap<String, AssetIdx> {
    let file = "assets.jsonl";
    let mut asset_index = FxHashMap::with_capacity_and_hasher(r.assets.len(), Default::default());
    for (i, a) in r.assets.iter().enumerate() {
        if let Some(first) = asset_index.insert(a.id.clone(), i as AssetIdx) {
            diags.push(
                file,
                r.asset_lines[i],
                format!(
                    "duplicate asset id {:?} (first on line {})",
                    a.id, r.asset_lines[first as usize]
                ),
            );
            asset_index.insert(a.id.clone(), first);
        }
    }
    asset_index
}

/// URLs: unique across assets after normalisation (one asset may list http and https forms).
/// Normalised in parallel, then indexed in store order (which decides who is reported).
fn urls(r: &Records, diags: &Diagnostics) -> FxHashMap<String, AssetIdx> {
    let file = "assets.jsonl";
    let keys: Vec<Vec<Option<String>>> = r
        .assets
        .par_iter()
        .map(|a| a.urls.iter().map(|u| url::key(u)).collect())
        .collect();
    let mut url_index: FxHashMap<String, AssetIdx> = Default::default();
    for (i, (a, keys)) in r.assets.iter().zip(keys).enumerate() {
        for (u, key) in a.urls.iter().zip(keys) {
            let Some(key) = key else {
                // A port that is not a number up to 65535 never matches (spec §2, revised
                // 2026-12): an error, so the URL is fixed rather than silently unreachable.
                if let Some(problem) = url::port_problem(u) {
                    diags.push(file, r.asset_lines[i], format!("url {u:?}: {problem}"));
                }
                continue;
            };
            match url_index.get(&key) {
                Some(&other) if other as usize != i => diags.push(
                    file,
                    r.asset_lines[i],
                    format!(
                        "url {u:?} is already used by asset {:?} (line {}); URLs are unique in a store",
                        r.assets[other as usize].id, r.asset_lines[other as usize]
                    ),
                ),
                Some(_) => {}
                None => {
                    url_index.insert(key, i as AssetIdx);
                }
            }
        }
    }
    url_index
}

/// Principal ids are unique, at most one is public, `groups` names groups, and groups do not
/// contain themselves. Returns the id index and each principal's direct groups.
fn principals(
    r: &Records,
    diags: &Diagnostics,
) -> (HashMap<String, PrincipalIdx>, Vec<Vec<PrincipalIdx>>) {
    let file = "principals.jsonl";
    let (principals, principal_lines) = (&r.principals, &r.principal_lines);
    let mut principal_index = HashMap::with_capacity(principals.len());
    let mut public_line = None;
    for (i, p) in principals.iter().enumerate() {
        let line = principal_lines[i];
        if let Some(first) = principal_index.insert(p.id.clone(), i as PrincipalIdx) {
            diags.push(
                file,
                line,
                format!(
                    "duplicate principal id {:?} (first on line {})",
                    p.id, principal_lines[first as usize]
                ),
            );
            principal_index.insert(p.id.clone(), first);
        }
        if p.kind == PrincipalKind::Public {
            match public_line {
                Some(first) => diags.push(
                    file,
                    line,
                    format!("a second public principal (the first is on line {first}); a store has at most one public user"),
                ),
                None => public_line = Some(line),
            }
        }
    }
    let principal_groups: Vec<Vec<PrincipalIdx>> = principals
        .iter()
        .enumerate()
        .map(|(i, p)| {
            p.groups
                .iter()
                .filter_map(|g| match principal_index.get(g) {
                    Some(&gi) if principals[gi as usize].kind == PrincipalKind::Group => Some(gi),
                    Some(_) => {
                        diags.push(
                            file,
                            principal_lines[i],
                            format!("groups names {g:?}, which is not a group"),
                        );
                        None
                    }
                    None => {
                        diags.push(
                            file,
                            principal_lines[i],
                            format!("groups names unknown principal {g:?}"),
                        );
                        None
                    }
                })
                .collect()
        })
        .collect();
    if let Some((path, _)) = find_cycle(principals.len(), |i| {
        principal_groups[i]
            .iter()
            .map(|&g| (g as usize, g as usize))
    }) {
        let names: Vec<&str> = path.iter().map(|&i| principals[i].id.as_str()).collect();
        let last = path.iter().map(|&i| principal_lines[i]).max().unwrap_or(0);
        diags.push(
            file,
            last,
            format!(
                "group cycle: {} (groups may not contain themselves)",
                names.join(" → ")
            ),
        );
    }
    (principal_index, principal_groups)
}

/// The link indexes: each link's ends, and the links from and to each asset.
struct LinkIndex {
    ends: Vec<(AssetIdx, AssetIdx)>,
    from: Vec<Vec<LinkIdx>>,
    to: Vec<Vec<LinkIdx>>,
}

/// Link ids are unique, both ends name assets, and non-reference links form no cycle.
fn links(r: &Records, asset_index: &FxHashMap<String, AssetIdx>, diags: &Diagnostics) -> LinkIndex {
    let file = "links.jsonl";
    let (assets, links, link_lines) = (&r.assets, &r.links, &r.link_lines);
    let mut link_ids: HashMap<&str, u64> = HashMap::with_capacity(links.len());
    let mut link_ends = Vec::with_capacity(links.len());
    let mut links_from = vec![Vec::new(); assets.len()];
    let mut links_to = vec![Vec::new(); assets.len()];
    for (i, l) in links.iter().enumerate() {
        let line = link_lines[i];
        if let Some(first) = link_ids.insert(&l.link_id, line) {
            diags.push(
                file,
                line,
                format!("duplicate link id {:?} (first on line {first})", l.link_id),
            );
        }
        let major = asset_index.get(&l.major_id).copied();
        let minor = asset_index.get(&l.minor_id).copied();
        for (role, id, idx) in [
            ("major_id", &l.major_id, major),
            ("minor_id", &l.minor_id, minor),
        ] {
            if idx.is_none() {
                diags.push(file, line, format!("{role} names unknown asset {id:?}"));
            }
        }
        if let (Some(major), Some(minor)) = (major, minor) {
            links_from[major as usize].push(i as LinkIdx);
            links_to[minor as usize].push(i as LinkIdx);
        }
        link_ends.push((major.unwrap_or(0), minor.unwrap_or(0)));
    }
    if let Some((path, via)) = find_cycle(assets.len(), |a| {
        links_from[a].iter().filter_map(|&li| {
            let l = &links[li as usize];
            l.link_type
                .is_tree()
                .then(|| (link_ends[li as usize].1 as usize, li as usize))
        })
    }) {
        let ids: Vec<&str> = path.iter().map(|&i| assets[i].id.as_str()).collect();
        let link_ids: Vec<&str> = via.iter().map(|&l| links[l].link_id.as_str()).collect();
        let last = via.iter().map(|&l| link_lines[l]).max().unwrap_or(0);
        diags.push(
            file,
            last,
            format!(
                "cycle among non-reference links: {} through links {} (a tree may not contain itself; make one of them a reference link)",
                ids.join(" → "),
                link_ids.join(", ")
            ),
        );
    }
    LinkIndex {
        ends: link_ends,
        from: links_from,
        to: links_to,
    }
}

/// Permission rows name an asset and a principal; returns the rows per asset.
fn permissions(
    r: &Records,
    asset_index: &FxHashMap<String, AssetIdx>,
    principal_index: &HashMap<String, PrincipalIdx>,
    diags: &Diagnostics,
) -> Vec<Vec<Permission>> {
    let file = "permissions.jsonl";
    let mut permissions = vec![Vec::new(); r.assets.len()];
    for (i, p) in r.permissions.iter().enumerate() {
        let line = r.permission_lines[i];
        let asset = asset_index.get(&p.asset_id);
        let principal = principal_index.get(&p.principal_id);
        if asset.is_none() {
            diags.push(
                file,
                line,
                format!("asset_id names unknown asset {:?}", p.asset_id),
            );
        }
        if principal.is_none() {
            diags.push(
                file,
                line,
                format!("principal_id names unknown principal {:?}", p.principal_id),
            );
        }
        if let (Some(&a), Some(&pr)) = (asset, principal) {
            permissions[a as usize].push(Permission {
                principal: pr,
                access: p.access,
                granted: p.granted,
            });
        }
    }
    permissions
}

/// Token values are non-empty runs of non-whitespace and unique; `user_id` names a user (not a
/// group) and `root_nodes` names assets. Returns the value index.
fn tokens(
    r: &Records,
    asset_index: &FxHashMap<String, AssetIdx>,
    principal_index: &HashMap<String, PrincipalIdx>,
    diags: &Diagnostics,
) -> HashMap<String, u32> {
    let file = "tokens.jsonl";
    let (tokens, token_lines) = (&r.tokens, &r.token_lines);
    let mut token_index = HashMap::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        let line = token_lines[i];
        if t.token.is_empty() || t.token.chars().any(char::is_whitespace) {
            diags.push(
                file,
                line,
                format!("token of {:?} is empty or contains whitespace; tokens are runs of non-whitespace characters", t.name),
            );
        }
        if let Some(first) = token_index.insert(t.token.clone(), i as u32) {
            diags.push(
                file,
                line,
                format!(
                    "duplicate token value (first on line {}); tokens are unique",
                    token_lines[first as usize]
                ),
            );
            token_index.insert(t.token.clone(), first);
        }
        if let Some(user) = &t.user_id {
            match principal_index.get(user) {
                None => diags.push(
                    file,
                    line,
                    format!("user_id names unknown principal {user:?}"),
                ),
                Some(&p) if r.principals[p as usize].kind == PrincipalKind::Group => diags.push(
                    file,
                    line,
                    format!("user_id {user:?} is a group; a token belongs to a user"),
                ),
                Some(_) => {}
            }
        }
        for root in &t.root_nodes {
            if !asset_index.contains_key(root) {
                diags.push(
                    file,
                    line,
                    format!("root_nodes names unknown asset {root:?}"),
                );
            }
        }
    }
    token_index
}

/// A DFS frame: (node, the edge that led here, edges still to follow).
type Frame = (usize, usize, Vec<(usize, usize)>);

/// Finds a cycle in a graph of `n` nodes given `edges(node) -> (target, edge id)`; returns the
/// nodes on the cycle and the edge ids along it. Iterative (deep trees must not overflow).
fn find_cycle<I>(n: usize, edges: impl Fn(usize) -> I) -> Option<(Vec<usize>, Vec<usize>)>
where
    I: Iterator<Item = (usize, usize)>,
{
    const WHITE: u8 = 0;
    const GREY: u8 = 1;
    const BLACK: u8 = 2;
    let mut color = vec![WHITE; n];
    for start in 0..n {
        if color[start] != WHITE {
            continue;
        }
        let mut stack: Vec<Frame> = vec![(start, usize::MAX, edges(start).collect())];
        color[start] = GREY;
        while let Some((node, _, pending)) = stack.last_mut() {
            match pending.pop() {
                Some((next, edge)) => match color[next] {
                    WHITE => {
                        color[next] = GREY;
                        stack.push((next, edge, edges(next).collect()));
                    }
                    GREY => {
                        let from = stack.iter().position(|(v, _, _)| *v == next).unwrap_or(0);
                        let mut nodes: Vec<usize> =
                            stack[from..].iter().map(|(v, _, _)| *v).collect();
                        nodes.push(next);
                        let mut via: Vec<usize> =
                            stack[from + 1..].iter().map(|(_, e, _)| *e).collect();
                        via.push(edge);
                        return Some((nodes, via));
                    }
                    _ => {}
                },
                None => {
                    color[*node] = BLACK;
                    stack.pop();
                }
            }
        }
    }
    None
}
