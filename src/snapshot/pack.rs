//! The pack layout (`export --layout pack`, `docs/snapshot-format.md` "The pack layout"): every
//! route's file of the files layout becomes an index entry pointing at a byte range of a pack.
//!
//! Under `public/__api/~/pack/`:
//!
//! - `packs/<name>.pack`: the distinct bodies, appended one after another (at most
//!   [`DEFAULT_PACK_SIZE`] bytes a pack unless one body alone is larger); `<name>` is a hash of
//!   the pack's bodies ([`pack_name`]), so an uploaded pack never changes;
//! - `index/<name>.idx`: the index **shards**. An entry's key is the path the files layout
//!   would give the file (relative to `public/`); its shard is chosen by the SHA-256 of the
//!   key's *directory* (so a file, its asset's `~forbidden.json` marker and its anchor — every
//!   name routing asks about for one request — are in one shard), and within the shard it is
//!   found by the first 8 bytes of the SHA-256 of the key. `<name>` is the first 16 hex digits
//!   of the SHA-256 of the shard's bytes (a router can check a shard against its name);
//! - `root.json`: names the current shards (by position) and packs, and holds the error bodies
//!   so an error answer needs no body read. It is the one file an update replaces; everything
//!   it names is immutable, so a reader that holds a root never sees a mix of two exports.
//!
//! An update may leave the shards as they were (the **base**) and add an **overlay**: a second,
//! smaller set of shards holding only the entries that differ from the base — changed or new,
//! and *deleted* (a record whose pack is [`DELETED`]). A key is looked up in its overlay shard
//! first, then in its base shard ([`find_layered`]). The overlay is against the base, not the
//! previous overlay, so it is rewritten whole by each update, and an update writes whichever of
//! the two is smaller to upload: the overlay, or the base shards that changed (then without an
//! overlay). A root with an overlay says [`ROOT_FORMAT_OVERLAY`], so a reader that does not
//! know overlays refuses it (a 500) rather than answer from the base alone.
//!
//! A shard: [`SHARD_MAGIC`] (8 bytes), the entry count (u32 little-endian), 4 zero bytes, then
//! the entries sorted by key hash, [`RECORD`] bytes each: the key hash (8 bytes, as the digest
//! gives them), the pack's position in `root.json`'s `packs` (u32 LE), the offset and the length
//! of the body in the pack (u32 LE each), and the first 8 bytes of the SHA-256 of the body, whose
//! hex, quoted, is the answer's `ETag` (a router can check the body against it).

use super::ReadError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// The format string of a pack snapshot's `snapshot.json`.
pub const FORMAT: &str = "matrix-snapshot-pack/1";
/// The format of `root.json` without an overlay.
pub const ROOT_FORMAT: &str = "matrix-snapshot-pack-root/1";
/// The format of `root.json` with an overlay ([`Overlay`]).
pub const ROOT_FORMAT_OVERLAY: &str = "matrix-snapshot-pack-root/2";
/// The pack position of an overlay record that deletes its key from the base.
pub const DELETED: u32 = u32::MAX;
/// Where the pack files are, under the web root (inside `__api/~`, which no route reaches).
pub const DIR: &str = "__api/~/pack";
/// The root file, under the web root.
pub const ROOT_FILE: &str = "__api/~/pack/root.json";
/// The first bytes of a shard.
pub const SHARD_MAGIC: &[u8; 8] = b"msidx/1\n";
/// A shard's header: the magic, the count, 4 zero bytes.
pub const HEADER: usize = 16;
/// An index entry's size.
pub const RECORD: usize = 28;
/// The largest pack by default (under Cloudflare's 25 MiB a file).
pub const DEFAULT_PACK_SIZE: u64 = 20 * 1024 * 1024;
/// The entries a shard holds on average at most (about 28 KiB a shard, what a million-asset
/// `minimal` snapshot's shards have always had). Fewer, larger shards: fewer objects to upload
/// and keep (1,024 shards at 100k assets `minimal`, not 8,192), a `root.json` that names fewer
/// (nginx before njs 0.8 reads it for every request), fewer files for the export to create; a
/// cold shard read is 28 KiB instead of 3.5 KiB. An update does not rewrite the base shards an
/// edit touches: it writes an overlay (decision E-017), whose shards stay small
/// (`export::pack`'s `OVERLAY_SHARD_ENTRIES`). It was 256, then 128 (the morning of 2026-12-07,
/// to keep an update's shard upload small before the overlay existed); 1,024 since the
/// evening of 2026-12-07 (decision E-019).
pub const SHARD_ENTRIES: u64 = 1024;
/// The most shard bits: 8,192 shards, so a snapshot stays well under the 15,000-file limits
/// with its packs (a million assets `minimal`: 8,192 shards of about 28 KiB).
pub const MAX_SHARD_BITS: u8 = 13;

