//! Caddy's form of the ETag table, derived by `matrix-snapshot router caddy` rather than written
//! by every export (issue 19: the export writes each table once, `_routers/etags.txt`).
//!
//! Caddy's router template reads a whole file per `include`, so it cannot look a path up in
//! `etags.txt` (about 95 MB at 5,000 assets `standard`). [`derive_etags`] splits the table
//! into at most 256 shards by the first byte of the SHA-256 of the path (the template computes
//! it with Sprig's `sha256sum`), under `_cache/caddy/<root hash>/<xx>.txt`: outside `_routers/`,
//! so the manifest and the root hash do not list them, and keyed by the root hash, which the
//! template reads from `snapshot.json`, so a shard is never used for another snapshot. A
//! re-export removes `_cache/caddy/` (it owns `_cache/`); until `router caddy` runs again the
//! template sends the body's SHA-256 as the ETag (`"sha256-<hex>"`: right for the bytes, never
//! stale) and a warning header (`docs/hosting/caddy.md`).

use crate::snapshot;
use std::fs;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Where [`derive_etags`] writes the shards of a snapshot, relative to the snapshot directory:
/// `<ETAGS_CACHE_DIR>/<root hash>/<xx>.txt`.
pub const ETAGS_CACHE_DIR: &str = "_cache/caddy";

/// Caddy's template delimiter: `include` parses what it reads as a template, so a file it
/// reads may not hold it.
const OPEN_DELIMITER: &str = "⟦";

/// What [`derive_etags`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    /// The shards' directory (`DIR/_cache/caddy/<root hash>`).
    pub dir: PathBuf,
    /// Whether this call wrote them (`false`: they were there for this root hash already).
    pub written: bool,
}

/// Derives Caddy's ETag shards of the snapshot in `dir` from `_routers/etags.txt` into
/// `_cache/caddy/<root hash>/`, unless they are there already; removes the shards of other
/// root hashes. Written into a temporary directory renamed into place, so the template sees
/// all of them or none. `Err` names the file and what to do.
pub fn derive_etags(dir: &Path) -> io::Result<Derived> {
    let info_path = dir.join(snapshot::INFO_FILE);
    let info_text = fs::read_to_string(&info_path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "reading {}: {e} (export the snapshot first)",
                info_path.display()
            ),
        )
    })?;
    // The template reads the root hash from snapshot.json with `include`, which parses it.
    if info_text.contains(OPEN_DELIMITER) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} holds {OPEN_DELIMITER} (in a store, token or profile name), which Caddy's router template would read as code: rename it and export again, or serve this snapshot with another host",
                info_path.display()
            ),
        ));
    }
    let info = snapshot::read_info(dir).map_err(io::Error::other)?;
    let root = info.root_hash;
    if root.len() != 64 || !root.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: the root hash {root:?} is not 64 lower-case hex digits: export the snapshot again",
                info_path.display()
            ),
        ));
    }
    let cache = dir.join(ETAGS_CACHE_DIR);
    let target = cache.join(&root);
    let context = |what: &str, path: &Path| {
        let (what, path) = (what.to_string(), path.to_path_buf());
        move |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!(
                    "{what} {}: {e} (run router caddy as a user that may write the snapshot directory)",
                    path.display()
                ),
            )
        }
    };
    let written = if target.is_dir() {
        false
    } else {
        fs::create_dir_all(&cache).map_err(context("creating", &cache))?;
        let staging = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(&cache)
            .map_err(context("creating a directory in", &cache))?;
        write_shards(&dir.join(super::ETAGS_FILE), staging.path())?;
        // A temporary directory is private (0700): give it the mode of `_routers/`, so the
        // server's user (`caddy` under Debian's service) reads the shards as it reads the table.
        let routers = dir.join(snapshot::ROUTERS_DIR);
        let mode = fs::metadata(&routers).map_err(context("reading", &routers))?;
        fs::set_permissions(staging.path(), mode.permissions())
            .map_err(context("setting the mode of", staging.path()))?;
        let staged = staging.keep();
        match fs::rename(&staged, &target) {
            Ok(()) => {}
            // Another `router caddy` put the same shards there first.
            Err(_) if target.is_dir() => fs::remove_dir_all(&staged)?,
            Err(e) => return Err(context("renaming into", &target)(e)),
        }
        true
    };
    // The shards of earlier snapshots (an update keeps `_cache/` when nothing removed it).
    for entry in fs::read_dir(&cache).map_err(context("listing", &cache))? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name != root && name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            fs::remove_dir_all(entry.path()).map_err(context("removing", &entry.path()))?;
        }
    }
    Ok(Derived {
        dir: target,
        written,
    })
}

