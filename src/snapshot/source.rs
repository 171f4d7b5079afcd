//! What a snapshot's web root is read through: a directory path ([`DirSource`]), or — in
//! `preview` — a directory handle held for one export (`route::preview`).

use std::io;
use std::path::PathBuf;

/// Reads files under a snapshot's web root (`rel`: a path relative to it).
pub trait Source: Send + Sync {
    /// Whether `rel` is a regular file.
    fn is_file(&self, rel: &str) -> bool;
    /// The whole file at `rel`.
    fn read(&self, rel: &str) -> io::Result<Vec<u8>>;
    /// `len` bytes of `rel` from `offset` (fewer when the file is shorter).
    fn read_range(&self, rel: &str, offset: u64, len: usize) -> io::Result<Vec<u8>>;
}

/// A shared source (`preview` hands one to each reader of an export).
impl<S: Source + ?Sized> Source for std::sync::Arc<S> {
    fn is_file(&self, rel: &str) -> bool {
        (**self).is_file(rel)
    }

    fn read(&self, rel: &str) -> io::Result<Vec<u8>> {
        (**self).read(rel)
    }

    fn read_range(&self, rel: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        (**self).read_range(rel, offset, len)
    }
}

/// Files under a directory.
#[derive(Debug, Clone)]
pub struct DirSource(pub PathBuf);

impl Source for DirSource {
    fn is_file(&self, rel: &str) -> bool {
        self.0.join(rel).is_file()
    }

    fn read(&self, rel: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.0.join(rel))
    }

    fn read_range(&self, rel: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        read_range(&std::fs::File::open(self.0.join(rel))?, offset, len)
    }
}

/// `len` bytes of `file` from `offset`, fewer at its end.
pub fn read_range(file: &std::fs::File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0; len];
    let mut got = 0;
    while got < len {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}
