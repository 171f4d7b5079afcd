//! `manifest.jsonl`: one line per file of the web root, sorted by path, each the JSON of one
//! [`Entry`] (`{"path":…,"requests":[…],"status":…,"content_type":…,"size":…,"blake3":…}`),
//! after one line per file of `_routers/` (status 0, no request, no content type: not routes,
//! but covered by the root hash like everything hosts rely on; [`router_entries`]).
//! `export` writes it with [`write`]; `verify`, `diff`, `archive` and incremental exports read
//! it back with [`super::read_manifest`] or [`parse_line_fast`], into the same type.

use crate::api::response::CONTENT_TYPE;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::Path;

/// One line of `manifest.jsonl`: a file under `public/`, the request(s) it answers and what a
/// host serves for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Path relative to the snapshot directory (`public/__api/…`).
    pub path: String,
    /// The canonical request target(s) this file answers (see [`pct`]).
    #[serde(default)]
    pub requests: Vec<String>,
    /// HTTP status.
    pub status: u16,
    /// Content type.
    #[serde(default)]
    pub content_type: ContentType,
    /// Size in bytes.
    pub size: u64,
    /// blake3 of the bytes (written as 64 lower-case hex digits; kept as bytes, which matters
    /// at millions of files).
    #[serde(with = "hex_hash")]
    pub blake3: blake3::Hash,
}

impl Entry {
    /// A JSON file under `public/` (`rel` relative to the web root).
    pub fn json(
        rel: &str,
        requests: Vec<String>,
        status: u16,
        size: u64,
        hash: blake3::Hash,
    ) -> Entry {
        Entry {
            path: format!("{}/{rel}", super::PUBLIC_DIR),
            requests,
            status,
            content_type: ContentType::Json,
            size,
            blake3: hash,
        }
    }

    /// A file under `_routers/` (`path` relative to the snapshot directory): status
    /// [`ROUTER_FILE_STATUS`], no request, no content type.
    pub fn router_file(path: String, size: u64, hash: blake3::Hash) -> Entry {
        Entry {
            path,
            requests: Vec::new(),
            status: ROUTER_FILE_STATUS,
            content_type: ContentType::Other("".into()),
            size,
            blake3: hash,
        }
    }

    /// Whether this line lists a file of `_routers/` rather than a route of the web root.
    pub fn is_router_file(&self) -> bool {
        self.path.starts_with(ROUTERS_PREFIX)
    }

    /// Appends this entry's line (without its newline) to `buf`: the bytes `serde_json` gives
    /// the entry, written directly (a manifest runs to millions of lines, and this is most of
    /// the time it takes to write one).
    pub fn write_line(&self, buf: &mut Vec<u8>) {
        let mut n = itoa::Buffer::new();
        buf.extend_from_slice(b"{\"path\":");
        push_json_str(buf, &self.path);
        buf.extend_from_slice(b",\"requests\":[");
        for (i, r) in self.requests.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            push_json_str(buf, r);
        }
        buf.extend_from_slice(b"],\"status\":");
        buf.extend_from_slice(n.format(self.status).as_bytes());
        buf.extend_from_slice(b",\"content_type\":");
        push_json_str(buf, self.content_type.as_str());
        buf.extend_from_slice(b",\"size\":");
        buf.extend_from_slice(n.format(self.size).as_bytes());
        buf.extend_from_slice(b",\"blake3\":\"");
        buf.extend_from_slice(self.blake3.to_hex().as_bytes());
        buf.extend_from_slice(b"\"}");
    }

    /// The path relative to the web root (`__api/…`).
    pub fn web_path(&self) -> &str {
        self.path
            .strip_prefix(super::PUBLIC_DIR)
            .and_then(|p| p.strip_prefix('/'))
            .unwrap_or(&self.path)
    }
}

