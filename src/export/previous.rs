//! The previous snapshot an export updates: its manifest read back (each line's file, and where
//! the line is in the file so a kept line is copied as it is), split into the entries of the
//! assets taken over without rendering and the files the new ones are compared with.
//!
//! Memory (issue 20): the manifest is read in blocks and never held whole, and it is split as
//! it is read: the input fingerprints that decide which assets are taken over come first
//! (they need only the store and the recorded inputs), so each block's lines go, as the block
//! is read, to the run of entries taken over or to the files compared with, and the block is
//! freed. What stays per line is, in [`ManifestText`], where the line is in the file and, per
//! region of the file, 8 bytes of its blake3 (about 8 bytes a line): a line taken over is read
//! again from the file when the new manifest is written, and must still hash to what was read.
//! Only `export --repair` holds every line (its file and path, about 115 bytes a line) while it
//! checks the files against them.

use super::{inputs, Staged};
use crate::snapshot::{self, Entry};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// How the router files' manifest lines start.
const ROUTERS_PREFIX: &str = "_routers/";

/// Bytes of the manifest read and parsed at a time (then on to the end of a line). Unit tests
/// use a few lines' worth, so that every manifest they read crosses block boundaries.
#[cfg(not(test))]
const BLOCK_BYTES: usize = 8 << 20;
#[cfg(test)]
const BLOCK_BYTES: usize = 300;

/// The previous snapshot's manifest: where it is and, when `export --repair` read it whole
/// ([`PreviousManifest::hold`]), its lines.
pub struct PreviousManifest {
    /// The snapshot directory.
    dir: PathBuf,
    /// Its `manifest.jsonl`.
    path: PathBuf,
    root_hash: String,
    /// Bytes read at a time ([`BLOCK_BYTES`]; tests vary it).
    block_bytes: usize,
    /// Every line, read whole (`--repair` only).
    held: Option<Held>,
    /// Set by tests instead of [`inputs::OWNERS_FILE`].
    #[cfg(test)]
    owners_override: Option<Option<Vec<u32>>>,
}

/// The previous manifest read whole: every line in manifest order, in the blocks read.
struct Held {
    blocks: Vec<Block>,
    text: ManifestText,
    /// The blake3 of `manifest.jsonl` as it was read (the root hash, when it is intact).
    read_hash: String,
}

/// Lines of the previous manifest, their paths one after another, and the requests kept of
/// them.
struct Block {
    paths: String,
    lines: Vec<PreviousLine>,
    /// The number of its first line in the manifest.
    first: u32,
    /// The request of each line that answers exactly one and is not copied as it is (rare:
    /// lines not as `export` writes them), by line number in the manifest, ascending.
    requests: Vec<(u32, Box<str>)>,
}

impl Block {
    fn path(&self, l: &PreviousLine) -> &str {
        &self.paths[l.path_start as usize..(l.path_start + l.path_len) as usize]
    }

    /// The request kept of line `i` (a manifest line number).
    fn request(&self, i: u32) -> Option<&str> {
        let at = self.requests.binary_search_by_key(&i, |r| r.0).ok()?;
        Some(&self.requests[at].1)
    }

    /// The bytes it holds.
    fn held_bytes(&self) -> usize {
        self.paths.capacity()
            + self.lines.capacity() * std::mem::size_of::<PreviousLine>()
            + self.requests.iter().map(|r| 16 + r.1.len()).sum::<usize>()
    }
}

/// Where each line of the previous manifest is in its file, to copy the lines of the assets
/// taken over into the new manifest as they are (not formatted again), without holding the
/// text: [`ManifestText::line`] reads a line again, through a window of the file per thread
/// (lines are asked for in order, so one read serves hundreds), and every byte it copies was
/// checked against what was read: the file is checked in regions of [`REGION`] bytes, each
/// against 8 bytes of its blake3 taken when the manifest was read, so a manifest changed under
/// the export is an error, never wrong output.
pub struct ManifestText {
    file: fs::File,
    path: PathBuf,
    /// Per line, its first byte in the file; then where a line after the last would start.
    starts: Vec<u64>,
    /// Per region of the file, the first 8 bytes of its blake3 as read.
    regions: Vec<u64>,
    /// The file's length as read.
    len: u64,
    /// Tells this text's window from another's ([`WINDOW`]).
    id: u64,
}

/// The bytes of the manifest each check covers (the last region may be shorter). Unit tests
/// use a few lines' worth.
#[cfg(not(test))]
const REGION: u64 = 64 << 10;
#[cfg(test)]
const REGION: u64 = 128;

/// Regions read at a time by [`ManifestText::line`] (each thread keeps one window).
const WINDOW_REGIONS: u64 = 4;

/// The ids of [`ManifestText`]s.
static TEXT_IDS: AtomicU64 = AtomicU64::new(1);

/// A thread's last read of a previous manifest: whole regions, checked.
#[derive(Default)]
struct Window {
    /// The [`ManifestText::id`] it is of (0: none).
    text: u64,
    /// Where it starts in the file.
    start: u64,
    bytes: Vec<u8>,
}

thread_local! {
    static WINDOW: RefCell<Window> = RefCell::new(Window::default());
}

/// The first 8 bytes of the blake3 of a region of the manifest.
fn region_check(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(blake3::hash(bytes).as_bytes()[..8].try_into().expect("8"))
}

/// The checks of the manifest's regions, taken as it is read.
#[derive(Default)]
struct Regions {
    checks: Vec<u64>,
    current: blake3::Hasher,
    filled: u64,
}

