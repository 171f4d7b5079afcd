//! `export --layout pack`: the routes' bodies go into packs and an index
//! ([`crate::snapshot::pack`]) instead of one file each.
//!
//! The packs are written from the render stage. The routes render in chunks of assets, in
//! parallel within a chunk; one thread takes the chunks in asset order ([`Sink::take`]) and
//! appends each body not yet placed (deduplicated by blake3: the first use wins) to the current
//! pack, hashing the pack as it goes. So the bodies lie in the order of their first use: the
//! error documents and the not-exported body (put before the render), then each readable asset
//! in store order, its routes in path order, then the forbidden markers (put after it). That
//! order depends only on the input and the profile, so a fresh export is byte-identical whatever
//! the thread count, and no body is written twice.
//!
//! An update keeps the previous packs that are still used (hard-linked, same names and bytes)
//! and appends only the bodies they do not hold to new packs; when the bytes no longer used in
//! the kept packs pass [`REPACK_SHARE`], a second pass copies every body into fresh packs in
//! the order a fresh export gives them, so a repacked snapshot is
//! byte-identical to a fresh export.

use super::direct::DirectFile;
use super::writer::{Put, Rendered, Sink};
use super::{inputs, io_err, ExportError, Staged};
use crate::snapshot::pack::{self, Loc, Record, Root};
use crate::snapshot::{self, Entry};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex};

/// The share of kept packs' bytes no longer used above which an update packs everything
/// afresh (`docs/snapshot-format.md`).
pub const REPACK_SHARE: f64 = 0.25;

/// Bytes a pack writer gathers before it hashes and writes them (one `write` each, past the
/// page cache where the filesystem allows: [`super::direct`]).
const BUFFER: usize = 8 << 20;

/// The previous pack snapshot an update builds on: where each of its bodies is.
pub(super) struct PackPrevious {
    /// Its root.
    root: Root,
    /// blake3 of a body → where it is (positions in `root.packs`).
    bodies: Bodies,
    /// Each pack's size in bytes (0 for none).
    pack_sizes: Vec<u64>,
    /// Its web root.
    public: PathBuf,
}

/// Bits of a body's blake3 that pick its bucket in [`Bodies`].
const BUCKET_BITS: u32 = 16;

/// Where each body of the previous packs is, by blake3: 52 bytes a body in buckets of records
/// sorted by blake3, bucketed by its first [`BUCKET_BITS`] bits (issue 20: a hash map of the
/// 3.2M bodies of a 1M-asset snapshot held 220 MB, and twice that while it grew). A body's
/// position among all of them ([`Bodies::position`]) lets a caller mark it in a bit set.
pub(super) struct Bodies {
    buckets: Vec<Vec<([u8; 32], Loc)>>,
    /// Per bucket, the position of its first body among all ([`Bodies::finish`]).
    firsts: Vec<u32>,
}

impl Bodies {
    fn new() -> Bodies {
        Bodies {
            buckets: (0..1usize << BUCKET_BITS).map(|_| Vec::new()).collect(),
            firsts: Vec::new(),
        }
    }

    fn bucket(key: &[u8; 32]) -> usize {
        (u32::from_be_bytes([key[0], key[1], key[2], key[3]]) >> (32 - BUCKET_BITS)) as usize
    }

    /// Adds a body (a body listed again is held once: sorted out before a bucket grows).
    fn insert(&mut self, key: [u8; 32], loc: Loc) {
        let b = &mut self.buckets[Self::bucket(&key)];
        if b.len() == b.capacity() && !b.is_empty() {
            Self::sort(b);
        }
        b.push((key, loc));
    }

    /// Sorts a bucket by blake3 and keeps one record a body (the first of pack and offset, so
    /// that which is kept does not depend on the order they came in).
    fn sort(b: &mut Vec<([u8; 32], Loc)>) {
        b.sort_unstable_by_key(|x| (x.0, x.1.pack, x.1.offset));
        b.dedup_by(|x, y| x.0 == y.0);
    }

    /// Done adding: every bucket sorted, at its size.
    fn finish(&mut self) {
        self.buckets.par_iter_mut().for_each(|b| {
            Self::sort(b);
            b.shrink_to_fit();
        });
        let mut first = 0u32;
        self.firsts = self
            .buckets
            .iter()
            .map(|b| {
                let f = first;
                first += b.len() as u32;
                f
            })
            .collect();
    }

    /// Where the body `key` is.
    pub(super) fn get(&self, key: &[u8; 32]) -> Option<&Loc> {
        self.position(key).map(|(_, loc)| loc)
    }

    /// Whether it holds the body `key`.
    pub(super) fn contains_key(&self, key: &[u8; 32]) -> bool {
        self.get(key).is_some()
    }

    /// The body `key`'s position among all (below [`Bodies::len`]) and where it is.
    pub(super) fn position(&self, key: &[u8; 32]) -> Option<(usize, &Loc)> {
        let i = Self::bucket(key);
        let b = &self.buckets[i];
        // blake3s are uniform: the key's next 16 bits say about where it is in its bucket, and
        // the walk from there reads a few neighbouring records (a binary search read as many
        // scattered ones: +3 s of an update's merge at 1M assets).
        let guess = (usize::from(u16::from_be_bytes([key[2], key[3]])) * b.len()) >> 16;
        let mut at = guess;
        let found = loop {
            match b.get(at)?.0.cmp(key) {
                std::cmp::Ordering::Equal => break at,
                std::cmp::Ordering::Less if at >= guess => at += 1,
                std::cmp::Ordering::Greater if at <= guess => at = at.checked_sub(1)?,
                _ => return None,
            }
        };
        Some((self.firsts[i] as usize + found, &b[found].1))
    }

    /// How many bodies.
    pub(super) fn len(&self) -> usize {
        self.buckets.iter().map(Vec::len).sum()
    }
}

/// The previous pack snapshot being read ([`PackPrevious::open`]): its index, by which the
/// bodies of the previous manifest's lines are found as the manifest is read.
pub(super) struct PackFinder {
    root: Root,
    shards: Vec<pack::Shard>,
    /// The overlay's shards (none without one).
    overlay: Vec<pack::Shard>,
    bodies: Bodies,
    pack_sizes: Vec<u64>,
    public: PathBuf,
}

impl PackPrevious {
    /// Reads the previous snapshot `out`'s root and index (and checks that every pack the root
    /// names is there), to find the previous manifest's bodies as it is read
    /// ([`PackFinder::add`]). `None` when it cannot be read whole (the export then packs
    /// everything afresh).
    pub(super) fn open(out: &Path) -> Option<PackFinder> {
        let public = out.join(snapshot::PUBLIC_DIR);
        let reader = pack::Reader::open(pack::DirSource(public.clone()), &public).ok()?;
        // Every pack the root names must be there (else the update packs afresh).
        let pack_sizes = reader
            .root
            .packs
            .iter()
            .map(|p| match p {
                None => Some(0),
                Some(name) => fs::metadata(public.join(pack::pack_file(name)))
                    .ok()
                    .map(|m| m.len()),
            })
            .collect::<Option<Vec<u64>>>()?;
        let read = |names: &[String]| -> Option<Vec<pack::Shard>> {
            names
                .par_iter()
                .map(|name| {
                    let bytes = fs::read(public.join(pack::shard_file(name))).ok()?;
                    pack::Shard::parse(bytes, Some(name)).ok()
                })
                .collect()
        };
        let shards = read(&reader.root.shards)?;
        let overlay = match &reader.root.overlay {
            Some(o) => read(&o.shards)?,
            None => Vec::new(),
        };
        Some(PackFinder {
            root: reader.root,
            shards,
            overlay,
            bodies: Bodies::new(),
            pack_sizes,
            public,
        })
    }
}

