//! The store's records as read from JSON Lines (store-format.md), typed and with defaults applied.
//!
//! Serde does the shape checks (`deny_unknown_fields` is the spec's typo protection); everything
//! that needs more than one record (references, duplicates, cycles) is checked in `load`.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{Number, Value};
use std::fmt;

/// `store.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreMeta {
    /// Must be [`STORE_FORMAT`].
    pub format: String,
    /// Human name of the Matrix system.
    pub name: String,
    /// Declared context names; the first is the default.
    #[serde(default = "default_contexts")]
    pub contexts: Vec<String>,
}

/// The only store format this version reads.
pub const STORE_FORMAT: &str = "matrix-snapshot-store/1";

/// The one context of a store whose `store.json` declares none.
pub const DEFAULT_CONTEXT: &str = "Default";

fn default_contexts() -> Vec<String> {
    vec![DEFAULT_CONTEXT.to_string()]
}

/// Asset status, one of Matrix's bit values (spec §3 status table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Status(pub u16);

impl Status {
    /// LIVE (16): the first status readable with read access alone (spec §4 status gate).
    pub const LIVE: Status = Status(16);

    /// The code and display name of a valid status, `None` for other values.
    pub fn describe(self) -> Option<(&'static str, &'static str)> {
        Some(match self.0 {
            1 => ("archived", "Archived"),
            2 => ("under_construction", "Under Construction"),
            4 => ("pending_approval", "Pending Approval"),
            8 => ("approved", "Approved To Go Live"),
            16 => ("live", "Live"),
            32 => ("live_approval", "Up For Review"),
            64 => ("editing", "Safe Editing"),
            128 => ("editing_approval", "Safe Editing Pending Approval"),
            256 => ("editing_approved", "Safe Edit Approved To Go Live"),
            _ => return None,
        })
    }

    /// Safe-editing states (64, 128, 256), where readers without write see the `live` version.
    pub fn is_safe_editing(self) -> bool {
        matches!(self.0, 64 | 128 | 256)
    }
}

/// A `{"date":…,"user_id":…}` event; `instant` is the parsed date (Unix nanoseconds) for sorting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// The date exactly as the store wrote it (copied to responses).
    pub date: Option<String>,
    /// The acting user's id.
    pub user_id: Option<String>,
    /// `date` as an instant, for `sort_by=*.date`.
    pub instant: Option<i128>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventRecord {
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
}

/// An attribute value: string, number or boolean (store-format.md).
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A string.
    Str(String),
    /// A number, with its literal text kept (integers are written back as the store wrote them).
    Num(Number),
    /// A boolean.
    Bool(bool),
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Scalar::Str(s)),
            Value::Bool(b) => Ok(Scalar::Bool(b)),
            Value::Number(n) => {
                let finite = n.as_str().parse::<f64>().is_ok_and(f64::is_finite);
                if finite {
                    Ok(Scalar::Num(n))
                } else {
                    Err(de::Error::custom(format!(
                        "number {n} is out of range for a double"
                    )))
                }
            }
            other => Err(de::Error::custom(format!(
                "an attribute must be a string, number or boolean, not {}",
                kind_of(&other)
            ))),
        }
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON object read into a list, keeping the store's key order; duplicate keys are an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Ordered<T>(pub Vec<(String, T)>);

impl<T> Default for Ordered<T> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut items: Vec<(String, T)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if items.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format!("duplicate key `{key}`")));
                    }
                    let value = map.next_value::<T>()?;
                    items.push((key, value));
                }
                Ok(Ordered(items))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// Metadata: `None` when no schema applies, else field → values.
pub type Metadata = Option<Ordered<Vec<String>>>;

/// Fields a version (the `live` one, or a context) may override.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Overrides `name`.
    pub name: Option<String>,
    /// Overrides `short_name`.
    pub short_name: Option<String>,
    /// Overrides `version` (only meaningful for `live`).
    pub version: Option<String>,
    /// Overrides `attributes`.
    pub attributes: Option<Ordered<Scalar>>,
    /// Overrides `metadata` (present-but-null means "no schema").
    #[serde(default, deserialize_with = "some_nullable")]
    pub metadata: Option<Metadata>,
    /// Overrides `contents`.
    pub contents: Option<String>,
}

fn some_nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Metadata>, D::Error> {
    Option::<Ordered<Vec<String>>>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssetRecord {
    pub id: String,
    #[serde(rename = "type")]
    pub type_code: String,
    pub type_name: String,
    pub version: Option<String>,
    pub name: String,
    pub short_name: Option<String>,
    pub status: u16,
    #[serde(default)]
    pub created: EventRecord,
    #[serde(default)]
    pub updated: EventRecord,
    #[serde(default)]
    pub published: EventRecord,
    #[serde(default)]
    pub status_changed: EventRecord,
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default)]
    pub attributes: Ordered<Scalar>,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub contents: String,
    #[serde(default)]
    pub trashed: bool,
    pub live: Option<Overrides>,
    pub contexts: Option<Ordered<Overrides>>,
}

