//! The library's layering (`docs/architecture.md`), checked: a module imports only from the
//! layers below it, so no cycle can form and the snapshot format stays one layer that every
//! reader shares. Test code (`#[cfg(test)]` modules and files) may reach higher to build its
//! fixtures; the library and the binary may not.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Each top-level module's layer. A module may import from a lower layer, and from a module of
/// its own layer only where [`SIDEWAYS`] lists the pair. A module missing here fails the test:
/// place a new module deliberately.
const LAYERS: &[(&str, u8)] = &[
    // Leaves: depend on nothing in the crate.
    ("rng", 0),
    ("tree", 0),
    ("rss", 0),
    ("cpu", 0),
    // 1. load a store.
    ("store", 1),
    ("demo", 2),
    ("generate", 2),
    // 2. a token's view.
    ("access", 2),
    // 3. answer a request.
    ("api", 3),
    ("crawl", 3),
    // 4. the on-disk snapshot format; the HTTP layer (serve answers the live API over it,
    // route's preview serves a snapshot with it).
    ("snapshot", 4),
    ("serve", 4),
    // 5. routing over a snapshot's files; the hosts' configs.
    ("route", 5),
    ("router", 5),
    // 6. write a snapshot.
    ("export", 6),
    // 7. read snapshots.
    ("verify", 7),
    ("diff", 7),
    ("archive", 7),
    ("conformance", 7),
    // 8. the command line (the binary).
    ("cli", 8),
];

/// Pairs of one layer where the first may import the second (never both ways).
const SIDEWAYS: &[(&str, &str)] = &[
    ("generate", "store"),
    ("router", "route"),
    ("archive", "verify"),
];

/// What must never happen whatever the layers say: the readers of snapshots and the routing
/// layers do not reach into the exporter.
const FORBIDDEN: &[(&str, &str)] = &[
    ("snapshot", "export"),
    ("route", "export"),
    ("router", "export"),
    ("verify", "export"),
    ("diff", "export"),
    ("archive", "export"),
    ("conformance", "export"),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a file under `src/` belongs to (`cli` for the binary).
fn module_of(rel: &Path) -> String {
    let first = rel.components().next().expect("a path");
    let name = first.as_os_str().to_string_lossy();
    match name.strip_suffix(".rs") {
        Some("main") => "cli".to_string(),
        Some(m) => m.to_string(),
        None => name.to_string(),
    }
}

/// `text` without comments (line comments only: the crate has no block comments in code) and
/// without string literals' contents, so doc links and messages are not imports.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = '\0';
        let mut kept = String::new();
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if !in_str && c == '/' && chars.get(i + 1) == Some(&'/') {
                break;
            }
            // Character literals (`'{'`, `'\''`) are not code either; lifetimes are left.
            if !in_str && c == '\'' {
                let end = if chars.get(i + 1) == Some(&'\\') {
                    (i + 2..chars.len()).find(|&j| chars[j] == '\'')
                } else if chars.get(i + 2) == Some(&'\'') {
                    Some(i + 2)
                } else {
                    None
                };
                if let Some(end) = end {
                    kept.push_str("' '");
                    i = end + 1;
                    prev = '\'';
                    continue;
                }
            }
            if c == '"' && prev != '\\' && !(prev == '\'' && chars.get(i + 1) == Some(&'\'')) {
                in_str = !in_str;
                kept.push('"');
            } else if !in_str {
                kept.push(c);
            }
            prev = if prev == '\\' && c == '\\' { '\0' } else { c };
            i += 1;
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// Removes `#[cfg(test)]` items written inline (`#[cfg(test)] mod tests { … }`), by brace depth.
fn without_inline_tests(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        // The item ends at the first `;` before any `{` (a declaration: its file is skipped by
        // name), or at the `}` that closes its first `{`.
        let semi = after.find(';');
        let open = after.find('{');
        let end = match (semi, open) {
            (Some(s), Some(o)) if s < o => s + 1,
            (Some(s), None) => s + 1,
            (_, Some(o)) => {
                let mut depth = 0;
                let mut end = after.len();
                for (i, c) in after[o..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = o + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (None, None) => after.len(),
        };
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Files declared `#[cfg(test)] mod name;` (test-only files), as paths relative to `src/`.
fn test_only_files(files: &[(PathBuf, String)]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for (rel, text) in files {
        let dir = match rel.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs") | Some("lib.rs") | Some("main.rs") => {
                rel.parent().unwrap_or(Path::new("")).to_path_buf()
            }
            _ => rel.with_extension(""),
        };
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            if pair[0] != "#[cfg(test)]" {
                continue;
            }
            let decl = pair[1]
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ");
            if let Some(name) = decl.strip_prefix("mod ").and_then(|d| d.strip_suffix(';')) {
                out.insert(dir.join(format!("{name}.rs")));
                out.insert(dir.join(name).join("mod.rs"));
            }
        }
    }
    out
}

/// Module → the modules its non-test code imports (with one file that does, for the message).
fn imports() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let root = src();
    let mut files = Vec::new();
    for e in walkdir::WalkDir::new(&root) {
        let e = e.unwrap();
        if e.path().extension().is_some_and(|x| x == "rs") {
            let rel = e.path().strip_prefix(&root).unwrap().to_path_buf();
            files.push((rel, fs::read_to_string(e.path()).unwrap()));
        }
    }
    let tests = test_only_files(&files);
    let mut deps: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for (rel, text) in &files {
        if tests.contains(rel) || rel == Path::new("lib.rs") {
            continue;
        }
        let module = module_of(rel);
        let code = without_inline_tests(&code_only(text));
        let mut add = |target: &str| {
            if target != module && !target.is_empty() {
                deps.entry(module.clone())
                    .or_default()
                    .entry(target.to_string())
                    .or_insert_with(|| rel.clone());
            }
        };
        // `crate::x…` and `matrix_snapshot::x…` paths, and the items of grouped imports
        // (`use crate::{x, y::z}`).
        for prefix in ["crate::", "matrix_snapshot::"] {
            for (at, _) in code.match_indices(prefix) {
                let after = &code[at + prefix.len()..];
                if let Some(group) = after.strip_prefix('{') {
                    let mut depth = 1;
                    let mut item = String::new();
                    let mut items = Vec::new();
                    for c in group.chars() {
                        match c {
                            '{' => depth += 1,
                            '}' => depth -= 1,
                            _ => {}
                        }
                        if depth == 0 {
                            break;
                        }
                        if c == ',' && depth == 1 {
                            items.push(std::mem::take(&mut item));
                        } else {
                            item.push(c);
                        }
                    }
                    items.push(item);
                    for item in items {
                        let name: String = item
                            .trim()
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                            add(&name);
                        }
                    }
                } else {
                    let name: String = after
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    // Lower case: a module (`crate::Store` is a re-export at the root).
                    if name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                        add(&name);
                    }
                }
            }
        }
    }
    deps
}

