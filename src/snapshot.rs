//! Reading a snapshot back: `snapshot.json` and `manifest.jsonl` as `export` writes them
//! (`docs/snapshot-format.md`). `verify`, `diff` and the conformance harness read snapshots
//! through here, so a format change has one reader to follow.

use crate::export::SNAPSHOT_FORMAT;
use serde::Deserialize;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What `snapshot.json` says (the fields readers use).
#[derive(Debug, Clone, Deserialize)]
pub struct Info {
    /// `matrix-snapshot/1`.
    pub format: String,
    /// The tool that wrote it.
    pub tool: String,
    /// The store.
    pub store: StoreInfo,
    /// The token (name and user, never its value).
    pub token: TokenInfo,
    /// The token's root nodes.
    #[serde(default)]
    pub root_nodes: Vec<String>,
    /// `--base-url`.
    pub base_url: Option<String>,
    /// Counts.
    pub counts: Counts,
    /// blake3 of `manifest.jsonl`.
    pub root_hash: String,
}

/// The store a snapshot came from.
#[derive(Debug, Clone, Deserialize)]
pub struct StoreInfo {
    /// Its name.
    pub name: String,
    /// blake3 over its files.
    pub fingerprint: String,
}

/// The exported token.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenInfo {
    /// Its name.
    pub name: String,
    /// Its user.
    pub user_id: String,
}

/// Counts in `snapshot.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Counts {
    /// Readable assets.
    pub assets: u64,
    /// Forbidden ids.
    pub forbidden: u64,
    /// Manifest entries.
    pub files: u64,
    /// Bytes served.
    pub bytes: u64,
}

/// One line of `manifest.jsonl` (the fields readers use).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Line {
    /// Path relative to the snapshot directory (`public/…`).
    pub path: String,
    /// Requests it answers.
    #[serde(default)]
    pub requests: Vec<String>,
    /// HTTP status.
    pub status: u16,
    /// Size in bytes.
    pub size: u64,
    /// blake3 hex.
    pub blake3: String,
}

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
    #[error("{}: snapshot format {found:?}; this matrix-snapshot reads {SNAPSHOT_FORMAT:?} (re-export it with this version)", .path.display())]
    Format {
        /// `snapshot.json`.
        path: PathBuf,
        /// The format it says.
        found: String,
    },
}

fn read(dir: &Path, file: &'static str) -> Result<Vec<u8>, ReadError> {
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

/// Reads `dir/snapshot.json`, checking its format.
pub fn read_info(dir: &Path) -> Result<Info, ReadError> {
    let path = dir.join("snapshot.json");
    let bytes = read(dir, "snapshot.json")?;
    // The format first, so a future format gets a clear message rather than a field error.
    let raw: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| ReadError::Invalid {
            path: path.clone(),
            line: e.line(),
            message: e.to_string(),
        })?;
    let format = raw["format"].as_str().unwrap_or_default();
    if format != SNAPSHOT_FORMAT {
        return Err(ReadError::Format {
            path,
            found: format.to_string(),
        });
    }
    serde_json::from_value(raw).map_err(|e| ReadError::Invalid {
        path,
        line: 0,
        message: e.to_string(),
    })
}

/// The manifest's bytes and its parsed lines.
pub struct Manifest {
    /// blake3 of the file (the snapshot's root hash when intact).
    pub hash: String,
    /// Lines in file order.
    pub lines: Vec<Line>,
}

/// Reads `dir/manifest.jsonl`; a malformed line is an error naming the line.
pub fn read_manifest(dir: &Path) -> Result<Manifest, ReadError> {
    use rayon::prelude::*;
    let path = dir.join("manifest.jsonl");
    let bytes = read(dir, "manifest.jsonl")?;
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
        .map(|(n, l)| {
            serde_json::from_str::<Line>(l).map_err(|e| ReadError::Invalid {
                path: path.clone(),
                line: *n,
                message: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Manifest { hash, lines })
}
