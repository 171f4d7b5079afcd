//! `export --repair`: before an incremental export trusts the previous manifest, every file it
//! lists is hashed again; a file that is missing, is not a regular file, or whose size or
//! blake3 differs is *damaged*, and the export rewrites it (its owner is rendered again instead
//! of being taken over). Hard-linked bodies are read once per inode, as `verify` does.

use crate::snapshot;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;

/// What `--repair` found (the export's [`super::Report::repair`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repair {
    /// Manifest lines whose files were checked.
    pub checked: u64,
    /// Files that were missing or differed from their manifest line, rewritten by the export
    /// (relative to `DIR`, sorted).
    pub damaged: Vec<String>,
    /// `manifest.jsonl` no longer hashed to the root hash in `snapshot.json`: nothing it says
    /// could be trusted, so the snapshot was rebuilt in full.
    pub manifest_changed: bool,
    /// The snapshot was rebuilt in full rather than file by file: its manifest changed, or it
    /// is in the pack layout (whose packs and shards are not files of the manifest).
    pub rebuilt: bool,
}

/// One file to check: its path relative to `dir`, and the size and blake3 its line lists.
pub(super) struct Listed<'a> {
    pub(super) path: &'a str,
    pub(super) size: u64,
    pub(super) blake3: [u8; 32],
}

/// `(device, inode)` → blake3 of the bytes (`None`: unreadable).
type Hashes = FxHashMap<(u64, u64), Option<[u8; 32]>>;

/// Which of `files` (under `dir`) are damaged: by position in `files`. Each is checked with
/// `lstat` (a symbolic link is never followed: it is not the file the manifest lists), its size
/// compared, then its bytes hashed, once per inode.
pub(super) fn damaged(dir: &Path, files: &[Listed]) -> Vec<bool> {
    let hashes: Mutex<Hashes> = Mutex::default();
    files
        .par_iter()
        .map(|f| {
            if !(snapshot::path::safe(f.path) || snapshot::path::safe_meta(f.path)) {
                // Never opened; the export does not write it either (verify reports it).
                return false;
            }
            let path = dir.join(f.path);
            let Ok(meta) = fs::symlink_metadata(&path) else {
                return true;
            };
            if !meta.file_type().is_file() || meta.len() != f.size {
                return true;
            }
            let inode = (meta.dev(), meta.ino());
            let known = hashes.lock().expect("hash cache").get(&inode).copied();
            let hash = match known {
                Some(h) => h,
                None => {
                    let h = fs::read(&path).ok().map(|b| *blake3::hash(&b).as_bytes());
                    hashes.lock().expect("hash cache").insert(inode, h);
                    h
                }
            };
            hash != Some(f.blake3)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Missing, resized, edited and replaced-by-a-link files are damaged; an intact file and
    /// its hard link are not, and a path outside the snapshot is never opened.
    #[test]
    fn damaged_files_are_found() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fs::create_dir_all(dir.join("public/a")).unwrap();
        let body = b"{\"ok\":1}";
        let hash = *blake3::hash(body).as_bytes();
        for name in ["ok", "edited", "resized"] {
            fs::write(dir.join("public/a").join(name), body).unwrap();
        }
        fs::hard_link(dir.join("public/a/ok"), dir.join("public/a/linked")).unwrap();
        fs::write(dir.join("public/a/edited"), b"{\"ok\":2}").unwrap();
        fs::write(dir.join("public/a/resized"), b"{}").unwrap();
        std::os::unix::fs::symlink(dir.join("public/a/ok"), dir.join("public/a/link")).unwrap();
        let names = [
            "public/a/ok",
            "public/a/linked",
            "public/a/edited",
            "public/a/resized",
            "public/a/link",
            "public/a/gone",
            "public/../x",
        ];
        let files: Vec<Listed> = names
            .iter()
            .map(|p| Listed {
                path: p,
                size: body.len() as u64,
                blake3: hash,
            })
            .collect();
        assert_eq!(
            damaged(dir, &files),
            [false, false, true, true, true, true, false]
        );
    }
}
