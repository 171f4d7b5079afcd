//! Synthetic stores: a seeded, deterministic, streaming writer of valid
//! `matrix-snapshot-store/1` directories (`docs/store-format.md`), for the
//! benchmarks and property tests.
//!
//! Input: a number of assets and a seed. Output: `store.json` plus the five
//! JSON Lines files, byte-identical for the same `(assets, seed)` on every
//! platform and every build, because the only source of randomness is the
//! small PRNG defined here (`Rng`: xoshiro256** seeded by SplitMix64) and no
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

use std::fmt::Arguments;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

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

// ---------------------------------------------------------------------------
// Fixed principals and tokens.

/// Principal ids (all below 100, asset ids other than the root start at 1000).
const PUBLIC: u64 = 7;
const ROOT_USER: u64 = 12;
const SYSTEM_ADMIN: u64 = 13;
const STAFF: u64 = 20;
const EDITORS: u64 = 21;
const SITE_ADMINS: u64 = 23;
const TUTORS: u64 = 29;
const FIRST_USER: u64 = 40;
const USERS: u64 = 50;
const EDITOR_USER: u64 = 40;
const STAFF_USER: u64 = 41;
const ADMIN_USER: u64 = 42;

/// Groups: id, name, the groups it belongs to (a DAG, at most three levels).
const GROUPS: [(u64, &str, &[u64]); 10] = [
    (20, "Staff", &[]),
    (21, "Editors", &[20]),
    (22, "Senior Editors", &[21]),
    (23, "Site Administrators", &[20]),
    (24, "Faculty", &[20]),
    (25, "Science Faculty", &[24]),
    (26, "Arts Faculty", &[24]),
    (27, "Students", &[]),
    (28, "Postgraduate Students", &[27]),
    (29, "Tutors", &[24, 27]),
];

/// Who a token acts for.
#[derive(Clone, Copy)]
enum TokenUser {
    Principal(u64),
    None,
}

/// Which root nodes a token has.
#[derive(Clone, Copy)]
enum TokenRoots {
    Unrestricted,
    FirstSite,
}

/// The tokens of every generated store. `gen-public` (public user),
/// `gen-editor` (member of Editors: may write in site 1), `gen-site1` (public
/// user, root node = the first site, or the root folder in a one-asset store),
/// `gen-admin` (system administrator), `gen-staff` (member of Staff: reads the
/// intranet), `gen-disabled` (enabled false), `gen-trashed` (trashed true) and
/// `gen-nouser` (user_id null).
pub const TOKENS: [&str; 8] = [
    "gen-public",
    "gen-editor",
    "gen-site1",
    "gen-admin",
    "gen-staff",
    "gen-disabled",
    "gen-trashed",
    "gen-nouser",
];

/// token, name, enabled, trashed, user, root nodes; in [`TOKENS`] order.
const TOKEN_ROWS: [(&str, &str, bool, bool, TokenUser, TokenRoots); 8] = [
    (
        "gen-public",
        "Public website",
        true,
        false,
        TokenUser::Principal(PUBLIC),
        TokenRoots::Unrestricted,
    ),
    (
        "gen-editor",
        "Editor preview",
        true,
        false,
        TokenUser::Principal(EDITOR_USER),
        TokenRoots::Unrestricted,
    ),
    (
        "gen-site1",
        "Site 1 build",
        true,
        false,
        TokenUser::Principal(PUBLIC),
        TokenRoots::FirstSite,
    ),
    (
        "gen-admin",
        "Administrator",
        true,
        false,
        TokenUser::Principal(SYSTEM_ADMIN),
        TokenRoots::Unrestricted,
    ),
    (
        "gen-staff",
        "Intranet build",
        true,
        false,
        TokenUser::Principal(STAFF_USER),
        TokenRoots::Unrestricted,
    ),
    (
        "gen-disabled",
        "Disabled token",
        false,
        false,
        TokenUser::Principal(PUBLIC),
        TokenRoots::Unrestricted,
    ),
    (
        "gen-trashed",
        "Trashed token",
        true,
        true,
        TokenUser::Principal(PUBLIC),
        TokenRoots::Unrestricted,
    ),
    (
        "gen-nouser",
        "Token without a user",
        true,
        false,
        TokenUser::None,
        TokenRoots::Unrestricted,
    ),
];

// ---------------------------------------------------------------------------
// Writing.

/// One output file, counting lines and bytes.
struct Sink {
    name: &'static str,
    w: BufWriter<File>,
    lines: u64,
    bytes: u64,
}

impl Sink {
    fn create(dir: &Path, name: &'static str) -> Result<Self> {
        let path = dir.join(name);
        let f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self {
            name,
            w: BufWriter::with_capacity(1 << 18, f),
            lines: 0,
            bytes: 0,
        })
    }

    /// Writes `line` (which ends with `\n`).
    fn put(&mut self, line: &[u8]) -> Result<()> {
        self.w
            .write_all(line)
            .with_context(|| format!("writing {}", self.name))?;
        self.lines += 1;
        self.bytes += line.len() as u64;
        Ok(())
    }

    fn finish(mut self) -> Result<(u64, u64)> {
        self.w
            .flush()
            .with_context(|| format!("writing {}", self.name))?;
        self.w
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .with_context(|| format!("writing {}", self.name))?;
        Ok((self.lines, self.bytes))
    }
}

/// Appends formatted text.
fn pushf(buf: &mut Vec<u8>, args: Arguments<'_>) {
    buf.write_fmt(args).expect("writing into a Vec cannot fail");
}

/// Appends `s` as a JSON string, escaped by serde_json.
fn push_str(buf: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *buf, s).expect("serialising a str into a Vec cannot fail");
}

/// Appends a principal id (`"40"`).
fn push_pid(buf: &mut Vec<u8>, id: u64) {
    pushf(buf, format_args!("\"{id}\""));
}

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

    let mut tree = Tree {
        seed: opts.seed,
        contexts: opts.contexts.clone(),
        rng: Rng::new(mix(opts.seed, STREAM_SHAPE)),
        ids,
        next_index: 0,
        next_link: 1,
        intranet_site: plan.sites.len() as u32,
        assets: Sink::create(dir, "assets.jsonl")?,
        links: Sink::create(dir, "links.jsonl")?,
        perms: Sink::create(dir, "permissions.jsonl")?,
        line: Vec::with_capacity(1 << 14),
        html: String::with_capacity(1 << 13),
        perm_rows: Vec::new(),
        reservoir: Vec::with_capacity(RESERVOIR),
        containers_seen: 0,
    };
    tree.run(&plan)?;
    debug_assert_eq!(tree.next_index, opts.assets);

    let (assets, b1) = tree.assets.finish()?;
    let (links, b2) = tree.links.finish()?;
    let (permissions, b3) = tree.perms.finish()?;
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

fn write_principals(sink: &mut Sink, seed: u64) -> Result<()> {
    let mut line = Vec::with_capacity(256);
    let mut put = |sink: &mut Sink, id: u64, kind: &str, name: &str, groups: Option<&[u64]>| {
        line.clear();
        line.extend_from_slice(b"{\"id\":");
        push_pid(&mut line, id);
        pushf(&mut line, format_args!(",\"kind\":\"{kind}\",\"name\":"));
        push_str(&mut line, name);
        if let Some(groups) = groups {
            line.extend_from_slice(b",\"groups\":[");
            for (k, g) in groups.iter().enumerate() {
                if k > 0 {
                    line.push(b',');
                }
                push_pid(&mut line, *g);
            }
            line.push(b']');
        }
        line.extend_from_slice(b"}\n");
        sink.put(&line)
    };
    put(sink, ROOT_USER, "root", "Root User", None)?;
    put(
        sink,
        SYSTEM_ADMIN,
        "system_admin",
        "System Administrator",
        None,
    )?;
    put(sink, PUBLIC, "public", "Public User", None)?;
    for (id, name, groups) in GROUPS {
        put(sink, id, "group", name, Some(groups))?;
    }
    let mut r = Rng::new(mix(seed, STREAM_PRINCIPALS));
    for id in FIRST_USER..FIRST_USER + USERS {
        let (name, groups): (String, Vec<u64>) = match id {
            EDITOR_USER => ("Ed Itor".into(), vec![EDITORS]),
            STAFF_USER => ("Sam Staff".into(), vec![STAFF]),
            ADMIN_USER => ("Ada Admin".into(), vec![SITE_ADMINS]),
            _ => {
                let name = format!("{} {}", r.pick(FIRST_NAMES), r.pick(LAST_NAMES));
                let mut groups = Vec::new();
                for _ in 0..r.below(3) {
                    let g = GROUPS[r.below(GROUPS.len() as u64) as usize].0;
                    if !groups.contains(&g) {
                        groups.push(g);
                    }
                }
                (name, groups)
            }
        };
        put(sink, id, "user", &name, Some(&groups))?;
    }
    Ok(())
}

