//! `diff`: what changed between two snapshots, by content (`docs/diff.md`).
//!
//! Manifests first: an asset whose files hash the same in both snapshots is unchanged and never
//! opened. Only assets whose bodies differ are read, and compared field by field: name,
//! short_name, type, version, status, the four dates, urls, attributes and metadata keys, and
//! contents (with a short unified diff). Lineage files tell moves; the `~forbidden.json` markers
//! tell permission changes.

use crate::snapshot::path::decode_segment;
use crate::snapshot::{self, Entry, Info, ReadError};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The JSON format of [`Diff`].
pub const DIFF_FORMAT: &str = "matrix-snapshot-diff/1";

/// Which asset fields are compared, in the order reported.
const FIELDS: [&str; 12] = [
    "name",
    "short_name",
    "type",
    "version",
    "status",
    "created",
    "updated",
    "published",
    "status_changed",
    "urls",
    "url",
    "contents",
];

/// The differences between two snapshots. Its JSON form is the `--format json` output.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Diff {
    /// [`DIFF_FORMAT`].
    pub format: &'static str,
    /// The old snapshot.
    pub old: Side,
    /// The new snapshot.
    pub new: Side,
    /// Counts.
    pub summary: Summary,
    /// Assets only the new snapshot has (and the old did not list as forbidden).
    pub added: Vec<AssetRef>,
    /// Assets only the old snapshot has (gone, trashed, or out of the token's root nodes).
    pub removed: Vec<AssetRef>,
    /// Assets readable before that the new snapshot marks forbidden.
    pub became_forbidden: Vec<AssetRef>,
    /// Assets forbidden before that the new snapshot can read.
    pub became_readable: Vec<AssetRef>,
    /// Assets in both whose content changed.
    pub changed: Vec<Changed>,
    /// Assets in both whose site lineage changed.
    pub moved: Vec<Moved>,
    /// File-level counts (`--routes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routes: Option<RouteCounts>,
    /// What could not be compared (e.g. contents not exported in one snapshot).
    pub notes: Vec<String>,
}

/// One snapshot of the pair.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Side {
    /// Its directory.
    pub dir: String,
    /// Its root hash.
    pub root_hash: String,
    /// Store name.
    pub store: String,
    /// Token name.
    pub token: String,
    /// Readable assets.
    pub assets: u64,
}

/// Counts of each kind of change.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Summary {
    /// Added assets.
    pub added: usize,
    /// Removed assets.
    pub removed: usize,
    /// Changed assets.
    pub changed: usize,
    /// Moved assets.
    pub moved: usize,
    /// Assets that became forbidden.
    pub became_forbidden: usize,
    /// Assets that became readable.
    pub became_readable: usize,
}

/// An asset named in a report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AssetRef {
    /// Asset id.
    pub id: String,
    /// Its name (`null` when the snapshot has no readable body for it).
    pub name: Option<String>,
    /// Its type code.
    #[serde(rename = "type")]
    pub type_code: Option<String>,
    /// Its `url`.
    pub url: Option<String>,
}

/// One asset's changes.
#[derive(Debug, Clone, Serialize)]
pub struct Changed {
    /// The asset (as in the new snapshot).
    #[serde(flatten)]
    pub asset: AssetRef,
    /// Fields whose value changed, with both values (`contents` only as a flag: see
    /// `contents_diff`).
    pub fields: Vec<FieldChange>,
    /// Attribute names added, removed and changed.
    pub attributes: KeyChanges,
    /// Metadata field names added, removed and changed.
    pub metadata: KeyChanges,
    /// A unified diff of `contents` (at most 40 lines), when it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contents_diff: Option<String>,
}

/// A field's old and new value.
#[derive(Debug, Clone, Serialize)]
pub struct FieldChange {
    /// Field name.
    pub field: &'static str,
    /// Old value.
    pub old: Value,
    /// New value.
    pub new: Value,
}

/// Keys of an object that were added, removed or changed.
#[derive(Debug, Clone, Serialize, Default)]
pub struct KeyChanges {
    /// Only in the new object.
    pub added: Vec<String>,
    /// Only in the old object.
    pub removed: Vec<String>,
    /// In both with other values.
    pub changed: Vec<String>,
}

