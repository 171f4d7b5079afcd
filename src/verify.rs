//! `verify`: is a snapshot still exactly what `export` wrote? Every file against the manifest
//! (missing, extra, size, blake3), the manifest against the root hash in `snapshot.json`.
//!
//! Files are hashed in parallel, once per inode: hard-linked bodies (most of a deduplicated
//! snapshot) are read once. Nothing is written.

mod pack;

use crate::snapshot::path::{safe, safe_meta};
use crate::snapshot::{self, Entry, ReadError};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use std::fs;
use std::io;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

/// What is wrong with one file, or with the snapshot as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// `manifest.jsonl` does not hash to the root hash of `snapshot.json`.
    RootHash {
        /// In `snapshot.json`.
        recorded: String,
        /// Of `manifest.jsonl` now.
        actual: String,
    },
    /// `snapshot.json` counts another number of files than the manifest lists.
    Count {
        /// In `snapshot.json`.
        recorded: u64,
        /// Manifest lines.
        listed: u64,
    },
    /// A manifest path that could point outside `public/` (never opened).
    UnsafePath(String),
    /// Listed twice, or out of order.
    Unsorted(String),
    /// Listed but absent.
    Missing(String),
    /// Present under `public/` but not listed.
    Extra(String),
    /// Another size than listed.
    Size {
        /// The file.
        path: String,
        /// Listed.
        listed: u64,
        /// On disk.
        actual: u64,
    },
    /// Same size, other bytes.
    Hash(String),
    /// An incremental export into this directory was interrupted while moving its files in
    /// (its staging tree, beside the directory, holds a plan and no `done`).
    Interrupted(String),
    /// The manifest lists no file of `_routers/` (a snapshot written before the root hash
    /// covered them): nothing vouches for the routing table and host configs.
    RoutersNotCovered,
    /// Unreadable.
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        error: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::RootHash { recorded, actual } => write!(
                f,
                "manifest.jsonl was changed: it hashes to {actual}, snapshot.json records {recorded}"
            ),
            Problem::Count { recorded, listed } => write!(
                f,
                "snapshot.json counts {recorded} files, manifest.jsonl lists {listed}"
            ),
            Problem::UnsafePath(p) => write!(f, "{p}: manifest path outside public/ (not opened)"),
            Problem::Unsorted(p) => write!(f, "{p}: manifest out of order or listed twice"),
            Problem::Missing(p) => write!(f, "{p}: missing"),
            Problem::Extra(p) => write!(f, "{p}: not in the manifest"),
            Problem::Size {
                path,
                listed,
                actual,
            } => write!(f, "{path}: {actual} bytes, manifest says {listed}"),
            Problem::Hash(p) => write!(f, "{p}: content changed (blake3 differs)"),
            Problem::Unreadable { path, error } => write!(f, "{path}: cannot read: {error}"),
            Problem::RoutersNotCovered => write!(
                f,
                "_routers/ is not covered by the root hash (the manifest lists none of its files: an earlier version wrote this snapshot), so its routing table and host configs cannot be checked: export again (an update adds them)"
            ),
            Problem::Interrupted(staging) => write!(
                f,
                "an incremental export was interrupted while updating this snapshot ({staging} holds its plan): run the export again, which rolls the update back first"
            ),
        }
    }
}

/// The result of [`verify`].
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Manifest entries of the web root checked.
    pub files: u64,
    /// Manifest entries of `_routers/` checked.
    pub router_files: u64,
    /// Bytes they serve (hard links counted each time).
    pub bytes: u64,
    /// Distinct inodes read and hashed.
    pub inodes: u64,
    /// Bytes read from disk.
    pub bytes_read: u64,
    /// Seconds spent.
    pub seconds: f64,
    /// Everything wrong, in manifest order (snapshot-level problems first).
    pub problems: Vec<Problem>,
}

