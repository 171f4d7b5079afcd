//! The per-file lookup tables hosts need besides the routing table (they cannot hash bodies or
//! list files themselves), written from the manifest's entries once an export knows them.

use super::Host;
use crate::snapshot::forbidden;
use crate::snapshot::routes::RouteSpec;
use crate::snapshot::Entry;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Where [`write_tables`] writes the ETag of every 200 file, relative to the snapshot directory.
pub const ETAGS_FILE: &str = "_routers/etags.txt";

/// Writes the lookup tables hosts need besides the routing table, from the manifest's entries
/// (sorted by path): `_routers/etags.txt`, one line per 200 file, `<path under public/>
/// "<blake3>";` — the ETag a host sends with the file (hosts cannot hash bodies themselves).
/// One table for every host that can read it as it is: nginx includes it as the body of a
/// `map` block (which gives the hash without its quotes), Apache's router and the Cloudflare
/// Worker binary-search it, CloudFront's `upload.sh` reads it.
///
/// For the `hosts` written that cannot read it, their own forms of the same facts, each
/// written once: the edge functions' file module (one file, hard-linked for the second host)
/// and CloudFront's key value store. Caddy's shards are derived from `etags.txt` by `router
/// caddy` ([`super::caddy::derive_etags`]), outside `_routers/`.
///
/// `forbidden_urls`: the lines of the forbidden-URL tables (`snapshot::forbidden`, decision
/// D-057), which CloudFront's key value store holds too (its function cannot read S3).
///
/// [`Tables`] writes the same from entries that stream by, one at a time.
pub fn write_tables<E: AsRef<Entry> + Sync>(
    root: &Path,
    routes: &RouteSpec,
    entries: &[E],
    forbidden_urls: &[forbidden::Line],
    hosts: &[&Host],
) -> io::Result<()> {
    let mut tables = Tables::create(root, routes, hosts)?;
    for e in entries {
        tables.add(e.as_ref())?;
    }
    tables.finish(forbidden_urls)
}

/// The tables of [`write_tables`] being written, each file a line at a time as the entries
/// come (sorted by path), so that none is held whole (issue 20: millions of entries).
pub struct Tables<'a> {
    root: &'a Path,
    routes: &'a RouteSpec,
    etags: BufWriter<fs::File>,
    /// The edge hosts' module: written once (the first path), then hard-linked for the rest.
    module: Option<(BufWriter<fs::File>, &'static str, Vec<&'static str>)>,
    /// CloudFront's key value store, and whether a pair was written.
    kvs: Option<(BufWriter<fs::File>, bool)>,
    anchor: String,
}

/// One key of CloudFront's store (serialized as `json!` would, without building a `Value` for
/// each of hundreds of thousands).
#[derive(serde::Serialize)]
struct Pair<'a> {
    key: &'a str,
    value: &'a str,
}

impl<'a> Tables<'a> {
    /// Creates the tables' files under `root` for the `hosts` written.
    pub fn create(
        root: &'a Path,
        routes: &'a RouteSpec,
        hosts: &[&Host],
    ) -> io::Result<Tables<'a>> {
        let has = |name: &str| hosts.iter().any(|h| h.name == name);
        let etags = table_writer(fs::File::create(root.join(ETAGS_FILE))?);
        // The edge hosts' modules hold the same bytes: written once, then hard-linked (copied
        // where links fail), which saves hundreds of MB on large snapshots.
        let modules: Vec<&'static str> = EDGE_FILES_MODULES
            .iter()
            .copied()
            .filter(|rel| has(rel.split('/').nth(1).expect("_routers/<host>/...")))
            .collect();
        let module = match modules.split_first() {
            Some((&first, rest)) => {
                let path = root.join(first);
                fs::create_dir_all(path.parent().expect("has a parent"))?;
                let mut out = table_writer(fs::File::create(&path)?);
                writeln!(
                    out,
                    "// Written by matrix-snapshot export: every file under public/ -> its ETag (200 files) or null."
                )?;
                writeln!(out, "export default {{")?;
                Some((out, first, rest.to_vec()))
            }
            None => None,
        };
        let kvs = if has("cloudfront") {
            let path = root.join(CLOUDFRONT_KVS_FILE);
            fs::create_dir_all(path.parent().expect("has a parent"))?;
            let mut out = table_writer(fs::File::create(path)?);
            out.write_all(b"{\"data\":[")?;
            Some((out, false))
        } else {
            None
        };
        Ok(Tables {
            root,
            routes,
            etags,
            module,
            kvs,
            anchor: format!("/{}", routes.anchor),
        })
    }

    /// The next entry (after every one that sorts before it).
    pub fn add(&mut self, e: &Entry) -> io::Result<()> {
        if e.status == 200 {
            etag_line(&mut self.etags, e)?;
        }
        if let Some((out, _, _)) = &mut self.module {
            files_module_line(out, e)?;
        }
        if let Some((out, any)) = &mut self.kvs {
            let rel = e.path.strip_prefix("public/").unwrap_or(&e.path);
            let mark = if let Some(dir) = rel.strip_suffix(self.anchor.as_str()) {
                Some((dir, "a"))
            } else {
                rel.strip_suffix("/~forbidden.json").map(|dir| (dir, "f"))
            };
            if let Some((key, value)) = mark.filter(|(dir, _)| dir.len() <= 512) {
                kvs_pair(out, any, &Pair { key, value })?;
            }
        }
        Ok(())
    }

    /// Ends the tables (CloudFront's store gets the forbidden URLs' keys and the "not
    /// exported" body) and links the edge module for its second host.
    pub fn finish(self, forbidden_urls: &[forbidden::Line]) -> io::Result<()> {
        let Tables {
            root,
            routes,
            mut etags,
            module,
            kvs,
            anchor: _,
        } = self;
        etags.flush()?;
        if let Some((mut out, first, rest)) = module {
            writeln!(out, "}};")?;
            out.flush()?;
            let written = root.join(first);
            for rel in &rest {
                let path = root.join(rel);
                fs::create_dir_all(path.parent().expect("has a parent"))?;
                if fs::hard_link(&written, &path).is_err() {
                    fs::copy(&written, &path)?;
                }
            }
        }
        if let Some((mut out, mut any)) = kvs {
            for line in forbidden_urls {
                let key = format!("~f{}", forbidden::hex(line));
                kvs_pair(
                    &mut out,
                    &mut any,
                    &Pair {
                        key: &key,
                        value: "f",
                    },
                )?;
            }
            // From the table, not from public/: an incremental export stages only changed bodies.
            let body = String::from_utf8(routes.not_exported_body()).map_err(io::Error::other)?;
            if body.len() <= 1024 {
                kvs_pair(
                    &mut out,
                    &mut any,
                    &Pair {
                        key: "~not-exported",
                        value: &body,
                    },
                )?;
            }
            out.write_all(b"]}\n")?;
            out.flush()?;
        }
        Ok(())
    }
}

