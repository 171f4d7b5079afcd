//! Stage 1: load a store (store-format.md) into memory with lookup indexes.
//!
//! Input: a directory of JSON Lines files (or the embedded demo). Output: a validated [`Store`].
//! The store knows nothing of the API: which links are "children", how they sort and who may read
//! what are decided in `api` and `access`, over the raw indexes kept here.

mod checks;
mod diagnostic;
#[cfg(test)]
pub(crate) mod fixture;
mod load;
pub mod model;
mod read;
mod record;
pub mod url;

pub use diagnostic::{Diagnostic, LoadError, MAX_REPORTED};
use model::FieldsAt;
pub use model::{
    Access, Asset, Event, Fields, Link, LinkType, Metadata, Ordered, Overrides, Permission,
    Principal, PrincipalKind, Scalar, Status, StoreMeta, Token, DEFAULT_CONTEXT, STORE_FORMAT,
};
pub use record::{MAX_ID_BYTES, MAX_URL_BYTES};

use rustc_hash::FxHashMap;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

/// Index of an asset in [`Store::assets`] (store order).
pub type AssetIdx = u32;
/// Index of a link in [`Store::links`].
pub type LinkIdx = u32;
/// Index of a principal in [`Store::principals`].
pub type PrincipalIdx = u32;

/// The names of the store's files, in the order they are read.
pub const FILES: [&str; 6] = [
    "store.json",
    "assets.jsonl",
    "links.jsonl",
    "principals.jsonl",
    "permissions.jsonl",
    "tokens.jsonl",
];

/// A loaded, validated store.
#[derive(Debug)]
pub struct Store {
    /// `store.json`.
    pub meta: StoreMeta,
    /// Assets in store order (trashed ones included: they exist for validation, not for the API).
    pub assets: Vec<Asset>,
    /// Links in store order.
    pub links: Vec<Link>,
    /// Principals in store order.
    pub principals: Vec<Principal>,
    /// Tokens in store order.
    pub tokens: Vec<Token>,
    /// blake3 over the store files (names and bytes), identifying this input.
    pub fingerprint: String,
    /// `assets.jsonl`, open, for [`Store::fields`] (a store read from a directory).
    assets_file: Option<std::fs::File>,
    // FxHash for the two large indexes: hundreds of thousands of keys from the store's own
    // files, where SipHash's resistance to chosen keys buys nothing.
    asset_index: FxHashMap<String, AssetIdx>,
    principal_index: HashMap<String, PrincipalIdx>,
    token_index: HashMap<String, u32>,
    url_index: FxHashMap<String, AssetIdx>,
    link_ends: Vec<(AssetIdx, AssetIdx)>,
    links_from: Vec<Vec<LinkIdx>>,
    links_to: Vec<Vec<LinkIdx>>,
    permissions: Vec<Vec<Permission>>,
    principal_groups: Vec<Vec<PrincipalIdx>>,
}

impl Store {
    /// Loads and validates the store in `dir`.
    pub fn load(dir: &Path) -> Result<Store, LoadError> {
        load::load_dir(dir)
    }

    /// Loads a store from in-memory file contents (keyed by the names in [`FILES`]); `label`
    /// prefixes file names in diagnostics.
    pub fn from_memory(files: &[(&str, &[u8])], label: &str) -> Result<Store, LoadError> {
        load::load_memory(files, label)
    }

    /// The asset with this id, trashed or not.
    pub fn asset_by_id(&self, id: &str) -> Option<AssetIdx> {
        self.asset_index.get(id).copied()
    }

    /// The asset owning this URL key (see [`url::key`]), trashed or not.
    pub fn asset_by_url_key(&self, key: &str) -> Option<AssetIdx> {
        self.url_index.get(key).copied()
    }

    /// The asset at an index.
    pub fn asset(&self, idx: AssetIdx) -> &Asset {
        &self.assets[idx as usize]
    }