impl Regions {
    fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let take = ((REGION - self.filled) as usize).min(bytes.len());
            self.current.update(&bytes[..take]);
            self.filled += take as u64;
            bytes = &bytes[take..];
            if self.filled == REGION {
                self.push();
            }
        }
    }

    fn push(&mut self) {
        let hash = self.current.finalize();
        self.checks.push(u64::from_le_bytes(
            hash.as_bytes()[..8].try_into().expect("8"),
        ));
        self.current.reset();
        self.filled = 0;
    }

    fn finish(mut self) -> Vec<u64> {
        if self.filled > 0 {
            self.push();
        }
        self.checks.shrink_to_fit();
        self.checks
    }
}

/// A line without its newline (and a carriage return before it, as [`str::lines`]).
fn trim_line(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

impl ManifestText {
    /// Appends line `i` (without its newline) to `buf`, read again from the file. An error
    /// when the file no longer holds the bytes that were read (changed under the export).
    pub fn line(&self, i: u32, buf: &mut Vec<u8>) -> io::Result<()> {
        let i = i as usize;
        let changed = |why: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} changed while this export was reading it ({why}); the snapshot was left as it was: export again",
                    self.path.display()
                ),
            )
        };
        let (start, end) = match (self.starts.get(i), self.starts.get(i + 1)) {
            (Some(&s), Some(&next)) => (s, (next - 1).min(self.len)),
            _ => return Err(changed(format!("it has no line {}", i + 1))),
        };
        WINDOW.with_borrow_mut(|w| {
            let within =
                w.text == self.id && w.start <= start && end <= w.start + w.bytes.len() as u64;
            if !within {
                w.text = 0;
                let first = start / REGION;
                let last = end
                    .div_ceil(REGION)
                    .max(first + WINDOW_REGIONS)
                    .min(self.regions.len() as u64);
                let (from, to) = (first * REGION, (last * REGION).min(self.len));
                w.bytes.resize((to - from) as usize, 0);
                if read_at_most(&self.file, &mut w.bytes, from)? < w.bytes.len() {
                    return Err(changed(format!(
                        "it is shorter than the {} bytes read, at line {}",
                        self.len,
                        i + 1
                    )));
                }
                for (k, region) in w.bytes.chunks(REGION as usize).enumerate() {
                    if region_check(region) != self.regions[first as usize + k] {
                        let at = from + k as u64 * REGION;
                        return Err(changed(format!(
                            "its bytes {at}..{} are not those read, at line {}",
                            at + region.len() as u64,
                            i + 1
                        )));
                    }
                }
                (w.text, w.start) = (self.id, from);
            }
            let line = trim_line(&w.bytes[(start - w.start) as usize..(end - w.start) as usize]);
            buf.extend_from_slice(line);
            Ok(())
        })
    }
}

/// Reads into `buf` from `offset` until it is full or the file ends; returns the bytes read.
fn read_at_most(file: &fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut read = 0;
    while read < buf.len() {
        match file.read_at(&mut buf[read..], offset + read as u64) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(read)
}

/// One line of the previous manifest: its file, and where its path is in its block.
struct PreviousLine {
    blake3: [u8; 32],
    size: u64,
    path_start: u32,
    path_len: u32,
    status: u16,
    /// Whether it answers exactly one request (every route file does).
    single: bool,
    /// `export --repair` found the file damaged ([`PreviousFile::damaged`]).
    damaged: bool,
    /// Whether the line is byte for byte what `export` writes for a route file with this path,
    /// request, status, size and hash (then it is copied, and its entry needs no request).
    canonical: bool,
}

impl PreviousLine {
    fn file(&self) -> PreviousFile {
        PreviousFile {
            blake3: self.blake3,
            damaged: self.damaged,
            produced: false,
        }
    }
}

/// The previous snapshot's files that this export compares its new files with: the lines of
/// the previous manifest that were not taken over as they were.
pub struct Previous {
    /// Path as in the manifest (`public/…`) → the file. (FxHash: hundreds of thousands of
    /// lookups by trusted keys, where SipHash's DoS resistance buys nothing.)
    pub(super) files: FxHashMap<Box<str>, PreviousFile>,
    /// Its root hash (blake3 of `manifest.jsonl`, from `snapshot.json`).
    pub(super) root_hash: String,
    /// Where its lines are, from which the lines taken over are copied.
    pub text: ManifestText,
}

/// One file of the previous manifest.
#[derive(Clone, Copy)]
pub(super) struct PreviousFile {
    pub(super) blake3: [u8; 32],
    /// `export --repair` found the file missing or other than this line says: it is written
    /// again whatever its new hash.
    pub(super) damaged: bool,
    /// The export wrote this path again ([`super::changes::RouteChanges`]).
    pub(super) produced: bool,
}

impl PreviousFile {
    /// Whether the file holds the body with this hash (and was not found damaged).
    pub(super) fn holds(&self, hash: &blake3::Hash) -> bool {
        !self.damaged && self.blake3 == *hash.as_bytes()
    }
}

/// One previous manifest line, read: the line (its path to be put in the block's buffer), its
/// path, and its request when it is to be kept.
fn previous_line(
    line: &str,
) -> Option<(PreviousLine, std::borrow::Cow<'_, str>, Option<Box<str>>)> {
    let line_of = |blake3: blake3::Hash, requests: usize, status: u16, size: u64| PreviousLine {
        blake3: *blake3.as_bytes(),
        size,
        path_start: 0,
        path_len: 0,
        status,
        single: requests == 1,
        damaged: false,
        canonical: false,
    };
    let Some(l) = snapshot::manifest::parse_line_fast(line) else {
        // Not as export writes lines (rare): the same reader as verify's.
        let l: Entry = serde_json::from_str(line).ok()?;
        let parsed = line_of(l.blake3, l.requests.len(), l.status, l.size);
        let request = match <[String; 1]>::try_from(l.requests) {
            Ok([r]) => Some(r.into_boxed_str()),
            Err(_) => None,
        };
        return Some((parsed, l.path.into(), request));
    };
    let hash = blake3::Hash::from_hex(l.blake3).ok()?;
    let mut parsed = line_of(hash, l.requests.len(), l.status, l.size);
    parsed.canonical = parsed.single && l.content_type == crate::api::response::CONTENT_TYPE;
    let request = match l.requests[..] {
        [one] if !parsed.canonical => Some(one.into()),
        _ => None,
    };
    Some((parsed, l.path.into(), request))
}

/// The requests kept of a block's lines, by line number.
/// The lines of one block of the manifest (`bytes`, whole lines, starting at `offset` in the
/// file, its first line numbered `first`): the block and each line's start. `None` if a line is
/// not a manifest line.
fn parse_block(bytes: &[u8], offset: u64, first: u32) -> Option<(Block, Vec<u64>)> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', bytes) {
        spans.push((start, end));
        start = end + 1;
    }
    if start < bytes.len() {
        spans.push((start, bytes.len()));
    }
    let parsed: Vec<_> = spans
        .par_iter()
        .map(|&(s, e)| {
            let line = trim_line(&bytes[s..e]);
            let (parsed, path, request) = previous_line(std::str::from_utf8(line).ok()?)?;
            Some((parsed, path, request))
        })
        .collect::<Option<_>>()?;
    let mut block = Block {
        paths: String::with_capacity(parsed.iter().map(|p| p.1.len()).sum()),
        lines: Vec::with_capacity(parsed.len()),
        first,
        requests: Vec::new(),
    };
    for (i, (mut line, path, request)) in parsed.into_iter().enumerate() {
        line.path_start = u32::try_from(block.paths.len()).ok()?;
        line.path_len = u32::try_from(path.len()).ok()?;
        block.paths.push_str(&path);
        block.lines.push(line);
        if let Some(r) = request {
            block
                .requests
                .push((first.checked_add(u32::try_from(i).ok()?)?, r));
        }
    }
    let starts = spans.iter().map(|&(s, _)| offset + s as u64).collect();
    Some((block, starts))
}