/// `root.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    /// [`ROOT_FORMAT`].
    pub format: String,
    /// Index entries (routes, markers and the URL keys of forbidden assets).
    pub entries: u64,
    /// `2^shard_bits` shards.
    pub shard_bits: u8,
    /// Each shard's name, by position.
    pub shards: Vec<String>,
    /// The overlay on those shards, if any (then `format` is [`ROOT_FORMAT_OVERLAY`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlay: Option<Overlay>,
    /// Each pack's name, by the position entries use (`null`: no longer used).
    pub packs: Vec<Option<String>>,
    /// The error bodies: their key → their text.
    pub errors: BTreeMap<String, String>,
}

/// The overlay shards of a root: entries that differ from its (base) shards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overlay {
    /// `2^bits` overlay shards (at most the root's `shard_bits`): a key's overlay shard is the
    /// top `bits` bits of the same hash that picks its base shard.
    pub bits: u8,
    /// Each overlay shard's name, by position.
    pub shards: Vec<String>,
}

impl Root {
    /// The format a root with or without `overlay` says.
    pub fn format_for(overlay: &Option<Overlay>) -> &'static str {
        match overlay {
            Some(_) => ROOT_FORMAT_OVERLAY,
            None => ROOT_FORMAT,
        }
    }

    /// The base shard of `key`, and its overlay shard when the root has an overlay.
    pub fn shards_of(&self, key: &str) -> (u32, Option<u32>) {
        let base = shard_of(key, self.shard_bits);
        (base, self.overlay_of(base))
    }

    /// The overlay shard of the keys of base shard `base`, when the root has an overlay.
    pub fn overlay_of(&self, base: u32) -> Option<u32> {
        self.overlay
            .as_ref()
            .map(|o| base >> (self.shard_bits - o.bits))
    }

    /// Every shard name: the base's, then the overlay's.
    pub fn all_shards(&self) -> impl Iterator<Item = &String> {
        self.shards
            .iter()
            .chain(self.overlay.iter().flat_map(|o| &o.shards))
    }

    /// The bytes of `root.json` (one line of JSON and a newline).
    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec(self).expect("root serializes");
        json.push(b'\n');
        json
    }

    /// Parses `root.json`'s bytes, checking its format and that it is consistent.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Root, ReadError> {
        let invalid = |message: String| ReadError::Invalid {
            path: path.to_path_buf(),
            line: 0,
            message,
        };
        let root: Root = super::parse_json(
            path.to_path_buf(),
            bytes,
            &[ROOT_FORMAT, ROOT_FORMAT_OVERLAY],
        )?;
        if root.shard_bits > MAX_SHARD_BITS || root.shards.len() != 1 << root.shard_bits {
            return Err(invalid(format!(
                "{} shards for {} shard bits",
                root.shards.len(),
                root.shard_bits
            )));
        }
        if root.format != Root::format_for(&root.overlay) {
            return Err(invalid(format!(
                "a root of format {} {} an overlay",
                root.format,
                match root.overlay {
                    Some(_) => "has",
                    None => "lacks",
                }
            )));
        }
        if let Some(o) = &root.overlay {
            if o.bits > root.shard_bits || o.shards.len() != 1 << o.bits {
                return Err(invalid(format!(
                    "{} overlay shards for {} overlay bits (and {} shard bits)",
                    o.shards.len(),
                    o.bits,
                    root.shard_bits
                )));
            }
        }
        let named = |n: &str| n.len() == 16 && n.bytes().all(|b| b.is_ascii_hexdigit());
        if let Some(bad) = root
            .all_shards()
            .map(String::as_str)
            .chain(root.packs.iter().flatten().map(String::as_str))
            .find(|n| !named(n))
        {
            return Err(invalid(format!("{bad:?} is not a pack or shard name")));
        }
        Ok(root)
    }
}

