//! WACZ 1.1.1 (<https://specs.webrecorder.net/wacz/1.1.1/>): the snapshot's WARC in a ZIP with
//! the files replay tools read to find their way in it.
//!
//! | entry | content | ZIP method |
//! |---|---|---|
//! | `datapackage.json` | profile, `wacz_version`, title, dates, software, every other entry's sha256 and size | deflate |
//! | `datapackage-digest.json` | the sha256 of `datapackage.json` | deflate |
//! | `pages/pages.jsonl` | one line per page: every asset route without query answered 200 | deflate |
//! | `indexes/index.cdx` | CDXJ, one line per response record, sorted as cdxj-indexer sorts | deflate |
//! | `archive/data.warc.gz` | the WARC `--warc data.warc.gz` writes | store (already gzip) |
//!
//! Deterministic: entries in that order, each dated with the `WARC-Date` (ZIP times have
//! two-second steps: an odd second is written one second earlier), mode 0644, no extra fields.
//! The index and page lines are serialised as Python's `json.dumps` does, so they are byte for
//! byte what cdxj-indexer and py-wacz write for the same WARC.

use super::{io_err, ArchiveError, Record, Source, CONTENT_TYPE};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::Path;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// The WACZ version written (`wacz_version`).
pub const WACZ_VERSION: &str = "1.1.1";

/// The WARC's name inside the WACZ (and in its `warcinfo` record and the index).
const WARC_NAME: &str = "data.warc.gz";

/// What [`write`] wrote.
pub(super) struct Written {
    pub records: u64,
    pub pages: u64,
    pub bytes: u64,
}