/// A line that is not a manifest line, or a manifest that cannot be read: there is no previous
/// snapshot to build on.
struct NotAManifest;

/// Reads a manifest a block at a time (each parsed in parallel), noting where each line starts
/// and a check of each region ([`ManifestText`]).
struct BlockReader {
    file: fs::File,
    path: PathBuf,
    reader: io::BufReader<fs::File>,
    /// The whole file's blake3 (`--repair` compares it with the root hash).
    hasher: Option<blake3::Hasher>,
    regions: Regions,
    starts: Vec<u64>,
    block: Vec<u8>,
    block_bytes: usize,
    offset: u64,
    lines: u32,
    ends_with_newline: bool,
}

impl BlockReader {
    fn open(path: &Path, block_bytes: usize, hash: bool) -> Result<BlockReader, NotAManifest> {
        let file = fs::File::open(path).map_err(|_| NotAManifest)?;
        let reader =
            io::BufReader::with_capacity(1 << 20, file.try_clone().map_err(|_| NotAManifest)?);
        Ok(BlockReader {
            file,
            path: path.to_path_buf(),
            reader,
            hasher: hash.then(blake3::Hasher::new),
            regions: Regions::default(),
            starts: Vec::new(),
            block: Vec::with_capacity(block_bytes.min(BLOCK_BYTES) + (64 << 10)),
            block_bytes,
            offset: 0,
            lines: 0,
            ends_with_newline: true,
        })
    }

    /// The next block of lines (`None` at the end of the file).
    fn next(&mut self) -> Result<Option<Block>, NotAManifest> {
        self.block.clear();
        (&mut self.reader)
            .take(self.block_bytes as u64)
            .read_to_end(&mut self.block)
            .map_err(|_| NotAManifest)?;
        if self.block.is_empty() {
            return Ok(None);
        }
        if self.block.last() != Some(&b'\n') {
            io::BufRead::read_until(&mut self.reader, b'\n', &mut self.block)
                .map_err(|_| NotAManifest)?;
        }
        if let Some(h) = &mut self.hasher {
            h.update(&self.block);
        }
        self.regions.update(&self.block);
        self.ends_with_newline = self.block.last() == Some(&b'\n');
        let (b, s) = parse_block(&self.block, self.offset, self.lines).ok_or(NotAManifest)?;
        self.lines = u32::try_from(b.lines.len())
            .ok()
            .and_then(|n| self.lines.checked_add(n))
            .ok_or(NotAManifest)?;
        if self.offset == 0 {
            // Sized once, from the first block's lines: growing by doubling would hold twice
            // 8 bytes a line.
            let size = u128::from(self.file.metadata().map_or(0, |m| m.len()));
            let estimate = size * b.lines.len() as u128 / (self.block.len() as u128).max(1);
            let estimate = estimate as usize;
            self.starts.reserve_exact(estimate + estimate / 16 + 1);
        }
        self.offset += self.block.len() as u64;
        self.starts.extend(s);
        Ok(Some(b))
    }