fn write_tokens(sink: &mut Sink, first_site: &str) -> Result<()> {
    let mut line = Vec::with_capacity(256);
    for (token, name, enabled, trashed, user, roots) in TOKEN_ROWS {
        line.clear();
        line.extend_from_slice(b"{\"token\":");
        push_str(&mut line, token);
        line.extend_from_slice(b",\"name\":");
        push_str(&mut line, name);
        pushf(
            &mut line,
            format_args!(",\"enabled\":{enabled},\"trashed\":{trashed},\"user_id\":"),
        );
        match user {
            TokenUser::Principal(id) => push_pid(&mut line, id),
            TokenUser::None => line.extend_from_slice(b"null"),
        }
        line.extend_from_slice(b",\"root_nodes\":[");
        if let TokenRoots::FirstSite = roots {
            push_str(&mut line, first_site);
        }
        line.extend_from_slice(b"]}\n");
        sink.put(&line)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The tree.

/// Below this depth children get subtrees; at it and deeper, fan-out grows
/// (up to [`BIG_FOLDER_MAX`]) so the tree stays shallow.
const MAX_DEPTH: u32 = 7;
/// A "big" folder holds this many leaf children at least …
const BIG_FOLDER_MIN: u64 = 200;
/// … and at most this many.
const BIG_FOLDER_MAX: u64 = 3000;
/// Candidate second parents kept (reservoir sample over all earlier containers).
const RESERVOIR: usize = 64;

/// Independent PRNG streams, mixed with the seed.
const STREAM_SHAPE: u64 = 0x5348_4150_4500_0001;
const STREAM_ASSET: u64 = 0x4153_5345_5400_0002;
const STREAM_PRINCIPALS: u64 = 0x5052_494e_4300_0003;
const STREAM_PLAN: u64 = 0x504c_414e_0000_0004;
const STREAM_IDS: u64 = 0x4944_5300_0000_0005;
const STREAM_CONTEXTS: u64 = 0x4354_5854_0000_0006;

/// How the assets under the root folder are shared out.
struct Plan {
    /// Subtree size of each site, in order.
    sites: Vec<u64>,
    /// Index of each site.
    sites_at: Vec<u64>,
    /// Subtree size of "Shared Content" (0: none).
    shared: u64,
}

impl Plan {
    fn new(opts: &GenerateOptions) -> Self {
        let mut r = Rng::new(mix(opts.seed, STREAM_PLAN));
        let rest = opts.assets - 1;
        let k = (2 + r.below(2)).min(rest);
        let shared = if rest >= 50 {
            rest * (2 + r.below(5)) / 100
        } else {
            0
        };
        let for_sites = rest - shared;
        let weights: &[u64] = if k == 3 { &[5, 3, 2] } else { &[6, 4] };
        let mut sites: Vec<u64> = weights[..k as usize]
            .iter()
            .map(|w| (for_sites * w / 10).max(1))
            .collect();
        // Rounding: the first site takes the difference (it is the largest).
        let assigned: u64 = sites.iter().skip(1).sum();
        if let Some(first) = sites.first_mut() {
            *first = for_sites - assigned;
        }
        let mut sites_at = Vec::with_capacity(sites.len());
        let mut at = 1;
        for b in &sites {
            sites_at.push(at);
            at += b;
        }
        Self {
            sites,
            sites_at,
            shared,
        }
    }
}

/// What a node is for its parent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Generic,
    Site(u32),
    Intranet,
    Shared,
}

/// The flavour of a folder decides its leaves and sub-folders.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Flavor {
    General,
    News,
    Media,
}

/// Asset types.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Site,
    Folder,
    Page,
    Listing,
    News,
    File,
    Image,
    Pdf,
    Bodycopy,
    Wysiwyg,
}

impl Kind {
    fn code(self) -> &'static str {
        match self {
            Kind::Site => "site",
            Kind::Folder => "folder",
            Kind::Page => "page_standard",
            Kind::Listing => "page_asset_listing",
            Kind::News => "news_item",
            Kind::File => "file",
            Kind::Image => "image",
            Kind::Pdf => "pdf_file",
            Kind::Bodycopy => "bodycopy",
            Kind::Wysiwyg => "content_type_wysiwyg",
        }
    }

    fn type_name(self) -> &'static str {
        match self {
            Kind::Site => "Site",
            Kind::Folder => "Folder",
            Kind::Page => "Standard Page",
            Kind::Listing => "Asset Listing Page",
            Kind::News => "News Item",
            Kind::File => "File",
            Kind::Image => "Image",
            Kind::Pdf => "PDF File",
            Kind::Bodycopy => "Bodycopy",
            Kind::Wysiwyg => "WYSIWYG",
        }
    }

    /// Whether a metadata schema applies (else `metadata` is null).
    fn has_metadata(self) -> bool {
        matches!(self, Kind::Site | Kind::Page | Kind::Listing | Kind::News)
    }

    /// File extension, for file-like assets.
    fn extension(self, r: &mut Rng) -> Option<&'static str> {
        match self {
            Kind::File => Some(*r.pick(&["docx", "xlsx", "zip", "txt", "pptx"])),
            Kind::Image => Some(*r.pick(&["jpg", "png", "gif", "webp"])),
            Kind::Pdf => Some("pdf"),
            _ => None,
        }
    }
}

/// What the children of an asset inherit from it.
struct Ctx {
    index: u64,
    id: String,
    /// First URL; children extend it.
    url: Option<String>,
    depth: u32,
    /// Site number (1-based), 0 outside sites.
    site: u32,
    intranet: bool,
    trashed: bool,
    flavor: Flavor,
}

/// Where a child sits under its parent.
#[derive(Clone, Copy)]
struct Slot {
    sort_order: i64,
    ordinal: u64,
    link_type: &'static str,
}

/// Sort orders handed out under one parent: 0, 1, 2 … with occasional ties and gaps.
#[derive(Default)]
struct SortOrders {
    next: i64,
    last: Option<i64>,
}

/// A possible second parent.
struct Candidate {
    index: u64,
    id: String,
    url: Option<String>,
}

/// Permission levels.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
    Admin,
}

/// One permission row of the asset being written.
#[derive(Clone, Copy)]
struct Perm {
    principal: u64,
    access: Access,
    granted: bool,
}

/// Status codes with their weights (per 1000) for ordinary assets.
const STATUSES: [(u16, u64); 9] = [
    (16, 780),
    (2, 70),
    (1, 40),
    (64, 60),
    (32, 25),
    (4, 8),
    (8, 8),
    (128, 5),
    (256, 4),
];

/// The streaming generator.
struct Tree {
    seed: u64,
    /// Contexts besides the default one.
    contexts: Vec<String>,
    /// Shape decisions (kinds, budgets, links); per-asset fields use their own stream.
    rng: Rng,
    ids: Ids,
    next_index: u64,
    next_link: u64,
    intranet_site: u32,
    assets: Sink,
    links: Sink,
    perms: Sink,
    line: Vec<u8>,
    html: String,
    perm_rows: Vec<Perm>,
    reservoir: Vec<Candidate>,
    containers_seen: u64,
}

/// The fields of one asset line.
struct AssetLine<'a> {
    id: &'a str,
    kind: Kind,
    version: &'a str,
    name: &'a str,
    short_name: &'a str,
    status: u16,
    dates: &'a Dates,
    /// `None`: the key is left out (default `[]`).
    urls: Option<&'a [String]>,
    attributes: &'a [u8],
    metadata: &'a [u8],
    contents: &'a str,
    /// `None`: the key is left out (default false).
    trashed: Option<bool>,
    live: Option<&'a [u8]>,
}

impl Tree {
    fn run(&mut self, plan: &Plan) -> Result<()> {
        let root = self.root()?;
        for (k, &budget) in plan.sites.iter().enumerate() {
            let slot = Slot {
                sort_order: k as i64,
                ordinal: k as u64 + 1,
                link_type: "menu",
            };
            self.node(&root, budget, slot, Role::Site(k as u32 + 1))?;
        }
        if plan.shared > 0 {
            let n = plan.sites.len() as u64;
            let slot = Slot {
                sort_order: n as i64 + 2,
                ordinal: n + 1,
                link_type: "menu",
            };
            self.node(&root, plan.shared, slot, Role::Shared)?;
        }
        Ok(())
    }

    /// Writes the root folder (index 0).
    fn root(&mut self) -> Result<Ctx> {
        let index = self.take_index();
        let id = self.ids.id(index);
        let mut r = Rng::new(mix(self.seed ^ STREAM_ASSET, index));
        let dates = Dates::roll(&mut r, 16);
        let mut attributes = Vec::new();
        write_attributes(
            &mut attributes,
            &mut r,
            Kind::Folder,
            "Root Folder",
            "Root Folder",
            "",
        );
        self.write_asset(&AssetLine {
            id: &id,
            kind: Kind::Folder,
            version: "0.1.0",
            name: "Root Folder",
            short_name: "Root Folder",
            status: 16,
            dates: &dates,
            urls: Some(&[]),
            attributes: &attributes,
            metadata: b"null",
            contents: "",
            trashed: Some(false),
            live: None,
        })?;
        self.perm_rows.clear();
        self.perm_rows.push(Perm {
            principal: SITE_ADMINS,
            access: Access::Admin,
            granted: true,
        });
        self.write_perms(&id)?;
        Ok(Ctx {
            index,
            id,
            url: None,
            depth: 0,
            site: 0,
            intranet: false,
            trashed: false,
            flavor: Flavor::General,
        })
    }

    fn take_index(&mut self) -> u64 {
        let i = self.next_index;
        self.next_index += 1;
        i
    }

