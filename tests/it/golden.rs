//! Golden answers of the demo site under `snapshots/demo/api/`, compared byte for byte.
//! `UPDATE_SNAPSHOTS=1 cargo test` rewrites them; review the diff like code.

use crate::util::repo;
use matrix_snapshot::api::{Data, SortKey};
use matrix_snapshot::store::url::Scheme;
use matrix_snapshot::{answer, Catalog, Request};
use std::fmt::Write as _;

/// (file name, token, target, status) for every golden request.
fn cases() -> Vec<(String, &'static str, String, u16)> {
    let mut c: Vec<(String, &'static str, String, u16)> = vec![];
    let mut add = |name: &str, token: &'static str, target: &str, status: u16| {
        c.push((name.to_string(), token, target.to_string(), status));
    };
    add("asset-home", "demo-public", "/__api/assets/100", 200);
    add(
        "asset-shadow-id",
        "demo-public",
        "/__api/assets/42%3Aldap%2Fuid%3Djbloggs?data=urls,attributes",
        200,
    );
    add(
        "asset-image",
        "demo-public",
        "/__api/assets/1234?data=urls,attributes,metadata,contents",
        200,
    );
    add(
        "asset-floats",
        "demo-public",
        "/__api/assets/198?data=attributes",
        200,
    );
    add(
        "asset-safe-edit-public",
        "demo-public",
        "/__api/assets/133?data=attributes,contents",
        200,
    );
    add(
        "asset-safe-edit-editor",
        "demo-editor",
        "/__api/assets/911?data=attributes,contents",
        200,
    );
    add(
        "by-url-open-day-events",
        "demo-public",
        "/__api/assets/by_url/lineage/site?url=http://www.uni.test/events/open-day-2024/",
        200,
    );
    add(
        "by-url-open-day",
        "demo-public",
        "/__api/assets/by_url?url=https%3A%2F%2Fwww.uni.test%2Fstudy%2Fopen-day-2024&data=urls",
        200,
    );
    add(
        "lineage-open-day",
        "demo-public",
        "/__api/assets/136/lineage/site?data=urls",
        200,
    );
    add(
        "lineage-by-url-kelp-research",
        "demo-public",
        "/__api/assets/by_url/lineage/site?url=https://research.uni.test/news/marine-kelp-forests",
        200,
    );
    add(
        "lineage-research-token",
        "demo-research",
        "/__api/assets/893/lineage/site",
        200,
    );
    add(
        "lineage-bodycopy-div",
        "demo-public",
        "/__api/assets/102/lineage/site",
        200,
    );
    add(
        "children-news-tree",
        "demo-public",
        "/__api/assets/106/children",
        200,
    );
    add(
        "children-news-tree-desc",
        "demo-public",
        "/__api/assets/106/children?sort_order=desc",
        200,
    );
    for (key, name) in SortKey::ALL {
        let slug = name.replace('.', "-");
        add(
            &format!("children-news-by-{slug}-asc"),
            "demo-editor",
            &format!("/__api/assets/106/children?sort_by={name}"),
            200,
        );
        add(
            &format!("children-news-by-{slug}-desc"),
            "demo-editor",
            &format!("/__api/assets/106/children?sort_by={name}&sort_order=desc"),
            200,
        );
        let _ = key;
    }
    add(
        "children-news-page-2-of-10",
        "demo-public",
        "/__api/assets/106/children?limit=10&page=2&data=urls",
        200,
    );
    add(
        "children-news-limit-0",
        "demo-public",
        "/__api/assets/106/children?limit=0",
        200,
    );
    add(
        "children-root-types",
        "demo-admin",
        "/__api/assets/1/children?asset_types=site",
        200,
    );
    add(
        "children-by-url-home-pages",
        "demo-public",
        "/__api/assets/by_url/children?url=https://www.uni.test&asset_types=page_standard,folder",
        200,
    );
    for data in Data::all_subsets() {
        let q = data.canonical();
        let slug = if q.is_empty() {
            "none".to_string()
        } else {
            q.replace(',', "-")
        };
        add(
            &format!("data-{slug}"),
            "demo-public",
            &format!("/__api/assets/893?data={q}"),
            200,
        );
    }
    add(
        "error-400",
        "demo-public",
        "/__api/assets/106/children?limit=abc",
        400,
    );
    // Content API 1.2.0 parameters.
    add(
        "home-include-dependents",
        "demo-public",
        "/__api/assets/100?include_dependents=true&data=contents",
        200,
    );
    add(
        "home-context-maori",
        "demo-public",
        "/__api/assets/100?context=M%C4%81ori&data=attributes,metadata,contents",
        200,
    );
    add(
        "home-context-maori-dependents",
        "demo-public",
        "/__api/assets/by_url?url=https://www.uni.test/home&context=M%C4%81ori&include_dependents=true&data=contents",
        200,
    );
    add(
        "site-children-context-maori",
        "demo-public",
        "/__api/assets/7/children?context=M%C4%81ori&limit=5",
        200,
    );
    add(
        "home-base-url-http",
        "demo-public",
        "/__api/assets/100?base_url=http://www.uni.test/&data=urls",
        200,
    );
    add(
        "error-400-undeclared-context",
        "demo-public",
        "/__api/assets/100?context=maori",
        400,
    );
    add("error-401", "demo-disabled", "/__api/assets/100", 401);
    add("error-403", "demo-public", "/__api/assets/109", 403);
    add("error-404", "demo-public", "/__api/assets/165", 404);
    c
}

#[test]
fn demo_golden_answers() {
    let catalog = Catalog::new(matrix_snapshot::demo::store().expect("demo store"));
    let dir = repo("snapshots/demo/api");
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    if update {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut index = String::from("# file\ttoken\tstatus\trequest (Host: www.uni.test, https)\n");
    let mut mismatches = vec![];
    for (name, token, target, status) in cases() {
        let req = Request::get(&target)
            .bearer(token)
            .on_host(Scheme::Https, "www.uni.test");
        let r = answer(&catalog, &req);
        assert_eq!(
            r.status,
            status,
            "{name}: {target}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let _ = writeln!(index, "{name}.json\t{token}\t{status}\t{target}");
        let path = dir.join(format!("{name}.json"));
        if update {
            std::fs::write(&path, &r.body).unwrap();
        } else {
            let want = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (run UPDATE_SNAPSHOTS=1 cargo test)",
                    path.display()
                )
            });
            if want != r.body {
                mismatches.push(name);
            }
        }
    }
    let index_path = dir.join("INDEX.tsv");
    if update {
        std::fs::write(&index_path, &index).unwrap();
    } else {
        assert_eq!(
            std::fs::read_to_string(&index_path).unwrap(),
            index,
            "INDEX.tsv is stale"
        );
    }
    assert!(
        mismatches.is_empty(),
        "golden answers differ (UPDATE_SNAPSHOTS=1 cargo test, then review): {mismatches:?}"
    );
}