/// Where a body is: a byte range of a pack, and its `ETag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Loc {
    /// The pack's position in [`Root::packs`].
    pub pack: u32,
    /// The body's first byte in the pack.
    pub offset: u32,
    /// Its length.
    pub length: u32,
    /// The first 8 bytes of the SHA-256 of the body.
    pub etag: [u8; 8],
}

impl Loc {
    /// The `ETag` header value: the 16 hex digits, quoted.
    pub fn etag_header(&self) -> String {
        format!("\"{}\"", hex(&self.etag))
    }
}

/// One index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// [`key_hash`] of its key.
    pub key: [u8; 8],
    /// Its body (`pack` [`DELETED`]: an overlay record deleting the key).
    pub loc: Loc,
}

impl Record {
    /// An overlay record deleting `key` from the base.
    pub fn deleted(key: [u8; 8]) -> Record {
        Record {
            key,
            loc: Loc {
                pack: DELETED,
                offset: 0,
                length: 0,
                etag: [0; 8],
            },
        }
    }

    /// Whether it deletes its key (an overlay record).
    pub fn is_deleted(&self) -> bool {
        self.loc.pack == DELETED
    }
}

/// The entry of key hash `key`: its overlay shard's record when the root has an overlay and
/// that shard holds one (a deleted key: `None`), else its base shard's, read only then.
pub fn find_layered<S: std::ops::Deref<Target = Shard>, E>(
    overlay: Option<&Shard>,
    key: &[u8; 8],
    base: impl FnOnce() -> Result<S, E>,
) -> Result<Option<Loc>, E> {
    if let Some(r) = overlay.and_then(|o| o.find_record(key)) {
        return Ok((!r.is_deleted()).then_some(r.loc));
    }
    Ok(base()?.find(key))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The first 8 bytes of the SHA-256 of a body: its `ETag` in a pack snapshot.
pub fn body_etag(body: &[u8]) -> [u8; 8] {
    first8(&Sha256::digest(body))
}

fn first8(d: &[u8]) -> [u8; 8] {
    d[..8].try_into().expect("a digest has 8 bytes")
}

/// The hash an index entry is found by: the first 8 bytes of the SHA-256 of its key (the path
/// under the web root the files layout would give it).
pub fn key_hash(key: &str) -> [u8; 8] {
    first8(&Sha256::digest(key.as_bytes()))
}

/// The directory part of a key (everything before its last `/`).
pub fn dir_of(key: &str) -> &str {
    key.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// The shard of a key's directory: the top `bits` bits of the SHA-256 of `dir`.
pub fn shard_of_dir(dir: &str, bits: u8) -> u32 {
    if bits == 0 {
        return 0;
    }
    let d = Sha256::digest(dir.as_bytes());
    u32::from_be_bytes(d[..4].try_into().expect("4 bytes")) >> (32 - u32::from(bits))
}

/// The shard of a key.
pub fn shard_of(key: &str, bits: u8) -> u32 {
    shard_of_dir(dir_of(key), bits)
}

/// The shard bits for `entries` index entries: the fewest that keep shards at
/// [`SHARD_ENTRIES`] entries or fewer on average.
pub fn shard_bits_for(entries: u64) -> u8 {
    bits_for(entries, SHARD_ENTRIES)
}

/// The fewest bits (at most [`MAX_SHARD_BITS`]) that keep `entries` entries at `per_shard` or
/// fewer a shard on average.
pub fn bits_for(entries: u64, per_shard: u64) -> u8 {
    let mut bits = 0;
    while bits < MAX_SHARD_BITS && entries > per_shard << bits {
        bits += 1;
    }
    bits
}

/// A shard's file under the web root.
pub fn shard_file(name: &str) -> String {
    format!("{DIR}/index/{name}.idx")
}

/// A pack's file under the web root.
pub fn pack_file(name: &str) -> String {
    format!("{DIR}/packs/{name}.pack")
}

/// A shard's name: the first 16 hex digits of the SHA-256 of its bytes.
pub fn shard_name(bytes: &[u8]) -> String {
    hex(&first8(&Sha256::digest(bytes)))
}

/// A pack's name, from `hash`: the blake3 over, for each body of the pack in order, the body's
/// own blake3 (32 bytes) and its length (8 bytes, little-endian); the name is the hash's first
/// 16 hex digits. It is a hash of the pack's content, as the root of a hash tree is: the same
/// bodies in the same order give the same name, so an uploaded pack never changes. (Hashing
/// the bodies' hashes, which the export has already made for the manifest, instead of every
/// pack byte again saves a blake3 pass over all the packs: 9.8 GB at 1M assets.)
pub fn pack_name(hash: &blake3::Hash) -> String {
    hex(&hash.as_bytes()[..8])
}

/// A shard's bytes for `records`, which must be sorted by key and distinct.
pub fn encode_shard(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + RECORD * records.len());
    out.extend_from_slice(SHARD_MAGIC);
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    for r in records {
        out.extend_from_slice(&r.key);
        out.extend_from_slice(&r.loc.pack.to_le_bytes());
        out.extend_from_slice(&r.loc.offset.to_le_bytes());
        out.extend_from_slice(&r.loc.length.to_le_bytes());
        out.extend_from_slice(&r.loc.etag);
    }
    out
}

/// A shard read back: its bytes, checked.
#[derive(Debug, Clone)]
pub struct Shard(Vec<u8>);

impl Shard {
    /// Checks a shard's bytes: its magic, its length for its count, the entries in key order.
    /// `name`, when given, must be its name (the SHA-256 of the bytes).
    pub fn parse(bytes: Vec<u8>, name: Option<&str>) -> Result<Shard, String> {
        if bytes.len() < HEADER || &bytes[..8] != SHARD_MAGIC {
            return Err("not an index shard (its first bytes are wrong)".into());
        }
        let count = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
        if bytes.len() != HEADER + count * RECORD {
            return Err(format!(
                "{} bytes, but {count} entries need {} (truncated or altered)",
                bytes.len(),
                HEADER + count * RECORD
            ));
        }
        if let Some(name) = name {
            if shard_name(&bytes) != name {
                return Err(format!("its bytes do not match its name {name} (altered)"));
            }
        }
        let shard = Shard(bytes);
        if (1..count).any(|i| shard.key(i - 1) >= shard.key(i)) {
            return Err("its entries are not sorted by key".into());
        }
        Ok(shard)
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        (self.0.len() - HEADER) / RECORD
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn key(&self, i: usize) -> &[u8] {
        &self.0[HEADER + i * RECORD..HEADER + i * RECORD + 8]
    }

    /// Entry `i`.
    pub fn record(&self, i: usize) -> Record {
        let r = &self.0[HEADER + i * RECORD..HEADER + (i + 1) * RECORD];
        let u32_at = |o: usize| u32::from_le_bytes(r[o..o + 4].try_into().expect("4 bytes"));
        Record {
            key: r[..8].try_into().expect("8 bytes"),
            loc: Loc {
                pack: u32_at(8),
                offset: u32_at(12),
                length: u32_at(16),
                etag: r[20..28].try_into().expect("8 bytes"),
            },
        }
    }

    /// The entry of a key hash (in a base shard).
    pub fn find(&self, key: &[u8; 8]) -> Option<Loc> {
        self.find_record(key).map(|r| r.loc)
    }

    /// The record of a key hash, a deleting one included (in an overlay shard).
    pub fn find_record(&self, key: &[u8; 8]) -> Option<Record> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.key(mid).cmp(key.as_slice()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(self.record(mid)),
            }
        }
        None
    }

    /// Its records, in key order.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        (0..self.len()).map(|i| self.record(i))
    }

    /// Its bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