    /// Writes one asset with `budget` assets in its subtree (itself, its
    /// dependents and its descendants), then its subtree.
    fn node(&mut self, parent: &Ctx, budget: u64, slot: Slot, role: Role) -> Result<()> {
        let index = self.take_index();
        let id = self.ids.id(index);
        let mut r = Rng::new(mix(self.seed ^ STREAM_ASSET, index));
        let (kind, deps, flavor, big) = self.shape(parent, budget, role);
        let rest = budget - 1 - deps;
        let site = match role {
            Role::Site(n) => n,
            _ => parent.site,
        };
        let intranet = parent.intranet || role == Role::Intranet;
        // Trash whole small subtrees only, so about 1% of the assets end up trashed.
        let trashed =
            parent.trashed || (r.chance(6, 1000) && role == Role::Generic && budget <= 30);

        let named = Named::roll(&mut r, kind, flavor, role);
        let status = if role == Role::Generic {
            r.weighted(&STATUSES)
        } else {
            16
        };
        let has_live = matches!(status, 64 | 128 | 256) && r.chance(600, 1000);
        let dates = Dates::roll(&mut r, status);
        let version = roll_version(&mut r, status);

        // URLs.
        let mut urls: Vec<String> = Vec::new();
        let ext = named.ext.map(|e| format!(".{e}")).unwrap_or_default();
        if let Role::Site(n) = role {
            urls.push(format!("https://site{n}.example.test"));
            if n == 1 {
                urls.push(format!("http://site{n}.example.test"));
            }
        } else if let Some(pu) = &parent.url {
            let u = format!("{pu}/{}-{}{ext}", named.slug, slot.ordinal);
            if r.chance(80, 1000) {
                if let Some(rest) = u.strip_prefix("https://") {
                    let http = format!("http://{rest}");
                    urls.push(u);
                    urls.push(http);
                } else {
                    urls.push(u);
                }
            } else {
                urls.push(u);
            }
        }
        let second = if role == Role::Generic && self.rng.chance(20, 1000) {
            self.second_parent(parent.index)
        } else {
            None
        };
        if let Some((c, _)) = &second {
            // Only assets that already live under a site get a second URL.
            if let Some(cu) = c.url.as_ref().filter(|_| !urls.is_empty()) {
                urls.push(format!("{cu}/{}--{index}{ext}", named.slug));
            }
        }

        // Contents.
        let mut html = std::mem::take(&mut self.html);
        html.clear();
        match kind {
            Kind::Page | Kind::Listing => {
                html.push_str("<h1>");
                push_html_text(&mut html, &named.name);
                html.push_str("</h1>\n");
                let size = page_size(&mut r);
                write_html(&mut html, &mut r, size);
            }
            Kind::News => {
                let size = 300 + r.below(900) as usize;
                write_html(&mut html, &mut r, size);
            }
            _ => {}
        }
        let mut attributes = Vec::with_capacity(512);
        write_attributes(
            &mut attributes,
            &mut r,
            kind,
            &named.name,
            &named.short_name,
            &named.file_name,
        );
        let mut metadata = Vec::with_capacity(256);
        write_metadata(&mut metadata, &mut r, kind);
        let live = if has_live {
            Some(live_version(&mut r, kind, flavor, &version))
        } else {
            None
        };

        self.write_asset(&AssetLine {
            id: &id,
            kind,
            version: &version,
            name: &named.name,
            short_name: &named.short_name,
            status,
            dates: &dates,
            urls: Some(&urls),
            attributes: &attributes,
            metadata: &metadata,
            contents: &html,
            trashed: Some(trashed),
            live: live.as_deref(),
        })?;
        self.write_link(
            &parent.id,
            &id,
            slot.link_type,
            "",
            slot.sort_order,
            false,
            false,
        )?;
        if let Some((c, link_type)) = &second {
            let sort_order = if self.rng.chance(500, 1000) {
                self.rng.below(30)
            } else {
                1000 + self.rng.below(50)
            };
            self.write_link(&c.id, &id, link_type, "", sort_order as i64, false, false)?;
        }
        if role == Role::Generic && self.rng.chance(20, 1000) {
            let target = self.rng.below(self.ids.assets);
            if target != index {
                let target = self.ids.id(target);
                let value = if self.rng.chance(500, 1000) {
                    "related"
                } else {
                    ""
                };
                self.write_link(&id, &target, "reference", value, 0, false, false)?;
            }
        }
        self.roll_perms(&mut r, role, site, intranet);
        self.write_perms(&id)?;

        // Dependents: page → bodycopy (→ content_type_wysiwyg), sharing the
        // page's status, version, dates, permissions and trash state.
        let mut major = id.clone();
        for (k, dep) in [Kind::Bodycopy, Kind::Wysiwyg]
            .into_iter()
            .take(deps as usize)
            .enumerate()
        {
            let dep_index = self.take_index();
            let dep_id = self.ids.id(dep_index);
            let mut dr = Rng::new(mix(self.seed ^ STREAM_ASSET, dep_index));
            if k == 0 {
                // The bodycopy holds the page's contents without the heading.
                if let Some(at) = html.find("</h1>\n") {
                    html.drain(..at + "</h1>\n".len());
                }
            }
            let name = if dep == Kind::Bodycopy {
                "Page Contents"
            } else {
                "Content Container"
            };
            let mut attributes = Vec::with_capacity(256);
            write_attributes(&mut attributes, &mut dr, dep, name, name, "");
            let dep_live = live
                .as_ref()
                .map(|_| live_version(&mut dr, dep, Flavor::General, &version));
            self.write_asset(&AssetLine {
                id: &dep_id,
                kind: dep,
                version: &version,
                name,
                short_name: name,
                status,
                dates: &dates,
                urls: None,
                attributes: &attributes,
                metadata: b"null",
                contents: &html,
                trashed: if trashed { Some(true) } else { None },
                live: dep_live.as_deref(),
            })?;
            self.write_link(&major, &dep_id, "invisible", "", 0, true, true)?;
            self.write_perms(&dep_id)?;
            major = dep_id;
        }
        self.html = html;

        let url = urls.into_iter().next();
        let is_container = matches!(kind, Kind::Folder | Kind::Page | Kind::Listing | Kind::Site);
        if is_container {
            self.remember(index, &id, url.as_deref());
        }
        if rest > 0 {
            let ctx = Ctx {
                index,
                id,
                url,
                depth: parent.depth + 1,
                site,
                intranet,
                trashed,
                flavor,
            };
            let intranet_first =
                matches!(role, Role::Site(n) if n == self.intranet_site) && rest >= 10;
            self.children(&ctx, rest, big, intranet_first)?;
        }
        Ok(())
    }

    /// Decides kind, number of dependents, folder flavour and whether a
    /// folder is "big" (all its children are leaves).
    fn shape(&mut self, parent: &Ctx, budget: u64, role: Role) -> (Kind, u64, Flavor, bool) {
        let rng = &mut self.rng;
        match role {
            Role::Site(_) => return (Kind::Site, 0, Flavor::General, false),
            Role::Intranet | Role::Shared => return (Kind::Folder, 0, Flavor::General, false),
            Role::Generic => {}
        }
        let folder_flavor = |rng: &mut Rng| match parent.flavor {
            Flavor::General => match rng.below(100) {
                0..=69 => Flavor::General,
                70..=84 => Flavor::News,
                _ => Flavor::Media,
            },
            f => f,
        };
        if budget == 1 {
            let kind = match parent.flavor {
                Flavor::News => Kind::News,
                Flavor::Media => match rng.below(4) {
                    0 | 1 => Kind::Image,
                    2 => Kind::Pdf,
                    _ => Kind::File,
                },
                Flavor::General => match rng.below(100) {
                    0..=34 => Kind::News,
                    35..=59 => Kind::Image,
                    60..=74 => Kind::File,
                    75..=94 => Kind::Pdf,
                    _ => Kind::Folder,
                },
            };
            let flavor = if kind == Kind::Folder {
                folder_flavor(rng)
            } else {
                Flavor::General
            };
            return (kind, 0, flavor, false);
        }
        // Budgets 2 and 3: a page whose dependents use the budget up.
        if budget <= 3 {
            return (Kind::Page, budget - 1, Flavor::General, false);
        }
        let kind = match parent.flavor {
            Flavor::News | Flavor::Media if rng.chance(850, 1000) => Kind::Folder,
            Flavor::News | Flavor::Media => Kind::Page,
            Flavor::General => match rng.below(100) {
                0..=49 => Kind::Page,
                50..=59 => Kind::Listing,
                _ => Kind::Folder,
            },
        };
        if kind != Kind::Folder {
            // One or two dependents; mostly avoid pages left with one or two children.
            let few = |deps: u64| (1..=2).contains(&(budget - 1 - deps));
            let first = if rng.chance(200, 1000) { 2 } else { 1 };
            if !few(first) || rng.chance(150, 1000) {
                return (kind, first, Flavor::General, false);
            }
            if !few(3 - first) {
                return (kind, 3 - first, Flavor::General, false);
            }
        }
        // A folder: budget ≥ 4 leaves it at least three children.
        let mut flavor = folder_flavor(rng);
        // News and media folders are the ones that grow big.
        let odds = if flavor == Flavor::General { 80 } else { 350 };
        let big =
            (BIG_FOLDER_MIN..=BIG_FOLDER_MAX).contains(&(budget - 1)) && rng.chance(odds, 1000);
        if big && flavor == Flavor::General {
            flavor = if rng.chance(500, 1000) {
                Flavor::News
            } else {
                Flavor::Media
            };
        }
        (Kind::Folder, 0, flavor, big)
    }

    /// Writes the subtree below `ctx`: `rest` assets shared among its children.
    fn children(&mut self, ctx: &Ctx, rest: u64, big: bool, intranet_first: bool) -> Result<()> {
        let mut sort = SortOrders::default();
        let mut ordinal = 0;
        let mut remaining = rest;
        let generic_link = |rng: &mut Rng| match rng.below(100) {
            0..=84 => "menu",
            85..=96 => "hidden",
            _ => "invisible",
        };
        if intranet_first {
            let budget = (rest * 15 / 100).max(1);
            ordinal += 1;
            let sort_order = self.sort_order(&mut sort);
            self.node(
                ctx,
                budget,
                Slot {
                    sort_order,
                    ordinal,
                    link_type: "menu",
                },
                Role::Intranet,
            )?;
            remaining -= budget;
        }
        if remaining == 0 {
            return Ok(());
        }
        let budgets = if big {
            vec![1; remaining as usize]
        } else {
            self.split(remaining, ctx.depth)
        };
        for budget in budgets {
            ordinal += 1;
            let sort_order = self.sort_order(&mut sort);
            let link_type = generic_link(&mut self.rng);
            self.node(
                ctx,
                budget,
                Slot {
                    sort_order,
                    ordinal,
                    link_type,
                },
                Role::Generic,
            )?;
        }
        Ok(())
    }

    /// Splits `total` assets among a random number of children, each at least 1.
    fn split(&mut self, total: u64, depth: u32) -> Vec<u64> {
        let rng = &mut self.rng;
        let count = if depth >= MAX_DEPTH {
            total.min(BIG_FOLDER_MAX)
        } else if total <= 3 {
            total
        } else {
            // Mostly 3–30 children; big subtrees get more, which keeps the tree shallow.
            let roll = rng.below(100);
            let c = if roll >= 95 {
                31 + rng.below(40)
            } else if roll >= 70 || total > 2000 {
                10 + rng.below(21)
            } else {
                3 + rng.below(10)
            };
            c.min(total)
        };
        // Integer weights 1..=256, skewed: a few children get most of the subtree.
        let weights: Vec<u64> = (0..count)
            .map(|_| {
                let x = 1 + rng.below(16);
                x * x
            })
            .collect();
        let sum: u64 = weights.iter().sum();
        let extra = total - count;
        let mut out: Vec<u64> = weights
            .iter()
            .map(|&w| 1 + (u128::from(extra) * u128::from(w) / u128::from(sum)) as u64)
            .collect();
        let mut left = total - out.iter().sum::<u64>();
        for b in out.iter_mut() {
            if left == 0 {
                break;
            }
            *b += 1;
            left -= 1;
        }
        out
    }

    fn sort_order(&mut self, s: &mut SortOrders) -> i64 {
        let roll = self.rng.below(100);
        let v = match s.last {
            Some(last) if roll < 3 => last,
            _ => {
                if roll >= 96 {
                    s.next += 1 + self.rng.below(4) as i64;
                }
                let v = s.next;
                s.next += 1;
                v
            }
        };
        s.last = Some(v);
        v
    }

    /// Picks an earlier container (never `parent`) and a link type.
    fn second_parent(&mut self, parent: u64) -> Option<(Candidate, &'static str)> {
        if self.reservoir.is_empty() {
            return None;
        }
        let k = self.rng.below(self.reservoir.len() as u64) as usize;
        let c = &self.reservoir[k];
        if c.index == parent {
            return None;
        }
        let link_type = if self.rng.chance(500, 1000) {
            "menu"
        } else {
            "hidden"
        };
        Some((
            Candidate {
                index: c.index,
                id: c.id.clone(),
                url: c.url.clone(),
            },
            link_type,
        ))
    }

