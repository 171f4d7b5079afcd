//! The tree: the walk that decides each asset's place, kind, budget and permissions, and writes
//! its lines as it goes.

use super::asset::{live_version, roll_version, AssetLine, Kind};
use super::dates::Dates;
use super::ids::Ids;
use super::principals::{
    EDITORS, EDITOR_USER, FIRST_USER, PUBLIC, SITE_ADMINS, STAFF, TUTORS, USERS,
};
use super::sink::{push_pid, push_str, pushf, Sink};
use super::text::{page_size, push_html_text, write_attributes, write_html, write_metadata, Named};
use super::{GenerateOptions, STREAM_ASSET, STREAM_PLAN, STREAM_SHAPE};
use crate::rng::{mix, Rng};
use anyhow::Result;
use std::path::Path;

/// Below this depth children get subtrees; at it and deeper, fan-out grows
/// (up to [`BIG_FOLDER_MAX`]) so the tree stays shallow.
const MAX_DEPTH: u32 = 7;
/// A "big" folder holds this many leaf children at least …
const BIG_FOLDER_MIN: u64 = 200;
/// … and at most this many.
const BIG_FOLDER_MAX: u64 = 3000;
/// Candidate second parents kept (reservoir sample over all earlier containers).
const RESERVOIR: usize = 64;

/// How the assets under the root folder are shared out.
pub(super) struct Plan {
    /// Subtree size of each site, in order.
    pub(super) sites: Vec<u64>,
    /// Index of each site.
    pub(super) sites_at: Vec<u64>,
    /// Subtree size of "Shared Content" (0: none).
    shared: u64,
}

impl Plan {
    pub(super) fn new(opts: &GenerateOptions) -> Self {
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
pub(super) enum Role {
    Generic,
    Site(u32),
    Intranet,
    Shared,
}

/// The flavour of a folder decides its leaves and sub-folders.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Flavor {
    General,
    News,
    Media,
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
pub(super) struct Tree {
    seed: u64,
    /// Contexts besides the default one.
    contexts: Vec<String>,
    /// Shape decisions (kinds, budgets, links); per-asset fields use their own stream.
    rng: Rng,
    ids: Ids,
    /// Assets written so far (the next asset's pre-order index).
    pub(super) next_index: u64,
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

impl Tree {
    /// A walker for `plan`, writing `assets.jsonl`, `links.jsonl` and `permissions.jsonl` into
    /// `dir`.
    pub(super) fn new(opts: &GenerateOptions, plan: &Plan, ids: Ids, dir: &Path) -> Result<Self> {
        Ok(Tree {
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
        })
    }

    /// Flushes the three files; their (lines, bytes) in the order above.
    pub(super) fn finish(self) -> Result<[(u64, u64); 3]> {
        Ok([
            self.assets.finish()?,
            self.links.finish()?,
            self.perms.finish()?,
        ])
    }

    pub(super) fn run(&mut self, plan: &Plan) -> Result<()> {
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
        self.line.clear();
        a.write(&mut self.line, self.seed, &self.contexts);
        self.assets.put(&self.line)
    }
}
