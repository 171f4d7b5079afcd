//! `archive`: a snapshot as a web archive (WARC/1.1, gzip per record), for the standard
//! web-archive tools (`docs/archive.md`).
//!
//! One `warcinfo` record, then one `response` record per request of the manifest, in manifest
//! order: the HTTP status line, `Content-Type`, `Content-Length` and the body, under the request's
//! canonical URL `https://HOST/__api/...`. Output is deterministic: the date comes from `--date`,
//! `SOURCE_DATE_EPOCH` or the snapshot's `snapshot.json` modification time; record ids are
//! derived from content hashes, never random; gzip members carry no timestamps.

use crate::snapshot::{self, ReadError};
use data_encoding::BASE32;
use flate2::write::GzEncoder;
use flate2::Compression;
use sha1::{Digest, Sha1};
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Options of [`archive`].
#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// `scheme://host` of the archived URLs (default: the snapshot's `--base-url`).
    pub base_url: Option<String>,
    /// `WARC-Date` (RFC 3339, UTC `Z`).
    pub date: Option<String>,
}

/// What [`archive`] wrote.
#[derive(Debug, Clone, Default)]
pub struct ArchiveReport {
    /// Response records.
    pub records: u64,
    /// Bytes of the `.warc.gz`.
    pub bytes: u64,
    /// The `WARC-Date` used.
    pub date: String,
}

/// Why an archive was not written.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The snapshot cannot be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// No host to archive under.
    #[error("the snapshot was exported without --base-url: pass --base-url https://HOST so the archive knows its URLs")]
    NoBaseUrl,
    /// A bad option.
    #[error("{0}")]
    Invalid(String),
    /// I/O.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> ArchiveError {
    let context = context.into();
    move |source| ArchiveError::Io { context, source }
}

/// The `WARC-Date` of an archive: `--date`, else `SOURCE_DATE_EPOCH`, else when `snapshot.json`
/// was written.
pub fn warc_date(dir: &Path, date: Option<&str>) -> Result<String, ArchiveError> {
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;
    let t = if let Some(d) = date {
        OffsetDateTime::parse(d, &Rfc3339).map_err(|e| {
            ArchiveError::Invalid(format!(
                "--date {d:?} is not an RFC 3339 date such as 2026-11-25T10:00:00Z: {e}"
            ))
        })?
    } else if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
        let secs: i64 = epoch.trim().parse().map_err(|_| {
            ArchiveError::Invalid(format!(
                "SOURCE_DATE_EPOCH={epoch:?} is not a number of seconds"
            ))
        })?;
        OffsetDateTime::from_unix_timestamp(secs)
            .map_err(|e| ArchiveError::Invalid(format!("SOURCE_DATE_EPOCH: {e}")))?
    } else {
        let modified = fs::metadata(dir.join("snapshot.json"))
            .and_then(|m| m.modified())
            .map_err(io_err("reading the time of snapshot.json"))?;
        OffsetDateTime::from(modified)
    };
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond");
    Ok(t.format(&Rfc3339).expect("formats"))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Unknown",
    }
}

fn sha1_b32(bytes: &[u8]) -> String {
    format!("sha1:{}", BASE32.encode(&Sha1::digest(bytes)))
}

/// A record id derived from its content: a UUID-shaped blake3 prefix.
fn record_id(kind: &str, uri: &str, block: &[u8]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(kind.as_bytes());
    h.update(&[0]);
    h.update(uri.as_bytes());
    h.update(&[0]);
    h.update(block);
    let b = h.finalize();
    let x = b.to_hex();
    format!(
        "<urn:uuid:{}-{}-{}-{}-{}>",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

fn write_record(out: &mut impl Write, headers: &[(&str, String)], block: &[u8]) -> io::Result<u64> {
    let mut gz = GzEncoder::new(
        Vec::with_capacity(block.len() / 2 + 512),
        Compression::default(),
    );
    let mut head = String::from("WARC/1.1\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", block.len()));
    gz.write_all(head.as_bytes())?;
    gz.write_all(block)?;
    gz.write_all(b"\r\n\r\n")?;
    let member = gz.finish()?;
    out.write_all(&member)?;
    Ok(member.len() as u64)
}

/// Writes the snapshot in `dir` as a `.warc.gz` at `out` (atomically: a temporary file beside
/// `out`, renamed when complete).
pub fn archive(
    dir: &Path,
    out: &Path,
    opts: &ArchiveOptions,
) -> Result<ArchiveReport, ArchiveError> {
    let info = snapshot::read_info(dir)?;
    let manifest = snapshot::read_manifest(dir)?;
    let base = opts
        .base_url
        .clone()
        .or(info.base_url.clone())
        .ok_or(ArchiveError::NoBaseUrl)?;
    let base = base.trim_end_matches('/').to_string();
    if crate::api::split_base_url(&base).is_none() {
        return Err(ArchiveError::Invalid(format!(
            "--base-url {base:?} is not an http(s) URL such as https://www.example.test"
        )));
    }
    let date = warc_date(dir, opts.date.as_deref())?;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".warc-")
        .tempfile_in(parent)
        .map_err(io_err(format!("creating a file in {}", parent.display())))?;
    let file_name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut w = BufWriter::new(tmp.as_file());
    let mut report = ArchiveReport {
        date: date.clone(),
        ..ArchiveReport::default()
    };

    let fields = format!(
        "software: {}\r\nformat: WARC File Format 1.1\r\nconformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\nisPartOf: {} / {}\r\ndescription: Content API snapshot, root hash {}\r\n",
        info.tool, info.store.name, info.token.name, info.root_hash
    );
    let ctx = "writing the archive";
    report.bytes += write_record(
        &mut w,
        &[
            ("WARC-Type", "warcinfo".into()),
            (
                "WARC-Record-ID",
                record_id("warcinfo", &file_name, fields.as_bytes()),
            ),
            ("WARC-Date", date.clone()),
            ("WARC-Filename", file_name.clone()),
            ("Content-Type", "application/warc-fields".into()),
        ],
        fields.as_bytes(),
    )
    .map_err(io_err(ctx))?;
    for line in &manifest.lines {
        if line.requests.is_empty() {
            continue;
        }
        let body =
            fs::read(dir.join(&line.path)).map_err(io_err(format!("reading {}", line.path)))?;
        for request in &line.requests {
            let uri = format!("{base}{request}");
            let mut block = format!(
                "HTTP/1.1 {} {}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
                line.status,
                reason(line.status),
                body.len()
            )
            .into_bytes();
            block.extend_from_slice(&body);
            report.bytes += write_record(
                &mut w,
                &[
                    ("WARC-Type", "response".into()),
                    ("WARC-Record-ID", record_id("response", &uri, &block)),
                    ("WARC-Date", date.clone()),
                    ("WARC-Target-URI", uri),
                    ("WARC-Payload-Digest", sha1_b32(&body)),
                    ("WARC-Block-Digest", sha1_b32(&block)),
                    ("Content-Type", "application/http; msgtype=response".into()),
                ],
                &block,
            )
            .map_err(io_err(ctx))?;
            report.records += 1;
        }
    }
    w.flush().map_err(io_err(ctx))?;
    drop(w);
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644)).map_err(io_err(ctx))?;
    }
    tmp.persist(out)
        .map_err(|e| io_err(format!("moving the archive to {}", out.display()))(e.error))?;
    Ok(report)
}
