//! `verify`: is a snapshot still exactly what `export` wrote? Every file against the manifest
//! (missing, extra, size, blake3), the manifest against the root hash in `snapshot.json`.
//!
//! Files are hashed in parallel, once per inode: hard-linked bodies (most of a deduplicated
//! snapshot) are read once. Nothing is written.

use crate::snapshot::{self, ReadError};
use rayon::prelude::*;
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
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
    /// Manifest entries checked.
    pub files: u64,
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

pub(crate) fn safe(path: &str) -> bool {
    path.starts_with("public/")
        && !path.contains('\\')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Checks the snapshot in `dir`.
pub fn verify(dir: &Path) -> Result<Report, ReadError> {
    let started = Instant::now();
    let info = snapshot::read_info(dir)?;
    let manifest = snapshot::read_manifest(dir)?;
    let mut report = Report::default();
    for staging in crate::export::interrupted_updates(dir) {
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
    let lines = manifest.lines;
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

    // Files on disk under public/, as manifest paths.
    let mut on_disk: Vec<String> = walkdir::WalkDir::new(dir.join("public"))
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir())
        .filter_map(|e| {
            e.path()
                .strip_prefix(dir)
                .ok()
                .map(|p| p.to_string_lossy().into_owned())
        })
        .collect();
    on_disk.par_sort_unstable();
    let listed: std::collections::HashSet<&str> = lines.iter().map(|l| l.path.as_str()).collect();
    let present: std::collections::HashSet<&str> = on_disk.iter().map(String::as_str).collect();

    // Stat every present, safe entry; hash each inode once.
    let checked: Vec<(usize, Result<Stat, String>)> = lines
        .par_iter()
        .enumerate()
        .filter(|(_, l)| safe(&l.path) && present.contains(l.path.as_str()))
        .map(|(i, l)| {
            let meta = fs::symlink_metadata(dir.join(&l.path));
            (
                i,
                meta.map(|m| (m.dev(), m.ino(), m.len()))
                    .map_err(|e| e.to_string()),
            )
        })
        .collect();
    let mut first_of_inode: HashMap<(u64, u64), usize> = HashMap::new();
    for (i, stat) in &checked {
        if let Ok((dev, ino, _)) = stat {
            first_of_inode.entry((*dev, *ino)).or_insert(*i);
        }
    }
    let hashes: HashMap<(u64, u64), Result<String, String>> = first_of_inode
        .par_iter()
        .map(|(key, &i)| {
            let h = fs::read(dir.join(&lines[i].path))
                .map(|b| blake3::hash(&b).to_hex().to_string())
                .map_err(|e| e.to_string());
            (*key, h)
        })
        .collect();
    report.inodes = hashes.len() as u64;
    let mut per_line: Vec<Option<Problem>> = vec![None; lines.len()];
    for (i, stat) in checked {
        let l = &lines[i];
        report.files += 1;
        report.bytes += l.size;
        per_line[i] = match stat {
            Err(error) => Some(Problem::Unreadable {
                path: l.path.clone(),
                error,
            }),
            Ok((_, _, size)) if size != l.size => Some(Problem::Size {
                path: l.path.clone(),
                listed: l.size,
                actual: size,
            }),
            Ok((dev, ino, _)) => match &hashes[&(dev, ino)] {
                Err(error) => Some(Problem::Unreadable {
                    path: l.path.clone(),
                    error: error.clone(),
                }),
                Ok(h) if *h != l.blake3 => Some(Problem::Hash(l.path.clone())),
                Ok(_) => None,
            },
        };
    }
    report.bytes_read = first_of_inode.values().map(|&i| lines[i].size).sum();
    for (i, l) in lines.iter().enumerate() {
        if safe(&l.path) && !present.contains(l.path.as_str()) {
            per_line[i] = Some(Problem::Missing(l.path.clone()));
        }
    }
    report.problems.extend(per_line.into_iter().flatten());
    report.problems.extend(
        on_disk
            .iter()
            .filter(|p| !listed.contains(p.as_str()))
            .map(|p| Problem::Extra(p.clone())),
    );
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_paths_must_stay_in_public() {
        assert!(safe("public/__api/assets/1/~asset.----.json"));
        for p in [
            "public/../x",
            "/etc/passwd",
            "public//x",
            "public/./x",
            "manifest.jsonl",
            "public\\..\\x",
        ] {
            assert!(!safe(p), "{p}");
        }
    }
}
