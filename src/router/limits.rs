//! What a host cannot honour for one snapshot (`export --router`, `router HOST` warn with it).

use super::Host;
use crate::snapshot::routes::{Auth, RouteSpec};
use std::fs;
use std::io::Write;
use std::path::Path;

/// What `host` cannot honour for the snapshot in `dir` (its routing table `spec`, `files`
/// files), one sentence each; empty when it answers everything as `docs/hosting.md` says. Limits
/// that hold for every snapshot (a platform's URL normalisation, say) are in the host's page of
/// `docs/hosting/`, not here: these depend on the profile, the token check or the size.
pub fn limits(host: &Host, dir: &Path, spec: &RouteSpec, files: u64) -> Vec<String> {
    let mut out = Vec::new();
    let size =
        |rel: &str| fs::metadata(dir.join("_routers").join(host.name).join(rel)).map(|m| m.len());
    match host.name {
        // The files layout's static rules (a pack snapshot has none).
        "netlify" | "vercel"
            if spec.auth == Auth::Token
                && host.files.iter().any(|(name, _)| name.starts_with("static/")) =>
        {
            out.push(format!(
            "its static rules (_routers/{}/static/) cannot check a token: they answer 401 to every request of this snapshot; deploy the {} (it checks the token), or export with --public",
            host.name,
            if host.name == "netlify" { "edge function" } else { "middleware" }
        ))
        }
        _ => {}
    }
    match host.name {
        "cloudflare" if files > CLOUDFLARE_FREE_FILES => out.push(format!(
            "{files} files: Workers Static Assets takes {CLOUDFLARE_FREE_FILES} files per Worker on the free plan and {CLOUDFLARE_PAID_FILES} on paid plans{}",
            if files > CLOUDFLARE_PAID_FILES { " (too many for either: export a smaller profile)" } else { "" }
        )),
        "cloudfront" => {
            if let Ok(n) = size("function.js") {
                if n > CLOUDFRONT_FUNCTION_MAX {
                    out.push(format!("function.js is {n} bytes, over CloudFront Functions' {CLOUDFRONT_FUNCTION_MAX}: fewer asset_types filters, limits, sorts or base_urls in the profile make it smaller"));
                }
            }
            if let Ok(n) = size("kvs.json") {
                if n > CLOUDFRONT_KVS_MAX {
                    out.push(format!("kvs.json is {n} bytes, over a KeyValueStore's {CLOUDFRONT_KVS_MAX}: forbidden ids and URLs and variants outside the profile answer the generic 404"));
                }
            }
        }
        "vercel" => {
            if let Ok(text) = fs::read(dir.join("_routers/vercel/snapshot-files.js")) {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                gz.write_all(&text).expect("in memory");
                let n = gz.finish().expect("in memory").len() as u64;
                if n > VERCEL_MIDDLEWARE_MAX {
                    out.push(format!("the middleware's file list is {n} bytes gzipped, over Vercel's {VERCEL_MIDDLEWARE_MAX} for middleware on the Hobby plan (2 MiB on Pro): export a smaller profile or serve from another host"));
                }
            }
        }
        _ => {}
    }
    out
}

/// Workers Static Assets: files per Worker version, free plan.
const CLOUDFLARE_FREE_FILES: u64 = 20_000;
/// Workers Static Assets: files per Worker version, paid plans.
const CLOUDFLARE_PAID_FILES: u64 = 100_000;
/// CloudFront Functions: the most bytes of code.
const CLOUDFRONT_FUNCTION_MAX: u64 = 10_240;
/// CloudFront KeyValueStore: the largest import.
const CLOUDFRONT_KVS_MAX: u64 = 5 * 1024 * 1024;
/// Vercel: the most bytes of middleware, gzipped (Hobby plan).
const VERCEL_MIDDLEWARE_MAX: u64 = 1024 * 1024;

/// A host's published limit on the files of one deploy (`docs/hosting.md`, "Layouts and the
/// hosts' limits"), which `export --dry-run` checks both layouts against.
#[derive(Debug, Clone, Copy)]
pub struct FileLimit {
    /// The host and plan.
    pub host: &'static str,
    /// The most files (entries for GitLab) a deploy may hold.
    pub files: u64,
    /// The largest file (`u64::MAX`: none published).
    pub file_bytes: u64,
}

/// The file-count limits of the hosts JAMstack users pick first (re-checked 2026-12-06).
pub const PUBLISHED: &[FileLimit] = &[
    FileLimit {
        host: "Vercel (a CLI deploy)",
        files: 15_000,
        file_bytes: u64::MAX,
    },
    FileLimit {
        host: "Cloudflare Workers/Pages free",
        files: CLOUDFLARE_FREE_FILES,
        file_bytes: 25 << 20,
    },
    FileLimit {
        host: "Cloudflare Workers/Pages paid",
        files: CLOUDFLARE_PAID_FILES,
        file_bytes: 25 << 20,
    },
    FileLimit {
        host: "GitLab Pages",
        files: 200_000,
        file_bytes: u64::MAX,
    },
];

/// Whether a tree of `files` files, the largest `largest` bytes, fits `limit`.
pub fn fits(limit: &FileLimit, files: u64, largest: u64) -> bool {
    files <= limit.files && largest <= limit.file_bytes
}
