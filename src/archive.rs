//! `archive`: a snapshot as a web archive (WARC/1.1, gzip per record), for the standard
//! web-archive tools (`docs/archive.md`).
//!
//! One `warcinfo` record, then one `response` record per request of the manifest, in manifest
//! order: the HTTP status line, `Content-Type`, `Content-Length` and the body, under the request's
//! canonical URL `https://HOST/__api/...`. Output is deterministic: the date comes from `--date`,
//! `SOURCE_DATE_EPOCH` or the snapshot's `snapshot.json` modification time; record ids are
//! derived from content hashes, never random; gzip members carry no timestamps.
//!
//! `--wacz` packages the same WARC as a WACZ 1.1.1 (a ZIP with the WARC, a CDXJ index sorted by
//! [`surt`] key, a page list and a `datapackage.json` with every file's sha256), equally
//! deterministic: entry times are the `WARC-Date`, entries in a fixed order (`wacz.rs`).

pub mod surt;
mod wacz;

pub use wacz::WACZ_VERSION;

use crate::snapshot::{self, ReadError};
use data_encoding::BASE32;
use flate2::write::GzEncoder;
use flate2::Compression;
use sha1::{Digest, Sha1};
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Options of [`archive`].
#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// `scheme://host` of the archived URLs (default: the snapshot's `--base-url`).
    pub base_url: Option<String>,
    /// `WARC-Date` (RFC 3339, UTC `Z`).
    pub date: Option<String>,
}

/// The files [`archive`] writes: a `.warc.gz`, a `.wacz`, or both (at least one).
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// The `.warc.gz` to write.
    pub warc: Option<PathBuf>,
    /// The `.wacz` to write.
    pub wacz: Option<PathBuf>,
}

/// What [`archive`] wrote.
#[derive(Debug, Clone, Default)]
pub struct ArchiveReport {
    /// Response records (in the WARC, and in the WACZ's WARC).
    pub records: u64,
    /// Bytes of the `.warc.gz`, when one was written.
    pub warc_bytes: Option<u64>,
    /// Bytes of the `.wacz`, when one was written.
    pub wacz_bytes: Option<u64>,
    /// Entries of the WACZ's `pages/pages.jsonl`.
    pub pages: u64,
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
    /// Neither a WARC nor a WACZ was asked for.
    #[error("nothing to write: name a --warc OUT.warc.gz, a --wacz OUT.wacz, or both")]
    NoTarget,
    /// The output's directory does not exist.
    #[error("cannot write {}: its directory {} does not exist (create it first: mkdir -p {})", .out.display(), .parent.display(), .parent.display())]
    NoDirectory {
        /// The output file.
        out: PathBuf,
        /// Its missing directory.
        parent: PathBuf,
    },
    /// `manifest.jsonl` no longer hashes to the root hash of `snapshot.json`.
    #[error("{}: manifest.jsonl was changed after export (its blake3 is not the root hash in snapshot.json); nothing was written. `matrix-snapshot verify {}` lists what differs; export again to archive the current content", .dir.display(), .dir.display())]
    ManifestChanged {
        /// The snapshot.
        dir: PathBuf,
    },
    /// A file's bytes are not the ones the manifest lists.
    #[error("{}: {path} is not the file the manifest lists (its blake3 differs): the snapshot was changed after export; nothing was written. `matrix-snapshot verify {}` lists every difference; export again to archive the current content", .dir.display(), .dir.display())]
    Changed {
        /// The snapshot.
        dir: PathBuf,
        /// The file, relative to the snapshot.
        path: String,
    },
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
    Ok(rfc3339(warc_time(dir, date)?))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("formats")
}

