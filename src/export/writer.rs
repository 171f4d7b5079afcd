//! Writes an export's files into its staging tree: identical bodies hard-linked, and in an
//! incremental export only the files whose bytes changed.

use super::{drop_in_background, io_err, journal, previous, ExportError, Staged};
use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What [`Writer::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Put {
    /// Wrote the bytes.
    Written,
    /// Hard-linked an identical body.
    Linked,
    /// The previous snapshot already holds these bytes at this path (incremental export).
    Unchanged,
}

/// Where an export puts its routes' bodies: files in the staging tree ([`Writer`]), or packs
/// ([`super::pack::PackSink`]).
///
/// The render stage renders the readable assets in chunks, in asset order: each chunk in
/// parallel, then handed whole to [`Sink::take`] on one thread, chunk after chunk (the next chunk
/// renders meanwhile). A sink that [`takes_bodies`](Sink::takes_bodies) gets each new body there,
/// in a fixed order whatever the thread timing; the others have each body [`put`](Sink::put) by
/// the render threads as it is rendered.
pub(super) trait Sink: Sync {
    /// `body` (whose blake3 is `hash`) at `rel` (under `public/`). Outside the render stage
    /// (error documents, markers) it is called from one thread, in a fixed order.
    fn put(&self, rel: &str, body: &[u8], hash: blake3::Hash) -> Result<Put, ExportError>;
    /// A by_url alias at `rel` of the body already put at `source`.
    fn alias(&self, rel: &str, source: &str, hash: &blake3::Hash) -> Result<Put, ExportError>;
    /// Whether the render stage hands the routes' bodies to [`Sink::take`] instead of putting
    /// each.
    fn takes_bodies(&self) -> bool {
        false
    }
    /// In a render thread, for a sink that takes bodies: whether the body of `hash` must be
    /// handed on (`false`: the sink holds it already, as a kept pack does).
    fn wants(&self, _hash: &blake3::Hash) -> bool {
        true
    }
    /// One chunk of rendered assets, in asset order; called from one thread, chunk after chunk
    /// in order. `count` is told what became of each entry, in order.
    fn take(&self, _chunk: &mut [Rendered], _count: &dyn Fn(Put)) -> Result<(), ExportError> {
        Ok(())
    }
    /// The render stage is over: what is put from now on comes after every route.
    fn end_render(&self) {}
}

/// One readable asset's routes as the render stage hands them on ([`Sink::take`]).
pub(super) struct Rendered {
    /// Its manifest entries, sorted by path.
    pub(super) entries: Vec<Staged>,
    /// For a sink that [takes bodies](Sink::takes_bodies), one per entry: the body and its
    /// ETag (the first 8 bytes of its SHA-256, [`crate::snapshot::pack::body_etag`], hashed on
    /// the render thread: the thread that takes the chunks in order was the render stage's
    /// bottleneck), beside the first entry (in path order) of each distinct body the sink
    /// [wants](Sink::wants); else empty.
    pub(super) bodies: Vec<Option<(Vec<u8>, [u8; 8])>>,
}

impl Sink for Writer<'_> {
    fn put(&self, rel: &str, body: &[u8], hash: blake3::Hash) -> Result<Put, ExportError> {
        Writer::put(self, rel, body, hash)
    }

    fn alias(&self, rel: &str, source: &str, hash: &blake3::Hash) -> Result<Put, ExportError> {
        Writer::alias(self, rel, source, hash)
    }
}

/// The directories [`Writer`] remembers having made (the render stage goes asset by asset, so
/// the ones it needs again are recent). Unit tests use a few.
#[cfg(not(test))]
const DIRS_CACHED: usize = 1 << 16;
#[cfg(test)]
const DIRS_CACHED: usize = 8;

/// Writes files into the staging directory, hard-linking identical bodies; in an incremental
/// export, only the files whose bytes differ from the previous snapshot's.
pub(super) struct Writer<'a> {
    root: &'a Path,
    dedupe: bool,
    seen: Mutex<HashMap<blake3::Hash, String>>,
    dirs: Mutex<std::collections::HashSet<PathBuf>>,
    /// The previous snapshot being updated, and where it is. New files are then staged flat,
    /// at [`journal::staged_path`].
    previous: Option<(&'a previous::Previous, &'a Path)>,
}

impl<'a> Writer<'a> {
    /// A writer into the staging tree `root`; `previous` is the snapshot an incremental export
    /// updates, and where it is.
    pub(super) fn new(
        root: &'a Path,
        dedupe: bool,
        previous: Option<(&'a previous::Previous, &'a Path)>,
    ) -> Result<Writer<'a>, ExportError> {
        if previous.is_some() {
            journal::create_new_dir(root)
                .map_err(io_err(format!("creating {}", root.join("~new").display())))?;
        }
        Ok(Writer {
            root,
            dedupe,
            seen: Mutex::new(HashMap::new()),
            dirs: Mutex::new(Default::default()),
            previous,
        })
    }

    /// Frees the dedupe and directory sets on another thread, once everything is written.
    pub(super) fn finish(self) {
        let Writer { seen, dirs, .. } = self;
        drop_in_background((seen.into_inner(), dirs.into_inner()));
    }
}

impl Writer<'_> {
    /// Where the file for `rel` (under `public/`) goes: at its path in a full export's staging
    /// tree (its directory created), flat in an incremental one's.
    fn place(&self, rel: &str) -> Result<PathBuf, ExportError> {
        let full = self.staged(rel);
        if self.previous.is_none() {
            self.make_dir(&full)?;
        }
        Ok(full)
    }

    /// Where the file for `rel` (under `public/`) is staged.
    fn staged(&self, rel: &str) -> PathBuf {
        if self.previous.is_some() {
            journal::staged_path(self.root, &format!("public/{rel}"))
        } else {
            self.root.join("public").join(rel)
        }
    }

    fn make_dir(&self, full: &Path) -> Result<(), ExportError> {
        let dir = full.parent().expect("files live in directories");
        let new_dir = {
            let mut dirs = self.dirs.lock().expect("dirs lock");
            // A cache, not a record: forgetting a directory costs one `mkdir` that finds it.
            // (Every directory kept was 100 bytes each, millions at a million assets.)
            if dirs.len() >= DIRS_CACHED {
                dirs.clear();
            }
            dirs.insert(dir.to_path_buf())
        };
        if new_dir {
            fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        }
        Ok(())
    }

    fn unchanged(&self, rel: &str, hash: &blake3::Hash) -> bool {
        self.previous.is_some_and(|(p, _)| p.unchanged(rel, hash))
    }

    /// A by_url alias at `rel` of the file at `source` (written, or unchanged, this run).
    pub(super) fn alias(
        &self,
        rel: &str,
        source: &str,
        hash: &blake3::Hash,
    ) -> Result<Put, ExportError> {
        if self.unchanged(rel, hash) {
            return Ok(Put::Unchanged);
        }
        let src = match self.previous {
            Some((_, live)) if self.unchanged(source, hash) => live.join("public").join(source),
            _ => self.staged(source),
        };
        let full = self.place(rel)?;
        match fs::hard_link(&src, &full) {
            Ok(()) => Ok(Put::Linked),
            Err(e) if too_many_links(&e) => {
                fs::copy(&src, &full).map_err(io_err(format!("writing {}", full.display())))?;
                Ok(Put::Written)
            }
            Err(e) => Err(io_err(format!("linking {}", full.display()))(e)),
        }
    }

    /// Writes `body` at `rel` (under `public/`).
    pub(super) fn put(
        &self,
        rel: &str,
        body: &[u8],
        hash: blake3::Hash,
    ) -> Result<Put, ExportError> {
        if rel.split('/').any(|c| c.len() > 255) {
            return Err(ExportError::NameTooLong(rel.to_string()));
        }
        if self.unchanged(rel, &hash) {
            return Ok(Put::Unchanged);
        }
        let full = self.place(rel)?;
        if self.dedupe {
            let first = self.seen.lock().expect("dedupe lock").get(&hash).cloned();
            if let Some(first) = first {
                let src = self.staged(&first);
                match fs::hard_link(&src, &full) {
                    Ok(()) => return Ok(Put::Linked),
                    // The inode has as many links as the filesystem allows (65,000 on ext4):
                    // write a fresh copy and link later duplicates to it.
                    Err(e) if too_many_links(&e) => {
                        fs::write(&full, body)
                            .map_err(io_err(format!("writing {}", full.display())))?;
                        self.seen
                            .lock()
                            .expect("dedupe lock")
                            .insert(hash, rel.to_string());
                        return Ok(Put::Written);
                    }
                    Err(e) => return Err(io_err(format!("linking {}", full.display()))(e)),
                }
            }
        }
        // Inside the staging tree a plain write is enough: nothing is visible until the swap.
        fs::write(&full, body).map_err(io_err(format!("writing {}", full.display())))?;
        if self.dedupe {
            // Registered only once complete, so a link never points at a half-written file.
            self.seen
                .lock()
                .expect("dedupe lock")
                .entry(hash)
                .or_insert_with(|| rel.to_string());
        }
        Ok(Put::Written)
    }
}

/// `EMLINK`: the file already has the most hard links the filesystem allows.
fn too_many_links(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::MLINK.raw_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 20: the directories made are a bounded cache, not a set of every one (millions at
    /// a million assets); a directory forgotten is made again without harm, and identical
    /// bodies are still linked across them.
    #[test]
    fn the_directories_made_are_a_bounded_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let w = Writer::new(tmp.path(), true, None).unwrap();
        let body = b"{}";
        let hash = blake3::hash(body);
        let mut puts = Vec::new();
        for round in 0..2 {
            for d in 0..3 * DIRS_CACHED {
                let rel = format!("__api/assets/{d}/x/{round}.json");
                puts.push(w.put(&rel, body, hash).unwrap());
                assert!(w.dirs.lock().unwrap().len() <= DIRS_CACHED);
            }
        }
        assert_eq!(puts[0], Put::Written);
        assert!(puts[1..].iter().all(|&p| p == Put::Linked));
        for round in 0..2 {
            for d in 0..3 * DIRS_CACHED {
                let path = tmp
                    .path()
                    .join(format!("public/__api/assets/{d}/x/{round}.json"));
                assert_eq!(fs::read(path).unwrap(), body);
            }
        }
    }
}
