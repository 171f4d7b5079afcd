//! A file written once, front to back, past the page cache (`O_DIRECT`): how the pack layout
//! writes its packs, and how every export writes its manifest and its entry spill's runs.
//!
//! An export writes gigabytes that nothing reads during the export, or reads once (at 1M
//! assets `minimal`: 9.8 GB of packs, a 3.2 GB manifest, runs of entries read back by the
//! merge). Through the page cache each 4 KiB page is first copied, and on a virtual
//! machine whose host backs RAM lazily also paid for on first touch: `dd` of 4 GB here ran at
//! 0.4–1.1 GB/s buffered (all of it CPU time in the kernel) and at 1.5–2.4 GB/s with `O_DIRECT`
//! (the thread waits for the device instead of working). So the bytes are gathered in a
//! page-aligned buffer and written in whole pages; the last partial page goes through the page
//! cache once `O_DIRECT` is switched off (`fcntl(F_SETFL)`).
//!
//! Where the filesystem refuses `O_DIRECT` (tmpfs, some network filesystems: `EINVAL` when the
//! file is opened or first written), the file is written through the page cache as before: the
//! bytes on disk are the same either way.

use rustix::fs::OFlags;
use std::fs;
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{mpsc, Arc};

/// The alignment `O_DIRECT` needs of the buffer, the offset and the length (a page covers every
/// logical block size Linux filesystems use).
const ALIGN: usize = 4096;

/// A new file written sequentially through an aligned buffer of `capacity` bytes.
///
/// Whole buffers are written behind: a thread of the file's own writes one while the next is
/// filled (two buffers, one write in flight), so the thread appending never waits for the
/// device unless it fills a buffer faster than the device takes one. An error of a write
/// behind is returned by the next call that waits for it (the next full buffer, `finish` or
/// `clear`).
pub(super) struct DirectFile {
    file: Arc<fs::File>,
    /// Whether the file is open with `O_DIRECT` (false after a fallback).
    direct: bool,
    /// The buffer being filled.
    pages: Pages,
    /// Bytes in the buffer.
    len: usize,
    /// Bytes handed to be written (in file order).
    written: u64,
    /// The other buffer, when it is not being written.
    spare: Option<Pages>,
    behind: Option<Behind>,
}

/// The thread writing a [`DirectFile`]'s full buffers, and the one in flight.
struct Behind {
    jobs: mpsc::SyncSender<(Pages, usize, u64)>,
    done: mpsc::Receiver<(Pages, io::Result<bool>)>,
    thread: std::thread::JoinHandle<()>,
    in_flight: bool,
}

impl DirectFile {
    /// Creates `path` (which must not exist) with a buffer of `capacity` bytes (rounded up to
    /// whole pages), in `reuse` when it is large enough (what [`DirectFile::finish`] gave back
    /// for the previous file: a pack writer's 8 MiB are not faulted in again for each pack).
    pub(super) fn create(
        path: &Path,
        capacity: usize,
        reuse: Vec<Vec<u8>>,
    ) -> io::Result<DirectFile> {
        DirectFile::open(path, capacity, reuse, true)
    }

    /// [`DirectFile::create`] for a file that may exist: it is emptied first (as
    /// `File::create` does).
    pub(super) fn replace(path: &Path, capacity: usize) -> io::Result<DirectFile> {
        DirectFile::open(path, capacity, Vec::new(), false)
    }

    fn open(
        path: &Path,
        capacity: usize,
        reuse: Vec<Vec<u8>>,
        new: bool,
    ) -> io::Result<DirectFile> {
        let capacity = capacity.max(ALIGN).div_ceil(ALIGN) * ALIGN;
        let options = |flags: OFlags| {
            let mut o = fs::OpenOptions::new();
            o.write(true).custom_flags(flags.bits() as i32);
            if new {
                o.create_new(true);
            } else {
                o.create(true).truncate(true);
            }
            o
        };
        let (file, direct) = match options(OFlags::DIRECT).open(path) {
            Ok(file) => (file, true),
            Err(e) if is_einval(&e) => (options(OFlags::empty()).open(path)?, false),
            Err(e) => return Err(e),
        };
        let mut reuse = reuse
            .into_iter()
            .filter(|r| r.len() >= capacity + ALIGN)
            .map(|storage| Pages::of(storage, capacity));
        let pages = reuse.next().unwrap_or_else(|| Pages::new(capacity));
        Ok(DirectFile {
            file: Arc::new(file),
            direct,
            pages,
            len: 0,
            written: 0,
            spare: reuse.next(),
            behind: None,
        })
    }

