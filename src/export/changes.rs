//! What an export changes against the previous snapshot (`--changed-list`): the route files
//! compared by hash, the files beside `public/` byte for byte.

use super::previous::Previous;
use crate::snapshot::{self, Entry};
use rustc_hash::FxHashSet;
use std::fs;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

/// What changes between the previous snapshot and the new one, relative to the snapshot
/// directory, sorted: the lines of `--changed-list` (`A`dded, `M`odified, `D`eleted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Paths written that the previous snapshot did not have (besides
    /// [`Changes::all_routes_added`]).
    pub added: Vec<String>,
    /// Paths whose bytes changed.
    pub modified: Vec<String>,
    /// Paths the new snapshot no longer has.
    pub deleted: Vec<String>,
    /// Files left as they were.
    pub unchanged: u64,
    /// List in upload order rather than by path (the pack layout: see [`Changes::name_status`]).
    pub upload_order: bool,
    /// A first export: every route file of the new manifest is added too. They are not listed
    /// here (8.3M paths at a million assets); [`Changes::write_name_status`] reads them from
    /// the manifest.
    pub all_routes_added: Option<AllAdded>,
}

/// Every route file of a manifest, added ([`Changes::all_routes_added`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllAdded {
    /// The manifest that lists them (the snapshot's, once in place).
    pub manifest: PathBuf,
    /// How many.
    pub files: u64,
}

impl Changes {
    /// `git diff --name-status` style: `A\tpath`, `M\tpath`, `D\tpath`, sorted by path (see
    /// [`Changes::write_name_status`]).
    pub fn name_status(&self) -> io::Result<String> {
        let mut out = Vec::new();
        self.write_name_status(&mut out)?;
        String::from_utf8(out).map_err(io::Error::other)
    }

    /// Writes [`Changes::name_status`]'s lines to `out`, sorted by path; the route files of
    /// [`Changes::all_routes_added`] are read from their manifest as they are written.
    ///
    /// With [`Changes::upload_order`] (the pack layout), in the order a host must take them so
    /// no reader ever sees a root naming objects not yet there: added and modified packs, then
    /// shards, then everything else (the root, the manifest…), each group by path; the
    /// deletions last.
    pub fn write_name_status(&self, out: &mut dyn Write) -> io::Result<()> {
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
            for (_, p, c) in up {
                writeln!(out, "{c}\t{p}")?;
            }
            for p in deleted {
                writeln!(out, "D\t{p}")?;
            }
            return Ok(());
        }
        let mut lines: Vec<(&str, char)> = self
            .added
            .iter()
            .map(|p| (p.as_str(), 'A'))
            .chain(self.modified.iter().map(|p| (p.as_str(), 'M')))
            .chain(self.deleted.iter().map(|p| (p.as_str(), 'D')))
            .collect();
        lines.sort();
        let mut listed = lines.into_iter().peekable();
        // The manifest's route files merged in: both are sorted by path.
        if let Some(all) = &self.all_routes_added {
            let mut routes = RoutePaths::open(&all.manifest)?;
            while let Some(path) = routes.next()? {
                while let Some((p, c)) = listed.next_if(|(p, _)| *p < path.as_str()) {
                    writeln!(out, "{c}\t{p}")?;
                }
                writeln!(out, "A\t{path}")?;
            }
        }
        for (p, c) in listed {
            writeln!(out, "{c}\t{p}")?;
        }
        Ok(())
    }

    /// Added files, those of [`Changes::all_routes_added`] included.
    pub fn added_count(&self) -> u64 {
        self.added.len() as u64 + self.all_routes_added.as_ref().map_or(0, |a| a.files)
    }

    /// Written files (added or modified).
    pub fn written(&self) -> u64 {
        self.added_count() + self.modified.len() as u64
    }
}

/// The paths of a manifest's route files (not `_routers/`), in order, one line at a time.
struct RoutePaths {
    reader: io::BufReader<fs::File>,
    manifest: PathBuf,
    line: String,
    number: u64,
}

impl RoutePaths {
    fn open(manifest: &Path) -> io::Result<RoutePaths> {
        let file = fs::File::open(manifest).map_err(|e| {
            io::Error::new(e.kind(), format!("reading {}: {e}", manifest.display()))
        })?;
        Ok(RoutePaths {
            reader: io::BufReader::with_capacity(1 << 20, file),
            manifest: manifest.to_path_buf(),
            line: String::new(),
            number: 0,
        })
    }