fn warc_time(dir: &Path, date: Option<&str>) -> Result<OffsetDateTime, ArchiveError> {
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
        let modified = fs::metadata(dir.join(snapshot::INFO_FILE))
            .and_then(|m| m.modified())
            .map_err(io_err("reading the time of snapshot.json"))?;
        OffsetDateTime::from(modified)
    };
    Ok(t.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond"))
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

/// The `Content-Type` of every archived response.
const CONTENT_TYPE: &str = "application/json; charset=utf-8";

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

/// One `response` record as written: what a CDXJ index line and a page entry need.
#[derive(Debug, Clone)]
struct Record {
    /// `WARC-Target-URI`.
    uri: String,
    /// HTTP status.
    status: u16,
    /// `WARC-Payload-Digest`.
    payload_digest: String,
    /// Offset of its gzip member in the `.warc.gz`.
    offset: u64,
    /// Length of its gzip member.
    length: u64,
    /// For a page (an asset route without query, answered 200): its title.
    page_title: Option<String>,
}

/// An asset route without query (`/__api/assets/100`): a page of the WACZ.
fn is_page(request: &str) -> bool {
    request
        .strip_prefix("/__api/assets/")
        .is_some_and(|id| !id.is_empty() && !id.contains(['/', '?']))
}

/// A snapshot ready to archive: read, its base URL and date decided.
struct Source {
    dir: PathBuf,
    info: snapshot::Info,
    manifest: snapshot::Manifest,
    bodies: snapshot::Bodies,
    base: String,
    time: OffsetDateTime,
    date: String,
}

impl Source {
    fn open(dir: &Path, opts: &ArchiveOptions) -> Result<Source, ArchiveError> {
        let info = snapshot::read_info(dir)?;
        let manifest = snapshot::read_manifest(dir)?;
        if manifest.hash != info.root_hash {
            return Err(ArchiveError::ManifestChanged {
                dir: dir.to_path_buf(),
            });
        }
        if let Some(l) = manifest
            .lines
            .iter()
            .find(|l| !snapshot::path::safe(&l.path))
        {
            return Err(ArchiveError::Invalid(format!(
                "{}: manifest.jsonl lists {:?}, a path outside public/; it was not opened and nothing was written (`matrix-snapshot verify {}`)",
                dir.display(),
                l.path,
                dir.display()
            )));
        }
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
        let time = warc_time(dir, opts.date.as_deref())?;
        Ok(Source {
            dir: dir.to_path_buf(),
            bodies: snapshot::Bodies::open(dir)?,
            info,
            manifest,
            base,
            time,
            date: rfc3339(time),
        })
    }

    /// Writes the WARC (named `file_name` in its `warcinfo` record) to `out`; every body is
    /// checked against the manifest's blake3 as it is read.
    fn write_warc(
        &self,
        file_name: &str,
        out: &mut impl Write,
    ) -> Result<Vec<Record>, ArchiveError> {
        let info = &self.info;
        let fields = format!(
            "software: {}\r\nformat: WARC File Format 1.1\r\nconformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\nisPartOf: {} / {}\r\ndescription: Content API snapshot, root hash {}\r\n",
            info.tool, info.store.name, info.token.name, info.root_hash
        );
        let ctx = "writing the archive";
        let mut offset = write_record(
            out,
            &[
                ("WARC-Type", "warcinfo".into()),
                (
                    "WARC-Record-ID",
                    record_id("warcinfo", file_name, fields.as_bytes()),
                ),
                ("WARC-Date", self.date.clone()),
                ("WARC-Filename", file_name.to_string()),
                ("Content-Type", "application/warc-fields".into()),
            ],
            fields.as_bytes(),
        )
        .map_err(io_err(ctx))?;
        let mut records = Vec::with_capacity(self.manifest.lines.len());
        for line in &self.manifest.lines {
            if line.requests.is_empty() {
                continue;
            }
            let body = self.bodies.read(&line.path).map_err(io_err(format!(
                "reading {}",
                self.dir.join(&line.path).display()
            )))?;
            if blake3::hash(&body) != line.blake3 {
                return Err(ArchiveError::Changed {
                    dir: self.dir.clone(),
                    path: line.path.clone(),
                });
            }
            let payload_digest = sha1_b32(&body);
            for request in &line.requests {
                let uri = format!("{}{request}", self.base);
                let mut block = format!(
                    "HTTP/1.1 {} {}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\n\r\n",
                    line.status,
                    reason(line.status),
                    body.len()
                )
                .into_bytes();
                block.extend_from_slice(&body);
                let length = write_record(
                    out,
                    &[
                        ("WARC-Type", "response".into()),
                        ("WARC-Record-ID", record_id("response", &uri, &block)),
                        ("WARC-Date", self.date.clone()),
                        ("WARC-Target-URI", uri.clone()),
                        ("WARC-Payload-Digest", payload_digest.clone()),
                        ("WARC-Block-Digest", sha1_b32(&block)),
                        ("Content-Type", "application/http; msgtype=response".into()),
                    ],
                    &block,
                )
                .map_err(io_err(ctx))?;
                let page_title = (line.status == 200 && is_page(request)).then(|| {
                    serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v["name"].as_str().map(str::to_string))
                        .unwrap_or_else(|| uri.clone())
                });
                records.push(Record {
                    uri,
                    status: line.status,
                    payload_digest: payload_digest.clone(),
                    offset,
                    length,
                    page_title,
                });
                offset += length;
            }
        }
        Ok(records)
    }
}