#[test]
fn every_module_imports_only_from_the_layers_below() {
    let layer: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let deps = imports();
    let mut problems = Vec::new();
    for (module, targets) in &deps {
        let Some(&from) = layer.get(module.as_str()) else {
            problems.push(format!(
                "src/{module}: not placed in a layer (add it to LAYERS in tests/it/layering.rs and to docs/architecture.md)"
            ));
            continue;
        };
        for (target, file) in targets {
            let Some(&to) = layer.get(target.as_str()) else {
                problems.push(format!(
                    "{}: imports `{target}`, which is not placed in a layer",
                    file.display()
                ));
                continue;
            };
            let sideways = SIDEWAYS.contains(&(module.as_str(), target.as_str()));
            if FORBIDDEN.contains(&(module.as_str(), target.as_str()))
                || to > from
                || (to == from && !sideways)
            {
                problems.push(format!(
                    "src/{}: `{module}` (layer {from}) imports `{target}` (layer {to})",
                    file.display()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_import_graph_has_no_cycle() {
    let deps = imports();
    // Depth-first search for a back edge.
    fn visit<'a>(
        m: &'a str,
        deps: &'a BTreeMap<String, BTreeMap<String, PathBuf>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| *s == m) {
            let mut cycle: Vec<String> = stack[at..].iter().map(|s| s.to_string()).collect();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if !done.insert(m) {
            return None;
        }
        stack.push(m);
        for t in deps.get(m).into_iter().flat_map(|t| t.keys()) {
            if let Some(c) = visit(t, deps, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for m in deps.keys() {
        if let Some(cycle) = visit(m, &deps, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}

/// The checker itself sees what it must: grouped imports, paths in code, not comments, strings
/// or test modules.
#[test]
fn the_checker_reads_imports_as_written() {
    let code = without_inline_tests(&code_only(
        "use crate::{api::Data, snapshot::{self, path}};\n\
         // crate::export in a comment\n\
         let s = \"crate::export in a string\";\n\
         fn f() { crate::store::load(); }\n\
         #[cfg(test)]\n\
         mod tests { use crate::export::Entry; }\n",
    ));
    assert!(code.contains("crate::{api::Data, snapshot::{self, path}}"));
    assert!(code.contains("crate::store::load"));
    assert!(!code.contains("export"), "{code}");
}