impl PackFinder {
    /// Finds the bodies of some lines of the previous manifest (path and blake3), in parallel.
    pub(super) fn add(&mut self, files: &[(&str, [u8; 32])]) {
        let (root, shards, overlay) = (&self.root, &self.shards, &self.overlay);
        let found: Vec<Option<([u8; 32], Loc)>> = files
            .par_iter()
            .map(|(path, hash)| {
                let key = path.strip_prefix("public/")?;
                let (base, over) = root.shards_of(key);
                let over = over.map(|o| &overlay[o as usize]);
                let found = pack::find_layered(over, &pack::key_hash(key), || {
                    Ok::<_, std::convert::Infallible>(&shards[base as usize])
                });
                let Ok(loc) = found;
                Some((*hash, loc?))
            })
            .collect();
        for (hash, loc) in found.into_iter().flatten() {
            self.bodies.insert(hash, loc);
        }
    }

    /// Every line given: the index is let go, the bodies found kept.
    pub(super) fn finish(self) -> PackPrevious {
        let PackFinder {
            root,
            shards,
            overlay,
            mut bodies,
            pack_sizes,
            public,
        } = self;
        drop((shards, overlay));
        bodies.finish();
        PackPrevious {
            root,
            bodies,
            pack_sizes,
            public,
        }
    }
}

/// Writes new packs into a directory, one at a time, at most `size` bytes each (unless one
/// body alone is larger), each hashed as it is written and named by its hash once complete.
struct PackWriter {
    dir: PathBuf,
    size: u64,
    /// Every pack's name by position: those before the first new one are the previous
    /// snapshot's (filled in by [`PackSink::finish`]), `None` while a pack is being written.
    names: Vec<Option<String>>,
    current: Option<Open>,
    /// The last pack's buffers, for the next.
    spare: Vec<Vec<u8>>,
    /// Packs and bytes written.
    packs_written: u64,
    bytes_written: u64,
}

/// The pack being written.
struct Open {
    file: DirectFile,
    tmp: PathBuf,
    hasher: blake3::Hasher,
    /// Bytes appended.
    used: u64,
}

impl PackWriter {
    /// A writer into `dir` whose first pack gets position `first`.
    fn new(dir: PathBuf, size: u64, first: usize) -> PackWriter {
        PackWriter {
            dir,
            size: size.max(1),
            names: vec![None; first],
            current: None,
            spare: Vec::new(),
            packs_written: 0,
            bytes_written: 0,
        }
    }

    /// Appends `body`, whose blake3 is `key`; returns its place.
    fn append(&mut self, body: &[u8], key: &[u8; 32], etag: [u8; 8]) -> io::Result<Loc> {
        let len = body.len() as u64;
        if self
            .current
            .as_ref()
            .is_some_and(|o| o.used > 0 && o.used + len > self.size)
        {
            self.close()?;
        }
        if self.current.is_none() {
            let tmp = self.dir.join(format!(".new-{}", self.names.len()));
            let spare = std::mem::take(&mut self.spare);
            let file = DirectFile::create(&tmp, BUFFER.min(self.size as usize), spare)?;
            self.names.push(None);
            self.current = Some(Open {
                file,
                tmp,
                hasher: blake3::Hasher::new(),
                used: 0,
            });
        }
        let open = self.current.as_mut().expect("open");
        let offset = open.used;
        // The name hashes the bodies' hashes, not their bytes again ([`pack::pack_name`]).
        open.hasher.update(key);
        open.hasher.update(&(body.len() as u64).to_le_bytes());
        open.file.write_all(body, &mut |_| {})?;
        open.used += len;
        Ok(Loc {
            pack: (self.names.len() - 1) as u32,
            offset: offset as u32,
            length: len as u32,
            etag,
        })
    }

    /// Finishes the pack being written: named by its content.
    fn close(&mut self) -> io::Result<()> {
        let Some(open) = self.current.take() else {
            return Ok(());
        };
        self.spare = open.file.finish(&mut |_| {})?;
        let name = pack::pack_name(&open.hasher.finalize());
        fs::rename(&open.tmp, self.dir.join(format!("{name}.pack")))?;
        *self.names.last_mut().expect("pushed") = Some(name);
        self.packs_written += 1;
        self.bytes_written += open.used;
        Ok(())
    }
}

/// The pack sink's state: the packs being written and where each new body went.
struct Packer {
    writer: PackWriter,
    /// blake3 of each body written this time → its place.
    placed: FxHashMap<[u8; 32], Loc>,
    /// The bodies put outside the render stage, before it (`pre`) and after it (`post`), each
    /// once, in the order first put: where a repack places them.
    pre: Vec<[u8; 32]>,
    post: Vec<[u8; 32]>,
    put_outside: FxHashSet<[u8; 32]>,
    /// Whether the render stage is over.
    rendered: bool,
}

impl Packer {
    /// Places `body` (blake3 `key`) unless it was placed before: [`Put::Written`] or
    /// [`Put::Linked`], and where it is.
    fn place(
        &mut self,
        key: [u8; 32],
        body: &[u8],
        etag: Option<[u8; 8]>,
    ) -> io::Result<(Put, Loc)> {
        if let Some(loc) = self.placed.get(&key) {
            return Ok((Put::Linked, *loc));
        }
        let etag = etag.unwrap_or_else(|| pack::body_etag(body));
        let loc = self.writer.append(body, &key, etag)?;
        self.placed.insert(key, loc);
        Ok((Put::Written, loc))
    }
}

/// Collects the distinct bodies of an export into packs (see the module doc).
pub(super) struct PackSink<'a> {
    packs_dir: PathBuf,
    packer: Mutex<Packer>,
    previous: Option<&'a PackPrevious>,
}

impl<'a> PackSink<'a> {
    /// A sink writing packs of at most `pack_size` bytes into the staging tree `root`, building
    /// on `previous` (an update).
    pub(super) fn new(
        root: &Path,
        previous: Option<&'a PackPrevious>,
        pack_size: u64,
    ) -> Result<PackSink<'a>, ExportError> {
        let public = root.join(snapshot::PUBLIC_DIR);
        let packs_dir = public.join(pack::DIR).join("packs");
        let index_dir = public.join(pack::DIR).join("index");
        for d in [&packs_dir, &index_dir] {
            fs::create_dir_all(d).map_err(io_err(format!("creating {}", d.display())))?;
        }
        // New packs go after the previous ones (kept unless the update repacks).
        let first = previous.map_or(0, |p| p.root.packs.len());
        Ok(PackSink {
            packer: Mutex::new(Packer {
                writer: PackWriter::new(packs_dir.clone(), pack_size, first),
                placed: FxHashMap::default(),
                pre: Vec::new(),
                post: Vec::new(),
                put_outside: FxHashSet::default(),
                rendered: false,
            }),
            packs_dir,
            previous,
        })
    }

    fn in_previous(&self, key: &[u8; 32]) -> bool {
        self.previous.is_some_and(|p| p.bodies.contains_key(key))
    }

    fn write_err(&self) -> impl FnOnce(io::Error) -> ExportError {
        io_err(format!("writing a pack in {}", self.packs_dir.display()))
    }
}

