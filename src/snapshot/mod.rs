//! Stage 4: the on-disk snapshot format, and nothing else (`docs/snapshot-format.md`).
//!
//! Everything that writes or reads a snapshot goes through this layer: the layout's names and
//! format strings ([`FORMAT`], [`INFO_FILE`], [`MANIFEST_FILE`], [`PUBLIC_DIR`], …), the name of
//! the file that answers each route ([`path`]), the manifest line ([`manifest::Entry`], written
//! and read as one type), `snapshot.json` ([`Info`]), the routing table `_routers/routes.json`
//! ([`routes::RouteSpec`], one reader that checks its format) and the staging directories an
//! export leaves beside its output while it runs ([`staging`]). `export` writes through it;
//! `route`, `router`, `verify`, `diff`, `archive` and `conformance` read through it. It imports
//! only from the layers below (`store`, `access`, `api`), never from those that use it.

pub mod forbidden;
pub mod info;
pub mod manifest;
pub mod pack;
pub mod path;
pub mod routes;
pub mod source;
pub mod staging;
pub mod values;

pub use info::{Counts, Info, StoreInfo, TokenInfo};
pub use manifest::{ContentType, Entry};

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The snapshot format written in `snapshot.json` (the files layout).
pub const FORMAT: &str = "matrix-snapshot/1";
/// The formats this version reads: the files layout's and the pack layout's.
pub const FORMATS: &[&str] = &[FORMAT, pack::FORMAT];

/// How a snapshot's web root holds its routes' files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// One file per route under `public/` (identical bodies hard-linked).
    #[default]
    Files,
    /// Bodies in a few large packs, found through a sharded index ([`pack`]).
    Pack,
}

impl Layout {
    /// The layout of a snapshot in `format`.
    pub fn of_format(format: &str) -> Option<Layout> {
        match format {
            FORMAT => Some(Layout::Files),
            pack::FORMAT => Some(Layout::Pack),
            _ => None,
        }
    }

    /// The format string `snapshot.json` carries.
    pub fn format(self) -> &'static str {
        match self {
            Layout::Files => FORMAT,
            Layout::Pack => pack::FORMAT,
        }
    }

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Files => "files",
            Layout::Pack => "pack",
        }
    }
}
/// What was exported, with the root hash ([`Info`]).
pub const INFO_FILE: &str = "snapshot.json";
/// Every file of the web root, its request, status and hash ([`manifest`]).
pub const MANIFEST_FILE: &str = "manifest.jsonl";
/// The web root: what a host serves.
pub const PUBLIC_DIR: &str = "public";
/// The routing table and each host's config and tables.
pub const ROUTERS_DIR: &str = "_routers";
/// What an incremental export remembers between runs (deletable: the next export then
/// renders everything).
pub const CACHE_DIR: &str = "_cache";
/// The directories beside `public/` whose files an incremental export compares byte for byte.
pub const META_DIRS: &[&str] = &[ROUTERS_DIR, CACHE_DIR];

/// A snapshot that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Not a snapshot directory.
    #[error("{} is not a snapshot: {} is missing (was it written by `matrix-snapshot export`?)", .dir.display(), .file)]
    Missing {
        /// The directory.
        dir: PathBuf,
        /// The missing file.
        file: &'static str,
    },
    /// Unreadable.
    #[error("reading {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Malformed content.
    #[error("{}:{line}: {message}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line (0: the whole file).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Written in another format.
    #[error("{}: this snapshot is in format {found:?}, written by another version of matrix-snapshot; this version reads {FORMATS:?}. Rebuild it with `matrix-snapshot export --full --out DIR` (or use the version that wrote it)", .path.display())]
    Format {
        /// `snapshot.json`.
        path: PathBuf,
        /// The format it says.
        found: String,
    },
}

pub(crate) fn read(dir: &Path, file: &'static str) -> Result<Vec<u8>, ReadError> {
    let path = dir.join(file);
    fs::read(&path).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            ReadError::Missing {
                dir: dir.to_path_buf(),
                file,
            }
        } else {
            ReadError::Io { path, source }
        }
    })
}

/// Reads `dir/file`, a JSON document whose `format` field must be `format` (checked first, so
/// a document of another version gets a clear message rather than a field error), as a `T`.
fn read_json<T: serde::de::DeserializeOwned>(
    dir: &Path,
    file: &'static str,
    formats: &[&str],
) -> Result<T, ReadError> {
    parse_json(dir.join(file), &read(dir, file)?, formats)
}

/// [`read_json`] of bytes already read from `path`.
fn parse_json<T: serde::de::DeserializeOwned>(
    path: PathBuf,
    bytes: &[u8],
    formats: &[&str],
) -> Result<T, ReadError> {
    let raw: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| ReadError::Invalid {
        path: path.clone(),
        line: e.line(),
        message: e.to_string(),
    })?;
    if !formats.iter().any(|f| raw["format"] == *f) {
        return Err(ReadError::Format {
            path,
            found: raw["format"]
                .as_str()
                .map_or_else(|| raw["format"].to_string(), str::to_string),
        });
    }
    serde_json::from_value(raw).map_err(|e| ReadError::Invalid {
        path,
        line: 0,
        message: e.to_string(),
    })
}

