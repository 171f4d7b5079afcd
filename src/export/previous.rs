//! The previous snapshot an export updates: its manifest read back (each line's file, and where
//! the line is in the text so a kept line is copied as it is), split into the entries of the
//! assets taken over without rendering and the files the new ones are compared with.

use super::{inputs, Staged};
use crate::snapshot::{self, Entry};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::fs;
use std::path::Path;

/// How the router files' manifest lines start.
const ROUTERS_PREFIX: &str = "_routers/";

/// The previous snapshot's manifest, as read: every line in manifest order and, when the
/// snapshot recorded them ([`inputs::OWNERS_FILE`]), the asset each line belongs to.
pub struct PreviousManifest {
    text: ManifestText,
    lines: Vec<PreviousLine>,
    /// Per line, the owner's position in the recorded inputs ([`inputs::NO_OWNER`] for none).
    owners: Option<Vec<u32>>,
    root_hash: String,
}

/// The previous manifest's text and where each line is in it: the lines of the assets taken
/// over are copied into the new manifest as they are, not formatted again.
pub struct ManifestText {
    text: String,
    /// Per line, its start in `text` and its length (without the newline).
    spans: Vec<(usize, u32)>,
}

impl ManifestText {
    /// Line `i`, without its newline.
    pub fn line(&self, i: u32) -> &[u8] {
        let (start, len) = self.spans[i as usize];
        &self.text.as_bytes()[start..start + len as usize]
    }
}

/// One line of the previous manifest.
struct PreviousLine {
    /// Its path: where it is in the text (lines as `export` writes them), or the path decoded
    /// from a line written otherwise.
    path: Result<(usize, u32), Box<str>>,
    file: PreviousFile,
    /// The request it answers, for a line that answers exactly one and is not copied.
    request: Option<Box<str>>,
    /// Whether the line is byte for byte what `export` writes for a route file with this path,
    /// request, status, size and hash (then it is copied, and its entry needs no request).
    canonical: bool,
}

/// The previous snapshot's files that this export compares its new files with: the lines of
/// the previous manifest that were not taken over as they were.
pub struct Previous {
    /// Path as in the manifest (`public/…`) → the file. (FxHash: hundreds of thousands of
    /// lookups by trusted keys, where SipHash's DoS resistance buys nothing.)
    pub(super) files: FxHashMap<Box<str>, PreviousFile>,
    /// Its root hash (blake3 of `manifest.jsonl`, from `snapshot.json`).
    pub(super) root_hash: String,
    /// Its text, from which the lines taken over are copied.
    pub text: ManifestText,
}

/// One file of the previous manifest.
#[derive(Clone, Copy)]
pub(super) struct PreviousFile {
    pub(super) blake3: [u8; 32],
    status: u16,
    size: u64,
    /// Whether it answers exactly one request (every route file does).
    single: bool,
    /// `export --repair` found the file missing or other than this line says: it is written
    /// again whatever its new hash.
    pub(super) damaged: bool,
}

impl PreviousFile {
    /// Whether the file holds the body with this hash (and was not found damaged).
    pub(super) fn holds(&self, hash: &blake3::Hash) -> bool {
        !self.damaged && self.blake3 == *hash.as_bytes()
    }
}

/// A previous manifest line's file, from its fields.
fn previous_file(
    hash: blake3::Hash,
    requests: usize,
    status: u16,
    size: u64,
) -> Option<PreviousFile> {
    Some(PreviousFile {
        blake3: *hash.as_bytes(),
        status,
        size,
        single: requests == 1,
        damaged: false,
    })
}

/// One previous manifest line, read (`start`: where it is in the text).
fn previous_line(line: &str, start: usize) -> Option<PreviousLine> {
    let Some(l) = snapshot::manifest::parse_line_fast(line) else {
        // Not as export writes lines (rare): the same reader as verify's.
        let l: Entry = serde_json::from_str(line).ok()?;
        let file = previous_file(l.blake3, l.requests.len(), l.status, l.size)?;
        let request = match <[String; 1]>::try_from(l.requests) {
            Ok([r]) => Some(r.into_boxed_str()),
            Err(_) => None,
        };
        return Some(PreviousLine {
            path: Err(l.path.into_boxed_str()),
            file,
            request,
            canonical: false,
        });
    };
    let hash = blake3::Hash::from_hex(l.blake3).ok()?;
    let file = previous_file(hash, l.requests.len(), l.status, l.size)?;
    // The path is the line's first string: it starts after `{"path":"`.
    let offset = l.path.as_ptr() as usize - line.as_ptr() as usize;
    let canonical = file.single && l.content_type == crate::api::response::CONTENT_TYPE;
    Some(PreviousLine {
        path: Ok((start + offset, l.path.len() as u32)),
        request: match l.requests[..] {
            [one] if !canonical => Some(one.into()),
            _ => None,
        },
        canonical,
        file,
    })
}

