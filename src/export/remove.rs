//! Deleting snapshot trees: the previous tree after a swap, the replaced files of an update,
//! staging trees of killed runs. They hold up to millions of files.
//!
//! Deletes are parallel, with more threads than cores: on filesystems mounted with `discard`
//! each unlink waits for a synchronous discard of the freed blocks, so deletes are bound by
//! I/O latency, not CPU. On this project's 2-core test machine (ext4, `discard`, no journal),
//! deleting 20,000 small files took 1.44 s with 2 threads and 0.87 s with 8; 32 threads were
//! no faster (`shared/research/limits.md` has the single-thread figures).

use rayon::prelude::*;
use std::fs;
use std::io;
use std::path::Path;
use std::sync::OnceLock;

/// Threads that delete: enough to keep several discards in flight.
const THREADS: usize = 8;

fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(THREADS)
            .thread_name(|i| format!("matrix-snapshot-rm-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// Removes `dir` and everything under it, like [`fs::remove_dir_all`] but in parallel. Entries
/// that vanish meanwhile are not an error; a `dir` that does not exist is. Symbolic links are
/// removed, never followed.
pub fn remove_tree(dir: &Path) -> io::Result<()> {
    match pool() {
        Some(pool) => pool.install(|| remove_dir(dir)),
        // No thread could be started: the standard library's sequential delete.
        None => fs::remove_dir_all(dir),
    }
}

fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

fn remove_dir(dir: &Path) -> io::Result<()> {
    let mut subdirs = Vec::new();
    let mut files = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        // `DirEntry::file_type` does not follow links: a link to a directory is a file here.
        if e.file_type()?.is_dir() {
            subdirs.push(e.path());
        } else {
            files.push(e.path());
        }
    }
    let (a, b) = rayon::join(
        || {
            subdirs
                .par_iter()
                .try_for_each(|d| ignore_missing(remove_dir(d)))
        },
        || {
            files
                .par_iter()
                .with_min_len(32)
                .try_for_each(|f| ignore_missing(fs::remove_file(f)))
        },
    );
    a?;
    b?;
    fs::remove_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