    /// Reservoir sampling (Algorithm R) over all containers seen so far.
    fn remember(&mut self, index: u64, id: &str, url: Option<&str>) {
        self.containers_seen += 1;
        let c = || Candidate {
            index,
            id: id.to_owned(),
            url: url.map(str::to_owned),
        };
        if self.reservoir.len() < RESERVOIR {
            self.reservoir.push(c());
        } else {
            let j = self.rng.below(self.containers_seen) as usize;
            if j < RESERVOIR {
                self.reservoir[j] = c();
            }
        }
    }

    /// Fills `perm_rows` for an asset (its dependents reuse them).
    fn roll_perms(&mut self, r: &mut Rng, role: Role, site: u32, intranet: bool) {
        let rows = &mut self.perm_rows;
        rows.clear();
        let push = |rows: &mut Vec<Perm>, principal: u64, access: Access, granted: bool| {
            if !rows
                .iter()
                .any(|p| p.principal == principal && p.access == access)
            {
                rows.push(Perm {
                    principal,
                    access,
                    granted,
                });
            }
        };
        match role {
            Role::Site(_) => {
                push(rows, PUBLIC, Access::Read, true);
                push(rows, SITE_ADMINS, Access::Admin, true);
            }
            _ if intranet => {
                push(rows, STAFF, Access::Read, true);
                if r.chance(20, 1000) {
                    push(
                        rows,
                        FIRST_USER + 3 + r.below(USERS - 3),
                        Access::Read,
                        true,
                    );
                }
                if r.chance(30, 1000) {
                    push(rows, TUTORS, Access::Read, false);
                }
            }
            _ => {
                if r.chance(900, 1000) {
                    push(rows, PUBLIC, Access::Read, true);
                }
            }
        }
        if role == Role::Generic && r.chance(12, 1000) {
            let who = match r.below(4) {
                0 => 27 + r.below(3),
                1 => PUBLIC,
                _ => FIRST_USER + 3 + r.below(USERS - 3),
            };
            push(rows, who, Access::Read, false);
        }
        if site == 1 {
            push(rows, EDITORS, Access::Write, true);
            if role == Role::Generic && r.chance(3, 1000) {
                push(rows, EDITOR_USER, Access::Write, false);
            }
            // A read deny beside the write grant: spec §4 denies only at exactly the checked
            // level, so editors lose LIVE assets here but keep drafts (the status gate is a
            // write check). The property tests rely on such rows.
            if role == Role::Generic && r.chance(8, 1000) {
                push(rows, EDITORS, Access::Read, false);
            }
        }
    }

    fn write_perms(&mut self, asset_id: &str) -> Result<()> {
        for k in 0..self.perm_rows.len() {
            let p = self.perm_rows[k];
            let line = &mut self.line;
            line.clear();
            line.extend_from_slice(b"{\"asset_id\":");
            push_str(line, asset_id);
            line.extend_from_slice(b",\"principal_id\":");
            push_pid(line, p.principal);
            let access = match p.access {
                Access::Read => "read",
                Access::Write => "write",
                Access::Admin => "admin",
            };
            pushf(
                line,
                format_args!(",\"access\":\"{access}\",\"granted\":{}}}\n", p.granted),
            );
            self.perms.put(&self.line)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn write_link(
        &mut self,
        major: &str,
        minor: &str,
        link_type: &str,
        value: &str,
        sort_order: i64,
        is_dependent: bool,
        is_exclusive: bool,
    ) -> Result<()> {
        let link_id = self.next_link;
        // Occasional gaps, as in a real link table.
        self.next_link += if self.rng.chance(50, 1000) {
            2 + self.rng.below(5)
        } else {
            1
        };
        let line = &mut self.line;
        line.clear();
        pushf(
            line,
            format_args!("{{\"link_id\":\"{link_id}\",\"major_id\":"),
        );
        push_str(line, major);
        line.extend_from_slice(b",\"minor_id\":");
        push_str(line, minor);
        pushf(
            line,
            format_args!(",\"link_type\":\"{link_type}\",\"value\":"),
        );
        push_str(line, value);
        pushf(
            line,
            format_args!(
                ",\"sort_order\":{sort_order},\"is_dependent\":{is_dependent},\"is_exclusive\":{is_exclusive}}}\n"
            ),
        );
        self.links.put(&self.line)
    }

    fn write_asset(&mut self, a: &AssetLine<'_>) -> Result<()> {
        let line = &mut self.line;
        line.clear();
        line.extend_from_slice(b"{\"id\":");
        push_str(line, a.id);
        pushf(
            line,
            format_args!(
                ",\"type\":\"{}\",\"type_name\":\"{}\",\"version\":",
                a.kind.code(),
                a.kind.type_name()
            ),
        );
        push_str(line, a.version);
        line.extend_from_slice(b",\"name\":");
        push_str(line, a.name);
        line.extend_from_slice(b",\"short_name\":");
        push_str(line, a.short_name);
        pushf(line, format_args!(",\"status\":{}", a.status));
        a.dates.write(line);
        if let Some(urls) = a.urls {
            line.extend_from_slice(b",\"urls\":[");
            for (k, u) in urls.iter().enumerate() {
                if k > 0 {
                    line.push(b',');
                }
                push_str(line, u);
            }
            line.push(b']');
        }
        line.extend_from_slice(b",\"attributes\":");
        line.extend_from_slice(a.attributes);
        line.extend_from_slice(b",\"metadata\":");
        line.extend_from_slice(a.metadata);
        line.extend_from_slice(b",\"contents\":");
        push_str(line, a.contents);
        if let Some(trashed) = a.trashed {
            pushf(line, format_args!(",\"trashed\":{trashed}"));
        }
        if let Some(live) = a.live {
            line.extend_from_slice(b",\"live\":");
            line.extend_from_slice(live);
        }
        write_contexts(line, self.seed, &self.contexts, a);
        line.extend_from_slice(b"}\n");
        self.assets.put(&self.line)
    }
}

/// The `contexts` key of an asset (absent when it has no override): per context, with
/// probability 2/5, the name (then, by halves, short name, contents, an attribute, metadata)
/// "translated". Decided by a stream keyed by the asset id, so other fields never change.
fn write_contexts(line: &mut Vec<u8>, seed: u64, contexts: &[String], a: &AssetLine<'_>) {
    if contexts.is_empty() {
        return;
    }
    let key = a.id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    let mut r = Rng::new(mix(mix(seed, STREAM_CONTEXTS), key));
    let mut opened = false;
    for ctx in contexts {
        if r.below(5) >= 2 {
            continue;
        }
        line.extend_from_slice(if opened { b"," } else { b",\"contexts\":{" });
        opened = true;
        push_str(line, ctx);
        line.extend_from_slice(b":{\"name\":");
        let name = format!("{} · {ctx}", a.name);
        push_str(line, &name);
        if r.below(2) == 0 {
            line.extend_from_slice(b",\"short_name\":");
            push_str(line, &format!("{} · {ctx}", a.short_name));
        }
        if !a.contents.is_empty() && r.below(2) == 0 {
            let mut cut = a.contents.len().min(300);
            while !a.contents.is_char_boundary(cut) {
                cut -= 1;
            }
            line.extend_from_slice(b",\"contents\":");
            push_str(
                line,
                &format!("<div lang=\"{ctx}\">{}</div>", &a.contents[..cut]),
            );
        }
        if r.below(2) == 0 {
            line.extend_from_slice(b",\"attributes\":{\"name\":");
            push_str(line, &name);
            line.push(b'}');
        }
        if a.metadata != b"null" && r.below(3) == 0 {
            line.extend_from_slice(b",\"metadata\":{\"description\":[");
            push_str(line, &name);
            line.extend_from_slice(b"]}");
        }
        line.push(b'}');
    }
    if opened {
        line.push(b'}');
    }
}

/// The `live` object of an asset in safe editing: the previous version.
fn live_version(r: &mut Rng, kind: Kind, flavor: Flavor, version: &str) -> Vec<u8> {
    let named = Named::roll(r, kind, flavor, Role::Generic);
    let (name, short_name) = match kind {
        Kind::Bodycopy => ("Page Contents".to_owned(), "Page Contents".to_owned()),
        Kind::Wysiwyg => (
            "Content Container".to_owned(),
            "Content Container".to_owned(),
        ),
        _ => (named.name, named.short_name),
    };
    // The live version is one patch behind.
    let previous = match version.rsplit_once('.') {
        Some((head, patch)) => {
            let p: u64 = patch.parse().unwrap_or(1);
            format!("{head}.{}", p.saturating_sub(1))
        }
        None => "0.1.0".to_owned(),
    };
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"{\"name\":");
    push_str(&mut out, &name);
    out.extend_from_slice(b",\"short_name\":");
    push_str(&mut out, &short_name);
    out.extend_from_slice(b",\"version\":");
    push_str(&mut out, &previous);
    out.extend_from_slice(b",\"attributes\":");
    write_attributes(&mut out, r, kind, &name, &short_name, &named.file_name);
    out.extend_from_slice(b",\"metadata\":");
    write_metadata(&mut out, r, kind);
    out.extend_from_slice(b",\"contents\":");
    let mut html = String::new();
    if matches!(
        kind,
        Kind::Page | Kind::Listing | Kind::News | Kind::Bodycopy | Kind::Wysiwyg
    ) {
        let size = 200 + r.below(400) as usize;
        write_html(&mut html, r, size);
    }
    push_str(&mut out, &html);
    out.push(b'}');
    out
}

fn roll_version(r: &mut Rng, status: u16) -> String {
    if status == 2 {
        return "0.1.0".to_owned();
    }
    format!("{}.{}.{}", r.below(3), r.below(10), 1 + r.below(20))
}

// ---------------------------------------------------------------------------
// Names, attributes, metadata, contents.

/// Title words: display form and URL slug form (lower-case ASCII letters and
/// hyphens only, never starting or ending with a hyphen). The tail holds the
/// rarer ones that exercise escaping and non-ASCII text.
const TITLE_WORDS: &[(&str, &str)] = &[
    ("Research", "research"),
    ("Study", "study"),
    ("Students", "students"),
    ("Campus", "campus"),
    ("Life", "life"),
    ("About", "about"),
    ("Contact", "contact"),
    ("Events", "events"),
    ("Library", "library"),
    ("Services", "services"),
    ("Support", "support"),
    ("Future", "future"),
    ("Courses", "courses"),
    ("Scholarships", "scholarships"),
    ("Alumni", "alumni"),
    ("Giving", "giving"),
    ("Careers", "careers"),
    ("International", "international"),
    ("Health", "health"),
    ("Science", "science"),
    ("Arts", "arts"),
    ("Engineering", "engineering"),
    ("Law", "law"),
    ("Business", "business"),
    ("Medicine", "medicine"),
    ("Policies", "policies"),
    ("Forms", "forms"),
    ("Guides", "guides"),
    ("Open", "open"),
    ("Day", "day"),
    ("Annual", "annual"),
    ("Report", "report"),
    ("Strategy", "strategy"),
    ("Governance", "governance"),
    ("Facilities", "facilities"),
    ("Accommodation", "accommodation"),
    ("Sport", "sport"),
    ("Wellbeing", "wellbeing"),
    ("Innovation", "innovation"),
    ("Partnerships", "partnerships"),
    ("Community", "community"),
    ("Outreach", "outreach"),
    ("Programs", "programs"),
    ("Handbook", "handbook"),
    ("Timetable", "timetable"),
    ("Fees", "fees"),
    ("Enrolment", "enrolment"),
    ("Graduation", "graduation"),
    ("Orientation", "orientation"),
    ("Awards", "awards"),
    // Rare: non-ASCII, `&`, quotes, angle brackets, slash, backslash, emoji.
    ("Māori", "maori"),
    ("日本", "nihon"),
    ("Café", "cafe"),
    ("Q&A", "q-a"),
    ("Terms & Conditions", "terms-conditions"),
    ("\"Big\"", "big"),
    ("<Beta>", "beta"),
    ("and/or", "and-or"),
    ("Zoë's", "zoes"),
    ("C:\\Temp", "c-temp"),
    ("🎓", "grad"),
];
/// Number of common entries at the head of [`TITLE_WORDS`].
const COMMON_TITLE_WORDS: u64 = 50;

/// Words for body text.
const BODY_WORDS: &[&str] = &[
    "the",
    "students",
    "research",
    "campus",
    "program",
    "community",
    "learn",
    "study",
    "apply",
    "support",
    "library",
    "course",
    "teaching",
    "staff",
    "enrolment",
    "university",
    "world",
    "future",
    "information",
    "services",
    "events",
    "news",
    "science",
    "arts",
    "health",
    "partnership",
    "innovation",
    "global",
    "local",
    "education",
    "career",
    "skills",
    "project",
    "results",
    "open",
    "day",
    "and",
    "with",
    "for",
    "our",
    "new",
    "from",
    "about",
    "every",
    "will",
    "can",
    "Māori",
    "日本",
    "café",
    "naïve",
    "façade",
    "it's",
    "we're",
    "&",
    "&amp;",
    "\"quoted\"",
    "‘single’",
    "“double”",
    "—",
    "€5",
    "50%",
    "ngā",
    "mihi",
    "Zoë",
];

const FIRST_NAMES: &[&str] = &[
    "Aroha", "Ben", "Chloé", "Dev", "Emma", "Finn", "Grace", "Hiro", "Isla", "Jack", "Kiri",
    "Liam", "Mei", "Noah", "Olivia", "Priya", "Quinn", "Rāwiri", "Sofia", "Tom", "Uma", "Zoë",
];
const LAST_NAMES: &[&str] = &[
    "Smith",
    "Ngata",
    "Nguyen",
    "O'Brien",
    "Tanaka",
    "García",
    "Müller",
    "Patel",
    "Williams",
    "Brown",
    "Wilson",
    "Taylor",
    "Kowalski",
    "Søndergaard",
    "Li",
];
const MONTHS: &[(&str, &str)] = &[
    ("January", "january"),
    ("February", "february"),
    ("March", "march"),
    ("April", "april"),
    ("May", "may"),
    ("June", "june"),
    ("July", "july"),
    ("August", "august"),
    ("September", "september"),
    ("October", "october"),
    ("November", "november"),
    ("December", "december"),
];

/// An asset's names.
struct Named {
    name: String,
    short_name: String,
    /// URL slug without the ordinal and extension.
    slug: String,
    ext: Option<&'static str>,
    /// For file-like assets, the file name; else empty.
    file_name: String,
}

impl Named {
    fn roll(r: &mut Rng, kind: Kind, flavor: Flavor, role: Role) -> Self {
        let simple = |name: &str, slug: &str| Named {
            name: name.to_owned(),
            short_name: name.to_owned(),
            slug: slug.to_owned(),
            ext: None,
            file_name: String::new(),
        };
        match role {
            Role::Site(n) => return simple(&format!("Site {n}"), &format!("site{n}")),
            Role::Intranet => return simple("Intranet", "intranet"),
            Role::Shared => return simple("Shared Content", "shared-content"),
            Role::Generic => {}
        }
        let (words, slug) = match (kind, flavor) {
            (Kind::Folder, Flavor::News) => {
                let year = 2010 + r.below(15);
                match r.below(3) {
                    0 => ("News".to_owned(), "news".to_owned()),
                    1 => (format!("News {year}"), format!("news-{year}")),
                    _ => {
                        let (m, ms) = r.pick(MONTHS);
                        (format!("{m} {year}"), format!("{ms}-{year}"))
                    }
                }
            }
            (Kind::Folder, Flavor::Media) => {
                let (w, ws) = *r.pick(&[
                    ("Images", "images"),
                    ("Documents", "documents"),
                    ("Media", "media"),
                    ("Downloads", "downloads"),
                    ("Photos", "photos"),
                ]);
                if r.chance(500, 1000) {
                    let (t, ts) = title_word(r);
                    (format!("{t} {w}"), format!("{ts}-{ws}"))
                } else {
                    (w.to_owned(), ws.to_owned())
                }
            }
            (Kind::Folder, Flavor::General) => title(r, 1, 2),
            (Kind::News, _) => title(r, 3, 6),
            _ => title(r, 1, 3),
        };
        let ext = kind.extension(r);
        let (name, file_name) = match ext {
            Some(e) => (format!("{slug}.{e}"), format!("{slug}.{e}")),
            None => (words.clone(), String::new()),
        };
        let short_name = match words.split_once(' ') {
            Some((first, _)) if ext.is_none() && r.chance(300, 1000) => first.to_owned(),
            _ => name.clone(),
        };
        Named {
            name,
            short_name,
            slug,
            ext,
            file_name,
        }
    }
}

fn title_word(r: &mut Rng) -> (&'static str, &'static str) {
    if r.chance(50, 1000) {
        let k = COMMON_TITLE_WORDS + r.below(TITLE_WORDS.len() as u64 - COMMON_TITLE_WORDS);
        TITLE_WORDS[k as usize]
    } else {
        TITLE_WORDS[r.below(COMMON_TITLE_WORDS) as usize]
    }
}

/// A title of `lo..=hi` words and its slug.
fn title(r: &mut Rng, lo: u64, hi: u64) -> (String, String) {
    let n = lo + r.below(hi - lo + 1);
    let mut name = String::new();
    let mut slug = String::new();
    for k in 0..n {
        let (w, s) = title_word(r);
        if k > 0 {
            name.push(' ');
            slug.push('-');
        }
        name.push_str(w);
        slug.push_str(s);
    }
    (name, slug)
}

/// How an attribute value is made.
#[derive(Clone, Copy)]
enum AttrGen {
    Name,
    Short,
    FileName,
    Text,
    Str(&'static [&'static str]),
    Int(u64, u64),
    /// True with this probability per 1000.
    Bool(u64),
    Float,
}