    /// Appends `bytes`, writing whole pages whenever the buffer is full. `consume` sees every
    /// byte once, in order, just before it is written (the pack's hash).
    pub(super) fn write_all(
        &mut self,
        mut bytes: &[u8],
        consume: &mut dyn FnMut(&[u8]),
    ) -> io::Result<()> {
        while !bytes.is_empty() {
            let take = bytes.len().min(self.pages.capacity - self.len);
            let at = self.pages.start + self.len;
            self.pages.storage[at..at + take].copy_from_slice(&bytes[..take]);
            self.len += take;
            bytes = &bytes[take..];
            if self.len == self.pages.capacity {
                self.flush_pages(consume)?;
            }
        }
        Ok(())
    }

    /// Hands the buffer's whole pages to be written behind and goes on in the other buffer,
    /// with the rest (less than a page) at its front.
    fn flush_pages(&mut self, consume: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        let whole = self.len / ALIGN * ALIGN;
        if whole == 0 {
            return Ok(());
        }
        consume(self.pages.bytes(whole));
        let next = match self.spare.take() {
            Some(pages) => pages,
            None => self
                .wait()?
                .unwrap_or_else(|| Pages::new(self.pages.capacity)),
        };
        let full = std::mem::replace(&mut self.pages, next);
        let rest = self.len - whole;
        let (to, from) = (self.pages.start, full.start + whole);
        self.pages.storage[to..to + rest].copy_from_slice(&full.storage[from..from + rest]);
        let offset = self.written;
        let behind = self.behind()?;
        behind
            .jobs
            .send((full, whole, offset))
            .map_err(|_| io::Error::other("the write-behind thread stopped"))?;
        behind.in_flight = true;
        self.written += whole as u64;
        self.len = rest;
        Ok(())
    }

    /// The write-behind thread, started at the first full buffer.
    fn behind(&mut self) -> io::Result<&mut Behind> {
        if self.behind.is_none() {
            let (jobs, jobs_rx) = mpsc::sync_channel::<(Pages, usize, u64)>(1);
            let (done_tx, done) = mpsc::sync_channel(1);
            let (file, mut direct) = (Arc::clone(&self.file), self.direct);
            let thread = std::thread::Builder::new()
                .name("matrix-snapshot-write-behind".into())
                .stack_size(64 << 10)
                .spawn(move || {
                    for (pages, whole, offset) in jobs_rx {
                        let written = write_pages(&file, &mut direct, pages.bytes(whole), offset);
                        if done_tx.send((pages, written.map(|()| direct))).is_err() {
                            return;
                        }
                    }
                })?;
            self.behind = Some(Behind {
                jobs,
                done,
                thread,
                in_flight: false,
            });
        }
        Ok(self.behind.as_mut().expect("started"))
    }

    /// Waits for the write in flight, if any: its buffer, free again.
    fn wait(&mut self) -> io::Result<Option<Pages>> {
        let Some(b) = self.behind.as_mut().filter(|b| b.in_flight) else {
            return Ok(None);
        };
        b.in_flight = false;
        let (pages, written) = b
            .done
            .recv()
            .map_err(|_| io::Error::other("the write-behind thread stopped"))?;
        self.direct = written?;
        Ok(Some(pages))
    }

    /// Switches the file to writes through the page cache.
    fn buffered(&mut self) -> io::Result<()> {
        if self.direct {
            through_page_cache(&self.file)?;
            self.direct = false;
        }
        Ok(())
    }

