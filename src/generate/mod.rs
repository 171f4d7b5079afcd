//! Synthetic stores: a seeded, deterministic, streaming writer of valid
//! `matrix-snapshot-store/1` directories (`docs/store-format.md`), for the
//! benchmarks and property tests.
//!
//! Input: a number of assets and a seed. Output: `store.json` plus the five
//! JSON Lines files, byte-identical for the same `(assets, seed)` on every
//! platform and every build, because the only source of randomness is the
//! crate's small PRNG (`rng::Rng`: xoshiro256** seeded by SplitMix64) and no
//! floating-point arithmetic decides anything. The store is written while the
//! tree is walked, so memory stays O(depth × fan-out) whatever the size.
//! Generate never decides what a token may read; it only writes rows that
//! `access` interprets (spec §4).
//!
//! # Shape of the generated tree
//! Assets are numbered in pre-order (a parent always has a smaller index than
//! its children), and every non-`reference` link goes from a smaller index to a
//! larger one, so the non-reference links can never form a cycle.
//!
//! ```text
//! Root Folder (index 0, id "1", folder, no URL; admin for "Site Administrators")
//! ├── Site 1 … Site K   (K = 2 or 3, type site, https://site{n}.example.test;
//! │   │                  site 1 also lists the http form; editors may write in site 1)
//! │   ├── Intranet       (only in the last site: staff read instead of public read)
//! │   └── folders, pages, asset listings, news folders, media folders …
//! │       ├── page_standard ─(invisible, dependent)→ bodycopy ─(dependent)→ content_type_wysiwyg
//! │       ├── news_item, image, file, pdf_file (leaves)
//! │       └── a few "big" news or media folders with 200–3000 leaf children
//! └── Shared Content    (folder outside any site: no URLs; ~4% of the assets)
//! ```
//!
//! * Budgets: every node receives an exact number of assets for its subtree and
//!   shares what is left after itself and its dependents among 3–30 children
//!   (a few have up to 70) with skewed integer weights; depth stays at most
//!   `MAX_DEPTH` (7) plus a couple of levels, because below it fan-out grows instead.
//! * Ids: asset `i` has a numeric id `1000 + 3·π(i−1) + (0..2)`, where π is a
//!   keyed Feistel permutation, so numeric order, string order and tree order
//!   all differ; ~0.5% are shadow ids `"{digits}:item/{n}"`. The root is `"1"`.
//!   Principals use ids below 100, links count up from 1.
//! * URLs: parent URL + `/` + `{words}-{ordinal}[.ext]`, where `ordinal` is the
//!   position among the siblings; ~8% of assets also list the `http://` form;
//!   an asset linked under a second parent (~2%, menu or hidden, parent chosen
//!   among earlier containers) also gets `{second parent URL}/{words}--{index}`.
//!   Both shapes are unique per parent, so URLs are unique store-wide.
//!   Dependents and assets outside sites have no URLs.
//! * Status: ~78% live, then under construction, archived, safe editing (60%
//!   of those with a `live` object), up for review and a sprinkle of 4, 8,
//!   128, 256. ~1% are trashed (with their subtrees). ~2% carry a `reference`
//!   link to any asset, which may point upwards (a harmless cycle).
//! * Fields: every optional asset field is written, except that dependents
//!   leave out `urls` and (unless trashed) `trashed`, so loaders meet the
//!   defaults too. Strings go through serde_json's escaper; names and contents
//!   hold `&`, quotes, `<`, `\`, tabs, CR LF, non-ASCII text and emoji.
//! * Permissions (per asset, spec §4): public read on ~90% of the assets
//!   outside the intranet (whatever their status: the status gate decides),
//!   Staff read on the intranet, Editors write on all of site 1, Site
//!   Administrators admin on the root folder and the sites, and ~1% explicit
//!   read denies (groups, users, the public user); dependents copy their page.
//! * Principals: root, system administrator, public, 10 nested groups and 50
//!   users. Tokens: see [`TOKENS`].
//! * Contexts (`GenerateOptions::contexts`, off by default): declared after
//!   `Default`; each asset is translated in each with probability 2/5 by a
//!   stream keyed by its id, so everything else keeps its bytes.

mod asset;
mod dates;
mod ids;
mod principals;
mod sink;
#[cfg(test)]
mod tests;
mod text;
mod tree;

pub use principals::TOKENS;

use ids::Ids;
use principals::{write_principals, write_tokens};
use sink::{push_str, pushf, Sink};
use std::fs;
use std::path::Path;
use tree::{Plan, Tree};

use anyhow::{bail, Context, Result};

