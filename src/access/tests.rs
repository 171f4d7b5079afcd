//! Spec §4 "Who may read what", one test per rule, over `api::fixture`.

use crate::api::fixture::{catalog, get};
use crate::api::Catalog;

fn status(cat: &Catalog, token: &str, id: &str) -> u16 {
    get(
        cat,
        token,
        &format!("/__api/assets/{}", id.replace('/', "%2F")),
    )
    .status
}

/// §4 step 2: groups nest transitively (Ed → Web Editors → Staff reads the intranet).
#[test]
fn nested_groups_grant_through_every_level() {
    let cat = catalog();
    assert_eq!(status(&cat, "ed", "203"), 200);
    assert_eq!(status(&cat, "pub", "203"), 403);
}

/// §4 step 3: a deny at exactly the checked level wins over grants.
#[test]
fn deny_at_checked_level_wins() {
    let cat = catalog();
    assert_eq!(status(&cat, "dan", "9"), 403, "dan is denied read on 9");
    assert_eq!(status(&cat, "pub", "9"), 200);
}

/// §4 step 3: a deny at another level does not block this level (deny write, read granted).
#[test]
fn deny_at_other_level_does_not_block() {
    let cat = catalog();
    let ed = cat.view(1).unwrap();
    let idx = cat.store.asset_by_id("78").unwrap();
    assert!(ed.can_read(idx));
    assert!(!ed.can_write(idx), "deny write beats the write grant");
}

/// §4 step 4: the public user joins after the deny check; its deny binds only itself.
#[test]
fn public_deny_binds_only_the_public_user() {
    let cat = catalog();
    // 205: public has deny read + admin grant. The public user itself is denied...
    assert_eq!(status(&cat, "pub", "205"), 403);
    // ...but other users get the public admin grant (≥ read) without the public deny.
    assert_eq!(status(&cat, "ed", "205"), 200);
}

/// §4 step 5: a grant at a higher level implies lower ones; status below LIVE needs write.
#[test]
fn status_gate_needs_write_below_live() {
    let cat = catalog();
    assert_eq!(
        status(&cat, "pub", "200"),
        403,
        "under construction, read only"
    );
    assert_eq!(
        status(&cat, "ed", "200"),
        200,
        "write grant passes the gate"
    );
}

/// §4 step 1: root and system administrators pass every check, the status gate included.
#[test]
fn system_admin_reads_everything() {
    let cat = catalog();
    for id in ["200", "203", "9", "205", "101"] {
        assert_eq!(status(&cat, "admin", id), 200, "{id}");
    }
    assert_eq!(
        status(&cat, "admin", "202"),
        404,
        "trashed assets do not exist"
    );
}

/// §4 root nodes: the root and what lies beneath it through menu/hidden/invisible links.
#[test]
fn root_nodes_limit_the_view() {
    let cat = catalog();
    assert_eq!(status(&cat, "research", "30"), 200);
    assert_eq!(
        status(&cat, "research", "78"),
        200,
        "linked under the research site too"
    );
    assert_eq!(status(&cat, "research", "3"), 403);
    assert_eq!(status(&cat, "research", "100"), 403);
    assert_eq!(status(&cat, "intranet", "204"), 200);
}

/// §4 [D]: reference links do not put an asset under a root node.
#[test]
fn reference_links_do_not_count_for_root_nodes() {
    let cat = catalog();
    // 205 is only referenced from site 3, and menu-linked under 5 (which is under 3): reachable.
    assert_eq!(status(&cat, "ed", "205"), 200);
    let research = cat.view(3).unwrap();
    assert!(!research.can_read(cat.store.asset_by_id("205").unwrap()));
}

/// §4 [D]: a trashed root node grants nothing, and trashed assets break root-node paths.
#[test]
fn trashed_root_node_grants_nothing() {
    let cat = catalog();
    assert_eq!(
        status(&cat, "binroot", "206"),
        403,
        "206 lies only under trashed 202"
    );
    assert_eq!(status(&cat, "admin", "206"), 200, "but exists");
}

/// §3 401: disabled, trashed and user-less tokens are unusable.
#[test]
fn unusable_tokens() {
    use crate::access::Unusable;
    let cat = catalog();
    let by_name = |n: &str| cat.store.token_by_value(n).unwrap();
    assert_eq!(cat.view(by_name("off")).unwrap_err(), Unusable::Disabled);
    assert_eq!(cat.view(by_name("bin")).unwrap_err(), Unusable::Trashed);
    assert_eq!(cat.view(by_name("nobody")).unwrap_err(), Unusable::NoUser);
}

#[test]
fn readable_counts_per_token() {
    let cat = catalog();
    let pub_view = cat.view(0).unwrap();
    // 16 assets: not 202 (trashed), 203 (staff), 200 (status gate), 205 (public deny).
    assert_eq!(pub_view.readable_count(), 12);
    assert_eq!(pub_view.readable().count(), 12);
}