pub use super::source::{read_range, DirSource, Source};

/// Why a pack snapshot could not answer from its files: the router answers 500.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// A shard or pack could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file (under the web root).
        file: String,
        /// The cause.
        source: io::Error,
    },
    /// A shard or pack is not what the root says.
    #[error("{file}: {message}")]
    Damaged {
        /// The file (under the web root).
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// A pack snapshot opened for reading: its root, and its shards as they are asked for (kept,
/// up to a bound, by the caller's cache if any).
pub struct Reader<S: Source> {
    /// Where the files are.
    pub source: S,
    /// `root.json`.
    pub root: Root,
    shards: quick_cache::sync::Cache<u32, std::sync::Arc<Shard>, ShardWeight>,
}

/// What sets an overlay shard's cache key apart from a base shard's.
const OVERLAY_KEY: u32 = 1 << 31;

/// The most bytes of shards a [`Reader`] keeps.
pub const SHARD_CACHE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone)]
struct ShardWeight;

impl quick_cache::Weighter<u32, std::sync::Arc<Shard>> for ShardWeight {
    fn weight(&self, _: &u32, s: &std::sync::Arc<Shard>) -> u64 {
        s.0.len() as u64 + 64
    }
}

impl<S: Source> Reader<S> {
    /// Opens a pack snapshot's web root through `source`.
    pub fn open(source: S, public: &Path) -> Result<Reader<S>, ReadError> {
        let path = public.join(ROOT_FILE);
        let bytes = source.read(ROOT_FILE).map_err(|e| ReadError::Io {
            path: path.clone(),
            source: e,
        })?;
        let root = Root::parse(&path, &bytes)?;
        Ok(Reader {
            source,
            root,
            shards: quick_cache::sync::Cache::with_weighter(4096, SHARD_CACHE_BYTES, ShardWeight),
        })
    }