/// The existing directory an output goes in.
fn parent_of(out: &Path) -> Result<PathBuf, ArchiveError> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(ArchiveError::NoDirectory {
            out: out.to_path_buf(),
            parent: parent.to_path_buf(),
        });
    }
    Ok(parent.to_path_buf())
}

/// A temporary file beside `out`, to be renamed onto it when complete.
fn temp_beside(
    out: &Path,
    prefix: &str,
) -> Result<(PathBuf, tempfile::NamedTempFile), ArchiveError> {
    let parent = parent_of(out)?;
    let tmp = tempfile::Builder::new()
        .prefix(prefix)
        .tempfile_in(&parent)
        .map_err(io_err(format!("creating a file in {}", parent.display())))?;
    Ok((parent, tmp))
}

/// Writes the snapshot in `dir` as a `.warc.gz`, a `.wacz` or both (`targets`), atomically: each
/// into a temporary file beside its output, both renamed into place once both are complete.
pub fn archive(
    dir: &Path,
    targets: &Targets,
    opts: &ArchiveOptions,
) -> Result<ArchiveReport, ArchiveError> {
    if targets.warc.is_none() && targets.wacz.is_none() {
        return Err(ArchiveError::NoTarget);
    }
    let source = Source::open(dir, opts)?;
    for out in [&targets.warc, &targets.wacz].into_iter().flatten() {
        parent_of(out)?;
    }
    let mut report = ArchiveReport {
        date: source.date.clone(),
        ..ArchiveReport::default()
    };
    let mut done = Vec::new();
    if let Some(out) = &targets.warc {
        let (_, tmp) = temp_beside(out, ".warc-")?;
        let file_name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut w = BufWriter::new(tmp.as_file());
        let records = source.write_warc(&file_name, &mut w)?;
        w.flush().map_err(io_err("writing the archive"))?;
        drop(w);
        report.records = records.len() as u64;
        report.warc_bytes = Some(
            tmp.as_file()
                .metadata()
                .map_err(io_err("writing the archive"))?
                .len(),
        );
        done.push((tmp, out));
    }
    if let Some(out) = &targets.wacz {
        let (parent, tmp) = temp_beside(out, ".wacz-")?;
        let written = wacz::write(&source, &parent, tmp.as_file())?;
        report.records = written.records;
        report.pages = written.pages;
        report.wacz_bytes = Some(written.bytes);
        done.push((tmp, out));
    }
    for (tmp, out) in done {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))
            .map_err(io_err(format!("writing {}", out.display())))?;
        tmp.persist(out)
            .map_err(|e| io_err(format!("moving the archive to {}", out.display()))(e.error))?;
    }
    Ok(report)
}
