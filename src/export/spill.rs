//! Issue 20: an export's manifest entries leave memory as sorted runs on disk, and come back in
//! path order through a k-way merge, as often as a stage needs them.
//!
//! Every entry an export makes (error documents, each rendered route, the 403 markers, and the
//! entries an update takes over from the previous manifest) goes through [`Spill::push`] on one
//! thread: it is encoded compactly (path, requests, status, content type, size, blake3, owner,
//! previous line: about 270 bytes for a `minimal` route, against 400–500 as a [`Staged`]) into a
//! buffer; when the buffer holds the budget (`ExportOptions::run_bytes`, [`DEFAULT_RUN_BYTES`]),
//! its entries are sorted by path and written as one run file. Entries that come sorted already
//! (those taken over) are written as a run of their own without being held
//! ([`Spill::sorted_run`]). [`Runs::merge`] reads every run through a large buffer and yields
//! the entries in path order ([`Merge`], a binary heap of the runs' heads).
//!
//! The runs live in a scratch directory beside the output, `.NAME.tmp-runs-…`, never in the
//! snapshot: it is removed when the export ends, whatever the outcome (a [`tempfile::TempDir`]),
//! and a `kill -9` leaves it for the next export, which removes it with the other stale
//! `.NAME.tmp-*` trees before it starts (`output::remove_stale`).

use super::direct::{DirectFile, DirectReader};
use super::Staged;
use crate::snapshot::pack::Loc;
use crate::snapshot::{staging, ContentType, Entry};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Bytes of encoded entries held before a run is written: about 280,000 `minimal` routes, so a
/// million-asset export (8.3M entries) writes about 30 runs.
pub const DEFAULT_RUN_BYTES: usize = 64 << 20;

/// The disk a run takes per entry, about (a `minimal` route's path and request, 80 bytes
/// each, and 100 bytes of the rest; 275 measured at 1M): what `export` checks is free besides
/// the snapshot. Since a run stores only the part of a path not shared with the previous one
/// ([`RunFile`]) it takes about 190–200 at 1M; the estimate stays at the whole path's, for stores
/// whose paths share less (long by_url keys).
pub(super) const DISK_PER_ENTRY: u64 = 280;

/// The largest budget: spans into the buffer are 32-bit.
const MAX_RUN_BYTES: usize = 1 << 30;

/// Bytes of read buffer the merge gives all runs together (each gets a share, 64 KiB to 4 MiB),
/// twice over: each run is read one buffer ahead ([`DirectReader`]).
const MERGE_BUFFER: usize = 32 << 20;

/// The most runs merged at once (each an open file): beyond, [`Spill::finish`] first merges the
/// oldest runs into one, as often as needed (a tiny budget, or a store far beyond 10M assets).
pub(super) const FAN_IN: usize = 128;

/// The entries of an export on their way to disk (see the module doc).
pub(super) struct Spill {
    /// The run being sorted and written on a thread of its own while the next one fills (at
    /// most one): it gives its emptied buffers back. Declared first: dropped (joined) before
    /// the scratch directory goes.
    writing: RunWriter,
    dir: tempfile::TempDir,
    budget: usize,
    /// The entries not yet written, encoded one after another.
    buf: Vec<u8>,
    /// Where each of them is in `buf` (start, length).
    spans: Vec<(u32, u32)>,
    runs: Vec<PathBuf>,
    /// Run files made so far (their names).
    made: usize,
    /// The most runs merged at once ([`FAN_IN`]; tests use fewer).
    fan_in: usize,
    entries: u64,
    /// The most bytes held at once: `buf` and `spans`, and the run being written.
    held_peak: usize,
    /// Bytes the run being written holds.
    writing_bytes: usize,
    /// Emptied buffers for the next run.
    spare: Option<Buffers>,
}

/// The thread writing a run, if any; dropping it waits for it (an export that fails leaves no
/// thread writing into a scratch directory being removed).
#[derive(Default)]
struct RunWriter(Option<std::thread::JoinHandle<io::Result<Buffers>>>);

