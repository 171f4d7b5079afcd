//! Stores and profiles with names that are hard to spell — in a path, in JavaScript, in a Lua
//! string literal — for the hosts' conformance tests.

use super::{asking, export_store_with};
use crate::util::repo;
use matrix_snapshot::conformance::{Case, Harness};
use matrix_snapshot::snapshot::path;
use matrix_snapshot::Catalog;
use std::fs;
use std::path::{Path, PathBuf};

/// The odd context of [`hostile_api12`].
pub const ODD_CONTEXT: &str = "q\"uo'te\\back]]slash \u{101} </script>";

/// An asset added to the demo store by [`demo_store_with`].
pub struct OddAsset<'a> {
    pub id: String,
    pub url: String,
    pub type_code: &'a str,
    pub type_name: &'a str,
}

/// A copy of the demo store in `dir/store` with `odd` assets added: each published, readable
/// by demo-public, the first under the site (7) and each next one under the one before
/// (children and lineage of odd ids).
pub fn demo_store_with(dir: &Path, odd: &[OddAsset]) -> PathBuf {
    let store = dir.join("store");
    fs::create_dir_all(&store).unwrap();
    for f in [
        "store.json",
        "assets.jsonl",
        "links.jsonl",
        "permissions.jsonl",
        "principals.jsonl",
        "tokens.jsonl",
    ] {
        fs::copy(repo("demo/store").join(f), store.join(f)).unwrap();
    }
    let mut assets = String::new();
    let mut links = String::new();
    let mut perms = String::new();
    for (i, a) in odd.iter().enumerate() {
        let when = serde_json::json!({"date": "2020-01-01T10:00:00+13:00", "user_id": "10"});
        let asset = serde_json::json!({
            "id": a.id, "type": a.type_code, "type_name": a.type_name, "version": "0.0.1",
            "name": format!("Odd {i}"), "short_name": format!("Odd {i}"), "status": 16,
            "created": when, "updated": when, "published": when, "status_changed": when,
            "urls": [a.url], "attributes": {"name": format!("Odd {i}")}, "metadata": null,
            "contents": "", "trashed": false,
        });
        assets.push_str(&format!("{asset}\n"));
        let parent = if i == 0 { "7" } else { odd[i - 1].id.as_str() };
        let link = serde_json::json!({
            "link_id": format!("odd{i}"), "major_id": parent, "minor_id": a.id,
            "link_type": "menu", "value": "", "sort_order": 90 + i,
            "is_dependent": false, "is_exclusive": false,
        });
        links.push_str(&format!("{link}\n"));
        let perm = serde_json::json!({
            "asset_id": a.id, "principal_id": "15", "access": "read", "granted": true,
        });
        perms.push_str(&format!("{perm}\n"));
    }
    for (file, extra) in [
        ("assets.jsonl", assets),
        ("links.jsonl", links),
        ("permissions.jsonl", perms),
    ] {
        let mut text = fs::read_to_string(store.join(file)).unwrap();
        text.push_str(&extra);
        fs::write(store.join(file), text).unwrap();
    }
    store
}

/// Declares `contexts` in `store` (its store.json), writes a profile with both `include_dependents`,
/// `base_urls` (TOML, as written) and every context to `dir/hostile12.toml`, and exports `store`
/// with it for demo-public into `dir/out`. Asserts the routes table declares the contexts (the
/// third as given) and a variant for each; returns the snapshot.
pub fn export_hostile12(dir: &Path, store: &Path, contexts: &[&str], base_urls: &str) -> PathBuf {
    export_hostile12_with(dir, store, contexts, base_urls, &[])
}

/// [`export_hostile12`] with `extra` export arguments (`--layout pack`).
pub fn export_hostile12_with(
    dir: &Path,
    store: &Path,
    contexts: &[&str],
    base_urls: &str,
    extra: &[&str],
) -> PathBuf {
    let meta = serde_json::json!({
        "format": "matrix-snapshot-store/1",
        "name": "Demo University",
        "contexts": contexts,
    });
    fs::write(store.join("store.json"), meta.to_string()).unwrap();
    let profile = dir.join("hostile12.toml");
    fs::write(
        &profile,
        format!(
            r#"
data = [[], ["urls"]]
children_data = [[]]
sort_by = ["tree"]
sort_order = ["asc"]
limits = [100]
include_dependents = [false, true]
base_urls = {base_urls}
contexts = "all"
"#
        ),
    )
    .unwrap();
    let out = export_store_with(dir, store, "demo-public", profile.to_str().unwrap(), extra);
    let routes: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("_routers/routes.json")).unwrap()).unwrap();
    assert_eq!(routes["contexts"][2], contexts[2]);
    let variants: Vec<usize> = (0..contexts.len()).collect();
    assert_eq!(routes["context_variants"], serde_json::json!(variants));
    out
}