impl Sink for PackSink<'_> {
    fn put(&self, _rel: &str, body: &[u8], hash: blake3::Hash) -> Result<Put, ExportError> {
        let key = *hash.as_bytes();
        check_length(body)?;
        let mut p = self.packer.lock().expect("packer");
        if p.put_outside.insert(key) {
            if p.rendered {
                p.post.push(key);
            } else {
                p.pre.push(key);
            }
        }
        if self.in_previous(&key) {
            return Ok(Put::Unchanged);
        }
        p.place(key, body, None)
            .map(|(put, _)| put)
            .map_err(self.write_err())
    }

    fn alias(&self, _rel: &str, _source: &str, _hash: &blake3::Hash) -> Result<Put, ExportError> {
        // The body was put under its source's path: the alias is an index entry only.
        Ok(Put::Linked)
    }

    fn takes_bodies(&self) -> bool {
        true
    }

    fn wants(&self, hash: &blake3::Hash) -> bool {
        !self.in_previous(hash.as_bytes())
    }

    fn take(&self, chunk: &mut [Rendered], count: &dyn Fn(Put)) -> Result<(), ExportError> {
        let mut p = self.packer.lock().expect("packer");
        for r in chunk {
            for (e, body) in r.entries.iter_mut().zip(&mut r.bodies) {
                let key = *e.blake3.as_bytes();
                // Where the body is goes with the entry: the merge pass indexes it as it is.
                let (put, loc) = match body.take() {
                    Some((body, etag)) => {
                        check_length(&body)?;
                        let (put, loc) =
                            p.place(key, &body, Some(etag)).map_err(self.write_err())?;
                        (put, Some(loc))
                    }
                    None if self.in_previous(&key) => (Put::Unchanged, None),
                    // Placed before (by this asset or an earlier one).
                    None => (Put::Linked, p.placed.get(&key).copied()),
                };
                e.pack_loc = loc;
                count(put);
            }
        }
        Ok(())
    }

    fn end_render(&self) {
        self.packer.lock().expect("packer").rendered = true;
    }
}

/// A body's length as a pack entry holds it (at most 4 GiB).
fn check_length(body: &[u8]) -> Result<u32, ExportError> {
    u32::try_from(body.len()).map_err(|_| ExportError::Io {
        context: "packing a body".into(),
        source: io::Error::other(format!("a body of {} bytes (at most 4 GiB)", body.len())),
    })
}

/// What [`PackSink::finish`] wrote.
#[derive(Debug, Clone, Default)]
pub struct PackReport {
    /// Packs written this time.
    pub packs_written: u64,
    /// Packs kept from the previous snapshot.
    pub packs_kept: u64,
    /// Bytes of the packs written.
    pub bytes_written: u64,
    /// Bytes of all packs.
    pub pack_bytes: u64,
    /// Shards written this time.
    pub shards_written: u64,
    /// Shards (by name) the previous snapshot already had.
    pub shards_kept: u64,
    /// Shards in the root.
    pub shards: u64,
    /// Index entries.
    pub entries: u64,
    /// Whether the update packed everything afresh (too many unused bytes in its packs).
    pub repacked: bool,
    /// Overlay shards in the root (0: no overlay; the base shards are the previous ones).
    pub overlay_shards: u64,
    /// Index entries of the overlay (changed, new and deleted keys).
    pub overlay_entries: u64,
}

/// Reads bodies back from packs (a repack, the error bodies), keeping each pack open.
struct PackFiles {
    dir: PathBuf,
    open: FxHashMap<String, fs::File>,
}

impl PackFiles {
    fn new(public: &Path) -> PackFiles {
        PackFiles {
            dir: public.to_path_buf(),
            open: FxHashMap::default(),
        }
    }

    /// The body at `loc` of the pack named `name`.
    fn read(&mut self, name: &str, loc: &Loc) -> Result<Vec<u8>, ExportError> {
        let path = self.dir.join(pack::pack_file(name));
        let file = match self.open.entry(name.to_string()) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(
                fs::File::open(&path).map_err(io_err(format!("reading {}", path.display())))?,
            ),
        };
        pack::read_range(file, u64::from(loc.offset), loc.length as usize)
            .map_err(io_err(format!("reading {}", path.display())))
    }
}

impl Packer {
    /// Copies every body into fresh packs in `dir` (as large as the packs written), in the order a fresh export places them (the
    /// module doc): the bodies put before the render, then `owned` (the entries of each asset in
    /// store order and, within one, by path), then the bodies put after it, then `unowned` (any
    /// other entry, by path). `self.placed` and `previous` say where each body is now; a body
    /// found in neither is reported by `unplaced`. Returns the new writer (closed) and where
    /// each body went.
    fn repack(
        &self,
        dir: PathBuf,
        owned: &[[u8; 32]],
        unowned: &[[u8; 32]],
        previous: Option<&PackPrevious>,
        staging_public: &Path,
        unplaced: &mut dyn FnMut(&[u8; 32]) -> ExportError,
    ) -> Result<(PackWriter, FxHashMap<[u8; 32], Loc>), ExportError> {
        let order = self
            .pre
            .iter()
            .chain(owned)
            .chain(&self.post)
            .chain(unowned);
        let mut writer = PackWriter::new(dir.clone(), self.writer.size, 0);
        let mut placed: FxHashMap<[u8; 32], Loc> =
            FxHashMap::with_capacity_and_hasher(self.placed.len(), Default::default());
        let mut new_packs = PackFiles::new(staging_public);
        let mut old_packs = previous.map(|p| PackFiles::new(&p.public));
        for key in order {
            if placed.contains_key(key) {
                continue;
            }
            let (loc, body) = match (
                self.placed.get(key),
                previous.and_then(|p| p.bodies.get(key)),
            ) {
                (Some(loc), _) => {
                    let name = self.writer.names[loc.pack as usize]
                        .as_deref()
                        .expect("a closed pack");
                    (*loc, new_packs.read(name, loc)?)
                }
                (None, Some(loc)) => {
                    let prev = previous.expect("a previous body");
                    let name = prev.root.packs[loc.pack as usize].as_deref().unwrap_or("");
                    let old = old_packs.as_mut().expect("a previous snapshot");
                    (*loc, old.read(name, loc)?)
                }
                (None, None) => return Err(unplaced(key)),
            };
            let at = writer
                .append(&body, key, loc.etag)
                .map_err(io_err(format!("writing a pack in {}", dir.display())))?;
            placed.insert(*key, at);
        }
        writer
            .close()
            .map_err(io_err(format!("writing a pack in {}", dir.display())))?;
        Ok((writer, placed))
    }
}

/// The error for a body that was neither rendered nor found in the previous packs (`path`: a
/// route with that body).
fn unplaced(path: &str) -> ExportError {
    ExportError::Io {
        context: format!("packing {path}"),
        source: io::Error::other("its body was neither rendered nor found in the previous packs"),
    }
}

/// Index entries hashed at a time, in parallel (SHA-256 of each key).
const PENDING: usize = 1 << 16;

