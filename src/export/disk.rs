//! Disk use as `du` counts it: what the export summary reports after the snapshot is in place.
//!
//! Walked when the tree is small enough for that to be quick; above [`WALK_LIMIT`] files,
//! `public/` is computed from the manifest's entries instead ([`public_model`]: the model
//! `--dry-run` uses, with every size known) and only the rest is walked: on this development
//! machine, walking a 1M-asset `minimal` export (8.3M files) took 71 s right after the export
//! (a quarter of its time) and `du -s` five minutes later took five minutes, its inodes no
//! longer cached.

use rayon::prelude::*;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What a directory tree takes on disk, from [`disk_use`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskUse {
    /// Allocated bytes (`st_blocks` × 512) of every inode in the tree, directories included,
    /// each hard-linked inode once: what `du -s --block-size=1` prints.
    pub allocated: u64,
    /// The sizes (`st_size`) of the same inodes: what `du -s --apparent-size --block-size=1`
    /// (`du -sb`) prints.
    pub apparent: u64,
}

impl DiskUse {
    fn add(self, o: DiskUse) -> DiskUse {
        DiskUse {
            allocated: self.allocated + o.allocated,
            apparent: self.apparent + o.apparent,
        }
    }

    fn of(m: &fs::Metadata) -> DiskUse {
        DiskUse {
            allocated: m.blocks() * 512,
            apparent: m.size(),
        }
    }
}

/// The most files under `out` whose disk use the export walks (about a second); above, it
/// reports the estimate ([`Disk::Estimated`]).
pub const WALK_LIMIT: u64 = 300_000;

/// The disk use an export reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disk {
    /// Walked as `du` does.
    Measured(DiskUse),
    /// Allocated bytes as `du -s -B1` would count them, `public/` computed by
    /// [`public_model`] (a tree of more than [`WALK_LIMIT`] files).
    Estimated(u64),
}

impl Disk {
    /// Allocated bytes, as `du -s -B1` counts them (measured or estimated).
    pub fn allocated(&self) -> u64 {
        match self {
            Disk::Measured(d) => d.allocated,
            Disk::Estimated(bytes) => *bytes,
        }
    }

    /// The inodes' sizes (`du -sb`), when measured.
    pub fn apparent(&self) -> Option<u64> {
        match self {
            Disk::Measured(d) => Some(d.apparent),
            Disk::Estimated(_) => None,
        }
    }
}

/// What `public/` of a files-layout snapshot takes on an ext4-like file system with `block`-byte
/// blocks, from its manifest's `(path, size, blake3)` entries (paths under `public/`): each body
/// in whole blocks (each distinct one once with `dedupe`: they are hard links), and every
/// directory that holds them (`public/` itself included) by the entries' names, as
/// `--dry-run` counts them ([`super::estimate`]).
pub fn public_model<'a>(
    entries: impl Iterator<Item = (&'a str, u64, &'a [u8; 32])>,
    dedupe: bool,
    block: u64,
) -> u64 {
    use super::estimate::{dir_bytes, dirent};
    use rustc_hash::{FxHashMap, FxHashSet};
    let mut bodies: FxHashSet<&[u8; 32]> = FxHashSet::default();
    // Directory → bytes of its entries.
    let mut dirs: FxHashMap<&str, u64> = FxHashMap::default();
    let mut total = 0;
    for (path, size, hash) in entries {
        if !dedupe || bodies.insert(hash) {
            total += size.div_ceil(block) * block;
        }
        // The file in its directory, and each directory not seen yet in its parent.
        let mut child = path;
        while let Some((dir, name)) = child.rsplit_once('/') {
            let known = dirs.contains_key(dir);
            *dirs.entry(dir).or_default() += dirent(name);
            if known {
                break;
            }
            child = dir;
        }
    }
    total + dirs.values().map(|&d| dir_bytes(d, block)).sum::<u64>()
}

/// [`public_model`] over entries that come sorted by path, one at a time, holding only the
/// directories open on the way to the current one (not a map of every directory: millions at a
/// million assets). All paths under a directory sort together, so a directory is complete once
/// a path leaves it. The caller says whether each body is the first of its kind (it keeps the
/// set of distinct bodies for its counts anyway).
pub struct PublicModel {
    dedupe: bool,
    block: u64,
    total: u64,
    /// The open directories, outermost first: each one's path and the bytes of its entries.
    open: Vec<(String, u64)>,
}

