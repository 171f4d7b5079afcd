//! What an export would write, counted and estimated without writing (`export --dry-run`),
//! and the free-space check a full export makes first.

use super::plan::{api_options, plan_asset, request_for, Job, Variants};
use super::{profile, ExportError, ExportOptions, Profile, ERROR_FILES};
use crate::api::{answer_with, Catalog};
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
    /// Disk use estimated from the same sample: every written file takes whole 4 KiB blocks.
    pub disk_bytes: u64,
    /// Assets rendered for the byte estimate.
    pub sampled: u64,
    /// Of `bytes`, the lineage files' (estimated from the same sample): they grow with the
    /// square of the tree's depth (`api::Catalog::lineage_growth`).
    pub lineage_bytes: u64,
}

pub(super) const BLOCK: u64 = 4096;

/// Counts the files of an export exactly and estimates its size by rendering every k-th asset
/// (about 500 in all): nothing is written.
pub fn estimate(cat: &Catalog, opts: &ExportOptions) -> Result<Estimate, ExportError> {
    let view = cat.view(opts.token)?;
    let variants = Variants::new(cat, &opts.profile)?;
    let token = &cat.store.tokens[opts.token as usize];
    let readable: Vec<AssetIdx> = view.readable().collect();
    let step = (readable.len() / 500).max(1);
    let api = api_options(cat, opts);
    let per_asset: Vec<(u64, u64, u64, u64, bool, u64)> = readable
        .par_iter()
        .enumerate()
        .map(|(i, &a)| {
            let jobs = plan_asset(cat, view, opts, &variants, a);
            let aliases = jobs
                .iter()
                .filter(|j| matches!(j, Job::Alias { .. }))
                .count() as u64;
            let (mut bytes, mut disk, mut lineage) = (0, 0, 0);
            let sampled = i % step == 0;
            if sampled {
                let mut sizes: HashMap<&str, u64> = HashMap::new();
                // With --dedupe, an asset's variants with the same body (an asset without URLs
                // under every base_url, an untranslated one in every context) share one file.
                let mut bodies: std::collections::HashSet<blake3::Hash> = Default::default();
                for job in &jobs {
                    match job {
                        Job::Render { path, target } => {
                            let body =
                                answer_with(cat, &api, &request_for(token, opts, target)).body;
                            let size = body.len() as u64;
                            sizes.insert(path, size);
                            bytes += size;
                            if path.contains("/~lineage.") {
                                lineage += size;
                            }
                            if !opts.dedupe || bodies.insert(blake3::hash(&body)) {
                                disk += size.div_ceil(BLOCK).max(1) * BLOCK;
                            }
                        }
                        Job::Alias { source, .. } => bytes += sizes[source.as_str()],
                    }
                }
            }
            (jobs.len() as u64, aliases, bytes, disk, sampled, lineage)
        })
        .collect();
    let forbidden = (0..cat.store.assets.len() as AssetIdx)
        .filter(|&a| !cat.store.asset(a).trashed && !view.can_read(a))
        .count() as u64;
    let sampled = per_asset.iter().filter(|p| p.4).count() as u64;
    let scale = |x: u64| {
        if sampled == 0 {
            0
        } else {
            (x as u128 * readable.len() as u128 / sampled as u128) as u64
        }
    };
    Ok(Estimate {
        assets: readable.len() as u64,
        forbidden,
        files: per_asset.iter().map(|p| p.0).sum::<u64>() + forbidden + ERROR_FILES,
        aliases: per_asset.iter().map(|p| p.1).sum(),
        bytes: scale(per_asset.iter().map(|p| p.2).sum()),
        disk_bytes: scale(per_asset.iter().map(|p| p.3).sum()) + (forbidden + ERROR_FILES) * BLOCK,
        sampled,
        lineage_bytes: scale(per_asset.iter().map(|p| p.5).sum()),
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
        let est = estimate(cat, opts)?;
        if est.disk_bytes > free {
            return Err(ExportError::NoSpace {
                needed: est.disk_bytes / 1_000_000,
                free: free / 1_000_000,
                dir: parent.to_path_buf(),
            });
        }
    }
    Ok(())
}
