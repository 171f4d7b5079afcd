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

/// The fields of one manifest line, borrowed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRef<'a> {
    /// Path relative to the snapshot directory (`public/…`).
    pub path: &'a str,
    /// Requests it answers.
    pub requests: Vec<&'a str>,
    /// HTTP status.
    pub status: u16,
    /// Its `content_type`.
    pub content_type: &'a str,
    /// Size in bytes.
    pub size: u64,
    /// blake3 hex.
    pub blake3: &'a str,
}

impl LineRef<'_> {
    /// An owned [`Line`].
    pub fn to_line(&self) -> Line {
        Line {
            path: self.path.to_string(),
            requests: self.requests.iter().map(|r| r.to_string()).collect(),
            status: self.status,
            size: self.size,
            blake3: self.blake3.to_string(),
        }
    }
}

/// Parses a manifest line written exactly as `export` writes it
/// (`{"path":…,"requests":[…],"status":…,"content_type":…,"size":…,"blake3":…}`, strings
/// without escapes) several times faster than a JSON parser; `None` for any other line, which
/// the caller then parses as JSON (and reports, if malformed). Reading millions of lines is
/// where verify, diff and incremental exports spend their first seconds.
pub fn parse_line_fast(l: &str) -> Option<LineRef<'_>> {
    /// A JSON string's content up to its closing quote, when it holds no escape or control
    /// character (then it means exactly these bytes).
    fn plain(s: &str) -> Option<(&str, &str)> {
        // One pass: the first quote, backslash or control character must be the quote.
        let end = s
            .bytes()
            .position(|b| b == b'"' || b == b'\\' || b < 0x20)?;
        (s.as_bytes()[end] == b'"').then(|| (&s[..end], &s[end + 1..]))
    }
    /// A JSON integer as `export` writes it (no sign, no leading zero, no fraction).
    fn number(s: &str) -> Option<(u64, &str)> {
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let digits = &s[..end];
        if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
            return None;
        }
        Some((digits.parse().ok()?, &s[end..]))
    }
    let (path, rest) = plain(l.strip_prefix("{\"path\":\"")?)?;
    let mut rest = rest.strip_prefix(",\"requests\":[")?;
    let mut requests = Vec::with_capacity(1);
    if let Some(r) = rest.strip_prefix(']') {
        rest = r;
    } else {
        loop {
            let (request, r) = plain(rest.strip_prefix('"')?)?;
            requests.push(request);
            match r.strip_prefix(',') {
                Some(r) => rest = r,
                None => {
                    rest = r.strip_prefix(']')?;
                    break;
                }
            }
        }
    }
    let (status, rest) = number(rest.strip_prefix(",\"status\":")?)?;
    let (content_type, rest) = plain(rest.strip_prefix(",\"content_type\":\"")?)?;
    let (size, rest) = number(rest.strip_prefix(",\"size\":")?)?;
    let (blake3, rest) = plain(rest.strip_prefix(",\"blake3\":\"")?)?;
    (rest == "}").then_some(LineRef {
        path,
        requests,
        status: u16::try_from(status).ok()?,
        content_type,
        size,
        blake3,
    })
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
        .map(|(n, l)| match parse_line_fast(l) {
            Some(fast) => Ok(fast.to_line()),
            None => serde_json::from_str::<Line>(l).map_err(|e| ReadError::Invalid {
                path: path.clone(),
                line: *n,
                message: e.to_string(),
            }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Manifest { hash, lines })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the fast path accepts, JSON reads the same; it accepts every line `export`
    /// writes (the golden export's manifest) and leaves the rest to JSON.
    #[test]
    fn the_fast_line_parser_agrees_with_json() {
        let golden = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("snapshots/demo/export-minimal/manifest.jsonl"),
        )
        .unwrap();
        let lines: Vec<&str> = golden.lines().collect();
        assert!(lines.len() > 1000);
        for l in lines {
            let fast = parse_line_fast(l).unwrap_or_else(|| panic!("export wrote {l}"));
            assert_eq!(fast.to_line(), serde_json::from_str::<Line>(l).unwrap());
        }
        let h = "a".repeat(64);
        let ct = r#""content_type":"application/json; charset=utf-8""#;
        let odd = [
            // Escapes mean other bytes than written: JSON decides.
            format!(r#"{{"path":"public/a\u0062","requests":[],"status":200,{ct},"size":1,"blake3":"{h}"}}"#),
            format!(r#"{{"path":"public/a","requests":["/x\"y"],"status":200,{ct},"size":1,"blake3":"{h}"}}"#),
            // Not JSON, or not as export writes it.
            format!(r#"{{"path":"public/a","requests":[],"status":0200,{ct},"size":1,"blake3":"{h}"}}"#),
            format!(r#"{{"path":"public/a","requests":[],"status":2e2,{ct},"size":1,"blake3":"{h}"}}"#),
            format!(r#"{{"path":"public/a","requests":[],"status":70000,{ct},"size":1,"blake3":"{h}"}}"#),
            format!(r#"{{"path":"public/a", "requests":[],"status":200,{ct},"size":1,"blake3":"{h}"}}"#),
            format!(r#"{{"path":"public/a","requests":[],"status":200,{ct},"size":-1,"blake3":"{h}"}}"#),
            format!(r#"{{"path":"public/a","requests":[],"status":200,{ct},"size":1,"blake3":"{h}"}} "#),
            format!(r#"{{"path":"public/a","requests":["/x",],"status":200,{ct},"size":1,"blake3":"{h}"}}"#),
            format!("{{\"path\":\"public/\ta\",\"requests\":[],\"status\":200,{ct},\"size\":1,\"blake3\":\"{h}\"}}"),
            format!(r#"{{"requests":[],"path":"public/a","status":200,{ct},"size":1,"blake3":"{h}"}}"#),
        ];
        for l in &odd {
            assert_eq!(parse_line_fast(l), None, "{l}");
        }
        // A line in export's form is taken, with two requests too.
        let two = format!(
            r#"{{"path":"public/é","requests":["/a","/b?c=d"],"status":403,{ct},"size":0,"blake3":"{h}"}}"#
        );
        let fast = parse_line_fast(&two).unwrap();
        assert_eq!(fast.requests, ["/a", "/b?c=d"]);
        assert_eq!(fast.to_line(), serde_json::from_str::<Line>(&two).unwrap());
    }
}
