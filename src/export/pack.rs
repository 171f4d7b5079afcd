//! `export --layout pack`: the routes' bodies go into packs and an index
//! ([`crate::snapshot::pack`]) instead of one file each.
//!
//! While the routes render (in parallel, in no fixed order), each distinct body the previous
//! snapshot's packs do not already hold is appended to a **spool** file in the staging tree.
//! Once every entry is known and sorted by path, the packs are written in that order — each
//! new body where its first path puts it — so a fresh export is byte-identical for the same
//! input whatever the thread timing. An update keeps the previous packs that are still used
//! (hard-linked, same names and bytes) and writes only the new bodies into new packs; when the
//! bytes no longer used in the kept packs pass [`REPACK_SHARE`], everything is packed afresh.

use super::writer::{Put, Sink};
use super::{io_err, ExportError, Staged};
use crate::snapshot::pack::{self, Loc, Record, Root};
use crate::snapshot::{self, Entry};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The share of kept packs' bytes no longer used above which an update packs everything
/// afresh (`docs/snapshot-format.md`).
pub const REPACK_SHARE: f64 = 0.25;

/// The spool's name in the staging tree (removed before the swap).
const SPOOL: &str = "pack.spool";

/// The previous pack snapshot an update builds on: where each of its bodies is.
pub(super) struct PackPrevious {
    /// Its root.
    root: Root,
    /// blake3 of a body → where it is (positions in `root.packs`).
    bodies: FxHashMap<[u8; 32], Loc>,
    /// Each pack's size in bytes (0 for none).
    pack_sizes: Vec<u64>,
    /// Its web root.
    public: PathBuf,
}

impl PackPrevious {
    /// Reads the previous snapshot `out`'s root and index, and finds the body of every path the
    /// previous manifest lists (`files`: path and blake3). `None` when it cannot be read whole
    /// (the export then packs everything afresh).
    pub(super) fn load<'a>(
        out: &Path,
        files: impl Iterator<Item = (&'a str, [u8; 32])>,
    ) -> Option<PackPrevious> {
        let public = out.join(snapshot::PUBLIC_DIR);
        let reader = pack::Reader::open(pack::DirSource(public.clone()), &public).ok()?;
        let shards: Vec<pack::Shard> = (0..reader.root.shards.len() as u32)
            .into_par_iter()
            .map(|i| {
                let name = &reader.root.shards[i as usize];
                let bytes = fs::read(public.join(pack::shard_file(name))).ok()?;
                pack::Shard::parse(bytes, Some(name)).ok()
            })
            .collect::<Option<_>>()?;
        let bits = reader.root.shard_bits;
        let files: Vec<(&str, [u8; 32])> = files.collect();
        let found: Vec<Option<([u8; 32], Loc)>> = files
            .par_iter()
            .map(|(path, hash)| {
                let key = path.strip_prefix("public/")?;
                let loc = shards[pack::shard_of(key, bits) as usize].find(&pack::key_hash(key))?;
                Some((*hash, loc))
            })
            .collect();
        let mut bodies = FxHashMap::default();
        for (hash, loc) in found.into_iter().flatten() {
            bodies.insert(hash, loc);
        }
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
        Some(PackPrevious {
            root: reader.root,
            bodies,
            pack_sizes,
            public,
        })
    }
}

/// A new body, in the spool.
#[derive(Clone, Copy)]
struct Spooled {
    offset: u64,
    length: u32,
    etag: [u8; 8],
}

struct Spool {
    file: io::BufWriter<fs::File>,
    len: u64,
}

/// Collects the distinct bodies of an export (see the module doc).
pub(super) struct PackSink<'a> {
    path: PathBuf,
    spool: Mutex<Spool>,
    bodies: Mutex<FxHashMap<[u8; 32], Spooled>>,
    previous: Option<&'a PackPrevious>,
}

impl<'a> PackSink<'a> {
    /// A sink spooling into the staging tree `root`.
    pub(super) fn new(
        root: &Path,
        previous: Option<&'a PackPrevious>,
    ) -> Result<PackSink<'a>, ExportError> {
        let path = root.join(SPOOL);
        let file =
            fs::File::create(&path).map_err(io_err(format!("creating {}", path.display())))?;
        Ok(PackSink {
            path,
            spool: Mutex::new(Spool {
                file: io::BufWriter::with_capacity(1 << 20, file),
                len: 0,
            }),
            bodies: Mutex::new(FxHashMap::default()),
            previous,
        })
    }
}

