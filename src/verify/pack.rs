//! `verify` of a pack snapshot: every manifest line found through the index and its bytes
//! checked (length, blake3, and the index's SHA-256 prefix); every shard against its name;
//! every pack the root names present; nothing else under `public/`.
//!
//! Bounded memory whatever the snapshot's size (issue 20): [`Check::open`] reads the index and
//! then each pack the index points into, once, whole, hashing each distinct body it holds
//! (an index entry's pack, offset and length) into 32 bytes (16 of blake3, the 8 of the
//! `ETag`'s SHA-256, where it is); the manifest is then streamed through [`Check::lines`] a
//! chunk at a time, each line looked up in its shard and compared with its body's hashes.
//! What it holds: the shards (28 bytes an index entry), 32 bytes a distinct body, one chunk of
//! lines, and the problems found.

use super::{Problem, Report};
use crate::snapshot::pack::{self, Loc, Shard};
use crate::snapshot::{self, Entry};
use rayon::prelude::*;
use rustc_hash::FxHashSet;
use std::fs;
use std::path::{Path, PathBuf};

/// One distinct body of a pack, hashed: what every line whose index entry points at it is
/// compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Body {
    offset: u32,
    length: u32,
    /// The first 16 bytes of its blake3.
    blake3: [u8; 16],
    /// The first 8 bytes of its SHA-256 (what the index entry's `ETag` must be).
    etag: [u8; 8],
}

/// What a pack the index points into holds.
enum PackBodies {
    /// `root.json` names no pack at that position.
    NotListed,
    /// It could not be read (`path: why`).
    Unreadable(String),
    /// Read: its file (under the snapshot), its length, and its bodies that the index points
    /// at and that lie within it, sorted by (offset, length). An entry pointing past its end is
    /// not among them: the pack is truncated.
    Read {
        file: String,
        len: u64,
        bodies: Vec<Body>,
    },
}

/// `root.json` read, its shards and the packs they point into.
struct Index {
    root: pack::Root,
    /// By position: the shard, or `Err` when it is damaged (named among the problems).
    shards: Vec<Result<Shard, ()>>,
    /// The overlay's shards, by position, likewise (none without an overlay).
    overlay: Vec<Result<Shard, ()>>,
    /// By pack position (as index entries name them).
    packs: Vec<PackBodies>,
}

/// A pack snapshot's web root being checked against its manifest, streamed: [`Check::open`],
/// then [`Check::lines`] for each chunk of route lines in manifest order, then
/// [`Check::finish`].
pub(super) struct Check {
    dir: PathBuf,
    /// `None` when `root.json` cannot be read (then that is the one problem, and no line is
    /// checked).
    index: Option<Index>,
    /// Problems of the snapshot as a whole found when opening (root, shards), first.
    head: Vec<Problem>,
    /// The lines' problems, in manifest order.
    per_line: Vec<Problem>,
    /// Route lines checked.
    listed: u64,
    /// Bytes the lines found in a readable pack serve.
    served: u64,
    /// Bytes of packs read.
    read: u64,
}

/// `public/<rel>`.
fn in_public(rel: &str) -> String {
    format!("{}/{rel}", snapshot::PUBLIC_DIR)
}

