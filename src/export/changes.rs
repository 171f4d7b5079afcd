//! What an export changes against the previous snapshot (`--changed-list`): the route files
//! compared by hash, the files beside `public/` byte for byte.

use super::previous::Previous;
use super::Staged;
use crate::snapshot;
use rustc_hash::FxHashSet;
use std::fs;
use std::io;
use std::path::Path;

/// What changes between the previous snapshot and the new one, relative to the snapshot
/// directory, sorted: the lines of `--changed-list` (`A`dded, `M`odified, `D`eleted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Paths written that the previous snapshot did not have.
    pub added: Vec<String>,
    /// Paths whose bytes changed.
    pub modified: Vec<String>,
    /// Paths the new snapshot no longer has.
    pub deleted: Vec<String>,
    /// Files left as they were.
    pub unchanged: u64,
    /// List in upload order rather than by path (the pack layout: see [`Changes::name_status`]).
    pub upload_order: bool,
}

impl Changes {
    /// `git diff --name-status` style: `A\tpath`, `M\tpath`, `D\tpath`, sorted by path.
    ///
    /// With [`Changes::upload_order`] (the pack layout), in the order a host must take them so
    /// no reader ever sees a root naming objects not yet there: added and modified packs, then
    /// shards, then everything else (the root, the manifest…), each group by path; the
    /// deletions last.
    pub fn name_status(&self) -> String {
        if self.upload_order {
            let rank = |p: &str| {
                let packs = format!("{}/{}/packs/", snapshot::PUBLIC_DIR, snapshot::pack::DIR);
                let index = format!("{}/{}/index/", snapshot::PUBLIC_DIR, snapshot::pack::DIR);
                if p.starts_with(&packs) {
                    0
                } else if p.starts_with(&index) {
                    1
                } else {
                    2
                }
            };
            let mut up: Vec<(u8, &str, char)> = self
                .added
                .iter()
                .map(|p| (rank(p), p.as_str(), 'A'))
                .chain(self.modified.iter().map(|p| (rank(p), p.as_str(), 'M')))
                .collect();
            up.sort();
            let mut deleted: Vec<&str> = self.deleted.iter().map(String::as_str).collect();
            deleted.sort();
            return up
                .iter()
                .map(|(_, p, c)| format!("{c}\t{p}\n"))
                .chain(deleted.iter().map(|p| format!("D\t{p}\n")))
                .collect();
        }
        let mut lines: Vec<(&str, char)> = self
            .added
            .iter()
            .map(|p| (p.as_str(), 'A'))
            .chain(self.modified.iter().map(|p| (p.as_str(), 'M')))
            .chain(self.deleted.iter().map(|p| (p.as_str(), 'D')))
            .collect();
        lines.sort();
        lines.iter().map(|(p, c)| format!("{c}\t{p}\n")).collect()
    }

    /// Written files (added or modified).
    pub fn written(&self) -> usize {
        self.added.len() + self.modified.len()
    }
}

/// Compares the route files written this time (`fresh`: every entry not taken over from the
/// previous manifest) with the rest of the previous manifest; `kept` files were taken over
/// as they were. Meta files come next, with [`meta_changes`]. Without a previous snapshot,
/// nothing is listed here: the caller moves every path into `added` once it is done with them.
pub(super) fn route_changes(prev: Option<&Previous>, fresh: &[Staged], kept: u64) -> Changes {
    let mut c = Changes {
        unchanged: kept,
        ..Changes::default()
    };
    let Some(prev) = prev else {
        return c;
    };
    let mut produced: FxHashSet<&str> =
        FxHashSet::with_capacity_and_hasher(fresh.len(), Default::default());
    for e in fresh {
        produced.insert(&e.path);
        match prev.files.get(e.path.as_str()) {
            None => c.added.push(e.path.clone()),
            Some(f) if !f.holds(&e.blake3) => c.modified.push(e.path.clone()),
            Some(_) => c.unchanged += 1,
        }
    }
    c.deleted = prev
        .files
        .keys()
        .filter(|k| !produced.contains(k.as_ref()))
        .map(|k| k.to_string())
        .collect();
    c
}

