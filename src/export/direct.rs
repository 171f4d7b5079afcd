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

/// The alignment `O_DIRECT` needs of the buffer, the offset and the length (a page covers every
/// logical block size Linux filesystems use).
const ALIGN: usize = 4096;

/// A new file written sequentially through an aligned buffer of `capacity` bytes.
pub(super) struct DirectFile {
    file: fs::File,
    /// Whether the file is open with `O_DIRECT` (false after a fallback).
    direct: bool,
    /// Backing store of the buffer; `start` is its first page-aligned byte.
    storage: Vec<u8>,
    start: usize,
    /// Bytes in the buffer (from `start`).
    len: usize,
    capacity: usize,
    /// Bytes written to the file.
    written: u64,
}

impl DirectFile {
    /// Creates `path` (which must not exist) with a buffer of `capacity` bytes (rounded up to
    /// whole pages), in `reuse` when it is large enough (what [`DirectFile::finish`] gave back
    /// for the previous file: a pack writer's 8 MiB are not faulted in again for each pack).
    pub(super) fn create(path: &Path, capacity: usize, reuse: Vec<u8>) -> io::Result<DirectFile> {
        DirectFile::open(path, capacity, reuse, true)
    }

    /// [`DirectFile::create`] for a file that may exist: it is emptied first (as
    /// `File::create` does).
    pub(super) fn replace(path: &Path, capacity: usize) -> io::Result<DirectFile> {
        DirectFile::open(path, capacity, Vec::new(), false)
    }

    fn open(path: &Path, capacity: usize, reuse: Vec<u8>, new: bool) -> io::Result<DirectFile> {
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
        let storage = match reuse {
            r if r.len() >= capacity + ALIGN => r,
            _ => vec![0u8; capacity + ALIGN],
        };
        let start = storage.as_ptr().align_offset(ALIGN);
        Ok(DirectFile {
            file,
            direct,
            storage,
            start,
            len: 0,
            capacity,
            written: 0,
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
            let take = bytes.len().min(self.capacity - self.len);
            let at = self.start + self.len;
            self.storage[at..at + take].copy_from_slice(&bytes[..take]);
            self.len += take;
            bytes = &bytes[take..];
            if self.len == self.capacity {
                self.flush_pages(consume)?;
            }
        }
        Ok(())
    }

    /// Writes the buffer's whole pages and keeps the rest (less than a page) at its front.
    fn flush_pages(&mut self, consume: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        let whole = self.len / ALIGN * ALIGN;
        if whole == 0 {
            return Ok(());
        }
        let range = self.start..self.start + whole;
        consume(&self.storage[range.clone()]);
        if let Err(e) = self
            .file
            .write_all_at(&self.storage[range.clone()], self.written)
        {
            // A filesystem may accept the flag at open and refuse the first write: the same
            // pages go again at the same offset, buffered.
            if !(self.direct && is_einval(&e)) {
                return Err(e);
            }
            self.buffered()?;
            self.file.write_all_at(&self.storage[range], self.written)?;
        }
        self.written += whole as u64;
        self.storage
            .copy_within(self.start + whole..self.start + self.len, self.start);
        self.len -= whole;
        Ok(())
    }

    /// Switches the file to writes through the page cache.
    fn buffered(&mut self) -> io::Result<()> {
        if self.direct {
            let flags = rustix::fs::fcntl_getfl(&self.file)?;
            rustix::fs::fcntl_setfl(&self.file, flags - OFlags::DIRECT)?;
            self.direct = false;
        }
        Ok(())
    }

    /// Writes what is left (the last partial page through the page cache) and closes the file;
    /// gives the buffer back for the next one.
    pub(super) fn finish(mut self, consume: &mut dyn FnMut(&[u8])) -> io::Result<Vec<u8>> {
        self.flush_pages(consume)?;
        if self.len > 0 {
            self.buffered()?;
            let tail = &self.storage[self.start..self.start + self.len];
            consume(tail);
            self.file.write_all_at(tail, self.written)?;
            self.written += tail.len() as u64;
            self.len = 0;
        }
        Ok(self.storage)
    }

    /// Forgets everything appended: the file is empty again (nothing buffered, length 0).
    pub(super) fn clear(&mut self) -> io::Result<()> {
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

/// A file read front to back past the page cache (`O_DIRECT`), a buffer of whole pages at a
/// time: how the merge reads the entry spill's runs back (at 1M assets the copy out of the page
/// cache was 40 % of the merging thread's time). Where the filesystem refuses `O_DIRECT`, the
/// file is read through the page cache: the same bytes either way.
pub(super) struct DirectReader {
    file: fs::File,
    direct: bool,
    storage: Vec<u8>,
    start: usize,
    capacity: usize,
    /// The unread bytes of the buffer: `pos..end` from `start`.
    pos: usize,
    end: usize,
    /// Where the next read starts in the file (a whole number of pages while `direct`).
    offset: u64,
    /// A read came back short: the end of the file is in the buffer.
    eof: bool,
}

impl DirectReader {
    /// Opens `path` with a buffer of `capacity` bytes (rounded up to whole pages).
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
        let storage = vec![0u8; capacity + ALIGN];
        let start = storage.as_ptr().align_offset(ALIGN);
        Ok(DirectReader {
            file,
            direct,
            storage,
            start,
            capacity,
            pos: 0,
            end: 0,
            offset: 0,
            eof: false,
        })
    }

    /// Refills the buffer from `offset`.
    fn fill(&mut self) -> io::Result<()> {
        let (mut got, want) = (0, self.capacity);
        while got < want && !self.eof {
            let at = self.start + got;
            match self
                .file
                .read_at(&mut self.storage[at..self.start + want], self.offset)
            {
                Ok(n) => {
                    got += n;
                    self.offset += n as u64;
                    // Short: the end of the file (a regular file reads short only there).
                    if n == 0 || got % ALIGN != 0 {
                        self.eof = true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if self.direct && is_einval(&e) => {
                    let flags = rustix::fs::fcntl_getfl(&self.file)?;
                    rustix::fs::fcntl_setfl(&self.file, flags - OFlags::DIRECT)?;
                    self.direct = false;
                }
                Err(e) => return Err(e),
            }
        }
        self.pos = 0;
        self.end = got;
        Ok(())
    }
}

impl io::Read for DirectReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.end {
            if self.eof {
                return Ok(0);
            }
            self.fill()?;
        }
        let n = out.len().min(self.end - self.pos);
        let from = self.start + self.pos;
        out[..n].copy_from_slice(&self.storage[from..from + n]);
        self.pos += n;
        Ok(n)
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