    /// Where the lines read are (all of them, once [`BlockReader::next`] said the end), and
    /// the file's blake3 when it was asked for.
    fn finish(self) -> (ManifestText, Option<String>) {
        let BlockReader {
            file,
            path,
            reader,
            hasher,
            regions,
            mut starts,
            offset,
            ends_with_newline,
            ..
        } = self;
        drop(reader);
        // Where a line after the last would start (past a newline the file may lack).
        starts.push(if ends_with_newline {
            offset
        } else {
            offset + 1
        });
        starts.shrink_to_fit();
        let text = ManifestText {
            file,
            path,
            starts,
            regions: regions.finish(),
            len: offset,
            id: TEXT_IDS.fetch_add(1, Ordering::Relaxed),
        };
        (text, hasher.map(|h| h.finalize().to_hex().to_string()))
    }
}

/// Where a split puts the entries of the lines taken over, in manifest order (sorted by path).
pub trait Keep {
    /// The next entry taken over.
    fn keep(&mut self, e: &Staged) -> io::Result<()>;
    /// Forgets every entry given so far: the manifest is split again from its first line (an
    /// asset turned out not to be one to take over after some of its lines were).
    fn restart(&mut self) -> io::Result<()>;
}

/// One pass of a split over the lines of the previous manifest.
struct Split<'a> {
    /// By position in the recorded inputs: the asset's index now when its lines are taken
    /// over, else [`inputs::NO_OWNER`].
    kept_as: &'a mut [u32],
    owners: Option<&'a [u32]>,
    /// By position in the recorded inputs: whether lines of it were taken over in this pass.
    taken: Vec<bool>,
    /// Lines were taken over of an asset that one of its later lines says is not to be: the
    /// pass is void (it goes on only to find every such asset) and the manifest is read again.
    again: bool,
    /// The recorded owners are of fewer lines than the manifest has.
    owners_short: bool,
    files: FxHashMap<Box<str>, PreviousFile>,
    /// The most bytes of lines held at once.
    held_peak: usize,
}

impl Split<'_> {
    /// Line `i`'s owner, as recorded.
    fn owner(&mut self, i: u32) -> u32 {
        match self.owners.map(|o| o.get(i as usize)) {
            None => inputs::NO_OWNER,
            Some(Some(&o)) => o,
            Some(None) => {
                self.owners_short = true;
                inputs::NO_OWNER
            }
        }
    }

    /// Splits one block: hands the entries of its lines taken over to `keep`, puts the rest
    /// into `files`.
    fn block(&mut self, block: &Block, keep: &mut dyn Keep) -> io::Result<()> {
        self.held_peak = self.held_peak.max(block.held_bytes());
        let owners: Vec<u32> = (0..block.lines.len() as u32)
            .map(|j| self.owner(block.first + j))
            .collect();
        // A kept asset must own only single-request lines (route files); anything else means
        // the recorded files do not belong together: render that asset again.
        for (l, &o) in block.lines.iter().zip(&owners) {
            if !l.single || l.damaged {
                if let Some(k) = self.kept_as.get_mut(o as usize) {
                    if *k != inputs::NO_OWNER && self.taken[o as usize] {
                        self.again = true;
                    }
                    *k = inputs::NO_OWNER;
                }
            }
        }
        if self.again || self.owners_short {
            return Ok(());
        }
        let kept_as = &*self.kept_as;
        let kept_owner = |o: u32| {
            kept_as
                .get(o as usize)
                .copied()
                .filter(|&a| a != inputs::NO_OWNER)
        };
        // The kept lines' entries, in parallel (a path copied for each); in order.
        let entries: Vec<Staged> = block
            .lines
            .par_iter()
            .zip(&owners)
            .enumerate()
            .filter_map(|(j, (l, &o))| {
                let a = kept_owner(o)?;
                let i = block.first + j as u32;
                // A canonical line is copied as it is: its request is not needed. (A kept line
                // answers exactly one request: see above.)
                let (requests, line) = if l.canonical {
                    (Vec::new(), i)
                } else {
                    (
                        block.request(i).map(str::to_string).into_iter().collect(),
                        super::NO_LINE,
                    )
                };
                Some(Staged {
                    entry: Entry {
                        path: block.path(l).into(),
                        requests,
                        status: l.status,
                        content_type: snapshot::ContentType::Json,
                        size: l.size,
                        blake3: blake3::Hash::from(l.blake3),
                    },
                    owner: a,
                    previous_line: line,
                    pack_loc: None,
                })
            })
            .collect();
        for e in &entries {
            keep.keep(e)?;
        }
        drop(entries);
        for (l, &o) in block.lines.iter().zip(&owners) {
            if kept_owner(o).is_some() {
                self.taken[o as usize] = true;
                continue;
            }
            let path = block.path(l);
            // The router files' lines (`_routers/…`) are compared as meta files, byte for byte
            // (`changes::meta_changes`), not as route files.
            if !path.starts_with(ROUTERS_PREFIX) {
                self.files.insert(path.into(), l.file());
            }
        }
        Ok(())
    }
}

/// Lines' paths and blake3s (what [`PreviousManifest::split_into`] shows of each block).
pub type LineFiles<'a> = [(&'a str, [u8; 32])];

/// Every line's path and blake3, of a block.
fn block_files(block: &Block) -> Vec<(&str, [u8; 32])> {
    block
        .lines
        .iter()
        .map(|l| (block.path(l), l.blake3))
        .collect()
}

impl PreviousManifest {
    /// The snapshot in `dir` when it is one in the current format (else `None`: the export is
    /// a full one). Its manifest is read when it is split ([`PreviousManifest::split_into`]).
    pub fn open(dir: &Path) -> Option<PreviousManifest> {
        // read_info checks the format: a snapshot of another version is rebuilt in full.
        let info = snapshot::read_info(dir).ok()?;
        Some(PreviousManifest {
            dir: dir.to_path_buf(),
            path: dir.join(snapshot::MANIFEST_FILE),
            root_hash: info.root_hash,
            block_bytes: BLOCK_BYTES,
            held: None,
            #[cfg(test)]
            owners_override: None,
        })
    }