impl Check {
    /// Reads the root, every shard (each against its name) and every pack an index entry points
    /// into (each once, in parallel), hashing each distinct body.
    pub(super) fn open(dir: &Path) -> Check {
        let mut check = Check {
            dir: dir.to_path_buf(),
            index: None,
            head: Vec::new(),
            per_line: Vec::new(),
            listed: 0,
            served: 0,
            read: 0,
        };
        let public = dir.join(snapshot::PUBLIC_DIR);
        let root = fs::read(public.join(pack::ROOT_FILE))
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                pack::Root::parse(&public.join(pack::ROOT_FILE), &bytes).map_err(|e| e.to_string())
            });
        let root = match root {
            Ok(root) => root,
            Err(error) => {
                check.head.push(Problem::Unreadable {
                    path: in_public(pack::ROOT_FILE),
                    error,
                });
                return check;
            }
        };
        // The shards (the base's, then the overlay's), each checked against its name.
        let read = |names: &[String]| -> Vec<Result<Shard, String>> {
            names
                .par_iter()
                .map(|name| {
                    let file = pack::shard_file(name);
                    fs::read(public.join(&file))
                        .map_err(|e| e.to_string())
                        .and_then(|b| Shard::parse(b, Some(name)))
                        .map_err(|e| format!("{}: {e}", in_public(&file)))
                })
                .collect()
        };
        let shards = read(&root.shards);
        let overlay = read(root.overlay.as_ref().map_or(&[][..], |o| &o.shards));
        let mut bad: Vec<&String> = shards
            .iter()
            .chain(&overlay)
            .filter_map(|s| s.as_ref().err())
            .collect();
        bad.sort();
        bad.dedup();
        for e in bad {
            let (path, error) = e.split_once(": ").unwrap_or((e, ""));
            check.head.push(Problem::Unreadable {
                path: path.to_string(),
                error: error.to_string(),
            });
        }
        let checked = |s: Vec<Result<Shard, String>>| -> Vec<Result<Shard, ()>> {
            s.into_iter().map(|s| s.map_err(|_| ())).collect()
        };
        let (shards, overlay) = (checked(shards), checked(overlay));
        // The distinct bodies the index points at, by pack: (offset, length).
        let mut wanted: Vec<Vec<(u32, u32)>> = vec![Vec::new(); root.packs.len()];
        for shard in shards.iter().chain(&overlay).flatten() {
            for r in shard.records().filter(|r| !r.is_deleted()) {
                if let Some(w) = wanted.get_mut(r.loc.pack as usize) {
                    w.push((r.loc.offset, r.loc.length));
                }
            }
        }
        // Each pack read once, whole, and each of its distinct bodies hashed once.
        let packs: Vec<PackBodies> = wanted
            .into_par_iter()
            .zip(&root.packs)
            .map(|(mut wanted, name)| {
                let Some(name) = name else {
                    return PackBodies::NotListed;
                };
                let file = in_public(&pack::pack_file(name));
                if wanted.is_empty() {
                    // Nothing points into it: not read (it is still checked to be there).
                    return PackBodies::Read {
                        file,
                        len: 0,
                        bodies: Vec::new(),
                    };
                }
                let bytes = match fs::read(dir.join(&file)) {
                    Ok(bytes) => bytes,
                    Err(e) => return PackBodies::Unreadable(format!("{file}: {e}")),
                };
                wanted.sort_unstable();
                wanted.dedup();
                let bodies = wanted
                    .into_iter()
                    .filter_map(|(offset, length)| {
                        let body = bytes.get(offset as usize..offset as usize + length as usize)?;
                        Some(Body {
                            offset,
                            length,
                            blake3: blake3::hash(body).as_bytes()[..16]
                                .try_into()
                                .expect("16 bytes"),
                            etag: pack::body_etag(body),
                        })
                    })
                    .collect();
                PackBodies::Read {
                    file,
                    len: bytes.len() as u64,
                    bodies,
                }
            })
            .collect();
        check.read = packs
            .iter()
            .map(|p| match p {
                PackBodies::Read { len, .. } => *len,
                _ => 0,
            })
            .sum();
        check.index = Some(Index {
            root,
            shards,
            overlay,
            packs,
        });
        check
    }

    /// Checks the next `lines` of the manifest (route files of the web root, safe paths, in
    /// manifest order) against the index and the bodies.
    pub(super) fn lines(&mut self, lines: &[Entry]) {
        self.listed += lines.len() as u64;
        let Some(index) = &self.index else {
            return;
        };
        let checked: Vec<(u64, Option<Problem>)> =
            lines.par_iter().map(|l| index.line(l)).collect();
        for (served, problem) in checked {
            self.served += served;
            self.per_line.extend(problem);
        }
    }

    /// Adds what was found to `report`: the root's and shards' problems, the lines' (in
    /// manifest order), the count the root records, files nobody listed, packs gone.
    pub(super) fn finish(self, report: &mut Report) {
        let Check {
            dir,
            index,
            head,
            per_line,
            listed,
            served,
            read,
        } = self;
        report.problems.extend(head);
        let Some(Index {
            root,
            shards,
            overlay,
            packs,
        }) = index
        else {
            return;
        };
        report.files = listed;
        drop(packs);
        report.bytes += served;
        report.bytes_read += read;
        let distinct: FxHashSet<&str> = root.all_shards().map(String::as_str).collect();
        report.inodes = (distinct.len() + root.packs.iter().flatten().count()) as u64;
        report.problems.extend(per_line);
        let all_shards_ok = shards.iter().chain(&overlay).all(Result::is_ok);
        let indexed = match all_shards_ok {
            true => effective_entries(&root, &shards, &overlay),
            false => 0,
        };
        drop((shards, overlay));
        if all_shards_ok && (indexed as u64 != root.entries || listed > root.entries) {
            report.problems.push(Problem::Unreadable {
                path: in_public(pack::ROOT_FILE),
                error: format!(
                    "it counts {} index entries, the shards hold {indexed} and the manifest lists {listed}",
                    root.entries,
                ),
            });
        }
        // Anything else under public/: not written by export.
        let mut known: FxHashSet<String> = root
            .all_shards()
            .map(|n| in_public(&pack::shard_file(n)))
            .chain(
                root.packs
                    .iter()
                    .flatten()
                    .map(|n| in_public(&pack::pack_file(n))),
            )
            .collect();
        known.insert(in_public(pack::ROOT_FILE));
        let public = dir.join(snapshot::PUBLIC_DIR);
        let mut extra: Vec<String> = walkdir::WalkDir::new(&public)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| !e.file_type().is_dir())
            .map(|e| {
                let rel = e.path().strip_prefix(&dir).expect("under dir");
                rel.to_string_lossy().into_owned()
            })
            .filter(|p| !known.contains(p))
            .collect();
        extra.sort();
        report
            .problems
            .extend(extra.into_iter().map(Problem::Extra));
        // Packs the root names but that are gone.
        for name in root.packs.iter().flatten() {
            let file = in_public(&pack::pack_file(name));
            if !dir.join(&file).is_file() {
                report.problems.push(Problem::Missing(file));
            }
        }
    }

    /// What the check holds besides the chunk being checked: the shards, the distinct bodies,
    /// the problems found (an estimate, in bytes: what issue 20 bounds).
    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        let Some(index) = &self.index else {
            return 0;
        };
        let shards: usize = index.shards.iter().flatten().map(|s| s.bytes().len()).sum();
        let bodies: usize = index
            .packs
            .iter()
            .map(|p| match p {
                PackBodies::Read { bodies, .. } => bodies.len() * std::mem::size_of::<Body>(),
                _ => 0,
            })
            .sum();
        shards + bodies + self.per_line.len() * std::mem::size_of::<Problem>()
    }
}

