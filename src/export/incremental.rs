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
//! 1. stage: new bodies in the flat directory `~new/` of the staging tree (one file per path,
//!    named by [`staged_path`]: no directory to create or remove per asset), the new manifest,
//!    `snapshot.json`, `_routers/` and `_cache/` at their paths. An interruption here leaves
//!    `DIR` untouched.
//! 2. `plan` (written whole, then renamed into place): the operations, `W path` (move the staged
//!    file in) and `D path` (remove), `snapshot.json` last.
//! 3. apply: each replaced or removed file is first moved to `~backup/<i>` in the staging tree
//!    (`i`: the operation's place in the plan). Route files are moved in parallel, the manifest
//!    and `snapshot.json` last.
//! 4. `done` marker, then the staging tree (with the backups) is deleted.
//!
//! A run that finds a staging tree with a `plan` and no `done` rolls it back (every file moved
//! back from `~backup/`, every staged file that had been moved in removed): an interrupted
//! incremental export leaves the previous snapshot as it was.

use super::{inputs, io_err, Entry, ExportError};
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
/// Where the new bodies of route files (everything under `public/`) wait in the staging tree.
const NEW: &str = "~new";
/// Files beside `public/` that an incremental export compares byte for byte.
pub(super) const META_DIRS: &[&str] = &["_routers", "_cache"];

/// The previous snapshot's manifest, as read: every line in manifest order and, when the
/// snapshot recorded them ([`inputs::OWNERS_FILE`]), the asset each line belongs to.
pub struct PreviousManifest {
    text: ManifestText,
    lines: Vec<PreviousLine>,
    /// Per line, the owner's position in the recorded inputs ([`inputs::NO_OWNER`] for none).
    owners: Option<Vec<u32>>,
    root_hash: String,
}

/// The previous manifest's text and where each line is in it: the lines of the assets taken
/// over are copied into the new manifest as they are, not formatted again.
pub struct ManifestText {
    text: String,
    /// Per line, its start in `text` and its length (without the newline).
    spans: Vec<(usize, u32)>,
}

impl ManifestText {
    /// Line `i`, without its newline.
    pub fn line(&self, i: u32) -> &[u8] {
        let (start, len) = self.spans[i as usize];
        &self.text.as_bytes()[start..start + len as usize]
    }
}

/// One line of the previous manifest.
struct PreviousLine {
    /// Its path: where it is in the text (lines as `export` writes them), or the path decoded
    /// from a line written otherwise.
    path: Result<(usize, u32), Box<str>>,
    file: PreviousFile,
    /// The request it answers, for a line that answers exactly one and is not copied.
    request: Option<Box<str>>,
    /// Whether the line is byte for byte what `export` writes for a route file with this path,
    /// request, status, size and hash (then it is copied, and its entry needs no request).
    canonical: bool,
}

/// The previous snapshot's files that this export compares its new files with: the lines of
/// the previous manifest that were not taken over as they were.
pub struct Previous {
    /// Path as in the manifest (`public/…`) → the file. (FxHash: hundreds of thousands of
    /// lookups by trusted keys, where SipHash's DoS resistance buys nothing.)
    files: FxHashMap<Box<str>, PreviousFile>,
    /// Its root hash (blake3 of `manifest.jsonl`, from `snapshot.json`).
    root_hash: String,
    /// Its text, from which the lines taken over are copied.
    pub text: ManifestText,
}

/// One file of the previous manifest.
#[derive(Clone, Copy)]
struct PreviousFile {
    blake3: [u8; 32],
    status: u16,
    size: u64,
    /// Whether it answers exactly one request (every route file does).
    single: bool,
}

/// A previous manifest line's file, from its fields.
fn previous_file(blake3: &str, requests: usize, status: u16, size: u64) -> Option<PreviousFile> {
    let hash = blake3::Hash::from_hex(blake3).ok()?;
    Some(PreviousFile {
        blake3: *hash.as_bytes(),
        status,
        size,
        single: requests == 1,
    })
}

