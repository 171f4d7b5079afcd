//! The repository stands on its own: no tracked file points at a folder beside it, and the
//! documents that replace that folder (`docs/content-api.md`, `docs/store-format.md`) are
//! checked against the code (their example store loads and answers as they say; their links to
//! `docs/decisions.md` resolve).

use crate::util::{repo, run};
use matrix_snapshot::{answer, Catalog, Request, Store};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder's name, assembled so that this file does not match its own search.
const SHARED: &str = concat!("sha", "red");

/// Every tracked file (`git ls-files`), or, without git or outside a work tree, every file of
/// the tree but `target/`, `node_modules/` and `.git/`.
fn tracked_files(root: &Path) -> Vec<PathBuf> {
    let git = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output();
    if let Ok(out) = git {
        if out.status.success() && !out.stdout.is_empty() {
            return out
                .stdout
                .split(|&b| b == 0)
                .filter(|p| !p.is_empty())
                .map(|p| root.join(String::from_utf8_lossy(p).as_ref()))
                .collect();
        }
    }
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| {
            !matches!(
                e.file_name().to_str(),
                Some("target" | "node_modules" | ".git")
            )
        })
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

/// Where `line` refers to the folder beside the repository: `../` and its name (followed by `/`
/// or the end of a word), or a path that starts with its name then `/spec`, `/research` or
/// `/seeds` (not preceded by a path character, so `te-tiriti-settlement-research/` or
/// `src/NAME/spec` do not count).
fn refers_to_shared(line: &str) -> bool {
    let beside = format!("../{SHARED}");
    let mut from = 0;
    while let Some(i) = line[from..].find(&beside) {
        let end = from + i + beside.len();
        match line[end..].chars().next() {
            None => return true,
            Some(c) if c == '/' || !(c.is_alphanumeric() || c == '_' || c == '-') => return true,
            _ => from = end,
        }
    }
    ["spec", "research", "seeds"].iter().any(|sub| {
        let needle = format!("{SHARED}/{sub}");
        line.match_indices(&needle).any(|(i, _)| {
            line[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '\\')))
        })
    })
}

#[test]
fn the_matcher_finds_references_and_only_those() {
    let s = SHARED;
    for hit in [
        format!("see ../{s}/spec/content-api.md"),
        format!("runs with ../{s} beside it"),
        format!("`{s}/research/limits.md` has the figures"),
        format!("{s}/seeds/a.txt"),
        format!("(\"{s}/spec/store-format.md\")"),
        format!("concat!(env!(\"X\"), \"/../{s}/spec/vectors/x.jsonl\")"),
    ] {
        assert!(refers_to_shared(&hit), "not found in {hit:?}");
    }
    for miss in [
        "__api/assets/by_url/www.uni.test/news/archive/te-tiriti-settlement-research/".to_string(),
        format!("src/{s}/spec/x"),
        format!("pre{s}/spec"),
        format!("../{s}-cache/x"),
        format!("{s}/cache"),
        format!("a {s} folder"),
    ] {
        assert!(!refers_to_shared(&miss), "false hit in {miss:?}");
    }
}

