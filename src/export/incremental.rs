//! Incremental export: `export --out DIR` onto a previous snapshot rewrites only the files whose
//! bytes change and removes the files no longer produced (`docs/snapshot-format.md`,
//! "Re-exporting").
//!
//! Every route is still rendered (that is how a changed body is found), but a body whose blake3
//! equals the previous manifest's for the same path is not written: the file on disk, its inode
//! and its mtime stay as they are, so `rsync`, `rclone` and CDN uploaders skip it.
//!
//! The changed files are staged beside `DIR` (`.DIR.inc-*`), then applied in one quick burst
//! under a rollback journal:
//!
//! 1. stage: new bodies, the new manifest, `snapshot.json` and `_routers/` in the staging tree
//!    (same layout as a snapshot). An interruption here leaves `DIR` untouched.
//! 2. `plan` (written whole, then renamed into place): the operations, `W path` (move the staged
//!    file in) and `D path` (remove), `snapshot.json` last.
//! 3. apply: each replaced or removed file is first moved to `~backup/` in the staging tree.
//! 4. `done` marker, then the staging tree (with the backups) is deleted.
//!
//! A run that finds a staging tree with a `plan` and no `done` rolls it back (every file moved
//! back from `~backup/`, every staged file that had been moved in removed): an interrupted
//! incremental export leaves the previous snapshot as it was.

use super::{io_err, Entry, ExportError};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Name of the journal in a staging tree.
const PLAN: &str = "plan";
/// Marker written once every operation of the plan is applied.
const DONE: &str = "done";
/// Where replaced and removed files wait in the staging tree until the update is done.
const BACKUP: &str = "~backup";
/// Files beside `public/` that an incremental export compares byte for byte.
pub(super) const META_DIRS: &[&str] = &["_routers", "_cache"];

/// The previous snapshot: every file its manifest lists.
pub struct Previous {
    /// Path as in the manifest (`public/…`) → the file. (FxHash: hundreds of thousands of
    /// lookups by trusted keys, where SipHash's DoS resistance buys nothing.)
    files: FxHashMap<Box<str>, PreviousFile>,
    /// Its root hash (blake3 of `manifest.jsonl`, from `snapshot.json`).
    root_hash: String,
}

/// One file of the previous manifest.
struct PreviousFile {
    blake3: [u8; 32],
    status: u16,
    size: u64,
    /// The request it answers, when it answers exactly one (every route file does).
    request: Option<Box<str>>,
}

#[derive(serde::Deserialize)]
struct ManifestLine<'a> {
    #[serde(borrow)]
    path: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    requests: Vec<std::borrow::Cow<'a, str>>,
    status: u16,
    size: u64,
    blake3: &'a str,
}

impl Previous {
    /// Reads `DIR/manifest.jsonl` of a snapshot in the current format; `None` when `dir` holds
    /// no such snapshot (then the export is a full one).
    pub fn load(dir: &Path) -> Option<Previous> {
        let info = crate::snapshot::read_info(dir).ok()?;
        if info.format != super::SNAPSHOT_FORMAT {
            return None;
        }
        let text = fs::read_to_string(dir.join("manifest.jsonl")).ok()?;
        // Parsed in parallel: hundreds of MB on large snapshots.
        let lines: Vec<&str> = text.lines().collect();
        let files: Option<FxHashMap<Box<str>, PreviousFile>> = lines
            .par_iter()
            .map(|line| {
                let l: ManifestLine = serde_json::from_str(line).ok()?;
                let hash = blake3::Hash::from_hex(l.blake3).ok()?;
                let request = match l.requests.as_slice() {
                    [one] => Some(one.as_ref().into()),
                    _ => None,
                };
                let file = PreviousFile {
                    blake3: *hash.as_bytes(),
                    status: l.status,
                    size: l.size,
                    request,
                };
                Some((l.path.into_owned().into_boxed_str(), file))
            })
            .collect();
        Some(Previous {
            files: files?,
            root_hash: info.root_hash,
        })
    }