/// Appends `s` as a JSON string as `serde_json` writes it: a string with nothing to escape (a
/// manifest's paths and requests nearly always) is copied as it is.
fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    // No early exit: the loop runs over whole vectors of bytes.
    let escape = s.bytes().fold(false, |any, b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if !escape {
        buf.reserve(s.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        serde_json::to_writer(buf, s).expect("a string serializes");
    }
}

/// The status of a `_routers/` file's manifest line: no host serves it.
pub const ROUTER_FILE_STATUS: u16 = 0;

/// How the paths of the `_routers/` files' lines start.
pub const ROUTERS_PREFIX: &str = "_routers/";

/// The manifest lines of every file under `root/_routers/`, sorted by path (bytes read and
/// hashed in parallel). They come first in the manifest (`_` sorts before `p`).
pub fn router_entries(root: &Path) -> io::Result<Vec<Entry>> {
    let base = root.join(super::ROUTERS_DIR);
    let mut paths = Vec::new();
    if base.is_dir() {
        for e in walkdir::WalkDir::new(&base) {
            let e = e.map_err(io::Error::other)?;
            if !e.file_type().is_dir() {
                let rel = e.path().strip_prefix(root).expect("under root");
                let rel = rel.to_str().ok_or_else(|| {
                    io::Error::other(format!("{}: not UTF-8", e.path().display()))
                })?;
                paths.push(rel.to_string());
            }
        }
    }
    paths.sort_unstable();
    paths
        .into_par_iter()
        .map(|p| {
            let (size, hash) = hash_reader(fs::File::open(root.join(&p))?)?;
            Ok(Entry::router_file(p, size, hash))
        })
        .collect()
}

/// The length and blake3 of what `reader` gives, read 64 KiB at a time: a router table runs
/// to a gigabyte at a million assets, and reading each whole held that much (twice over, two
/// at a time).
pub fn hash_reader(reader: impl io::Read) -> io::Result<(u64, blake3::Hash)> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(reader)?;
    Ok((hasher.count(), hasher.finalize()))
}

/// The `content_type` of a manifest line: every file `export` writes is JSON; another value read
/// back is kept as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ContentType {
    /// `application/json; charset=utf-8`.
    #[default]
    Json,
    /// Any other value.
    Other(Box<str>),
}

impl ContentType {
    /// As written.
    pub fn as_str(&self) -> &str {
        match self {
            ContentType::Json => CONTENT_TYPE,
            ContentType::Other(s) => s,
        }
    }
}

impl From<&str> for ContentType {
    fn from(s: &str) -> ContentType {
        if s == CONTENT_TYPE {
            ContentType::Json
        } else {
            ContentType::Other(s.into())
        }
    }
}

impl Serialize for ContentType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ContentType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ContentType, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(ContentType::from(s.as_ref()))
    }
}

mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &blake3::Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(h.to_hex().as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<blake3::Hash, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        blake3::Hash::from_hex(s.as_bytes())
            .map_err(|_| serde::de::Error::custom("blake3 is not 64 hex digits"))
    }
}

/// Characters left raw in request targets written to the manifest (RFC 3986 unreserved, and
/// `,` which separates `data` items).
const TARGET_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b',');

/// Percent-encodes a path segment or query value for a canonical request target.
pub fn pct(s: &str) -> String {
    utf8_percent_encode(s, TARGET_ESCAPES).to_string()
}

/// Entries [`write`] formats in parallel at a time (then writes and hashes in order).
const CHUNK: usize = 4096;

/// Entries [`write`] formats at once: about 12 MB of lines (three such groups at most in
/// memory, [`GROUPS_HELD`]), whatever the snapshot's size. [`write_groups`]' callers hand them
/// over in groups of this size. (Groups of 64k entries held 120 MB more at the peak of a
/// 1M-asset export, the entries and lines of five groups in flight, for no speed.)
pub const GROUP: usize = 8 * CHUNK;