/// The demo store with odd assets (non-ASCII, dotted and percent-spelled ids and URLs, one id
/// long enough for chunked names) and two more declared contexts whose names are hard to spell
/// in JavaScript (quotes, a backslash, `</script>`, non-ASCII; U+2028, a line terminator in
/// older JavaScript), and a profile with `base_url` values holding such bytes and control
/// bytes (JSON's `\u00XX`), exported for demo-public into `dir/out`: its catalog and the
/// snapshot.
pub fn hostile_api12(dir: &Path) -> (Catalog, PathBuf) {
    hostile_api12_with(dir, &[])
}

/// [`hostile_api12`] with `extra` export arguments (`--layout pack`).
pub fn hostile_api12_with(dir: &Path, extra: &[&str]) -> (Catalog, PathBuf) {
    let odd = |id: String, url: String| OddAsset {
        id,
        url,
        type_code: "page_standard",
        type_name: "Standard Page",
    };
    let store = demo_store_with(
        dir,
        &[
            odd(
                "\u{c9}".repeat(150),
                format!("https://www.uni.test/caf\u{e9}/{}", "\u{101}".repeat(20)),
            ),
            odd(
                ".hidden".to_string(),
                "https://www.uni.test/.well-known/\u{dc}n\u{ef} Space+Plus".to_string(),
            ),
            odd(
                "UPPER Case%41+plus".to_string(),
                "https://WWW.uni.test/A%41/b".to_string(),
            ),
        ],
    );
    let out = export_hostile12_with(
        dir,
        &store,
        &[
            "Default",
            "M\u{101}ori",
            ODD_CONTEXT,
            "line\u{2028}sep\u{2029}",
        ],
        r#"["https://www.uni.test/q\"uo'te\\back]]slash\u0001\u001f\u007f</script>", "http://\u00dcn\u00ef.test/\u0101%41\u2028"]"#,
        extra,
    );
    (
        Catalog::new(matrix_snapshot::Store::load(&store).unwrap()),
        out,
    )
}

/// Asserts `cases` ask often (over 20 times each) for the odd context and the odd `base_url`
/// of [`export_hostile12`]'s profiles.
pub fn assert_asks_odd_names(cases: &[Case]) {
    assert!(
        asking(cases, "context=q%22uo%27te%5Cback%5D%5Dslash") > 20,
        "corpus asks for the odd context"
    );
    assert!(
        asking(cases, "%01%1F%7F") > 20,
        "corpus asks for the odd base_url"
    );
}

/// Asserts each of `dirs` (under `public/`) holds an asset anchor in the snapshot `out`.
pub fn assert_anchored(out: &Path, dirs: impl IntoIterator<Item = String>) {
    let public = out.join("public");
    for dir in dirs {
        assert!(
            public.join(&dir).join("~asset.----.json").is_file(),
            "{dir}"
        );
    }
}

/// Whether the corpus of `seed` over [`hostile_api12`]'s snapshot asks for its odd names.
pub fn assert_corpus_asks_hostile_names(cat: &Catalog, out: &Path, seed: u64) {
    let cases = Harness::open(cat, out).unwrap().corpus(seed, 10_000);
    assert_asks_odd_names(&cases);
    // A pack snapshot's anchors are index entries, not files (its routers are judged instead).
    if matrix_snapshot::snapshot::check_format(out).unwrap()
        == matrix_snapshot::snapshot::Layout::Files
    {
        assert_anchored(
            out,
            [
                path::asset_dir(&"\u{c9}".repeat(150)),
                path::url_dir("www.uni.test/.well-known/\u{dc}n\u{ef} Space+Plus"),
            ],
        );
    }
    let odd = |p: &str| {
        cases
            .iter()
            .filter(|c| c.target.contains(p) && !c.target.contains("url="))
            .count()
    };
    assert!(
        odd("/__api/assets/%C3%89%C3%89") > 0,
        "corpus asks for the odd ids"
    );
}