/// The entries of the index: those of each distinct base shard (a shard named twice, an empty
/// one, counts once), less the keys the overlay deletes, plus the keys it adds. (An overlay
/// record's base shard is one of the `2^(shard_bits - overlay bits)` its overlay shard covers.)
fn effective_entries(
    root: &pack::Root,
    shards: &[Result<Shard, ()>],
    overlay: &[Result<Shard, ()>],
) -> usize {
    let mut seen: FxHashSet<&str> = FxHashSet::default();
    let base: usize = root
        .shards
        .iter()
        .zip(shards)
        .filter(|(n, _)| seen.insert(n.as_str()))
        .filter_map(|(_, s)| s.as_ref().ok())
        .map(Shard::len)
        .sum();
    let Some(o) = &root.overlay else {
        return base;
    };
    let span = 1usize << (root.shard_bits - o.bits);
    let (mut added, mut deleted) = (0, 0);
    for (j, shard) in overlay.iter().enumerate() {
        let Ok(shard) = shard else { continue };
        for r in shard.records() {
            let in_base = shards[j * span..(j + 1) * span]
                .iter()
                .flatten()
                .any(|s| s.find(&r.key).is_some());
            match (r.is_deleted(), in_base) {
                (true, true) => deleted += 1,
                (false, false) => added += 1,
                _ => {}
            }
        }
    }
    (base + added).saturating_sub(deleted)
}