/// One previous manifest line, read (`start`: where it is in the text).
fn previous_line(line: &str, start: usize) -> Option<PreviousLine> {
    let Some(l) = crate::snapshot::parse_line_fast(line) else {
        // Not as export writes lines (rare): the same reader as verify's.
        let l: crate::snapshot::Line = serde_json::from_str(line).ok()?;
        let file = previous_file(&l.blake3, l.requests.len(), l.status, l.size)?;
        let request = match <[String; 1]>::try_from(l.requests) {
            Ok([r]) => Some(r.into_boxed_str()),
            Err(_) => None,
        };
        return Some(PreviousLine {
            path: Err(l.path.into_boxed_str()),
            file,
            request,
            canonical: false,
        });
    };
    let file = previous_file(l.blake3, l.requests.len(), l.status, l.size)?;
    // The path is the line's first string: it starts after `{"path":"`.
    let offset = l.path.as_ptr() as usize - line.as_ptr() as usize;
    let canonical = file.single && l.content_type == crate::api::response::CONTENT_TYPE;
    Some(PreviousLine {
        path: Ok((start + offset, l.path.len() as u32)),
        request: match l.requests[..] {
            [one] if !canonical => Some(one.into()),
            _ => None,
        },
        canonical,
        file,
    })
}

impl PreviousManifest {
    /// Reads `DIR/manifest.jsonl` of a snapshot in the current format; `None` when `dir` holds
    /// no such snapshot (then the export is a full one).
    pub fn load(dir: &Path) -> Option<PreviousManifest> {
        let info = crate::snapshot::read_info(dir).ok()?;
        if info.format != super::SNAPSHOT_FORMAT {
            return None;
        }
        let text = fs::read_to_string(dir.join("manifest.jsonl")).ok()?;
        let (text, lines) = Self::parse(text)?;
        let owners = inputs::load_owners(dir, &info.root_hash, lines.len());
        Some(PreviousManifest {
            text,
            lines,
            owners,
            root_hash: info.root_hash,
        })
    }

    /// The lines of a manifest's text (`None` if one is not a manifest line).
    fn parse(text: String) -> Option<(ManifestText, Vec<PreviousLine>)> {
        // Parsed in parallel: hundreds of MB on large snapshots.
        let base = text.as_ptr() as usize;
        let spans: Vec<(usize, u32)> = text
            .lines()
            .map(|l| (l.as_ptr() as usize - base, l.len() as u32))
            .collect();
        let lines: Option<Vec<PreviousLine>> = spans
            .par_iter()
            .map(|&(start, len)| previous_line(&text[start..start + len as usize], start))
            .collect();
        Some((ManifestText { text, spans }, lines?))
    }

    /// Whether the snapshot recorded the owner of each line (then unchanged assets can be
    /// taken over without rendering).
    pub fn has_owners(&self) -> bool {
        self.owners.is_some()
    }

    /// Splits off the lines of the assets taken over as they were: `kept_as[pos]` is the index
    /// now of the asset at position `pos` of the recorded inputs when its inputs did not change,
    /// else [`inputs::NO_OWNER`]. Returns their entries (in manifest order, so sorted) and the
    /// rest, which the files written this time are compared with.
    pub fn split(self, kept_as: &[u32]) -> (Vec<Entry>, Previous) {
        let PreviousManifest {
            text,
            lines,
            owners,
            root_hash,
        } = self;
        let mut kept_as = kept_as.to_vec();
        let owners = owners.unwrap_or_else(|| vec![inputs::NO_OWNER; lines.len()]);
        // A kept asset must own only single-request lines (route files); anything else means
        // the recorded files do not belong together: render that asset again.
        for (l, &o) in lines.iter().zip(&owners) {
            if !l.file.single {
                if let Some(k) = kept_as.get_mut(o as usize) {
                    *k = inputs::NO_OWNER;
                }
            }
        }
        let kept_owner = |o: u32| {
            kept_as
                .get(o as usize)
                .copied()
                .filter(|&a| a != inputs::NO_OWNER)
        };
        let path_of = |p: &Result<(usize, u32), Box<str>>| -> Box<str> {
            match p {
                Ok((start, len)) => text.text[*start..*start + *len as usize].into(),
                Err(path) => path.clone(),
            }
        };
        // The kept lines' entries, in parallel (a path copied for each); in order.
        let kept: Vec<Entry> = lines
            .par_iter()
            .zip(&owners)
            .enumerate()
            .filter_map(|(i, (l, &o))| {
                let a = kept_owner(o)?;
                // A canonical line is copied as it is: its request is not needed. (A kept
                // line answers exactly one request: see above.)
                let (requests, line) = match &l.request {
                    _ if l.canonical => (Vec::new(), i as u32),
                    request => (
                        request.iter().map(|r| r.to_string()).collect(),
                        super::NO_LINE,
                    ),
                };
                Some(Entry {
                    path: path_of(&l.path).into(),
                    requests,
                    status: l.file.status,
                    content_type: crate::api::response::CONTENT_TYPE,
                    size: l.file.size,
                    blake3: blake3::Hash::from(l.file.blake3),
                    owner: a,
                    previous_line: line,
                })
            })
            .collect();
        let mut files =
            FxHashMap::with_capacity_and_hasher(lines.len() - kept.len(), Default::default());
        for (l, &o) in lines.iter().zip(&owners) {
            if kept_owner(o).is_none() {
                files.insert(path_of(&l.path), l.file);
            }
        }
        super::drop_in_background(lines);
        (
            kept,
            Previous {
                files,
                root_hash,
                text,
            },
        )
    }
}