/// Ten attributes per kind; an asset has the first 3–10 of them.
fn attribute_list(kind: Kind) -> [(&'static str, AttrGen); 10] {
    use AttrGen::*;
    match kind {
        Kind::Site => [
            ("name", Name),
            ("short_name", Short),
            (
                "timezone",
                Str(&["Australia/Sydney", "Australia/Brisbane", "Pacific/Auckland"]),
            ),
            ("charset", Str(&["utf-8"])),
            ("year_founded", Int(1850, 2020)),
            ("show_in_sitemap", Bool(800)),
            ("theme", Str(&["classic", "modern", "dark"])),
            ("max_upload_mb", Int(5, 500)),
            ("rating", Float),
            ("tagline", Text),
        ],
        Kind::Folder => [
            ("name", Name),
            ("short_name", Short),
            ("show_in_menu", Bool(500)),
            ("sort_by", Str(&["name", "created", "manual"])),
            ("item_limit", Int(0, 500)),
            ("listable", Bool(700)),
            ("colour", Str(&["#003366", "#ffcc00", "#c0ffee"])),
            ("owner", Text),
            ("weight", Float),
            ("notes", Text),
        ],
        Kind::Page | Kind::Listing => [
            ("name", Name),
            ("short_name", Short),
            ("show_in_menu", Bool(850)),
            (
                "template",
                Str(&["default", "landing", "two-column", "wide"]),
            ),
            ("word_count", Int(50, 3000)),
            ("allow_comments", Bool(200)),
            ("audience", Str(&["public", "students", "staff", "alumni"])),
            ("review_days", Int(30, 730)),
            ("priority", Float),
            ("summary", Text),
        ],
        Kind::News => [
            ("name", Name),
            ("summary", Text),
            ("show_headline", Bool(900)),
            ("allow_comments", Bool(300)),
            ("word_count", Int(80, 1500)),
            (
                "category",
                Str(&["campus", "research", "sport", "alumni", "media release"]),
            ),
            (
                "contact_name",
                Str(&["Media Office", "Aroha Ngata", "Zoë Müller"]),
            ),
            (
                "link_url",
                Str(&[
                    "https://www.example.test/news",
                    "https://example.test/a?b=1&c=2",
                ]),
            ),
            ("rating", Float),
            ("expires", Bool(100)),
        ],
        Kind::File => [
            ("title", Name),
            ("filename", FileName),
            ("allow_unrestricted", Bool(900)),
            ("size", Int(1_000, 50_000_000)),
            (
                "mime",
                Str(&["application/octet-stream", "application/zip", "text/plain"]),
            ),
            ("downloads", Int(0, 100_000)),
            ("expires", Bool(50)),
            (
                "checksum",
                Str(&["9f86d081884c7d65", "2c26b46b68ffc68f", "fcde2b2edba56bf4"]),
            ),
            ("rating", Float),
            ("description", Text),
        ],
        Kind::Image => [
            ("title", Name),
            ("alt", Text),
            ("filename", FileName),
            ("width", Int(16, 6000)),
            ("height", Int(16, 4000)),
            ("size", Int(1_000, 20_000_000)),
            ("allow_unrestricted", Bool(950)),
            ("caption", Text),
            ("focal_x", Float),
            (
                "credit",
                Str(&["Photo: Example University", "© Jane Doe", "Ngā mihi"]),
            ),
        ],
        Kind::Pdf => [
            ("title", Name),
            ("filename", FileName),
            ("size", Int(10_000, 80_000_000)),
            ("pages", Int(1, 400)),
            ("allow_unrestricted", Bool(900)),
            (
                "author",
                Str(&["Planning Office", "Tanaka Hiro", "O'Brien, Liam"]),
            ),
            ("language", Str(&["en", "mi", "ja", "en-AU"])),
            ("searchable", Bool(700)),
            ("score", Float),
            ("description", Text),
        ],
        Kind::Bodycopy => [
            ("name", Name),
            ("layout", Str(&["single", "two-column"])),
            ("word_count", Int(20, 3000)),
            ("dir", Str(&["ltr"])),
            ("editable", Bool(950)),
            ("div_count", Int(1, 6)),
            ("css_class", Str(&["", "content", "main-body"])),
            ("spellcheck", Bool(500)),
            ("lang", Str(&["en", "en-AU", "mi"])),
            ("weight", Float),
        ],
        Kind::Wysiwyg => [
            ("name", Name),
            ("html_length", Int(0, 20_000)),
            ("dir", Str(&["ltr", "rtl"])),
            ("editor", Str(&["tinymce", "fck", "matrix"])),
            ("spellcheck", Bool(500)),
            ("word_count", Int(20, 3000)),
            ("allow_scripts", Bool(20)),
            ("autosave", Bool(500)),
            ("toolbar", Str(&["basic", "full"])),
            ("weight", Float),
        ],
    }
}

/// Appends the attributes object.
fn write_attributes(
    buf: &mut Vec<u8>,
    r: &mut Rng,
    kind: Kind,
    name: &str,
    short: &str,
    file: &str,
) {
    let n = 3 + r.below(8) as usize;
    buf.push(b'{');
    for (k, (key, g)) in attribute_list(kind).into_iter().take(n).enumerate() {
        if k > 0 {
            buf.push(b',');
        }
        push_str(buf, key);
        buf.push(b':');
        match g {
            AttrGen::Name => push_str(buf, name),
            AttrGen::Short => push_str(buf, short),
            AttrGen::FileName => push_str(buf, file),
            AttrGen::Text => push_str(buf, &sentence(r, 3, 10)),
            AttrGen::Str(options) => push_str(buf, r.pick::<&str>(options)),
            AttrGen::Int(lo, hi) => pushf(buf, format_args!("{}", lo + r.below(hi - lo + 1))),
            AttrGen::Bool(p) => pushf(buf, format_args!("{}", r.chance(p, 1000))),
            AttrGen::Float => {
                // Never integral, no trailing zero: 0.05 … 9.95 in steps of 0.05.
                let hundredths = 5 * (1 + r.below(199));
                let hundredths = if hundredths % 100 == 0 {
                    hundredths + 5
                } else {
                    hundredths
                };
                let (int, frac) = (hundredths / 100, hundredths % 100);
                if frac % 10 == 0 {
                    pushf(buf, format_args!("{int}.{}", frac / 10));
                } else {
                    pushf(buf, format_args!("{int}.{frac:02}"));
                }
            }
        }
    }
    buf.push(b'}');
}

/// Appends the metadata value: `null` when no schema applies.
fn write_metadata(buf: &mut Vec<u8>, r: &mut Rng, kind: Kind) {
    if !kind.has_metadata() {
        buf.extend_from_slice(b"null");
        return;
    }
    buf.extend_from_slice(b"{\"description\":[");
    if r.chance(900, 1000) {
        push_str(buf, &sentence(r, 6, 20));
    }
    buf.extend_from_slice(b"],\"keywords\":[");
    if r.chance(750, 1000) {
        for k in 0..1 + r.below(5) {
            if k > 0 {
                buf.push(b',');
            }
            push_str(buf, title_word(r).1);
        }
    }
    buf.extend_from_slice(b"],\"robots\":[");
    match r.below(10) {
        0 => buf.extend_from_slice(b"\"noindex\",\"nofollow\""),
        1 => buf.extend_from_slice(b"\"noindex\""),
        _ => {}
    }
    buf.push(b']');
    if r.chance(300, 1000) {
        buf.extend_from_slice(b",\"author\":[");
        push_str(
            buf,
            &format!("{} {}", r.pick(FIRST_NAMES), r.pick(LAST_NAMES)),
        );
        buf.push(b']');
    }
    buf.push(b'}');
}

/// A sentence of `lo..=hi` body words, capitalised, with a full stop.
fn sentence(r: &mut Rng, lo: u64, hi: u64) -> String {
    let mut s = String::new();
    push_sentence(&mut s, r, lo, hi);
    s
}

fn push_sentence(s: &mut String, r: &mut Rng, lo: u64, hi: u64) {
    let n = lo + r.below(hi - lo + 1);
    let start = s.len();
    for k in 0..n {
        if k > 0 {
            s.push(' ');
        }
        s.push_str(r.pick::<&str>(BODY_WORDS));
    }
    if r.chance(15, 1000) {
        s.push_str(" 🎉");
    }
    s.push('.');
    if let Some(c) = s[start..].chars().next() {
        if c.is_ascii_lowercase() {
            // The first byte is ASCII, so this replaces exactly one character.
            s.replace_range(start..start + 1, &c.to_ascii_uppercase().to_string());
        }
    }
}

/// Appends `text` with `&`, `<`, `>` as HTML entities (names may hold them).
fn push_html_text(html: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            c => html.push(c),
        }
    }
}