impl Index {
    /// One line checked: the bytes it serves (when its pack could be read) and its problem.
    fn line(&self, l: &Entry) -> (u64, Option<Problem>) {
        let unreadable = |error: String| {
            Some(Problem::Unreadable {
                path: l.path.clone(),
                error,
            })
        };
        let key = l.path.strip_prefix("public/").unwrap_or(&l.path);
        let (base, overlay) = self.root.shards_of(key);
        let damaged = || unreadable("its index shard is damaged (above)".into());
        let overlay = match overlay.map(|o| &self.overlay[o as usize]) {
            Some(Err(())) => return (0, damaged()),
            Some(Ok(shard)) => Some(shard),
            None => None,
        };
        let found = pack::find_layered(overlay, &pack::key_hash(key), || {
            self.shards[base as usize].as_ref()
        });
        let Ok(found) = found else {
            return (0, damaged());
        };
        let Some(loc) = found else {
            return (0, Some(Problem::Missing(l.path.clone())));
        };
        let Loc {
            pack: p,
            offset,
            length,
            etag,
        } = loc;
        let (file, len, bodies) = match self.packs.get(p as usize) {
            None | Some(PackBodies::NotListed) => {
                return (
                    0,
                    unreadable(format!(
                        "its index entry names pack {p}, which root.json does not list"
                    )),
                )
            }
            Some(PackBodies::Unreadable(error)) => return (0, unreadable(error.clone())),
            Some(PackBodies::Read { file, len, bodies }) => (file, *len, bodies),
        };
        if u64::from(length) != l.size {
            return (
                l.size,
                Some(Problem::Size {
                    path: l.path.clone(),
                    listed: l.size,
                    actual: u64::from(length),
                }),
            );
        }
        let end = u64::from(offset) + u64::from(length);
        let body = bodies
            .binary_search_by_key(&(offset, length), |b| (b.offset, b.length))
            .ok()
            .map(|i| &bodies[i]);
        let problem = match body {
            // Every body the index points at within the pack was hashed: this one is past
            // its end.
            None => unreadable(format!(
                "{file} is truncated ({len} bytes, the body ends at {end})"
            )),
            Some(b) if b.blake3[..] != l.blake3.as_bytes()[..16] || b.etag != etag => unreadable(
                format!("{file}: its bytes at {offset}..{end} changed (hash differs)"),
            ),
            Some(_) => None,
        };
        (l.size, problem)
    }
}

#[cfg(test)]
mod tests {
    use super::super::verify;
    use super::*;
    use crate::export;
    use rustc_hash::FxHashMap;

    /// The fixture store exported (`pub`, minimal profile) into `out`, in the pack layout with
    /// small packs (several of them).
    fn exported(out: &Path) {
        super::super::tests::exported_in(
            out,
            export::LayoutOptions {
                layout: snapshot::Layout::Pack,
                pack_size: 2048,
            },
        );
    }

