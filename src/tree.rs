//! Walking and deleting snapshot trees (up to millions of files): level by level, each level's
//! directories in parallel, each directory opened once and its files handled relative to it.
//!
//! - Relative handling: a file is never looked up from the tree's root component by component
//!   (`verify` on 824,160 files spent most of its time in those lookups).
//! - Level by level rather than recursive: a tree may be as deep as a path allows (a URL of
//!   2,000 segments), which a recursion on 2 MiB thread stacks would not survive.
//! - Symbolic links are never followed: a link is a file here, whatever it points to.
//! - Deletes run on 8 threads: on filesystems mounted with `discard` each unlink waits for a
//!   synchronous discard of the freed blocks, so deletes are bound by I/O latency, not CPU. On
//!   this project's 2-core test machine (ext4, `discard`, no journal), deleting 20,000 small
//!   files took 1.44 s with 2 threads and 0.87 s with 8; 32 threads were no faster
//!   (one thread deleted about 14k files/s there, two threads about 24k/s).

use rayon::prelude::*;
use rustix::fd::OwnedFd;
use rustix::fs::{openat, statat, AtFlags, Dir, FileType, Mode, OFlags, CWD};
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Visits every directory of the tree at `root` (itself included), a level at a time, the
/// directories of a level in parallel: `visit(fd, rel, files)` gets the directory opened,
/// its path relative to `root` (empty for `root`) and the names of its entries that are not
/// directories. Returns the directories' relative paths by depth, `root`'s level first.
/// `root` must be a directory; a directory below it that cannot be opened or listed is an
/// error when `strict` (unless it no longer exists), else skipped with what is under it.
pub fn walk_levels<F>(root: &Path, strict: bool, visit: F) -> io::Result<Vec<Vec<PathBuf>>>
where
    F: Fn(&OwnedFd, &Path, &[CString]) -> io::Result<()> + Sync,
{
    let root_fd = openat(CWD, root, DIR_FLAGS, Mode::empty())?;
    let mut levels: Vec<Vec<PathBuf>> = Vec::new();
    let mut level = vec![PathBuf::new()];
    while !level.is_empty() {
        let listed: Vec<io::Result<Vec<PathBuf>>> = level
            .par_iter()
            .map(|rel| {
                let fd = if rel.as_os_str().is_empty() {
                    None
                } else {
                    match openat(&root_fd, rel, DIR_FLAGS, Mode::empty()) {
                        Ok(fd) => Some(fd),
                        // Gone meanwhile: nothing left to visit there.
                        Err(e) if !strict || e == rustix::io::Errno::NOENT => return Ok(Vec::new()),
                        Err(e) => return Err(e.into()),
                    }
                };
                let fd = fd.as_ref().unwrap_or(&root_fd);
                let (files, subdirs) = match list(fd) {
                    Ok(entries) => entries,
                    Err(_) if !strict => return Ok(Vec::new()),
                    Err(e) => return Err(e),
                };
                visit(fd, rel, &files)?;
                Ok(subdirs
                    .iter()
                    .map(|name| rel.join(std::ffi::OsStr::from_bytes(name.as_bytes())))
                    .collect())
            })
            .collect();
        let mut next = Vec::new();
        for subdirs in listed {
            next.extend(subdirs?);
        }
        levels.push(std::mem::replace(&mut level, next));
    }
    Ok(levels)
}

/// The entries of the directory `fd`: (names that are not directories, names of directories).
fn list(fd: &OwnedFd) -> io::Result<(Vec<CString>, Vec<CString>)> {
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    for e in Dir::read_from(fd)? {
        let e = e?;
        let name = e.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let is_dir = match e.file_type() {
            // Filesystems that do not report types in directory entries.
            FileType::Unknown => statat(fd, name, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory),
            t => t == FileType::Directory,
        };
        if is_dir {
            dirs.push(name.to_owned());
        } else {
            files.push(name.to_owned());
        }
    }
    Ok((files, dirs))
}

/// Threads that delete: enough to keep several discards in flight.
const DELETE_THREADS: usize = 8;

fn delete_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(DELETE_THREADS)
            .thread_name(|i| format!("matrix-snapshot-rm-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Removes `dir` and everything under it, like [`std::fs::remove_dir_all`] but in parallel:
/// the files of each level, then the directories, deepest first. Entries that vanish
/// meanwhile are not an error; a `dir` that does not exist is.
pub fn remove_tree(dir: &Path) -> io::Result<()> {
    let run = || {
        let levels = walk_levels(dir, true, |fd, _, files| {
            files.par_iter().with_min_len(32).try_for_each(|name| {
                ignore_missing(
                    rustix::fs::unlinkat(fd, name.as_c_str(), AtFlags::empty()).map_err(Into::into),
                )
            })
        })?;
        for level in levels.iter().rev() {
            level
                .par_iter()
                .try_for_each(|rel| ignore_missing(std::fs::remove_dir(dir.join(rel))))?;
        }
        Ok(())
    };
    match delete_pool() {
        Some(pool) => pool.install(run),
        // No thread could be started: the standard library's sequential delete.
        None => std::fs::remove_dir_all(dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn removes_nested_trees_and_links_without_following_them() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("tree");
        let kept = tmp.path().join("kept");
        fs::create_dir_all(&kept).unwrap();
        fs::write(kept.join("f"), b"keep me").unwrap();
        for i in 0..40 {
            let d = root.join(format!("a{}/b{}/c", i % 4, i));
            fs::create_dir_all(&d).unwrap();
            for j in 0..50 {
                fs::write(d.join(format!("f{j}")), b"x").unwrap();
            }
        }
        fs::create_dir_all(root.join("empty/er")).unwrap();
        std::os::unix::fs::symlink(&kept, root.join("a0/link-to-dir")).unwrap();
        std::os::unix::fs::symlink(kept.join("f"), root.join("link-to-file")).unwrap();
        fs::hard_link(kept.join("f"), root.join("a1/hard")).unwrap();
        // A name that is not UTF-8.
        fs::write(
            root.join(std::ffi::OsStr::from_bytes(b"a2/\xff.json")),
            b"x",
        )
        .unwrap();
        fs::create_dir_all(root.join(std::ffi::OsStr::from_bytes(b"\xfe/d"))).unwrap();

        remove_tree(&root).unwrap();
        assert!(!root.exists());
        assert_eq!(fs::read(kept.join("f")).unwrap(), b"keep me");
    }

    #[test]
    fn a_missing_tree_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let e = remove_tree(&tmp.path().join("nope")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn trees_as_deep_as_a_path_allows_are_walked_and_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("t");
        let mut deepest = base.clone();
        for _ in 0..1800 {
            deepest.push("a");
        }
        fs::create_dir_all(&deepest).unwrap();
        fs::write(deepest.join("f"), b"x").unwrap();
        let mut files = std::sync::Mutex::new(0);
        let levels = walk_levels(&base, true, |_, _, names| {
            *files.lock().unwrap() += names.len();
            Ok(())
        })
        .unwrap();
        assert_eq!(levels.len(), 1801);
        assert_eq!(*files.get_mut().unwrap(), 1);
        remove_tree(&base).unwrap();
        assert!(!base.exists());
    }
}