/// Size of a page's body: 300 B–4 KB, mostly under 1.2 KB.
fn page_size(r: &mut Rng) -> usize {
    // `write_html` overshoots its target by at most one block.
    if r.chance(750, 1000) {
        300 + r.below(900) as usize
    } else {
        1200 + r.below(2300) as usize
    }
}

/// Appends HTML blocks until `html` is at least `target` bytes long.
fn write_html(html: &mut String, r: &mut Rng, target: usize) {
    let goal = html.len() + target;
    while html.len() < goal {
        match r.below(20) {
            0..=11 => {
                html.push_str(if r.chance(150, 1000) {
                    "<p class=\"lead\">"
                } else {
                    "<p>"
                });
                for k in 0..1 + r.below(4) {
                    if k > 0 {
                        html.push(' ');
                    }
                    push_sentence(html, r, 6, 16);
                }
                html.push_str("</p>\n");
            }
            12 | 13 => {
                html.push_str("<h2>");
                let (t, _) = title(r, 1, 3);
                push_html_text(html, &t);
                html.push_str("</h2>\n");
            }
            14 | 15 => {
                html.push_str("<ul>");
                for _ in 0..2 + r.below(4) {
                    html.push_str("<li>");
                    push_sentence(html, r, 2, 6);
                    html.push_str("</li>");
                }
                html.push_str("</ul>\n");
            }
            16 | 17 => {
                html.push_str("<p>");
                push_sentence(html, r, 4, 10);
                html.push_str(
                    " <a href=\"https://www.example.test/search?q=study&amp;page=2\" title='Search'>Find out more</a></p>\n",
                );
            }
            18 => {
                html.push_str("<blockquote>“");
                push_sentence(html, r, 6, 14);
                html.push_str("”</blockquote>\n");
            }
            _ => {
                html.push_str("<p><img src=\"/__data/assets/image/0012/photo.jpg\" alt=\"\">\t");
                push_sentence(html, r, 3, 8);
                html.push_str("\u{a0}</p>\r\n");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Dates.

/// 2012-01-01T00:00:00Z.
const EPOCH_2012: i64 = 1_325_376_000;

/// A time zone family for an asset's dates.
#[derive(Clone, Copy)]
enum Zone {
    /// +10:00, or +11:00 from October to March (roughly Sydney).
    Sydney,
    Utc,
    /// −05:00.
    NewYork,
}

/// The four date objects: (seconds since the epoch, user id) or none.
struct Dates {
    zone: Zone,
    created: (i64, u64),
    updated: (i64, u64),
    published: Option<(i64, u64)>,
    status_changed: (i64, u64),
}

impl Dates {
    fn roll(r: &mut Rng, status: u16) -> Self {
        let zone = match r.below(100) {
            0..=95 => Zone::Sydney,
            96..=98 => Zone::Utc,
            _ => Zone::NewYork,
        };
        let author = |r: &mut Rng| match r.below(100) {
            0..=84 => FIRST_USER + r.below(USERS),
            85..=94 => ROOT_USER,
            _ => SYSTEM_ADMIN,
        };
        let created = EPOCH_2012 + r.below(410_000_000) as i64;
        let updated = created + r.below(63_072_000) as i64;
        let (by, editor) = (author(r), author(r));
        // "Published" only for assets that are or were live (status ≥ 16).
        let published = (status >= 16).then(|| (updated + r.below(259_200) as i64, editor));
        let changed = published.map_or(updated, |p| p.0)
            + if status > 16 {
                r.below(1_000_000) as i64
            } else {
                0
            };
        Dates {
            zone,
            created: (created, by),
            updated: (updated, editor),
            published,
            status_changed: (changed, editor),
        }
    }

    fn write(&self, buf: &mut Vec<u8>) {
        let one = |buf: &mut Vec<u8>, key: &str, v: Option<(i64, u64)>| {
            pushf(buf, format_args!(",\"{key}\":"));
            match v {
                Some((secs, user)) => {
                    buf.extend_from_slice(b"{\"date\":\"");
                    push_rfc3339(buf, secs, self.zone);
                    buf.extend_from_slice(b"\",\"user_id\":");
                    push_pid(buf, user);
                    buf.push(b'}');
                }
                None => buf.extend_from_slice(b"{\"date\":null,\"user_id\":null}"),
            }
        };
        one(buf, "created", Some(self.created));
        one(buf, "updated", Some(self.updated));
        one(buf, "published", self.published);
        one(buf, "status_changed", Some(self.status_changed));
    }
}

/// Appends `secs` (Unix time) as RFC 3339 local time with a numeric offset.
fn push_rfc3339(buf: &mut Vec<u8>, secs: i64, zone: Zone) {
    let offset_min: i64 = match zone {
        Zone::Sydney => {
            let (_, month, _) = civil_from_days(secs.div_euclid(86_400));
            if (4..=9).contains(&month) {
                600
            } else {
                660
            }
        }
        Zone::Utc => 0,
        Zone::NewYork => -300,
    };
    let local = secs + offset_min * 60;
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let sod = local.rem_euclid(86_400);
    let sign = if offset_min < 0 { '-' } else { '+' };
    let off = offset_min.abs();
    pushf(
        buf,
        format_args!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
            sod / 3600,
            sod / 60 % 60,
            sod % 60,
            off / 60,
            off % 60
        ),
    );
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

// ---------------------------------------------------------------------------
// Ids.

/// Maps a pre-order index to an asset id.
struct Ids {
    seed: u64,
    assets: u64,
    perm: Feistel,
    /// Indices that always get plain numeric ids (the sites).
    plain: Vec<u64>,
}

impl Ids {
    fn new(seed: u64, assets: u64, plain: &[u64]) -> Self {
        Self {
            seed,
            assets,
            perm: Feistel::new(assets.saturating_sub(1).max(1), mix(seed, STREAM_IDS)),
            plain: plain.to_vec(),
        }
    }

    fn id(&self, index: u64) -> String {
        if index == 0 {
            return "1".to_owned();
        }
        let h = mix(self.seed ^ STREAM_IDS, index);
        let num = 1000 + 3 * self.perm.permute(index - 1) + h % 3;
        if (h >> 8) % 200 == 0 && !self.plain.contains(&index) {
            format!("{num}:item/{}", 1 + (h >> 16) % 500)
        } else {
            num.to_string()
        }
    }
}

/// A keyed bijection on `0..domain`: a 4-round balanced Feistel network on
/// the smallest even number of bits that covers the domain, with cycle walking.
struct Feistel {
    domain: u64,
    half: u32,
    keys: [u64; 4],
}

impl Feistel {
    fn new(domain: u64, key: u64) -> Self {
        let bits = (64 - (domain - 1).leading_zeros()).max(2);
        let half = bits.div_ceil(2);
        let mut k = key;
        let keys = [
            splitmix64(&mut k),
            splitmix64(&mut k),
            splitmix64(&mut k),
            splitmix64(&mut k),
        ];
        Self { domain, half, keys }
    }

    fn permute(&self, x: u64) -> u64 {
        debug_assert!(x < self.domain);
        let mask = (1u64 << self.half) - 1;
        let mut y = x;
        loop {
            let (mut l, mut r) = (y >> self.half, y & mask);
            for key in self.keys {
                let f = mix(key, r) & mask;
                (l, r) = (r, l ^ f);
            }
            y = (l << self.half) | r;
            // The cycle through x contains x < domain, so this ends.
            if y < self.domain {
                return y;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// PRNG.

/// SplitMix64 (Steele, Lea & Flood 2014; constants from Vigna's reference
/// code): used to seed [`Rng`] and, as [`mix`], to hash (seed, index) pairs.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 64-bit hash of `(a, b)`: one SplitMix64 step from a mixed state.
fn mix(a: u64, b: u64) -> u64 {
    let mut s = a ^ b.wrapping_mul(0xD1B5_4A32_D192_ED03);
    splitmix64(&mut s)
}

/// xoshiro256** 1.0 (Blackman & Vigna 2018, public domain), seeded with four
/// SplitMix64 outputs. Written out here rather than taken from a crate so the
/// generated stores never change with a dependency's version: the tests pin
/// its first outputs.
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        let mut sm = seed;
        Self {
            s: [
                splitmix64(&mut sm),
                splitmix64(&mut sm),
                splitmix64(&mut sm),
                splitmix64(&mut sm),
            ],
        }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A number in `0..n` (`n > 0`), by multiply-shift (Lemire); the bias is
    /// below 2^-40 for the ranges used here and, above all, deterministic.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `num / den`.
    pub(crate) fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A value from `(value, weight)` pairs.
    fn weighted<T: Copy>(&mut self, items: &[(T, u64)]) -> T {
        let total: u64 = items.iter().map(|(_, w)| w).sum();
        let mut x = self.below(total);
        for &(v, w) in items {
            if x < w {
                return v;
            }
            x -= w;
        }
        items[items.len() - 1].0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::{HashMap, HashSet};

    use crate::store::FILES;

    fn make(assets: u64, seed: u64) -> (tempfile::TempDir, std::path::PathBuf, GenerateReport) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let out = tmp.path().join("store");
        let report = generate(
            &GenerateOptions {
                assets,
                seed,
                ..Default::default()
            },
            &out,
        )
        .expect("generate");
        (tmp, out, report)
    }

    fn lines(dir: &Path, file: &str) -> Vec<Value> {
        let text = fs::read_to_string(dir.join(file)).expect("read");
        text.lines()
            .enumerate()
            .map(|(k, l)| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{file}:{}: {e}: {l}", k + 1))
            })
            .collect()
    }

    fn s(v: &Value) -> &str {
        v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
    }

    /// URL normalisation as the spec's by_url matching: scheme ignored, a
    /// trailing slash ignored, host lower-cased.
    fn normalise(url: &str) -> String {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        match rest.split_once('/') {
            Some((host, path)) => format!("{}/{path}", host.to_lowercase()),
            None => rest.to_lowercase(),
        }
    }

    /// Every check the store loader makes, on a generated store.
    fn check_store(dir: &Path, report: &GenerateReport) {
        let store: Value =
            serde_json::from_str(&fs::read_to_string(dir.join("store.json")).unwrap()).unwrap();
        assert_eq!(store["format"], "matrix-snapshot-store/1");
        assert_eq!(store["contexts"], serde_json::json!(["Default"]));

        let assets = lines(dir, "assets.jsonl");
        let links = lines(dir, "links.jsonl");
        let principals = lines(dir, "principals.jsonl");
        let perms = lines(dir, "permissions.jsonl");
        let tokens = lines(dir, "tokens.jsonl");
        assert_eq!(report.assets, assets.len() as u64);
        assert_eq!(report.links, links.len() as u64);
        assert_eq!(report.principals, principals.len() as u64);
        assert_eq!(report.permissions, perms.len() as u64);
        assert_eq!(report.tokens, tokens.len() as u64);
        let bytes: u64 = FILES
            .iter()
            .map(|f| fs::metadata(dir.join(f)).unwrap().len())
            .sum();
        assert_eq!(report.bytes, bytes);

        let asset_keys = [
            "id",
            "type",
            "type_name",
            "version",
            "name",
            "short_name",
            "status",
            "created",
            "updated",
            "published",
            "status_changed",
            "urls",
            "attributes",
            "metadata",
            "contents",
            "trashed",
            "live",
        ];
        let mut ids = HashSet::new();
        let mut urls: HashMap<String, String> = HashMap::new();
        for a in &assets {
            let obj = a.as_object().unwrap();
            for k in obj.keys() {
                assert!(asset_keys.contains(&k.as_str()), "unknown key {k}");
            }
            let id = s(&a["id"]).to_owned();
            assert!(!id.is_empty() && !id.chars().any(char::is_control) && id != "by_url");
            assert!(ids.insert(id.clone()), "duplicate asset id {id}");
            s(&a["type"]);
            s(&a["type_name"]);
            s(&a["name"]);
            assert!([1, 2, 4, 8, 16, 32, 64, 128, 256].contains(&a["status"].as_u64().unwrap()));
            for key in ["created", "updated", "published", "status_changed"] {
                let d = &a[key];
                assert_eq!(d.as_object().unwrap().len(), 2);
                if let Some(date) = d["date"].as_str() {
                    time::OffsetDateTime::parse(
                        date,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .unwrap_or_else(|e| panic!("{date}: {e}"));
                    assert!(date.ends_with(":00") && !date.ends_with('Z'), "{date}");
                }
            }
            if a["status"].as_u64().unwrap() < 16 {
                assert!(a["published"]["date"].is_null());
            }
            for (_, v) in a["attributes"].as_object().unwrap() {
                assert!(v.is_string() || v.is_number() || v.is_boolean());
            }
            let n = a["attributes"].as_object().unwrap().len();
            assert!((3..=10).contains(&n));
            match &a["metadata"] {
                Value::Null => {}
                Value::Object(m) => {
                    for (_, v) in m {
                        assert!(v.as_array().unwrap().iter().all(Value::is_string));
                    }
                }
                v => panic!("metadata {v}"),
            }
            if let Some(live) = a.get("live") {
                assert!([64, 128, 256].contains(&a["status"].as_u64().unwrap()));
                let keys: Vec<_> = live.as_object().unwrap().keys().cloned().collect();
                assert_eq!(
                    keys,
                    [
                        "name",
                        "short_name",
                        "version",
                        "attributes",
                        "metadata",
                        "contents"
                    ]
                );
            }
            if let Some(list) = a.get("urls") {
                for u in list.as_array().unwrap() {
                    let u = s(u);
                    assert!(u.starts_with("https://") || u.starts_with("http://"), "{u}");
                    if let Some(other) = urls.insert(normalise(u), id.clone()) {
                        assert_eq!(other, id, "URL {u} used by two assets");
                    }
                }
            }
        }
        assert!(ids.contains("1"));

        let mut link_ids = HashSet::new();
        let mut graph: HashMap<&str, Vec<&str>> = HashMap::new();
        for l in &links {
            assert_eq!(l.as_object().unwrap().len(), 8);
            assert!(
                link_ids.insert(s(&l["link_id"]).to_owned()),
                "duplicate link id"
            );
            let (major, minor) = (s(&l["major_id"]), s(&l["minor_id"]));
            assert!(ids.contains(major), "unknown major {major}");
            assert!(ids.contains(minor), "unknown minor {minor}");
            let t = s(&l["link_type"]);
            assert!(["menu", "hidden", "invisible", "reference"].contains(&t));
            assert!(l["sort_order"].is_i64());
            if t != "reference" {
                graph.entry(major).or_default().push(minor);
            }
        }
        // No cycle among non-reference links (iterative three-colour DFS).
        let mut colour: HashMap<&str, u8> = HashMap::new();
        for start in ids.iter().map(String::as_str) {
            if colour.contains_key(start) {
                continue;
            }
            let mut stack = vec![(start, 0usize)];
            colour.insert(start, 1);
            while let Some((node, k)) = stack.pop() {
                let next = graph.get(node).and_then(|c| c.get(k)).copied();
                match next {
                    Some(child) => {
                        stack.push((node, k + 1));
                        match colour.get(child) {
                            Some(1) => panic!("cycle through {child}"),
                            Some(_) => {}
                            None => {
                                colour.insert(child, 1);
                                stack.push((child, 0));
                            }
                        }
                    }
                    None => {
                        colour.insert(node, 2);
                    }
                }
            }
        }
        // Every asset but the root has a non-reference parent.
        let with_parent: HashSet<&str> = graph.values().flatten().copied().collect();
        assert_eq!(with_parent.len() + 1, ids.len());

        let mut pids = HashMap::new();
        for p in &principals {
            let id = s(&p["id"]).to_owned();
            assert!(!ids.contains(&id), "principal id {id} is also an asset id");
            assert!(
                pids.insert(id, s(&p["kind"]).to_owned()).is_none(),
                "duplicate principal"
            );
        }
        assert_eq!(pids.values().filter(|k| *k == "public").count(), 1);
        let mut group_parents: HashMap<String, Vec<String>> = HashMap::new();
        for p in &principals {
            for g in p
                .get("groups")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                assert_eq!(pids[s(g)], "group");
                if p["kind"] == "group" {
                    group_parents
                        .entry(s(&p["id"]).to_owned())
                        .or_default()
                        .push(s(g).to_owned());
                }
            }
        }
        for start in group_parents.keys() {
            let mut seen = HashSet::new();
            let mut todo = vec![start.clone()];
            while let Some(g) = todo.pop() {
                for parent in group_parents.get(&g).into_iter().flatten() {
                    assert_ne!(parent, start, "group cycle");
                    if seen.insert(parent.clone()) {
                        todo.push(parent.clone());
                    }
                }
            }
        }
        let mut rows = HashSet::new();
        for p in &perms {
            assert!(ids.contains(s(&p["asset_id"])));
            assert!(pids.contains_key(s(&p["principal_id"])));
            assert!(["read", "write", "admin"].contains(&s(&p["access"])));
            assert!(p["granted"].is_boolean());
            let key = (
                s(&p["asset_id"]).to_owned(),
                s(&p["principal_id"]).to_owned(),
                s(&p["access"]).to_owned(),
            );
            assert!(rows.insert(key), "duplicate permission row {p}");
        }
        let mut seen_tokens = HashSet::new();
        for t in &tokens {
            let token = s(&t["token"]);
            assert!(!token.chars().any(char::is_whitespace));
            assert!(seen_tokens.insert(token.to_owned()));
            if let Some(user) = t["user_id"].as_str() {
                assert_ne!(pids[user], "group");
            }
            for root in t["root_nodes"].as_array().unwrap() {
                assert!(ids.contains(s(root)));
            }
        }
    }

    fn read_all(dir: &Path) -> Vec<Vec<u8>> {
        FILES
            .iter()
            .map(|f| fs::read(dir.join(f)).unwrap())
            .collect()
    }

    #[test]
    fn prng_outputs_are_pinned() {
        // SplitMix64 from state 0: the reference implementation's first output.
        let mut s = 0;
        assert_eq!(splitmix64(&mut s), 0xE220_A839_7B1D_CDAF);
        // xoshiro256** from SplitMix64(0): pinned so stores never change.
        let mut r = Rng::new(0);
        let first: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(
            first,
            [
                0x99EC_5F36_CB75_F2B4,
                0xBF6E_1F78_4956_452A,
                0x1A5F_849D_4933_E6E0
            ]
        );
    }

    #[test]
    fn token_list_matches_token_rows() {
        let names: Vec<&str> = TOKEN_ROWS.iter().map(|row| row.0).collect();
        assert_eq!(names, TOKENS);
    }

    #[test]
    fn feistel_is_a_bijection() {
        for domain in [1, 2, 3, 7, 16, 17, 1000, 4097] {
            let f = Feistel::new(domain, 42);
            let mut seen: Vec<u64> = (0..domain).map(|x| f.permute(x)).collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..domain).collect::<Vec<_>>(), "domain {domain}");
        }
    }

    #[test]
    fn dates_match_the_time_crate() {
        let mut r = Rng::new(7);
        for _ in 0..2000 {
            let secs = EPOCH_2012 + r.below(2_000_000_000) as i64 - 1_000_000_000;
            for zone in [Zone::Sydney, Zone::Utc, Zone::NewYork] {
                let mut buf = Vec::new();
                push_rfc3339(&mut buf, secs, zone);
                let text = String::from_utf8(buf).unwrap();
                let t = time::OffsetDateTime::parse(
                    &text,
                    &time::format_description::well_known::Rfc3339,
                )
                .unwrap();
                assert_eq!(t.unix_timestamp(), secs, "{text}");
            }
        }
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let (_a, a, ra) = make(2000, 1);
        let (_b, b, rb) = make(2000, 1);
        let (_c, c, _) = make(2000, 2);
        assert_eq!(ra, rb);
        assert_eq!(read_all(&a), read_all(&b));
        assert_ne!(read_all(&a)[1], read_all(&c)[1]);
    }

    #[test]
    fn generated_store_is_valid() {
        let (_t, dir, report) = make(2000, 1);
        assert_eq!(report.assets, 2000);
        check_store(&dir, &report);
    }

    #[test]
    fn tiny_stores_are_valid() {
        for assets in (1..40).chain([49, 50, 51, 97]) {
            let (_t, dir, report) = make(assets, assets * 31);
            assert_eq!(report.assets, assets);
            check_store(&dir, &report);
        }
    }

    #[test]
    fn larger_store_has_the_promised_shape() {
        let (_t, dir, report) = make(30_000, 9);
        check_store(&dir, &report);
        let assets = lines(&dir, "assets.jsonl");
        let links = lines(&dir, "links.jsonl");
        let count = |f: &dyn Fn(&Value) -> bool| assets.iter().filter(|a| f(a)).count();
        let n = assets.len();
        let shadow = count(&|a| s(&a["id"]).contains(":item/"));
        let trashed = count(&|a| a["trashed"] == true);
        let live = count(&|a| a["status"] == 16);
        let with_live = count(&|a| a.get("live").is_some());
        let sites = count(&|a| a["type"] == "site");
        assert!((2..=3).contains(&sites));
        assert!(
            shadow > n / 1000 && shadow < n / 100,
            "shadow ids: {shadow}"
        );
        assert!(trashed > n / 200 && trashed < n / 30, "trashed: {trashed}");
        assert!(live > n * 7 / 10 && live < n * 9 / 10, "live: {live}");
        assert!(with_live > 0);
        for t in [
            "folder",
            "page_standard",
            "news_item",
            "file",
            "image",
            "pdf_file",
            "bodycopy",
            "content_type_wysiwyg",
        ] {
            assert!(count(&|a| a["type"] == t) > 0, "no {t}");
        }
        // Fan-out and depth over non-reference, non-dependent links.
        let mut children: HashMap<&str, usize> = HashMap::new();
        let mut parent: HashMap<&str, &str> = HashMap::new();
        let mut second = 0;
        for l in &links {
            if l["link_type"] == "reference" {
                continue;
            }
            if !l["is_dependent"].as_bool().unwrap() {
                *children.entry(s(&l["major_id"])).or_default() += 1;
            }
            if parent
                .insert(s(&l["minor_id"]), s(&l["major_id"]))
                .is_some()
            {
                second += 1;
            }
        }
        assert!(second > n / 200, "second parents: {second}");
        let widest = children.values().copied().max().unwrap();
        assert!(widest >= 200, "widest folder has {widest} children");
        fn depth<'a>(parent: &HashMap<&'a str, &'a str>, mut id: &'a str) -> usize {
            let mut d = 0;
            while let Some(p) = parent.get(id) {
                id = p;
                d += 1;
            }
            d
        }
        let deepest = assets
            .iter()
            .map(|a| depth(&parent, s(&a["id"])))
            .max()
            .unwrap();
        assert!((5..=12).contains(&deepest), "depth {deepest}");
        assert!(count(&|a| a["contents"].as_str().unwrap().contains("Māori")) > 0);
    }

    /// `--contexts`: declared in store.json, about 2 assets in 5 translated per context, the
    /// store loads (every override valid), and every other byte is as without contexts.
    #[test]
    fn contexts_are_declared_and_overridden_without_changing_the_rest() {
        let (_t1, plain, _) = make(2000, 9);
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("store");
        generate(
            &GenerateOptions {
                assets: 2000,
                seed: 9,
                contexts: vec!["fr".into(), "Māori".into()],
            },
            &out,
        )
        .unwrap();
        let store: Value =
            serde_json::from_str(&fs::read_to_string(out.join("store.json")).unwrap()).unwrap();
        assert_eq!(
            store["contexts"],
            serde_json::json!(["Default", "fr", "Māori"])
        );
        let loaded = crate::store::Store::load(&out).expect("the store loads");
        let translated = |c: &str| {
            loaded
                .assets
                .iter()
                .filter(|a| a.contexts.iter().any(|(n, _)| n == c))
                .count()
        };
        for c in ["fr", "Māori"] {
            let n = translated(c);
            assert!((600..1000).contains(&n), "{c}: {n} of 2000");
        }
        // Without the contexts key, each line is the plain store's line.
        for file in [
            "links.jsonl",
            "permissions.jsonl",
            "principals.jsonl",
            "tokens.jsonl",
        ] {
            assert_eq!(
                fs::read(plain.join(file)).unwrap(),
                fs::read(out.join(file)).unwrap(),
                "{file}"
            );
        }
        let strip = |l: &str| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("contexts");
            v
        };
        let a = fs::read_to_string(plain.join("assets.jsonl")).unwrap();
        let b = fs::read_to_string(out.join("assets.jsonl")).unwrap();
        assert!(a.lines().map(strip).eq(b.lines().map(strip)));
        let bad = generate(
            &GenerateOptions {
                assets: 10,
                seed: 1,
                contexts: vec!["Default".into()],
            },
            &tmp.path().join("bad"),
        );
        assert!(bad.unwrap_err().to_string().contains("declared twice"));
    }

    #[test]
    fn refuses_a_non_empty_directory_and_accepts_an_empty_one() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("store");
        fs::create_dir(&out).unwrap();
        fs::write(out.join("keep.txt"), "x").unwrap();
        let err = generate(
            &GenerateOptions {
                assets: 10,
                seed: 1,
                ..Default::default()
            },
            &out,
        )
        .unwrap_err();
        assert!(err.to_string().contains("not empty"), "{err}");
        assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
        // Nothing left beside it either.
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);

        fs::remove_file(out.join("keep.txt")).unwrap();
        let report = generate(
            &GenerateOptions {
                assets: 10,
                seed: 1,
                ..Default::default()
            },
            &out,
        )
        .unwrap();
        check_store(&out, &report);
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
        assert!(generate(
            &GenerateOptions {
                assets: 0,
                seed: 1,
                ..Default::default()
            },
            &tmp.path().join("zero")
        )
        .is_err());
    }
}
