//! Incremental export, applied under a rollback journal: `export --out DIR` onto a previous snapshot rewrites only the files whose
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
//! 1. stage: new bodies in the flat directory `~new/` of the staging tree (one file per path,
//!    named by [`staged_path`]: no directory to create or remove per asset), the new manifest,
//!    `snapshot.json`, `_routers/` and `_cache/` at their paths. An interruption here leaves
//!    `DIR` untouched.
//! 2. the journal, a file named `plan` (written whole, then renamed into place): the operations, `W path` (move the staged
//!    file in) and `D path` (remove), `snapshot.json` last.
//! 3. apply: each replaced or removed file is first moved to `~backup/<i>` in the staging tree
//!    (`i`: the operation's place in the journal). Route files are moved in parallel, the manifest
//!    and `snapshot.json` last.
//! 4. `done` marker, then the staging tree (with the backups) is deleted.
//!
//! A run that finds a staging tree with a journal and no `done` rolls it back (every file moved
//! back from `~backup/`, every staged file that had been moved in removed): an interrupted
//! incremental export leaves the previous snapshot as it was.

use super::changes::Changes;
use super::{io_err, ExportError};
use crate::snapshot::{self, staging};
use rayon::prelude::*;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Name of the journal in a staging tree.
const JOURNAL: &str = staging::JOURNAL_FILE;
/// Marker written once every operation of the journal is applied.
const DONE: &str = staging::DONE_FILE;
/// Where replaced and removed files wait in the staging tree until the update is done.
const BACKUP: &str = "~backup";
/// Where the new bodies of route files (everything under `public/`) wait in the staging tree.
const NEW: &str = "~new";

/// One step of the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    /// Move the staged file in (backing up the previous one, if any).
    Write(String),
    /// Remove the file (backing it up).
    Delete(String),
}

fn journal(changes: &Changes) -> Vec<Op> {
    let mut ops: Vec<Op> = Vec::new();
    let mut writes: Vec<&String> = changes.added.iter().chain(&changes.modified).collect();
    // snapshot.json last, the manifest just before it: a reader that sees the new
    // snapshot.json sees every new file.
    let rank = |p: &str| match p {
        snapshot::INFO_FILE => 2,
        snapshot::MANIFEST_FILE => 1,
        _ => 0,
    };
    writes.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    let (last, first): (Vec<&String>, Vec<&String>) = writes.into_iter().partition(|p| rank(p) > 0);
    ops.extend(first.into_iter().map(|p| Op::Write(p.clone())));
    ops.extend(changes.deleted.iter().map(|p| Op::Delete(p.clone())));
    ops.extend(last.into_iter().map(|p| Op::Write(p.clone())));
    ops
}

/// First line of a journal (its format is still called `plan`). Journals without a header (older versions) kept each backup at its path
/// under `~backup/`; since `plan/2` the backup of operation `i` is at `~backup/i` (no
/// directories to create or delete); since `plan/3` new route files are staged flat, at
/// [`staged_path`] (before, at their own paths in the staging tree).
const JOURNAL_HEADER: &str = "# matrix-snapshot update plan/3";
/// The header of journals whose staged files are at their own paths.
const JOURNAL_HEADER_2: &str = "# matrix-snapshot update plan/2";

fn write_journal(staging: &Path, ops: &[Op]) -> io::Result<()> {
    let mut text = String::with_capacity(ops.len() * 80);
    text.push_str(JOURNAL_HEADER);
    text.push('\n');
    for op in ops {
        match op {
            Op::Write(p) => text.push_str(&format!("W\t{p}\n")),
            Op::Delete(p) => text.push_str(&format!("D\t{p}\n")),
        }
    }
    let tmp = staging.join(format!("{JOURNAL}.tmp"));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    fs::rename(tmp, staging.join(JOURNAL))
}

/// One operation of a journal read back, with where its files are.
struct Journaled {
    op: Op,
    /// Where the file replaced or removed was moved to.
    saved: PathBuf,
    /// Where the new file was staged (writes).
    staged: PathBuf,
}

/// The operations of the journal in `staging`, with where their files are.
fn read_journal(staging: &Path) -> io::Result<Vec<Journaled>> {
    let text = fs::read_to_string(staging.join(JOURNAL))?;
    let backup = staging.join(BACKUP);
    let mut lines = text.lines().peekable();
    let flat = lines.next_if(|l| *l == JOURNAL_HEADER).is_some();
    let indexed = flat || lines.next_if(|l| *l == JOURNAL_HEADER_2).is_some();
    lines
        .enumerate()
        .map(|(i, l)| {
            let op = match l.split_once('\t') {
                Some(("W", p)) => Op::Write(p.to_string()),
                Some(("D", p)) => Op::Delete(p.to_string()),
                _ => return Err(io::Error::other(format!("bad journal line {l:?}"))),
            };
            let (Op::Write(p) | Op::Delete(p)) = &op;
            let saved = if indexed {
                backup.join(i.to_string())
            } else {
                backup.join(p)
            };
            let staged = if flat {
                staged_path(staging, p)
            } else {
                staging.join(p)
            };
            Ok(Journaled { op, saved, staged })
        })
        .collect()
}

