//! The previous snapshot an export updates: its manifest read back (each line's file, and where
//! the line is in the file so a kept line is copied as it is), split into the entries of the
//! assets taken over without rendering and the files the new ones are compared with.
//!
//! Memory (issue 20): the manifest is read in blocks and never held whole. Per line the update
//! keeps its file (the full blake3, size, status, flags: 56 bytes), its path (in one buffer per
//! block, freed block by block as the manifest is split) and, in [`ManifestText`], where the
//! line is in the file and 8 bytes of its blake3 (16 bytes): a line taken over is read again
//! from the file when the new manifest is written, and must still hash to what was read.

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

/// The previous snapshot's manifest, as read: every line in manifest order and, when the
/// snapshot recorded them ([`inputs::OWNERS_FILE`]), the asset each line belongs to.
pub struct PreviousManifest {
    /// The lines, in manifest order, in the blocks they were read in.
    blocks: Vec<Block>,
    text: ManifestText,
    /// The request of each line that answers exactly one and is not copied as it is (rare:
    /// lines not as `export` writes them), by line.
    requests: FxHashMap<u32, Box<str>>,
    /// Per line, the owner's position in the recorded inputs ([`inputs::NO_OWNER`] for none).
    owners: Option<Vec<u32>>,
    root_hash: String,
    /// The blake3 of `manifest.jsonl` as it was read (the root hash, when it is intact).
    read_hash: String,
}

/// Lines of the previous manifest, and their paths one after another.
struct Block {
    paths: String,
    lines: Vec<PreviousLine>,
}

impl Block {
    fn path(&self, l: &PreviousLine) -> &str {
        &self.paths[l.path_start as usize..(l.path_start + l.path_len) as usize]
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
type Requests = Vec<(u32, Box<str>)>;

/// The lines of one block of the manifest (`bytes`, whole lines, starting at `offset` in the
/// file, its first line numbered `first`): the block, each line's start, the requests kept.
/// `None` if a line is not a manifest line.
fn parse_block(bytes: &[u8], offset: u64, first: u32) -> Option<(Block, Vec<u64>, Requests)> {
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
    };
    let mut requests = Vec::new();
    for (i, (mut line, path, request)) in parsed.into_iter().enumerate() {
        line.path_start = u32::try_from(block.paths.len()).ok()?;
        line.path_len = u32::try_from(path.len()).ok()?;
        block.paths.push_str(&path);
        block.lines.push(line);
        if let Some(r) = request {
            requests.push((first + i as u32, r));
        }
    }
    let starts = spans.iter().map(|&(s, _)| offset + s as u64).collect();
    Some((block, starts, requests))
}

impl PreviousManifest {
    /// Reads `DIR/manifest.jsonl` of a snapshot in the current format; `None` when `dir` holds
    /// no such snapshot (then the export is a full one).
    pub fn load(dir: &Path) -> Option<PreviousManifest> {
        // read_info checks the format: a snapshot of another version is rebuilt in full.
        let info = snapshot::read_info(dir).ok()?;
        let mut manifest = Self::read(&dir.join(snapshot::MANIFEST_FILE), info.root_hash)?;
        manifest.owners = inputs::load_owners(dir, &manifest.root_hash, manifest.len());
        Some(manifest)
    }

    /// Reads the manifest at `path` a block at a time (each parsed in parallel, and hashed),
    /// keeping only what the update needs of each line. `None` if a line is not a manifest
    /// line (or the file cannot be read).
    fn read(path: &Path, root_hash: String) -> Option<PreviousManifest> {
        let file = fs::File::open(path).ok()?;
        let mut reader = io::BufReader::with_capacity(1 << 20, &file);
        let mut hasher = blake3::Hasher::new();
        let mut blocks = Vec::new();
        let mut starts = Vec::new();
        let mut regions = Regions::default();
        let mut requests = FxHashMap::default();
        let mut block: Vec<u8> = Vec::with_capacity(BLOCK_BYTES + (64 << 10));
        let (mut offset, mut lines) = (0u64, 0u32);
        let mut ends_with_newline = true;
        loop {
            block.clear();
            (&mut reader)
                .take(BLOCK_BYTES as u64)
                .read_to_end(&mut block)
                .ok()?;
            if block.is_empty() {
                break;
            }
            if block.last() != Some(&b'\n') {
                io::BufRead::read_until(&mut reader, b'\n', &mut block).ok()?;
            }
            hasher.update(&block);
            regions.update(&block);
            ends_with_newline = block.last() == Some(&b'\n');
            let (b, s, r) = parse_block(&block, offset, lines)?;
            lines = lines.checked_add(u32::try_from(b.lines.len()).ok()?)?;
            offset += block.len() as u64;
            if blocks.is_empty() {
                // Sized once, from the first block's lines: growing by doubling would hold
                // twice 8 bytes a line.
                let size = u128::from(file.metadata().map_or(0, |m| m.len()));
                let estimate = size * b.lines.len() as u128 / (block.len() as u128).max(1);
                let estimate = estimate as usize;
                starts.reserve_exact(estimate + estimate / 16 + 1);
            }
            blocks.push(b);
            starts.extend(s);
            requests.extend(r);
        }
        // Where a line after the last would start (past a newline the file may lack).
        starts.push(if ends_with_newline {
            offset
        } else {
            offset + 1
        });
        starts.shrink_to_fit();
        drop(reader);
        Some(PreviousManifest {
            blocks,
            text: ManifestText {
                file,
                path: path.to_path_buf(),
                starts,
                regions: regions.finish(),
                len: offset,
                id: TEXT_IDS.fetch_add(1, Ordering::Relaxed),
            },
            requests,
            owners: None,
            root_hash,
            read_hash: hasher.finalize().to_hex().to_string(),
        })
    }

