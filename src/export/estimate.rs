//! What an export would write, counted and estimated without writing (`export --dry-run`),
//! and the free-space check a full export makes first.

use super::plan::{api_options, plan_asset, request_for, Job, Variants};
use super::{profile, ExportError, ExportOptions, Profile, ERROR_FILES};
use crate::api::{answer_with, Catalog};
use crate::snapshot::manifest::pct;
use crate::snapshot::{forbidden, path, Entry};
use crate::store::AssetIdx;
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::Path;

/// What an export would write, from [`estimate`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Estimate {
    /// Readable assets.
    pub assets: u64,
    /// Assets with a 403 marker.
    pub forbidden: u64,
    /// Files, exactly (routes plus error documents and markers).
    pub files: u64,
    /// Files that are by_url aliases (hard links whatever `--dedupe` says).
    pub aliases: u64,
    /// Body bytes as served, estimated from a sample.
    pub bytes: u64,
    /// Disk use as `du` will count it, estimated from the same sample: every body stored in
    /// whole blocks of the target file system (once when `--dedupe` links it), the directories
    /// that hold them, `manifest.jsonl`, the hosts' tables under `_routers/` and `_cache/`.
    pub disk_bytes: u64,
    /// Of `disk_bytes`: the manifest, the hosts' tables and `_cache/` (what grows with the
    /// number of files, not with their size).
    pub meta_bytes: u64,
    /// Assets rendered for the byte estimate.
    pub sampled: u64,
    /// Of `bytes`, the lineage files' (estimated from the same sample): they grow with the
    /// square of the tree's depth (`api::Catalog::lineage_growth`).
    pub lineage_bytes: u64,
}

/// The block size assumed when the target file system's cannot be read.
pub(super) const BLOCK: u64 = 4096;

/// The block size of the file system that will hold `out` (that of its nearest existing
/// ancestor), or [`BLOCK`].
pub fn block_size(out: &Path) -> u64 {
    out.ancestors()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .find_map(|p| rustix::fs::statvfs(p).ok())
        .map(|st| st.f_bsize)
        .filter(|&b| b >= 512)
        .unwrap_or(BLOCK)
}

/// The blocks a directory with `dirent` bytes of entries takes on ext4, in bytes: one block
/// while they fit, else an index block and leaves about half full (measured: a 92-entry
/// asset directory, 4,160 bytes of entries, takes 3 blocks; 86.2 MB for the 7,817 directories
/// of a 5,000-asset standard export, this formula 86.2 MB).
pub(super) fn dir_bytes(dirent: u64, block: u64) -> u64 {
    if dirent <= block {
        block
    } else {
        (2 * dirent).div_ceil(block) * block
    }
}

/// An ext4 directory entry for `name`: 8 bytes and the name, in 4-byte steps.
pub(super) fn dirent(name: &str) -> u64 {
    8 + (name.len() as u64).div_ceil(4) * 4
}

/// A manifest line and its share of the hosts' tables and of `_cache/owners.bin` (4 bytes a
/// line), for one file.
fn meta_of(e: &Entry, hosts: &[&crate::router::Host]) -> u64 {
    let mut line = Vec::with_capacity(256);
    e.write_line(&mut line);
    line.len() as u64 + 1 + crate::router::table_bytes(e, hosts) + 4
}

/// What the sampled assets of [`estimate`] add up to.
#[derive(Default)]
struct Sample {
    files: u64,
    aliases: u64,
    bytes: u64,
    disk: u64,
    meta: u64,
    sampled: u64,
    /// Bytes of lineage files (what deep lineages multiply).
    lineage: u64,
}

/// Counts the files of an export exactly and estimates its size by rendering every k-th asset
/// (about 500 in all): nothing is written (`--dry-run`).
pub fn estimate(cat: &Catalog, opts: &ExportOptions) -> Result<Estimate, ExportError> {
    estimate_with(cat, opts, true)
}

