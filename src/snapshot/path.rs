//! Route → file path inside the snapshot's web root: the one mapping that routers reuse
//! (`docs/snapshot-format.md`).
//!
//! Every user-controlled string (asset id, URL segment, type code) becomes one or more path
//! segments through [`encode_segment`]: bytes in `[a-z0-9_-]` stay, `.` stays except at the
//! start, everything else — upper-case letters included — becomes `~xx` (lower-case hex). So:
//!
//! - names are lower case only: no two names differ only in letter case (case-insensitive
//!   filesystems, S3 sync from macOS/Windows);
//! - no name is `.`, `..`, hidden, absolute, or contains `/`, `\`, `%`, `+`, `:` or a control
//!   character: nothing can point outside the output directory;
//! - the mapping is reversible ([`decode_segment`]); an empty segment is `~-`;
//! - names longer than [`MAX_NAME`] bytes are cut into chunks; every chunk but the last ends in
//!   `~_` and becomes a directory (255-byte name limits).
//!
//! Files the exporter itself names live in a directory called `~`, which no encoded segment can
//! be (a `~` is always followed by two hex digits, `-` or `_`).

use crate::api::{Data, SortKey, SortOrder};

/// The body of the API's fixed error answer `status` (400, 401, 403, 404, 405), relative to the
/// web root.
pub fn error_file(status: u16) -> String {
    format!("__api/~/errors/{status}.json")
}