/// Reads `dir/snapshot.json`, checking its format.
pub fn read_info(dir: &Path) -> Result<Info, ReadError> {
    read_json(dir, INFO_FILE, FORMATS)
}

/// Checks that `dir` holds a snapshot in [`FORMAT`]: `snapshot.json` exists and names it. Every
/// reader of a snapshot's other files calls this first, so a snapshot of another version gets a
/// clear message rather than a parse error further on.
pub fn check_format(dir: &Path) -> Result<Layout, ReadError> {
    check_format_of(&dir.join(INFO_FILE), &read(dir, INFO_FILE)?)
}

/// [`check_format`] of `snapshot.json`'s bytes, read from `path` by the caller (e.g. through a
/// directory handle).
pub fn check_format_of(path: &Path, bytes: &[u8]) -> Result<Layout, ReadError> {
    #[derive(serde::Deserialize)]
    struct FormatOnly {
        format: String,
    }
    let f: FormatOnly = parse_json(path.to_path_buf(), bytes, FORMATS)?;
    Ok(Layout::of_format(&f.format).expect("a format parse_json accepts"))
}

/// The paths the manifest of `dir` lists, read leniently (any JSON line with a `path`), so a
/// snapshot of another version can be told apart from files a user put beside it.
pub fn read_manifest_paths(dir: &Path) -> Result<Vec<String>, ReadError> {
    #[derive(serde::Deserialize)]
    struct PathOnly {
        path: String,
    }
    let path = dir.join(MANIFEST_FILE);
    let bytes = read(dir, MANIFEST_FILE)?;
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| {
            serde_json::from_slice::<PathOnly>(l)
                .map(|p| p.path)
                .map_err(|e| ReadError::Invalid {
                    path: path.clone(),
                    line: i + 1,
                    message: e.to_string(),
                })
        })
        .collect()
}

/// The manifest's bytes and its parsed lines.
pub struct Manifest {
    /// blake3 of the file (the snapshot's root hash when intact).
    pub hash: String,
    /// The lines of the web root's files (and any line that is not a router file's), in file
    /// order: what hosts serve.
    pub lines: Vec<Entry>,
    /// The lines of the `_routers/` files ([`Entry::is_router_file`]), in file order: not
    /// routes, but covered by the root hash (`verify` checks them).
    pub routers: Vec<Entry>,
}