/// Writes `manifest.jsonl` at `path`: the `head` lines (the router files', [`router_entries`]),
/// then `entries` (sorted by path, after `head`), one line each as `line` writes it (without the
/// newline), and returns its blake3 (the snapshot's root hash). Lines are formatted in parallel,
/// a bounded group at a time (about 40 MB at most in memory, whatever the snapshot's size),
/// then written and hashed in order.
pub fn write<E: Sync>(
    path: &Path,
    head: &[Entry],
    entries: &[E],
    line: impl Fn(&E, &mut Vec<u8>) + Sync,
) -> io::Result<String> {
    let mut out = io::BufWriter::with_capacity(1 << 20, fs::File::create(path)?);
    let hash = write_groups(&mut out, head, entries.chunks(GROUP).map(Ok), line, |_| {
        Ok(())
    })?;
    io::Write::flush(&mut out)?;
    Ok(hash)
}

/// Groups of lines [`write_groups`] holds at most: one being formatted, one waiting to be
/// written, one being written.
const GROUPS_HELD: usize = 3;

/// [`write`] for entries that come a group at a time (each of at most about [`GROUP`]
/// entries, in order): a caller that streams them need not hold them all. The lines go to
/// `out` in large pieces (it needs no buffer of its own); the caller flushes or finishes it.
///
/// `each` takes every entry, in order, once its line is written (on the writing thread); an
/// error from it stops the manifest and is returned.
///
/// Three stages overlap: the caller's iterator makes the next group while this thread formats
/// one (in parallel) and a thread of its own hashes and writes the one before, then hands its
/// entries to `each`. (Hashing and writing a group after formatting it, on this thread, left a
/// core idle for a third of a 1M-asset export's manifest: ~3 GB hashed on one core while the
/// group iterator waited; `each` on the iterator's thread made that thread the slower one.)
/// At most three groups' lines are held ([`GROUPS_HELD`]): one formatted, one waiting, one
/// written.
pub fn write_groups<E: Sync, G: std::ops::Deref<Target = [E]> + Send>(
    out: &mut (impl io::Write + Send),
    head: &[Entry],
    groups: impl Iterator<Item = io::Result<G>>,
    line: impl Fn(&E, &mut Vec<u8>) + Sync,
    mut each: impl FnMut(&E) -> io::Result<()> + Send,
) -> io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    let mut first = Vec::new();
    for e in head {
        e.write_line(&mut first);
        first.push(b'\n');
    }
    hasher.update(&first);
    io::Write::write_all(out, &first)?;
    // A group's lines, in parts formatted in parallel; the parts' buffers go back and forth
    // between the stages and are kept from group to group (fresh ones were pages faulted in
    // again for every group).
    type Parts = Vec<Vec<u8>>;
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Parts, usize, G)>(1);
    // Room for every set of parts: handing one back never waits.
    let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Parts>(GROUPS_HELD);
    let mut made = 0;
    std::thread::scope(|scope| {
        let writer = std::thread::Builder::new()
            .name("matrix-snapshot-manifest".into())
            .spawn_scoped(scope, move || {
                for (parts, n, group) in full_rx {
                    for part in &parts[..n] {
                        hasher.update(part);
                        io::Write::write_all(out, part)?;
                    }
                    group.iter().try_for_each(&mut each)?;
                    drop(group);
                    // Gone once the groups are: nothing to fill again.
                    let _ = empty_tx.try_send(parts);
                }
                Ok::<_, io::Error>(hasher)
            })?;
        let mut formatting = Ok(());
        for group in groups {
            let group = match group {
                Ok(group) => group,
                Err(e) => {
                    formatting = Err(e);
                    break;
                }
            };
            let mut parts = match empty_rx.try_recv() {
                Ok(parts) => parts,
                Err(_) if made < GROUPS_HELD => {
                    made += 1;
                    Vec::new()
                }
                Err(_) => match empty_rx.recv() {
                    Ok(parts) => parts,
                    // The writer stopped, and says why below.
                    Err(_) => break,
                },
            };
            let n = group.len().div_ceil(CHUNK);
            if parts.len() < n {
                parts.resize_with(n, Vec::new);
            }
            parts[..n]
                .par_iter_mut()
                .zip(group.par_chunks(CHUNK))
                .for_each(|(buf, chunk)| {
                    buf.clear();
                    for e in chunk {
                        line(e, buf);
                        buf.push(b'\n');
                    }
                });
            // A closed channel: the writer stopped, and says why below.
            if full_tx.send((parts, n, group)).is_err() {
                break;
            }
        }
        drop(full_tx);
        let hasher = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        formatting?;
        Ok(hasher.finalize().to_hex().to_string())
    })
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
    /// An owned [`Entry`]; `None` when its hash is not 64 hex digits.
    pub fn to_entry(&self) -> Option<Entry> {
        Some(Entry {
            path: self.path.to_string(),
            requests: self.requests.iter().map(|r| r.to_string()).collect(),
            status: self.status,
            content_type: ContentType::from(self.content_type),
            size: self.size,
            blake3: blake3::Hash::from_hex(self.blake3).ok()?,
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A line is the bytes `serde_json` gives the entry, whatever its strings hold
        /// (quotes, backslashes, control characters, non-ASCII) and its numbers.
        #[test]
        fn a_line_is_what_serde_json_writes(
            path in "\\PC*|[a-z/~.\"\\\\\u{0}-\u{1f}\u{7f}é😀]{0,40}",
            requests in proptest::collection::vec("\\PC{0,20}|[\"\\\\\n\t\u{1}]{0,5}", 0..3),
            status in any::<u16>(),
            content_type in prop_oneof![Just(String::new()), Just(CONTENT_TYPE.to_string()), "\\PC{0,12}"],
            size in any::<u64>(),
            hash in any::<[u8; 32]>(),
        ) {
            let e = Entry {
                path,
                requests,
                status,
                content_type: ContentType::from(content_type.as_str()),
                size,
                blake3: blake3::Hash::from(hash),
            };
            let mut line = Vec::new();
            e.write_line(&mut line);
            prop_assert_eq!(
                String::from_utf8(line).expect("UTF-8"),
                serde_json::to_string(&e).expect("serializes")
            );
        }
    }

    /// A reader of `len` bytes that remembers the largest read asked of it.
    struct Counted {
        left: usize,
        largest: usize,
    }

    impl io::Read for Counted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.largest = self.largest.max(buf.len());
            let n = buf.len().min(self.left);
            for (i, b) in buf[..n].iter_mut().enumerate() {
                *b = (self.left - i) as u8;
            }
            self.left -= n;
            Ok(n)
        }
    }

    /// The same length and hash as hashing the bytes whole, read in pieces of at most 1 MiB
    /// whatever the size (a 1M-asset router table is a gigabyte).
    #[test]
    fn hash_reader_streams() {
        for len in [0, 1, 65_535, 65_536, 65_537, 5 << 20] {
            let mut whole = Vec::new();
            io::Read::read_to_end(
                &mut Counted {
                    left: len,
                    largest: 0,
                },
                &mut whole,
            )
            .unwrap();
            let mut counted = Counted {
                left: len,
                largest: 0,
            };
            let (size, hash) = hash_reader(&mut counted).unwrap();
            assert_eq!((size, hash), (len as u64, blake3::hash(&whole)), "{len}");
            assert!(
                counted.largest <= 1 << 20,
                "{len}: a read of {}",
                counted.largest
            );
        }
    }

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
            assert_eq!(
                fast.to_entry().unwrap(),
                serde_json::from_str::<Entry>(l).unwrap()
            );
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
        assert_eq!(
            fast.to_entry().unwrap(),
            serde_json::from_str::<Entry>(&two).unwrap()
        );
    }
}