    /// Reads every line now and holds it (what `export --repair` checks the files against);
    /// `None` if a line is not a manifest line (or the file cannot be read).
    pub fn hold(mut self) -> Option<PreviousManifest> {
        let mut reader = BlockReader::open(&self.path, self.block_bytes, true).ok()?;
        let mut blocks = Vec::new();
        while let Some(b) = reader.next().ok()? {
            blocks.push(b);
        }
        let (text, read_hash) = reader.finish();
        self.held = Some(Held {
            blocks,
            text,
            read_hash: read_hash.expect("hashed"),
        });
        Some(self)
    }

    /// The owners recorded for each line ([`inputs::OWNERS_FILE`]), of any number of lines.
    fn owners(&self) -> Option<Vec<u32>> {
        #[cfg(test)]
        if let Some(o) = &self.owners_override {
            return o.clone();
        }
        inputs::load_owners_of_any_length(&self.dir, &self.root_hash)
    }

    /// Every line held with its path, in manifest order.
    fn lines(&self) -> impl Iterator<Item = (&str, &PreviousLine)> {
        self.held
            .iter()
            .flat_map(|h| &h.blocks)
            .flat_map(|b| b.lines.iter().map(move |l| (b.path(l), l)))
    }

    /// `export --repair`: reads the manifest whole ([`PreviousManifest::hold`]), checks every
    /// file it lists in `dir` against its line and marks the damaged ones, which the export
    /// then writes again (their owners are rendered, not taken over). A manifest that no longer
    /// hashes to the root hash is reported instead (nothing it lists can be trusted: the caller
    /// rebuilds in full).
    pub fn repair(&mut self, dir: &Path, layout: snapshot::Layout) -> super::repair::Repair {
        use super::repair::{damaged, Listed, Repair};
        let held = self
            .held
            .as_ref()
            .expect("--repair reads the manifest whole");
        if held.read_hash != self.root_hash {
            return Repair {
                manifest_changed: true,
                rebuilt: true,
                ..Repair::default()
            };
        }
        if layout == snapshot::Layout::Pack {
            // Its bodies are in packs: rebuilt whole (`verify` names a damaged pack or shard).
            return Repair {
                rebuilt: true,
                ..Repair::default()
            };
        }
        let files: Vec<Listed> = self
            .lines()
            .map(|(path, l)| Listed {
                path,
                size: l.size,
                blake3: l.blake3,
            })
            .collect();
        let found = damaged(dir, &files);
        let mut report = Repair {
            checked: files.len() as u64,
            damaged: files
                .iter()
                .zip(&found)
                .filter(|(_, &d)| d)
                .map(|(f, _)| f.path.to_string())
                .collect(),
            manifest_changed: false,
            rebuilt: false,
        };
        report.damaged.sort();
        drop(files);
        let held = self.held.as_mut().expect("held");
        let lines = held.blocks.iter_mut().flat_map(|b| b.lines.iter_mut());
        for (l, d) in lines.zip(found) {
            l.damaged = d;
        }
        report
    }

    /// Splits off the lines of the assets taken over as they were: `kept_as[pos]` is the index
    /// now of the asset at position `pos` of the recorded inputs when its inputs did not change,
    /// else [`inputs::NO_OWNER`]. Returns their entries (in manifest order, so sorted) and the
    /// rest, which the files written this time are compared with; `None` when the manifest is
    /// not one (then there is no previous snapshot).
    #[cfg(test)]
    pub fn split(self, kept_as: &[u32]) -> Option<(Vec<Staged>, Previous)> {
        struct InMemory(Vec<Staged>);
        impl Keep for InMemory {
            fn keep(&mut self, e: &Staged) -> io::Result<()> {
                self.0.push(e.clone());
                Ok(())
            }
            fn restart(&mut self) -> io::Result<()> {
                self.0.clear();
                Ok(())
            }
        }
        let mut kept = InMemory(Vec::new());
        let rest = self
            .split_into(kept_as, &mut kept, &mut |_| {})
            .expect("kept in memory")?;
        Some((kept.0, rest.0))
    }