impl Drop for RunWriter {
    fn drop(&mut self) {
        if let Some(writer) = self.0.take() {
            let _ = writer.join();
        }
    }
}

/// A run's entries, encoded one after another, and where each is.
type Buffers = (Vec<u8>, Vec<(u32, u32)>);

/// Sorts the entries of `buf` by path and writes them as the run `run`; gives the emptied
/// buffers back.
fn write_run(mut run: RunFile, (mut buf, mut spans): Buffers) -> io::Result<Buffers> {
    {
        let record = |&(s, n): &(u32, u32)| &buf[s as usize..(s + n) as usize];
        // Paths are distinct: an unstable sort gives one order.
        spans.sort_unstable_by(|a, b| path_of(record(a)).cmp(path_of(record(b))));
        for span in &spans {
            run.write(record(span))?;
        }
        run.close()?;
    }
    buf.clear();
    spans.clear();
    Ok((buf, spans))
}

/// Encodes `e` at the end of `out`.
fn encode(e: &Staged, out: &mut Vec<u8>) {
    fn put_str(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    put_str(out, &e.path);
    out.extend_from_slice(&(e.requests.len() as u32).to_le_bytes());
    for r in &e.requests {
        put_str(out, r);
    }
    out.extend_from_slice(&e.status.to_le_bytes());
    match &e.content_type {
        ContentType::Json => out.push(0),
        ContentType::Other(s) => {
            out.push(1);
            put_str(out, s);
        }
    }
    out.extend_from_slice(&e.size.to_le_bytes());
    out.extend_from_slice(e.blake3.as_bytes());
    out.extend_from_slice(&e.owner.to_le_bytes());
    out.extend_from_slice(&e.previous_line.to_le_bytes());
    match &e.pack_loc {
        None => out.push(0),
        Some(l) => {
            out.push(1);
            for n in [l.pack, l.offset, l.length] {
                out.extend_from_slice(&n.to_le_bytes());
            }
            out.extend_from_slice(&l.etag);
        }
    }
}

/// Reads what [`encode`] wrote.
struct Decoder<'a>(&'a [u8]);

impl<'a> Decoder<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    fn str(&mut self) -> Option<&'a str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }
}

/// The path of an encoded entry.
fn path_of(record: &[u8]) -> &[u8] {
    let n = u32::from_le_bytes(record[..4].try_into().expect("4 bytes")) as usize;
    &record[4..4 + n]
}

/// Decodes `record`, as a run holds it ([`RunFile::write`]), into `e`, the entry read before
/// it from the same run (or [`blank`]), reusing its strings' memory; `None` if it is not an
/// entry.
fn decode_into(record: &[u8], e: &mut Staged) -> Option<()> {
    let mut d = Decoder(record);
    let shared = d.u32()? as usize;
    if !e.entry.path.is_char_boundary(shared) {
        return None;
    }
    e.entry.path.truncate(shared);
    e.entry.path.push_str(d.str()?);
    let n = d.u32()? as usize;
    e.entry.requests.truncate(n);
    for i in 0..n {
        let r = d.str()?;
        match e.entry.requests.get_mut(i) {
            Some(s) => {
                s.clear();
                s.push_str(r);
            }
            None => e.entry.requests.push(r.to_string()),
        }
    }
    e.entry.status = u16::from_le_bytes(d.array()?);
    e.entry.content_type = match d.take(1)?[0] {
        0 => ContentType::Json,
        1 => ContentType::Other(d.str()?.into()),
        _ => return None,
    };
    e.entry.size = u64::from_le_bytes(d.array()?);
    e.entry.blake3 = blake3::Hash::from(d.array::<32>()?);
    e.owner = d.u32()?;
    e.previous_line = d.u32()?;
    e.pack_loc = match d.take(1)?[0] {
        0 => None,
        1 => Some(Loc {
            pack: d.u32()?,
            offset: d.u32()?,
            length: d.u32()?,
            etag: d.array()?,
        }),
        _ => return None,
    };
    d.0.is_empty().then_some(())
}

