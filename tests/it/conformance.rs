//! The conformance harness against `preview` (the reference router over a snapshot's files):
//! 100 % agreement with `answer()` on 10,000+ requests for the demo store and a generated one,
//! and proof that the harness notices a wrong answer.

use crate::hosts::{demo, export, export_store, generated_store};
use crate::util::{bin, export_args, run, Served};
use matrix_snapshot::conformance::{self, Harness, Tally};
use matrix_snapshot::Catalog;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// The demo export of most tests here: demo-public, `minimal`, with a base URL.
const PUBLIC_MINIMAL: &[&str] = &[
    "--token",
    "demo-public",
    "--profile",
    "minimal",
    "--base-url",
    "https://www.uni.test",
];

/// Starts `preview` on the snapshot and replays `n` requests.
pub fn check_preview(cat: &Catalog, snapshot: &Path, seed: u64, n: usize) -> (Tally, Vec<u16>) {
    let harness = Harness::open(cat, snapshot).expect("harness");
    let cases = harness.corpus(seed, n);
    let statuses = cases.iter().map(|c| harness.expect_status(c)).collect();
    let served = Served::spawn(&[
        "preview",
        snapshot.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--quiet",
    ]);
    let tally = conformance::run_http(&harness, &cases, &served.addr);
    (tally, statuses)
}

fn assert_all_right(tally: &Tally, label: &str) {
    assert!(tally.passed(), "{}", tally.report(label, 20));
    assert_eq!(tally.agree, tally.compared());
}

/// The corpus is not a pile of 404s: every status the API gives shows up in numbers.
fn assert_covers_every_status(statuses: &[u16]) {
    let mut counts: BTreeMap<u16, usize> = BTreeMap::new();
    for s in statuses {
        *counts.entry(*s).or_default() += 1;
    }
    for (status, at_least) in [
        (200, 2700),
        (400, 300),
        (401, 300),
        (403, 100),
        (404, 500),
        (405, 100),
    ] {
        let n = counts.get(&status).copied().unwrap_or(0);
        assert!(
            n >= at_least,
            "status {status}: {n} of {} requests ({counts:?})",
            statuses.len()
        );
    }
}

#[test]
fn preview_agrees_with_the_api_on_the_demo_minimal_export() {
    let tmp = tempfile::tempdir().unwrap();
    let out = export(tmp.path(), PUBLIC_MINIMAL);
    let cat = demo();
    let (tally, statuses) = check_preview(&cat, &out, 1, 10_000);
    assert_all_right(&tally, "preview");
    assert!(tally.compared() >= 8_000, "{}", tally.report("preview", 0));
    assert!(
        tally.not_exported >= 300,
        "out-of-profile requests are exercised"
    );
    assert_covers_every_status(&statuses);
}

#[test]
fn preview_agrees_with_a_rich_profile_root_nodes_cors_and_public() {
    let tmp = tempfile::tempdir().unwrap();
    let profile = tmp.path().join("p.toml");
    fs::write(
        &profile,
        indoc::indoc! {r#"
            data = [[], ["urls"], ["attributes", "contents"]]
            children_data = [[], ["metadata"]]
            sort_by = ["tree", "name", "created.date", "status_changed.userid"]
            sort_order = ["asc", "desc"]
            limits = [2, 0, 100]
            asset_types = [[], ["news_item"], ["page_standard", "folder"]]
        "#},
    )
    .unwrap();
    let cat = demo();
    for (i, extra) in [
        &[
            "--token",
            "demo-research",
            "--base-url",
            "https://research.uni.test",
        ][..],
        &["--token", "demo-editor", "--cors", "https://app.uni.test"][..],
        &["--token", "demo-public", "--public"][..],
    ]
    .into_iter()
    .enumerate()
    {
        let dir = tmp.path().join(i.to_string());
        let mut args = vec!["--profile", profile.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = export(&dir, &args);
        let (tally, _) = check_preview(&cat, &out, 7 + i as u64, 4_000);
        assert_all_right(&tally, &format!("preview {extra:?}"));
        assert!(tally.not_exported > 0 && tally.agree > 3_000);
    }
}

#[test]
fn preview_agrees_on_a_generated_store() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, cat) = generated_store(tmp.path());
    for token in ["gen-editor", "gen-site1"] {
        let out = export_store(&tmp.path().join(token), &store, token, "minimal");
        let (tally, statuses) = check_preview(&cat, &out, 3, 10_000);
        assert_all_right(&tally, token);
        assert_covers_every_status(&statuses);
    }
}