    /// The previous manifest's entry for `rel` (under `public/`) if it answered exactly
    /// `request`: what an incremental export keeps for a route whose inputs did not change.
    pub(super) fn reuse(&self, rel: &str, request: &str) -> Option<Entry> {
        let path = format!("public/{rel}");
        let f = self.files.get(path.as_str())?;
        if f.request.as_deref() != Some(request) {
            return None;
        }
        Some(Entry {
            path,
            requests: vec![request.to_string()],
            status: f.status,
            content_type: crate::api::response::CONTENT_TYPE,
            size: f.size,
            blake3: blake3::Hash::from(f.blake3),
        })
    }

    /// Whether the previous snapshot holds `rel` (under `public/`) with this body.
    pub fn unchanged(&self, rel: &str, hash: &blake3::Hash) -> bool {
        let mut key = String::with_capacity(rel.len() + 7);
        key.push_str("public/");
        key.push_str(rel);
        self.files
            .get(key.as_str())
            .is_some_and(|f| f.blake3 == *hash.as_bytes())
    }
}

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
}

impl Changes {
    /// `git diff --name-status` style: `A\tpath`, `M\tpath`, `D\tpath`, sorted by path.
    pub fn name_status(&self) -> String {
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

/// Compares the new manifest's entries (sorted) and the staged meta files with the previous
/// snapshot in `out`.
pub(super) fn changes(
    prev: Option<&Previous>,
    entries: &[Entry],
    root_hash: &str,
    staging: &Path,
    out: &Path,
) -> io::Result<Changes> {
    let mut c = Changes::default();
    let mut produced: FxHashSet<&str> =
        FxHashSet::with_capacity_and_hasher(entries.len(), Default::default());
    for e in entries {
        produced.insert(&e.path);
        let old = prev.and_then(|p| p.files.get(e.path.as_str()));
        match old {
            None => c.added.push(e.path.clone()),
            Some(f) if f.blake3 != *e.blake3.as_bytes() => c.modified.push(e.path.clone()),
            Some(_) => c.unchanged += 1,
        }
    }
    if let Some(p) = prev {
        let mut gone: Vec<String> = p
            .files
            .keys()
            .filter(|k| !produced.contains(k.as_ref()))
            .map(|k| k.to_string())
            .collect();
        gone.sort();
        c.deleted = gone;
    }
    // Meta files: compared byte for byte (they are few and small).
    let mut staged = meta_files(staging)?;
    staged.sort();
    for rel in &staged {
        // The manifest is known by its hash: no need to read hundreds of MB twice.
        let same = match prev {
            Some(p) if rel == "manifest.jsonl" && out.join(rel).is_file() => {
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
    c.added.sort();
    c.modified.sort();
    c.deleted.sort();
    Ok(c)
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
    for name in ["manifest.jsonl", "snapshot.json"] {
        if root.join(name).is_file() {
            out.push(name.to_string());
        }
    }
    for dir in META_DIRS {
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

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    /// Move the staged file in (backing up the previous one, if any).
    Write(String),
    /// Remove the file (backing it up).
    Delete(String),
}

fn plan(changes: &Changes) -> Vec<Op> {
    let mut ops: Vec<Op> = Vec::new();
    let mut writes: Vec<&String> = changes.added.iter().chain(&changes.modified).collect();
    // snapshot.json last, the manifest just before it: a reader that sees the new
    // snapshot.json sees every new file.
    let rank = |p: &str| match p {
        "snapshot.json" => 2,
        "manifest.jsonl" => 1,
        _ => 0,
    };
    writes.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    let (last, first): (Vec<&String>, Vec<&String>) = writes.into_iter().partition(|p| rank(p) > 0);
    ops.extend(first.into_iter().map(|p| Op::Write(p.clone())));
    ops.extend(changes.deleted.iter().map(|p| Op::Delete(p.clone())));
    ops.extend(last.into_iter().map(|p| Op::Write(p.clone())));
    ops
}

fn write_plan(staging: &Path, ops: &[Op]) -> io::Result<()> {
    let mut text = String::new();
    for op in ops {
        match op {
            Op::Write(p) => text.push_str(&format!("W\t{p}\n")),
            Op::Delete(p) => text.push_str(&format!("D\t{p}\n")),
        }
    }
    let tmp = staging.join(format!("{PLAN}.tmp"));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    fs::rename(tmp, staging.join(PLAN))
}

fn read_plan(staging: &Path) -> io::Result<Vec<Op>> {
    let text = fs::read_to_string(staging.join(PLAN))?;
    text.lines()
        .map(|l| match l.split_once('\t') {
            Some(("W", p)) => Ok(Op::Write(p.to_string())),
            Some(("D", p)) => Ok(Op::Delete(p.to_string())),
            _ => Err(io::Error::other(format!("bad plan line {l:?}"))),
        })
        .collect()
}

/// Removes a directory tree: its files in parallel (the replaced files' backups run to tens of
/// thousands), then the directories.
fn remove_tree(dir: &Path) -> io::Result<()> {
    let files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir())
        .map(walkdir::DirEntry::into_path)
        .collect();
    files
        .par_iter()
        .try_for_each(|f| match fs::remove_file(f) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })?;
    fs::remove_dir_all(dir)
}

/// Moves `from` to `to`, creating `to`'s directories.
fn move_file(from: &Path, to: &Path) -> io::Result<()> {
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::rename(from, to)
}

/// Removes `dir` and its parents up to (not including) `stop` while they are empty.
fn prune_empty(mut dir: &Path, stop: &Path) {
    while dir != stop && dir.starts_with(stop) {
        if fs::remove_dir(dir).is_err() {
            break;
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => break,
        }
    }
}

/// Applies the staged changes to `out`: plan, backups, moves, `done`, then deletes the staging
/// tree. `crash_after` (tests) stops after that many operations, as a `kill -9` would.
pub(super) fn apply(
    staging: &Path,
    out: &Path,
    changes: &Changes,
    crash_after: Option<usize>,
) -> Result<(), ExportError> {
    let ctx = |what: &str| format!("updating {} ({what})", out.display());
    let ops = plan(changes);
    write_plan(staging, &ops).map_err(io_err(ctx("writing the plan")))?;
    let backup = staging.join(BACKUP);
    for (i, op) in ops.iter().enumerate() {
        if crash_after == Some(i) {
            return Ok(());
        }
        match op {
            Op::Write(rel) => {
                let live = out.join(rel);
                if live.exists() {
                    move_file(&live, &backup.join(rel)).map_err(io_err(ctx(rel)))?;
                }
                move_file(&staging.join(rel), &live).map_err(io_err(ctx(rel)))?;
            }
            Op::Delete(rel) => {
                let live = out.join(rel);
                match move_file(&live, &backup.join(rel)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(ctx(rel))(e)),
                }
                prune_empty(live.parent().expect("in a dir"), out);
            }
        }
    }
    if crash_after == Some(ops.len()) {
        return Ok(());
    }
    fs::write(staging.join(DONE), b"").map_err(io_err(ctx("marking it done")))?;
    remove_tree(staging).map_err(io_err(format!(
        "removing the staging directory {}",
        staging.display()
    )))
}

/// Rolls back (or, once `done`, just removes) a staging tree left by an interrupted incremental
/// export into `out`. Returns whether anything was rolled back.
pub(super) fn recover(staging: &Path, out: &Path) -> io::Result<bool> {
    let mut rolled_back = false;
    if staging.join(PLAN).is_file() && !staging.join(DONE).exists() {
        let backup = staging.join(BACKUP);
        for op in read_plan(staging)?.iter().rev() {
            match op {
                Op::Write(rel) => {
                    let live = out.join(rel);
                    let staged = staging.join(rel);
                    if !staged.exists() && live.exists() {
                        // The staged file had been moved in: take it out again.
                        fs::remove_file(&live)?;
                        rolled_back = true;
                    }
                    let saved = backup.join(rel);
                    if saved.exists() {
                        move_file(&saved, &live)?;
                        rolled_back = true;
                    } else if let Some(dir) = live.parent() {
                        prune_empty(dir, out);
                    }
                }
                Op::Delete(rel) => {
                    let saved = backup.join(rel);
                    if saved.exists() {
                        move_file(&saved, &out.join(rel))?;
                        rolled_back = true;
                    }
                }
            }
        }
    }
    fs::remove_dir_all(staging)?;
    Ok(rolled_back)
}

/// Staging trees of incremental exports into `parent/name`.
pub(super) fn staging_prefix(name: &str) -> String {
    format!(".{name}.inc-")
}

/// Staging trees of `parent/name` with a plan and no `done`.
pub(super) fn interrupted(parent: &Path, name: &str) -> Vec<PathBuf> {
    let prefix = staging_prefix(name);
    let mut found: Vec<PathBuf> = fs::read_dir(parent)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .filter(|p| p.join(PLAN).is_file() && !p.join(DONE).exists())
        .collect();
    found.sort();
    found
}

/// Finds and recovers every staging tree an interrupted incremental export into `out` left.
pub(super) fn recover_all(parent: &Path, name: &str, out: &Path) -> io::Result<Vec<PathBuf>> {
    let prefix = staging_prefix(name);
    let mut rolled = Vec::new();
    if let Ok(entries) = fs::read_dir(parent) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) && recover(&e.path(), out)? {
                rolled.push(e.path());
            }
        }
    }
    Ok(rolled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(root)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                (
                    e.path()
                        .strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    }

    fn write(root: &Path, rel: &str, body: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }

    /// An old snapshot, the staged update, and the changes between them.
    fn setup(dir: &Path) -> (PathBuf, PathBuf, Changes) {
        let out = dir.join("out");
        let staging = dir.join(".out.inc-1");
        write(&out, "public/a/keep.json", "keep");
        write(&out, "public/a/change.json", "old");
        write(&out, "public/gone/x.json", "gone");
        write(&out, "manifest.jsonl", "old manifest");
        write(&out, "snapshot.json", "old info");
        write(&staging, "public/a/change.json", "new");
        write(&staging, "public/b/new.json", "added");
        write(&staging, "manifest.jsonl", "new manifest");
        write(&staging, "snapshot.json", "new info");
        let changes = Changes {
            added: vec!["public/b/new.json".into()],
            modified: vec![
                "manifest.jsonl".into(),
                "public/a/change.json".into(),
                "snapshot.json".into(),
            ],
            deleted: vec!["public/gone/x.json".into()],
            unchanged: 1,
        };
        (out, staging, changes)
    }

    #[test]
    fn apply_moves_the_changes_in_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let (out, staging, changes) = setup(dir.path());
        apply(&staging, &out, &changes, None).unwrap();
        assert!(!staging.exists());
        let names: Vec<String> = tree(&out).into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            names,
            [
                "manifest.jsonl",
                "public/a/change.json",
                "public/a/keep.json",
                "public/b/new.json",
                "snapshot.json"
            ]
        );
        assert_eq!(fs::read(out.join("public/a/change.json")).unwrap(), b"new");
        assert!(!out.join("public/gone").exists(), "emptied directories go");
    }

    /// Interrupted after any number of operations, recovery gives back the old tree exactly.
    #[test]
    fn an_interruption_at_any_step_rolls_back_to_the_previous_snapshot() {
        let steps = plan(&setup(tempfile::tempdir().unwrap().path()).2).len();
        assert_eq!(steps, 5);
        for crash in 0..=steps {
            let dir = tempfile::tempdir().unwrap();
            let (out, staging, changes) = setup(dir.path());
            let before = tree(&out);
            apply(&staging, &out, &changes, Some(crash)).unwrap();
            if crash > 0 {
                assert_ne!(
                    tree(&out),
                    before,
                    "crash after {crash} ops changed something"
                );
            }
            assert_eq!(
                interrupted(dir.path(), "out"),
                std::slice::from_ref(&staging)
            );
            let rolled = recover_all(dir.path(), "out", &out).unwrap();
            assert!(interrupted(dir.path(), "out").is_empty());
            assert_eq!(rolled.is_empty(), crash == 0, "crash after {crash}");
            assert_eq!(tree(&out), before, "crash after {crash} ops");
            assert!(!staging.exists());
            assert!(!out.join("public/b").exists(), "crash after {crash}");
        }
    }

    /// A staging tree without a plan never touched `out`; one marked done is just removed.
    #[test]
    fn unplanned_or_finished_staging_trees_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (out, staging, _) = setup(dir.path());
        let before = tree(&out);
        assert!(!recover(&staging, &out).unwrap());
        assert_eq!(tree(&out), before);
        assert!(!staging.exists());
    }

    #[test]
    fn name_status_lists_every_change_sorted() {
        let (_, _, c) = setup(tempfile::tempdir().unwrap().path());
        assert_eq!(
            c.name_status(),
            "M\tmanifest.jsonl\nM\tpublic/a/change.json\nA\tpublic/b/new.json\nD\tpublic/gone/x.json\nM\tsnapshot.json\n"
        );
    }
}