    fn next(&mut self) -> io::Result<Option<String>> {
        loop {
            self.line.clear();
            if self.reader.read_line(&mut self.line)? == 0 {
                return Ok(None);
            }
            self.number += 1;
            let l = self.line.trim_end_matches(['\n', '\r']);
            let path = match snapshot::manifest::parse_line_fast(l) {
                Some(line) => line.path.to_string(),
                None => serde_json::from_str::<Entry>(l)
                    .map_err(|e| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "{}:{}: not a manifest line ({e}); it changed since this export wrote it",
                                self.manifest.display(),
                                self.number
                            ),
                        )
                    })?
                    .path,
            };
            if !path.starts_with(snapshot::manifest::ROUTERS_PREFIX) {
                return Ok(Some(path));
            }
        }
    }
}

/// Compares the route files written this time with the rest of the previous manifest, one at
/// a time as the entries stream by; files taken over as they were are counted unchanged. Meta
/// files come next, with [`meta_changes`]. Without a previous snapshot, nothing is listed
/// here: every route file is added ([`Changes::all_routes_added`]).
pub(super) struct RouteChanges<'a> {
    prev: Option<&'a mut Previous>,
    c: Changes,
}

impl<'a> RouteChanges<'a> {
    /// Against `prev`; `kept` files were taken over as they were.
    pub(super) fn new(prev: Option<&'a mut Previous>, kept: u64) -> RouteChanges<'a> {
        RouteChanges {
            prev,
            c: Changes {
                unchanged: kept,
                ..Changes::default()
            },
        }
    }

    /// A route file written this time.
    pub(super) fn fresh(&mut self, e: &Entry) {
        let Some(prev) = self.prev.as_deref_mut() else {
            return;
        };
        match prev.files.get_mut(e.path.as_str()) {
            None => self.c.added.push(e.path.clone()),
            Some(f) => {
                f.produced = true;
                if f.holds(&e.blake3) {
                    self.c.unchanged += 1;
                } else {
                    self.c.modified.push(e.path.clone());
                }
            }
        }
    }

    /// The changes; the previous files not written this time are deleted.
    pub(super) fn finish(self) -> Changes {
        let mut c = self.c;
        if let Some(prev) = self.prev {
            c.deleted = prev
                .files
                .iter()
                .filter(|(_, f)| !f.produced)
                .map(|(k, _)| k.to_string())
                .collect();
        }
        c
    }
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
            all_routes_added: None,
        };
        assert_eq!(
            c.name_status().unwrap(),
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
            all_routes_added: None,
        };
        let lines: Vec<String> = c
            .name_status()
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
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

    /// A first export lists every route file from the manifest (not held), merged in path
    /// order with the meta files, the router files' lines left to the meta files.
    #[test]
    fn every_route_of_a_first_export_is_read_from_the_manifest() {
        let tmp = tempfile::tempdir().unwrap();
        let manifest = tmp.path().join("manifest.jsonl");
        let line = |path: &str| {
            let e = Entry::json(path, vec![format!("/{path}")], 200, 1, blake3::hash(b"x"));
            let mut e = serde_json::to_string(&e).unwrap();
            if path.ends_with('b') {
                // Not as export writes it: read as JSON.
                e = e.replace(",", ", ");
            }
            e.replace("public/_routers", "_routers")
        };
        let lines = ["_routers/etags.txt", "__api/a", "__api/b", "__api/c"].map(line);
        fs::write(&manifest, lines.join("\n") + "\n").unwrap();
        let c = Changes {
            added: vec![
                "_routers/etags.txt".into(),
                "manifest.jsonl".into(),
                "snapshot.json".into(),
                "public/__api/bb".into(),
            ],
            all_routes_added: Some(AllAdded {
                manifest: manifest.clone(),
                files: 3,
            }),
            ..Changes::default()
        };
        assert_eq!(c.added_count(), 7);
        assert_eq!(
            c.name_status().unwrap(),
            "A\t_routers/etags.txt\nA\tmanifest.jsonl\nA\tpublic/__api/a\nA\tpublic/__api/b\nA\tpublic/__api/bb\nA\tpublic/__api/c\nA\tsnapshot.json\n"
        );
        fs::write(&manifest, "{\"path\":\n").unwrap();
        let err = c.name_status().unwrap_err().to_string();
        assert!(
            err.contains("manifest.jsonl:1: not a manifest line"),
            "{err}"
        );
    }
}