    /// Base shard `i`, read and checked (against its name) once, then kept.
    pub fn shard(&self, i: u32) -> Result<std::sync::Arc<Shard>, PackError> {
        self.shard_named(i, &self.root.shards[i as usize])
    }

    /// Overlay shard `i` (the root has an overlay), read and checked once, then kept.
    pub fn overlay_shard(&self, i: u32) -> Result<std::sync::Arc<Shard>, PackError> {
        let o = self.root.overlay.as_ref().expect("the root has an overlay");
        // Cached beside the base shards: positions are below 2^13.
        self.shard_named(OVERLAY_KEY | i, &o.shards[i as usize])
    }

    fn shard_named(&self, i: u32, name: &str) -> Result<std::sync::Arc<Shard>, PackError> {
        if let Some(s) = self.shards.get(&i) {
            return Ok(s);
        }
        let file = shard_file(name);
        let bytes = self.source.read(&file).map_err(|source| PackError::Io {
            file: file.clone(),
            source,
        })?;
        let shard = std::sync::Arc::new(Shard::parse(bytes, Some(name)).map_err(|message| {
            PackError::Damaged {
                file: file.clone(),
                message,
            }
        })?);
        self.shards.insert(i, shard.clone());
        Ok(shard)
    }

    /// The entry of `key` (a path under the web root), if the snapshot has it: from its
    /// overlay shard, else its base shard.
    pub fn lookup(&self, key: &str) -> Result<Option<Loc>, PackError> {
        let (base, overlay) = self.root.shards_of(key);
        let overlay = overlay.map(|o| self.overlay_shard(o)).transpose()?;
        find_layered(overlay.as_deref(), &key_hash(key), || self.shard(base))
    }

    /// The body at `loc`, checked against its length and `ETag`.
    pub fn body(&self, loc: &Loc) -> Result<Vec<u8>, PackError> {
        let Some(Some(name)) = self.root.packs.get(loc.pack as usize) else {
            return Err(PackError::Damaged {
                file: ROOT_FILE.to_string(),
                message: format!(
                    "an index entry names pack {}, which it does not list",
                    loc.pack
                ),
            });
        };
        let file = pack_file(name);
        let body = self
            .source
            .read_range(&file, u64::from(loc.offset), loc.length as usize)
            .map_err(|source| PackError::Io {
                file: file.clone(),
                source,
            })?;
        if body.len() != loc.length as usize {
            return Err(PackError::Damaged {
                file,
                message: format!(
                    "{} bytes at {} instead of {} (truncated)",
                    body.len(),
                    loc.offset,
                    loc.length
                ),
            });
        }
        if body_etag(&body) != loc.etag {
            return Err(PackError::Damaged {
                file,
                message: format!(
                    "the {} bytes at {} do not match their hash (altered)",
                    loc.length, loc.offset
                ),
            });
        }
        Ok(body)
    }