/// An empty entry, for [`decode_into`] to fill.
fn blank() -> Staged {
    Staged {
        entry: Entry {
            path: String::new(),
            requests: Vec::new(),
            status: 0,
            content_type: ContentType::Json,
            size: 0,
            blake3: blake3::Hash::from([0; 32]),
        },
        owner: super::inputs::NO_OWNER,
        previous_line: super::NO_LINE,
        pack_loc: None,
    }
}

/// Writes one run: each entry as its length (4 bytes) and its encoding.
///
/// Runs are written past the page cache (`direct`): at 1M assets they are gigabytes, read
/// back once or twice by the merge, and a page cache write is the costlier half on a machine
/// whose RAM its host backs lazily.
///
/// On disk a record's path is stored as what it shares with the previous record's path (its
/// byte count) and the rest ([`RunFile::write`]): a run is sorted by path, and neighbours share
/// most of theirs (`public/__api/assets/<id>/…`), so runs are about a third smaller (2.3 GB
/// → ~1.6 GB at 1M assets `minimal`): less to write while the routes render and to read back
/// in the merge, which waited on the disk.
struct RunFile {
    path: PathBuf,
    out: DirectFile,
    /// The path of the record written last.
    last: Vec<u8>,
}

impl RunFile {
    fn create(path: PathBuf) -> io::Result<RunFile> {
        let out = DirectFile::create(&path, 1 << 20, Vec::new())?;
        Ok(RunFile {
            path,
            out,
            last: Vec::new(),
        })
    }

    /// Writes `record` (as [`encode`] made it) as its length, the bytes its path shares with
    /// the previous record's (a count, at a character boundary), the rest of its path (as
    /// [`encode`] writes a string) and the rest of the record.
    fn write(&mut self, record: &[u8]) -> io::Result<()> {
        let path = path_of(record);
        let rest = &record[4 + path.len()..];
        let mut shared = path
            .iter()
            .zip(&self.last)
            .take_while(|(a, b)| a == b)
            .count();
        // A UTF-8 continuation byte (10xxxxxx) does not start a character.
        while shared > 0 && path.get(shared).is_some_and(|&b| b & 0xC0 == 0x80) {
            shared -= 1;
        }
        let suffix = &path[shared..];
        let len = 4 + 4 + suffix.len() + rest.len();
        let mut write = |bytes: &[u8]| self.out.write_all(bytes, &mut |_| {});
        write(&(len as u32).to_le_bytes())?;
        write(&(shared as u32).to_le_bytes())?;
        write(&(suffix.len() as u32).to_le_bytes())?;
        write(suffix)?;
        write(rest)?;
        self.last.clear();
        self.last.extend_from_slice(path);
        Ok(())
    }

    /// Empties the run (a file of no records).
    fn clear(&mut self) -> io::Result<()> {
        self.last.clear();
        self.out.clear()
    }

    fn close(self) -> io::Result<PathBuf> {
        self.out.finish(&mut |_| {})?;
        Ok(self.path)
    }
}