    /// Writes what is left (the last partial page through the page cache) and closes the file;
    /// gives the buffers back for the next one.
    pub(super) fn finish(mut self, consume: &mut dyn FnMut(&[u8])) -> io::Result<Vec<Vec<u8>>> {
        self.flush_pages(consume)?;
        if let Some(pages) = self.wait()? {
            self.spare = Some(pages);
        }
        if self.len > 0 {
            self.buffered()?;
            let tail = self.pages.bytes(self.len);
            consume(tail);
            self.file.write_all_at(tail, self.written)?;
            self.written += self.len as u64;
            self.len = 0;
        }
        let pages = std::mem::replace(&mut self.pages, Pages::empty());
        Ok(std::iter::once(pages)
            .chain(self.spare.take())
            .map(|p| p.storage)
            .collect())
    }

    /// Forgets everything appended: the file is empty again (nothing buffered, length 0).
    pub(super) fn clear(&mut self) -> io::Result<()> {
        if let Some(pages) = self.wait()? {
            self.spare = Some(pages);
        }
        self.file.set_len(0)?;
        self.len = 0;
        self.written = 0;
        Ok(())
    }

    /// Whether the file is being written past the page cache.
    #[cfg(test)]
    pub(super) fn is_direct(&self) -> bool {
        self.direct
    }
}

impl Drop for DirectFile {
    fn drop(&mut self) {
        // The jobs channel closes: the thread ends after the write in flight.
        if let Some(b) = self.behind.take() {
            drop(b.jobs);
            let _ = b.thread.join();
        }
    }
}

/// Writes whole pages at `offset`. A filesystem may accept `O_DIRECT` at open and refuse the
/// first write: the same pages go again at the same offset, through the page cache, and so
/// does every later write (`direct` is then false).
fn write_pages(file: &fs::File, direct: &mut bool, bytes: &[u8], offset: u64) -> io::Result<()> {
    match file.write_all_at(bytes, offset) {
        Err(e) if *direct && is_einval(&e) => {
            through_page_cache(file)?;
            *direct = false;
            file.write_all_at(bytes, offset)
        }
        written => written,
    }
}

/// A file read front to back past the page cache (`O_DIRECT`), a buffer of whole pages at a
/// time: how the merge reads the entry spill's runs back (at 1M assets the copy out of the page
/// cache was 40 % of the merging thread's time). Where the filesystem refuses `O_DIRECT`, the
/// file is read through the page cache: the same bytes either way.
///
/// Reads past the page cache get no read-ahead from the kernel, so the reader does its own: a
/// thread of its own fills the next buffer while this one is read (two buffers, one ahead).
/// The merge reads dozens of runs a little at a time; without it the merging thread waited
/// for each refill, one read in flight at a time (3.7 s of a 9-s merge at 1M assets, at
/// 300–400 MB/s, where several reads in flight give about 1 GB/s).
pub(super) struct DirectReader {
    /// Filled buffers from the read-ahead thread, in file order (the last one says `eof`).
    chunks: mpsc::Receiver<io::Result<Chunk>>,
    /// Buffers read to the end, handed back to be filled again.
    free: mpsc::Sender<Pages>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The buffer being read: its bytes `pos..end` are unread.
    current: Pages,
    pos: usize,
    end: usize,
    /// The end of the file is in `current`.
    eof: bool,
}

/// A page-aligned buffer of `capacity` bytes within `storage`, from `start`.
struct Pages {
    storage: Vec<u8>,
    start: usize,
    capacity: usize,
}

impl Pages {
    fn new(capacity: usize) -> Pages {
        Pages::of(vec![0u8; capacity + ALIGN], capacity)
    }

    /// `storage` (at least `capacity` plus a page) as a buffer of `capacity` bytes.
    fn of(storage: Vec<u8>, capacity: usize) -> Pages {
        let start = storage.as_ptr().align_offset(ALIGN);
        Pages {
            storage,
            start,
            capacity,
        }
    }

