//! Spec §4 "Who may read what", one test per rule, over `store::fixture::RULES`.

use crate::access::{Unusable, View};
use crate::store::fixture::RULES;
use crate::store::Store;

/// The view of the token with this value.
fn view(store: &Store, token: &str) -> Result<View, Unusable> {
    let idx = store.token_by_value(token).expect("a fixture token");
    View::for_token(store, idx)
}

/// Whether the (usable) token `token` may read the asset `id`.
fn reads(store: &Store, token: &str, id: &str) -> bool {
    let asset = store.asset_by_id(id).expect("a fixture asset");
    view(store, token).expect("a usable token").can_read(asset)
}

/// §4 step 2: groups nest transitively (Ed → Web Editors → Staff reads the intranet).
#[test]
fn nested_groups_grant_through_every_level() {
    let store = RULES.load();
    assert!(reads(&store, "ed", "203"));
    assert!(!reads(&store, "pub", "203"));
}

/// §4 step 3: a deny at exactly the checked level wins over grants.
#[test]
fn deny_at_checked_level_wins() {
    let store = RULES.load();
    assert!(!reads(&store, "dan", "9"), "dan is denied read on 9");
    assert!(reads(&store, "pub", "9"));
}

/// §4 step 3: a deny at another level does not block this level (deny write, read granted).
#[test]
fn deny_at_other_level_does_not_block() {
    let store = RULES.load();
    let ed = view(&store, "ed").unwrap();
    let idx = store.asset_by_id("78").unwrap();
    assert!(ed.can_read(idx));
    assert!(!ed.can_write(idx), "deny write beats the write grant");
}

/// §4 step 4: the public user joins after the deny check; its deny binds only itself.
#[test]
fn public_deny_binds_only_the_public_user() {
    let store = RULES.load();
    // 205: public has deny read + admin grant. The public user itself is denied...
    assert!(!reads(&store, "pub", "205"));
    // ...but other users get the public admin grant (≥ read) without the public deny.
    assert!(reads(&store, "ed", "205"));
}

/// §4 step 5: a grant at a higher level implies lower ones; status below LIVE needs write.
#[test]
fn status_gate_needs_write_below_live() {
    let store = RULES.load();
    assert!(
        !reads(&store, "pub", "200"),
        "under construction, read only"
    );
    assert!(reads(&store, "ed", "200"), "write grant passes the gate");
}

/// §4 step 1: root and system administrators pass every check, the status gate included;
/// trashed assets are in no view.
#[test]
fn system_admin_reads_everything() {
    let store = RULES.load();
    for id in ["200", "203", "9", "205", "101"] {
        assert!(reads(&store, "admin", id), "{id}");
    }
    assert!(
        !reads(&store, "admin", "202"),
        "trashed assets are in no view"
    );
}

/// §4 root nodes: the root and what lies beneath it through menu/hidden/invisible links.
#[test]
fn root_nodes_limit_the_view() {
    let store = RULES.load();
    assert!(reads(&store, "research", "30"));
    assert!(
        reads(&store, "research", "78"),
        "linked under the research site too"
    );
    assert!(!reads(&store, "research", "3"));
    assert!(!reads(&store, "research", "100"));
    assert!(reads(&store, "intranet", "204"));
}

/// §4 [D]: reference links do not put an asset under a root node.
#[test]
fn reference_links_do_not_count_for_root_nodes() {
    let store = RULES.load();
    // 205 is only referenced from site 3, and menu-linked under 5 (which is under 3): reachable.
    assert!(reads(&store, "ed", "205"));
    assert!(!reads(&store, "research", "205"));
}

/// §4 [D]: a trashed root node grants nothing, and trashed assets break root-node paths.
#[test]
fn trashed_root_node_grants_nothing() {
    let store = RULES.load();
    assert!(
        !reads(&store, "binroot", "206"),
        "206 lies only under trashed 202"
    );
    assert!(reads(&store, "admin", "206"), "but exists");
}

/// §3 401: disabled, trashed and user-less tokens are unusable.
#[test]
fn unusable_tokens() {
    let store = RULES.load();
    assert_eq!(view(&store, "off").unwrap_err(), Unusable::Disabled);
    assert_eq!(view(&store, "bin").unwrap_err(), Unusable::Trashed);
    assert_eq!(view(&store, "nobody").unwrap_err(), Unusable::NoUser);
}

#[test]
fn readable_counts_per_token() {
    let store = RULES.load();
    let pub_view = view(&store, "pub").unwrap();
    // 16 assets: not 202 (trashed), 203 (staff), 200 (status gate), 205 (public deny).
    assert_eq!(pub_view.readable_count(), 12);
    assert_eq!(pub_view.readable().count(), 12);
}
