//! Generated stores: valid, deterministic, of the promised shape.

use super::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

use crate::store::FILES;

fn make(assets: u64, seed: u64) -> (tempfile::TempDir, std::path::PathBuf, GenerateReport) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("store");
    let report = generate(
        &GenerateOptions {
            assets,
            seed,
            ..Default::default()
        },
        &out,
    )
    .expect("generate");
    (tmp, out, report)
}

fn lines(dir: &Path, file: &str) -> Vec<Value> {
    let text = fs::read_to_string(dir.join(file)).expect("read");
    text.lines()
        .enumerate()
        .map(|(k, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{file}:{}: {e}: {l}", k + 1))
        })
        .collect()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// URL normalisation as the spec's by_url matching: scheme ignored, a
/// trailing slash ignored, host lower-cased.
fn normalise(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    match rest.split_once('/') {
        Some((host, path)) => format!("{}/{path}", host.to_lowercase()),
        None => rest.to_lowercase(),
    }
}

/// Every check the store loader makes, on a generated store.
fn check_store(dir: &Path, report: &GenerateReport) {
    let store: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("store.json")).unwrap()).unwrap();
    assert_eq!(store["format"], "matrix-snapshot-store/1");
    assert_eq!(store["contexts"], serde_json::json!(["Default"]));

    let assets = lines(dir, "assets.jsonl");
    let links = lines(dir, "links.jsonl");
    let principals = lines(dir, "principals.jsonl");
    let perms = lines(dir, "permissions.jsonl");
    let tokens = lines(dir, "tokens.jsonl");
    assert_eq!(report.assets, assets.len() as u64);
    assert_eq!(report.links, links.len() as u64);
    assert_eq!(report.principals, principals.len() as u64);
    assert_eq!(report.permissions, perms.len() as u64);
    assert_eq!(report.tokens, tokens.len() as u64);
    let bytes: u64 = FILES
        .iter()
        .map(|f| fs::metadata(dir.join(f)).unwrap().len())
        .sum();
    assert_eq!(report.bytes, bytes);

    let asset_keys = [
        "id",
        "type",
        "type_name",
        "version",
        "name",
        "short_name",
        "status",
        "created",
        "updated",
        "published",
        "status_changed",
        "urls",
        "attributes",
        "metadata",
        "contents",
        "trashed",
        "live",
    ];
    let mut ids = HashSet::new();
    let mut urls: HashMap<String, String> = HashMap::new();
    for a in &assets {
        let obj = a.as_object().unwrap();
        for k in obj.keys() {
            assert!(asset_keys.contains(&k.as_str()), "unknown key {k}");
        }
        let id = s(&a["id"]).to_owned();
        assert!(!id.is_empty() && !id.chars().any(char::is_control) && id != "by_url");
        assert!(ids.insert(id.clone()), "duplicate asset id {id}");
        s(&a["type"]);
        s(&a["type_name"]);
        s(&a["name"]);
        assert!([1, 2, 4, 8, 16, 32, 64, 128, 256].contains(&a["status"].as_u64().unwrap()));
        for key in ["created", "updated", "published", "status_changed"] {
            let d = &a[key];
            assert_eq!(d.as_object().unwrap().len(), 2);
            if let Some(date) = d["date"].as_str() {
                time::OffsetDateTime::parse(date, &time::format_description::well_known::Rfc3339)
                    .unwrap_or_else(|e| panic!("{date}: {e}"));
                assert!(date.ends_with(":00") && !date.ends_with('Z'), "{date}");
            }
        }
        if a["status"].as_u64().unwrap() < 16 {
            assert!(a["published"]["date"].is_null());
        }
        for (_, v) in a["attributes"].as_object().unwrap() {
            assert!(v.is_string() || v.is_number() || v.is_boolean());
        }
        let n = a["attributes"].as_object().unwrap().len();
        assert!((3..=10).contains(&n));
        match &a["metadata"] {
            Value::Null => {}
            Value::Object(m) => {
                for (_, v) in m {
                    assert!(v.as_array().unwrap().iter().all(Value::is_string));
                }
            }
            v => panic!("metadata {v}"),
        }
        if let Some(live) = a.get("live") {
            assert!([64, 128, 256].contains(&a["status"].as_u64().unwrap()));
            let keys: Vec<_> = live.as_object().unwrap().keys().cloned().collect();
            assert_eq!(
                keys,
                [
                    "name",
                    "short_name",
                    "version",
                    "attributes",
                    "metadata",
                    "contents"
                ]
            );
        }
        if let Some(list) = a.get("urls") {
            for u in list.as_array().unwrap() {
                let u = s(u);
                assert!(u.starts_with("https://") || u.starts_with("http://"), "{u}");
                if let Some(other) = urls.insert(normalise(u), id.clone()) {
                    assert_eq!(other, id, "URL {u} used by two assets");
                }
            }
        }
    }
    assert!(ids.contains("1"));

    let mut link_ids = HashSet::new();
    let mut graph: HashMap<&str, Vec<&str>> = HashMap::new();
    for l in &links {
        assert_eq!(l.as_object().unwrap().len(), 8);
        assert!(
            link_ids.insert(s(&l["link_id"]).to_owned()),
            "duplicate link id"
        );
        let (major, minor) = (s(&l["major_id"]), s(&l["minor_id"]));
        assert!(ids.contains(major), "unknown major {major}");
        assert!(ids.contains(minor), "unknown minor {minor}");
        let t = s(&l["link_type"]);
        assert!(["menu", "hidden", "invisible", "reference"].contains(&t));
        assert!(l["sort_order"].is_i64());
        if t != "reference" {
            graph.entry(major).or_default().push(minor);
        }
    }
    // No cycle among non-reference links (iterative three-colour DFS).
    let mut colour: HashMap<&str, u8> = HashMap::new();
    for start in ids.iter().map(String::as_str) {
        if colour.contains_key(start) {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        colour.insert(start, 1);
        while let Some((node, k)) = stack.pop() {
            let next = graph.get(node).and_then(|c| c.get(k)).copied();
            match next {
                Some(child) => {
                    stack.push((node, k + 1));
                    match colour.get(child) {
                        Some(1) => panic!("cycle through {child}"),
                        Some(_) => {}
                        None => {
                            colour.insert(child, 1);
                            stack.push((child, 0));
                        }
                    }
                }
                None => {
                    colour.insert(node, 2);
                }
            }
        }
    }
    // Every asset but the root has a non-reference parent.
    let with_parent: HashSet<&str> = graph.values().flatten().copied().collect();
    assert_eq!(with_parent.len() + 1, ids.len());

    let mut pids = HashMap::new();
    for p in &principals {
        let id = s(&p["id"]).to_owned();
        assert!(!ids.contains(&id), "principal id {id} is also an asset id");
        assert!(
            pids.insert(id, s(&p["kind"]).to_owned()).is_none(),
            "duplicate principal"
        );
    }
    assert_eq!(pids.values().filter(|k| *k == "public").count(), 1);
    let mut group_parents: HashMap<String, Vec<String>> = HashMap::new();
    for p in &principals {
        for g in p
            .get("groups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            assert_eq!(pids[s(g)], "group");
            if p["kind"] == "group" {
                group_parents
                    .entry(s(&p["id"]).to_owned())
                    .or_default()
                    .push(s(g).to_owned());
            }
        }
    }
    for start in group_parents.keys() {
        let mut seen = HashSet::new();
        let mut todo = vec![start.clone()];
        while let Some(g) = todo.pop() {
            for parent in group_parents.get(&g).into_iter().flatten() {
                assert_ne!(parent, start, "group cycle");
                if seen.insert(parent.clone()) {
                    todo.push(parent.clone());
                }
            }
        }
    }
    let mut rows = HashSet::new();
    for p in &perms {
        assert!(ids.contains(s(&p["asset_id"])));
        assert!(pids.contains_key(s(&p["principal_id"])));
        assert!(["read", "write", "admin"].contains(&s(&p["access"])));
        assert!(p["granted"].is_boolean());
        let key = (
            s(&p["asset_id"]).to_owned(),
            s(&p["principal_id"]).to_owned(),
            s(&p["access"]).to_owned(),
        );
        assert!(rows.insert(key), "duplicate permission row {p}");
    }
    let mut seen_tokens = HashSet::new();
    for t in &tokens {
        let token = s(&t["token"]);
        assert!(!token.chars().any(char::is_whitespace));
        assert!(seen_tokens.insert(token.to_owned()));
        if let Some(user) = t["user_id"].as_str() {
            assert_ne!(pids[user], "group");
        }
        for root in t["root_nodes"].as_array().unwrap() {
            assert!(ids.contains(s(root)));
        }
    }
}