impl KeyChanges {
    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// An asset whose lineage changed.
#[derive(Debug, Clone, Serialize)]
pub struct Moved {
    /// The asset.
    #[serde(flatten)]
    pub asset: AssetRef,
    /// Old lineage, site first, as asset ids.
    pub old_path: Vec<String>,
    /// New lineage.
    pub new_path: Vec<String>,
}

/// File-level counts.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct RouteCounts {
    /// Paths only in the new manifest.
    pub added: usize,
    /// Paths only in the old manifest.
    pub removed: usize,
    /// Paths in both with other bytes.
    pub changed: usize,
    /// Paths in both with the same bytes.
    pub unchanged: usize,
}

impl Diff {
    /// No differences in assets, permissions or (with `--routes`) files.
    pub fn is_empty(&self) -> bool {
        self.summary == Summary::default()
            && self
                .routes
                .as_ref()
                .is_none_or(|r| r.added + r.removed + r.changed == 0)
    }
}

/// One snapshot being compared: where its bodies are and what it records.
struct Index {
    dir: PathBuf,
    bodies: snapshot::Bodies,
    info: Info,
}

/// The by-id files of one asset in one snapshot (its manifest lines under
/// `public/__api/assets/<enc id>/`, which sort together).
#[derive(Default)]
struct Group {
    /// Data code → (blake3, path) of `~asset.<D>.json`: plain requests only (Content API 1.2.0
    /// variants, `~asset.<D>.<V>.json`, show in the route counts).
    assets: BTreeMap<String, (blake3::Hash, String)>,
    /// Data code → (blake3, path) of `~lineage.<D>.json`.
    lineages: BTreeMap<String, (blake3::Hash, String)>,
    /// `~forbidden.json` is there.
    forbidden: bool,
}

impl Group {
    fn add(&mut self, file: &str, l: &Entry) {
        let code = |prefix: &str| {
            file.strip_prefix(prefix)
                .and_then(|f| f.strip_suffix(".json"))
                .filter(|code| !code.contains('.'))
                .map(str::to_string)
        };
        if file == "~forbidden.json" {
            self.forbidden = true;
        } else if let Some(code) = code("~asset.") {
            self.assets.insert(code, (l.blake3, l.path.clone()));
        } else if let Some(code) = code("~lineage.") {
            self.lineages.insert(code, (l.blake3, l.path.clone()));
        }
    }
}

/// `public/__api/assets/<enc id>/…` → (`<enc id>`, the file name when the file is directly in
/// that directory); `None` for by_url and error files. All of an asset's lines share the
/// prefix, so they sort together in a manifest.
fn by_id(path: &str) -> Option<(&str, Option<&str>)> {
    let rest = path.strip_prefix("public/__api/assets/")?;
    if rest.starts_with("by_url/") {
        return None;
    }
    let (dir, below) = rest.split_once('/')?;
    (!dir.is_empty()).then_some((dir, (!below.contains('/')).then_some(below)))
}

impl Index {
    fn open(dir: &Path) -> Result<Index, ReadError> {
        Ok(Index {
            dir: dir.to_path_buf(),
            bodies: snapshot::Bodies::open(dir)?,
            info: snapshot::read_info(dir)?,
        })
    }

    /// The data codes of the asset and lineage files the manifest lists (one pass over it).
    fn codes(&self) -> Result<(BTreeSet<String>, BTreeSet<String>), ReadError> {
        let (mut assets, mut lineages) = (BTreeSet::new(), BTreeSet::new());
        for l in snapshot::manifest_entries(&self.dir)? {
            let l = l?;
            if let Some((_, Some(file))) = by_id(&l.path) {
                let mut g = Group::default();
                g.add(file, &l);
                assets.extend(g.assets.into_keys());
                lineages.extend(g.lineages.into_keys());
            }
        }
        Ok((assets, lineages))
    }

    fn side(&self) -> Side {
        Side {
            dir: self.dir.display().to_string(),
            root_hash: self.info.root_hash.clone(),
            store: self.info.store.name.clone(),
            token: self.info.token.name.clone(),
            assets: self.info.counts.assets,
        }
    }

    fn body(&self, rel: &str) -> Result<Value, ReadError> {
        let path = self.dir.join(rel);
        let bytes = self.bodies.read(rel).map_err(|source| ReadError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| ReadError::Invalid {
            path,
            line: e.line(),
            message: format!("not the JSON the manifest lists: {e}"),
        })
    }

    /// The asset body of `group` under `code`, if it has one.
    fn asset_body(&self, group: &Group, code: &str) -> Result<Option<Value>, ReadError> {
        match group.assets.get(code) {
            Some((_, path)) => self.body(path).map(Some),
            None => Ok(None),
        }
    }