impl Report {
    /// Nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the snapshot in `dir`.
///
/// The manifest is read a chunk of lines at a time ([`snapshot::stream_manifest`]); each
/// chunk's files are looked up by path (never following a symbolic link at the last step) and
/// hashed in parallel, the first path of each inode only. What `verify` holds, whatever the
/// snapshot's size: one chunk, and the (device, inode) → hash prefix of each distinct body
/// (about 40 bytes a body). Files no line lists are found by counting: a walk counts the files
/// on disk, and only when there are more than the lines found is the manifest read again into a
/// set of path hashes to name them. A pack snapshot's routes are checked as the chunks go by
/// against its index and the bodies of its packs, each pack read once before (`pack::Check`:
/// 28 bytes an index entry, 32 a distinct body).
pub fn verify(dir: &Path) -> Result<Report, ReadError> {
    let started = Instant::now();
    let info = snapshot::read_info(dir)?;
    let mut report = Report::default();
    for staging in snapshot::staging::interrupted_updates(dir) {
        report
            .problems
            .push(Problem::Interrupted(staging.display().to_string()));
    }
    let packed = snapshot::Layout::of_format(&info.format) == Some(snapshot::Layout::Pack);
    let safe = |p: &str| safe(p) || safe_meta(p);
    let mut unsorted = Vec::new();
    let mut unsafe_paths = Vec::new();
    let mut per_line = Vec::new();
    // The pack layout's routes: checked against the index and the packs' bodies as the
    // manifest streams by.
    let mut pack_check = packed.then(|| pack::Check::open(dir));
    let mut last: Option<String> = None;
    let (mut listed, mut routers, mut found) = (0u64, 0u64, 0u64);
    let mut bodies = Bodies::default();
    let beneath = Beneath::open(dir)?;
    let hash = snapshot::stream_manifest(dir, snapshot::MANIFEST_CHUNK, |lines, _| {
        listed += lines.len() as u64;
        for l in &lines {
            if last.as_ref().is_some_and(|p| *p >= l.path) {
                unsorted.push(Problem::Unsorted(l.path.clone()));
            }
            if !safe(&l.path) {
                unsafe_paths.push(Problem::UnsafePath(l.path.clone()));
            }
        }
        if let Some(l) = lines.last() {
            last = Some(l.path.clone());
        }
        routers += lines.iter().filter(|l| l.is_router_file()).count() as u64;
        // The pack layout's routes are checked in its packs; its router files, as files.
        let (files, routes): (Vec<Entry>, Vec<Entry>) = lines
            .into_iter()
            .filter(|l| safe(&l.path))
            .partition(|l| !packed || l.is_router_file());
        if let Some(check) = &mut pack_check {
            check.lines(&routes);
        }
        let checked = bodies.check(&beneath, &files);
        for (l, problem) in files.iter().zip(checked) {
            match problem {
                Checked::Missing => per_line.push(Problem::Missing(l.path.clone())),
                Checked::Present(problem) => {
                    found += 1;
                    if l.is_router_file() {
                        report.router_files += 1;
                    } else {
                        report.files += 1;
                        report.bytes += l.size;
                    }
                    per_line.extend(problem);
                }
            }
        }
        Ok(())
    })?;
    // Whole-snapshot problems first, then the lines' in manifest order, then unlisted files.
    if hash != info.root_hash {
        report.problems.push(Problem::RootHash {
            recorded: info.root_hash.clone(),
            actual: hash,
        });
    }
    let web_lines = listed - routers;
    if info.counts.files != web_lines {
        report.problems.push(Problem::Count {
            recorded: info.counts.files,
            listed: web_lines,
        });
    }
    let covers_routers = routers > 0;
    if !covers_routers {
        report.problems.push(Problem::RoutersNotCovered);
    }
    report.problems.extend(unsorted);
    report.problems.extend(unsafe_paths);
    if let Some(check) = pack_check {
        check.finish(&mut report);
    }
    report.problems.extend(per_line);
    // Added to what the pack check read (its packs), if any.
    report.inodes += bodies.inodes;
    report.bytes_read += bodies.bytes_read;
    drop(bodies);

    // Files no line lists: only the walk's count is kept, unless it finds more than were found.
    let mut subs = Vec::new();
    if !packed {
        subs.push(snapshot::PUBLIC_DIR);
    }
    if covers_routers {
        subs.push(snapshot::ROUTERS_DIR);
    }
    let on_disk: u64 = subs.iter().map(|sub| count_files(dir, sub)).sum();
    if on_disk != found {
        let mut listed_paths: FxHashSet<u128> = FxHashSet::default();
        snapshot::stream_manifest(dir, snapshot::MANIFEST_CHUNK, |lines, _| {
            listed_paths.extend(lines.iter().map(|l| path_key(&l.path)));
            Ok(())
        })?;
        let mut extra: Vec<String> = subs
            .iter()
            .flat_map(|sub| unlisted(dir, sub, &listed_paths))
            .collect();
        extra.par_sort_unstable();
        report
            .problems
            .extend(extra.into_iter().map(Problem::Extra));
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// What the lookup of one listed file found.
enum Checked {
    /// No file at that path.
    Missing,
    /// A file, and what is wrong with it, if anything.
    Present(Option<Problem>),
}

/// The first 16 bytes of a body's blake3, or why it could not be read.
type BodyHash = Result<[u8; 16], String>;

/// The bodies hashed so far: each inode once, kept as 16 bytes of blake3 by (device, inode)
/// only for a file with more than one link (a hard link whose listed hash has the same first 16
/// bytes is the same body). A file linked once is hashed and checked without being kept: at
/// 8.3M files (a 1M-asset export) keeping every inode took more than a gigabyte.
#[derive(Default)]
struct Bodies {
    linked: FxHashMap<(u64, u64), BodyHash>,
    /// Inodes hashed.
    inodes: u64,
    bytes_read: u64,
}

impl Bodies {
    /// Looks up and checks `lines` (files, safe paths) in parallel: each path's status, then
    /// each file linked once, and the first path of each linked inode not seen before, hashed.
    fn check(&mut self, dir: &Beneath, lines: &[Entry]) -> Vec<Checked> {
        let stats: Vec<io::Result<Found>> = lines.par_iter().map(|l| dir.stat(&l.path)).collect();
        // The lines to hash: every file linked once; of a linked inode not seen in an earlier
        // chunk, its first path.
        let mut first: FxHashMap<(u64, u64), usize> = FxHashMap::default();
        let mut to_hash: Vec<usize> = Vec::new();
        for (i, st) in stats.iter().enumerate() {
            let Ok(st) = st else { continue };
            if st.links <= 1 {
                to_hash.push(i);
            } else if !self.linked.contains_key(&st.inode) {
                if let std::collections::hash_map::Entry::Vacant(v) = first.entry(st.inode) {
                    v.insert(i);
                    to_hash.push(i);
                }
            }
        }
        let hashed: Vec<(usize, BodyHash)> = to_hash
            .into_par_iter()
            .map(|i| {
                let st = stats[i].as_ref().expect("stat succeeded");
                let hash = if st.kind == Kind::File {
                    dir.hash(&lines[i].path)
                } else {
                    Err("not a regular file".into())
                };
                (i, hash)
            })
            .collect();
        // The hashes of the lines linked once, by line.
        let mut own: Vec<Option<BodyHash>> = vec![None; lines.len()];
        for (i, hash) in hashed {
            let st = stats[i].as_ref().expect("stat succeeded");
            self.inodes += 1;
            if hash.is_ok() {
                self.bytes_read += st.size;
            }
            if st.links <= 1 {
                own[i] = Some(hash);
            } else {
                self.linked.insert(st.inode, hash);
            }
        }
        lines
            .iter()
            .zip(stats)
            .zip(own)
            .map(|((l, st), own)| match st {
                // Absent, or reached only through a symbolic link (not what export wrote):
                // ENOENT, ENOTDIR, ELOOP.
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::NotFound)
                        || matches!(e.raw_os_error(), Some(20 | 40)) =>
                {
                    Checked::Missing
                }
                Err(e) => Checked::Present(Some(Problem::Unreadable {
                    path: l.path.clone(),
                    error: e.to_string(),
                })),
                Ok(st) if st.kind == Kind::Dir => Checked::Missing,
                Ok(st) if st.size != l.size => Checked::Present(Some(Problem::Size {
                    path: l.path.clone(),
                    listed: l.size,
                    actual: st.size,
                })),
                Ok(st) => Checked::Present(
                    match own.as_ref().unwrap_or_else(|| &self.linked[&st.inode]) {
                        Err(error) => Some(Problem::Unreadable {
                            path: l.path.clone(),
                            error: error.clone(),
                        }),
                        Ok(h) if h[..] != l.blake3.as_bytes()[..16] => {
                            Some(Problem::Hash(l.path.clone()))
                        }
                        Ok(_) => None,
                    },
                ),
            })
            .collect()
    }
}

/// What a listed path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    /// A symbolic link, device, socket…: never followed or read.
    Other,
}

/// What the lookup of a listed path found.
struct Found {
    /// (device, inode).
    inode: (u64, u64),
    /// Hard links to it.
    links: u64,
    size: u64,
    kind: Kind,
}

/// The snapshot directory, where listed paths are looked up without following a symbolic link
/// anywhere on the way (Linux's `openat2` with `RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH`; where
/// the kernel has none, only the last component is not followed).
struct Beneath {
    fd: rustix::fd::OwnedFd,
}

impl Beneath {
    fn open(dir: &Path) -> Result<Beneath, ReadError> {
        use rustix::fs::{open, Mode, OFlags};
        let fd = open(
            dir,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ReadError::Io {
            path: dir.to_path_buf(),
            source: e.into(),
        })?;
        Ok(Beneath { fd })
    }