/// Reads `dir/manifest.jsonl` (after checking the snapshot's format: see [`check_format`]); a
/// malformed line is an error naming the line.
pub fn read_manifest(dir: &Path) -> Result<Manifest, ReadError> {
    use rayon::prelude::*;
    check_format(dir)?;
    let path = dir.join(MANIFEST_FILE);
    let bytes = read(dir, MANIFEST_FILE)?;
    let hash = blake3::hash(&bytes).to_hex().to_string();
    let text = std::str::from_utf8(&bytes).map_err(|e| ReadError::Invalid {
        path: path.clone(),
        line: bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1,
        message: "not UTF-8".into(),
    })?;
    let lines: Vec<(usize, &str)> = text
        .split_terminator('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .collect();
    let lines = lines
        .par_iter()
        .map(|(n, l)| parse_manifest_line(&path, *n, l))
        .collect::<Result<Vec<_>, _>>()?;
    let (routers, lines) = lines.into_iter().partition(Entry::is_router_file);
    Ok(Manifest {
        hash,
        lines,
        routers,
    })
}

/// One manifest line (`n`, 1-based, of the file at `path`) as an [`Entry`].
fn parse_manifest_line(path: &Path, n: usize, l: &str) -> Result<Entry, ReadError> {
    match manifest::parse_line_fast(l) {
        Some(fast) => fast.to_entry().ok_or_else(|| ReadError::Invalid {
            path: path.to_path_buf(),
            line: n,
            message: "blake3 is not 64 hex digits".into(),
        }),
        None => serde_json::from_str::<Entry>(l).map_err(|e| ReadError::Invalid {
            path: path.to_path_buf(),
            line: n,
            message: e.to_string(),
        }),
    }
}

/// Lines per chunk of [`stream_manifest`]: about 25 MB of entries. Unit tests use a handful,
/// so that every fixture manifest crosses chunk boundaries, where a reader bug would hide.
#[cfg(not(test))]
pub const MANIFEST_CHUNK: usize = 1 << 16;
#[cfg(test)]
#[allow(missing_docs)]
pub const MANIFEST_CHUNK: usize = 7;

/// Reads `dir/manifest.jsonl` (after checking the snapshot's format) `chunk` lines at a time,
/// each chunk parsed in parallel, and calls `each` with the chunk's entries in file order and
/// the number (1-based) of its first line. Returns the file's blake3 (the root hash when
/// intact). Holds one chunk, whatever the manifest's size: what `verify` and `diff` read
/// million-line manifests with. A malformed line is an error naming it.
pub fn stream_manifest(
    dir: &Path,
    chunk: usize,
    each: impl FnMut(Vec<Entry>, usize) -> Result<(), ReadError>,
) -> Result<String, ReadError> {
    stream_manifest_with(dir, chunk, true, each)
}

/// [`stream_manifest`], each chunk parsed on rayon's threads (`parallel`) or on the caller's.
fn stream_manifest_with(
    dir: &Path,
    chunk: usize,
    parallel: bool,
    mut each: impl FnMut(Vec<Entry>, usize) -> Result<(), ReadError>,
) -> Result<String, ReadError> {
    use rayon::prelude::*;
    use std::io::BufRead;
    check_format(dir)?;
    let path = dir.join(MANIFEST_FILE);
    let file = std::fs::File::open(&path).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            ReadError::Missing {
                dir: dir.to_path_buf(),
                file: MANIFEST_FILE,
            }
        } else {
            ReadError::Io {
                path: path.clone(),
                source,
            }
        }
    })?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut hasher = blake3::Hasher::new();
    let mut bytes: Vec<u8> = Vec::new();
    let mut first_line = 1;
    loop {
        bytes.clear();
        let mut count = 0;
        while count < chunk {
            let read = reader
                .read_until(b'\n', &mut bytes)
                .map_err(|source| ReadError::Io {
                    path: path.clone(),
                    source,
                })?;
            if read == 0 {
                break;
            }
            count += 1;
        }
        if count == 0 {
            break;
        }
        hasher.update(&bytes);
        let text = std::str::from_utf8(&bytes).map_err(|e| ReadError::Invalid {
            path: path.clone(),
            line: first_line
                + bytes[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count(),
            message: "not UTF-8".into(),
        })?;
        let lines: Vec<(usize, &str)> = text
            .split_terminator('\n')
            .enumerate()
            .map(|(i, l)| (first_line + i, l))
            .collect();
        let parse = |(n, l): &(usize, &str)| parse_manifest_line(&path, *n, l);
        let entries = if parallel {
            lines.par_iter().map(parse).collect::<Result<Vec<_>, _>>()?
        } else {
            lines.iter().map(parse).collect::<Result<Vec<_>, _>>()?
        };
        each(entries, first_line)?;
        first_line += count;
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// The entries of `dir/manifest.jsonl` in file order, read as [`stream_manifest`] does on a
/// thread of its own a chunk ahead (and parsed there, not on rayon's threads, so that a rayon
/// task may iterate without starving the reader): what `diff` walks two manifests side by side
/// with. The format is checked before this returns; a malformed line ends the iteration with
/// its error.
pub fn manifest_entries(
    dir: &Path,
) -> Result<impl Iterator<Item = Result<Entry, ReadError>>, ReadError> {
    check_format(dir)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Entry>, ReadError>>(1);
    let dir = dir.to_path_buf();
    std::thread::Builder::new()
        .name("matrix-snapshot-manifest".into())
        .spawn(move || {
            let sent = stream_manifest_with(&dir, MANIFEST_CHUNK, false, |chunk, _| {
                // The reader is gone: stop reading.
                tx.send(Ok(chunk)).map_err(|_| ReadError::Io {
                    path: dir.join(MANIFEST_FILE),
                    source: io::Error::other("no longer read"),
                })
            });
            if let Err(e) = sent {
                let _ = tx.send(Err(e));
            }
        })
        .map_err(|source| ReadError::Io {
            path: PathBuf::from(MANIFEST_FILE),
            source,
        })?;
    Ok(rx
        .into_iter()
        .flat_map(|chunk| -> Box<dyn Iterator<Item = _>> {
            match chunk {
                Ok(entries) => Box::new(entries.into_iter().map(Ok)),
                Err(e) => Box::new(std::iter::once(Err(e))),
            }
        }))
}

/// A snapshot's route bodies, read by manifest path (`public/…`) whatever its layout: files
/// from `public/`, or byte ranges of packs found through the index (checked against their
/// length and hash). What `diff` and `archive` read through.
pub enum Bodies {
    /// The files layout: `DIR/…`.
    Files(PathBuf),
    /// The pack layout.
    Pack(Box<pack::Reader<source::DirSource>>),
}

impl Bodies {
    /// Opens the snapshot in `dir` (its format checked).
    pub fn open(dir: &Path) -> Result<Bodies, ReadError> {
        match check_format(dir)? {
            Layout::Files => Ok(Bodies::Files(dir.to_path_buf())),
            Layout::Pack => {
                let public = dir.join(PUBLIC_DIR);
                Ok(Bodies::Pack(Box::new(pack::Reader::open(
                    source::DirSource(public.clone()),
                    &public,
                )?)))
            }
        }
    }

    /// The body of the manifest path `path` (`public/…`).
    pub fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        match self {
            Bodies::Files(dir) => fs::read(dir.join(path)),
            Bodies::Pack(reader) => {
                let key = path.strip_prefix("public/").unwrap_or(path);
                match reader.read(key).map_err(io::Error::other)? {
                    Some((body, _)) => Ok(body),
                    None => Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{key}: not in the pack index"),
                    )),
                }
            }
        }
    }
}
