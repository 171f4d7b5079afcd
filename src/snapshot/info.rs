//! `snapshot.json`: what a snapshot holds, written by `export` and read by every reader with
//! one type.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What `snapshot.json` says. Written pretty-printed with a final newline (see
/// [`Info::to_json`]); its field order is the file's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// [`super::FORMAT`].
    pub format: String,
    /// The tool that wrote it (`matrix-snapshot VERSION`).
    pub tool: String,
    /// The store.
    pub store: StoreInfo,
    /// The token (name and user, never its value).
    pub token: TokenInfo,
    /// The token's root nodes.
    #[serde(default)]
    pub root_nodes: Vec<String>,
    /// `--base-url`.
    pub base_url: Option<String>,
    /// The export profile, summarised (name, data, sorts, limits, filters, 1.2.0 dimensions).
    #[serde(default)]
    pub profile: BTreeMap<String, serde_json::Value>,
    /// Counts.
    pub counts: Counts,
    /// blake3 of `manifest.jsonl`.
    pub root_hash: String,
}

impl Info {
    /// The bytes of `snapshot.json`.
    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("snapshot info serializes");
        json.push(b'\n');
        json
    }
}

/// The store a snapshot came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreInfo {
    /// Its name.
    pub name: String,
    /// blake3 over its files.
    pub fingerprint: String,
}

/// The exported token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Its name.
    pub name: String,
    /// Its user.
    pub user_id: String,
}

/// What a snapshot holds (all derived from the manifest, so identical for identical exports).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Readable assets exported.
    pub assets: u64,
    /// Assets that exist but the token may not read (403 markers).
    pub forbidden: u64,
    /// Files (manifest entries).
    pub files: u64,
    /// Bytes of all files, as a static host serves them.
    pub bytes: u64,
    /// Distinct bodies (with `--dedupe`, each is stored once on disk; the rest are hard links).
    #[serde(default)]
    pub unique_bodies: u64,
    /// Bytes of the distinct bodies: the disk the snapshot really uses.
    #[serde(default)]
    pub unique_bytes: u64,
}