    /// Opens `rel` for reading (`read`), or as a path to `fstat` (a symbolic link itself).
    fn open_rel(&self, rel: &str, read: bool) -> io::Result<rustix::fd::OwnedFd> {
        use rustix::fs::{Mode, OFlags};
        let flags =
            if read { OFlags::RDONLY } else { OFlags::PATH } | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::ResolveFlags;
            let resolve = ResolveFlags::NO_SYMLINKS | ResolveFlags::BENEATH;
            match rustix::fs::openat2(&self.fd, rel, flags, Mode::empty(), resolve) {
                Err(rustix::io::Errno::NOSYS) => {}
                other => return other.map_err(io::Error::from),
            }
        }
        rustix::fs::openat(&self.fd, rel, flags, Mode::empty()).map_err(io::Error::from)
    }

    fn stat(&self, rel: &str) -> io::Result<Found> {
        use rustix::fs::FileType;
        let st = rustix::fs::fstat(self.open_rel(rel, false)?)?;
        Ok(Found {
            inode: (st.st_dev, st.st_ino),
            links: st.st_nlink as u64,
            size: st.st_size as u64,
            kind: match FileType::from_raw_mode(st.st_mode) {
                FileType::RegularFile => Kind::File,
                FileType::Directory => Kind::Dir,
                _ => Kind::Other,
            },
        })
    }

