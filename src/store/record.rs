//! The checks one record can make alone: `store.json` (format, contexts) and each asset line
//! (id, status, dates, context overrides), as it is parsed. Checks between records are in
//! `checks`.

use super::diagnostic::{Diagnostics, LoadError};
use super::model::*;
use super::read::{hash_file_start, serde_message, Source};
use std::io::Read;

/// Reads and checks `store.json`, hashing it into the fingerprint; a `store.json` that does not
/// parse is reported and replaced by one with the default context, so the other files are still
/// checked.
pub(super) fn read_meta(
    src: &Source,
    diags: &Diagnostics,
    hasher: &mut blake3::Hasher,
) -> Result<StoreMeta, LoadError> {
    let mut text = Vec::new();
    src.open("store.json")?
        .read_to_end(&mut text)
        .map_err(|e| src.io_error("store.json", e))?;
    hash_file_start(hasher, "store.json");
    hasher.update(&text);
    hasher.update(&[0xff]);
    Ok(match serde_json::from_slice::<StoreMeta>(&text) {
        Ok(meta) => {
            if meta.format != STORE_FORMAT {
                diags.push(
                    "store.json",
                    0,
                    format!(
                        "format {:?} is not supported (expected {STORE_FORMAT:?})",
                        meta.format
                    ),
                );
            }
            if meta.contexts.is_empty() {
                diags.push(
                    "store.json",
                    0,
                    "contexts must name at least one context (the first is the default)",
                );
            }
            for (i, name) in meta.contexts.iter().enumerate() {
                if name.is_empty() || name.chars().any(char::is_control) {
                    diags.push(
                        "store.json",
                        0,
                        format!("context name {name:?} is empty or has a control character"),
                    );
                } else if meta.contexts[..i].contains(name) {
                    diags.push(
                        "store.json",
                        0,
                        format!("context {name:?} is declared twice"),
                    );
                }
            }
            meta
        }
        Err(e) => {
            diags.push("store.json", e.line() as u64, serde_message(&e));
            StoreMeta {
                format: STORE_FORMAT.into(),
                name: String::new(),
                contexts: vec!["Default".into()],
            }
        }
    })
}

/// The longest asset id a store may hold, in bytes. Encoded for a file name (every byte outside
/// `[a-z0-9._-]` is three bytes, and names are cut into 200-byte directories), it stays under
/// 1,600 bytes: with the longest file name of a profile (255) and the snapshot's own prefix, far
/// below the 4,096-byte path limit (`PATH_MAX`) whatever `--out` is.
pub const MAX_ID_BYTES: usize = 512;

/// The longest URL an asset may have, in bytes (its key is encoded into by_url directories as
/// an id is: at most about 3,100 bytes).
pub const MAX_URL_BYTES: usize = 1024;

/// An asset from its line, with the checks the line can make alone.
pub(super) fn build_asset(
    rec: AssetRecord,
    contexts: &[String],
    line: u64,
    diags: &Diagnostics,
) -> Asset {
    let file = "assets.jsonl";
    if rec.id.is_empty() {
        diags.push(file, line, "id is empty");
    } else if rec.id.chars().any(char::is_control) {
        diags.push(
            file,
            line,
            format!("id {:?} contains a control character", rec.id),
        );
    } else if rec.id == "by_url" {
        diags.push(
            file,
            line,
            "id \"by_url\" is reserved by the Content API (/__api/assets/by_url)",
        );
    } else if rec.id.len() > MAX_ID_BYTES {
        diags.push(
            file,
            line,
            format!(
                "id {:?}… is {} bytes long; ids may be at most {MAX_ID_BYTES} bytes: each becomes the directory of the asset's files, and longer ones would pass the 4,096-byte path limit of the export (Matrix ids are short: 78, 78:v1; docs/store-format.md, \"Limits\")",
                rec.id.chars().take(20).collect::<String>(),
                rec.id.len()
            ),
        );
    }
    for u in rec.urls.iter().filter(|u| u.len() > MAX_URL_BYTES) {
        diags.push(
            file,
            line,
            format!(
                "url {:?}… is {} bytes long; urls may be at most {MAX_URL_BYTES} bytes: each becomes the directories of its by_url files, and longer ones would pass the 4,096-byte path limit of the export (docs/store-format.md, \"Limits\")",
                u.chars().take(40).collect::<String>(),
                u.len()
            ),
        );
    }
    if Status(rec.status).describe().is_none() {
        diags.push(
            file,
            line,
            format!(
                "unknown status {} (expected one of 1 2 4 8 16 32 64 128 256)",
                rec.status
            ),
        );
    }
    let mut ctx = Vec::new();
    if let Some(Ordered(items)) = rec.contexts {
        for (name, o) in items {
            if !contexts.contains(&name) {
                diags.push(
                    file,
                    line,
                    format!(
                        "context {name:?} is not declared in store.json (declared: {})",
                        contexts.join(", ")
                    ),
                );
            }
            if contexts.first() == Some(&name) {
                diags.push(
                    file,
                    line,
                    format!(
                        "context {name:?} is the default context: its values are the asset's own fields"
                    ),
                );
            }
            if o.version.is_some() {
                diags.push(
                    file,
                    line,
                    format!("context {name:?} may not override version"),
                );
            }
            if matches!(o.metadata, Some(None)) {
                diags.push(
                    file,
                    line,
                    format!("context {name:?}: metadata must be an object (a context overrides fields, it cannot remove the schema)"),
                );
            }
            ctx.push((name, o));
        }
    }
    let short_name = rec.short_name.unwrap_or_else(|| rec.name.clone());
    Asset {
        source_hash: 0,
        created: parse_event(rec.created, "created", file, line, diags),
        updated: parse_event(rec.updated, "updated", file, line, diags),
        published: parse_event(rec.published, "published", file, line, diags),
        status_changed: parse_event(rec.status_changed, "status_changed", file, line, diags),
        id: rec.id,
        type_code: rec.type_code,
        type_name: rec.type_name,
        version: rec.version.unwrap_or_else(|| "0.1.0".to_string()),
        name: rec.name,
        short_name,
        status: Status(rec.status),
        urls: rec.urls,
        fields: FieldsAt::Parsed(Box::new(Fields {
            attributes: rec.attributes,
            metadata: rec.metadata,
            contents: rec.contents,
        })),
        trashed: rec.trashed,
        live: rec.live.map(Box::new),
        contexts: ctx,
    }
}

/// An event object; a date that is not RFC 3339 with an offset is reported.
fn parse_event(rec: EventRecord, field: &str, file: &str, line: u64, diags: &Diagnostics) -> Event {
    let instant = rec.date.as_deref().and_then(|d| {
        match time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339) {
            Ok(t) => Some(t.unix_timestamp_nanos()),
            Err(_) => {
                diags.push(
                    file,
                    line,
                    format!("{field}.date {d:?} is not an RFC 3339 date with an offset (e.g. 2024-03-05T09:30:00+13:00) or null"),
                );
                None
            }
        }
    });
    Event {
        date: rec.date,
        user_id: rec.user_id,
        instant,
    }
}