/// Adds the staged meta files (manifest, `snapshot.json`, `_routers/`, `_cache/`) compared
/// with the previous snapshot in `out` to `c`, and sorts its lists.
pub(super) fn meta_changes(
    c: &mut Changes,
    prev: Option<&Previous>,
    root_hash: &str,
    staging: &Path,
    out: &Path,
) -> io::Result<()> {
    // Meta files: compared byte for byte (they are few and small).
    let mut staged = meta_files(staging)?;
    staged.sort();
    for rel in &staged {
        // The manifest is known by its hash: no need to read hundreds of MB twice.
        let same = match prev {
            Some(p) if rel == snapshot::MANIFEST_FILE && out.join(rel).is_file() => {
                Ok(p.root_hash == root_hash)
            }
            _ => same_bytes(&out.join(rel), &staging.join(rel)),
        };
        match same {
            Ok(true) => c.unchanged += 1,
            Ok(false) => c.modified.push(rel.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => c.added.push(rel.clone()),
            Err(e) => return Err(e),
        }
    }
    if prev.is_some() {
        let staged: FxHashSet<&String> = staged.iter().collect();
        let mut old = meta_files(out)?;
        old.sort();
        c.deleted
            .extend(old.into_iter().filter(|rel| !staged.contains(rel)));
    }
    // Stable sorts find the already sorted runs (the route files come sorted): a first export
    // of millions of files sorts in one pass, not from scratch.
    c.added.sort();
    c.modified.sort();
    c.deleted.sort();
    Ok(())
}

/// Whether two files hold the same bytes: sizes first, then 1 MiB at a time (the manifest and
/// the ETag tables run to hundreds of MB on large snapshots).
fn same_bytes(a: &Path, b: &Path) -> io::Result<bool> {
    use std::io::Read;
    let (mut fa, mut fb) = (fs::File::open(a)?, fs::File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

/// `manifest.jsonl`, `snapshot.json` and every file under `_routers/`, relative to `root`.
fn meta_files(root: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for name in [snapshot::MANIFEST_FILE, snapshot::INFO_FILE] {
        if root.join(name).is_file() {
            out.push(name.to_string());
        }
    }
    for dir in snapshot::META_DIRS {
        let base = root.join(dir);
        if !base.is_dir() {
            continue;
        }
        for e in walkdir::WalkDir::new(&base).sort_by_file_name() {
            let e = e.map_err(io::Error::other)?;
            if e.file_type().is_file() {
                let rel = e.path().strip_prefix(root).expect("under root");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_status_lists_every_change_sorted() {
        let c = Changes {
            added: vec!["public/b".into(), "public/d".into()],
            modified: vec!["manifest.jsonl".into(), "public/c".into()],
            deleted: vec!["public/a".into()],
            unchanged: 3,
            upload_order: false,
        };
        assert_eq!(
            c.name_status(),
            "M\tmanifest.jsonl\nD\tpublic/a\nA\tpublic/b\nM\tpublic/c\nA\tpublic/d\n"
        );
    }

    #[test]
    fn in_upload_order_packs_go_first_then_shards_then_the_root_and_deletions_last() {
        let p = |s: &str| format!("public/__api/~/pack/{s}");
        let c = Changes {
            added: vec![p("index/b.idx"), p("packs/z.pack"), p("index/a.idx")],
            modified: vec![p("root.json"), "manifest.jsonl".into()],
            deleted: vec![p("packs/old.pack"), p("index/old.idx")],
            unchanged: 0,
            upload_order: true,
        };
        let lines: Vec<String> = c.name_status().lines().map(str::to_string).collect();
        assert_eq!(
            lines,
            [
                format!("A\t{}", p("packs/z.pack")),
                format!("A\t{}", p("index/a.idx")),
                format!("A\t{}", p("index/b.idx")),
                "M\tmanifest.jsonl".to_string(),
                format!("M\t{}", p("root.json")),
                format!("D\t{}", p("index/old.idx")),
                format!("D\t{}", p("packs/old.pack")),
            ]
        );
    }
}