    /// blake3 of the regular file `rel` (its first 16 bytes).
    fn hash(&self, rel: &str) -> Result<[u8; 16], String> {
        let file = fs::File::from(self.open_rel(rel, true).map_err(|e| e.to_string())?);
        // Streamed: the router tables of a 1M-asset snapshot are a gigabyte each.
        let (_, hash) = snapshot::manifest::hash_reader(file).map_err(|e| e.to_string())?;
        Ok(hash.as_bytes()[..16].try_into().expect("16 bytes"))
    }
}

/// A manifest path's key in the set of listed paths (16 bytes of its blake3).
fn path_key(path: &str) -> u128 {
    u128::from_le_bytes(
        blake3::hash(path.as_bytes()).as_bytes()[..16]
            .try_into()
            .expect("16"),
    )
}

/// How many files (anything but a directory) are under `dir/sub/`. What cannot be listed is
/// left out (its files are then reported missing).
fn count_files(dir: &Path, sub: &str) -> u64 {
    let count = std::sync::atomic::AtomicU64::new(0);
    let _ = crate::tree::walk_levels(&dir.join(sub), false, |_, _, files| {
        count.fetch_add(files.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    });
    count.into_inner()
}

/// The files under `dir/sub/` whose manifest paths are not in `listed`.
fn unlisted(dir: &Path, sub: &str, listed: &FxHashSet<u128>) -> Vec<String> {
    let found: Mutex<Vec<String>> = Mutex::default();
    let _ = crate::tree::walk_levels(&dir.join(sub), false, |_, rel, files| {
        let prefix = if rel.as_os_str().is_empty() {
            format!("{sub}/")
        } else {
            format!("{sub}/{}/", rel.to_string_lossy())
        };
        let extra = files.iter().filter_map(|name| {
            let path = format!("{prefix}{}", name.to_string_lossy());
            (!listed.contains(&path_key(&path))).then_some(path)
        });
        found.lock().expect("unlisted files").extend(extra);
        Ok(())
    });
    found.into_inner().expect("unlisted files")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Catalog;
    use crate::export::{self, ExportOptions, Profile};
    use crate::store::url::Scheme;

    /// The fixture store exported (`pub`, minimal profile) into `out`.
    fn exported(out: &Path) {
        exported_in(out, Default::default());
    }

    /// The fixture store exported (`pub`, minimal profile) into `out` in `layout` (also what
    /// the pack layout's tests verify).
    pub(super) fn exported_in(out: &Path, layout: export::LayoutOptions) {
        let cat = Catalog::new(crate::store::fixture::RULES.load());
        let token = cat.store.token_by_value("pub").expect("fixture token");
        let opts = ExportOptions {
            base_url: Some((Scheme::Https, "www.uni.test".into())),
            layout,
            ..ExportOptions::new(token, Profile::minimal(), out.to_path_buf())
        };
        export::export(&cat, &opts, &|_| {}).expect("export");
    }

    /// The summary of a pack snapshot counts the packs it read, not only the router files (it
    /// said "9 bodies, 0.2 MB read" of a 10 GB snapshot).
    #[test]
    fn a_pack_snapshot_counts_the_packs_read() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let out = tmp.path().join("snap");
        exported_in(
            &out,
            export::LayoutOptions {
                layout: snapshot::Layout::Pack,
                ..Default::default()
            },
        );
        let packs: u64 = fs::read_dir(out.join("public/__api/~/pack/packs"))
            .expect("packs")
            .map(|e| e.expect("entry").metadata().expect("stat").len())
            .sum();
        let routers: u64 = walkdir::WalkDir::new(out.join(snapshot::ROUTERS_DIR))
            .into_iter()
            .map(|e| e.expect("entry"))
            .filter(|e| e.file_type().is_file())
            .map(|e| e.metadata().expect("stat").len())
            .sum();
        let report = verify(&out).expect("verify");
        assert!(report.ok(), "{:?}", report.problems);
        assert!(
            report.bytes_read >= packs + routers,
            "{} bytes read, packs {packs}, routers {routers}",
            report.bytes_read
        );
        assert!(report.inodes > report.router_files, "{report:?}");
    }

    /// Issue 20: only inodes with more than one link are kept (by inode); a file linked once is
    /// hashed and checked on the spot — and a change to either kind is still found.
    #[test]
    fn keeps_only_linked_inodes() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path();
        let public = dir.join(snapshot::PUBLIC_DIR);
        fs::create_dir(&public).expect("mkdir");
        fs::write(public.join("one"), b"alone").expect("write");
        fs::write(public.join("two"), b"shared").expect("write");
        fs::hard_link(public.join("two"), public.join("three")).expect("link");
        let line = |path: &str, body: &[u8]| {
            Entry::json(path, vec![], 200, body.len() as u64, blake3::hash(body))
        };
        let lines = [
            line("one", b"alone"),
            line("three", b"shared"),
            line("two", b"shared"),
        ];
        let beneath = Beneath::open(dir).expect("open");
        // Each line's problem (every file is there).
        let check = |bodies: &mut Bodies| -> Vec<Option<Problem>> {
            bodies
                .check(&beneath, &lines)
                .into_iter()
                .map(|c| match c {
                    Checked::Present(p) => p,
                    Checked::Missing => panic!("missing"),
                })
                .collect()
        };
        let mut bodies = Bodies::default();
        let checked = check(&mut bodies);
        assert_eq!(checked, vec![None, None, None]);
        assert_eq!((bodies.inodes, bodies.linked.len()), (2, 1));
        // The same sizes, other bytes: both kinds are caught.
        fs::write(public.join("one"), b"ALONE").expect("write");
        fs::write(public.join("two"), b"SHARED").expect("in place: both links see it");
        let problems = check(&mut Bodies::default());
        assert_eq!(
            problems,
            vec![
                Some(Problem::Hash("public/one".into())),
                Some(Problem::Hash("public/three".into())),
                Some(Problem::Hash("public/two".into())),
            ]
        );
    }

    /// Issue 20: the manifest is read a chunk at a time (7 lines in unit tests) and each inode
    /// hashed once whatever chunk its paths fall in: an intact snapshot has no problem; a body
    /// shared by paths in many chunks, changed in place, is reported at every path; a missing
    /// file and an unlisted one are found.
    #[test]
    fn chunks_and_shared_bodies() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let out = tmp.path().join("snap");
        exported(&out);
        let intact = verify(&out).expect("verify");
        assert!(intact.ok(), "{:?}", intact.problems);
        assert!(intact.files > 3 * snapshot::MANIFEST_CHUNK as u64);
        assert!(
            intact.inodes < intact.files + intact.router_files,
            "no hard links"
        );
        // The body most paths share (the 403 marker), changed in place.
        let text = fs::read_to_string(out.join(snapshot::MANIFEST_FILE)).expect("manifest");
        let mut by_hash: FxHashMap<String, Vec<String>> = FxHashMap::default();
        for l in text.lines() {
            let v: serde_json::Value = serde_json::from_str(l).expect("line");
            let (path, hash) = (v["path"].as_str().unwrap(), v["blake3"].as_str().unwrap());
            by_hash.entry(hash.into()).or_default().push(path.into());
        }
        let shared = by_hash.into_values().max_by_key(Vec::len).expect("lines");
        assert!(shared.len() > snapshot::MANIFEST_CHUNK, "{shared:?}");
        let first = out.join(&shared[0]);
        let mut bytes = fs::read(&first).expect("body");
        bytes[0] ^= 1;
        fs::write(&first, &bytes).expect("in place: every link sees it");
        let gone = intact_route(&text, &shared);
        fs::remove_file(out.join(&gone)).expect("remove");
        fs::write(out.join("public/__api/extra.json"), b"{}").expect("extra");
        let r = verify(&out).expect("verify");
        let mut want: Vec<Problem> = Vec::new();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.retain(|l| l.contains("\"path\":\"public/"));
        for l in lines {
            let path = serde_json::from_str::<serde_json::Value>(l).unwrap()["path"]
                .as_str()
                .unwrap()
                .to_string();
            if path == gone {
                want.push(Problem::Missing(path));
            } else if shared.contains(&path) {
                want.push(Problem::Hash(path));
            }
        }
        want.push(Problem::Extra("public/__api/extra.json".into()));
        assert_eq!(r.problems, want);
    }

    /// A route path that does not share the changed body.
    fn intact_route(text: &str, shared: &[String]) -> String {
        text.lines()
            .filter_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                Some(v["path"].as_str()?.to_string())
            })
            .find(|p| p.starts_with("public/__api/assets/") && !shared.contains(p))
            .expect("a route")
    }
}