/// A writer that hashes (sha256) and counts what passes through.
struct Hashing<W> {
    inner: W,
    sha: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A JSON string as Python's `json.dumps` writes it (ASCII only: `\uXXXX` beyond).
fn py_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A flat object of strings as Python's `json.dumps` writes it: `{"a": "1", "b": "2"}`.
fn py_object(fields: &[(&str, &str)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        py_str(k, &mut out);
        out.push_str(": ");
        py_str(v, &mut out);
    }
    out.push('}');
    out
}

/// `indexes/index.cdx`: `SURT TIMESTAMP {"url": …, "mime": …, "status": …, "digest": …,
/// "length": …, "offset": …, "filename": …}` per response record, lines sorted.
fn cdxj(records: &[Record], timestamp: &str) -> String {
    let mime = CONTENT_TYPE
        .split([';', ' ', '\t'])
        .next()
        .unwrap_or_default();
    let mut lines: Vec<String> = records
        .iter()
        .map(|r| {
            format!(
                "{} {timestamp} {}\n",
                super::surt::surt(&r.uri),
                py_object(&[
                    ("url", &r.uri),
                    ("mime", mime),
                    ("status", &r.status.to_string()),
                    ("digest", &r.payload_digest),
                    ("length", &r.length.to_string()),
                    ("offset", &r.offset.to_string()),
                    ("filename", WARC_NAME),
                ])
            )
        })
        .collect();
    lines.sort_unstable();
    lines.concat()
}

/// `pages/pages.jsonl`: the header, then every page in manifest order. A page's id is derived
/// from its URL; its title is the asset's name.
fn pages(records: &[Record], date: &str) -> (String, u64) {
    let mut out = py_object(&[
        ("format", "json-pages-1.0"),
        ("id", "pages"),
        ("title", "All Pages"),
    ]);
    out.push('\n');
    let mut n = 0;
    for r in records {
        let Some(title) = &r.page_title else { continue };
        let id = blake3::hash(r.uri.as_bytes()).to_hex();
        out.push_str(&py_object(&[
            ("id", &id[..16]),
            ("url", &r.uri),
            ("ts", date),
            ("title", title),
        ]));
        out.push('\n');
        n += 1;
    }
    (out, n)
}

/// A resource of `datapackage.json`.
fn resource(path: &str, sha256: &str, bytes: u64) -> serde_json::Value {
    serde_json::json!({
        "name": path.rsplit('/').next().unwrap_or(path),
        "path": path,
        "hash": format!("sha256:{sha256}"),
        "bytes": bytes,
    })
}

fn zip_time(source: &Source) -> DateTime {
    let t = source.time;
    DateTime::from_date_and_time(
        u16::try_from(t.year()).unwrap_or(0),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    )
    // Outside ZIP's 1980–2107: its earliest time.
    .unwrap_or_default()
}

/// Writes the WACZ of `source` into `out` (a new, empty file). The WARC is staged in an unnamed
/// temporary file in `dir` (beside the output) while it is hashed.
pub(super) fn write(source: &Source, dir: &Path, out: &File) -> Result<Written, ArchiveError> {
    let ctx = "writing the WACZ";
    let warc = tempfile::tempfile_in(dir)
        .map_err(io_err(format!("creating a file in {}", dir.display())))?;
    let mut hashing = Hashing {
        inner: BufWriter::new(&warc),
        sha: Sha256::new(),
        bytes: 0,
    };
    let records = source.write_warc(WARC_NAME, &mut hashing)?;
    hashing.flush().map_err(io_err(ctx))?;
    let Hashing {
        inner, sha, bytes, ..
    } = hashing;
    drop(inner);
    let (warc_sha, warc_bytes) = (hex(&sha.finalize()), bytes);

    let t = source.time;
    let timestamp = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let index = cdxj(&records, &timestamp);
    let (pages, page_count) = pages(&records, &source.date);
    let info = &source.info;
    let datapackage = serde_json::json!({
        "profile": "data-package",
        "wacz_version": WACZ_VERSION,
        "title": format!("{} / {}", info.store.name, info.token.name),
        "description": format!(
            "Squiz Matrix Content API snapshot of {} as the token {:?} reads it, under {}: {} responses ({} pages). Snapshot root hash {}.",
            info.store.name, info.token.name, source.base, records.len(), page_count, info.root_hash
        ),
        "created": source.date,
        "modified": source.date,
        "software": format!("matrix-snapshot {}", env!("CARGO_PKG_VERSION")),
        "resources": [
            resource("pages/pages.jsonl", &sha256(pages.as_bytes()), pages.len() as u64),
            resource("indexes/index.cdx", &sha256(index.as_bytes()), index.len() as u64),
            resource("archive/data.warc.gz", &warc_sha, warc_bytes),
        ],
    });
    let mut datapackage = serde_json::to_string_pretty(&datapackage).expect("serialises");
    datapackage.push('\n');
    let mut digest = serde_json::to_string_pretty(&serde_json::json!({
        "path": "datapackage.json",
        "hash": format!("sha256:{}", sha256(datapackage.as_bytes())),
    }))
    .expect("serialises");
    digest.push('\n');

    let zip_err = |e: zip::result::ZipError| ArchiveError::Io {
        context: ctx.into(),
        source: io::Error::other(e),
    };
    let options = SimpleFileOptions::default()
        .last_modified_time(zip_time(source))
        .unix_permissions(0o644);
    let deflate = options.compression_method(CompressionMethod::Deflated);
    let mut zip = ZipWriter::new(BufWriter::new(out));
    for (name, bytes) in [
        ("datapackage.json", datapackage.as_bytes()),
        ("datapackage-digest.json", digest.as_bytes()),
        ("pages/pages.jsonl", pages.as_bytes()),
        ("indexes/index.cdx", index.as_bytes()),
    ] {
        zip.start_file(name, deflate).map_err(zip_err)?;
        zip.write_all(bytes).map_err(io_err(ctx))?;
    }
    zip.start_file(
        format!("archive/{WARC_NAME}"),
        options
            .compression_method(CompressionMethod::Stored)
            .large_file(warc_bytes >= u64::from(u32::MAX)),
    )
    .map_err(zip_err)?;
    (&warc).rewind().map_err(io_err(ctx))?;
    let copied = io::copy(&mut (&warc).take(warc_bytes), &mut zip).map_err(io_err(ctx))?;
    if copied != warc_bytes {
        return Err(ArchiveError::Io {
            context: ctx.into(),
            source: io::Error::other(format!(
                "the staged WARC shrank from {warc_bytes} to {copied} bytes"
            )),
        });
    }
    let mut w = zip.finish().map_err(zip_err)?;
    w.flush().map_err(io_err(ctx))?;
    let bytes = w.stream_position().map_err(io_err(ctx))?;
    Ok(Written {
        records: records.len() as u64,
        pages: page_count,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_written_as_python_writes_it() {
        assert_eq!(
            py_object(&[
                ("url", "https://x.test/a?b=\"c\"\\"),
                ("title", "Te reo Māori 🎉\n")
            ]),
            r#"{"url": "https://x.test/a?b=\"c\"\\", "title": "Te reo M\u0101ori \ud83c\udf89\n"}"#
        );
    }

    #[test]
    fn pages_are_asset_routes_without_query() {
        for (r, page) in [
            ("/__api/assets/100", true),
            ("/__api/assets/1234%3Av1", true),
            ("/__api/assets/100?data=urls", false),
            ("/__api/assets/100/children", false),
            ("/__api/assets/by_url?url=x", false),
            ("/__api/assets/", false),
        ] {
            assert_eq!(super::super::is_page(r), page, "{r}");
        }
    }
}