impl Sink for PackSink<'_> {
    fn put(&self, _rel: &str, body: &[u8], hash: blake3::Hash) -> Result<Put, ExportError> {
        let key = *hash.as_bytes();
        if self.previous.is_some_and(|p| p.bodies.contains_key(&key)) {
            return Ok(Put::Unchanged);
        }
        if self.bodies.lock().expect("bodies").contains_key(&key) {
            return Ok(Put::Linked);
        }
        let length = u32::try_from(body.len()).map_err(|_| ExportError::Io {
            context: "packing a body".into(),
            source: io::Error::other(format!("a body of {} bytes (at most 4 GiB)", body.len())),
        })?;
        let etag = pack::body_etag(body);
        let mut spool = self.spool.lock().expect("spool");
        // Checked again under the spool's lock: another thread may have spooled it meanwhile.
        if self.bodies.lock().expect("bodies").contains_key(&key) {
            return Ok(Put::Linked);
        }
        let offset = spool.len;
        spool
            .file
            .write_all(body)
            .map_err(io_err(format!("writing {}", self.path.display())))?;
        spool.len += u64::from(length);
        self.bodies.lock().expect("bodies").insert(
            key,
            Spooled {
                offset,
                length,
                etag,
            },
        );
        Ok(Put::Written)
    }

    fn alias(&self, _rel: &str, _source: &str, _hash: &blake3::Hash) -> Result<Put, ExportError> {
        // The body was put under its source's path: the alias is an index entry only.
        Ok(Put::Linked)
    }
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
}

/// Where each body goes: its source and, once packed, its place.
enum Source {
    Spool(Spooled),
    Previous(Loc),
}

/// Writes new packs into `public`, one at a time, at most `size` bytes each (unless one body
/// alone is larger).
struct PackWriter<'p> {
    dir: PathBuf,
    size: u64,
    names: &'p mut Vec<Option<String>>,
    current: Option<(io::BufWriter<fs::File>, blake3::Hasher, u64, PathBuf)>,
    report: &'p mut PackReport,
}

impl PackWriter<'_> {
    /// Appends `body`; returns its place.
    fn append(&mut self, body: &[u8], etag: [u8; 8]) -> io::Result<Loc> {
        let len = body.len() as u64;
        if self
            .current
            .as_ref()
            .is_some_and(|(_, _, used, _)| *used > 0 && used + len > self.size)
        {
            self.close()?;
        }
        if self.current.is_none() {
            let tmp = self.dir.join(format!(".new-{}", self.names.len()));
            let file = fs::File::create(&tmp)?;
            self.names.push(None);
            self.current = Some((
                io::BufWriter::with_capacity(1 << 20, file),
                blake3::Hasher::new(),
                0,
                tmp,
            ));
        }
        let (file, hasher, used, _) = self.current.as_mut().expect("open");
        let offset = *used;
        file.write_all(body)?;
        hasher.update(body);
        *used += len;
        Ok(Loc {
            pack: (self.names.len() - 1) as u32,
            offset: offset as u32,
            length: len as u32,
            etag,
        })
    }

    /// Finishes the pack being written: named by its content.
    fn close(&mut self) -> io::Result<()> {
        let Some((file, hasher, used, tmp)) = self.current.take() else {
            return Ok(());
        };
        file.into_inner().map_err(|e| e.into_error())?;
        let name = pack::pack_name(&hasher.finalize());
        fs::rename(&tmp, self.dir.join(format!("{name}.pack")))?;
        *self.names.last_mut().expect("pushed") = Some(name);
        self.report.packs_written += 1;
        self.report.bytes_written += used;
        Ok(())
    }
}

