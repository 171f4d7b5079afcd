//! `verify` of a pack snapshot: every manifest line found through the index and its bytes
//! checked (length, blake3, and the index's SHA-256 prefix); every shard against its name;
//! every pack the root names present; nothing else under `public/`. Each pack is read once,
//! whole, and each distinct body in it hashed once.

use super::{Problem, Report};
use crate::snapshot::pack::{self, Loc, Shard};
use crate::snapshot::{self, Entry};
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use std::fs;
use std::path::Path;

/// One pack checked: bytes read, bytes its lines serve, the problems of its lines.
type PackChecked = (u64, u64, Vec<(usize, Problem)>);

/// Checks the web root of the pack snapshot `dir` against `lines` (safe paths only), adding
/// what is wrong to `report`.
pub(super) fn check(dir: &Path, lines: &[Entry], report: &mut Report) {
    let public = dir.join(snapshot::PUBLIC_DIR);
    let in_public = |rel: &str| format!("{}/{rel}", snapshot::PUBLIC_DIR);
    let root_bytes = match fs::read(public.join(pack::ROOT_FILE)) {
        Ok(b) => b,
        Err(e) => {
            report.problems.push(Problem::Unreadable {
                path: in_public(pack::ROOT_FILE),
                error: e.to_string(),
            });
            return;
        }
    };
    let root = match pack::Root::parse(&public.join(pack::ROOT_FILE), &root_bytes) {
        Ok(r) => r,
        Err(e) => {
            report.problems.push(Problem::Unreadable {
                path: in_public(pack::ROOT_FILE),
                error: e.to_string(),
            });
            return;
        }
    };
    // The shards, each checked against its name.
    let shards: Vec<Result<Shard, String>> = root
        .shards
        .par_iter()
        .map(|name| {
            let file = pack::shard_file(name);
            fs::read(public.join(&file))
                .map_err(|e| e.to_string())
                .and_then(|b| Shard::parse(b, Some(name)))
                .map_err(|e| format!("{}: {e}", in_public(&file)))
        })
        .collect();
    let mut bad_shards: Vec<&String> = shards.iter().filter_map(|s| s.as_ref().err()).collect();
    bad_shards.sort();
    bad_shards.dedup();
    for e in bad_shards {
        let (path, error) = e.split_once(": ").unwrap_or((e, ""));
        report.problems.push(Problem::Unreadable {
            path: path.to_string(),
            error: error.to_string(),
        });
    }
    let distinct: FxHashSet<&str> = root.shards.iter().map(String::as_str).collect();
    let indexed: usize = root
        .shards
        .iter()
        .zip(&shards)
        .filter_map(|(n, s)| Some((n, s.as_ref().ok()?)))
        .collect::<FxHashMap<_, _>>()
        .values()
        .map(|s| s.len())
        .sum::<usize>();
    let all_shards_ok = shards.iter().all(Result::is_ok);
    // Every body's place, by line.
    let bits = root.shard_bits;
    let places: Vec<Result<Option<Loc>, ()>> = lines
        .par_iter()
        .map(|l| {
            let key = l.path.strip_prefix("public/").unwrap_or(&l.path);
            match &shards[pack::shard_of(key, bits) as usize] {
                Ok(s) => Ok(s.find(&pack::key_hash(key))),
                Err(_) => Err(()),
            }
        })
        .collect();
    // By pack: the lines whose bodies it holds.
    let mut by_pack: FxHashMap<u32, Vec<usize>> = FxHashMap::default();
    let mut per_line: Vec<Option<Problem>> = vec![None; lines.len()];
    for (i, (l, place)) in lines.iter().zip(&places).enumerate() {
        match place {
            Err(()) => {
                per_line[i] = Some(Problem::Unreadable {
                    path: l.path.clone(),
                    error: "its index shard is damaged (above)".into(),
                })
            }
            Ok(None) => per_line[i] = Some(Problem::Missing(l.path.clone())),
            Ok(Some(loc)) => by_pack.entry(loc.pack).or_default().push(i),
        }
    }
    let checked: Vec<PackChecked> = by_pack
        .into_par_iter()
        .map(|(p, idx)| {
            let mut problems = Vec::new();
            let name = root.packs.get(p as usize).cloned().flatten();
            let Some(name) = name else {
                for i in idx {
                    problems.push((
                        i,
                        Problem::Unreadable {
                            path: lines[i].path.clone(),
                            error: format!(
                                "its index entry names pack {p}, which root.json does not list"
                            ),
                        },
                    ));
                }
                return (0, 0, problems);
            };
            let file = in_public(&pack::pack_file(&name));
            let bytes = match fs::read(dir.join(&file)) {
                Ok(b) => b,
                Err(e) => {
                    for i in idx {
                        problems.push((
                            i,
                            Problem::Unreadable {
                                path: lines[i].path.clone(),
                                error: format!("{file}: {e}"),
                            },
                        ));
                    }
                    return (0, 0, problems);
                }
            };
            let mut hashed: FxHashMap<(u32, u32), (blake3::Hash, [u8; 8])> = FxHashMap::default();
            let mut bytes_served = 0;
            for i in idx {
                let l = &lines[i];
                let loc = places[i].expect("found").expect("found");
                bytes_served += l.size;
                if u64::from(loc.length) != l.size {
                    problems.push((
                        i,
                        Problem::Size {
                            path: l.path.clone(),
                            listed: l.size,
                            actual: u64::from(loc.length),
                        },
                    ));
                    continue;
                }
                let (start, end) = (
                    loc.offset as usize,
                    loc.offset as usize + loc.length as usize,
                );
                if end > bytes.len() {
                    problems.push((
                        i,
                        Problem::Unreadable {
                            path: l.path.clone(),
                            error: format!(
                                "{file} is truncated ({} bytes, the body ends at {end})",
                                bytes.len()
                            ),
                        },
                    ));
                    continue;
                }
                let (h, tag) = *hashed.entry((loc.offset, loc.length)).or_insert_with(|| {
                    let body = &bytes[start..end];
                    (blake3::hash(body), pack::body_etag(body))
                });
                if h != l.blake3 || tag != loc.etag {
                    problems.push((
                        i,
                        Problem::Unreadable {
                            path: l.path.clone(),
                            error: format!(
                                "{file}: its bytes at {start}..{end} changed (hash differs)"
                            ),
                        },
                    ));
                }
            }
            (bytes.len() as u64, bytes_served, problems)
        })
        .collect();
    for (read, served, problems) in checked {
        report.bytes_read += read;
        report.bytes += served;
        for (i, p) in problems {
            per_line[i] = Some(p);
        }
    }
    report.files = lines.len() as u64;
    report.inodes = (distinct.len() + root.packs.iter().flatten().count()) as u64;
    report.problems.extend(per_line.into_iter().flatten());
    if all_shards_ok && (indexed as u64 != root.entries || (lines.len() as u64) > root.entries) {
        report.problems.push(Problem::Unreadable {
            path: in_public(pack::ROOT_FILE),
            error: format!(
                "it counts {} index entries, the shards hold {indexed} and the manifest lists {}",
                root.entries,
                lines.len()
            ),
        });
    }
    // Anything else under public/: not written by export.
    let mut known: FxHashSet<String> = root
        .shards
        .iter()
        .map(|n| in_public(&pack::shard_file(n)))
        .chain(
            root.packs
                .iter()
                .flatten()
                .map(|n| in_public(&pack::pack_file(n))),
        )
        .collect();
    known.insert(in_public(pack::ROOT_FILE));
    let mut extra: Vec<String> = walkdir::WalkDir::new(&public)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).expect("under dir");
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