/// One entry of the index as it is built: its shard, the hash of its key, where its body is
/// (32 bytes).
type IndexRecord = (u32, [u8; 8], Loc);

/// Keys whose index records are not made yet: at most [`PENDING`], their strings reused from
/// batch to batch (a string allocated and freed for each of 8.3M keys cost the merging thread
/// a twentieth of its time at 1M assets).
///
/// A full batch is hashed on the thread pool while the merging thread goes on ([`Pending::flush`]):
/// the records' order does not matter (the index sorts them), and waiting for each batch kept
/// the merging thread idle while the pool also formatted the manifest (at 1M assets neither
/// the merging thread nor the pool was more than half busy).
#[derive(Default)]
struct Pending {
    keys: Vec<(String, Loc)>,
    len: usize,
    /// Batches hashed: their records, and their keys to fill again.
    hashed: Option<(mpsc::Sender<Hashed>, mpsc::Receiver<Hashed>)>,
    in_flight: usize,
    spare: Vec<Vec<(String, Loc)>>,
}

/// A batch's records and its keys.
type Hashed = (Vec<IndexRecord>, Vec<(String, Loc)>);

/// Batches being hashed at most: the merging thread waits for one beyond.
const BATCHES_IN_FLIGHT: usize = 2;

impl Pending {
    fn push(&mut self, key: &str, loc: Loc) {
        match self.keys.get_mut(self.len) {
            Some((k, l)) => {
                k.clear();
                k.push_str(key);
                *l = loc;
            }
            None => self.keys.push((key.to_string(), loc)),
        }
        self.len += 1;
    }

    fn is_full(&self) -> bool {
        self.len >= PENDING
    }

    /// Hands the pending keys to the thread pool to be hashed into records (in `records` by
    /// [`Pending::flush`] or [`Pending::wait`] once they are) and goes on with empty ones.
    fn flush(&mut self, bits: u8, records: &mut Vec<IndexRecord>) {
        self.collect(records, false);
        if self.len == 0 {
            return;
        }
        while self.in_flight >= BATCHES_IN_FLIGHT {
            self.collect_one(records, true);
        }
        let (tx, _) = self.hashed.get_or_insert_with(mpsc::channel);
        let tx = tx.clone();
        let spare = self.spare.pop().unwrap_or_default();
        let keys = std::mem::replace(&mut self.keys, spare);
        let n = std::mem::take(&mut self.len);
        self.in_flight += 1;
        rayon::spawn(move || {
            let mut out = Vec::with_capacity(n);
            index_records(&keys[..n], bits, &mut out);
            // The receiver is only gone once the index is: nobody wants the records then.
            let _ = tx.send((out, keys));
        });
    }

    /// Every batch's records in `records`, once hashed.
    fn wait(&mut self, records: &mut Vec<IndexRecord>) {
        self.collect(records, true);
    }

    /// The records of the batches hashed so far (all of them, waiting, when `all`).
    fn collect(&mut self, records: &mut Vec<IndexRecord>, all: bool) {
        while self.in_flight > 0 && self.collect_one(records, all) {}
    }

    /// The records of one batch (waiting for it when `block`); whether there was one.
    fn collect_one(&mut self, records: &mut Vec<IndexRecord>, block: bool) -> bool {
        let Some((_, rx)) = &self.hashed else {
            return false;
        };
        let got = if block {
            rx.recv().ok()
        } else {
            rx.try_recv().ok()
        };
        let Some((out, keys)) = got else {
            return false;
        };
        self.in_flight -= 1;
        records.extend_from_slice(&out);
        self.spare.push(keys);
        true
    }
}

/// The index records of `pending` (keys under `public/` and where their bodies are), hashed in
/// parallel. Keys sorted by path come a directory at a time: a directory's shard is hashed once.
fn index_records(pending: &[(String, Loc)], bits: u8, records: &mut Vec<IndexRecord>) {
    records.par_extend(pending.par_chunks(4096).flat_map_iter(|chunk| {
        let mut last: Option<(&str, u32)> = None;
        chunk.iter().map(move |(key, loc)| {
            let dir = pack::dir_of(key);
            let shard = match last {
                Some((d, shard)) if d == dir => shard,
                _ => pack::shard_of_dir(dir, bits),
            };
            last = Some((dir, shard));
            (shard, pack::key_hash(key), *loc)
        })
    }));
}

/// Where a shard file's bytes come from when it is not linked from the previous snapshot.
enum ShardBytes {
    /// The new base shard at this position.
    Base(usize),
    /// The overlay shard at this position.
    Overlay(usize),
    /// A previous base shard (kept under an overlay): its file.
    Previous,
}

/// How many times less an overlay must upload than the base shards that changed to be written
/// instead of them: an overlay costs every lookup a second shard (cached like the first), so it
/// must earn it.
const OVERLAY_GAIN: u64 = 2;

/// An overlay has at most `2^(shard_bits - OVERLAY_FEWER_BITS)` shards (1,024 beside 8,192):
/// a snapshot's files stay under the hosts' file-count limits however many updates it takes
/// (8,192 shards, 1,024 overlay shards and a 1M-asset export's 468 packs: 9,685 files). A
/// larger overlay has larger shards, until writing the base is less to upload.
const OVERLAY_FEWER_BITS: u8 = 3;

/// The entries an overlay shard holds on average at most (about 3.5 KiB), fewer than a base
/// shard's ([`pack::SHARD_ENTRIES`]): an overlay is written by every update and holds every
/// change since its base, so small shards keep the next update's upload to those it touches.
const OVERLAY_SHARD_ENTRIES: u64 = 128;

/// The bits of an overlay of `entries` entries on `bits` base shard bits: shards of
/// [`OVERLAY_SHARD_ENTRIES`] entries on average, as many as [`OVERLAY_FEWER_BITS`] allows.
fn overlay_bits(entries: u64, bits: u8) -> u8 {
    pack::bits_for(entries, OVERLAY_SHARD_ENTRIES).min(bits.saturating_sub(OVERLAY_FEWER_BITS))
}

/// An overlay written by an update ([`overlay_on`]).
struct OverlayShards {
    bits: u8,
    names: Vec<String>,
    bytes: Vec<Vec<u8>>,
    /// Its records (changed, new and deleted keys).
    entries: u64,
}