/// Splits the lines of `table` (`<path> "<blake3>";`) into `<out>/<xx>.txt` by the first byte
/// of the SHA-256 of the path, in the table's order (shards are created on their first line).
fn write_shards(table: &Path, out: &Path) -> io::Result<()> {
    use sha2::{Digest, Sha256};
    let file = fs::File::open(table).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "reading {}: {e} (export the snapshot again: every files-layout export writes it)",
                table.display()
            ),
        )
    })?;
    let malformed = |n: usize, why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}:{n}: {why} (want `<path> \"<blake3>\";`): export the snapshot again",
                table.display()
            ),
        )
    };
    // 128 KB buffers: streamed, 256 at most (32 MB), whatever the table's size.
    let mut shards: Vec<Option<BufWriter<fs::File>>> = (0..256).map(|_| None).collect();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    let mut n = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        n += 1;
        if line.last() != Some(&b'\n') {
            return Err(malformed(n, "the last line has no newline"));
        }
        let path_end = memchr::memchr(b' ', &line).ok_or_else(|| malformed(n, "no space"))?;
        if !line[path_end..].ends_with(b"\";\n") || line.get(path_end + 1) != Some(&b'"') {
            return Err(malformed(n, "no quoted hash ended by `;`"));
        }
        let shard = Sha256::digest(&line[..path_end])[0];
        let writer = match &mut shards[shard as usize] {
            Some(w) => w,
            slot => slot.insert(BufWriter::with_capacity(
                128 << 10,
                fs::File::create(out.join(format!("{shard:02x}.txt")))?,
            )),
        };
        writer.write_all(&line)?;
    }
    for w in shards.iter_mut().flatten() {
        w.flush()?;
    }
    Ok(())
}

/// [`derive_etags`]' directory for `root`, for tests and tools: `DIR/_cache/caddy/<root>`.
pub fn etags_dir(dir: &Path, root: &str) -> PathBuf {
    dir.join(ETAGS_CACHE_DIR).join(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal snapshot directory: `snapshot.json` with `root` and `name`, and `etags`.
    fn snapshot_dir(root: &str, name: &str, etags: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let info = format!(
            r#"{{"format": "matrix-snapshot/1", "tool": "t", "store": {{"name": "{name}", "fingerprint": "f"}}, "token": {{"name": "t", "user_id": "1"}}, "root_nodes": [], "base_url": null, "profile": {{}}, "counts": {{"assets": 0, "forbidden": 0, "files": 0, "bytes": 0}}, "root_hash": "{root}"}}"#
        );
        fs::write(dir.path().join(snapshot::INFO_FILE), info).unwrap();
        fs::create_dir_all(dir.path().join("_routers")).unwrap();
        fs::write(dir.path().join(super::super::ETAGS_FILE), etags).unwrap();
        dir
    }

    fn shard_of(path: &str) -> String {
        use sha2::{Digest, Sha256};
        format!("{:02x}.txt", Sha256::digest(path.as_bytes())[0])
    }

    #[test]
    fn shards_hold_each_line_once_by_the_sha256_of_its_path() {
        let lines: Vec<String> = (0..600)
            .map(|i| format!("__api/assets/{i}/~asset.----.json \"{:064x}\";\n", i))
            .collect();
        let root = "a".repeat(64);
        let dir = snapshot_dir(&root, "Uni", &lines.concat());
        let got = derive_etags(dir.path()).unwrap();
        assert_eq!(got.dir, etags_dir(dir.path(), &root));
        assert!(got.written);
        // Readable as `_routers/` is (not the temporary directory's private 0700).
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode();
        fs::set_permissions(
            dir.path().join("_routers"),
            fs::Permissions::from_mode(0o751),
        )
        .unwrap();
        fs::remove_dir_all(&got.dir).unwrap();
        let got = derive_etags(dir.path()).unwrap();
        assert_eq!(mode(&got.dir) & 0o777, 0o751);
        let mut seen = 0;
        for line in &lines {
            let path = line.split(' ').next().unwrap();
            let shard = fs::read_to_string(got.dir.join(shard_of(path))).unwrap();
            assert_eq!(shard.matches(line.as_str()).count(), 1, "{line}");
            seen += 1;
        }
        let total: usize = fs::read_dir(&got.dir)
            .unwrap()
            .map(|e| {
                fs::read_to_string(e.unwrap().path())
                    .unwrap()
                    .lines()
                    .count()
            })
            .sum();
        assert_eq!((seen, total), (600, 600));
        // A second call keeps them; a new root hash replaces them.
        assert!(!derive_etags(dir.path()).unwrap().written);
        let other = "b".repeat(64);
        let info = fs::read_to_string(dir.path().join(snapshot::INFO_FILE)).unwrap();
        fs::write(
            dir.path().join(snapshot::INFO_FILE),
            info.replace(&root, &other),
        )
        .unwrap();
        let again = derive_etags(dir.path()).unwrap();
        assert!(again.written);
        let left: Vec<String> = fs::read_dir(dir.path().join(ETAGS_CACHE_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, [other]);
    }

    #[test]
    fn a_delimiter_in_snapshot_json_or_a_bad_table_is_refused_with_the_file() {
        let root = "c".repeat(64);
        let dir = snapshot_dir(&root, "Uni ⟦x⟧", "");
        let err = derive_etags(dir.path()).unwrap_err().to_string();
        assert!(err.contains("snapshot.json holds ⟦"), "{err}");
        assert!(!dir.path().join(ETAGS_CACHE_DIR).exists());

        let dir = snapshot_dir(&root, "Uni", "__api/x \"00\";\n__api/y 00\n");
        let err = derive_etags(dir.path()).unwrap_err().to_string();
        assert!(err.contains("etags.txt:2: no quoted hash"), "{err}");
        assert!(err.contains("export the snapshot again"), "{err}");
        // Nothing half-written is left under the root hash.
        assert!(!etags_dir(dir.path(), &root).exists());
    }
}