    /// The route lines of the manifest: (path, blake3 hex).
    fn routes(out: &Path) -> Vec<(String, String)> {
        fs::read_to_string(out.join(snapshot::MANIFEST_FILE))
            .expect("manifest")
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("line"))
            .filter(|v| v["path"].as_str().unwrap().starts_with("public/"))
            .map(|v| {
                (
                    v["path"].as_str().unwrap().to_string(),
                    v["blake3"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Issue 20: the check holds the index and 32 bytes a distinct body, not the lines: many
    /// lines share a body (the 403 markers), and the lines are streamed (7 a chunk in unit
    /// tests) without growing what it holds.
    #[test]
    fn holds_the_index_and_distinct_bodies_not_the_lines() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let out = tmp.path().join("snap");
        exported(&out);
        let mut check = Check::open(&out);
        assert!(check.head.is_empty(), "{:?}", check.head);
        let held = check.held_bytes();
        let index = check.index.as_ref().expect("root read");
        let entries: usize = index.shards.iter().flatten().map(Shard::len).sum();
        let bodies: usize = index
            .packs
            .iter()
            .map(|p| match p {
                PackBodies::Read { bodies, .. } => bodies.len(),
                _ => 0,
            })
            .sum();
        assert!(bodies < entries / 2, "{bodies} bodies, {entries} entries");
        assert_eq!(
            held,
            pack::HEADER * index.shards.len() + entries * pack::RECORD + bodies * 32
        );
        let mut listed = 0;
        snapshot::stream_manifest(&out, snapshot::MANIFEST_CHUNK, |lines, _| {
            let routes: Vec<Entry> = lines.into_iter().filter(|l| !l.is_router_file()).collect();
            listed += routes.len();
            check.lines(&routes);
            Ok(())
        })
        .expect("manifest");
        assert!(listed > 3 * snapshot::MANIFEST_CHUNK);
        assert_eq!(check.held_bytes(), held, "nothing kept per line");
        let mut report = Report::default();
        check.finish(&mut report);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.files, listed as u64);
    }

    /// Each damaged object named, in the order verify reports them: a damaged shard first,
    /// then each line in manifest order (the routes of a body altered in its pack, those past
    /// the end of a truncated pack, those of a deleted pack; once a shard is damaged too, its
    /// routes are named for it), then an unlisted file and the deleted pack.
    #[test]
    fn names_each_damaged_object() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let out = tmp.path().join("snap");
        exported(&out);
        let public = out.join(snapshot::PUBLIC_DIR);
        let reader = pack::Reader::open(pack::DirSource(public.clone()), &public).expect("open");
        let root = reader.root.clone();
        assert!(root.packs.len() >= 4, "{:?}", root.packs);
        let routes = routes(&out);
        let key = |p: &str| p.strip_prefix("public/").unwrap().to_string();
        // Where each route's body is, read before anything is damaged.
        let locs: FxHashMap<&str, Loc> = routes
            .iter()
            .map(|(p, _)| {
                (
                    p.as_str(),
                    reader.lookup(&key(p)).expect("lookup").expect("indexed"),
                )
            })
            .collect();
        let loc = |p: &str| locs[p];
        let shard_of = |p: &str| pack::shard_of(&key(p), root.shard_bits) as usize;
        let pack_path =
            |p: u32| public.join(pack::pack_file(root.packs[p as usize].as_deref().unwrap()));
        let pack_rel =
            |p: u32| in_public(&pack::pack_file(root.packs[p as usize].as_deref().unwrap()));
        // The packs of the first routes: one altered, one truncated, one deleted.
        let mut packs: Vec<u32> = Vec::new();
        for (p, _) in &routes {
            let l = loc(p);
            if !packs.contains(&l.pack) {
                packs.push(l.pack);
            }
        }
        let (altered, truncated, deleted) = (packs[0], packs[1], packs[2]);
        // The body altered: one of those of the first route in that pack.
        let victim = routes.iter().find(|(p, _)| loc(p).pack == altered).unwrap();
        let vloc = loc(&victim.0);
        let mut bytes = fs::read(pack_path(altered)).unwrap();
        bytes[vloc.offset as usize] ^= 0x20;
        fs::write(pack_path(altered), &bytes).unwrap();
        // Truncated: its last body cut.
        let tbytes = fs::read(pack_path(truncated)).unwrap();
        let cut = tbytes.len() - 1;
        fs::write(pack_path(truncated), &tbytes[..cut]).unwrap();
        fs::remove_file(pack_path(deleted)).unwrap();
        fs::write(public.join("extra.json"), b"{}").unwrap();
        // What verify must say, with the shard `damaged_shard` damaged too.
        let want = |damaged_shard: Option<usize>| {
            let mut want: Vec<Problem> = damaged_shard
                .map(|s| Problem::Unreadable {
                    path: in_public(&pack::shard_file(&root.shards[s])),
                    error: format!(
                        "its bytes do not match its name {} (altered)",
                        root.shards[s]
                    ),
                })
                .into_iter()
                .collect();
            for (p, hash) in &routes {
                let l = loc(p);
                let end = u64::from(l.offset) + u64::from(l.length);
                let unreadable = |error: String| Problem::Unreadable {
                    path: p.clone(),
                    error,
                };
                if Some(shard_of(p)) == damaged_shard {
                    want.push(unreadable("its index shard is damaged (above)".into()));
                } else if l.pack == deleted {
                    want.push(unreadable(format!(
                        "{}: No such file or directory (os error 2)",
                        pack_rel(deleted)
                    )));
                } else if l.pack == truncated && end > cut as u64 {
                    want.push(unreadable(format!(
                        "{} is truncated ({cut} bytes, the body ends at {end})",
                        pack_rel(truncated)
                    )));
                } else if l.pack == altered && l.offset == vloc.offset && l.length == vloc.length {
                    assert_eq!(*hash, victim.1);
                    want.push(unreadable(format!(
                        "{}: its bytes at {}..{end} changed (hash differs)",
                        pack_rel(altered),
                        l.offset
                    )));
                }
            }
            want.push(Problem::Extra(in_public("extra.json")));
            want.push(Problem::Missing(pack_rel(deleted)));
            want
        };
        let r = verify(&out).expect("verify");
        let packs_damaged = want(None);
        assert!(packs_damaged.len() > 5, "{packs_damaged:?}");
        assert_eq!(r.problems, packs_damaged);
        // The shard of the first route damaged as well: its routes are named for it.
        let damaged_shard = shard_of(&routes[0].0);
        let shard_path = public.join(pack::shard_file(&root.shards[damaged_shard]));
        let mut sbytes = fs::read(&shard_path).unwrap();
        let last = sbytes.len() - 1;
        sbytes[last] ^= 1;
        fs::write(&shard_path, &sbytes).unwrap();
        let r = verify(&out).expect("verify");
        assert_eq!(r.problems, want(Some(damaged_shard)));
    }
}