impl PreviousManifest {
    /// Reads `DIR/manifest.jsonl` of a snapshot in the current format; `None` when `dir` holds
    /// no such snapshot (then the export is a full one).
    pub fn load(dir: &Path) -> Option<PreviousManifest> {
        // read_info checks the format: a snapshot of another version is rebuilt in full.
        let info = snapshot::read_info(dir).ok()?;
        let text = fs::read_to_string(dir.join(snapshot::MANIFEST_FILE)).ok()?;
        let (text, lines) = Self::parse(text)?;
        let owners = inputs::load_owners(dir, &info.root_hash, lines.len());
        Some(PreviousManifest {
            text,
            lines,
            owners,
            root_hash: info.root_hash,
        })
    }

    /// The lines of a manifest's text (`None` if one is not a manifest line).
    fn parse(text: String) -> Option<(ManifestText, Vec<PreviousLine>)> {
        // Parsed in parallel: hundreds of MB on large snapshots.
        let base = text.as_ptr() as usize;
        let spans: Vec<(usize, u32)> = text
            .lines()
            .map(|l| (l.as_ptr() as usize - base, l.len() as u32))
            .collect();
        let lines: Option<Vec<PreviousLine>> = spans
            .par_iter()
            .map(|&(start, len)| previous_line(&text[start..start + len as usize], start))
            .collect();
        Some((ManifestText { text, spans }, lines?))
    }

    /// Every line's path and blake3, in manifest order.
    pub fn files(&self) -> impl Iterator<Item = (&str, [u8; 32])> {
        self.lines.iter().map(|l| {
            let path = match &l.path {
                Ok((start, len)) => &self.text.text[*start..*start + *len as usize],
                Err(path) => path,
            };
            (path, l.file.blake3)
        })
    }

    /// `export --repair`: checks every file the manifest lists in `dir` against its line and
    /// marks the damaged ones, which the export then writes again (their owners are rendered,
    /// not taken over). A manifest that no longer hashes to the root hash is reported instead
    /// (nothing it lists can be trusted: the caller rebuilds in full).
    pub fn repair(&mut self, dir: &Path, layout: snapshot::Layout) -> super::repair::Repair {
        use super::repair::{damaged, Listed, Repair};
        if blake3::hash(self.text.text.as_bytes()).to_hex().as_str() != self.root_hash {
            return Repair {
                manifest_changed: true,
                rebuilt: true,
                ..Repair::default()
            };
        }
        if layout == snapshot::Layout::Pack {
            // Its bodies are in packs: rebuilt whole (`verify` names a damaged pack or shard).
            return Repair {
                rebuilt: true,
                ..Repair::default()
            };
        }
        let text = &self.text.text;
        let files: Vec<Listed> = self
            .lines
            .iter()
            .map(|l| Listed {
                path: match &l.path {
                    Ok((start, len)) => &text[*start..*start + *len as usize],
                    Err(path) => path,
                },
                size: l.file.size,
                blake3: l.file.blake3,
            })
            .collect();
        let found = damaged(dir, &files);
        let mut report = Repair {
            checked: files.len() as u64,
            damaged: files
                .iter()
                .zip(&found)
                .filter(|(_, &d)| d)
                .map(|(f, _)| f.path.to_string())
                .collect(),
            manifest_changed: false,
            rebuilt: false,
        };
        report.damaged.sort();
        drop(files);
        for (l, d) in self.lines.iter_mut().zip(found) {
            l.file.damaged = d;
        }
        report
    }

    /// Whether the snapshot recorded the owner of each line (then unchanged assets can be
    /// taken over without rendering).
    pub fn has_owners(&self) -> bool {
        self.owners.is_some()
    }

