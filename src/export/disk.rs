//! Disk use as `du` counts it: what the export summary reports after the snapshot is in place.

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