/// Where the staging tree holds the new file for `rel` (relative to the snapshot directory):
/// files under `public/` in the flat `~new/`, named by the blake3 of their path (hundreds of
/// thousands of assets' directories are not created and removed again in the staging tree);
/// the few meta files at their own paths.
pub(super) fn staged_path(staging: &Path, rel: &str) -> PathBuf {
    if rel
        .strip_prefix(snapshot::PUBLIC_DIR)
        .is_some_and(|r| r.starts_with('/'))
    {
        staging
            .join(NEW)
            .join(blake3::hash(rel.as_bytes()).to_hex().as_str())
    } else {
        staging.join(rel)
    }
}

/// Creates the flat directory of [`staged_path`] in a new staging tree.
pub(super) fn create_new_dir(staging: &Path) -> io::Result<()> {
    fs::create_dir(staging.join(NEW))
}

/// Moves `from` to `to`, creating `to`'s directories when they are missing.
fn move_file(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && from.exists() => {
            if let Some(dir) = to.parent() {
                fs::create_dir_all(dir)?;
            }
            fs::rename(from, to)
        }
        done => done,
    }
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

/// Applies the staged changes to `out`: journal, backups, moves, `done`, then deletes the staging
/// tree. `crash` (tests) runs only the operations it selects, then stops as a `kill -9` would
/// (parallel operations can be cut off in any combination).
///
/// The operations on route files touch distinct paths and are undone one by one, so they run in
/// parallel (writes, then deletes); the manifest and `snapshot.json` are moved in last, in order.
pub(super) fn apply(
    staging: &Path,
    out: &Path,
    changes: &Changes,
    crash: Option<&dyn Fn(usize) -> bool>,
) -> Result<(), ExportError> {
    let ctx = |what: &str| format!("updating {} ({what})", out.display());
    let ops = journal(changes);
    write_journal(staging, &ops).map_err(io_err(ctx("writing the journal")))?;
    let backup = staging.join(BACKUP);
    fs::create_dir_all(&backup).map_err(io_err(ctx("creating the backup directory")))?;
    let run = |i: usize, op: &Op| -> Result<(), ExportError> {
        let saved = backup.join(i.to_string());
        match op {
            Op::Write(rel) => {
                let live = out.join(rel);
                match fs::rename(&live, &saved) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(ctx(rel))(e)),
                }
                move_file(&staged_path(staging, rel), &live).map_err(io_err(ctx(rel)))
            }
            Op::Delete(rel) => {
                let live = out.join(rel);
                match fs::rename(&live, &saved) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(ctx(rel))(e)),
                }
                prune_empty(live.parent().expect("in a dir"), out);
                Ok(())
            }
        }
    };
    if let Some(done) = crash {
        for (i, op) in ops.iter().enumerate().filter(|(i, _)| done(*i)) {
            run(i, op)?;
        }
        return Ok(());
    } else {
        // Groups in plan order: writes of route files, deletes, then the manifest and
        // snapshot.json (`journal` puts them last), one at a time.
        let last = ops
            .iter()
            .rposition(|op| !matches!(op, Op::Write(p) if is_last(p)))
            .map_or(0, |i| i + 1);
        let deletes = ops[..last]
            .iter()
            .position(|op| matches!(op, Op::Delete(_)))
            .unwrap_or(last);
        for range in [0..deletes, deletes..last] {
            ops[range.clone()]
                .par_iter()
                .enumerate()
                .try_for_each(|(k, op)| run(range.start + k, op))?;
        }
        for (i, op) in ops.iter().enumerate().skip(last) {
            run(i, op)?;
        }
    }
    fs::write(staging.join(DONE), b"").map_err(io_err(ctx("marking it done")))?;
    crate::tree::remove_tree(staging).map_err(io_err(format!(
        "removing the staging directory {}",
        staging.display()
    )))
}

/// The files the journal moves in last, in this order: a reader that sees the new `snapshot.json`
/// sees every new file.
fn is_last(rel: &str) -> bool {
    rel == snapshot::MANIFEST_FILE || rel == snapshot::INFO_FILE
}

/// Rolls back (or, once `done`, just removes) a staging tree left by an interrupted incremental
/// export into `out`. Returns whether anything was rolled back.
pub(super) fn recover(staging: &Path, out: &Path) -> io::Result<bool> {
    let mut rolled_back = false;
    if staging.join(JOURNAL).is_file() && !staging.join(DONE).exists() {
        for Journaled { op, saved, staged } in read_journal(staging)?.iter().rev() {
            match op {
                Op::Write(rel) => {
                    let live = out.join(rel);
                    if !staged.exists() && live.exists() {
                        // The staged file had been moved in: take it out again.
                        fs::remove_file(&live)?;
                        rolled_back = true;
                    }
                    if saved.exists() {
                        move_file(saved, &live)?;
                        rolled_back = true;
                    } else if let Some(dir) = live.parent() {
                        prune_empty(dir, out);
                    }
                }
                Op::Delete(rel) => {
                    if saved.exists() {
                        move_file(saved, &out.join(rel))?;
                        rolled_back = true;
                    }
                }
            }
        }
    }
    crate::tree::remove_tree(staging)?;
    Ok(rolled_back)
}

