//! One asset line: its type, its fields in order, its `contexts` overrides and the `live`
//! version of an asset in safe editing.

use super::dates::Dates;
use super::sink::{push_str, pushf};
use super::text::{write_attributes, write_html, write_metadata, Named};
use super::tree::{Flavor, Role};
use super::STREAM_CONTEXTS;
use crate::rng::{mix, Rng};

/// Asset types.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
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
    pub(super) fn has_metadata(self) -> bool {
        matches!(self, Kind::Site | Kind::Page | Kind::Listing | Kind::News)
    }

    /// File extension, for file-like assets.
    pub(super) fn extension(self, r: &mut Rng) -> Option<&'static str> {
        match self {
            Kind::File => Some(*r.pick(&["docx", "xlsx", "zip", "txt", "pptx"])),
            Kind::Image => Some(*r.pick(&["jpg", "png", "gif", "webp"])),
            Kind::Pdf => Some("pdf"),
            _ => None,
        }
    }
}

/// The fields of one asset line.
pub(super) struct AssetLine<'a> {
    pub(super) id: &'a str,
    pub(super) kind: Kind,
    pub(super) version: &'a str,
    pub(super) name: &'a str,
    pub(super) short_name: &'a str,
    pub(super) status: u16,
    pub(super) dates: &'a Dates,
    /// `None`: the key is left out (default `[]`).
    pub(super) urls: Option<&'a [String]>,
    pub(super) attributes: &'a [u8],
    pub(super) metadata: &'a [u8],
    pub(super) contents: &'a str,
    /// `None`: the key is left out (default false).
    pub(super) trashed: Option<bool>,
    pub(super) live: Option<&'a [u8]>,
}

impl AssetLine<'_> {
    /// Appends the line (ending with a newline) to `line`.
    pub(super) fn write(&self, line: &mut Vec<u8>, seed: u64, contexts: &[String]) {
        let a = self;
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
        write_contexts(line, seed, contexts, a);
        line.extend_from_slice(b"}\n");
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
pub(super) fn live_version(r: &mut Rng, kind: Kind, flavor: Flavor, version: &str) -> Vec<u8> {
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

pub(super) fn roll_version(r: &mut Rng, status: u16) -> String {
    if status == 2 {
        return "0.1.0".to_owned();
    }
    format!("{}.{}.{}", r.below(3), r.below(10), 1 + r.below(20))
}