impl PublicModel {
    /// An empty tree of `block`-byte blocks; with `dedupe`, a body's blocks count once.
    pub fn new(dedupe: bool, block: u64) -> PublicModel {
        PublicModel {
            dedupe,
            block,
            total: 0,
            open: Vec::new(),
        }
    }

    /// The file `path` of `size` bytes, after every path that sorts before it; `first` when no
    /// earlier file had its body.
    pub fn add(&mut self, path: &str, size: u64, first: bool) {
        use super::estimate::{dir_bytes, dirent};
        if !self.dedupe || first {
            self.total += size.div_ceil(self.block) * self.block;
        }
        let (dir, name) = match path.rsplit_once('/') {
            Some(split) => split,
            None => return,
        };
        // Close the directories this path is not under.
        while let Some((open, bytes)) = self.open.last() {
            let under = dir.len() >= open.len()
                && dir.starts_with(open.as_str())
                && (dir.len() == open.len() || dir.as_bytes()[open.len()] == b'/');
            if under {
                break;
            }
            self.total += dir_bytes(*bytes, self.block);
            self.open.pop();
        }
        // Open the directories on the way down, each an entry of its parent.
        let depth = self.open.last().map_or(0, |(d, _)| d.len());
        if depth < dir.len() || self.open.is_empty() {
            let start = if self.open.is_empty() { 0 } else { depth + 1 };
            let mut at = start;
            loop {
                let end = dir[at..].find('/').map_or(dir.len(), |i| at + i);
                if let Some((_, bytes)) = self.open.last_mut() {
                    *bytes += dirent(&dir[at..end]);
                }
                self.open.push((dir[..end].to_string(), 0));
                if end == dir.len() {
                    break;
                }
                at = end + 1;
            }
        }
        self.open.last_mut().expect("opened").1 += dirent(name);
    }

    /// The bytes of every body and directory added.
    pub fn finish(mut self) -> u64 {
        while let Some((_, bytes)) = self.open.pop() {
            self.total += super::estimate::dir_bytes(bytes, self.block);
        }
        self.total
    }
}

/// `du -s -B1` of the snapshot `dir` without walking `public/`: that part is `public`
/// (from [`public_model`]), the rest (manifest, `_routers/`, `_cache/`, `dir` itself) walked.
pub fn with_public(dir: &Path, public: u64) -> io::Result<u64> {
    let mut total = fs::symlink_metadata(dir)?.blocks() * 512 + public;
    for e in fs::read_dir(dir)? {
        let e = e?;
        if e.file_name() != crate::snapshot::PUBLIC_DIR {
            total += disk_use(&e.path())?.allocated;
        }
    }
    Ok(total)
}

/// An inode with more than one link, counted once at the end: (device, inode, its use).
type Linked = (u64, u64, DiskUse);

/// Walks `dir` as `du -s` does: every file, directory and symbolic link (not followed) under it
/// and `dir` itself, an inode with several links (hard-linked bodies) counted once. Directories
/// are read in parallel (a snapshot has hundreds of thousands of files).
pub fn disk_use(dir: &Path) -> io::Result<DiskUse> {
    let meta = fs::symlink_metadata(dir)?;
    let (mut total, mut linked) = walk(dir, &meta)?;
    linked.par_sort_unstable_by_key(|&(dev, ino, _)| (dev, ino));
    linked.dedup_by_key(|&mut (dev, ino, _)| (dev, ino));
    for (_, _, u) in linked {
        total = total.add(u);
    }
    Ok(total)
}