/// Issue 15: a clone with nothing beside it builds, tests and documents itself.
#[test]
fn no_tracked_file_refers_to_the_shared_folder_beside_the_repository() {
    let root = repo("");
    let files = tracked_files(&root);
    assert!(
        files.iter().any(|f| f.ends_with("Cargo.toml")),
        "no files listed under {}",
        root.display()
    );
    let mut found = Vec::new();
    for file in &files {
        let Ok(bytes) = std::fs::read(file) else {
            continue; // listed by git but deleted in the work tree
        };
        let text = String::from_utf8_lossy(&bytes);
        for (n, line) in text.lines().enumerate() {
            if refers_to_shared(line) {
                let rel = file.strip_prefix(&root).unwrap_or(file);
                found.push(format!("{}:{}: {}", rel.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "these lines point at the {SHARED}/ folder beside the repository, which a clone does \
         not have; point them at docs/content-api.md or docs/store-format.md (or copy test data \
         into tests/fixtures/):\n{}",
        found.join("\n")
    );
}

/// The fenced blocks of a Markdown file: (info string, body).
fn fences(markdown: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_string(), String::new())),
            (Some(_), Some(_)) => out.push(open.take().expect("open fence")),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "unclosed code fence");
    out
}

/// docs/store-format.md's example store: the blocks labelled `json store.json` and
/// `jsonl NAME.jsonl`, written into a fresh directory.
fn example_store(doc: &str) -> (tempfile::TempDir, BTreeMap<String, String>) {
    let mut files = BTreeMap::new();
    for (info, body) in fences(doc) {
        let mut words = info.split_whitespace();
        if let (Some("json" | "jsonl"), Some(name)) = (words.next(), words.next()) {
            assert!(
                files.insert(name.to_string(), body).is_none(),
                "{name} given twice"
            );
        }
    }
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "assets.jsonl",
            "links.jsonl",
            "permissions.jsonl",
            "principals.jsonl",
            "store.json",
            "tokens.jsonl"
        ],
        "docs/store-format.md must give every file of the example store"
    );
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in &files {
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    (dir, files)
}

fn body(cat: &Catalog, token: &str, target: &str) -> (u16, Value) {
    let r = answer(cat, &Request::get(target).bearer(token));
    (r.status, serde_json::from_slice(&r.body).unwrap())
}

