//! Stage 2: who may read what (spec §4). `View::for_token` turns a token into the set of assets
//! its user may read — effective read access (with the status gate) ∩ the root-node restriction,
//! trashed assets excluded — plus the write bits that pick safe-editing `live` versions.
//!
//! Everything is computed once per token, in one linear pass over the assets' own permission
//! rows (rows are already cascaded: nothing is inherited) and one walk down from the root nodes,
//! so a view of a 1M-asset store costs O(assets + rows + links), never quadratic.

use crate::store::{Access, AssetIdx, LinkType, PrincipalIdx, PrincipalKind, Status, Store};
use rayon::prelude::*;

/// Why a known token cannot be used (all answer 401 `invalid_token`, spec §3 errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    /// `enabled: false`.
    #[error("the token is disabled")]
    Disabled,
    /// `trashed: true`.
    #[error("the token is trashed")]
    Trashed,
    /// `user_id: null`.
    #[error("the token has no user")]
    NoUser,
}

const READ: u8 = 1;
const WRITE: u8 = 2;

/// What one token may see.
#[derive(Debug, Clone)]
pub struct View {
    /// Index of the token in [`Store::tokens`].
    pub token: u32,
    /// The token's user.
    pub user: PrincipalIdx,
    flags: Vec<u8>,
}

/// The principals a check looks at: the user and every group above it (spec §4 step 2).
struct Principals {
    member: Vec<bool>,
    bypass: bool,
    public: Option<PrincipalIdx>,
}

impl Principals {
    fn of(store: &Store, user: PrincipalIdx) -> Principals {
        let mut member = vec![false; store.principals.len()];
        let mut todo = vec![user];
        while let Some(p) = todo.pop() {
            if !std::mem::replace(&mut member[p as usize], true) {
                todo.extend_from_slice(store.groups_of(p));
            }
        }
        let kind = store.principal(user).kind;
        Principals {
            member,
            bypass: matches!(kind, PrincipalKind::Root | PrincipalKind::SystemAdmin),
            public: store.public_user(),
        }
    }

    /// Matrix's `_checkPermissionAccess` for one asset and level (spec §4 steps 1–5).
    fn has(&self, store: &Store, asset: AssetIdx, level: Access) -> bool {
        // 1. root and system administrators pass every check.
        if self.bypass {
            return true;
        }
        let rows = store.permissions(asset);
        // 3. a deny at exactly this level for the user or one of its groups.
        if rows
            .iter()
            .any(|r| !r.granted && r.access == level && self.member[r.principal as usize])
        {
            return false;
        }
        // 4–5. the public user joins after the deny check; a grant at ≥ level wins.
        rows.iter().any(|r| {
            r.granted
                && r.access >= level
                && (self.member[r.principal as usize] || Some(r.principal) == self.public)
        })
    }
}

impl View {
    /// The view of the token at `token` (an index in [`Store::tokens`]).
    pub fn for_token(store: &Store, token: u32) -> Result<View, Unusable> {
        let t = &store.tokens[token as usize];
        if t.trashed {
            return Err(Unusable::Trashed);
        }
        if !t.enabled {
            return Err(Unusable::Disabled);
        }
        let user_id = t.user_id.as_deref().ok_or(Unusable::NoUser)?;
        let user = store
            .principal_by_id(user_id)
            .expect("store validation resolves token users");
        let principals = Principals::of(store, user);
        let in_roots = roots_closure(store, &t.root_nodes);
        let flags = store
            .assets
            .par_iter()
            .enumerate()
            .map(|(i, asset)| {
                let i = i as AssetIdx;
                if asset.trashed {
                    return 0;
                }
                let write = principals.has(store, i, Access::Write);
                // Status gate: below LIVE, reading is a write check (spec §4).
                // (A deny at exactly read blocks a LIVE asset even for a user granted write.)
                let read = if asset.status < Status::LIVE {
                    write
                } else {
                    principals.has(store, i, Access::Read)
                };
                let in_view = read && in_roots.as_ref().is_none_or(|r| r[i as usize]);
                (if in_view { READ } else { 0 }) | (if write { WRITE } else { 0 })
            })
            .collect();
        Ok(View { token, user, flags })
    }

    /// The asset is in this token's view (readable, inside its root nodes, not trashed).
    pub fn can_read(&self, asset: AssetIdx) -> bool {
        self.flags[asset as usize] & READ != 0
    }

    /// The user has write access (so it sees the current version of a safe-edited asset).
    pub fn can_write(&self, asset: AssetIdx) -> bool {
        self.flags[asset as usize] & WRITE != 0
    }

    /// How many assets the view can read.
    pub fn readable_count(&self) -> usize {
        self.flags.iter().filter(|f| **f & READ != 0).count()
    }

    /// Every readable asset, in store order.
    pub fn readable(&self) -> impl Iterator<Item = AssetIdx> + '_ {
        self.flags
            .iter()
            .enumerate()
            .filter(|(_, f)| **f & READ != 0)
            .map(|(i, _)| i as AssetIdx)
    }
}

/// Assets that are a root node or lie beneath one through menu/hidden/invisible links, never
/// through a trashed asset; `None` when the token has no root nodes (no restriction).
fn roots_closure(store: &Store, roots: &[String]) -> Option<Vec<bool>> {
    if roots.is_empty() {
        return None;
    }
    let mut inside = vec![false; store.assets.len()];
    let mut todo: Vec<AssetIdx> = roots
        .iter()
        .filter_map(|id| store.asset_by_id(id))
        .filter(|&a| !store.asset(a).trashed)
        .collect();
    while let Some(a) = todo.pop() {
        if std::mem::replace(&mut inside[a as usize], true) {
            continue;
        }
        for &l in store.links_from(a) {
            let child = store.link_ends(l).1;
            if store.link(l).link_type != LinkType::Reference
                && !store.asset(child).trashed
                && !inside[child as usize]
            {
                todo.push(child);
            }
        }
    }
    Some(inside)
}

#[cfg(test)]
mod tests;
