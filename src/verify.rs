//! `verify`: is a snapshot still exactly what `export` wrote? Every file against the manifest
//! (missing, extra, size, blake3), the manifest against the root hash in `snapshot.json`.
//!
//! Files are hashed in parallel, once per inode: hard-linked bodies (most of a deduplicated
//! snapshot) are read once. Nothing is written.

mod pack;

use crate::snapshot::path::{safe, safe_meta};
use crate::snapshot::{self, ReadError};
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

/// `(device, inode, size)` of a file.
type Stat = (u64, u64, u64);

/// Checks the snapshot in `dir`.
pub fn verify(dir: &Path) -> Result<Report, ReadError> {
    let started = Instant::now();
    let info = snapshot::read_info(dir)?;
    let manifest = snapshot::read_manifest(dir)?;
    let mut report = Report::default();
    for staging in snapshot::staging::interrupted_updates(dir) {
        report
            .problems
            .push(Problem::Interrupted(staging.display().to_string()));
    }
    if manifest.hash != info.root_hash {
        report.problems.push(Problem::RootHash {
            recorded: info.root_hash.clone(),
            actual: manifest.hash.clone(),
        });
    }
    if info.counts.files != manifest.lines.len() as u64 {
        report.problems.push(Problem::Count {
            recorded: info.counts.files,
            listed: manifest.lines.len() as u64,
        });
    }
    if manifest.routers.is_empty() {
        report.problems.push(Problem::RoutersNotCovered);
    }
    let covers_routers = !manifest.routers.is_empty();
    // The router files' lines come first (`_` sorts before `p`), then the web root's.
    let mut lines = manifest.routers;
    lines.extend(manifest.lines);
    let safe = |p: &str| safe(p) || safe_meta(p);
    for pair in lines.windows(2) {
        if pair[0].path >= pair[1].path {
            report
                .problems
                .push(Problem::Unsorted(pair[1].path.clone()));
        }
    }
    for l in lines.iter().filter(|l| !safe(&l.path)) {
        report.problems.push(Problem::UnsafePath(l.path.clone()));
    }

    // The pack layout's routes are checked in its packs; its router files, as files, below.
    let packed = snapshot::Layout::of_format(&info.format) == Some(snapshot::Layout::Pack);
    if packed {
        let routes: Vec<_> = lines
            .iter()
            .filter(|l| !l.is_router_file() && safe(&l.path))
            .cloned()
            .collect();
        pack::check(dir, &routes, &mut report);
        lines.retain(|l| l.is_router_file());
    }

    // Files on disk under public/ (and _routers/), as manifest paths, sorted; the first file of
    // each inode hashed on the way.
    let mut on_disk = if packed {
        Vec::new()
    } else {
        walk(dir, snapshot::PUBLIC_DIR)
    };
    if covers_routers {
        on_disk.extend(walk(dir, snapshot::ROUTERS_DIR));
    }
    on_disk.par_sort_unstable_by(|a, b| a.path.cmp(&b.path));
    let mut hashes: FxHashMap<(u64, u64), &Result<blake3::Hash, String>> = FxHashMap::default();
    for f in &on_disk {
        if let (Ok((dev, ino, size)), Some(h)) = (&f.stat, &f.hash) {
            hashes.insert((*dev, *ino), h);
            if h.is_ok() {
                report.bytes_read += size;
            }
        }
    }
    report.inodes = hashes.len() as u64;

    // Manifest lines and files, both in path order, side by side (a path listed twice matches
    // the same file).
    let mut order: Vec<usize> = (0..lines.len()).filter(|&i| safe(&lines[i].path)).collect();
    order.par_sort_by(|&a, &b| lines[a].path.cmp(&lines[b].path));
    let mut file_of_line: Vec<Option<usize>> = vec![None; lines.len()];
    let mut listed = vec![false; on_disk.len()];
    let mut j = 0;
    for &i in &order {
        let path = lines[i].path.as_str();
        while j < on_disk.len() && on_disk[j].path.as_str() < path {
            j += 1;
        }
        if j < on_disk.len() && on_disk[j].path == path {
            file_of_line[i] = Some(j);
            listed[j] = true;
        }
    }

    let mut per_line: Vec<Option<Problem>> = vec![None; lines.len()];
    for (i, l) in lines.iter().enumerate() {
        if !safe(&l.path) {
            continue;
        }
        let Some(j) = file_of_line[i] else {
            per_line[i] = Some(Problem::Missing(l.path.clone()));
            continue;
        };
        if l.is_router_file() {
            report.router_files += 1;
        } else {
            report.files += 1;
            report.bytes += l.size;
        }
        per_line[i] = match &on_disk[j].stat {
            Err(error) => Some(Problem::Unreadable {
                path: l.path.clone(),
                error: error.clone(),
            }),
            Ok((_, _, size)) if *size != l.size => Some(Problem::Size {
                path: l.path.clone(),
                listed: l.size,
                actual: *size,
            }),
            Ok((dev, ino, _)) => match hashes[&(*dev, *ino)] {
                Err(error) => Some(Problem::Unreadable {
                    path: l.path.clone(),
                    error: error.clone(),
                }),
                Ok(h) if *h != l.blake3 => Some(Problem::Hash(l.path.clone())),
                Ok(_) => None,
            },
        };
    }
    report.problems.extend(per_line.into_iter().flatten());
    report.problems.extend(
        on_disk
            .iter()
            .zip(&listed)
            .filter(|(_, &listed)| !listed)
            .map(|(f, _)| Problem::Extra(f.path.clone())),
    );
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// A file (anything but a directory) under `public/`.
struct OnDisk {
    /// As manifest paths are written: `public/…`.
    path: String,
    /// What `lstat` says, or why it failed.
    stat: Result<Stat, String>,
    /// blake3 of its bytes when it was the first file seen of its inode; an error for what is
    /// not a regular file (a symbolic link is never followed) or cannot be read.
    hash: Option<Result<blake3::Hash, String>>,
}

/// Every file under `dir/sub/` (`public` or `_routers`), in no order ([`crate::tree::walk_levels`]: directories in
/// parallel, each opened once, its files examined and read relative to it). The first file seen
/// of each inode is hashed on the way, so hard-linked bodies are read once. What cannot be
/// listed is left out (its files are then reported missing).
fn walk(dir: &Path, sub: &str) -> Vec<OnDisk> {
    use rustix::fs::{statat, AtFlags, FileType};
    let seen: Mutex<FxHashSet<(u64, u64)>> = Mutex::default();
    let found: Mutex<Vec<OnDisk>> = Mutex::default();
    let _ = crate::tree::walk_levels(&dir.join(sub), false, |fd, rel, files| {
        let prefix = if rel.as_os_str().is_empty() {
            format!("{sub}/")
        } else {
            format!("{sub}/{}/", rel.to_string_lossy())
        };
        let here: Vec<OnDisk> = files
            .par_iter()
            .with_min_len(16)
            .map(|name| {
                let path = format!("{prefix}{}", name.to_string_lossy());
                match statat(fd, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
                    Err(e) => OnDisk {
                        path,
                        stat: Err(io::Error::from(e).to_string()),
                        hash: None,
                    },
                    Ok(st) => {
                        let key = (st.st_dev, st.st_ino);
                        let first = seen.lock().expect("inode set").insert(key);
                        let regular = FileType::from_raw_mode(st.st_mode) == FileType::RegularFile;
                        OnDisk {
                            path,
                            stat: Ok((key.0, key.1, st.st_size as u64)),
                            hash: first.then(|| {
                                if regular {
                                    hash_at(fd, name, st.st_size as usize)
                                } else {
                                    Err("not a regular file".into())
                                }
                            }),
                        }
                    }
                }
            })
            .collect();
        found.lock().expect("found files").extend(here);
        Ok(())
    });
    found.into_inner().expect("found files")
}

/// blake3 of the file `name` in the directory `fd` (not following a symbolic link).
fn hash_at(
    fd: &rustix::fd::OwnedFd,
    name: &std::ffi::CStr,
    size: usize,
) -> Result<blake3::Hash, String> {
    use rustix::fs::{openat, Mode, OFlags};
    use std::io::Read;
    let file = openat(
        fd,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io::Error::from(e).to_string())?;
    let mut bytes = Vec::with_capacity(size);
    fs::File::from(file)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(blake3::hash(&bytes))
}