impl Spill {
    /// A spill whose scratch directory goes beside the output `name` in `parent` (see the module
    /// doc), writing a run every `budget` bytes of entries.
    pub(super) fn new(parent: &Path, name: &str, budget: usize) -> io::Result<Spill> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}runs-", staging::full_prefix(name)))
            .tempdir_in(parent)?;
        Ok(Spill {
            dir,
            budget: budget.clamp(1, MAX_RUN_BYTES),
            buf: Vec::new(),
            spans: Vec::new(),
            runs: Vec::new(),
            made: 0,
            fan_in: FAN_IN,
            entries: 0,
            held_peak: 0,
            writing: RunWriter::default(),
            writing_bytes: 0,
            spare: None,
        })
    }

    /// The scratch directory.
    pub(super) fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn next_run(&mut self) -> io::Result<RunFile> {
        self.made += 1;
        RunFile::create(self.dir.path().join(format!("run-{:06}", self.made - 1)))
    }

    /// Adds `e`; writes a run when the budget is reached.
    pub(super) fn push(&mut self, e: &Staged) -> io::Result<()> {
        let start = self.buf.len();
        encode(e, &mut self.buf);
        self.spans
            .push((start as u32, (self.buf.len() - start) as u32));
        self.entries += 1;
        let held = self.buf.len() + self.spans.len() * std::mem::size_of::<(u32, u32)>();
        self.held_peak = self.held_peak.max(held + self.writing_bytes);
        if held >= self.budget {
            self.flush(held)?;
        }
        Ok(())
    }

    /// Hands the entries held (`held` bytes) to a thread that sorts them by path and writes
    /// them as a run, once the run before is written: the thread that pushes entries (the
    /// render stage's, which takes each chunk in order) goes on meanwhile. At most two runs'
    /// entries are held: the one filling and the one being written.
    fn flush(&mut self, held: usize) -> io::Result<()> {
        if self.spans.is_empty() {
            return Ok(());
        }
        self.wait()?;
        let run = self.next_run()?;
        self.runs.push(run.path.clone());
        let spare = self.spare.take().unwrap_or_default();
        let full = (
            std::mem::replace(&mut self.buf, spare.0),
            std::mem::replace(&mut self.spans, spare.1),
        );
        self.writing_bytes = held;
        let writer = std::thread::Builder::new()
            .name("matrix-snapshot-runs".into())
            .spawn(move || write_run(run, full))?;
        self.writing.0 = Some(writer);
        Ok(())
    }

    /// Waits for the run being written, if any; keeps its buffers for the next.
    fn wait(&mut self) -> io::Result<()> {
        if let Some(writer) = self.writing.0.take() {
            self.writing_bytes = 0;
            let buffers = writer
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            self.spare = Some(buffers);
        }
        Ok(())
    }

    /// A run for entries that come sorted by path: written as they come, never held.
    pub(super) fn sorted_run(&mut self) -> io::Result<SortedRun> {
        let file = self.next_run()?;
        // Its name is taken: the next run gets the next one.
        self.runs.push(file.path.clone());
        Ok(SortedRun {
            file,
            last: None,
            entries: 0,
            buf: Vec::new(),
        })
    }

    /// Counts the entries of a finished [`SortedRun`].
    pub(super) fn add_sorted(&mut self, run: SortedRun) -> io::Result<u64> {
        let n = run.entries;
        run.file.close()?;
        self.entries += n;
        Ok(n)
    }

    /// The most bytes of entries held at once so far.
    #[cfg(test)]
    pub(super) fn held_peak(&self) -> usize {
        self.held_peak
    }

    /// Writes what is held as the last run (then merges runs until at most the fan-in are
    /// left).
    pub(super) fn finish(mut self) -> io::Result<Runs> {
        let held = self.buf.len() + self.spans.len() * std::mem::size_of::<(u32, u32)>();
        self.flush(held)?;
        self.wait()?;
        self.buf = Vec::new();
        self.spans = Vec::new();
        self.spare = None;
        let made = self.made;
        while self.runs.len() > self.fan_in {
            let oldest: Vec<PathBuf> = self.runs.drain(..self.fan_in).collect();
            let mut run = self.next_run()?;
            let mut merge = merge(&oldest)?;
            while let Some(e) = merge.next()? {
                self.buf.clear();
                encode(e, &mut self.buf);
                run.write(&self.buf)?;
            }
            drop(merge);
            self.runs.push(run.close()?);
            for path in oldest {
                fs::remove_file(path)?;
            }
        }
        Ok(Runs {
            dir: self.dir,
            runs: self.runs,
            written: made,
            entries: self.entries,
            held_peak: self.held_peak,
        })
    }

    /// [`Spill::finish`] merging at most `fan_in` runs at once (tests).
    #[cfg(test)]
    pub(super) fn with_fan_in(mut self, fan_in: usize) -> Spill {
        self.fan_in = fan_in.max(2);
        self
    }
}