    fn asset_ref(&self, id: &str, group: &Group, code: &str) -> Result<AssetRef, ReadError> {
        let body = self.asset_body(group, code)?;
        let text = |k: &str| {
            body.as_ref()
                .and_then(|b| b[k].as_str())
                .map(str::to_string)
        };
        Ok(AssetRef {
            id: id.to_string(),
            name: text("name"),
            type_code: text("type"),
            url: text("url").filter(|u| !u.is_empty()),
        })
    }
}

/// The data code both snapshots hold with the most parts (`richest`) or the fewest.
fn common_code(a: &BTreeSet<String>, b: &BTreeSet<String>, richest: bool) -> Option<String> {
    let parts = |c: &String| c.chars().filter(|&ch| ch != '-').count();
    let common = a.intersection(b);
    if richest {
        common.max_by_key(|c| (parts(c), (*c).clone())).cloned()
    } else {
        common.min_by_key(|c| (parts(c), (*c).clone())).cloned()
    }
}

/// Compares the snapshots in `old` and `new`.
///
/// Both manifests are sorted by path, and all the files of one asset share the prefix
/// `public/__api/assets/<enc id>/`: the two are read side by side, a chunk at a time, and each
/// asset compared as soon as both sides are past it. What `diff` holds is the differences it
/// reports, never a manifest (issue 20: two 1M-asset snapshots in well under 1 GB). A first
/// pass over each manifest finds the data codes both hold.
pub fn diff(old: &Path, new: &Path, routes: bool) -> Result<Diff, ReadError> {
    let (a, b) = rayon::join(|| Index::open(old), || Index::open(new));
    let (a, b) = (a?, b?);
    let mut d = Diff {
        format: DIFF_FORMAT,
        old: a.side(),
        new: b.side(),
        ..Diff::default()
    };
    if a.info.store.name != b.info.store.name || a.info.token.name != b.info.token.name {
        d.notes.push(format!(
            "the snapshots are of different stores or tokens ({:?}/{:?} and {:?}/{:?})",
            a.info.store.name, a.info.token.name, b.info.store.name, b.info.token.name
        ));
    }
    let (codes_a, codes_b) = std::thread::scope(|s| {
        let codes_b = s.spawn(|| b.codes());
        (
            a.codes(),
            codes_b.join().expect("the code pass does not panic"),
        )
    });
    let ((assets_a, lineages_a), (assets_b, lineages_b)) = (codes_a?, codes_b?);
    let code = common_code(&assets_a, &assets_b, true).unwrap_or_default();
    if !code.contains('c') {
        d.notes.push(
            "contents are not compared: no asset data variant with contents is in both snapshots"
                .into(),
        );
    }
    // The smallest lineage variant: only the path of ids is compared.
    let lineage_code = common_code(&lineages_a, &lineages_b, false).unwrap_or_default();
    let codes = Codes {
        asset: code,
        lineage: lineage_code,
    };

    let mut counts = RouteCounts::default();
    let web = |l: &Result<Entry, ReadError>| l.as_ref().map_or(true, |l| !l.is_router_file());
    let mut lines_a = snapshot::manifest_entries(old)?.filter(web).peekable();
    let mut lines_b = snapshot::manifest_entries(new)?.filter(web).peekable();
    // The asset whose files are being gathered, and what each side holds of it.
    let mut current: Option<(String, Group, Group)> = None;
    loop {
        // The next line in path order, and its side (both: the same path in both).
        let (la, lb) = match (lines_a.peek(), lines_b.peek()) {
            (None, None) => break,
            (Some(Err(_)), _) => return Err(lines_a.next().expect("peeked").unwrap_err()),
            (_, Some(Err(_))) => return Err(lines_b.next().expect("peeked").unwrap_err()),
            (Some(Ok(x)), Some(Ok(y))) => match x.path.cmp(&y.path) {
                std::cmp::Ordering::Less => (lines_a.next(), None),
                std::cmp::Ordering::Greater => (None, lines_b.next()),
                std::cmp::Ordering::Equal => (lines_a.next(), lines_b.next()),
            },
            (Some(_), None) => (lines_a.next(), None),
            (None, Some(_)) => (None, lines_b.next()),
        };
        let (la, lb) = (la.transpose()?, lb.transpose()?);
        match (&la, &lb) {
            (Some(x), Some(y)) if x.blake3 == y.blake3 => counts.unchanged += 1,
            (Some(_), Some(_)) => counts.changed += 1,
            (Some(_), None) => counts.removed += 1,
            _ => counts.added += 1,
        }
        let l = la.as_ref().or(lb.as_ref()).expect("a line");
        let Some((dir, file)) = by_id(&l.path) else {
            continue;
        };
        if current.as_ref().is_none_or(|(d, _, _)| d != dir) {
            if let Some((dir, ga, gb)) = current.take() {
                compare_asset(&a, &b, &dir, &ga, &gb, &codes, &mut d)?;
            }
            current = Some((dir.to_string(), Group::default(), Group::default()));
        }
        let (_, ga, gb) = current.as_mut().expect("set above");
        if let Some(file) = file {
            if let Some(x) = &la {
                ga.add(file, x);
            }
            if let Some(y) = &lb {
                gb.add(file, y);
            }
        }
    }
    if let Some((dir, ga, gb)) = current.take() {
        compare_asset(&a, &b, &dir, &ga, &gb, &codes, &mut d)?;
    }
    // Each list in id order (the manifests' order is that of encoded ids).
    for list in [
        &mut d.added,
        &mut d.removed,
        &mut d.became_forbidden,
        &mut d.became_readable,
    ] {
        list.sort_by(|x, y| x.id.cmp(&y.id));
    }
    d.changed.sort_by(|x, y| x.asset.id.cmp(&y.asset.id));
    d.moved.sort_by(|x, y| x.asset.id.cmp(&y.asset.id));
    if routes {
        d.routes = Some(counts);
    }
    d.summary = Summary {
        added: d.added.len(),
        removed: d.removed.len(),
        changed: d.changed.len(),
        moved: d.moved.len(),
        became_forbidden: d.became_forbidden.len(),
        became_readable: d.became_readable.len(),
    };
    Ok(d)
}