    /// [`PreviousManifest::split`], handing each entry taken over to `keep` in manifest order
    /// (sorted by path) rather than holding them (issue 20: an export spills them to a sorted
    /// run), and every line's path and blake3 to `seen`, a block at a time, once. The manifest
    /// is read a block at a time, each block split as it is read and then freed (unless it was
    /// held). Also returns the most bytes of lines held at once by the split.
    pub fn split_into(
        self,
        kept_as: &[u32],
        keep: &mut dyn Keep,
        seen: &mut dyn FnMut(&LineFiles<'_>),
    ) -> io::Result<Option<(Previous, usize)>> {
        let mut kept_as = kept_as.to_vec();
        // The owners are needed only when an asset may be taken over.
        let mut owners = match kept_as.iter().any(|&a| a != inputs::NO_OWNER) {
            true => self.owners(),
            false => None,
        };
        let PreviousManifest {
            path,
            root_hash,
            block_bytes,
            held,
            ..
        } = self;
        if let Some(held) = held {
            // Read whole (`--repair`): the assets not to take over are known before any is.
            let lines: usize = held.blocks.iter().map(|b| b.lines.len()).sum();
            if owners.as_ref().is_some_and(|o| o.len() != lines) {
                owners = None;
            }
            let mut split = Split::new(&mut kept_as, owners.as_deref());
            for block in &held.blocks {
                split.find_not_kept(block);
            }
            for block in held.blocks {
                seen(&block_files(&block));
                split.block(&block, keep)?;
            }
            let (files, peak) = (split.files, split.held_peak);
            return Ok(Some((
                Previous {
                    files,
                    root_hash,
                    text: held.text,
                },
                peak,
            )));
        }
        let mut first_pass = true;
        loop {
            let mut split = Split::new(&mut kept_as, owners.as_deref());
            let mut reader = match BlockReader::open(&path, block_bytes, false) {
                Ok(r) => r,
                Err(NotAManifest) => return Ok(None),
            };
            loop {
                let block = match reader.next() {
                    Ok(Some(b)) => b,
                    Ok(None) => break,
                    Err(NotAManifest) => {
                        keep.restart()?;
                        return Ok(None);
                    }
                };
                if first_pass {
                    seen(&block_files(&block));
                }
                split.block(&block, keep)?;
            }
            first_pass = false;
            let (text, _) = reader.finish();
            let lines = text.starts.len() - 1;
            if split.owners_short || owners.as_ref().is_some_and(|o| o.len() != lines) {
                // Not the owners of this manifest: nothing is taken over.
                owners = None;
            } else if !split.again {
                let (files, peak) = (split.files, split.held_peak);
                return Ok(Some((
                    Previous {
                        files,
                        root_hash,
                        text,
                    },
                    peak,
                )));
            }
            keep.restart()?;
        }
    }
}

impl<'a> Split<'a> {
    fn new(kept_as: &'a mut [u32], owners: Option<&'a [u32]>) -> Split<'a> {
        let positions = kept_as.len();
        Split {
            kept_as,
            owners,
            taken: vec![false; positions],
            again: false,
            owners_short: false,
            files: FxHashMap::default(),
            held_peak: 0,
        }
    }

    /// Marks the assets owning a line of `block` that may not be taken over (a held manifest:
    /// before any line is split).
    fn find_not_kept(&mut self, block: &Block) {
        for (j, l) in block.lines.iter().enumerate() {
            if !l.single || l.damaged {
                let o = self.owner(block.first + j as u32);
                if let Some(k) = self.kept_as.get_mut(o as usize) {
                    *k = inputs::NO_OWNER;
                }
            }
        }
    }
}