/// Finds and recovers every staging tree an interrupted incremental export into `out` left.
pub(super) fn recover_all(parent: &Path, name: &str, out: &Path) -> io::Result<Vec<PathBuf>> {
    let prefix = staging::incremental_prefix(name);
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
        fs::create_dir_all(&staging).unwrap();
        create_new_dir(&staging).unwrap();
        for (rel, body) in [
            ("public/a/change.json", "new"),
            ("public/b/new.json", "added"),
        ] {
            fs::write(staged_path(&staging, rel), body).unwrap();
        }
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
            ..Default::default()
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

    /// Route files are moved in parallel, so a `kill -9` can leave any combination of operations
    /// done: recovery gives back the old tree from each of them.
    #[test]
    fn an_interruption_after_any_subset_of_operations_rolls_back() {
        let steps = journal(&setup(tempfile::tempdir().unwrap().path()).2).len();
        for subset in 0u32..(1 << steps) {
            let dir = tempfile::tempdir().unwrap();
            let (out, staging, changes) = setup(dir.path());
            let before = tree(&out);
            apply(&staging, &out, &changes, Some(&|i| subset & (1 << i) != 0)).unwrap();
            let rolled = recover_all(dir.path(), "out", &out).unwrap();
            assert_eq!(rolled.is_empty(), subset == 0, "subset {subset:b}");
            assert_eq!(tree(&out), before, "subset {subset:b}");
            assert!(!staging.exists());
        }
    }

    /// A plan written by an older version (no header; each backup at its path under
    /// `~backup/`, each new file at its path in the staging tree) still rolls back.
    #[test]
    fn plans_of_the_older_layout_still_roll_back() {
        let dir = tempfile::tempdir().unwrap();
        let (out, staging, _) = setup(dir.path());
        write(&staging, "public/a/change.json", "new");
        let before = tree(&out);
        fs::write(
            staging.join(JOURNAL),
            "W\tpublic/a/change.json\nD\tpublic/gone/x.json\n",
        )
        .unwrap();
        for rel in ["public/a/change.json", "public/gone/x.json"] {
            let saved = staging.join(BACKUP).join(rel);
            fs::create_dir_all(saved.parent().unwrap()).unwrap();
            fs::rename(out.join(rel), saved).unwrap();
        }
        move_file(
            &staging.join("public/a/change.json"),
            &out.join("public/a/change.json"),
        )
        .unwrap();
        assert_ne!(tree(&out), before);
        recover_all(dir.path(), "out", &out).unwrap();
        assert_eq!(tree(&out), before);
    }

    /// A `plan/2` (backups at `~backup/<i>`, new files at their paths in the staging tree)
    /// still rolls back: the files it had moved in are found by their paths.
    #[test]
    fn plans_staged_at_their_paths_still_roll_back() {
        let dir = tempfile::tempdir().unwrap();
        let (out, staging, _) = setup(dir.path());
        write(&staging, "public/a/change.json", "new");
        write(&staging, "public/b/new.json", "added");
        let before = tree(&out);
        fs::write(
            staging.join(JOURNAL),
            format!("{JOURNAL_HEADER_2}\nW\tpublic/a/change.json\nW\tpublic/b/new.json\n"),
        )
        .unwrap();
        fs::create_dir_all(staging.join(BACKUP)).unwrap();
        let live = out.join("public/a/change.json");
        fs::rename(&live, staging.join(BACKUP).join("0")).unwrap();
        fs::rename(staging.join("public/a/change.json"), &live).unwrap();
        move_file(
            &staging.join("public/b/new.json"),
            &out.join("public/b/new.json"),
        )
        .unwrap();
        assert_ne!(tree(&out), before);
        assert_eq!(recover_all(dir.path(), "out", &out).unwrap(), [staging]);
        assert_eq!(tree(&out), before);
        assert!(!out.join("public/b").exists());
    }

    /// Interrupted after any number of operations, recovery gives back the old tree exactly.
    #[test]
    fn an_interruption_at_any_step_rolls_back_to_the_previous_snapshot() {
        let steps = journal(&setup(tempfile::tempdir().unwrap().path()).2).len();
        assert_eq!(steps, 5);
        for crash in 0..=steps {
            let dir = tempfile::tempdir().unwrap();
            let (out, staging, changes) = setup(dir.path());
            let before = tree(&out);
            apply(&staging, &out, &changes, Some(&|i| i < crash)).unwrap();
            if crash > 0 {
                assert_ne!(
                    tree(&out),
                    before,
                    "crash after {crash} ops changed something"
                );
            }
            assert_eq!(
                staging::interrupted_updates(&dir.path().join("out")),
                std::slice::from_ref(&staging)
            );
            let rolled = recover_all(dir.path(), "out", &out).unwrap();
            assert!(staging::interrupted_updates(&dir.path().join("out")).is_empty());
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
}