    /// What it holds besides its requests and owners, in bytes (what issue 20 bounds).
    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        let blocks: usize = self
            .blocks
            .iter()
            .map(|b| b.paths.capacity() + b.lines.capacity() * std::mem::size_of::<PreviousLine>())
            .sum();
        blocks + (self.text.starts.capacity() + self.text.regions.capacity()) * 8
    }

    /// Lines.
    fn len(&self) -> usize {
        self.text.starts.len() - 1
    }

    /// Every line with its path, in manifest order.
    fn lines(&self) -> impl Iterator<Item = (&str, &PreviousLine)> {
        self.blocks
            .iter()
            .flat_map(|b| b.lines.iter().map(move |l| (b.path(l), l)))
    }

    /// Every line's path and blake3, in manifest order.
    pub fn files(&self) -> impl Iterator<Item = (&str, [u8; 32])> {
        self.lines().map(|(path, l)| (path, l.blake3))
    }

    /// `export --repair`: checks every file the manifest lists in `dir` against its line and
    /// marks the damaged ones, which the export then writes again (their owners are rendered,
    /// not taken over). A manifest that no longer hashes to the root hash is reported instead
    /// (nothing it lists can be trusted: the caller rebuilds in full).
    pub fn repair(&mut self, dir: &Path, layout: snapshot::Layout) -> super::repair::Repair {
        use super::repair::{damaged, Listed, Repair};
        if self.read_hash != self.root_hash {
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
        let lines = self.blocks.iter_mut().flat_map(|b| b.lines.iter_mut());
        for (l, d) in lines.zip(found) {
            l.damaged = d;
        }
        report
    }

    /// Whether the snapshot recorded the owner of each line (then unchanged assets can be
    /// taken over without rendering).
    pub fn has_owners(&self) -> bool {
        self.owners.is_some()
    }

    /// Splits off the lines of the assets taken over as they were: `kept_as[pos]` is the index
    /// now of the asset at position `pos` of the recorded inputs when its inputs did not change,
    /// else [`inputs::NO_OWNER`]. Returns their entries (in manifest order, so sorted) and the
    /// rest, which the files written this time are compared with.
    #[cfg(test)]
    pub fn split(self, kept_as: &[u32]) -> (Vec<Staged>, Previous) {
        let mut kept = Vec::new();
        let rest = self
            .split_into(kept_as, &mut |e: &Staged| {
                kept.push(e.clone());
                Ok(())
            })
            .expect("kept in memory");
        (kept, rest)
    }

    /// [`PreviousManifest::split`], handing each entry taken over to `keep` in manifest order
    /// (sorted by path) rather than holding them (issue 20: an export spills them to a sorted
    /// run). The lines are freed a block at a time as their entries are made.
    pub fn split_into(
        self,
        kept_as: &[u32],
        keep: &mut dyn FnMut(&Staged) -> io::Result<()>,
    ) -> io::Result<Previous> {
        let lines = self.len();
        let PreviousManifest {
            blocks,
            text,
            requests,
            owners,
            root_hash,
            read_hash: _,
        } = self;
        let mut kept_as = kept_as.to_vec();
        let owners = owners.unwrap_or_else(|| vec![inputs::NO_OWNER; lines]);
        // A kept asset must own only single-request lines (route files); anything else means
        // the recorded files do not belong together: render that asset again.
        let all = blocks.iter().flat_map(|b| &b.lines);
        for (l, &o) in all.zip(&owners) {
            if !l.single || l.damaged {
                if let Some(k) = kept_as.get_mut(o as usize) {
                    *k = inputs::NO_OWNER;
                }
            }
        }
        let kept_owner = |o: u32| {
            kept_as
                .get(o as usize)
                .copied()
                .filter(|&a| a != inputs::NO_OWNER)
        };
        let mut files = FxHashMap::default();
        let mut first = 0;
        for block in blocks {
            let owners = &owners[first..first + block.lines.len()];
            // The kept lines' entries, in parallel (a path copied for each); in order.
            let entries: Vec<Staged> = block
                .lines
                .par_iter()
                .zip(owners)
                .enumerate()
                .filter_map(|(j, (l, &o))| {
                    let a = kept_owner(o)?;
                    let i = (first + j) as u32;
                    // A canonical line is copied as it is: its request is not needed. (A kept
                    // line answers exactly one request: see above.)
                    let (requests, line) = match requests.get(&i) {
                        _ if l.canonical => (Vec::new(), i),
                        request => (
                            request.iter().map(|r| r.to_string()).collect(),
                            super::NO_LINE,
                        ),
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
                    })
                })
                .collect();
            for e in &entries {
                keep(e)?;
            }
            drop(entries);
            for (l, &o) in block.lines.iter().zip(owners) {
                let path = block.path(l);
                // The router files' lines (`_routers/…`) are compared as meta files, byte for
                // byte (`changes::meta_changes`), not as route files.
                if kept_owner(o).is_none() && !path.starts_with(ROUTERS_PREFIX) {
                    files.insert(path.into(), l.file());
                }
            }
            first += block.lines.len();
        }
        Ok(Previous {
            files,
            root_hash,
            text,
        })
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

    /// The lines of assets kept as they were become entries owned by the asset's index now;
    /// the rest is what the new files are compared with.
    #[test]
    fn split_takes_over_the_lines_of_kept_assets_only() {
        let lines = [
            line("public/a/1", 1, 1),
            // Not as export writes it (spaces): read as JSON, its request decoded.
            line("public/a/2", 1, 2).replace(",", ", "),
            // Read fast, but another content type: not copied either.
            line("public/a/3", 1, 7).replace("application/json", "text/plain"),
            line("public/b/1", 1, 3),
            line("public/errors/404", 0, 4),
            line("public/c/1", 1, 5),
            line("public/c/2", 2, 6),
        ];
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("manifest.jsonl");
        fs::write(&file, lines.join("\n") + "\n").unwrap();
        let prev = || {
            let mut p = PreviousManifest::read(&file, "r".into()).expect("a manifest");
            p.owners = Some(vec![0, 0, 0, 1, inputs::NO_OWNER, 2, 2]);
            p
        };
        // Recorded positions 0 (a) and 2 (c) kept, as assets 10 and 12; b rendered again.
        let (kept, rest) = prev().split(&[10, inputs::NO_OWNER, 12]);
        let owners: Vec<(&str, u32)> = kept.iter().map(|e| (e.path.as_str(), e.owner)).collect();
        // c owns a line that answers two requests: not a route file set this tool wrote, so
        // c is rendered again rather than trusted.
        assert_eq!(
            owners,
            [("public/a/1", 10), ("public/a/2", 10), ("public/a/3", 10)]
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
        let mut rest: Vec<&str> = rest.files.keys().map(|k| k.as_ref()).collect();
        rest.sort();
        assert_eq!(
            rest,
            [
                "public/b/1",
                "public/c/1",
                "public/c/2",
                "public/errors/404"
            ]
        );
        // Without recorded owners nothing is taken over.
        let mut no_owners = prev();
        no_owners.owners = None;
        let (kept, rest) = no_owners.split(&[10, 11, 12]);
        assert!(kept.is_empty());
        assert_eq!(rest.files.len(), 7);
    }

    /// Issue 20: what an update keeps of each previous line is small (no text: where the line
    /// starts, its file, its path; 8 bytes a region of the file), a fraction of the manifest's
    /// size.
    #[test]
    fn the_manifest_is_not_held() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("snapshots/demo/export-minimal/manifest.jsonl");
        let size = fs::metadata(&file).unwrap().len() as usize;
        let prev = PreviousManifest::read(&file, "r".into()).expect("a manifest");
        assert!(prev.len() > 1000);
        assert!(prev.blocks.len() > 100, "read in blocks");
        let held = prev.held_bytes();
        assert!(
            held * 2 < size,
            "{held} bytes held for a {size}-byte manifest"
        );
        // Each line's path as in the file, in order.
        let text = fs::read_to_string(&file).unwrap();
        let paths: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<Entry>(l).unwrap().path)
            .collect();
        let read: Vec<&str> = prev.files().map(|(p, _)| p).collect();
        assert_eq!(read, paths);
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
        let mut prev = PreviousManifest::read(&file, "r".into()).expect("a manifest");
        assert_eq!(
            prev.read_hash,
            blake3::hash(lines.join("\n").as_bytes()).to_hex().as_str()
        );
        prev.owners = Some(vec![0; lines.len()]);
        let (kept, rest) = prev.split(&[5]);
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
