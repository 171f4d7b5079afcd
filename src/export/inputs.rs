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
        // Mapped and hashed on every core: read 8 KB at a time, the 80 MB of a binary with
        // debug info took 45-90 ms of every export.
        let mut h = blake3::Hasher::new();
        h.update_mmap_rayon(exe).ok()?;
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

/// The fingerprints a previous export recorded, by asset id, with each one's position in
/// [`FILE`] (what [`OWNERS_FILE`] refers to), when they were made with the same global
/// fingerprint.
pub fn load(dir: &Path, global: &[u8; 32]) -> FxHashMap<Box<str>, (u32, u128)> {
    let Ok(text) = std::fs::read_to_string(dir.join(FILE)) else {
        return FxHashMap::default();
    };
    let mut lines = text.lines();
    if lines.next() != Some(&header(global)) {
        return FxHashMap::default();
    }
    let mut recorded = FxHashMap::default();
    for (pos, l) in lines.enumerate() {
        let parsed = l
            .rsplit_once('\t')
            .and_then(|(id, hex)| Some((id, u128::from_str_radix(hex, 16).ok()?)));
        let Some((id, fp)) = parsed else {
            return FxHashMap::default(); // not a file this tool wrote: reuse nothing
        };
        recorded.insert(id.into(), (pos as u32, fp));
    }
    recorded
}

fn header(global: &[u8; 32]) -> String {
    format!("{HEADER} {}", blake3::Hash::from(*global).to_hex())
}

/// [`FILE`]'s text: the header, then `id<TAB>fingerprint` per asset, sorted by id; and, by
/// asset index (`positions[a]`), each asset's position in it ([`NO_OWNER`] for assets not
/// listed).
pub fn render(
    global: &[u8; 32],
    mut fingerprints: Vec<(&str, u128, AssetIdx)>,
    assets: usize,
) -> (String, Vec<u32>) {
    fingerprints.sort_unstable();
    let mut out = String::with_capacity(fingerprints.len() * 48);
    let mut positions = vec![NO_OWNER; assets];
    out.push_str(&header(global));
    out.push('\n');
    for (pos, (id, fp, a)) in fingerprints.into_iter().enumerate() {
        let _ = writeln!(out, "{id}\t{fp:032x}");
        positions[a as usize] = pos as u32;
    }
    (out, positions)
}

/// Where a snapshot records which asset each manifest line belongs to, relative to the
/// snapshot directory: a header line naming the manifest's root hash, then one little-endian
/// `u32` per manifest line, the owner's position in [`FILE`] or [`NO_OWNER`] (error documents,
/// 403 markers). An incremental export takes an unchanged asset's lines from the previous
/// manifest through it, without planning or looking up its routes.
pub const OWNERS_FILE: &str = "_cache/owners.bin";
const OWNERS_HEADER: &str = "# matrix-snapshot manifest owners/1";
/// A manifest line no readable asset owns.
pub const NO_OWNER: u32 = u32::MAX;

/// [`OWNERS_FILE`]'s bytes for a manifest with this root hash.
pub fn render_owners(root_hash: &str, owners: impl Iterator<Item = u32>) -> Vec<u8> {
    let mut out = format!("{OWNERS_HEADER} {root_hash}\n").into_bytes();
    out.reserve(owners.size_hint().0 * 4);
    for o in owners {
        out.extend_from_slice(&o.to_le_bytes());
    }
    out
}

/// The owners recorded for the manifest with `root_hash`, one per line of however many lines
/// [`OWNERS_FILE`] holds: an update reads them before it reads the manifest, and checks that
/// they are as many as its lines once it has.
pub fn load_owners_of_any_length(dir: &Path, root_hash: &str) -> Option<Vec<u32>> {
    let bytes = std::fs::read(dir.join(OWNERS_FILE)).ok()?;
    let header = format!("{OWNERS_HEADER} {root_hash}\n");
    let body = bytes.strip_prefix(header.as_bytes())?;
    if body.len() % 4 != 0 {
        return None;
    }
    Some(
        body.chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_read_back_only_for_their_manifest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("_cache")).unwrap();
        let owners = vec![0, NO_OWNER, 7, 7, 2];
        let bytes = render_owners("abc", owners.iter().copied());
        std::fs::write(dir.path().join(OWNERS_FILE), bytes).unwrap();
        let load = |hash| load_owners_of_any_length(dir.path(), hash);
        assert_eq!(load("abc"), Some(owners));
        assert_eq!(load("abd"), None, "another manifest");
        assert_eq!(load("ab"), None);
        // Not whole u32s: not a file this tool wrote.
        let mut bytes = std::fs::read(dir.path().join(OWNERS_FILE)).unwrap();
        bytes.push(0);
        std::fs::write(dir.path().join(OWNERS_FILE), bytes).unwrap();
        assert_eq!(load("abc"), None);
    }

    #[test]
    fn recorded_inputs_give_each_asset_its_position() {
        let g = [7u8; 32];
        let (text, positions) = render(&g, vec![("b", 2, 0), ("a", 1, 3), ("c", 3, 1)], 5);
        assert_eq!(positions, [1, 2, NO_OWNER, 0, NO_OWNER]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("_cache")).unwrap();
        std::fs::write(dir.path().join(FILE), &text).unwrap();
        let recorded = load(dir.path(), &g);
        assert_eq!(recorded["a"], (0, 1));
        assert_eq!(recorded["b"], (1, 2));
        assert_eq!(recorded["c"], (2, 3));
        assert!(load(dir.path(), &[8u8; 32]).is_empty(), "other settings");
        std::fs::write(dir.path().join(FILE), text + "garbage\n").unwrap();
        assert!(
            load(dir.path(), &g).is_empty(),
            "a line this tool did not write"
        );
    }
}