/// Options for a synthetic store.
#[derive(Debug, Clone, Default)]
pub struct GenerateOptions {
    /// Number of assets to write (at least 1: the root folder).
    pub assets: u64,
    /// Seed; the same `(assets, seed)` always gives the same bytes.
    pub seed: u64,
    /// Contexts declared besides `Default` (Content API 1.2.0 `context`). Each asset has an
    /// override in each of them with probability 2/5 (name, and sometimes short name, contents,
    /// an attribute, metadata), decided by its own stream: the rest of the store is the same
    /// bytes as without contexts.
    pub contexts: Vec<String>,
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenerateReport {
    /// Lines in `assets.jsonl`.
    pub assets: u64,
    /// Lines in `links.jsonl`.
    pub links: u64,
    /// Lines in `principals.jsonl`.
    pub principals: u64,
    /// Lines in `permissions.jsonl`.
    pub permissions: u64,
    /// Lines in `tokens.jsonl`.
    pub tokens: u64,
    /// Total size of the six files.
    pub bytes: u64,
}

/// Writes a complete store (store.json + 5 .jsonl files) into `out` (created if missing; must be empty or absent — else error).
///
/// The files are written into a temporary directory beside `out` that is
/// renamed to `out` at the end, so an interrupted run never leaves a partial
/// store behind.
pub fn generate(opts: &GenerateOptions, out: &Path) -> Result<GenerateReport> {
    if opts.assets == 0 {
        bail!("cannot generate a store with 0 assets: the root folder is asset 1");
    }
    for (i, c) in opts.contexts.iter().enumerate() {
        if c.is_empty() || c.chars().any(char::is_control) {
            bail!("context name {c:?}: a context is a non-empty name without control characters");
        }
        if c == crate::store::DEFAULT_CONTEXT || opts.contexts[..i].contains(c) {
            bail!("context {c:?} is declared twice (Default is always declared first)");
        }
    }
    if out.exists() {
        if !out.is_dir() {
            bail!("{} exists and is not a directory", out.display());
        }
        let mut entries =
            fs::read_dir(out).with_context(|| format!("reading {}", out.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty; generate only writes into a new or empty directory",
                out.display()
            );
        }
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".generate-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
    let report = write_store(opts, tmp.path())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile creates the directory 0700; a store is ordinary data.
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))
            .with_context(|| format!("setting permissions on {}", tmp.path().display()))?;
    }
    if out.exists() {
        fs::remove_dir(out).with_context(|| format!("replacing {}", out.display()))?;
    }
    let staged = tmp.keep();
    if let Err(e) = fs::rename(&staged, out) {
        let _ = fs::remove_dir_all(&staged);
        return Err(e)
            .with_context(|| format!("renaming {} to {}", staged.display(), out.display()));
    }
    Ok(report)
}

/// Independent PRNG streams, mixed with the seed.
const STREAM_SHAPE: u64 = 0x5348_4150_4500_0001;
const STREAM_ASSET: u64 = 0x4153_5345_5400_0002;
const STREAM_PRINCIPALS: u64 = 0x5052_494e_4300_0003;
const STREAM_PLAN: u64 = 0x504c_414e_0000_0004;
const STREAM_IDS: u64 = 0x4944_5300_0000_0005;
const STREAM_CONTEXTS: u64 = 0x4354_5854_0000_0006;

fn write_store(opts: &GenerateOptions, dir: &Path) -> Result<GenerateReport> {
    let plan = Plan::new(opts);
    let ids = Ids::new(opts.seed, opts.assets, &plan.sites_at);
    let first_root = plan.sites_at.first().copied().unwrap_or(0);

    let mut store = Vec::new();
    pushf(
        &mut store,
        format_args!("{{\"format\":\"matrix-snapshot-store/1\",\"name\":"),
    );
    push_str(
        &mut store,
        &format!(
            "Generated store ({} assets, seed {})",
            opts.assets, opts.seed
        ),
    );
    store.extend_from_slice(b",\"contexts\":[\"Default\"");
    for c in &opts.contexts {
        store.push(b',');
        push_str(&mut store, c);
    }
    store.extend_from_slice(b"]}\n");
    let path = dir.join("store.json");
    fs::write(&path, &store).with_context(|| format!("writing {}", path.display()))?;

    let mut principals = Sink::create(dir, "principals.jsonl")?;
    write_principals(&mut principals, opts.seed)?;
    let mut tokens = Sink::create(dir, "tokens.jsonl")?;
    write_tokens(&mut tokens, &ids.id(first_root))?;

    let mut tree = Tree::new(opts, &plan, ids, dir)?;
    tree.run(&plan)?;
    debug_assert_eq!(tree.next_index, opts.assets);

    let [(assets, b1), (links, b2), (permissions, b3)] = tree.finish()?;
    let (principals, b4) = principals.finish()?;
    let (tokens, b5) = tokens.finish()?;
    Ok(GenerateReport {
        assets,
        links,
        principals,
        permissions,
        tokens,
        bytes: store.len() as u64 + b1 + b2 + b3 + b4 + b5,
    })
}