impl Previous {
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

/// Compares the route files written this time (`fresh`: every entry not taken over from the
/// previous manifest) with the rest of the previous manifest; `kept` files were taken over
/// as they were. Meta files come next, with [`meta_changes`]. Without a previous snapshot,
/// nothing is listed here: the caller moves every path into `added` once it is done with them.
pub(super) fn route_changes(prev: Option<&Previous>, fresh: &[Entry], kept: u64) -> Changes {
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
            Some(f) if f.blake3 != *e.blake3.as_bytes() => c.modified.push(e.path.clone()),
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

/// First line of a plan. Plans without a header (older versions) kept each backup at its path
/// under `~backup/`; since `plan/2` the backup of operation `i` is at `~backup/i` (no
/// directories to create or delete); since `plan/3` new route files are staged flat, at
/// [`staged_path`] (before, at their own paths in the staging tree).
const PLAN_HEADER: &str = "# matrix-snapshot update plan/3";
/// The header of plans whose staged files are at their own paths.
const PLAN_HEADER_2: &str = "# matrix-snapshot update plan/2";

fn write_plan(staging: &Path, ops: &[Op]) -> io::Result<()> {
    let mut text = String::with_capacity(ops.len() * 80);
    text.push_str(PLAN_HEADER);
    text.push('\n');
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

/// One operation of a plan read back, with where its files are.
struct Planned {
    op: Op,
    /// Where the file replaced or removed was moved to.
    saved: PathBuf,
    /// Where the new file was staged (writes).
    staged: PathBuf,
}

/// The operations of the plan in `staging`, with where their files are.
fn read_plan(staging: &Path) -> io::Result<Vec<Planned>> {
    let text = fs::read_to_string(staging.join(PLAN))?;
    let backup = staging.join(BACKUP);
    let mut lines = text.lines().peekable();
    let flat = lines.next_if(|l| *l == PLAN_HEADER).is_some();
    let indexed = flat || lines.next_if(|l| *l == PLAN_HEADER_2).is_some();
    lines
        .enumerate()
        .map(|(i, l)| {
            let op = match l.split_once('\t') {
                Some(("W", p)) => Op::Write(p.to_string()),
                Some(("D", p)) => Op::Delete(p.to_string()),
                _ => return Err(io::Error::other(format!("bad plan line {l:?}"))),
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
            Ok(Planned { op, saved, staged })
        })
        .collect()
}

/// Where the staging tree holds the new file for `rel` (relative to the snapshot directory):
/// files under `public/` in the flat `~new/`, named by the blake3 of their path (hundreds of
/// thousands of assets' directories are not created and removed again in the staging tree);
/// the few meta files at their own paths.
pub(super) fn staged_path(staging: &Path, rel: &str) -> PathBuf {
    if rel.starts_with("public/") {
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

/// Applies the staged changes to `out`: plan, backups, moves, `done`, then deletes the staging
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
    let ops = plan(changes);
    write_plan(staging, &ops).map_err(io_err(ctx("writing the plan")))?;
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
        // snapshot.json (`plan` puts them last), one at a time.
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

/// The files `plan` moves in last, in this order: a reader that sees the new `snapshot.json`
/// sees every new file.
fn is_last(rel: &str) -> bool {
    rel == "manifest.jsonl" || rel == "snapshot.json"
}

/// Rolls back (or, once `done`, just removes) a staging tree left by an interrupted incremental
/// export into `out`. Returns whether anything was rolled back.
pub(super) fn recover(staging: &Path, out: &Path) -> io::Result<bool> {
    let mut rolled_back = false;
    if staging.join(PLAN).is_file() && !staging.join(DONE).exists() {
        for Planned { op, saved, staged } in read_plan(staging)?.iter().rev() {
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

    /// A manifest line as `export` writes it.
    fn line(path: &str, requests: usize, byte: u8) -> String {
        let e = Entry {
            path: path.into(),
            requests: (0..requests)
                .map(|i| format!("/__api/{path}?{i}"))
                .collect(),
            status: 200,
            content_type: crate::api::response::CONTENT_TYPE,
            size: 3,
            blake3: blake3::Hash::from([byte; 32]),
            owner: inputs::NO_OWNER,
            previous_line: super::super::NO_LINE,
        };
        serde_json::to_string(&e).unwrap()
    }

    /// The lines of assets kept as they were become entries owned by the asset's index now;
    /// the rest is what the new files are compared with.
    #[test]
    fn split_takes_over_the_lines_of_kept_assets_only() {
        let lines = [
            line("public/a/1", 1, 1),
            // Not as export writes it (spaces): read as JSON, its request decoded.
            line("public/a/2", 1, 2).replace(",", ", "),
            // Read fast, but another content type: not copied either.
            line("public/a/3", 1, 7).replace("application/json", "text/plain"),
            line("public/b/1", 1, 3),
            line("public/errors/404", 0, 4),
            line("public/c/1", 1, 5),
            line("public/c/2", 2, 6),
        ];
        let prev = || {
            let (text, lines) = PreviousManifest::parse(lines.join("\n") + "\n").unwrap();
            PreviousManifest {
                text,
                lines,
                owners: Some(vec![0, 0, 0, 1, inputs::NO_OWNER, 2, 2]),
                root_hash: "r".into(),
            }
        };
        // Recorded positions 0 (a) and 2 (c) kept, as assets 10 and 12; b rendered again.
        let (kept, rest) = prev().split(&[10, inputs::NO_OWNER, 12]);
        let owners: Vec<(&str, u32)> = kept.iter().map(|e| (e.path.as_str(), e.owner)).collect();
        // c owns a line that answers two requests: not a route file set this tool wrote, so
        // c is rendered again rather than trusted.
        assert_eq!(
            owners,
            [("public/a/1", 10), ("public/a/2", 10), ("public/a/3", 10)]
        );
        // The canonical line is copied as it is; the others are formatted again, in full.
        assert_eq!(kept[0].previous_line, 0);
        assert_eq!(rest.text.line(0), lines[0].as_bytes());
        assert!(kept[0].requests.is_empty());
        for (e, byte) in [(&kept[1], 2), (&kept[2], 7)] {
            assert_eq!(e.previous_line, super::super::NO_LINE);
            assert_eq!(serde_json::to_string(e).unwrap(), line(&e.path, 1, byte));
        }
        let mut rest: Vec<&str> = rest.files.keys().map(|k| k.as_ref()).collect();
        rest.sort();
        assert_eq!(
            rest,
            [
                "public/b/1",
                "public/c/1",
                "public/c/2",
                "public/errors/404"
            ]
        );
        // Without recorded owners nothing is taken over.
        let mut no_owners = prev();
        no_owners.owners = None;
        let (kept, rest) = no_owners.split(&[10, 11, 12]);
        assert!(kept.is_empty());
        assert_eq!(rest.files.len(), 7);
    }

    /// Route files are moved in parallel, so a `kill -9` can leave any combination of operations
    /// done: recovery gives back the old tree from each of them.
    #[test]
    fn an_interruption_after_any_subset_of_operations_rolls_back() {
        let steps = plan(&setup(tempfile::tempdir().unwrap().path()).2).len();
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
            staging.join(PLAN),
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
            staging.join(PLAN),
            format!("{PLAN_HEADER_2}\nW\tpublic/a/change.json\nW\tpublic/b/new.json\n"),
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
        let steps = plan(&setup(tempfile::tempdir().unwrap().path()).2).len();
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