impl Previous {
    /// Whether the previous snapshot holds `rel` (under `public/`) with this body.
    pub fn unchanged(&self, rel: &str, hash: &blake3::Hash) -> bool {
        let mut key = String::with_capacity(rel.len() + 7);
        key.push_str(snapshot::PUBLIC_DIR);
        key.push('/');
        key.push_str(rel);
        self.files.get(key.as_str()).is_some_and(|f| f.holds(hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest line as `export` writes it.
    fn line(path: &str, requests: usize, byte: u8) -> String {
        let e = Entry {
            path: path.into(),
            requests: (0..requests)
                .map(|i| format!("/__api/{path}?{i}"))
                .collect(),
            status: 200,
            content_type: snapshot::ContentType::Json,
            size: 3,
            blake3: blake3::Hash::from([byte; 32]),
        };
        serde_json::to_string(&e).unwrap()
    }

    /// The manifest at `file`, read `block_bytes` at a time, with these owners recorded.
    fn manifest(file: &Path, block_bytes: usize, owners: Option<Vec<u32>>) -> PreviousManifest {
        PreviousManifest {
            dir: file.parent().unwrap().to_path_buf(),
            path: file.to_path_buf(),
            root_hash: "r".into(),
            block_bytes,
            held: None,
            owners_override: Some(owners),
        }
    }

    /// Keeps the entries taken over in memory, and counts the restarts.
    #[derive(Default)]
    struct Kept {
        entries: Vec<Staged>,
        restarts: usize,
    }

    impl Keep for Kept {
        fn keep(&mut self, e: &Staged) -> io::Result<()> {
            self.entries.push(e.clone());
            Ok(())
        }
        fn restart(&mut self) -> io::Result<()> {
            self.entries.clear();
            self.restarts += 1;
            Ok(())
        }
    }

    /// Splits `m`: the entries kept, the rest (its files sorted by path), the restarts, the
    /// most bytes of lines held at once and every line seen (path and blake3).
    #[allow(clippy::type_complexity)]
    fn split_all(
        m: PreviousManifest,
        kept_as: &[u32],
    ) -> Option<(
        Vec<Staged>,
        Vec<(String, [u8; 32])>,
        usize,
        usize,
        Vec<(String, [u8; 32])>,
    )> {
        let mut kept = Kept::default();
        let mut seen = Vec::new();
        let (rest, peak) = m
            .split_into(kept_as, &mut kept, &mut |files| {
                seen.extend(files.iter().map(|(p, h)| (p.to_string(), *h)));
            })
            .unwrap()?;
        let mut files: Vec<(String, [u8; 32])> = rest
            .files
            .iter()
            .map(|(p, f)| (p.to_string(), f.blake3))
            .collect();
        files.sort();
        Some((kept.entries, files, kept.restarts, peak, seen))
    }

    /// The lines of assets kept as they were become entries owned by the asset's index now;
    /// the rest is what the new files are compared with. Read a few lines at a time, whole, or
    /// held first (`--repair`): the same split.
    #[test]
    fn split_takes_over_the_lines_of_kept_assets_only() {
        let lines = [
            line("public/a/1", 1, 1),
            // Not as export writes it (spaces): read as JSON, its request decoded.
            line("public/a/2", 1, 2).replace(",", ", "),
            // Read fast, but another content type: not copied either.
            line("public/a/3", 1, 7).replace("application/json", "text/plain"),
            line("public/b/1", 1, 3),
            line("public/c/1", 1, 5),
            line("public/errors/404", 0, 4),
            line("public/x/1", 1, 8),
            line("public/x/2", 1, 9),
            // c's second line, blocks after its first: c was taken over before this line showed
            // it may not be.
            line("public/y/c", 2, 6),
        ];
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("manifest.jsonl");
        fs::write(&file, lines.join("\n") + "\n").unwrap();
        let owners = vec![0, 0, 0, 1, 2, inputs::NO_OWNER, 0, 0, 2];
        let prev = |block_bytes| manifest(&file, block_bytes, Some(owners.clone()));
        // Recorded positions 0 (a) and 2 (c) kept, as assets 10 and 12; b rendered again.
        let kept_as = [10, inputs::NO_OWNER, 12];
        let (kept, rest) = prev(BLOCK_BYTES).split(&kept_as).expect("a manifest");
        let owners_kept: Vec<(&str, u32)> =
            kept.iter().map(|e| (e.path.as_str(), e.owner)).collect();
        // c owns a line that answers two requests: not a route file set this tool wrote, so
        // c is rendered again rather than trusted.
        assert_eq!(
            owners_kept,
            [
                ("public/a/1", 10),
                ("public/a/2", 10),
                ("public/a/3", 10),
                ("public/x/1", 10),
                ("public/x/2", 10)
            ]
        );
        // The canonical line is copied as it is; the others are formatted again, in full.
        assert_eq!(kept[0].previous_line, 0);
        let mut copied = Vec::new();
        rest.text.line(0, &mut copied).unwrap();
        assert_eq!(copied, lines[0].as_bytes());
        assert!(kept[0].requests.is_empty());
        for (e, byte) in [(&kept[1], 2), (&kept[2], 7)] {
            assert_eq!(e.previous_line, super::super::NO_LINE);
            assert_eq!(
                serde_json::to_string(&e.entry).unwrap(),
                line(&e.path, 1, byte)
            );
        }
        let mut files: Vec<&str> = rest.files.keys().map(|k| k.as_ref()).collect();
        files.sort();
        assert_eq!(
            files,
            [
                "public/b/1",
                "public/c/1",
                "public/errors/404",
                "public/y/c"
            ]
        );
        // Read a few lines at a time, c's first line was taken over before its last line was
        // read: the split started again. Read whole (one block), or held, it was not.
        let streamed = split_all(prev(BLOCK_BYTES), &kept_as).unwrap();
        assert_eq!(streamed.2, 1, "restarted once");
        let whole = split_all(prev(lines.concat().len() * 2), &kept_as).unwrap();
        assert_eq!(whole.2, 0);
        let held = split_all(prev(BLOCK_BYTES).hold().unwrap(), &kept_as).unwrap();
        assert_eq!(held.2, 0);
        for other in [&whole, &held] {
            assert_eq!(streamed.0, other.0, "the same entries taken over");
            assert_eq!(streamed.1, other.1, "the same files compared with");
            assert_eq!(streamed.4, other.4, "every line seen once");
        }
        assert_eq!(streamed.4.len(), lines.len());
        // Without recorded owners nothing is taken over.
        let (kept, rest) = manifest(&file, BLOCK_BYTES, None)
            .split(&[10, 11, 12])
            .unwrap();
        assert!(kept.is_empty());
        assert_eq!(rest.files.len(), lines.len());
    }

    /// Owners recorded for another number of lines than the manifest has are not this
    /// manifest's: nothing is taken over (found once the manifest is read: whatever was taken
    /// over is forgotten).
    #[test]
    fn owners_of_another_manifest_take_nothing_over() {
        let lines: Vec<String> = (0..20)
            .map(|i| line(&format!("public/x/{i:02}"), 1, i as u8))
            .collect();
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("manifest.jsonl");
        fs::write(&file, lines.join("\n") + "\n").unwrap();
        for n in [19, 21] {
            let (kept, files, restarts, _, _) =
                split_all(manifest(&file, BLOCK_BYTES, Some(vec![0; n])), &[7]).unwrap();
            assert!(kept.is_empty(), "{n} owners");
            assert_eq!(files.len(), lines.len());
            assert_eq!(restarts, 1);
        }
        let (kept, ..) = split_all(manifest(&file, BLOCK_BYTES, Some(vec![0; 20])), &[7]).unwrap();
        assert_eq!(kept.len(), 20);
    }

    /// A line that is not a manifest line, even after blocks were split: no previous snapshot
    /// (and what was taken over is forgotten).
    #[test]
    fn a_manifest_with_a_line_not_of_a_manifest_is_none() {
        let mut lines: Vec<String> = (0..20)
            .map(|i| line(&format!("public/x/{i:02}"), 1, i as u8))
            .collect();
        lines[15] = "{not a manifest line".into();
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("manifest.jsonl");
        fs::write(&file, lines.join("\n") + "\n").unwrap();
        let mut kept = Kept::default();
        let split = manifest(&file, BLOCK_BYTES, Some(vec![0; 20]))
            .split_into(&[7], &mut kept, &mut |_| {})
            .unwrap();
        assert!(split.is_none());
        assert!(kept.entries.is_empty());
        assert_eq!(kept.restarts, 1);
        assert!(manifest(&file, BLOCK_BYTES, None).hold().is_none());
    }

    /// Issue 20: an update splits the manifest block by block as it reads it, never holding
    /// its lines: what it keeps of each line is where it starts (and 8 bytes a region of the
    /// file), and the lines held at once are one block's. The split is the one of the whole
    /// manifest read as one block, and of the manifest held whole (`--repair`).
    #[test]
    fn the_manifest_is_not_held() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("snapshots/demo/export-minimal/manifest.jsonl");
        let size = fs::metadata(&file).unwrap().len() as usize;
        let text = fs::read_to_string(&file).unwrap();
        let entries: Vec<Entry> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(entries.len() > 1000);
        // Owners four lines each, some lines owned by none; every third owner kept.
        let owners: Vec<u32> = (0..entries.len() as u32)
            .map(|i| if i % 7 == 3 { inputs::NO_OWNER } else { i / 4 })
            .collect();
        let kept_as: Vec<u32> = (0..entries.len() as u32 / 4 + 1)
            .map(|p| {
                if p % 3 == 0 {
                    p + 100
                } else {
                    inputs::NO_OWNER
                }
            })
            .collect();
        let streamed =
            split_all(manifest(&file, BLOCK_BYTES, Some(owners.clone())), &kept_as).unwrap();
        let (kept, files, restarts, peak, seen) = &streamed;
        assert_eq!(*restarts, 0);
        assert!(!kept.is_empty() && !files.is_empty());
        assert!(
            *peak < 4 * BLOCK_BYTES,
            "{peak} bytes of lines held at once, reading {BLOCK_BYTES} bytes at a time"
        );
        // Each line's path as in the file, in order.
        let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        let read: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(read, paths);
        let whole = split_all(manifest(&file, size * 2, Some(owners.clone())), &kept_as).unwrap();
        assert!(
            whole.3 >= entries.len() * std::mem::size_of::<PreviousLine>(),
            "one block holds every line"
        );
        let held = split_all(
            manifest(&file, BLOCK_BYTES, Some(owners.clone()))
                .hold()
                .unwrap(),
            &kept_as,
        )
        .unwrap();
        for other in [&whole, &held] {
            assert_eq!(streamed.0, other.0, "the same entries taken over");
            assert_eq!(streamed.1, other.1, "the same files compared with");
            assert_eq!(streamed.4, other.4, "every line seen");
        }
        // What is kept of every line (where it starts; a check per region): a fraction of the
        // file.
        let mut reader = BlockReader::open(&file, BLOCK_BYTES, false).ok().unwrap();
        while reader.next().ok().unwrap().is_some() {}
        let (text, _) = reader.finish();
        let held = (text.starts.capacity() + text.regions.capacity()) * 8;
        assert!(
            held * 8 < size,
            "{held} bytes kept for a {size}-byte manifest"
        );
    }

    /// Every line taken over is copied as it was read; a manifest changed (or cut) after it was
    /// read is an error naming the line, never other bytes copied.
    #[test]
    fn a_manifest_changed_under_the_export_is_an_error() {
        let lines: Vec<String> = (0..40)
            .map(|i| line(&format!("public/x/{i:02}"), 1, i as u8))
            .collect();
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("manifest.jsonl");
        // The last line without its newline.
        fs::write(&file, lines.join("\n")).unwrap();
        let held = manifest(&file, BLOCK_BYTES, Some(vec![0; lines.len()]))
            .hold()
            .expect("a manifest");
        assert_eq!(
            held.held.as_ref().unwrap().read_hash,
            blake3::hash(lines.join("\n").as_bytes()).to_hex().as_str()
        );
        let (kept, rest) = manifest(&file, BLOCK_BYTES, Some(vec![0; lines.len()]))
            .split(&[5])
            .expect("a manifest");
        assert_eq!(kept.len(), lines.len());
        let copy = |rest: &Previous| -> Vec<io::Result<Vec<u8>>> {
            // On a thread of its own: no window read before.
            std::thread::scope(|s| {
                s.spawn(|| {
                    kept.iter()
                        .map(|e| {
                            let mut buf = Vec::new();
                            rest.text.line(e.previous_line, &mut buf).map(|()| buf)
                        })
                        .collect()
                })
                .join()
                .unwrap()
            })
        };
        let copied: Vec<Vec<u8>> = copy(&rest).into_iter().map(Result::unwrap).collect();
        let want: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
        assert_eq!(copied, want);
        // One hex digit of line 31's hash changed in place: line 31 cannot be copied (nor the
        // lines read in the same window); every line copied is the one read.
        let mut bytes = fs::read(&file).unwrap();
        let at = lines[..30].iter().map(|l| l.len() + 1).sum::<usize>() + lines[30].len() - 4;
        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        fs::write(&file, &bytes).unwrap();
        let results = copy(&rest);
        let mut failed = 0;
        for (i, r) in results.iter().enumerate() {
            match r {
                Ok(l) => assert_eq!(l, lines[i].as_bytes()),
                Err(e) => {
                    failed += 1;
                    let message = e.to_string();
                    assert!(
                        message.contains(
                            "manifest.jsonl changed while this export was reading it (its bytes "
                        ) && message.contains("are not those read, at line"),
                        "{message}"
                    );
                }
            }
        }
        let message = results[30].as_ref().unwrap_err().to_string();
        assert!(message.contains("at line 31)"), "{message}");
        assert!(failed < lines.len() / 2, "{failed} lines failed");
        // Cut short: the last line cannot be read whole.
        fs::write(&file, &bytes[..bytes.len() - 10]).unwrap();
        let results = copy(&rest);
        let message = results[39].as_ref().unwrap_err().to_string();
        let len = lines.join("\n").len();
        assert!(
            message.contains(&format!(
                "it is shorter than the {len} bytes read, at line 40"
            )),
            "{message}"
        );
    }
}
