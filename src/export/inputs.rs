//! Input fingerprints: what every route of an asset is rendered from, hashed, so that an
//! incremental export can reuse the previous snapshot's files of an asset whose inputs did not
//! change instead of rendering them again (`docs/snapshot-format.md`, "Re-exporting").
//!
//! The bodies of an asset's routes (asset object with dependents, lineage, children pages, by id
//! and by URL, every variant of the profile) depend only on:
//!
//! - the export as a whole: this binary, the snapshot format, the profile, `--base-url`, the
//!   store's declared contexts ([`global`]);
//! - the records (store lines) of the asset, of its ancestors through tree links (lineage
//!   walks), of the minors of its tree links (children and dependents) and, recursively, of its
//!   dependents' minors; the tree links among them; and whether the token may read and write
//!   each of those assets (permissions, root nodes, status gate, safe editing).
//!
//! [`of_asset`] hashes exactly that set, over-approximating (every parent, not only the one a
//! walk takes), so equal fingerprints mean equal files. The fingerprints of a snapshot are kept
//! in [`FILE`], outside the web root; deleting it only makes the next export render everything.

use crate::access::View;
use crate::api::Catalog;
use crate::store::{AssetIdx, LinkType};
use rustc_hash::{FxHashMap, FxHashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::OnceLock;

/// Where a snapshot keeps its input fingerprints, relative to the snapshot directory.
pub const FILE: &str = "_cache/inputs.tsv";
/// First word of [`FILE`]'s header line.
const HEADER: &str = "# matrix-snapshot export inputs/1";

/// blake3 of the running executable: a rebuilt binary may render differently, so its
/// fingerprints never match an older one's. `None` when it cannot be read (then nothing is
/// reused).
fn executable_hash() -> Option<[u8; 32]> {
    static HASH: OnceLock<Option<[u8; 32]>> = OnceLock::new();
    *HASH.get_or_init(|| {
        let exe = std::env::current_exe().ok()?;
        let mut h = blake3::Hasher::new();
        std::io::copy(&mut std::fs::File::open(exe).ok()?, &mut h).ok()?;
        Some(*h.finalize().as_bytes())
    })
}

/// The fingerprint of everything an export shares: `None` when the executable cannot be
/// identified. `settings` is what the caller renders with (profile, base URL, contexts), in a
/// stable serialisation.
pub fn global(settings: &[u8]) -> Option<[u8; 32]> {
    let exe = executable_hash()?;
    let mut h = blake3::Hasher::new();
    h.update(HEADER.as_bytes());
    h.update(&exe);
    h.update(settings);
    Some(*h.finalize().as_bytes())
}

/// The input fingerprint of one readable asset's routes (see the module documentation).
pub fn of_asset(cat: &Catalog, view: &View, global: &[u8; 32], a: AssetIdx) -> u128 {
    let store = &cat.store;
    let mut h = blake3::Hasher::new();
    h.update(global);
    let asset = |h: &mut blake3::Hasher, x: AssetIdx| {
        h.update(&store.asset(x).source_hash.to_le_bytes());
        h.update(&[view.can_read(x) as u8 | (view.can_write(x) as u8) << 1]);
    };
    let tree = |l| store.link(l).link_type != LinkType::Reference;
    asset(&mut h, a);
    // Ancestors: every tree link up, transitively (lineage walks).
    h.update(b"up");
    let mut seen: FxHashSet<AssetIdx> = FxHashSet::default();
    let mut stack = vec![a];
    while let Some(x) = stack.pop() {
        for &l in store.links_to(x).iter().filter(|&&l| tree(l)) {
            let major = store.link_ends(l).0;
            h.update(&store.link(l).source_hash.to_le_bytes());
            asset(&mut h, major);
            if seen.insert(major) {
                stack.push(major);
            }
        }
    }
    // Children and dependents: the minors of its tree links; dependents' own, recursively.
    h.update(b"down");
    let mut seen: FxHashSet<AssetIdx> = FxHashSet::default();
    let mut stack = vec![a];
    while let Some(x) = stack.pop() {
        for &l in store.links_from(x).iter().filter(|&&l| tree(l)) {
            let link = store.link(l);
            if x != a && !link.is_dependent {
                continue; // below the asset, only dependents are rendered
            }
            let minor = store.link_ends(l).1;
            h.update(&link.source_hash.to_le_bytes());
            asset(&mut h, minor);
            if link.is_dependent && seen.insert(minor) {
                stack.push(minor);
            }
        }
    }
    u128::from_le_bytes(h.finalize().as_bytes()[..16].try_into().expect("16 bytes"))
}

/// The fingerprints a previous export recorded, by asset id, when they were made with the same
/// global fingerprint.
pub fn load(dir: &Path, global: &[u8; 32]) -> FxHashMap<Box<str>, u128> {
    let Ok(text) = std::fs::read_to_string(dir.join(FILE)) else {
        return FxHashMap::default();
    };
    let mut lines = text.lines();
    if lines.next() != Some(&header(global)) {
        return FxHashMap::default();
    }
    lines
        .filter_map(|l| {
            let (id, hex) = l.rsplit_once('\t')?;
            Some((id.into(), u128::from_str_radix(hex, 16).ok()?))
        })
        .collect()
}

fn header(global: &[u8; 32]) -> String {
    format!("{HEADER} {}", blake3::Hash::from(*global).to_hex())
}

/// [`FILE`]'s text: the header, then `id<TAB>fingerprint` per asset, sorted by id.
pub fn render(global: &[u8; 32], mut fingerprints: Vec<(&str, u128)>) -> String {
    fingerprints.sort_unstable();
    let mut out = String::with_capacity(fingerprints.len() * 48);
    out.push_str(&header(global));
    out.push('\n');
    for (id, fp) in fingerprints {
        let _ = writeln!(out, "{id}\t{fp:032x}");
    }
    out
}