/// One asset, defaults applied.
#[derive(Debug, Clone)]
pub struct Asset {
    /// Asset id (any string without control characters; shadow ids contain `:`).
    pub id: String,
    /// Type code (`page_standard`).
    pub type_code: String,
    /// Type display name.
    pub type_name: String,
    /// Version string.
    pub version: String,
    /// Name.
    pub name: String,
    /// Short name.
    pub short_name: String,
    /// Status.
    pub status: Status,
    /// Creation event.
    pub created: Event,
    /// Last update event.
    pub updated: Event,
    /// Publication event.
    pub published: Event,
    /// Last status change event.
    pub status_changed: Event,
    /// Every URL, in store order.
    pub urls: Vec<String>,
    /// Attributes, metadata and contents: read with [`crate::Store::fields`].
    pub(crate) fields: FieldsAt,
    /// Trashed assets do not exist for the API.
    pub trashed: bool,
    /// The last live version, for safe-editing statuses.
    pub live: Option<Box<Overrides>>,
    /// Per-context overrides, by declared context name.
    pub contexts: Vec<(String, Overrides)>,
    /// blake3 (first 16 bytes) of the asset's line in `assets.jsonl`: equal lines, equal record
    /// (incremental exports compare it).
    pub source_hash: u128,
}

/// The fields of an asset that only `data=attributes`, `metadata` or `contents` shows: most of
/// a store's bytes (contents alone is half of a typical line), and needed only while those
/// bodies are written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Fields {
    /// Typed attributes in store order.
    #[serde(default)]
    pub attributes: Ordered<Scalar>,
    /// Metadata (`None` = no schema).
    #[serde(default)]
    pub metadata: Metadata,
    /// Contents (HTML).
    #[serde(default)]
    pub contents: String,
}

/// Where an asset's [`Fields`] are: parsed in memory (a store read from memory), or the place of
/// its line in `assets.jsonl`, read again when a body needs them (a store read from a
/// directory: a million assets keep about 1.8 GB less; docs/architecture.md, "Memory").
#[derive(Debug, Clone)]
pub(crate) enum FieldsAt {
    /// Parsed.
    Parsed(Box<Fields>),
    /// The asset's line: its first byte in the file and its length.
    Line { offset: u64, len: u32 },
}

/// Link types (spec "Link object").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkType {
    /// TYPE_1: shown in menus.
    Menu,
    /// TYPE_2: hidden from menus.
    Hidden,
    /// TYPE_3: invisible (dependents such as bodycopies).
    Invisible,
    /// NOTICE: a reference, never part of the tree.
    Reference,
}

impl LinkType {
    /// The spelling used in bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkType::Menu => "menu",
            LinkType::Hidden => "hidden",
            LinkType::Invisible => "invisible",
            LinkType::Reference => "reference",
        }
    }

    /// Menu, hidden and invisible links form the tree (paths, lineage, root nodes); reference
    /// links never do (spec §3 lineage, §4 root nodes).
    pub fn is_tree(self) -> bool {
        !matches!(self, LinkType::Reference)
    }
}

/// A link `major_id → minor_id`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// Link id.
    pub link_id: String,
    /// Parent asset id.
    pub major_id: String,
    /// Child asset id.
    pub minor_id: String,
    /// Link type.
    pub link_type: LinkType,
    /// Link value.
    #[serde(default)]
    pub value: String,
    /// Position under the parent.
    pub sort_order: i64,
    /// Dependent link (bodycopies): never listed as a child.
    #[serde(default)]
    pub is_dependent: bool,
    /// Exclusive link.
    #[serde(default)]
    pub is_exclusive: bool,
    /// blake3 (first 16 bytes) of the link's line in `links.jsonl` (set by the loader).
    #[serde(skip)]
    pub source_hash: u128,
}

/// Principal kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// An ordinary user.
    User,
    /// A user group.
    Group,
    /// The public user (at most one).
    Public,
    /// The root user.
    Root,
    /// A system administrator.
    SystemAdmin,
}

/// A user, group or special principal.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    /// Principal id.
    pub id: String,
    /// Kind.
    pub kind: PrincipalKind,
    /// Display name.
    pub name: String,
    /// Groups this principal belongs to directly.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// Access levels; a grant at a level implies the levels below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Read (1).
    Read = 1,
    /// Write (2).
    Write = 2,
    /// Admin (3).
    Admin = 3,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PermissionRecord {
    pub asset_id: String,
    pub principal_id: String,
    pub access: Access,
    pub granted: bool,
}

/// A permission row, resolved to indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// Principal index in [`crate::Store::principals`].
    pub principal: u32,
    /// Level.
    pub access: Access,
    /// `false` is an explicit deny.
    pub granted: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// A Content API token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// The secret value (never written to output or logs).
    pub token: String,
    /// The token asset's name (safe to show).
    pub name: String,
    /// Disabled tokens answer 401 (default: enabled).
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Trashed tokens answer 401.
    #[serde(default)]
    pub trashed: bool,
    /// The user whose permissions apply; `None` answers 401.
    pub user_id: Option<String>,
    /// Root node restriction (empty = none).
    #[serde(default)]
    pub root_nodes: Vec<String>,
}