/// docs/store-format.md: the example store loads, `check` prints what the document shows, the
/// pretty-printed record equals its line, and the answers the document describes are the API's.
#[test]
fn store_format_example_is_a_valid_store() {
    let doc = std::fs::read_to_string(repo("docs/store-format.md")).unwrap();
    let (dir, files) = example_store(&doc);

    // `check` accepts it and prints the summary the document shows (but the fingerprint).
    let out = run(&["check", "--store", dir.path().to_str().unwrap()], 0);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let shown = doc
        .split_once("on the files above prints:")
        .and_then(|(_, rest)| fences(rest).into_iter().next())
        .expect("the `check` output block of docs/store-format.md")
        .1;
    let without_fingerprint = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.trim_start().starts_with("fingerprint"))
            .map(|l| l.trim_end().to_string())
            .collect()
    };
    assert_eq!(without_fingerprint(&stdout), without_fingerprint(&shown));

    // Every plain `json` block that shows an asset equals that asset's line.
    let assets: Vec<Value> = files["assets.jsonl"]
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut pretty = 0;
    for (info, block) in fences(&doc) {
        if info == "json" {
            let v: Value = serde_json::from_str(&block).expect("a json block parses");
            let line = assets
                .iter()
                .find(|a| a["id"] == v["id"])
                .expect("the asset shown is in assets.jsonl");
            assert_eq!(&v, line);
            pretty += 1;
        }
    }
    assert!(pretty >= 1, "no pretty-printed asset checked");

    // The answers the section "What the example answers" describes.
    let cat = Catalog::new(Store::load(dir.path()).unwrap());
    let ids = |v: &Value| -> Vec<String> {
        v["assets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, children) = body(&cat, "tiny-public", "/__api/assets/1/children");
    assert_eq!(
        (status, ids(&children)),
        (200, vec!["2".into(), "4".into()])
    );
    let (_, news) = body(&cat, "tiny-public", "/__api/assets/4");
    assert_eq!(
        news["name"], "Open day 2024",
        "readers without write see live"
    );
    let (_, news) = body(&cat, "tiny-staff", "/__api/assets/4");
    assert_eq!(
        news["name"], "Open day 2025 (draft)",
        "writers see the draft"
    );
    let (_, about) = body(
        &cat,
        "tiny-public",
        "/__api/assets/2?include_dependents=true",
    );
    assert_eq!(about["include_dependents"][0]["id"], "3");
    let staff = "/__api/assets/by_url?url=https://www.tiny.test/staff";
    assert_eq!(body(&cat, "tiny-public", staff).0, 403);
    let (status, room) = body(&cat, "tiny-staff", staff);
    assert_eq!((status, room["name"].as_str()), (200, Some("Staff room")));
    let (_, fr) = body(
        &cat,
        "tiny-public",
        "/__api/assets/2?context=fr&data=attributes",
    );
    assert_eq!(fr["name"], "À propos du collège");
    assert_eq!(fr["short_name"], "À propos");
    assert_eq!(fr["attributes"]["name"], "À propos du collège");
    assert_eq!(fr["attributes"]["short_name"], "About", "merged key by key");
    assert_eq!(body(&cat, "tiny-old", "/__api/assets/1").0, 401);
    assert_eq!(body(&cat, "tiny-unset", "/__api/assets/1").0, 401);
    assert_eq!(
        body(&cat, "tiny-public", "/__api/assets/6").0,
        404,
        "trashed"
    );
}

/// GitHub's heading anchor: lower case, punctuation dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut in_fence = false;
    let mut out = BTreeSet::new();
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence && line.starts_with('#') {
            out.insert(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// docs/content-api.md and docs/store-format.md: every relative link names a file of docs/ and
/// a heading of it; every decision id they cite has its row in docs/decisions.md, under the
/// heading the link names; every D-0xx row of docs/decisions.md is cited by the contract.
#[test]
fn contract_documents_link_to_their_decisions() {
    let docs = repo("docs");
    let read = |name: &str| std::fs::read_to_string(docs.join(name)).unwrap();
    let decisions = read("decisions.md");
    // Row id → the anchor of the section it sits in.
    let row_id = regex::Regex::new(r"^[A-Z]-\d{3}$").unwrap();
    let mut section_of = BTreeMap::new();
    let mut section = String::new();
    for line in decisions.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            section = slug(h);
        } else if let Some(rest) = line.strip_prefix("| ") {
            if let Some(id) = rest.split(" |").next() {
                if row_id.is_match(id) {
                    section_of.insert(id.to_string(), section.clone());
                }
            }
        }
    }
    assert!(section_of.len() > 50, "decision rows not found");

    let link = regex::Regex::new(r"\[([^\]]*)\]\(([a-z0-9_-]+\.md)(?:#([^)]*))?\)").unwrap();
    let id = regex::Regex::new(r"\b([A-Z])-(\d{3})(?:…([A-Z])-(\d{3}))?").unwrap();
    let mut cited = BTreeSet::new();
    for name in ["content-api.md", "store-format.md"] {
        let text = read(name);
        for m in link.captures_iter(&text) {
            let (label, file) = (&m[1], &m[2]);
            let target = std::fs::read_to_string(docs.join(file))
                .unwrap_or_else(|_| panic!("{name}: link to missing docs/{file}"));
            if let Some(anchor) = m.get(3) {
                assert!(
                    anchors(&target).contains(anchor.as_str()),
                    "{name}: no heading #{} in docs/{file}",
                    anchor.as_str()
                );
                if file == "decisions.md" {
                    for c in id.captures_iter(label) {
                        let first: u32 = c[2].parse().unwrap();
                        let last: u32 = c.get(4).map_or(first, |l| l.as_str().parse().unwrap());
                        for n in first..=last {
                            let key = format!("{}-{n:03}", &c[1]);
                            assert_eq!(
                                section_of.get(&key).map(String::as_str),
                                Some(anchor.as_str()),
                                "{name}: {key} is not a row under #{}",
                                anchor.as_str()
                            );
                            cited.insert(key);
                        }
                    }
                }
            }
        }
    }
    let uncited: Vec<&String> = section_of
        .keys()
        .filter(|k| k.starts_with("D-") && !cited.contains(*k))
        .collect();
    assert!(
        uncited.is_empty(),
        "decisions of the contract that docs/content-api.md does not link: {uncited:?}"
    );
}