/// Whether a manifest path is one `export` can have written: under `public/`, relative, with no
/// empty, `.` or `..` component and no backslash (so reading it never leaves the snapshot).
pub fn safe(path: &str) -> bool {
    path.strip_prefix(super::PUBLIC_DIR)
        .is_some_and(|p| p.starts_with('/'))
        && !path.contains('\\')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Whether a manifest path is one of the router files `export` lists beside the web root
/// (`_routers/…`, status 0: not a route), with the same rules as [`safe`].
pub fn safe_meta(path: &str) -> bool {
    path.strip_prefix(super::ROUTERS_DIR)
        .is_some_and(|p| p.starts_with('/'))
        && !path.contains('\\')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Longest encoded name written as one path component (well under 255 bytes).
pub const MAX_NAME: usize = 200;

/// Encodes one string as path segments joined by `/` (one segment unless it is long).
pub fn encode_segment(s: &str) -> String {
    if s.is_empty() {
        return "~-".to_string();
    }
    let mut enc = String::with_capacity(s.len());
    for (i, b) in s.bytes().enumerate() {
        let raw = b.is_ascii_lowercase()
            || b.is_ascii_digit()
            || b == b'_'
            || b == b'-'
            || (b == b'.' && i > 0);
        if raw {
            enc.push(b as char);
        } else {
            enc.push('~');
            enc.push_str(&format!("{b:02x}"));
        }
    }
    if enc.len() <= MAX_NAME {
        return enc;
    }
    // Cut at escape boundaries into chunks of at most MAX_NAME - 2 bytes (+ "~_").
    let mut out = String::with_capacity(enc.len() + enc.len() / MAX_NAME * 3);
    let mut chunk = 0;
    let bytes = enc.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let unit = if bytes[i] == b'~' { 3 } else { 1 };
        if chunk + unit > MAX_NAME - 2 {
            out.push_str("~_/");
            chunk = 0;
        }
        if chunk == 0 && bytes[i] == b'.' {
            // A chunk is a name of its own: it may not start with a dot either.
            out.push_str("~2e");
            chunk += 3;
        } else {
            out.push_str(&enc[i..i + unit]);
            chunk += unit;
        }
        i += unit;
    }
    out
}

/// Decodes what [`encode_segment`] wrote (chunks joined by `/` included); `None` if malformed.
pub fn decode_segment(enc: &str) -> Option<String> {
    if enc == "~-" {
        return Some(String::new());
    }
    let joined = enc.replace("~_/", "");
    let b = joined.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'~' {
            let hex = joined.get(i + 1..i + 3)?;
            if !hex
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
            {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The data code in file names: four positions, `u`rls `a`ttributes `m`etadata `c`ontents,
/// each its letter when asked for and `-` when not (`uamc` = all, `----` = none, `u--c`). Fixed
/// width so routers build it by concatenation, with no special case for "none".
pub fn data_code(data: Data) -> String {
    Data::ITEMS
        .iter()
        .zip(['u', 'a', 'm', 'c'])
        .map(|((d, _), c)| if data.has(*d) { c } else { '-' })
        .collect()
}

/// The sort code: `tree` or the key with `.` written as `-`.
pub fn sort_code(sort_by: Option<SortKey>) -> String {
    sort_by.map_or_else(|| "tree".to_string(), |k| k.as_str().replace('.', "-"))
}

/// The code of an `asset_types` filter in file names: `all` when unfiltered, else the encoded
/// type codes (sorted, distinct) joined by `,`.
pub fn types_code(types: Option<&[String]>) -> String {
    match types {
        None => "all".to_string(),
        Some(t) => t
            .iter()
            .map(|t| encode_segment(t).replace('/', ""))
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// The directory of an asset by id: `__api/assets/<id>`.
pub fn asset_dir(id: &str) -> String {
    format!("__api/assets/{}", encode_segment(id))
}

/// The directory of a URL key (`host[:port]/path`): `__api/assets/by_url/<host>/<seg>/…`.
pub fn url_dir(key: &str) -> String {
    let mut dir = String::from("__api/assets/by_url");
    for seg in key.split('/') {
        dir.push('/');
        dir.push_str(&encode_segment(seg));
    }
    dir
}

/// Which Content API 1.2.0 variant of a route a file holds: `include_dependents=true`, a
/// `base_url` (its 1-based position in the routing table's `base_urls`) and a `context` (its
/// position in the store's declared contexts; 0, the default, is never named).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Variant {
    /// `include_dependents=true` (asset routes only).
    pub dependents: bool,
    /// `base_url`: 1-based position among the exported values; `None` = no `base_url`.
    pub base_url: Option<usize>,
    /// `context`: position among the store's declared contexts; `None` = the default context.
    pub context: Option<usize>,
}

impl Variant {
    /// The variant code in file names: empty for plain requests (so their names do not
    /// change), else `.` followed by `d` (dependents), `b<n>` (base_url) and `x<n>` (context),
    /// in this order: `.d`, `.b1`, `.x2`, `.db1x2`.
    pub fn code(&self) -> String {
        let mut code = String::new();
        if self.dependents {
            code.push('d');
        }
        if let Some(b) = self.base_url {
            code.push_str(&format!("b{b}"));
        }
        if let Some(x) = self.context {
            code.push_str(&format!("x{x}"));
        }
        if code.is_empty() {
            code
        } else {
            format!(".{code}")
        }
    }
}

/// `<dir>/~asset.<data><variant>.json`
pub fn asset_file(dir: &str, data: Data, v: Variant) -> String {
    format!("{dir}/~asset.{}{}.json", data_code(data), v.code())
}

/// `<dir>/~lineage.<data><variant>.json`
pub fn lineage_file(dir: &str, data: Data, v: Variant) -> String {
    format!("{dir}/~lineage.{}{}.json", data_code(data), v.code())
}

/// `<dir>/~forbidden.json`: the 403 marker routers look for when no file exists.
pub fn forbidden_file(dir: &str) -> String {
    format!("{dir}/~forbidden.json")
}

/// A children page file:
/// `<dir>/~children.<data>.<sort>.<order>.<types>.<limit>.<page><variant>.json`, where
/// `<types>` is `all` or the encoded type codes joined by `,` (sorted, deduplicated).
#[allow(clippy::too_many_arguments)]
pub fn children_file(
    dir: &str,
    data: Data,
    sort_by: Option<SortKey>,
    order: SortOrder,
    types: Option<&[String]>,
    limit: u64,
    page: u64,
    v: Variant,
) -> String {
    let types = types_code(types);
    format!(
        "{dir}/~children.{}.{}.{}.{types}.{limit}.{page}{}.json",
        data_code(data),
        sort_code(sort_by),
        order.as_str(),
        v.code()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn manifest_paths_must_stay_in_public() {
        assert!(safe("public/__api/assets/1/~asset.----.json"));
        for p in [
            "public/../x",
            "/etc/passwd",
            "public//x",
            "public/./x",
            "manifest.jsonl",
            "public\\..\\x",
        ] {
            assert!(!safe(p), "{p}");
        }
        assert!(safe_meta("_routers/nginx/nginx.conf"));
        assert!(!safe("_routers/routes.json"), "a router file is no route");
        for p in [
            "_routers/../x",
            "_routers",
            "_routers//x",
            "public/x",
            "_cache/inputs.tsv",
        ] {
            assert!(!safe_meta(p), "{p}");
        }
    }

    #[test]
    fn plain_ids_stay_readable() {
        assert_eq!(encode_segment("1234"), "1234");
        assert_eq!(encode_segment("page_standard"), "page_standard");
        assert_eq!(encode_segment("a.b"), "a.b");
    }

    /// Hostile ids never escape: no `..`, `/`, absolute paths, `%`, `+`, control characters.
    #[test]
    fn hostile_ids_are_inert() {
        for (id, want) in [
            ("../x", "~2e.~2fx"),
            ("/etc/x", "~2fetc~2fx"),
            ("a/../../b", "a~2f..~2f..~2fb"),
            ("%2e%2e", "~252e~252e"),
            ("..", "~2e."),
            (".", "~2e"),
            ("a+b c", "a~2bb~20c"),
            ("\u{7}\t", "~07~09"),
            ("12:ab/c", "12~3aab~2fc"),
            ("", "~-"),
        ] {
            assert_eq!(encode_segment(id), want, "{id:?}");
        }
    }

    /// Case-insensitive filesystems: upper case is escaped, so names are all lower case.
    #[test]
    fn letter_case_never_collides() {
        let (a, b) = (encode_segment("News"), encode_segment("news"));
        assert_ne!(a.to_lowercase(), b.to_lowercase());
        assert_eq!(a, a.to_lowercase());
    }

    #[test]
    fn long_names_are_chunked_under_255_bytes() {
        let id = "É".repeat(150); // 300 bytes, 900 encoded
        let enc = encode_segment(&id);
        assert!(enc.split('/').all(|c| c.len() <= MAX_NAME && !c.is_empty()));
        assert!(enc.split('/').rev().skip(1).all(|c| c.ends_with("~_")));
        assert_eq!(decode_segment(&enc).as_deref(), Some(id.as_str()));
    }

    #[test]
    fn file_names() {
        let dir = asset_dir("12:ab/c");
        assert_eq!(
            asset_file(&dir, Data::NONE, Variant::default()),
            "__api/assets/12~3aab~2fc/~asset.----.json"
        );
        assert_eq!(
            lineage_file(&dir, Data::ALL, Variant::default()),
            "__api/assets/12~3aab~2fc/~lineage.uamc.json"
        );
        let all = Variant {
            dependents: true,
            base_url: Some(1),
            context: Some(2),
        };
        assert_eq!(
            asset_file(&dir, Data::ALL, all),
            "__api/assets/12~3aab~2fc/~asset.uamc.db1x2.json"
        );
        let ctx = Variant {
            context: Some(1),
            ..Variant::default()
        };
        assert_eq!(
            lineage_file(&dir, Data::NONE, ctx),
            "__api/assets/12~3aab~2fc/~lineage.----.x1.json"
        );
        assert_eq!(
            children_file(
                &dir,
                Data::URLS,
                Some(SortKey::CreatedDate),
                SortOrder::Desc,
                Some(&["News".into(), "page".into()]),
                100,
                2,
                Variant::default()
            ),
            "__api/assets/12~3aab~2fc/~children.u---.created-date.desc.~4eews,page.100.2.json"
        );
        assert_eq!(
            children_file(
                &dir,
                Data::NONE,
                None,
                SortOrder::Asc,
                None,
                0,
                1,
                Variant {
                    base_url: Some(12),
                    ..Variant::default()
                }
            ),
            "__api/assets/12~3aab~2fc/~children.----.tree.asc.all.0.1.b12.json"
        );
        assert_eq!(
            url_dir("www.uni.test:8080/News/"),
            "__api/assets/by_url/www.uni.test~3a8080/~4eews/~-"
        );
    }

    proptest! {
        /// Reversible and safe for any string.
        #[test]
        fn round_trip_and_safety(s in "\\PC{0,120}|[./~%A-Za-z]{0,12}") {
            let enc = encode_segment(&s);
            prop_assert_eq!(decode_segment(&enc), Some(s.clone()));
            for part in enc.split('/') {
                prop_assert!(!part.is_empty() && part != "." && part != "..");
                // Reserved names (`~asset…`, `~children…`…) start with `~` and a non-hex letter.
                prop_assert!(!part.starts_with("~a") || part[2..].starts_with(|c: char| c.is_ascii_hexdigit()));
                for reserved in ["~asset", "~lineage", "~children", "~forbidden"] {
                    prop_assert!(!part.starts_with(reserved));
                }
                prop_assert!(!part.starts_with('.'));
                prop_assert!(part.len() <= MAX_NAME);
                prop_assert!(part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.~".contains(&b)));
            }
        }
    }
}