    /// The bytes of `key`, if the snapshot has it.
    pub fn read(&self, key: &str) -> Result<Option<(Vec<u8>, Loc)>, PackError> {
        match self.lookup(key)? {
            Some(loc) => Ok(Some((self.body(&loc)?, loc))),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str, pack: u32, offset: u32, body: &[u8]) -> Record {
        Record {
            key: key_hash(key),
            loc: Loc {
                pack,
                offset,
                length: body.len() as u32,
                etag: body_etag(body),
            },
        }
    }

    #[test]
    fn a_shard_finds_what_it_holds_and_nothing_else() {
        let mut records: Vec<Record> = (0..500)
            .map(|i| {
                rec(
                    &format!("__api/assets/{i}/~asset.----.json"),
                    i % 3,
                    i * 10,
                    b"x",
                )
            })
            .collect();
        records.sort_by_key(|r| r.key);
        let bytes = encode_shard(&records);
        assert_eq!(bytes.len(), HEADER + 500 * RECORD);
        let name = shard_name(&bytes);
        let shard = Shard::parse(bytes.clone(), Some(&name)).unwrap();
        for i in 0..500 {
            let loc = shard
                .find(&key_hash(&format!("__api/assets/{i}/~asset.----.json")))
                .unwrap();
            assert_eq!((loc.pack, loc.offset), (i % 3, i * 10));
        }
        assert_eq!(
            shard.find(&key_hash("__api/assets/500/~asset.----.json")),
            None
        );
        // Truncated, altered, misnamed: refused.
        assert!(Shard::parse(bytes[..bytes.len() - 1].to_vec(), None)
            .unwrap_err()
            .contains("truncated"));
        let mut altered = bytes.clone();
        altered[HEADER + 9] ^= 1;
        assert!(Shard::parse(altered, Some(&name))
            .unwrap_err()
            .contains("altered"));
        assert!(Shard::parse(b"nonsense-nonsense".to_vec(), None).is_err());
    }

    #[test]
    fn the_shard_follows_the_directory_so_an_asset_is_in_one_shard() {
        for bits in [0, 1, 5, 12] {
            let a = shard_of("__api/assets/78/~asset.----.json", bits);
            assert_eq!(a, shard_of("__api/assets/78/~forbidden.json", bits));
            assert_eq!(a, shard_of("__api/assets/78/~lineage.uamc.json", bits));
            assert!(a < 1 << bits);
        }
        // Spread: 4096 directories over 16 shards, none empty.
        let mut counts = [0; 16];
        for i in 0..4096 {
            counts[shard_of(&format!("__api/assets/{i}/x"), 4) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 150), "{counts:?}");
    }

    #[test]
    fn shard_bits_keep_shards_small() {
        assert_eq!(shard_bits_for(0), 0);
        assert_eq!(shard_bits_for(SHARD_ENTRIES), 0);
        assert_eq!(shard_bits_for(SHARD_ENTRIES + 1), 1);
        // 100k assets `minimal`: 1,024 shards of about 830 entries (850k index entries).
        assert_eq!(shard_bits_for(850_000), 10);
        assert_eq!(shard_bits_for(80_000), 7);
        // 1M assets `minimal` (8.47M entries): 8,192 shards of about 1,030; more entries make
        // larger shards, not more.
        assert_eq!(shard_bits_for(8_470_000), 13);
        assert_eq!(bits_for(8_470_000, 128), 13);
        assert_eq!(shard_bits_for(u64::MAX), MAX_SHARD_BITS);
    }

    #[test]
    fn an_overlay_record_wins_and_a_deleting_one_hides_the_base() {
        let key = |i: u32| key_hash(&format!("__api/assets/{i}/~asset.----.json"));
        let sorted = |mut r: Vec<Record>| {
            r.sort_by_key(|r| r.key);
            Shard::parse(encode_shard(&r), None).unwrap()
        };
        let base = sorted(
            (0..3)
                .map(|i| rec(&format!("__api/assets/{i}/~asset.----.json"), 0, i, b"old"))
                .collect(),
        );
        let changed = rec("__api/assets/1/~asset.----.json", 1, 0, b"new");
        let added = rec("__api/assets/7/~asset.----.json", 1, 3, b"add");
        let overlay = sorted(vec![changed, added, Record::deleted(key(2))]);
        let find = |o: Option<&Shard>, i| {
            find_layered(o, &key(i), || Ok::<_, ()>(&base))
                .unwrap()
                .map(|l| (l.pack, l.offset))
        };
        assert_eq!(find(Some(&overlay), 0), Some((0, 0)), "the base");
        assert_eq!(find(Some(&overlay), 1), Some((1, 0)), "changed");
        assert_eq!(find(Some(&overlay), 7), Some((1, 3)), "added");
        assert_eq!(find(Some(&overlay), 2), None, "deleted");
        assert_eq!(find(None, 2), Some((0, 2)), "no overlay: the base");
        assert_eq!(find(Some(&overlay), 9), None, "in neither");
        // The base shard is read only when the overlay has no record of the key.
        let unread = find_layered(Some(&overlay), &key(1), || Err::<&Shard, _>("read"));
        assert!(unread.unwrap().is_some());
        assert_eq!(
            find_layered(Some(&overlay), &key(0), || Err::<&Shard, _>("read")),
            Err("read")
        );
    }

    #[test]
    fn a_root_with_an_overlay_says_so_in_its_format() {
        let overlay = Some(Overlay {
            bits: 1,
            shards: vec!["0123456789abcdef".into(); 2],
        });
        let root = Root {
            format: ROOT_FORMAT_OVERLAY.into(),
            entries: 0,
            shard_bits: 2,
            shards: vec!["0123456789abcdef".into(); 4],
            overlay,
            packs: vec![],
            errors: BTreeMap::new(),
        };
        let p = Path::new("root.json");
        assert_eq!(Root::parse(p, &root.to_json()).unwrap(), root);
        // Base shard 3 (0b11) is under overlay shard 1, base shard 1 under overlay shard 0.
        assert_eq!((root.overlay_of(3), root.overlay_of(1)), (Some(1), Some(0)));
        for bad in [
            Root {
                format: ROOT_FORMAT.into(),
                ..root.clone()
            },
            Root {
                overlay: None,
                ..root.clone()
            },
            Root {
                overlay: Some(Overlay {
                    bits: 3,
                    shards: vec!["0123456789abcdef".into(); 8],
                }),
                ..root.clone()
            },
            Root {
                overlay: Some(Overlay {
                    bits: 1,
                    shards: vec!["0123456789abcdef".into(), "../x".into()],
                }),
                ..root.clone()
            },
        ] {
            assert!(Root::parse(p, &bad.to_json()).is_err(), "{bad:?}");
        }
        // Without an overlay, the root's bytes are as before overlays existed.
        let plain = Root {
            format: ROOT_FORMAT.into(),
            overlay: None,
            ..root
        };
        assert!(!String::from_utf8(plain.to_json())
            .unwrap()
            .contains("overlay"));
    }

    #[test]
    fn a_root_that_does_not_add_up_is_refused() {
        let root = Root {
            format: ROOT_FORMAT.into(),
            entries: 0,
            shard_bits: 1,
            shards: vec!["0123456789abcdef".into(); 2],
            overlay: None,
            packs: vec![None, Some("0123456789abcdef".into())],
            errors: BTreeMap::new(),
        };
        let p = Path::new("root.json");
        assert_eq!(Root::parse(p, &root.to_json()).unwrap(), root);
        let one = Root {
            shards: vec!["0123456789abcdef".into()],
            ..root.clone()
        };
        assert!(Root::parse(p, &one.to_json()).is_err());
        let bad = Root {
            packs: vec![Some("../../etc/passwd".into())],
            ..root
        };
        assert!(Root::parse(p, &bad.to_json()).is_err());
    }
}