/// The use of `path` (whose metadata is `meta`) and, for a directory, of everything under it:
/// singly linked inodes summed, the others listed.
fn walk(path: &Path, meta: &fs::Metadata) -> io::Result<(DiskUse, Vec<Linked>)> {
    if !meta.is_dir() {
        return Ok(if meta.nlink() > 1 {
            (
                DiskUse::default(),
                vec![(meta.dev(), meta.ino(), DiskUse::of(meta))],
            )
        } else {
            (DiskUse::of(meta), Vec::new())
        });
    }
    let entries = fs::read_dir(path)?
        .map(|e| {
            let e = e?;
            let m = e.metadata()?;
            Ok((e.path(), m))
        })
        .collect::<io::Result<Vec<_>>>()?;
    let (files, dirs): (Vec<_>, Vec<_>) = entries.into_iter().partition(|(_, m)| !m.is_dir());
    let mut total = DiskUse::of(meta);
    let mut linked = Vec::new();
    for (p, m) in &files {
        let (u, l) = walk(p, m)?;
        total = total.add(u);
        linked.extend(l);
    }
    let below = dirs
        .par_iter()
        .map(|(p, m)| walk(p, m))
        .collect::<io::Result<Vec<_>>>()?;
    for (u, l) in below {
        total = total.add(u);
        linked.extend(l);
    }
    Ok((total, linked))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The model counts bodies in blocks (a distinct one once with dedupe) and every
    /// directory once, in its parent too.
    #[test]
    fn public_model_counts_blocks_and_directories() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let entries = [
            ("public/__api/x/one.json", 10, &a),
            ("public/__api/x/two.json", 5000, &b),
            ("public/__api/y/one.json", 10, &a),
        ];
        // Directories: public (1 entry), public/__api (x, y), x (2 files), y (1 file): a block
        // each while their entries fit.
        let dirs = 4 * 4096;
        assert_eq!(
            public_model(entries.iter().copied(), true, 4096),
            4096 + 2 * 4096 + dirs
        );
        assert_eq!(
            public_model(entries.iter().copied(), false, 4096),
            2 * 4096 + 2 * 4096 + dirs
        );
        // A directory whose entries pass a block: an index block and half-full leaves.
        let names: Vec<String> = (0..300).map(|i| format!("public/d/{i:040}.json")).collect();
        let many = public_model(names.iter().map(|n| (n.as_str(), 1, &a)), true, 4096);
        let entry = 8 + 48; // 45-byte names in 4-byte steps
        let (body, public) = (4096, 4096);
        assert_eq!(
            many,
            body + public + (2 * 300 * entry as u64).div_ceil(4096) * 4096
        );
    }

    /// Streamed over sorted paths, the model counts what the map of every directory counts:
    /// siblings whose names are prefixes of each other, deep and shallow paths interleaved,
    /// a body shared across directories, with and without dedupe.
    #[test]
    fn the_streamed_model_equals_the_whole_one() {
        let hashes: Vec<[u8; 32]> = (0..5u8).map(|i| [i; 32]).collect();
        let mut paths: Vec<String> = Vec::new();
        for a in ["a", "a-b", "a.c", "ab", "b"] {
            for sub in ["", "/x", "/x/y", "/x-y", "/x/y/z"] {
                for f in ["1.json", "2", "~f.json"] {
                    paths.push(format!("public/__api/{a}{sub}/{f}"));
                }
            }
        }
        paths.push("public/top.json".into());
        paths.push("nodir".into());
        paths.sort();
        let entries: Vec<(&str, u64, &[u8; 32])> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_str(), (i as u64 * 977) % 9000, &hashes[i % 5]))
            .collect();
        for dedupe in [true, false] {
            for block in [1024, 4096] {
                let whole = public_model(entries.iter().copied(), dedupe, block);
                let mut seen = std::collections::HashSet::new();
                let mut model = PublicModel::new(dedupe, block);
                for &(p, size, h) in &entries {
                    model.add(p, size, seen.insert(h));
                }
                assert_eq!(model.finish(), whole, "dedupe {dedupe}, block {block}");
            }
        }
    }

    /// A file, a hard link to it and a directory: the link adds nothing, the directory its
    /// own blocks, as `du` counts.
    #[test]
    fn counts_hard_links_once_and_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("t");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("a"), vec![b'x'; 10_000]).unwrap();
        let one = disk_use(&root).unwrap();
        fs::hard_link(root.join("a"), root.join("sub/b")).unwrap();
        let two = disk_use(&root).unwrap();
        assert_eq!(one, two, "a second link to the same inode is not counted");
        let blocks = |p: &Path| fs::symlink_metadata(p).unwrap().blocks() * 512;
        assert_eq!(
            two.allocated,
            blocks(&root) + blocks(&root.join("sub")) + blocks(&root.join("a"))
        );
        assert!(two.allocated >= 10_000 + 2 * 512, "{two:?}");
        let size = |p: &Path| fs::symlink_metadata(p).unwrap().size();
        assert_eq!(
            two.apparent,
            size(&root) + size(&root.join("sub")) + size(&root.join("a"))
        );
    }
}