/// [`estimate`] with the files counted exactly (`count_all`: every asset's routes planned) or,
/// like the bytes, scaled from the sampled assets alone (the free-space check before an export:
/// planning every asset took 3 s of a 1M-asset export for a figure the bytes' estimate already
/// carries less exactly).
fn estimate_with(
    cat: &Catalog,
    opts: &ExportOptions,
    count_all: bool,
) -> Result<Estimate, ExportError> {
    let view = cat.view(opts.token)?;
    let variants = Variants::new(cat, &opts.profile)?;
    let token = &cat.store.tokens[opts.token as usize];
    let readable: Vec<AssetIdx> = view.readable().collect();
    let step = (readable.len() / 500).max(1);
    let api = api_options(cat, opts);
    let block = block_size(&opts.out);
    // The pack layout concatenates bodies into a few large packs and writes no host tables:
    // its bodies count by their bytes, without per-file blocks or directories.
    let files_layout = opts.layout.layout == crate::snapshot::Layout::Files;
    let hosts = if files_layout {
        crate::router::select(&opts.routing.routers)
            .map_err(|e| ExportError::UnknownRouter(e.to_string()))?
    } else {
        Vec::new()
    };
    let per_asset: Vec<Sample> = readable
        .par_iter()
        .enumerate()
        .map(|(i, &a)| {
            if !count_all && i % step != 0 {
                return Sample::default();
            }
            let jobs = plan_asset(cat, view, opts, &variants, a);
            let mut s = Sample {
                files: jobs.len() as u64,
                aliases: jobs
                    .iter()
                    .filter(|j| matches!(j, Job::Alias { .. }))
                    .count() as u64,
                ..Sample::default()
            };
            if i % step != 0 {
                return s;
            }
            s.sampled = 1;
            let mut sizes: HashMap<&str, (u64, blake3::Hash, u16)> = HashMap::new();
            // With --dedupe, an asset's variants with the same body (an asset without URLs
            // under every base_url, an untranslated one in every context) share one file.
            let mut bodies: std::collections::HashSet<blake3::Hash> = Default::default();
            // Entries of each directory the asset's files go into.
            let mut dirs: HashMap<&str, u64> = HashMap::new();
            for job in &jobs {
                let (path, target) = match job {
                    Job::Render { path, target } => {
                        let resp = answer_with(cat, &api, &request_for(token, opts, target));
                        let size = resp.body.len() as u64;
                        let hash = blake3::hash(&resp.body);
                        sizes.insert(path, (size, hash, resp.status));
                        if path.contains("/~lineage.") {
                            s.lineage += size;
                        }
                        if !opts.dedupe || bodies.insert(hash) {
                            s.disk += if files_layout {
                                size.div_ceil(block).max(1) * block
                            } else {
                                size
                            };
                        }
                        (path, target)
                    }
                    Job::Alias { path, target, .. } => (path, target),
                };
                let source = match job {
                    Job::Alias { source, .. } => source.as_str(),
                    Job::Render { path, .. } => path.as_str(),
                };
                let (size, hash, status) = sizes[source];
                s.bytes += size;
                let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
                *dirs.entry(dir).or_default() += dirent(name);
                s.meta += meta_of(
                    &Entry::json(path, vec![target.clone()], status, size, hash),
                    &hosts,
                );
            }
            if files_layout {
                s.disk += dirs.values().map(|&d| dir_bytes(d, block)).sum::<u64>();
            }
            s
        })
        .collect();
    // Forbidden ids: a marker each, in a directory of its own; one body, linked with --dedupe.
    let forbidden_body = crate::api::response::error_body(403);
    let mut forbidden = 0;
    let mut forbidden_meta = 0;
    // The files layout's forbidden-URL tables: a line per distinct forbidden URL.
    let mut url_lines = Vec::new();
    for a in 0..cat.store.assets.len() as AssetIdx {
        let asset = cat.store.asset(a);
        if asset.trashed || view.can_read(a) {
            continue;
        }
        if files_layout {
            url_lines.extend(asset.urls.iter().filter_map(|u| {
                let key = crate::store::url::key(u)?;
                Some(forbidden::line_of(&path::forbidden_file(&path::url_dir(
                    &key,
                ))))
            }));
        }
        forbidden += 1;
        let rel = path::forbidden_file(&path::asset_dir(&asset.id));
        forbidden_meta += meta_of(
            &Entry::json(
                &rel,
                vec![format!("/__api/assets/{}", pct(&asset.id))],
                403,
                forbidden_body.len() as u64,
                blake3::hash(&forbidden_body),
            ),
            &hosts,
        );
    }
    let forbidden_disk = if files_layout {
        forbidden * block + if opts.dedupe { 1 } else { forbidden } * block
    } else {
        forbidden_body.len() as u64
    };
    url_lines.sort_unstable();
    url_lines.dedup();
    let url_table_bytes = url_lines.len() as u64 * (forbidden::LINE_HEX as u64 + 1);
    let (url_tables, url_table_disk) = if url_lines.is_empty() {
        (0, 0)
    } else {
        let tables = 1u64 << (4 * forbidden::digits_for(url_lines.len()));
        // A block each at least, and a manifest line each (about 160 bytes).
        (tables, tables * block + url_table_bytes + tables * 160)
    };
    let sum = |f: fn(&Sample) -> u64| per_asset.iter().map(f).sum::<u64>();
    let sampled = sum(|s| s.sampled);
    let scale = |x: u64| {
        if sampled == 0 {
            0
        } else {
            (x as u128 * readable.len() as u128 / sampled as u128) as u64
        }
    };
    let meta = scale(sum(|s| s.meta))
        + forbidden_meta
        // `_cache/inputs.tsv`: a line per readable asset.
        + readable.len() as u64 * 40;
    // The error documents, the routers' configs (a few dozen files), the top directories.
    let fixed = (ERROR_FILES + 64) * block;
    Ok(Estimate {
        assets: readable.len() as u64,
        forbidden,
        files: match count_all {
            true => sum(|s| s.files),
            false => scale(sum(|s| s.files)),
        } + forbidden
            + ERROR_FILES
            + url_tables,
        aliases: match count_all {
            true => sum(|s| s.aliases),
            false => scale(sum(|s| s.aliases)),
        },
        bytes: scale(sum(|s| s.bytes)) + url_table_bytes,
        disk_bytes: scale(sum(|s| s.disk)) + forbidden_disk + url_table_disk + meta + fixed,
        meta_bytes: meta,
        sampled,
        lineage_bytes: scale(sum(|s| s.lineage)),
    })
}