/// A run of entries written in the order they come, which must be by path
/// ([`Spill::sorted_run`]).
pub(super) struct SortedRun {
    file: RunFile,
    last: Option<Vec<u8>>,
    entries: u64,
    buf: Vec<u8>,
}

impl SortedRun {
    /// Adds `e`, whose path must sort after the previous one's.
    pub(super) fn push(&mut self, e: &Staged) -> io::Result<()> {
        if self
            .last
            .as_deref()
            .is_some_and(|last| last >= e.path.as_bytes())
        {
            return Err(io::Error::other(format!(
                "entries taken over out of order: {} after {}",
                e.path,
                String::from_utf8_lossy(self.last.as_deref().unwrap_or_default())
            )));
        }
        let last = self.last.get_or_insert_with(Vec::new);
        last.clear();
        last.extend_from_slice(e.path.as_bytes());
        self.buf.clear();
        encode(e, &mut self.buf);
        self.entries += 1;
        self.file.write(&self.buf)
    }

    /// Forgets every entry added: the run is empty again (a split of the previous manifest
    /// starts over, [`super::previous::Keep::restart`]).
    pub(super) fn clear(&mut self) -> io::Result<()> {
        self.file.clear()?;
        self.last = None;
        self.entries = 0;
        Ok(())
    }
}

/// Every entry of an export, on disk in sorted runs ([`Spill::finish`]).
pub(super) struct Runs {
    dir: tempfile::TempDir,
    runs: Vec<PathBuf>,
    /// Runs written from the entries (before any was merged into another).
    written: usize,
    entries: u64,
    held_peak: usize,
}

impl Runs {
    /// How many entries.
    pub(super) fn len(&self) -> u64 {
        self.entries
    }

    /// How many runs were written from the entries (some may have been merged since).
    pub(super) fn written(&self) -> usize {
        self.written
    }

    /// How many runs there are now (merged at once).
    #[cfg(test)]
    pub(super) fn count(&self) -> usize {
        self.runs.len()
    }

    /// The most bytes of entries the spill held at once.
    pub(super) fn held_peak(&self) -> usize {
        self.held_peak
    }

    /// The scratch directory.
    pub(super) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Every entry, in path order.
    pub(super) fn merge(&self) -> io::Result<Merge> {
        merge(&self.runs)
    }
}

/// The entries of the sorted `runs`, in path order.
fn merge(runs: &[PathBuf]) -> io::Result<Merge> {
    let share = (MERGE_BUFFER / runs.len().max(1)).clamp(64 << 10, 4 << 20);
    let mut sources = Vec::with_capacity(runs.len());
    for path in runs {
        let mut source = Source {
            reader: DirectReader::open(path, share)?,
            path: path.clone(),
            head: blank(),
            record: Vec::new(),
        };
        if source.advance()? {
            sources.push(source);
        }
    }
    let mut m = Merge {
        heap: (0..sources.len()).collect(),
        sources,
        yielded: false,
    };
    for i in (0..m.heap.len() / 2).rev() {
        m.sift_down(i);
    }
    Ok(m)
}

/// One run being merged: its next entry.
struct Source {
    reader: DirectReader,
    path: PathBuf,
    head: Staged,
    record: Vec<u8>,
}

impl Source {
    /// Reads the next entry into `head`; `false` at the end of the run.
    fn advance(&mut self) -> io::Result<bool> {
        let mut len = [0u8; 4];
        match self.reader.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(e),
        }
        let damaged = || {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is not the run this export wrote (its scratch directory was changed under it): export again",
                    self.path.display()
                ),
            )
        };
        self.record.resize(u32::from_le_bytes(len) as usize, 0);
        match self.reader.read_exact(&mut self.record) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(damaged()),
            Err(e) => return Err(e),
        }
        decode_into(&self.record, &mut self.head).ok_or_else(damaged)?;
        Ok(true)
    }
}