impl PackSink<'_> {
    /// Writes the packs, the index and `root.json` into the staging tree `root` for the sorted
    /// `entries` (plus `extra` index entries not in the manifest: the URL keys of forbidden
    /// assets, each with the body of `extra_body`'s path), keeping the previous snapshot's packs
    /// that are still used. `errors`: the error bodies `root.json` carries.
    pub(super) fn finish(
        self,
        root: &Path,
        entries: &[Staged],
        extra: &[(String, String)],
        pack_size: u64,
    ) -> Result<PackReport, ExportError> {
        let PackSink {
            path: spool_path,
            spool,
            bodies,
            previous,
        } = self;
        let spool = spool.into_inner().expect("spool");
        spool
            .file
            .into_inner()
            .map_err(|e| io_err(format!("writing {}", spool_path.display()))(e.into_error()))?;
        let spooled = bodies.into_inner().expect("bodies");
        let spool_file = fs::File::open(&spool_path)
            .map_err(io_err(format!("reading {}", spool_path.display())))?;
        let public = root.join(snapshot::PUBLIC_DIR);
        let packs_dir = public.join(pack::DIR).join("packs");
        let index_dir = public.join(pack::DIR).join("index");
        for d in [&packs_dir, &index_dir] {
            fs::create_dir_all(d).map_err(io_err(format!("creating {}", d.display())))?;
        }
        let mut report = PackReport::default();

        // Which previous packs stay: those still used, unless too much of them is not.
        let keep_previous = previous.filter(|prev| {
            let mut used = vec![0u64; prev.root.packs.len()];
            let mut seen = rustc_hash::FxHashSet::default();
            for e in entries {
                let h = e.entry.blake3.as_bytes();
                if let Some(loc) = prev.bodies.get(h) {
                    if seen.insert(*h) {
                        used[loc.pack as usize] += u64::from(loc.length);
                    }
                }
            }
            let kept: u64 = (0..used.len())
                .filter(|&i| used[i] > 0)
                .map(|i| prev.pack_sizes[i])
                .sum();
            let dead = kept.saturating_sub(used.iter().sum::<u64>());
            let new: u64 = spooled.values().map(|s| u64::from(s.length)).sum();
            let fresh = (dead as f64) <= REPACK_SHARE * (kept + new) as f64;
            report.repacked = !fresh;
            fresh
        });

        let mut names: Vec<Option<String>> = match keep_previous {
            Some(prev) => vec![None; prev.root.packs.len()],
            None => Vec::new(),
        };
        let mut placed: FxHashMap<[u8; 32], Loc> =
            FxHashMap::with_capacity_and_hasher(spooled.len(), Default::default());
        {
            let mut writer = PackWriter {
                dir: packs_dir.clone(),
                size: pack_size.max(1),
                names: &mut names,
                current: None,
                report: &mut report,
            };
            let mut buf = Vec::new();
            let mut prev_files: FxHashMap<u32, fs::File> = FxHashMap::default();
            for e in entries {
                let h = *e.entry.blake3.as_bytes();
                if placed.contains_key(&h) {
                    continue;
                }
                let source = match (spooled.get(&h), previous.and_then(|p| p.bodies.get(&h))) {
                    (Some(s), _) => Source::Spool(*s),
                    (None, Some(loc)) => Source::Previous(*loc),
                    (None, None) => {
                        return Err(ExportError::Io {
                            context: format!("packing {}", e.entry.path),
                            source: io::Error::other(
                                "its body was neither rendered nor found in the previous packs",
                            ),
                        })
                    }
                };
                let loc = match source {
                    Source::Previous(loc) if keep_previous.is_some() => {
                        writer.names[loc.pack as usize] =
                            previous.expect("kept").root.packs[loc.pack as usize].clone();
                        loc
                    }
                    Source::Previous(loc) => {
                        let prev = previous.expect("a previous body");
                        let name = prev.root.packs[loc.pack as usize].as_deref().unwrap_or("");
                        let file = match prev_files.entry(loc.pack) {
                            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                            std::collections::hash_map::Entry::Vacant(v) => {
                                let p = prev.public.join(pack::pack_file(name));
                                v.insert(
                                    fs::File::open(&p)
                                        .map_err(io_err(format!("reading {}", p.display())))?,
                                )
                            }
                        };
                        let body =
                            pack::read_range(file, u64::from(loc.offset), loc.length as usize)
                                .map_err(io_err(format!("reading pack {name}")))?;
                        writer
                            .append(&body, loc.etag)
                            .map_err(io_err(format!("writing {}", packs_dir.display())))?
                    }
                    Source::Spool(s) => {
                        buf.resize(s.length as usize, 0);
                        std::os::unix::fs::FileExt::read_exact_at(&spool_file, &mut buf, s.offset)
                            .map_err(io_err(format!("reading {}", spool_path.display())))?;
                        writer
                            .append(&buf, s.etag)
                            .map_err(io_err(format!("writing {}", packs_dir.display())))?
                    }
                };
                placed.insert(h, loc);
            }
            writer
                .close()
                .map_err(io_err(format!("writing {}", packs_dir.display())))?;
        }
        drop(spool_file);
        fs::remove_file(&spool_path)
            .map_err(io_err(format!("removing {}", spool_path.display())))?;
        // The previous packs still used, hard-linked into the new tree.
        if let Some(prev) = keep_previous {
            for (i, name) in names.iter().enumerate() {
                let Some(name) = name.as_deref().filter(|_| i < prev.root.packs.len()) else {
                    continue;
                };
                let from = prev.public.join(pack::pack_file(name));
                let to = public.join(pack::pack_file(name));
                link_or_copy(&from, &to)?;
                report.packs_kept += 1;
            }
        }
        report.pack_bytes = names
            .iter()
            .flatten()
            .map(|n| fs::metadata(public.join(pack::pack_file(n))).map_or(0, |m| m.len()))
            .sum();

        // The index.
        let total = entries.len() + extra.len();
        let bits = pack::shard_bits_for(total as u64);
        let keyed = |key: &str, loc: Loc| (pack::shard_of(key, bits), pack::key_hash(key), loc);
        let mut records: Vec<(u32, [u8; 8], Loc)> = entries
            .par_iter()
            .map(|e| {
                let key = e
                    .entry
                    .path
                    .strip_prefix("public/")
                    .unwrap_or(&e.entry.path);
                keyed(key, placed[e.entry.blake3.as_bytes()])
            })
            .collect();
        let by_path: FxHashMap<&str, &Entry> = if extra.is_empty() {
            FxHashMap::default()
        } else {
            entries
                .iter()
                .map(|e| {
                    (
                        e.entry
                            .path
                            .strip_prefix("public/")
                            .unwrap_or(&e.entry.path),
                        &e.entry,
                    )
                })
                .collect()
        };
        for (key, body_of) in extra {
            let e = by_path
                .get(body_of.as_str())
                .expect("the marker body is an entry");
            records.push(keyed(key, placed[e.blake3.as_bytes()]));
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
        // Shards with the same bytes (empty ones) share a file: each name written once.
        let mut first = FxHashMap::default();
        for (i, name) in shard_names.iter().enumerate() {
            first.entry(name.as_str()).or_insert(i);
        }
        let mut distinct: Vec<usize> = first.into_values().collect();
        distinct.sort_unstable();
        let kept: Vec<bool> = distinct
            .par_iter()
            .map(|&i| {
                let name = &shard_names[i];
                let to = public.join(pack::shard_file(name));
                let linked = previous_index
                    .as_ref()
                    .is_some_and(|d| fs::hard_link(d.join(format!("{name}.idx")), &to).is_ok());
                if linked {
                    return Ok(true);
                }
                fs::write(&to, shard_bytes(i))
                    .map(|()| false)
                    .map_err(io_err(format!("writing {}", to.display())))
            })
            .collect::<Result<_, _>>()?;
        report.shards = shard_names.len() as u64;
        report.shards_kept = kept.iter().filter(|&&k| k).count() as u64;
        report.shards_written = kept.len() as u64 - report.shards_kept;
        report.entries = total as u64;

        // The root, last.
        let errors: BTreeMap<String, String> = entries
            .iter()
            .filter(|e| e.entry.status != 200 && e.entry.path.starts_with("public/__api/~/errors/"))
            .map(|e| {
                let key = e.entry.path.strip_prefix("public/").expect("under public/");
                let loc = placed[e.entry.blake3.as_bytes()];
                let name = names[loc.pack as usize]
                    .as_deref()
                    .expect("placed in a pack");
                let body = fs::File::open(public.join(pack::pack_file(name)))
                    .and_then(|f| pack::read_range(&f, u64::from(loc.offset), loc.length as usize))
                    .map_err(io_err(format!("reading pack {name}")))?;
                Ok((key.to_string(), String::from_utf8_lossy(&body).into_owned()))
            })
            .collect::<Result<_, ExportError>>()?;
        let root_json = Root {
            format: pack::ROOT_FORMAT.to_string(),
            entries: total as u64,
            shard_bits: bits,
            shards: shard_names,
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