    /// No buffer.
    fn empty() -> Pages {
        Pages {
            storage: Vec::new(),
            start: 0,
            capacity: 0,
        }
    }

    fn bytes(&self, len: usize) -> &[u8] {
        &self.storage[self.start..self.start + len]
    }
}

/// A buffer filled by the read-ahead thread: `len` bytes, the last of the file when `eof`.
struct Chunk {
    pages: Pages,
    len: usize,
    eof: bool,
}

impl DirectReader {
    /// Opens `path` with buffers of `capacity` bytes (rounded up to whole pages) and starts
    /// reading it ahead.
    pub(super) fn open(path: &Path, capacity: usize) -> io::Result<DirectReader> {
        let capacity = capacity.max(ALIGN).div_ceil(ALIGN) * ALIGN;
        let open = |flags: OFlags| {
            fs::OpenOptions::new()
                .read(true)
                .custom_flags(flags.bits() as i32)
                .open(path)
        };
        let (file, direct) = match open(OFlags::DIRECT) {
            Ok(file) => (file, true),
            Err(e) if is_einval(&e) => (open(OFlags::empty())?, false),
            Err(e) => return Err(e),
        };
        // Rendezvous: a filled buffer waits in the thread until it is asked for, and the thread
        // fills the next one only once a buffer comes back: two buffers in all.
        let (chunk_tx, chunks) = mpsc::sync_channel(0);
        let (free, free_rx) = mpsc::channel::<Pages>();
        let thread = std::thread::Builder::new()
            .name("matrix-snapshot-read-ahead".into())
            .stack_size(64 << 10)
            .spawn(move || read_ahead(file, direct, capacity, &chunk_tx, &free_rx))?;
        Ok(DirectReader {
            chunks,
            free,
            thread: Some(thread),
            current: Pages::empty(),
            pos: 0,
            end: 0,
            eof: false,
        })
    }

    /// Takes the next filled buffer and hands the one read back.
    fn next_chunk(&mut self) -> io::Result<()> {
        let chunk = self
            .chunks
            .recv()
            .map_err(|_| io::Error::other("the read-ahead thread stopped"))??;
        let read = std::mem::replace(&mut self.current, chunk.pages);
        if read.capacity > 0 {
            // The thread is gone after the end of the file: nothing to fill again.
            let _ = self.free.send(read);
        }
        self.pos = 0;
        self.end = chunk.len;
        self.eof = chunk.eof;
        Ok(())
    }
}

/// The read-ahead thread of a [`DirectReader`]: fills buffers front to back and hands them on,
/// until the end of the file, an error, or the reader is dropped.
fn read_ahead(
    file: fs::File,
    mut direct: bool,
    capacity: usize,
    chunks: &mpsc::SyncSender<io::Result<Chunk>>,
    free: &mpsc::Receiver<Pages>,
) {
    // Two buffers: the first is read while the second is filled.
    let mut fresh = 2;
    let mut offset = 0u64;
    loop {
        let mut pages = if fresh > 0 {
            fresh -= 1;
            Pages::new(capacity)
        } else {
            match free.recv() {
                Ok(pages) => pages,
                Err(_) => return,
            }
        };
        let filled = fill(&file, &mut direct, &mut pages, &mut offset);
        let stop = !matches!(filled, Ok((_, false)));
        let sent = chunks.send(filled.map(|(len, eof)| Chunk { pages, len, eof }));
        if sent.is_err() || stop {
            return;
        }
    }
}