fn read_all(dir: &Path) -> Vec<Vec<u8>> {
    FILES
        .iter()
        .map(|f| fs::read(dir.join(f)).unwrap())
        .collect()
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (_a, a, ra) = make(2000, 1);
    let (_b, b, rb) = make(2000, 1);
    let (_c, c, _) = make(2000, 2);
    assert_eq!(ra, rb);
    assert_eq!(read_all(&a), read_all(&b));
    assert_ne!(read_all(&a)[1], read_all(&c)[1]);
}

#[test]
fn generated_store_is_valid() {
    let (_t, dir, report) = make(2000, 1);
    assert_eq!(report.assets, 2000);
    check_store(&dir, &report);
}

#[test]
fn tiny_stores_are_valid() {
    for assets in (1..40).chain([49, 50, 51, 97]) {
        let (_t, dir, report) = make(assets, assets * 31);
        assert_eq!(report.assets, assets);
        check_store(&dir, &report);
    }
}

#[test]
fn larger_store_has_the_promised_shape() {
    let (_t, dir, report) = make(30_000, 9);
    check_store(&dir, &report);
    let assets = lines(&dir, "assets.jsonl");
    let links = lines(&dir, "links.jsonl");
    let count = |f: &dyn Fn(&Value) -> bool| assets.iter().filter(|a| f(a)).count();
    let n = assets.len();
    let shadow = count(&|a| s(&a["id"]).contains(":item/"));
    let trashed = count(&|a| a["trashed"] == true);
    let live = count(&|a| a["status"] == 16);
    let with_live = count(&|a| a.get("live").is_some());
    let sites = count(&|a| a["type"] == "site");
    assert!((2..=3).contains(&sites));
    assert!(
        shadow > n / 1000 && shadow < n / 100,
        "shadow ids: {shadow}"
    );
    assert!(trashed > n / 200 && trashed < n / 30, "trashed: {trashed}");
    assert!(live > n * 7 / 10 && live < n * 9 / 10, "live: {live}");
    assert!(with_live > 0);
    for t in [
        "folder",
        "page_standard",
        "news_item",
        "file",
        "image",
        "pdf_file",
        "bodycopy",
        "content_type_wysiwyg",
    ] {
        assert!(count(&|a| a["type"] == t) > 0, "no {t}");
    }
    // Fan-out and depth over non-reference, non-dependent links.
    let mut children: HashMap<&str, usize> = HashMap::new();
    let mut parent: HashMap<&str, &str> = HashMap::new();
    let mut second = 0;
    for l in &links {
        if l["link_type"] == "reference" {
            continue;
        }
        if !l["is_dependent"].as_bool().unwrap() {
            *children.entry(s(&l["major_id"])).or_default() += 1;
        }
        if parent
            .insert(s(&l["minor_id"]), s(&l["major_id"]))
            .is_some()
        {
            second += 1;
        }
    }
    assert!(second > n / 200, "second parents: {second}");
    let widest = children.values().copied().max().unwrap();
    assert!(widest >= 200, "widest folder has {widest} children");
    fn depth<'a>(parent: &HashMap<&'a str, &'a str>, mut id: &'a str) -> usize {
        let mut d = 0;
        while let Some(p) = parent.get(id) {
            id = p;
            d += 1;
        }
        d
    }
    let deepest = assets
        .iter()
        .map(|a| depth(&parent, s(&a["id"])))
        .max()
        .unwrap();
    assert!((5..=12).contains(&deepest), "depth {deepest}");
    assert!(count(&|a| a["contents"].as_str().unwrap().contains("Māori")) > 0);
}