/// What each Content API 1.2.0 dimension of the profile adds to an export: the estimate of
/// the profile without any of them, then, for each dimension the profile enables, its name
/// and the estimate with that dimension alone (`export --dry-run` prints the differences).
pub fn estimate_dimensions(
    cat: &Catalog,
    opts: &ExportOptions,
) -> Result<(Estimate, Vec<(String, Estimate)>), ExportError> {
    let p = &opts.profile;
    let plain = Profile {
        include_dependents: false,
        base_urls: Vec::new(),
        contexts: profile::Contexts::Default,
        ..p.clone()
    };
    let with = |profile: Profile| {
        estimate(
            cat,
            &ExportOptions {
                profile,
                ..opts.clone()
            },
        )
    };
    let mut dims = Vec::new();
    if p.include_dependents {
        let one = Profile {
            include_dependents: true,
            ..plain.clone()
        };
        dims.push(("include_dependents = [false, true]".to_string(), with(one)?));
    }
    if !p.base_urls.is_empty() {
        let one = Profile {
            base_urls: p.base_urls.clone(),
            ..plain.clone()
        };
        dims.push((
            format!("base_urls ({} values)", p.base_urls.len()),
            with(one)?,
        ));
    }
    if p.contexts != profile::Contexts::Default {
        let n = p.context_indices(&cat.store.meta.contexts)?.len();
        let one = Profile {
            contexts: p.contexts.clone(),
            ..plain.clone()
        };
        dims.push((format!("contexts ({n}, the default included)"), with(one)?));
    }
    Ok((with(plain)?, dims))
}

/// Free bytes for an unprivileged writer on the filesystem holding `dir`.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Refuses a full export whose estimated size exceeds the free space of `parent`.
pub(super) fn check_free_space(
    cat: &Catalog,
    opts: &ExportOptions,
    parent: &Path,
) -> Result<(), ExportError> {
    if let Some(free) = free_bytes(parent) {
        let est = estimate_with(cat, opts, false)?;
        // The runs of manifest entries lie beside the staging tree until the manifest is
        // written (`spill`): about a manifest line's bytes less the hex of its hash.
        let needed = est.disk_bytes + est.files * super::spill::DISK_PER_ENTRY;
        if needed > free {
            return Err(ExportError::NoSpace {
                needed: needed / 1_000_000,
                free: free / 1_000_000,
                dir: parent.to_path_buf(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The free-space check plans the sampled assets only and scales their files as it scales
    /// their bytes: the same sample, the same bytes, and files within a few per cent of the
    /// exact count (`--dry-run`).
    #[test]
    fn the_sampled_estimate_scales_what_the_exact_one_counts() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let store = tmp.path().join("store");
        let opts = crate::generate::GenerateOptions {
            assets: 3000,
            seed: 7,
            contexts: Vec::new(),
        };
        crate::generate::generate(&opts, &store).expect("generate");
        let cat = Catalog::new(crate::Store::load(&store).expect("load"));
        let token = cat.store.token_by_value("gen-public").expect("token");
        let opts = ExportOptions::new(token, Profile::minimal(), tmp.path().join("out"));
        let exact = estimate_with(&cat, &opts, true).expect("exact");
        let sampled = estimate_with(&cat, &opts, false).expect("sampled");
        assert!(exact.sampled < exact.assets, "{exact:?}");
        assert_eq!(
            (sampled.sampled, sampled.bytes, sampled.assets),
            (exact.sampled, exact.bytes, exact.assets)
        );
        let off = (sampled.files as f64 - exact.files as f64).abs() / exact.files as f64;
        assert!(
            off < 0.05,
            "{} files against {}",
            sampled.files,
            exact.files
        );
        assert_ne!(sampled.files, 0);
    }
}