/// Fills `pages` from `offset` (advanced past what was read): the bytes read, and whether the
/// end of the file is among them. A filesystem that refuses `O_DIRECT` at the first read is
/// read through the page cache from then on.
fn fill(
    file: &fs::File,
    direct: &mut bool,
    pages: &mut Pages,
    offset: &mut u64,
) -> io::Result<(usize, bool)> {
    let (mut got, want, mut eof) = (0, pages.capacity, false);
    while got < want && !eof {
        let at = pages.start + got;
        match file.read_at(&mut pages.storage[at..pages.start + want], *offset) {
            Ok(n) => {
                got += n;
                *offset += n as u64;
                // Short: the end of the file (a regular file reads short only there).
                if n == 0 || got % ALIGN != 0 {
                    eof = true;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if *direct && is_einval(&e) => {
                through_page_cache(file)?;
                *direct = false;
            }
            Err(e) => return Err(e),
        }
    }
    Ok((got, eof))
}

impl io::Read for DirectReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.end {
            if self.eof {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let n = out.len().min(self.end - self.pos);
        out[..n].copy_from_slice(&self.current.bytes(self.end)[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for DirectReader {
    fn drop(&mut self) {
        // Both channels close: the thread stops at its next hand-over (after one read at most).
        drop(std::mem::replace(&mut self.free, mpsc::channel().0));
        drop(std::mem::replace(&mut self.chunks, mpsc::sync_channel(0).1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Appends through [`DirectFile::write_all`]; `flush` writes nothing (the last partial page waits
/// for [`DirectFile::finish`], which must be called).
impl io::Write for DirectFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        DirectFile::write_all(self, bytes, &mut |_| {})?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Switches an open file's reads and writes to the page cache (`O_DIRECT` off).
fn through_page_cache(file: &fs::File) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(file)?;
    rustix::fs::fcntl_setfl(file, flags - OFlags::DIRECT)?;
    Ok(())
}

/// `EINVAL`: what a filesystem that does not take `O_DIRECT` answers.
fn is_einval(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the buffer size and the pieces, the file holds the bytes appended, in order,
    /// and `consume` saw each once (pieces larger than the buffer, a tail shorter than a page,
    /// an exact number of pages, nothing at all).
    #[test]
    fn the_file_holds_exactly_the_bytes_appended() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let cases: [(usize, &[usize]); 5] = [
            (4096, &[1, 4095, 4096, 10_000, 3]),
            (8192, &[100_000]),
            (1, &[8192, 8192]),
            (65536, &[]),
            (12288, &[4096, 4096, 4096, 4096, 7]),
        ];
        // Each file after the first gets the previous one's buffer (used when large enough).
        let mut spare = Vec::new();
        for (n, (capacity, pieces)) in cases.iter().enumerate() {
            let path = dir.path().join(format!("f{n}"));
            let mut f = DirectFile::create(&path, *capacity, spare).expect("create");
            let mut seen = Vec::new();
            let mut at = 0;
            for &len in *pieces {
                f.write_all(&data[at..at + len], &mut |b| seen.extend_from_slice(b))
                    .expect("write");
                at += len;
            }
            spare = f
                .finish(&mut |b| seen.extend_from_slice(b))
                .expect("finish");
            let on_disk = fs::read(&path).expect("read");
            assert_eq!(on_disk, &data[..at], "case {n}: the file");
            assert_eq!(seen, &data[..at], "case {n}: what consume saw");
        }
    }

    /// `clear` empties the file and the buffer: what follows is all it holds; `replace`
    /// empties a file that exists, and `io::Write` appends as `write_all` does.
    #[test]
    fn a_cleared_or_replaced_file_holds_only_what_came_after() {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("temp dir");
        let path = dir.path().join("f");
        let mut f = DirectFile::create(&path, 4096, Vec::new()).expect("create");
        f.write_all(&[1u8; 10_000], &mut |_| {}).expect("write");
        f.clear().expect("clear");
        io::Write::write_all(&mut f, &[2u8; 5000]).expect("write");
        f.finish(&mut |_| {}).expect("finish");
        assert_eq!(fs::read(&path).expect("read"), vec![2u8; 5000]);
        let mut f = DirectFile::replace(&path, 4096).expect("replace");
        io::Write::write_all(&mut f, b"new").expect("write");
        f.finish(&mut |_| {}).expect("finish");
        assert_eq!(fs::read(&path).expect("read"), b"new");
    }

    /// A file read back through `DirectReader` gives exactly its bytes, whatever the buffer
    /// and the pieces asked for (a tail shorter than a page, an exact number of pages, an
    /// empty file), on ext4 past the page cache and on tmpfs through it.
    #[test]
    fn a_direct_reader_reads_exactly_the_file() {
        use io::Read;
        let data: Vec<u8> = (0..50_000u32).map(|i| (i * 13 % 251) as u8).collect();
        for dir in [
            tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("temp dir"),
            tempfile::tempdir().expect("temp dir"),
        ] {
            for (len, capacity, piece) in [
                (50_000, 4096, 7),
                (50_000, 8192, 50_000),
                (8192, 4096, 4096),
                (0, 4096, 10),
                (4095, 16384, 1),
            ] {
                let path = dir.path().join(format!("f{len}-{capacity}"));
                let mut f = DirectFile::create(&path, 4096, Vec::new()).expect("create");
                f.write_all(&data[..len], &mut |_| {}).expect("write");
                f.finish(&mut |_| {}).expect("finish");
                let mut r = DirectReader::open(&path, capacity).expect("open");
                let (mut back, mut buf) = (Vec::new(), vec![0u8; piece]);
                loop {
                    let n = r.read(&mut buf).expect("read");
                    if n == 0 {
                        break;
                    }
                    back.extend_from_slice(&buf[..n]);
                }
                assert_eq!(
                    back,
                    &data[..len],
                    "{len} bytes, buffer {capacity}, pieces of {piece}"
                );
            }
        }
    }

    /// A write that fails behind the appending thread is not lost: the next call that waits
    /// for it (here the next full buffer, else `finish`) returns the error (`/dev/full`
    /// refuses every write with ENOSPC).
    #[test]
    fn an_error_behind_is_returned() {
        let full = Path::new("/dev/full");
        if !full.exists() {
            return;
        }
        let mut f = DirectFile::replace(full, 4096).expect("open /dev/full");
        let mut failed = None;
        for _ in 0..4 {
            if let Err(e) = f.write_all(&[1u8; 4096], &mut |_| {}) {
                failed = Some(e);
                break;
            }
        }
        let e = match failed {
            Some(e) => e,
            None => f
                .finish(&mut |_| {})
                .expect_err("finish reports the failed write"),
        };
        assert_eq!(
            e.raw_os_error(),
            Some(rustix::io::Errno::NOSPC.raw_os_error()),
            "{e}"
        );
    }

    /// The file is created new: an existing one is an error, not overwritten.
    #[test]
    fn an_existing_file_is_not_overwritten() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f");
        fs::write(&path, b"keep").expect("write");
        assert!(DirectFile::create(&path, 4096, Vec::new()).is_err());
        assert_eq!(fs::read(&path).expect("read"), b"keep");
    }

    /// On ext4 the file is written past the page cache until its last partial page; on tmpfs,
    /// which refuses `O_DIRECT`, through it (the same bytes either way).
    #[test]
    fn the_file_goes_past_the_page_cache_where_the_filesystem_allows() {
        const EXT4: i64 = 0xEF53;
        const TMPFS: i64 = 0x0102_1994;
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("temp dir");
        let path = dir.path().join("f");
        let mut f = DirectFile::create(&path, 8192, Vec::new()).expect("create");
        // `f_type`'s type differs between targets (i64 here).
        #[allow(clippy::unnecessary_cast)]
        let fs_type = rustix::fs::statfs(dir.path()).map(|s| s.f_type as i64);
        match fs_type {
            Ok(EXT4) => assert!(f.is_direct(), "ext4 takes O_DIRECT"),
            Ok(TMPFS) => assert!(!f.is_direct(), "tmpfs refuses O_DIRECT"),
            _ => {}
        }
        f.write_all(&[7u8; 10_000], &mut |_| {}).expect("write");
        f.finish(&mut |_| {}).expect("finish");
        assert_eq!(fs::read(&path).expect("read"), vec![7u8; 10_000]);
    }
}