/// The entries of several runs in path order ([`Runs::merge`]).
pub(super) struct Merge {
    sources: Vec<Source>,
    /// A binary min-heap of `sources` by their head's path (then position).
    heap: Vec<usize>,
    /// Whether the top's head was handed out (and must be advanced first).
    yielded: bool,
}

impl Merge {
    fn less(&self, a: usize, b: usize) -> bool {
        let (x, y) = (&self.sources[a].head.path, &self.sources[b].head.path);
        (x, a) < (y, b)
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut least = i;
            if l < self.heap.len() && self.less(self.heap[l], self.heap[least]) {
                least = l;
            }
            if r < self.heap.len() && self.less(self.heap[r], self.heap[least]) {
                least = r;
            }
            if least == i {
                return;
            }
            self.heap.swap(i, least);
            i = least;
        }
    }

    /// The next entry in path order; `None` after the last. (It lends the entry: the merge
    /// reuses its memory for the next.)
    #[allow(clippy::should_implement_trait)]
    pub(super) fn next(&mut self) -> io::Result<Option<&Staged>> {
        if self.yielded {
            let top = self.heap[0];
            if !self.sources[top].advance()? {
                let last = self.heap.pop().expect("a top");
                if !self.heap.is_empty() {
                    self.heap[0] = last;
                }
            }
            self.sift_down(0);
        }
        self.yielded = !self.heap.is_empty();
        Ok(self.heap.first().map(|&i| &self.sources[i].head))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(path: &str, requests: usize, owner: u32) -> Staged {
        Staged {
            entry: Entry {
                path: path.to_string(),
                requests: (0..requests)
                    .map(|i| format!("/__api/{path}?{i}"))
                    .collect(),
                status: 200 + requests as u16,
                content_type: if owner % 3 == 0 {
                    ContentType::Other("text/plain".into())
                } else {
                    ContentType::Json
                },
                size: owner as u64 * 7,
                blake3: blake3::hash(path.as_bytes()),
            },
            owner,
            previous_line: owner.wrapping_mul(31),
            // Every other entry with a pack place: both encodings go through the runs.
            pack_loc: (owner % 2 == 1).then_some(Loc {
                pack: owner,
                offset: owner.wrapping_mul(7),
                length: u32::MAX - owner,
                etag: (u64::from(owner) << 3).to_le_bytes(),
            }),
        }
    }

    fn merged(runs: &Runs) -> Vec<Staged> {
        let mut m = runs.merge().unwrap();
        let mut out = Vec::new();
        while let Some(e) = m.next().unwrap() {
            out.push(e.clone());
        }
        out
    }

    /// A run comes out in byte order whatever its paths share: paths that end where others go
    /// on (`1` before `1/`, `10`), share a long prefix (by_url hosts) or none at all. (A sort
    /// by the 8 bytes after the common prefix was tried against it on 2026-12-07: no faster.)
    #[test]
    fn a_run_is_in_byte_order_whatever_its_paths_share() {
        let tmp = tempfile::tempdir().unwrap();
        let mut paths: Vec<String> = Vec::new();
        for i in [1u32, 2, 10, 11, 100, 12345678, 123456789, 1234567890] {
            paths.push(format!("public/__api/assets/{i}"));
            paths.push(format!("public/__api/assets/{i}/~asset.----.json"));
            paths.push(format!(
                "public/__api/assets/by_url/www.example.com/{i}/~asset.json"
            ));
            paths.push(format!("public/__api/assets/by_url/www.example.com/{i}x"));
        }
        let sets: [Vec<String>; 3] = [
            paths.clone(),
            // One more path sharing nothing with the others.
            paths.iter().cloned().chain(["a".to_string()]).collect(),
            // All share `public/__api/assets/by_url/www.example.com/1`.
            paths.iter().filter(|p| p.contains("/1")).cloned().collect(),
        ];
        for set in sets {
            let mut spill = Spill::new(tmp.path(), "out", DEFAULT_RUN_BYTES).unwrap();
            // Pushed in a scrambled order.
            for (i, p) in set.iter().enumerate().rev() {
                spill.push(&staged(p, 1, i as u32)).unwrap();
            }
            let runs = spill.finish().unwrap();
            assert_eq!(runs.written(), 1);
            let got: Vec<String> = merged(&runs).into_iter().map(|e| e.entry.path).collect();
            let mut want = set.clone();
            want.sort();
            assert_eq!(got, want);
        }
    }

    /// A run stores each path as the bytes it shares with the previous one and the rest: paths
    /// that share part of a multi-byte character (é and è share their first byte), or all of
    /// the previous path, or nothing, come back whole and in order, through a run written
    /// sorted, runs written from a buffer and runs merged into one.
    #[test]
    fn paths_come_back_whole_whatever_they_share() {
        let tmp = tempfile::tempdir().unwrap();
        let mut paths: Vec<String> = [
            "public/__api/assets/by_url/café/~asset.json",
            "public/__api/assets/by_url/cafè/~asset.json",
            "public/__api/assets/by_url/caf",
            "public/__api/assets/by_url/cafe",
            "public/__api/assets/by_url/日本",
            "public/__api/assets/by_url/日本語/~children.json",
            "public/__api/assets/by_url/日曜",
            "public/__api/assets/1/~asset.json",
            "public/__api/assets/1/~asset.json.x",
            "public/z",
            "a",
            "",
        ]
        .iter()
        .map(|p| p.to_string())
        .collect();
        paths.sort();
        for (budget, fan_in) in [(1, 2), (1 << 20, FAN_IN)] {
            let mut spill = Spill::new(tmp.path(), "out", budget).unwrap();
            spill.fan_in = fan_in;
            for (i, p) in paths.iter().enumerate().rev() {
                spill.push(&staged(p, 1, i as u32)).unwrap();
            }
            let mut run = spill.sorted_run().unwrap();
            for (i, p) in paths.iter().enumerate() {
                run.push(&staged(&format!("zz/{p}"), 2, i as u32)).unwrap();
            }
            spill.add_sorted(run).unwrap();
            let got: Vec<Staged> = merged(&spill.finish().unwrap());
            let mut want: Vec<Staged> = paths
                .iter()
                .enumerate()
                .flat_map(|(i, p)| {
                    [
                        staged(p, 1, i as u32),
                        staged(&format!("zz/{p}"), 2, i as u32),
                    ]
                })
                .collect();
            want.sort_by(|a, b| a.path.cmp(&b.path));
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.entry, w.entry);
                assert_eq!((g.owner, g.pack_loc), (w.owner, w.pack_loc));
            }
        }
    }

    /// Whatever the budget (a run per entry, a few entries a run, one run), with a run
    /// written sorted beside them and an empty one, the merge gives every entry once, as it
    /// was pushed, in path order: what sorting them in memory gives.
    #[test]
    fn tiny_runs_merge_into_the_sorted_entries() {
        let tmp = tempfile::tempdir().unwrap();
        // Pushed in "asset order": not sorted, each asset's own in path order.
        let pushed: Vec<Staged> = (0..200u32)
            .map(|i| {
                let asset = (i * 37) % 50;
                staged(
                    &format!("public/a/{asset:03}/{}", i % 4),
                    (i % 3) as usize,
                    i,
                )
            })
            .collect();
        let mut pushed = pushed;
        pushed.sort_by(|a, b| a.path.cmp(&b.path));
        pushed.dedup_by(|a, b| a.path == b.path);
        let mut shuffled = pushed.clone();
        shuffled.sort_by_key(|e| (e.owner * 7919) % 211);
        let taken: Vec<Staged> = (0..30u32)
            .map(|i| staged(&format!("public/k/{i:03}"), 1, 1000 + i))
            .collect();
        let mut want: Vec<Staged> = pushed.iter().chain(&taken).cloned().collect();
        want.sort_by(|a, b| a.path.cmp(&b.path));
        for (budget, fan_in) in [
            (1, 3),
            (1, FAN_IN),
            (2, 2),
            (100, 5),
            (1000, FAN_IN),
            (10_000, FAN_IN),
            (DEFAULT_RUN_BYTES, FAN_IN),
        ] {
            let mut spill = Spill::new(tmp.path(), "out", budget)
                .unwrap()
                .with_fan_in(fan_in);
            let mut sorted = spill.sorted_run().unwrap();
            for e in &taken {
                sorted.push(e).unwrap();
            }
            spill.add_sorted(sorted).unwrap();
            // An empty sorted run merges as nothing.
            let empty = spill.sorted_run().unwrap();
            assert_eq!(spill.add_sorted(empty).unwrap(), 0);
            for e in &shuffled {
                spill.push(e).unwrap();
            }
            // The budget bounds what is held (one entry past it at most), twice: the run
            // filling and the one being written.
            let largest = shuffled
                .iter()
                .map(|e| e.path.len() * 3 + 200)
                .max()
                .unwrap();
            assert!(spill.held_peak() <= 2 * (budget + 2 * largest), "{budget}");
            let runs = spill.finish().unwrap();
            assert_eq!(runs.len(), want.len() as u64);
            if budget == 1 {
                assert_eq!(runs.written(), shuffled.len() + 2, "a run per entry");
            }
            if budget == DEFAULT_RUN_BYTES {
                assert_eq!(runs.written(), 3);
            }
            // Merged down to the fan-in, the merged runs gone.
            assert!(runs.count() <= fan_in);
            assert_eq!(fs::read_dir(runs.path()).unwrap().count(), runs.count());
            assert_eq!(merged(&runs), want, "budget {budget}");
            // As often as asked.
            assert_eq!(merged(&runs), want, "budget {budget}, again");
            let dir = runs.path().to_path_buf();
            assert!(dir
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".out.tmp-runs-"));
            drop(runs);
            assert!(!dir.exists(), "the scratch directory goes with the runs");
        }
    }

    #[test]
    fn a_sorted_run_refuses_entries_out_of_order() {
        let tmp = tempfile::tempdir().unwrap();
        let mut spill = Spill::new(tmp.path(), "out", 100).unwrap();
        let mut run = spill.sorted_run().unwrap();
        run.push(&staged("public/b", 1, 1)).unwrap();
        let e = run.push(&staged("public/a", 1, 1)).unwrap_err();
        assert!(e.to_string().contains("public/a after public/b"), "{e}");
    }

    #[test]
    fn a_damaged_run_is_an_error_not_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let mut spill = Spill::new(tmp.path(), "out", 1 << 20).unwrap();
        spill.push(&staged("public/a", 1, 1)).unwrap();
        let runs = spill.finish().unwrap();
        let run = runs.path().join("run-000000");
        let good = fs::read(&run).unwrap();
        let first_error = || match runs.merge() {
            Err(e) => e.to_string(),
            Ok(mut m) => m.next().map(|_| ()).unwrap_err().to_string(),
        };
        // The content type's tag (before the size, the hash, the owner, the previous line and
        // the pack place: owner 1 has one, a tag and 20 bytes), the pack place's tag, then the
        // run cut short.
        let mut tag = good.clone();
        let at = good.len() - 21 - 4 - 4 - 32 - 8 - 1;
        assert_eq!(tag[at], 0);
        tag[at] = 9;
        let mut place_tag = good.clone();
        let at = good.len() - 21;
        assert_eq!(place_tag[at], 1);
        place_tag[at] = 2;
        // The count of bytes shared with the previous path (there is none: 0), after the
        // record's length.
        let mut shared = good.clone();
        assert_eq!(shared[4..8], [0; 4]);
        shared[4] = 3;
        for bytes in [tag, place_tag, shared, good[..good.len() - 1].to_vec()] {
            fs::write(&run, bytes).unwrap();
            let message = first_error();
            assert!(
                message.contains("run-000000 is not the run this export wrote"),
                "{message}"
            );
        }
    }
}