    /// Splits off the lines of the assets taken over as they were: `kept_as[pos]` is the index
    /// now of the asset at position `pos` of the recorded inputs when its inputs did not change,
    /// else [`inputs::NO_OWNER`]. Returns their entries (in manifest order, so sorted) and the
    /// rest, which the files written this time are compared with.
    pub fn split(self, kept_as: &[u32]) -> (Vec<Staged>, Previous) {
        let PreviousManifest {
            text,
            lines,
            owners,
            root_hash,
        } = self;
        let mut kept_as = kept_as.to_vec();
        let owners = owners.unwrap_or_else(|| vec![inputs::NO_OWNER; lines.len()]);
        // A kept asset must own only single-request lines (route files); anything else means
        // the recorded files do not belong together: render that asset again.
        for (l, &o) in lines.iter().zip(&owners) {
            if !l.file.single || l.file.damaged {
                if let Some(k) = kept_as.get_mut(o as usize) {
                    *k = inputs::NO_OWNER;
                }
            }
        }
        let kept_owner = |o: u32| {
            kept_as
                .get(o as usize)
                .copied()
                .filter(|&a| a != inputs::NO_OWNER)
        };
        let path_of = |p: &Result<(usize, u32), Box<str>>| -> Box<str> {
            match p {
                Ok((start, len)) => text.text[*start..*start + *len as usize].into(),
                Err(path) => path.clone(),
            }
        };
        // The kept lines' entries, in parallel (a path copied for each); in order.
        let kept: Vec<Staged> = lines
            .par_iter()
            .zip(&owners)
            .enumerate()
            .filter_map(|(i, (l, &o))| {
                let a = kept_owner(o)?;
                // A canonical line is copied as it is: its request is not needed. (A kept
                // line answers exactly one request: see above.)
                let (requests, line) = match &l.request {
                    _ if l.canonical => (Vec::new(), i as u32),
                    request => (
                        request.iter().map(|r| r.to_string()).collect(),
                        super::NO_LINE,
                    ),
                };
                Some(Staged {
                    entry: Entry {
                        path: path_of(&l.path).into(),
                        requests,
                        status: l.file.status,
                        content_type: snapshot::ContentType::Json,
                        size: l.file.size,
                        blake3: blake3::Hash::from(l.file.blake3),
                    },
                    owner: a,
                    previous_line: line,
                })
            })
            .collect();
        let mut files =
            FxHashMap::with_capacity_and_hasher(lines.len() - kept.len(), Default::default());
        for (l, &o) in lines.iter().zip(&owners) {
            if kept_owner(o).is_none() {
                let path = path_of(&l.path);
                // The router files' lines (`_routers/…`) are compared as meta files, byte for
                // byte (`changes::meta_changes`), not as route files.
                if !path.starts_with(ROUTERS_PREFIX) {
                    files.insert(path, l.file);
                }
            }
        }
        super::drop_in_background(lines);
        (
            kept,
            Previous {
                files,
                root_hash,
                text,
            },
        )
    }
}

impl Previous {
    /// Whether the previous snapshot holds `rel` (under `public/`) with this body.
    pub fn unchanged(&self, rel: &str, hash: &blake3::Hash) -> bool {
        let mut key = String::with_capacity(rel.len() + 7);
        key.push_str(snapshot::PUBLIC_DIR);
        key.push('/');
        key.push_str(rel);
        self.files.get(key.as_str()).is_some_and(|f| f.holds(hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest line as `export` writes it.
    fn line(path: &str, requests: usize, byte: u8) -> String {
        let e = Entry {
            path: path.into(),
            requests: (0..requests)
                .map(|i| format!("/__api/{path}?{i}"))
                .collect(),
            status: 200,
            content_type: snapshot::ContentType::Json,
            size: 3,
            blake3: blake3::Hash::from([byte; 32]),
        };
        serde_json::to_string(&e).unwrap()
    }

    /// The lines of assets kept as they were become entries owned by the asset's index now;
    /// the rest is what the new files are compared with.
    #[test]
    fn split_takes_over_the_lines_of_kept_assets_only() {
        let lines = [
            line("public/a/1", 1, 1),
            // Not as export writes it (spaces): read as JSON, its request decoded.
            line("public/a/2", 1, 2).replace(",", ", "),
            // Read fast, but another content type: not copied either.
            line("public/a/3", 1, 7).replace("application/json", "text/plain"),
            line("public/b/1", 1, 3),
            line("public/errors/404", 0, 4),
            line("public/c/1", 1, 5),
            line("public/c/2", 2, 6),
        ];
        let prev = || {
            let (text, lines) = PreviousManifest::parse(lines.join("\n") + "\n").unwrap();
            PreviousManifest {
                text,
                lines,
                owners: Some(vec![0, 0, 0, 1, inputs::NO_OWNER, 2, 2]),
                root_hash: "r".into(),
            }
        };
        // Recorded positions 0 (a) and 2 (c) kept, as assets 10 and 12; b rendered again.
        let (kept, rest) = prev().split(&[10, inputs::NO_OWNER, 12]);
        let owners: Vec<(&str, u32)> = kept.iter().map(|e| (e.path.as_str(), e.owner)).collect();
        // c owns a line that answers two requests: not a route file set this tool wrote, so
        // c is rendered again rather than trusted.
        assert_eq!(
            owners,
            [("public/a/1", 10), ("public/a/2", 10), ("public/a/3", 10)]
        );
        // The canonical line is copied as it is; the others are formatted again, in full.
        assert_eq!(kept[0].previous_line, 0);
        assert_eq!(rest.text.line(0), lines[0].as_bytes());
        assert!(kept[0].requests.is_empty());
        for (e, byte) in [(&kept[1], 2), (&kept[2], 7)] {
            assert_eq!(e.previous_line, super::super::NO_LINE);
            assert_eq!(
                serde_json::to_string(&e.entry).unwrap(),
                line(&e.path, 1, byte)
            );
        }
        let mut rest: Vec<&str> = rest.files.keys().map(|k| k.as_ref()).collect();
        rest.sort();
        assert_eq!(
            rest,
            [
                "public/b/1",
                "public/c/1",
                "public/c/2",
                "public/errors/404"
            ]
        );
        // Without recorded owners nothing is taken over.
        let mut no_owners = prev();
        no_owners.owners = None;
        let (kept, rest) = no_owners.split(&[10, 11, 12]);
        assert!(kept.is_empty());
        assert_eq!(rest.files.len(), 7);
    }
}