/// `--contexts`: declared in store.json, about 2 assets in 5 translated per context, the
/// store loads (every override valid), and every other byte is as without contexts.
#[test]
fn contexts_are_declared_and_overridden_without_changing_the_rest() {
    let (_t1, plain, _) = make(2000, 9);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("store");
    generate(
        &GenerateOptions {
            assets: 2000,
            seed: 9,
            contexts: vec!["fr".into(), "Māori".into()],
        },
        &out,
    )
    .unwrap();
    let store: Value =
        serde_json::from_str(&fs::read_to_string(out.join("store.json")).unwrap()).unwrap();
    assert_eq!(
        store["contexts"],
        serde_json::json!(["Default", "fr", "Māori"])
    );
    let loaded = crate::store::Store::load(&out).expect("the store loads");
    let translated = |c: &str| {
        loaded
            .assets
            .iter()
            .filter(|a| a.contexts.iter().any(|(n, _)| n == c))
            .count()
    };
    for c in ["fr", "Māori"] {
        let n = translated(c);
        assert!((600..1000).contains(&n), "{c}: {n} of 2000");
    }
    // Without the contexts key, each line is the plain store's line.
    for file in [
        "links.jsonl",
        "permissions.jsonl",
        "principals.jsonl",
        "tokens.jsonl",
    ] {
        assert_eq!(
            fs::read(plain.join(file)).unwrap(),
            fs::read(out.join(file)).unwrap(),
            "{file}"
        );
    }
    let strip = |l: &str| {
        let mut v: Value = serde_json::from_str(l).unwrap();
        v.as_object_mut().unwrap().remove("contexts");
        v
    };
    let a = fs::read_to_string(plain.join("assets.jsonl")).unwrap();
    let b = fs::read_to_string(out.join("assets.jsonl")).unwrap();
    assert!(a.lines().map(strip).eq(b.lines().map(strip)));
    let bad = generate(
        &GenerateOptions {
            assets: 10,
            seed: 1,
            contexts: vec!["Default".into()],
        },
        &tmp.path().join("bad"),
    );
    assert!(bad.unwrap_err().to_string().contains("declared twice"));
}

#[test]
fn refuses_a_non_empty_directory_and_accepts_an_empty_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("store");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("keep.txt"), "x").unwrap();
    let err = generate(
        &GenerateOptions {
            assets: 10,
            seed: 1,
            ..Default::default()
        },
        &out,
    )
    .unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
    // Nothing left beside it either.
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);

    fs::remove_file(out.join("keep.txt")).unwrap();
    let report = generate(
        &GenerateOptions {
            assets: 10,
            seed: 1,
            ..Default::default()
        },
        &out,
    )
    .unwrap();
    check_store(&out, &report);
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    assert!(generate(
        &GenerateOptions {
            assets: 0,
            seed: 1,
            ..Default::default()
        },
        &tmp.path().join("zero")
    )
    .is_err());
}