/// [`write_tables`]' CloudFront KeyValueStore import file, relative to the snapshot directory.
///
/// `{"data": [{"key", "value"}, ...]}`: each asset directory (path under `public/`) -> `a`
/// when it holds the anchor (a readable asset), `f` when it holds `~forbidden.json`;
/// `~f<line>` -> `f` for each line of the forbidden-URL tables (32 hex digits of a hash, never
/// a URL: decision D-057); and `~not-exported` -> the "not exported" body. Keys over 512 bytes
/// and a body over 1 KB (the store's limits) are left out: the function then asks S3.
pub const CLOUDFRONT_KVS_FILE: &str = "_routers/cloudfront/kvs.json";

/// One pair of CloudFront's store, after a comma if one came before (`any`).
fn kvs_pair(out: &mut impl Write, any: &mut bool, pair: &Pair) -> io::Result<()> {
    if std::mem::replace(any, true) {
        out.write_all(b",")?;
    }
    serde_json::to_writer(out, pair).map_err(io::Error::other)
}

/// [`write_tables`]' file lists for the edge hosts whose functions decide without I/O, relative
/// to the snapshot directory: a JavaScript module beside the function.
pub const EDGE_FILES_MODULES: &[&str] = &[
    "_routers/netlify/netlify/edge-functions/snapshot-files.js",
    "_routers/vercel/snapshot-files.js",
];

/// One line of the ES module whose default export maps every file under `public/` (its path
/// relative to `public/`) to the `ETag` of a 200 file (the quoted blake3), or `null` for the
/// other files (error bodies, forbidden markers): the functions' "does this file exist?".
fn files_module_line(out: &mut impl Write, e: &Entry) -> io::Result<()> {
    // Paths are [a-z0-9_.,~/-] only (encode_segment): nothing to escape in JSON strings.
    if e.status == 200 {
        let hex = e.blake3.to_hex();
        line(
            out,
            &[b"\"", rel(e), b"\": \"\\\"", hex.as_bytes(), b"\\\"\",\n"],
        )
    } else {
        line(out, &[b"\"", rel(e), b"\": null,\n"])
    }
}

/// A table's path for an entry: relative to `public/`.
fn rel(e: &Entry) -> &[u8] {
    e.path.strip_prefix("public/").unwrap_or(&e.path).as_bytes()
}

/// A line of [`ETAGS_FILE`] (Caddy's shards copy them): `<path under public/> "<blake3>";`. The
/// `;` ends an nginx `map` entry (paths are [a-z0-9_.,~/-] only, `encode_segment`, and start
/// with `__api/`: nothing nginx would read as a quote, a regex or a keyword).
fn etag_line(out: &mut impl Write, e: &Entry) -> io::Result<()> {
    line(
        out,
        &[rel(e), b" \"", e.blake3.to_hex().as_bytes(), b"\";\n"],
    )
}

/// The bytes one entry adds to the tables [`write_tables`] writes for `hosts` (`export
/// --dry-run` estimates them from a sample).
pub fn table_bytes(e: &Entry, hosts: &[&Host]) -> u64 {
    let has = |name: &str| hosts.iter().any(|h| h.name == name);
    let rel = rel(e).len() as u64;
    // `<rel> "<64 hex>";\n`
    let etag = rel + 69;
    let mut n = 0;
    if e.status == 200 {
        n += etag;
    }
    if has("netlify") || has("vercel") {
        // `"<rel>": "\"<64 hex>\"",\n` or `"<rel>": null,\n`
        n += rel + if e.status == 200 { 76 } else { 10 };
    }
    n
}

/// A buffered writer for a table of hundreds of thousands of lines.
fn table_writer(file: fs::File) -> BufWriter<fs::File> {
    BufWriter::with_capacity(1 << 20, file)
}

/// Writes one table line from its parts: copied as they are, without `format!`'s machinery,
/// which took most of the tables' time (millions of lines per export).
fn line(out: &mut impl Write, parts: &[&[u8]]) -> io::Result<()> {
    parts.iter().try_for_each(|p| out.write_all(p))
}