    /// The attributes, metadata and contents of an asset (the current version's: `live` and
    /// context overrides are the asset's own fields). Borrowed from a store read from memory;
    /// read again from `assets.jsonl` (one `pread` and a parse of that line) for one read from
    /// a directory, which keeps only where each line is.
    ///
    /// # Panics
    /// When `assets.jsonl` was changed in place while this process was using it (the line no
    /// longer hashes to what was loaded): what a body would show is then unknowable.
    pub fn fields(&self, idx: AssetIdx) -> Cow<'_, Fields> {
        let asset = self.asset(idx);
        match &asset.fields {
            FieldsAt::Parsed(fields) => Cow::Borrowed(fields),
            FieldsAt::Line { offset, len } => {
                Cow::Owned(self.read_fields(asset, *offset, *len as usize))
            }
        }
    }

    #[cfg(unix)]
    fn read_fields(&self, asset: &Asset, offset: u64, len: usize) -> Fields {
        use std::os::unix::fs::FileExt;
        let file = self
            .assets_file
            .as_ref()
            .expect("a store whose assets are read again keeps its file open");
        let mut line = vec![0; len];
        let changed = |why: &str| -> ! {
            panic!(
                "assets.jsonl changed while matrix-snapshot was using it (asset {:?}, {why}): \
                 run the command again once the store is written",
                asset.id
            )
        };
        if let Err(e) = file.read_exact_at(&mut line, offset) {
            changed(&e.to_string());
        }
        if read::source_hash(&line) != asset.source_hash {
            changed("its line is not the one loaded");
        }
        read::parse_line(&line).unwrap_or_else(|e| changed(&e))
    }

    #[cfg(not(unix))]
    fn read_fields(&self, _: &Asset, _: u64, _: usize) -> Fields {
        unreachable!("stores keep their fields parsed where files have no positional reads")
    }

    /// The link at an index.
    pub fn link(&self, idx: LinkIdx) -> &Link {
        &self.links[idx as usize]
    }

    /// `(major, minor)` of a link.
    pub fn link_ends(&self, idx: LinkIdx) -> (AssetIdx, AssetIdx) {
        self.link_ends[idx as usize]
    }

    /// Links whose parent is this asset, in store order.
    pub fn links_from(&self, idx: AssetIdx) -> &[LinkIdx] {
        &self.links_from[idx as usize]
    }

    /// Links whose child is this asset, in store order.
    pub fn links_to(&self, idx: AssetIdx) -> &[LinkIdx] {
        &self.links_to[idx as usize]
    }

    /// Permission rows of an asset.
    pub fn permissions(&self, idx: AssetIdx) -> &[Permission] {
        &self.permissions[idx as usize]
    }

    /// The principal with this id.
    pub fn principal_by_id(&self, id: &str) -> Option<PrincipalIdx> {
        self.principal_index.get(id).copied()
    }

    /// A principal.
    pub fn principal(&self, idx: PrincipalIdx) -> &Principal {
        &self.principals[idx as usize]
    }

    /// Direct groups of a principal, as indices.
    pub fn groups_of(&self, idx: PrincipalIdx) -> &[PrincipalIdx] {
        &self.principal_groups[idx as usize]
    }

    /// The public user, if the store has one.
    pub fn public_user(&self) -> Option<PrincipalIdx> {
        self.principals
            .iter()
            .position(|p| p.kind == PrincipalKind::Public)
            .map(|i| i as PrincipalIdx)
    }

    /// The token with this exact value.
    pub fn token_by_value(&self, value: &str) -> Option<u32> {
        self.token_index.get(value).copied()
    }

    /// The token whose `name` or value is `key` (for CLI selection by name).
    pub fn token_by_name_or_value(&self, key: &str) -> Option<u32> {
        self.token_by_value(key).or_else(|| {
            let mut named = self
                .tokens
                .iter()
                .enumerate()
                .filter(|(_, t)| t.name == key);
            match (named.next(), named.next()) {
                (Some((i, _)), None) => Some(i as u32),
                _ => None,
            }
        })
    }

    /// The store's default context (the first declared).
    pub fn default_context(&self) -> &str {
        &self.meta.contexts[0]
    }
}