/// The data codes compared: the richest asset variant and the smallest lineage variant both
/// snapshots hold.
struct Codes {
    asset: String,
    lineage: String,
}

/// Compares one asset (its encoded id `dir`), given what each snapshot holds of it.
fn compare_asset(
    a: &Index,
    b: &Index,
    dir: &str,
    ga: &Group,
    gb: &Group,
    codes: &Codes,
    d: &mut Diff,
) -> Result<(), ReadError> {
    let Some(id) = decode_segment(dir) else {
        return Ok(());
    };
    let code = &codes.asset;
    match (ga.assets.is_empty(), gb.assets.is_empty()) {
        (true, true) => {}
        (true, false) => {
            let r = b.asset_ref(&id, gb, code)?;
            if ga.forbidden {
                d.became_readable.push(r);
            } else {
                d.added.push(r);
            }
        }
        (false, true) => {
            let r = a.asset_ref(&id, ga, code)?;
            if gb.forbidden {
                d.became_forbidden.push(r);
            } else {
                d.removed.push(r);
            }
        }
        (false, false) => {
            let hash = |g: &Group| g.assets.get(code).map(|h| h.0);
            if hash(ga) != hash(gb) {
                if let (Some(old_body), Some(new_body)) =
                    (a.asset_body(ga, code)?, b.asset_body(gb, code)?)
                {
                    if let Some(c) =
                        compare(&id, &old_body, &new_body, &b.asset_ref(&id, gb, code)?)
                    {
                        d.changed.push(c);
                    }
                }
            }
            let lh = |g: &Group| g.lineages.get(&codes.lineage).cloned();
            if let (Some((ha, pa)), Some((hb, pb))) = (lh(ga), lh(gb)) {
                if ha != hb {
                    let path_of = |v: &Value| -> Vec<String> {
                        v["assets"]
                            .as_array()
                            .map(|xs| {
                                xs.iter()
                                    .filter_map(|x| x["id"].as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default()
                    };
                    let (old_path, new_path) = (path_of(&a.body(&pa)?), path_of(&b.body(&pb)?));
                    if old_path != new_path {
                        d.moved.push(Moved {
                            asset: b.asset_ref(&id, gb, code)?,
                            old_path,
                            new_path,
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

/// Field-by-field comparison of two bodies of one asset; `None` when nothing reported differs
/// (e.g. only the order of keys).
fn compare(id: &str, old: &Value, new: &Value, asset: &AssetRef) -> Option<Changed> {
    let mut fields = Vec::new();
    for f in FIELDS {
        if old.get(f) != new.get(f) {
            let (o, n) = if f == "contents" {
                (
                    Value::Bool(old.get(f).is_some()),
                    Value::Bool(new.get(f).is_some()),
                )
            } else {
                (
                    old.get(f).cloned().unwrap_or(Value::Null),
                    new.get(f).cloned().unwrap_or(Value::Null),
                )
            };
            fields.push(FieldChange {
                field: f,
                old: o,
                new: n,
            });
        }
    }
    let attributes = key_changes(old.get("attributes"), new.get("attributes"));
    let metadata = key_changes(old.get("metadata"), new.get("metadata"));
    let contents_diff = match (old["contents"].as_str(), new["contents"].as_str()) {
        (Some(o), Some(n)) if o != n => Some(text_diff(o, n)),
        _ => None,
    };
    if fields.is_empty() && attributes.is_empty() && metadata.is_empty() {
        return None;
    }
    debug_assert_eq!(asset.id, id);
    Some(Changed {
        asset: asset.clone(),
        fields,
        attributes,
        metadata,
        contents_diff,
    })
}

fn key_changes(old: Option<&Value>, new: Option<&Value>) -> KeyChanges {
    let empty = serde_json::Map::new();
    let o = old.and_then(Value::as_object).unwrap_or(&empty);
    let n = new.and_then(Value::as_object).unwrap_or(&empty);
    let mut k = KeyChanges::default();
    for (key, v) in n {
        match o.get(key) {
            None => k.added.push(key.clone()),
            Some(ov) if ov != v => k.changed.push(key.clone()),
            _ => {}
        }
    }
    k.removed = o
        .keys()
        .filter(|key| !n.contains_key(*key))
        .cloned()
        .collect();
    k
}

/// A unified diff of two texts, at most 40 lines.
fn text_diff(old: &str, new: &str) -> String {
    // HTML contents are often one long line: break at tags so the diff shows the change.
    let split = |s: &str| s.replace('>', ">\n");
    let (o, n) = (split(old), split(new));
    let diff = similar::TextDiff::from_lines(&o, &n);
    let text = diff
        .unified_diff()
        .context_radius(1)
        .header("old", "new")
        .to_string();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() > 40 {
        format!(
            "{}\n… {} more lines\n",
            lines[..40].join("\n"),
            lines.len() - 40
        )
    } else {
        text
    }
}

/// How [`render`] writes a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For people, one line per asset (the CLI may colour it by [`Role`]).
    Text,
    /// For programs: the [`Diff`] as pretty JSON (schema in docs/diff.md).
    Json,
    /// For release notes and pull requests.
    Markdown,
}

/// What a piece of rendered text says, so that a front end can style it (colours belong to the
/// CLI; this module writes plain text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Unstyled text.
    Plain,
    /// A headline or a section title.
    Heading,
    /// Something that appeared or became readable.
    Added,
    /// Something that disappeared or became forbidden.
    Removed,
    /// Something changed or moved.
    Changed,
}

/// A diff rendered as text: pieces of plain text in order, each with its [`Role`]. `Display`
/// writes the text alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// The text, in order, each piece with what it says.
    pub pieces: Vec<(Role, String)>,
}

impl Rendered {
    fn push(&mut self, role: Role, text: impl Into<String>) {
        let text = text.into();
        match self.pieces.last_mut() {
            Some((last, t)) if *last == role => t.push_str(&text),
            _ => self.pieces.push((role, text)),
        }
    }
}

impl std::fmt::Display for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.pieces.iter().try_for_each(|(_, t)| f.write_str(t))
    }
}

/// Renders a diff in `format`: for people (`Text`), programs (`Json`) or release notes
/// (`Markdown`), as plain text whose pieces say what they are.
pub fn render(d: &Diff, format: Format) -> Rendered {
    let mut out = Rendered::default();
    let markdown = match format {
        Format::Json => {
            let json = serde_json::to_string_pretty(d).expect("a diff serializes");
            out.push(Role::Plain, json + "\n");
            return out;
        }
        Format::Text => false,
        Format::Markdown => true,
    };
    let name = |r: &AssetRef| {
        let n = r.name.as_deref().unwrap_or("?");
        match &r.url {
            Some(u) => format!("#{} {n:?} ({u})", r.id),
            None => format!("#{} {n:?}", r.id),
        }
    };
    let s = &d.summary;
    let headline = format!(
        "{} added, {} removed, {} changed, {} moved, {} became forbidden, {} became readable",
        s.added, s.removed, s.changed, s.moved, s.became_forbidden, s.became_readable
    );
    if markdown {
        out.push(
            Role::Plain,
            format!(
                "## Content changes\n\n`{}` → `{}`: {headline}.\n",
                short(&d.old.root_hash),
                short(&d.new.root_hash)
            ),
        );
    } else {
        out.push(Role::Heading, "diff");
        out.push(
            Role::Plain,
            format!(" {} → {}: {headline}\n", d.old.dir, d.new.dir),
        );
    }
    let mut section = |title: &str, items: Vec<String>, role: Role| {
        if items.is_empty() {
            return;
        }
        if markdown {
            out.push(Role::Plain, format!("\n### {title} ({})\n\n", items.len()));
            for i in items {
                out.push(Role::Plain, format!("- {i}\n"));
            }
        } else {
            out.push(Role::Plain, "\n");
            out.push(Role::Heading, format!("{title} ({}):", items.len()));
            out.push(Role::Plain, "\n");
            for i in items {
                out.push(Role::Plain, "  ");
                out.push(role, i);
                out.push(Role::Plain, "\n");
            }
        }
    };
    section(
        "Added",
        d.added.iter().map(|r| format!("+ {}", name(r))).collect(),
        Role::Added,
    );
    section(
        "Removed",
        d.removed.iter().map(|r| format!("- {}", name(r))).collect(),
        Role::Removed,
    );
    section(
        "Became forbidden",
        d.became_forbidden
            .iter()
            .map(|r| format!("- {}", name(r)))
            .collect(),
        Role::Removed,
    );
    section(
        "Became readable",
        d.became_readable
            .iter()
            .map(|r| format!("+ {}", name(r)))
            .collect(),
        Role::Added,
    );
    section(
        "Changed",
        d.changed
            .iter()
            .map(|c| {
                let mut parts: Vec<String> = c.fields.iter().map(|f| f.field.to_string()).collect();
                for (what, k) in [("attributes", &c.attributes), ("metadata", &c.metadata)] {
                    let keys: Vec<String> = k
                        .added
                        .iter()
                        .map(|x| format!("+{x}"))
                        .chain(k.removed.iter().map(|x| format!("-{x}")))
                        .chain(k.changed.iter().cloned())
                        .collect();
                    if !keys.is_empty() {
                        parts.push(format!("{what} [{}]", keys.join(", ")));
                    }
                }
                let mut line = format!("~ {}: {}", name(&c.asset), parts.join(", "));
                for f in c
                    .fields
                    .iter()
                    .filter(|f| matches!(f.field, "name" | "short_name" | "status"))
                {
                    let v = |x: &Value| match f.field {
                        "status" => x["code"].as_str().unwrap_or("?").to_string(),
                        _ => x.as_str().unwrap_or("").to_string(),
                    };
                    line.push_str(&format!("; {} {:?} → {:?}", f.field, v(&f.old), v(&f.new)));
                }
                if let Some(diff) = &c.contents_diff {
                    let body: String = diff.lines().map(|l| format!("\n      {l}")).collect();
                    if markdown {
                        line.push_str(&format!(
                            "\n\n  ```diff\n{}\n  ```",
                            diff.trim_end()
                                .lines()
                                .map(|l| format!("  {l}"))
                                .collect::<Vec<_>>()
                                .join("\n")
                        ));
                    } else {
                        line.push_str(&body);
                    }
                }
                line
            })
            .collect(),
        Role::Changed,
    );
    section(
        "Moved",
        d.moved
            .iter()
            .map(|m| {
                format!(
                    "> {}: {} → {}",
                    name(&m.asset),
                    m.old_path.join("/"),
                    m.new_path.join("/")
                )
            })
            .collect(),
        Role::Changed,
    );
    if let Some(r) = &d.routes {
        let line = format!(
            "files: {} added, {} removed, {} changed, {} unchanged",
            r.added, r.removed, r.changed, r.unchanged
        );
        if markdown {
            out.push(Role::Plain, format!("\n### Routes\n\n{line}\n"));
        } else {
            out.push(Role::Plain, format!("\n{line}\n"));
        }
    }
    for n in &d.notes {
        out.push(Role::Plain, format!("\nnote: {n}\n"));
    }
    out
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}