/// The harness fails when a host answers wrong: a tampered body, a file removed.
#[test]
fn the_harness_notices_wrong_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let out = export(tmp.path(), PUBLIC_MINIMAL);
    let asset = out.join("public/__api/assets/100/~asset.----.json");
    let mut body = fs::read(&asset).unwrap();
    body[2] ^= 1;
    // Break the hard links first: only this route changes.
    fs::remove_file(&asset).unwrap();
    fs::write(&asset, &body).unwrap();
    fs::remove_file(out.join("public/__api/assets/100/~lineage.uamc.json")).unwrap();
    let cat = demo();
    let harness = Harness::open(&cat, &out).unwrap();
    let bearer = Some("Bearer demo-public".to_string());
    let case = |target: &str| conformance::Case {
        method: "GET".into(),
        target: target.into(),
        authorization: bearer.clone(),
    };
    let mut cases = harness.corpus(1, 2_000);
    cases.push(case("/__api/assets/100"));
    cases.push(case(
        "/__api/assets/100/lineage/site?data=contents,urls,metadata,attributes",
    ));
    let served = Served::spawn(&[
        "preview",
        out.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--quiet",
    ]);
    let tally = conformance::run_http(&harness, &cases, &served.addr);
    assert!(!tally.passed(), "{}", tally.report("tampered", 5));
    let report = tally.report("tampered", 50);
    assert!(report.contains("body"), "{report}");
    assert!(report.contains("status 404 (want 200)"), "{report}");
}

#[test]
fn conformance_cli_reports_and_sets_the_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let out = export(
        tmp.path(),
        &["--token", "demo-public", "--profile", "minimal"],
    );
    let o = run(
        &[
            "conformance",
            "--snapshot",
            out.to_str().unwrap(),
            "--requests",
            "2000",
        ],
        0,
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("agreement") && stdout.contains("(100.00 %)"),
        "{stdout}"
    );
    // Another store than the one exported: refused with a clear message.
    let store = tmp.path().join("store");
    run(
        &[
            "generate",
            "--assets",
            "50",
            "--out",
            store.to_str().unwrap(),
        ],
        0,
    );
    let o = bin()
        .args([
            "conformance",
            "--snapshot",
            out.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("exported from store"));
}

/// A 200 must carry the table's `Cache-Control` and the blake3 `ETag` of its body.
#[test]
fn the_harness_checks_caching_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let out = export(
        tmp.path(),
        &["--token", "demo-public", "--profile", "minimal"],
    );
    let cat = demo();
    let harness = Harness::open(&cat, &out).unwrap();
    let case = conformance::Case {
        method: "GET".into(),
        target: "/__api/assets/100?data=urls,attributes,metadata,contents".into(),
        authorization: Some("Bearer demo-public".into()),
    };
    let conformance::Expected::Same(want) = harness.expect(&case) else {
        panic!("a readable asset answers as the API does");
    };
    assert_eq!(want.status, 200);
    let received = |etag: &str, cache: &str| conformance::Received {
        status: 200,
        headers: want
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .chain([
                ("ETag".to_string(), etag.to_string()),
                ("Cache-Control".to_string(), cache.to_string()),
            ])
            .collect(),
        body: want.body.clone(),
    };
    let etag = format!("\"{}\"", blake3::hash(&want.body).to_hex());
    assert!(matches!(
        harness.judge(&case, &received(&etag, "no-cache")),
        conformance::Outcome::Agree
    ));
    let wrong = harness.judge(&case, &received("\"1-2\"", "no-cache"));
    assert!(
        matches!(&wrong, conformance::Outcome::Differ(d) if d.contains("ETag")),
        "{wrong:?}"
    );
    let wrong = harness.judge(&case, &received(&etag, "max-age=60"));
    assert!(
        matches!(&wrong, conformance::Outcome::Differ(d) if d.contains("Cache-Control")),
        "{wrong:?}"
    );
}

/// `exclude_attributes` (a profile's documented deviation): the attribute is in no file, other
/// attributes are, and the snapshot still agrees with the API answering with the same exclusion.
#[test]
fn excluded_attributes_reach_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let profile = tmp.path().join("p.toml");
    fs::write(
        &profile,
        indoc::indoc! {r#"
            data = [[], ["attributes"], ["urls", "attributes", "metadata", "contents"]]
            children_data = [[], ["urls", "attributes", "metadata", "contents"]]
            sort_by = "tree"
            sort_order = ["asc"]
            limits = [100]
            exclude_attributes = ["api_key", "api_key"]
        "#},
    )
    .unwrap();
    let out = export(
        tmp.path(),
        &[
            "--token",
            "demo-admin",
            "--profile",
            profile.to_str().unwrap(),
        ],
    );
    let mut with_attributes = 0;
    for e in walkdir::WalkDir::new(out.join("public")) {
        let e = e.unwrap();
        if !e.file_type().is_file() {
            continue;
        }
        let body = fs::read_to_string(e.path()).unwrap();
        assert!(!body.contains("\"api_key\""), "{}", e.path().display());
        with_attributes += body.contains("\"attributes\":{\"name\"") as usize;
    }
    assert!(with_attributes > 100, "other attributes stay");
    let info = fs::read_to_string(out.join("snapshot.json")).unwrap();
    assert!(info.contains("\"exclude_attributes\""), "{info}");

    // Without the exclusion the secret is exported (so the check above can fail).
    let plain = tmp.path().join("plain");
    run(
        &export_args(
            "demo-admin",
            "minimal",
            plain.to_str().unwrap(),
            &["--quiet"],
        ),
        0,
    );
    let leaked = walkdir::WalkDir::new(plain.join("public"))
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .any(|e| {
            fs::read_to_string(e.path())
                .unwrap()
                .contains("\"api_key\"")
        });
    assert!(leaked, "the demo has an api_key attribute");

    let (tally, _) = check_preview(&demo(), &out, 21, 3_000);
    assert_all_right(&tally, "exclude_attributes");
}