/// The overlay that takes the previous base shards of `prev` to the new index (`records`,
/// sorted by shard and key, shard `i` at `starts[i]..starts[i + 1]`, named `names`), when it is
/// at most half the upload of the new base shards that differ from every previous shard
/// ([`OVERLAY_GAIN`]); else `None`
/// (also when a previous shard cannot be read, or two keys of one overlay shard share a hash).
/// It is against the previous base, not the previous overlay: the changes of every update
/// since the base was written, so it grows until writing the base is the smaller upload.
fn overlay_on(
    prev: &PackPrevious,
    records: &[IndexRecord],
    starts: &[usize],
    names: &[String],
) -> Option<OverlayShards> {
    let bits = prev.root.shard_bits;
    let dir = prev.public.join(pack::DIR).join("index");
    let before: FxHashSet<&str> = prev.root.all_shards().map(String::as_str).collect();
    // Each base shard that differs: its new records against its previous ones.
    let diffs: Vec<(u32, Vec<Record>)> = (0..names.len())
        .into_par_iter()
        .filter(|&i| names[i] != prev.root.shards[i])
        .map(|i| {
            let name = &prev.root.shards[i];
            let bytes = fs::read(dir.join(format!("{name}.idx"))).ok()?;
            let old = pack::Shard::parse(bytes, Some(name)).ok()?;
            let new = &records[starts[i]..starts[i + 1]];
            let mut diff = Vec::new();
            let (mut a, mut b) = (old.records().peekable(), new.iter().peekable());
            loop {
                match (a.peek(), b.peek()) {
                    (None, None) => break,
                    (Some(o), Some(&&(_, key, loc))) if o.key == key => {
                        if o.loc != loc {
                            diff.push(Record { key, loc });
                        }
                        a.next();
                        b.next();
                    }
                    (Some(o), Some(&&(_, key, _))) if o.key < key => {
                        diff.push(Record::deleted(o.key));
                        a.next();
                    }
                    (Some(o), None) => {
                        diff.push(Record::deleted(o.key));
                        a.next();
                    }
                    (_, Some(&&(_, key, loc))) => {
                        diff.push(Record { key, loc });
                        b.next();
                    }
                }
            }
            Some((i as u32, diff))
        })
        .collect::<Option<_>>()?;
    // What writing the new base would upload: its shards that no previous shard already is.
    let mut upload: FxHashSet<&str> = FxHashSet::default();
    let base_bytes: u64 = (0..names.len())
        .filter(|&i| !before.contains(names[i].as_str()) && upload.insert(&names[i]))
        .map(|i| (pack::HEADER + pack::RECORD * (starts[i + 1] - starts[i])) as u64)
        .sum();
    let entries: usize = diffs.iter().map(|(_, d)| d.len()).sum();
    if entries == 0 {
        return None;
    }
    let obits = overlay_bits(entries as u64, bits);
    let mut shards: Vec<Vec<Record>> = vec![Vec::new(); 1 << obits];
    for (i, diff) in diffs {
        shards[(i >> (bits - obits)) as usize].extend(diff);
    }
    let mut bytes = Vec::with_capacity(shards.len());
    for mut shard in shards {
        shard.sort_unstable_by_key(|r| r.key);
        if shard.windows(2).any(|w| w[0].key == w[1].key) {
            return None;
        }
        bytes.push(pack::encode_shard(&shard));
    }
    let names: Vec<String> = bytes.iter().map(|b| pack::shard_name(b)).collect();
    let mut upload: FxHashSet<&str> = FxHashSet::default();
    let overlay_bytes: u64 = names
        .iter()
        .zip(&bytes)
        .filter(|(n, _)| !before.contains(n.as_str()) && upload.insert(n))
        .map(|(_, b)| b.len() as u64)
        .sum();
    (overlay_bytes * OVERLAY_GAIN <= base_bytes).then_some(OverlayShards {
        bits: obits,
        names,
        bytes,
        entries: entries as u64,
    })
}

impl<'a> PackSink<'a> {
    /// Finishes the pack being written: from now on the index is built from the export's
    /// `entries` entries as they stream by, sorted by path ([`PackIndex::add`]), plus the
    /// `extra` index entries not in the manifest (the URL keys of forbidden assets, each with the
    /// body of the entry at `extra`'s second path).
    pub(super) fn into_index(
        self,
        entries: u64,
        extra: &[(String, String)],
    ) -> Result<PackIndex<'a>, ExportError> {
        let PackSink {
            packs_dir,
            packer,
            previous,
        } = self;
        let mut packer = packer.into_inner().expect("packer");
        packer
            .writer
            .close()
            .map_err(io_err(format!("writing a pack in {}", packs_dir.display())))?;
        let total = entries + extra.len() as u64;
        let mut records = Vec::new();
        records.reserve_exact(total as usize);
        let packs = previous.map_or(0, |p| p.root.packs.len());
        Ok(PackIndex {
            packs_dir,
            packer,
            previous,
            bits: pack::shard_bits_for(total),
            records,
            pending: Pending::default(),
            prev_used_bytes: vec![0; packs],
            prev_used: vec![false; packs],
            prev_seen: vec![0; previous.map_or(0, |p| p.bodies.len().div_ceil(64))],
            errors: Vec::new(),
            extra_bodies: {
                let mut paths: Vec<(String, Option<[u8; 32]>)> =
                    extra.iter().map(|(_, body)| (body.clone(), None)).collect();
                paths.sort();
                paths.dedup();
                paths
            },
            extra_next: 0,
            entries: 0,
        })
    }
}

/// The pack layout's index being built as the export's entries stream by, sorted by path
/// ([`PackSink::into_index`]): 32 bytes an entry ([`IndexRecord`]), never the entries.
pub(super) struct PackIndex<'a> {
    packs_dir: PathBuf,
    packer: Packer,
    previous: Option<&'a PackPrevious>,
    bits: u8,
    records: Vec<IndexRecord>,
    /// Keys whose records are not made yet ([`PENDING`] at most).
    pending: Pending,
    /// Per previous pack: the bytes of the distinct bodies the entries use, and whether one
    /// does.
    prev_used_bytes: Vec<u64>,
    prev_used: Vec<bool>,
    /// The previous bodies counted in `prev_used_bytes`: a bit each, by [`Bodies::position`]
    /// (a set of their blake3 held 130-260 MB for a 1M-asset snapshot).
    prev_seen: Vec<u64>,
    /// The error documents (key, body), for the root.
    errors: Vec<(String, [u8; 32])>,
    /// The body of each path the extra entries take theirs from, once it passed: sorted by
    /// path, so the entries (which come sorted too) are matched with a cursor, `extra_next`,
    /// not looked up (hashing each of 8.3M paths was a tenth of the merging thread).
    extra_bodies: Vec<(String, Option<[u8; 32]>)>,
    extra_next: usize,
    entries: u64,
}

impl PackIndex<'_> {
    fn pend(&mut self, rel: &str, loc: Loc) {
        self.pending.push(rel, loc);
        if self.pending.is_full() {
            self.pending.flush(self.bits, &mut self.records);
        }
    }

    /// The distinct bodies the entries so far use, and their bytes: those written this time
    /// (each placed for an entry) and those of the previous packs that an entry used.
    pub(super) fn distinct_bodies(&self) -> (u64, u64) {
        let previous: u64 = self
            .prev_seen
            .iter()
            .map(|w| u64::from(w.count_ones()))
            .sum();
        (
            self.packer.placed.len() as u64 + previous,
            self.packer.writer.bytes_written + self.prev_used_bytes.iter().sum::<u64>(),
        )
    }

    /// The next entry of the export (after every one that sorts before it).
    pub(super) fn add(&mut self, e: &Staged) -> Result<(), ExportError> {
        let loc = match e.pack_loc {
            // Written this time, while the routes rendered: never in the previous packs.
            Some(loc) => loc,
            None => self.find(e)?,
        };
        let key = *e.blake3.as_bytes();
        let rel = e.path.strip_prefix("public/").unwrap_or(&e.path);
        if e.status != 200 && e.path.starts_with("public/__api/~/errors/") {
            self.errors.push((rel.to_string(), key));
        }
        while let Some((path, body)) = self.extra_bodies.get_mut(self.extra_next) {
            match path.as_str().cmp(rel) {
                std::cmp::Ordering::Less => self.extra_next += 1,
                std::cmp::Ordering::Equal => {
                    *body = Some(key);
                    break;
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        self.entries += 1;
        self.pend(rel, loc);
        Ok(())
    }

    /// Where the body of an entry that does not say is (looked up once): written this time,
    /// or in the previous packs (then counted as used).
    fn find(&mut self, e: &Entry) -> Result<Loc, ExportError> {
        let key = *e.blake3.as_bytes();
        let previous = self.previous.and_then(|p| p.bodies.position(&key));
        if let Some((at, loc)) = previous {
            self.prev_used[loc.pack as usize] = true;
            let (word, bit) = (at / 64, 1u64 << (at % 64));
            if self.prev_seen[word] & bit == 0 {
                self.prev_seen[word] |= bit;
                self.prev_used_bytes[loc.pack as usize] += u64::from(loc.length);
            }
        }
        match (self.packer.placed.get(&key), previous) {
            (Some(loc), _) | (None, Some((_, loc))) => Ok(*loc),
            (None, None) => Err(unplaced(&e.path)),
        }
    }

    /// Writes the index and `root.json` into the staging tree `root`, keeping the previous
    /// snapshot's packs that are still used — or repacking when too little of them is, which
    /// reads the entries again from `again` (in path order, as [`PackIndex::add`] had them).
    pub(super) fn finish(
        mut self,
        root: &Path,
        extra: &[(String, String)],
        again: &mut dyn FnMut() -> Result<super::spill::Merge, ExportError>,
    ) -> Result<PackReport, ExportError> {
        self.pending.flush(self.bits, &mut self.records);
        self.pending.wait(&mut self.records);
        let PackIndex {
            packs_dir,
            packer,
            previous,
            bits,
            mut records,
            mut pending,
            prev_used_bytes,
            prev_used,
            prev_seen,
            errors,
            extra_bodies,
            extra_next: _,
            entries,
        } = self;
        drop(prev_seen);
        let public = root.join(snapshot::PUBLIC_DIR);
        let mut report = PackReport::default();

        // Which previous packs stay: those still used, unless too much of them is not.
        let keep_previous = previous.filter(|prev| {
            let kept: u64 = (0..prev_used_bytes.len())
                .filter(|&i| prev_used_bytes[i] > 0)
                .map(|i| prev.pack_sizes[i])
                .sum();
            let dead = kept.saturating_sub(prev_used_bytes.iter().sum::<u64>());
            let new = packer.writer.bytes_written;
            let fresh = (dead as f64) <= REPACK_SHARE * (kept + new) as f64;
            report.repacked = !fresh;
            fresh
        });
        let read_err = |e: io::Error| ExportError::Io {
            context: "reading the export's entries again".into(),
            source: e,
        };

        // Where each body is, by position in `names`.
        let (names, placed, prev_bodies) = if previous.is_some() && keep_previous.is_none() {
            // Repacked: every body copied, in a fresh export's order, into packs of their own;
            // the packs written while rendering go. The order: each owner's entries by path,
            // owners in store order (a stable sort of the entries by owner), then the rest.
            let (mut owned, mut unowned) = (Vec::new(), Vec::new());
            let mut m = again()?;
            while let Some(e) = m.next().map_err(read_err)? {
                let key = *e.blake3.as_bytes();
                match e.owner {
                    inputs::NO_OWNER => unowned.push(key),
                    owner => owned.push((owner, key)),
                }
            }
            drop(m);
            owned.sort_by_key(|&(owner, _)| owner);
            let owned: Vec<[u8; 32]> = owned.into_iter().map(|(_, key)| key).collect();
            let again_dir = packs_dir.with_extension("repack");
            fs::create_dir_all(&again_dir)
                .map_err(io_err(format!("creating {}", again_dir.display())))?;
            let mut path_of = |key: &[u8; 32]| -> ExportError {
                let found = again().and_then(|mut m| {
                    while let Some(e) = m.next().map_err(read_err)? {
                        if e.blake3.as_bytes() == key {
                            return Ok(Some(e.path.clone()));
                        }
                    }
                    Ok(None)
                });
                match found {
                    Ok(path) => unplaced(path.as_deref().unwrap_or("a route")),
                    Err(e) => e,
                }
            };
            let (writer, placed) = packer.repack(
                again_dir.clone(),
                &owned,
                &unowned,
                previous,
                &public,
                &mut path_of,
            )?;
            drop((owned, unowned));
            crate::tree::remove_tree(&packs_dir)
                .and_then(|()| fs::rename(&again_dir, &packs_dir))
                .map_err(io_err(format!("replacing {}", packs_dir.display())))?;
            report.packs_written = writer.packs_written;
            report.bytes_written = writer.bytes_written;
            // The records again, with the bodies where they are now.
            records.clear();
            let mut m = again()?;
            while let Some(e) = m.next().map_err(read_err)? {
                let loc = *placed
                    .get(e.blake3.as_bytes())
                    .ok_or_else(|| unplaced(&e.path))?;
                pending.push(e.path.strip_prefix("public/").unwrap_or(&e.path), loc);
                if pending.is_full() {
                    pending.flush(bits, &mut records);
                }
            }
            pending.flush(bits, &mut records);
            pending.wait(&mut records);
            (writer.names, placed, None)
        } else {
            report.packs_written = packer.writer.packs_written;
            report.bytes_written = packer.writer.bytes_written;
            let mut names = packer.writer.names;
            // The previous packs still used, hard-linked into the new tree.
            if let Some(prev) = keep_previous {
                for (i, name) in prev.root.packs.iter().enumerate() {
                    let Some(name) = name.as_deref().filter(|_| prev_used[i]) else {
                        continue;
                    };
                    let from = prev.public.join(pack::pack_file(name));
                    let to = public.join(pack::pack_file(name));
                    link_or_copy(&from, &to)?;
                    names[i] = Some(name.to_string());
                    report.packs_kept += 1;
                }
            }
            (names, packer.placed, keep_previous.map(|p| &p.bodies))
        };
        drop(pending);
        let loc_of = |path: &str, key: &[u8; 32]| -> Result<Loc, ExportError> {
            placed
                .get(key)
                .or_else(|| prev_bodies.and_then(|b| b.get(key)))
                .copied()
                .ok_or_else(|| unplaced(path))
        };
        report.pack_bytes = names
            .iter()
            .flatten()
            .map(|n| fs::metadata(public.join(pack::pack_file(n))).map_or(0, |m| m.len()))
            .sum();

        // The index.
        let total = entries + extra.len() as u64;
        for (key, body_of) in extra {
            let body = extra_bodies
                .binary_search_by(|(path, _)| path.as_str().cmp(body_of))
                .ok()
                .and_then(|i| extra_bodies[i].1)
                .expect("the marker body is an entry");
            records.push((
                pack::shard_of(key, bits),
                pack::key_hash(key),
                loc_of(body_of, &body)?,
            ));
        }
        records.par_sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        if let Some(w) = records
            .windows(2)
            .find(|w| (w[0].0, w[0].1) == (w[1].0, w[1].1))
        {
            return Err(ExportError::Io {
                context: "writing the pack index".into(),
                source: io::Error::other(format!(
                    "two keys share the index hash {} (a 64-bit collision): export with --layout files",
                    pack::hex(&w[0].1)
                )),
            });
        }
        let mut starts = vec![0usize; (1 << bits) + 1];
        for r in &records {
            starts[r.0 as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let previous_index = previous.map(|p| p.public.join(pack::DIR).join("index"));
        let shard_bytes = |i: usize| {
            let shard: Vec<Record> = records[starts[i]..starts[i + 1]]
                .iter()
                .map(|&(_, key, loc)| Record { key, loc })
                .collect();
            pack::encode_shard(&shard)
        };
        let shard_names: Vec<String> = (0..1usize << bits)
            .into_par_iter()
            .map(|i| pack::shard_name(&shard_bytes(i)))
            .collect();
        // An update without a repack may leave the previous base shards as they are and write
        // an overlay of what differs from them, when that is less to upload.
        let overlay = keep_previous
            .filter(|prev| prev.root.shard_bits == bits)
            .and_then(|prev| overlay_on(prev, &records, &starts, &shard_names));
        // The shard files: the new base's; or the previous base's and an overlay.
        let (base_names, files): (Vec<String>, Vec<(&str, ShardBytes)>) = match &overlay {
            Some(o) => (
                keep_previous
                    .expect("an overlay is on a previous base")
                    .root
                    .shards
                    .clone(),
                keep_previous
                    .iter()
                    .flat_map(|prev| prev.root.shards.iter())
                    .map(|n| (n.as_str(), ShardBytes::Previous))
                    .chain(
                        o.names
                            .iter()
                            .enumerate()
                            .map(|(i, n)| (n.as_str(), ShardBytes::Overlay(i))),
                    )
                    .collect(),
            ),
            None => (
                shard_names.clone(),
                shard_names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (n.as_str(), ShardBytes::Base(i)))
                    .collect(),
            ),
        };
        // Shards with the same bytes (empty ones) share a file: each name written once.
        let mut seen = FxHashSet::default();
        // Written from one thread: creating files in one directory takes its lock, which a
        // second thread only spins on (after a mass delete, 8,192 shards took 3.5 s and 6.8 s of
        // CPU from two threads).
        let mut kept = Vec::new();
        for (name, bytes) in files {
            if !seen.insert(name) {
                continue;
            }
            let to = public.join(pack::shard_file(name));
            let from = previous_index
                .as_ref()
                .map(|d| d.join(format!("{name}.idx")));
            let linked = from.as_ref().is_some_and(|f| fs::hard_link(f, &to).is_ok());
            if !linked {
                let bytes = match bytes {
                    ShardBytes::Base(i) => shard_bytes(i),
                    ShardBytes::Overlay(i) => {
                        overlay.as_ref().expect("an overlay").bytes[i].clone()
                    }
                    // A previous base shard that could not be linked (another file system).
                    ShardBytes::Previous => fs::read(from.as_ref().expect("a previous shard"))
                        .map_err(io_err(format!("reading {}", to.display())))?,
                };
                fs::write(&to, bytes).map_err(io_err(format!("writing {}", to.display())))?;
            }
            kept.push(linked);
        }
        report.shards = base_names.len() as u64;
        report.shards_kept = kept.iter().filter(|&&k| k).count() as u64;
        report.shards_written = kept.len() as u64 - report.shards_kept;
        report.entries = total;
        drop(records);
        let overlay = overlay.map(|o| {
            report.overlay_shards = o.names.len() as u64;
            report.overlay_entries = o.entries;
            pack::Overlay {
                bits: o.bits,
                shards: o.names,
            }
        });

        // The root, last.
        let mut packs = PackFiles::new(&public);
        let errors: BTreeMap<String, String> = errors
            .into_iter()
            .map(|(key, body)| {
                let path = format!("public/{key}");
                let loc = loc_of(&path, &body)?;
                let name = names[loc.pack as usize]
                    .as_deref()
                    .expect("placed in a pack");
                let body = packs.read(name, &loc)?;
                Ok((key, String::from_utf8_lossy(&body).into_owned()))
            })
            .collect::<Result<_, ExportError>>()?;
        let root_json = Root {
            format: Root::format_for(&overlay).to_string(),
            entries: total,
            shard_bits: bits,
            shards: base_names,
            overlay,
            packs: names,
            errors,
        };
        let path = public.join(pack::ROOT_FILE);
        fs::write(&path, root_json.to_json())
            .map_err(io_err(format!("writing {}", path.display())))?;
        Ok(report)
    }
}

/// Hard-links `from` to `to`, or copies it where links fail (another file system).
fn link_or_copy(from: &Path, to: &Path) -> Result<(), ExportError> {
    if fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    fs::copy(from, to).map(|_| ()).map_err(io_err(format!(
        "copying {} to {}",
        from.display(),
        to.display()
    )))
}

/// What the new tree `staging` changes under `public/` against the snapshot in `out`, in the
/// order a host takes uploads safely ([`super::changes::Changes::upload_order`]): new packs,
/// new shards, the new root; the objects no longer used, last. Packs and shards are named by
/// content, so one present in both is unchanged.
pub(super) fn object_changes(staging: &Path, out: &Path) -> io::Result<super::Changes> {
    let files = |root: &Path| -> io::Result<Vec<String>> {
        let base = root.join(snapshot::PUBLIC_DIR);
        let mut out = Vec::new();
        if !base.is_dir() {
            return Ok(out);
        }
        for e in walkdir::WalkDir::new(&base) {
            let e = e.map_err(io::Error::other)?;
            if e.file_type().is_file() {
                let rel = e.path().strip_prefix(root).expect("under root");
                out.push(rel.to_string_lossy().into_owned());
            }
        }
        Ok(out)
    };
    let new = files(staging)?;
    let old: rustc_hash::FxHashSet<String> = files(out)?.into_iter().collect();
    let root_file = format!("{}/{}", snapshot::PUBLIC_DIR, pack::ROOT_FILE);
    let mut c = super::Changes {
        upload_order: true,
        ..Default::default()
    };
    let mut seen = rustc_hash::FxHashSet::default();
    for rel in new {
        seen.insert(rel.clone());
        if !old.contains(&rel) {
            c.added.push(rel);
        } else if rel == root_file && fs::read(staging.join(&rel))? != fs::read(out.join(&rel))? {
            c.modified.push(rel);
        } else {
            c.unchanged += 1;
        }
    }
    c.deleted = old.into_iter().filter(|p| !seen.contains(p)).collect();
    Ok(c)
}

/// The pack layout's tree for an export of `entries` index entries whose distinct bodies come
/// to at most `bytes`: (files under `public/`, their bytes at most, the largest file at most).
/// What `export --dry-run` shows beside the files layout's figures.
pub fn estimate(entries: u64, bytes: u64, pack_size: u64) -> (u64, u64, u64) {
    let bits = pack::shard_bits_for(entries);
    let packs = bytes.div_ceil(pack_size.max(1)).max(1);
    let index = pack::HEADER as u64 * (1 << bits) + pack::RECORD as u64 * entries;
    (
        packs + (1 << bits) + 1,
        bytes + index,
        pack_size.min(bytes.max(1)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(pack: u32, offset: u32) -> Loc {
        Loc {
            pack,
            offset,
            length: offset + 1,
            etag: [pack as u8; 8],
        }
    }

    /// A previous base of 4 shards (50 keys each) in `public`, and its records.
    fn previous_base(public: &Path) -> (PackPrevious, Vec<IndexRecord>) {
        let index = public.join(pack::DIR).join("index");
        fs::create_dir_all(&index).unwrap();
        let mut records: Vec<IndexRecord> = (0..4u32)
            .flat_map(|s| {
                (0..50u32).map(move |k| (s, [s as u8, k as u8, 0, 0, 0, 0, 0, 1], loc(0, k)))
            })
            .collect();
        records.sort_by_key(|r| (r.0, r.1));
        let names = (0..4u32)
            .map(|s| {
                let shard: Vec<Record> = records
                    .iter()
                    .filter(|r| r.0 == s)
                    .map(|&(_, key, loc)| Record { key, loc })
                    .collect();
                let bytes = pack::encode_shard(&shard);
                let name = pack::shard_name(&bytes);
                fs::write(index.join(format!("{name}.idx")), bytes).unwrap();
                name
            })
            .collect();
        let root = Root {
            format: pack::ROOT_FORMAT.into(),
            entries: 200,
            shard_bits: 2,
            shards: names,
            overlay: None,
            packs: vec![Some("0123456789abcdef".into())],
            errors: BTreeMap::new(),
        };
        let prev = PackPrevious {
            root,
            bodies: Bodies::new(),
            pack_sizes: vec![0],
            public: public.to_path_buf(),
        };
        (prev, records)
    }

    /// `records` (sorted) as the new index: where each shard starts, and each shard's name.
    fn index_of(records: &[IndexRecord]) -> (Vec<usize>, Vec<String>) {
        let starts: Vec<usize> = (0..=4u32)
            .map(|s| records.iter().filter(|r| r.0 < s).count())
            .collect();
        let names = (0..4)
            .map(|s| {
                let shard: Vec<Record> = records[starts[s]..starts[s + 1]]
                    .iter()
                    .map(|&(_, key, loc)| Record { key, loc })
                    .collect();
                pack::shard_name(&pack::encode_shard(&shard))
            })
            .collect();
        (starts, names)
    }

    /// An update that changes, adds and deletes a few keys gets an overlay of just those, and
    /// the overlay on the previous base finds every key as the new index does; one that changes
    /// every key writes the base again (an overlay would be as big, and cost a second read).
    #[test]
    fn an_overlay_holds_what_differs_and_is_written_only_when_much_smaller() {
        let tmp = tempfile::tempdir().unwrap();
        let (prev, old) = previous_base(tmp.path());
        let mut new = old.clone();
        new[60].2 = loc(1, 7); // shard 1: a body moved
        let deleted = new.remove(120); // shard 2: a key gone
        new.push((3, [9; 8], loc(1, 9))); // shard 3: a key added
        new.sort_by_key(|r| (r.0, r.1));
        let (starts, names) = index_of(&new);
        let o = overlay_on(&prev, &new, &starts, &names).expect("an overlay");
        assert_eq!((o.entries, o.bits), (3, 0));
        let overlay = pack::Shard::parse(o.bytes[0].clone(), Some(&o.names[0])).unwrap();
        let base: Vec<pack::Shard> = prev
            .root
            .shards
            .iter()
            .map(|n| {
                let file = tmp.path().join(pack::shard_file(n));
                pack::Shard::parse(fs::read(file).unwrap(), Some(n)).unwrap()
            })
            .collect();
        let find = |shard: u32, key: &[u8; 8]| {
            let found =
                pack::find_layered(Some(&overlay), key, || Ok::<_, ()>(&base[shard as usize]));
            found.unwrap()
        };
        for &(shard, key, loc) in &new {
            assert_eq!(find(shard, &key), Some(loc));
        }
        assert_eq!(find(deleted.0, &deleted.1), None);

        // Every key's body moved: the base again.
        let all: Vec<IndexRecord> = old
            .iter()
            .map(|&(s, k, l)| (s, k, loc(2, l.offset)))
            .collect();
        let (starts, names) = index_of(&all);
        assert!(overlay_on(&prev, &all, &starts, &names).is_none());
        // Nothing changed: no overlay either.
        let (starts, names) = index_of(&old);
        assert!(overlay_on(&prev, &old, &starts, &names).is_none());
    }

    /// An overlay's shards stay few beside the base's (the hosts' file-count limits), small
    /// shards while they can.
    #[test]
    fn an_overlay_has_at_most_an_eighth_of_the_base_shards() {
        // 1M assets, a 1 % rename: 132,950 entries over 1,024 shards (130 each).
        assert_eq!(overlay_bits(132_950, 13), 10);
        assert_eq!(overlay_bits(4_000_000, 13), 10);
        assert_eq!(overlay_bits(3_000, 13), 5);
        assert_eq!(overlay_bits(100, 13), 0);
        assert_eq!(overlay_bits(1_000_000, 2), 0);
        // 100k assets (1,024 base shards): a 1 % edit's ~15,000 entries over 128.
        assert_eq!(overlay_bits(15_000, 10), 7);
    }

    /// The previous bodies, as sorted buckets, answer as a map of blake3 to place would: every
    /// body listed (by many lines, in any order) once, the same place whatever the order, and
    /// a distinct position each below their count.
    #[test]
    fn bodies_are_found_as_a_map_finds_them() {
        // A quarter of them in one bucket (thousands of records to walk), the rest spread.
        let keys: Vec<[u8; 32]> = (0..20_000u32)
            .map(|i| {
                let mut k = *blake3::hash(&i.to_le_bytes()).as_bytes();
                if i % 4 == 0 {
                    k[..2].copy_from_slice(&[7, 7]);
                }
                k
            })
            .collect();
        // Some keys share their first 16 bits' bucket with others; all are listed three times
        // (as lines of several routes), the last time at another place (a later pack).
        let mut listed: Vec<([u8; 32], Loc)> = Vec::new();
        for round in 0..3u32 {
            for (i, k) in keys.iter().enumerate() {
                listed.push((*k, loc(round.min(1) * 7 + i as u32 % 3, i as u32)));
            }
        }
        let build = |order: &[([u8; 32], Loc)]| {
            let mut b = Bodies::new();
            for &(k, l) in order {
                b.insert(k, l);
            }
            b.finish();
            b
        };
        let bodies = build(&listed);
        let mut reversed = listed.clone();
        reversed.reverse();
        let other = build(&reversed);
        assert_eq!(bodies.len(), keys.len());
        let mut positions = vec![false; keys.len()];
        for (i, k) in keys.iter().enumerate() {
            // The first by pack and offset: the place of round 0.
            let want = loc(i as u32 % 3, i as u32);
            assert_eq!(bodies.get(k), Some(&want));
            assert_eq!(other.get(k), Some(&want), "the same whatever the order");
            let (at, _) = bodies.position(k).unwrap();
            assert!(!positions[at], "position {at} given twice");
            positions[at] = true;
        }
        // Absent keys, in the crowded bucket and elsewhere, before, between and after keys.
        for i in 0..2_000u32 {
            let mut absent = *blake3::hash(&(i + 1_000_000).to_le_bytes()).as_bytes();
            if i % 2 == 0 {
                absent[..2].copy_from_slice(&[7, 7]);
            }
            assert!(!bodies.contains_key(&absent));
        }
        for edge in [[0u8; 32], [255u8; 32]] {
            assert!(!bodies.contains_key(&edge));
        }
        let absent = *blake3::hash(b"not listed").as_bytes();
        assert!(Bodies::new().get(&absent).is_none());
    }
}
