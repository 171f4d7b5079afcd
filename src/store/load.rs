//! Loading a store: `store.json`, then the five JSON Lines files read as streams and parsed in
//! parallel (each record checked on its own as it is parsed, `record`), then the cross-record
//! checks that build the indexes (`checks`). Every problem becomes a [`Diagnostic`]
//! (`diagnostic`), reported together at the end.
//!
//! [`Diagnostic`]: super::Diagnostic

use super::checks::{self, Records};
use super::diagnostic::{Diagnostics, LoadError};
use super::model::*;
use super::read::{read_jsonl, source_hash, Source};
use super::record::{build_asset, read_meta};
use super::{Store, FILES};
use std::io::{self, BufRead};
use std::path::Path;

pub(super) fn load_dir(dir: &Path) -> Result<Store, LoadError> {
    if !dir.is_dir() {
        return Err(LoadError::Io {
            path: dir.to_path_buf(),
            source: io::Error::new(io::ErrorKind::NotFound, "not a store directory"),
        });
    }
    let prefix = format!("{}/", dir.display());
    load(Source::Dir(dir), &prefix)
}

pub(super) fn load_memory(files: &[(&str, &[u8])], label: &str) -> Result<Store, LoadError> {
    load(Source::Memory(files), &format!("{label}/"))
}

fn load(src: Source, prefix: &str) -> Result<Store, LoadError> {
    let diags = Diagnostics::new(prefix);
    // A UTF-8 byte order mark is named, not parsed: JSON would call it malformed (column 1) and
    // every check that needs the file would fail after it.
    for name in FILES {
        if src
            .open(name)
            .is_ok_and(|mut r| r.fill_buf().is_ok_and(|b| b.starts_with(b"\xEF\xBB\xBF")))
        {
            diags.push(name, 1, "starts with a UTF-8 byte order mark (bytes EF BB BF): store files are UTF-8 without one; save the file without it");
        }
    }
    if !diags.is_empty() {
        return Err(diags.into_error());
    }
    let mut hasher = blake3::Hasher::new();
    let meta = read_meta(&src, &diags, &mut hasher)?;
    let records = read_records(&src, &meta.contexts, &diags, &mut hasher)?;
    let indexes = checks::check(&records, &diags);
    if !diags.is_empty() {
        return Err(diags.into_error());
    }
    let fingerprint = hasher.finalize().to_hex().to_string();
    // Where [`Store::fields`] reads the lines again (a replaced file is noticed there: each
    // line's bytes must hash to its source hash).
    let assets_file = match src {
        Source::Dir(dir) if cfg!(unix) => {
            let path = dir.join("assets.jsonl");
            let file =
                std::fs::File::open(&path).map_err(|source| LoadError::Io { path, source })?;
            Some(file)
        }
        _ => None,
    };
    let Records {
        assets,
        links,
        principals,
        tokens,
        ..
    } = records;
    Ok(Store {
        meta,
        assets,
        links,
        principals,
        tokens,
        fingerprint,
        assets_file,
        asset_index: indexes.asset_index,
        principal_index: indexes.principal_index,
        token_index: indexes.token_index,
        url_index: indexes.url_index,
        link_ends: indexes.link_ends,
        links_from: indexes.links_from,
        links_to: indexes.links_to,
        permissions: indexes.permissions,
        principal_groups: indexes.principal_groups,
    })
}

/// Reads the five JSON Lines files in [`super::FILES`] order, hashing them into the fingerprint.
fn read_records(
    src: &Source,
    contexts: &[String],
    diags: &Diagnostics,
    hasher: &mut blake3::Hasher,
) -> Result<Records, LoadError> {
    let (assets, asset_lines) = read_jsonl(
        src,
        "assets.jsonl",
        diags,
        hasher,
        |rec: AssetRecord, line, bytes, offset| {
            let mut a = build_asset(rec, contexts, line, diags);
            a.source_hash = source_hash(bytes);
            // A store read from a directory reads attributes, metadata and contents again when
            // a body needs them ([`Store::fields`]); the parse above has checked them.
            if let (true, Source::Dir(_), Ok(len)) = (cfg!(unix), src, u32::try_from(bytes.len())) {
                a.fields = FieldsAt::Line { offset, len };
            }
            a
        },
    )?;
    let (links, link_lines) = read_jsonl(
        src,
        "links.jsonl",
        diags,
        hasher,
        |mut r: Link, _, bytes, _| {
            r.source_hash = source_hash(bytes);
            r
        },
    )?;
    let (principals, principal_lines) = read_jsonl(
        src,
        "principals.jsonl",
        diags,
        hasher,
        |r: Principal, _, _, _| r,
    )?;
    let (permissions, permission_lines) = read_jsonl(
        src,
        "permissions.jsonl",
        diags,
        hasher,
        |r: PermissionRecord, _, _, _| r,
    )?;
    let (tokens, token_lines) =
        read_jsonl(src, "tokens.jsonl", diags, hasher, |r: Token, _, _, _| r)?;
    Ok(Records {
        assets,
        asset_lines,
        links,
        link_lines,
        principals,
        principal_lines,
        permissions,
        permission_lines,
        tokens,
        token_lines,
    })
}

#[cfg(test)]
mod tests {
    use crate::store::fixture::{ASSETS, LINKS, PERMISSIONS, PRINCIPALS, RULES, TOKENS};
    use crate::store::LoadError;

    /// Loads the fixture with `file` replaced by `text`, expecting `file:line: …needle…`.
    fn expect_error(file: &'static str, text: &str, line: u64, needle: &str) {
        let err = RULES
            .load_with(&[(file, text)])
            .expect_err("the store must be rejected");
        let LoadError::Invalid { diagnostics, .. } = &err else {
            panic!("not a validation error: {err}");
        };
        let want = format!("fixture/{file}:{line}: ");
        assert!(
            diagnostics
                .iter()
                .any(|d| d.to_string().starts_with(&want) && d.message.contains(needle)),
            "expected {want}…{needle}… in:\n{err}"
        );
    }

    fn with_line(base: &str, extra: &str) -> String {
        format!("{base}{extra}\n")
    }

    const ASSET_LINES: u64 = 16;

    /// Issue 20: a store read from a directory keeps only where each asset's line is; its
    /// fields read again equal the parsed ones, and a file changed in place afterwards is
    /// named, never read as another asset's fields.
    #[test]
    fn fields_are_read_again_from_the_file_and_a_changed_file_is_named() {
        use crate::store::fixture::CONTEXTS;
        use crate::store::model::FieldsAt;
        let dir = tempfile::tempdir().expect("temp dir");
        CONTEXTS.write_to(dir.path());
        let from_dir = crate::store::Store::load(dir.path()).expect("valid");
        let in_memory = CONTEXTS.load();
        for (i, a) in from_dir.assets.iter().enumerate() {
            assert!(
                matches!(a.fields, FieldsAt::Line { .. }),
                "asset {} keeps its fields parsed",
                a.id
            );
            assert!(matches!(in_memory.assets[i].fields, FieldsAt::Parsed(_)));
            assert_eq!(from_dir.fields(i as u32), in_memory.fields(i as u32));
        }
        let home = from_dir.asset_by_id("2").expect("asset 2");
        assert_eq!(from_dir.fields(home).contents, "home");
        // The same length, other bytes: only the hash can tell.
        let path = dir.path().join("assets.jsonl");
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(
            &path,
            text.replacen("\"contents\":\"home\"", "\"contents\":\"HOME\"", 1),
        )
        .expect("write");
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            from_dir.fields(home);
        }))
        .expect_err("a changed line must not be read");
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            message.contains("assets.jsonl changed while matrix-snapshot was using it")
                && message.contains("\"2\""),
            "{message}"
        );
    }

    /// A line that is not UTF-8 is named with where its first bad byte is, in a string or out
    /// of one (lines are checked whole before they are parsed).
    #[test]
    fn a_line_that_is_not_utf8_is_named_with_its_column() {
        let dir = tempfile::tempdir().expect("temp dir");
        RULES.write_to(dir.path());
        let path = dir.path().join("assets.jsonl");
        let mut bytes = std::fs::read(&path).expect("read");
        let bad = b"{\"id\":\"900\",\"name\":\"caf\xe9\",\"type\":\"page\"}\n";
        bytes.extend_from_slice(bad);
        bytes.extend_from_slice(b"{\"id\":\xff}\n");
        std::fs::write(&path, bytes).expect("write");
        let err = crate::store::Store::load(dir.path()).expect_err("not UTF-8");
        let LoadError::Invalid { diagnostics, .. } = &err else {
            panic!("not a validation error: {err}");
        };
        let found = |line: u64, needle: &str| {
            diagnostics.iter().any(|d| {
                d.to_string().contains(&format!("assets.jsonl:{line}: "))
                    && d.message.contains(needle)
            })
        };
        assert!(
            found(ASSET_LINES + 1, "not UTF-8: byte 0xE9 at column 24"),
            "{err}"
        );
        assert!(
            found(ASSET_LINES + 2, "not UTF-8: byte 0xFF at column 7"),
            "{err}"
        );
    }

    #[test]
    fn malformed_json() {
        expect_error(
            "assets.jsonl",
            &with_line(ASSETS, "{\"id\":"),
            ASSET_LINES + 1,
            "malformed JSON",
        );
    }

    #[test]
    fn missing_required_field() {
        let a = r#"{"id":"900","type":"page","type_name":"Page","status":16}"#;
        expect_error(
            "assets.jsonl",
            &with_line(ASSETS, a),
            ASSET_LINES + 1,
            "missing field `name`",
        );
    }

    #[test]
    fn unknown_field_is_a_typo() {
        let a =
            r#"{"id":"900","type":"page","type_name":"Page","name":"x","status":16,"contnets":""}"#;
        expect_error(
            "assets.jsonl",
            &with_line(ASSETS, a),
            ASSET_LINES + 1,
            "unknown field `contnets`",
        );
    }

    #[test]
    fn duplicate_ids() {
        let a = r#"{"id":"78","type":"page","type_name":"Page","name":"x","status":16}"#;
        expect_error(
            "assets.jsonl",
            &with_line(ASSETS, a),
            ASSET_LINES + 1,
            "duplicate asset id \"78\" (first on line 5)",
        );
        let l = r#"{"link_id":"40","major_id":"1","minor_id":"5","link_type":"reference","sort_order":9}"#;
        expect_error("links.jsonl", &with_line(LINKS, l), 19, "duplicate link id");
        let p = r#"{"id":"10","kind":"user","name":"Again"}"#;
        expect_error(
            "principals.jsonl",
            &with_line(PRINCIPALS, p),
            8,
            "duplicate principal id",
        );
        let t = r#"{"token":"pub","name":"Again","enabled":true,"user_id":"7"}"#;
        expect_error(
            "tokens.jsonl",
            &with_line(TOKENS, t),
            11,
            "duplicate token value",
        );
    }

    #[test]
    fn url_used_by_two_assets() {
        let a = r#"{"id":"900","type":"page","type_name":"Page","name":"x","status":16,"urls":["http://WWW.uni.test/about/"]}"#;
        expect_error(
            "assets.jsonl",
            &with_line(ASSETS, a),
            ASSET_LINES + 1,
            "already used by asset \"100\"",
        );
    }

    /// Spec §2 (revised 2026-12): a port that is not a number up to 65535 never matches, and
    /// `check` reports it; `:0443` is a port like any other (no error).
    #[test]
    fn url_with_a_bad_port() {
        for (u, port) in [
            ("https://www.uni.test:65536/x", "65536"),
            ("http://www.uni.test:8o/", "8o"),
        ] {
            let a = format!(
                r#"{{"id":"900","type":"page","type_name":"Page","name":"x","status":16,"urls":["{u}"]}}"#
            );
            expect_error(
                "assets.jsonl",
                &with_line(ASSETS, &a),
                ASSET_LINES + 1,
                &format!("port \"{port}\" is not a number from 0 to 65535"),
            );
        }
    }

    /// Issue 17: a 5,000-byte id passed `check`, then `export` failed with "File name too
    /// long". Ids over 512 bytes and URLs over 1,024 are refused with file:line; the limits
    /// themselves pass.
    #[test]
    fn ids_and_urls_too_long_for_the_export() {
        let asset = |id: &str, url: &str| {
            format!(
                r#"{{"id":"{id}","type":"page","type_name":"Page","name":"x","status":16,"urls":["{url}"]}}"#
            )
        };
        let long_url = format!("https://www.uni.test/{}", "a".repeat(1100));
        for (a, says) in [
            (
                asset(&"7".repeat(5000), "https://www.uni.test/x"),
                "is 5000 bytes long; ids may be at most 512 bytes",
            ),
            (
                asset("901", &long_url),
                "bytes long; urls may be at most 1024 bytes",
            ),
        ] {
            expect_error(
                "assets.jsonl",
                &with_line(ASSETS, &a),
                ASSET_LINES + 1,
                says,
            );
        }
        let url = format!(
            "https://www.uni.test/{}",
            "a".repeat(crate::store::MAX_URL_BYTES - 21)
        );
        assert_eq!(url.len(), crate::store::MAX_URL_BYTES);
        let ok = with_line(
            ASSETS,
            &asset(&"7".repeat(crate::store::MAX_ID_BYTES), &url),
        );
        RULES
            .load_with(&[("assets.jsonl", ok.as_str())])
            .expect("at the limits");
    }

    #[test]
    fn reserved_and_bad_ids() {
        let a = r#"{"id":"by_url","type":"page","type_name":"Page","name":"x","status":16}"#;
        expect_error(
            "assets.jsonl",
            &with_line(ASSETS, a),
            ASSET_LINES + 1,
            "reserved",
        );
        let a = r#"{"id":"a\u0007b","type":"page","type_name":"Page","name":"x","status":16}"#;
        expect_error(
            "assets.jsonl",
            &with_line(ASSETS, a),
            ASSET_LINES + 1,
            "control character",
        );
        let a = r#"{"id":"","type":"page","type_name":"Page","name":"x","status":16}"#;
        expect_error(
            "assets.jsonl",
            &with_line(ASSETS, a),
            ASSET_LINES + 1,
            "id is empty",
        );
    }

    #[test]
    fn unknown_status_and_link_type() {
        let a = r#"{"id":"900","type":"page","type_name":"Page","name":"x","status":3}"#;
        expect_error(
            "assets.jsonl",
            &with_line(ASSETS, a),
            ASSET_LINES + 1,
            "unknown status 3",
        );
        let l =
            r#"{"link_id":"99","major_id":"1","minor_id":"5","link_type":"notice","sort_order":9}"#;
        expect_error(
            "links.jsonl",
            &with_line(LINKS, l),
            19,
            "unknown variant `notice`",
        );
    }

    #[test]
    fn bad_dates() {
        for date in ["2019-08-20 19:33:50", "2019-08-20T19:33:50", "yesterday"] {
            let a = format!(
                r#"{{"id":"900","type":"page","type_name":"Page","name":"x","status":16,"updated":{{"date":"{date}","user_id":null}}}}"#
            );
            expect_error(
                "assets.jsonl",
                &with_line(ASSETS, &a),
                ASSET_LINES + 1,
                "RFC 3339",
            );
        }
    }

    #[test]
    fn token_rules() {
        let t = r#"{"token":"has space","name":"T","enabled":true,"user_id":"7"}"#;
        expect_error("tokens.jsonl", &with_line(TOKENS, t), 11, "whitespace");
        let t = r#"{"token":"grp","name":"T","enabled":true,"user_id":"20"}"#;
        expect_error("tokens.jsonl", &with_line(TOKENS, t), 11, "is a group");
        let t = r#"{"token":"who","name":"T","enabled":true,"user_id":"404"}"#;
        expect_error(
            "tokens.jsonl",
            &with_line(TOKENS, t),
            11,
            "unknown principal \"404\"",
        );
        let t = r#"{"token":"where","name":"T","enabled":true,"user_id":"7","root_nodes":["404"]}"#;
        expect_error(
            "tokens.jsonl",
            &with_line(TOKENS, t),
            11,
            "root_nodes names unknown asset",
        );
    }

    #[test]
    fn unknown_references() {
        let l =
            r#"{"link_id":"99","major_id":"404","minor_id":"5","link_type":"menu","sort_order":9}"#;
        expect_error(
            "links.jsonl",
            &with_line(LINKS, l),
            19,
            "major_id names unknown asset \"404\"",
        );
        let p = r#"{"asset_id":"78","principal_id":"404","access":"read","granted":true}"#;
        let perms = with_line(PERMISSIONS, p);
        expect_error(
            "permissions.jsonl",
            &perms,
            24,
            "principal_id names unknown principal",
        );
        let pr = r#"{"id":"13","kind":"user","name":"X","groups":["404"]}"#;
        expect_error(
            "principals.jsonl",
            &with_line(PRINCIPALS, pr),
            8,
            "unknown principal \"404\"",
        );
    }

    #[test]
    fn cycles() {
        let l = r#"{"link_id":"99","major_id":"78","minor_id":"3","link_type":"hidden","sort_order":9}"#;
        expect_error(
            "links.jsonl",
            &with_line(LINKS, l),
            19,
            "cycle among non-reference links",
        );
        // A reference link back up is fine.
        let ok = with_line(
            LINKS,
            r#"{"link_id":"99","major_id":"78","minor_id":"3","link_type":"reference","sort_order":9}"#,
        );
        assert!(RULES.load_with(&[("links.jsonl", ok.as_str())]).is_ok());
        let p = PRINCIPALS.replace(r#""name":"Staff"}"#, r#""name":"Staff","groups":["20"]}"#);
        expect_error("principals.jsonl", &p, 7, "group cycle");
    }

    #[test]
    fn second_public_principal() {
        let p = r#"{"id":"8","kind":"public","name":"Another public"}"#;
        expect_error(
            "principals.jsonl",
            &with_line(PRINCIPALS, p),
            8,
            "second public principal",
        );
    }

    #[test]
    fn undeclared_context() {
        let a = r#"{"id":"900","type":"page","type_name":"Page","name":"x","status":16,"contexts":{"Klingon":{"name":"y"}}}"#;
        expect_error(
            "assets.jsonl",
            &with_line(ASSETS, a),
            ASSET_LINES + 1,
            "not declared",
        );
    }

    /// `store.json` `contexts`: names non-empty and distinct; an asset's `contexts` names only
    /// declared, non-default contexts, overrides no unknown field and not `version`.
    #[test]
    fn context_declarations_and_overrides() {
        let twice =
            r#"{"format":"matrix-snapshot-store/1","name":"F","contexts":["Default","fr","fr"]}"#;
        let empty = r#"{"format":"matrix-snapshot-store/1","name":"F","contexts":["Default",""]}"#;
        let none = r#"{"format":"matrix-snapshot-store/1","name":"F","contexts":[]}"#;
        for (meta, needle) in [
            (twice, "context \"fr\" is declared twice"),
            (empty, "context name \"\" is empty"),
            (none, "contexts must name at least one context"),
        ] {
            let err = RULES.load_with(&[("store.json", meta)]).expect_err(meta);
            assert!(
                err.to_string()
                    .contains(&format!("fixture/store.json: {needle}")),
                "{err}"
            );
        }
        let meta = r#"{"format":"matrix-snapshot-store/1","name":"F","contexts":["Default","fr"]}"#;
        let ok = r#"{"id":"900","type":"page","type_name":"Page","name":"x","status":16,"contexts":{"fr":{"name":"y","metadata":{}}}}"#;
        let assets = with_line(ASSETS, ok);
        let store = RULES
            .load_with(&[("store.json", meta), ("assets.jsonl", assets.as_str())])
            .expect("a declared context loads");
        let a = store.asset(store.asset_by_id("900").unwrap());
        assert_eq!(a.contexts.len(), 1);
        assert_eq!(a.contexts[0].1.name.as_deref(), Some("y"));
        assert_eq!(a.contexts[0].1.metadata, Some(Some(Default::default())));
        for (asset, needle) in [
            (
                r#""contexts":{"Default":{"name":"y"}}"#,
                "is the default context",
            ),
            (r#""contexts":{"fr":{"title":"y"}}"#, "unknown field"),
            (
                r#""contexts":{"fr":{"version":"1.0.0"}}"#,
                "may not override version",
            ),
            (
                r#""contexts":{"fr":{"name":"a"},"fr":{"name":"b"}}"#,
                "duplicate key",
            ),
            (r#""contexts":{"de":{"name":"y"}}"#, "not declared"),
            (
                r#""contexts":{"fr":{"metadata":null}}"#,
                "metadata must be an object",
            ),
        ] {
            let a = format!(
                r#"{{"id":"900","type":"page","type_name":"Page","name":"x","status":16,{asset}}}"#
            );
            let assets = with_line(ASSETS, &a);
            let err = RULES
                .load_with(&[("store.json", meta), ("assets.jsonl", assets.as_str())])
                .expect_err(asset)
                .to_string();
            let want = format!("fixture/assets.jsonl:{}: ", ASSET_LINES + 1);
            assert!(
                err.contains(&want) && err.contains(needle),
                "{asset}: {err}"
            );
        }
    }

    /// Several problems are reported together, in file order, capped.
    #[test]
    fn many_errors_are_reported_together() {
        let mut bad = ASSETS.to_string();
        for i in 0..80 {
            bad.push_str(&format!("{{\"id\":\"x{i}\",\"type\":\"p\",\"type_name\":\"P\",\"name\":\"n\",\"status\":5}}\n"));
        }
        let Err(LoadError::Invalid { diagnostics, total }) =
            RULES.load_with(&[("assets.jsonl", bad.as_str())])
        else {
            panic!("must fail");
        };
        assert_eq!(total, 80);
        assert_eq!(diagnostics.len(), crate::store::MAX_REPORTED);
        assert!(diagnostics.windows(2).all(|w| w[0].line < w[1].line));
        let text = LoadError::Invalid { diagnostics, total }.to_string();
        assert!(text.contains("… and 30 more"), "{text}");
    }

    #[test]
    fn blank_lines_are_allowed_and_counted() {
        let spaced = format!("\n{}", ASSETS.replacen('\n', "\n\n", 1));
        let a = r#"{"id":"900","type":"page","type_name":"Page","name":"x","status":7}"#;
        expect_error(
            "assets.jsonl",
            &with_line(&spaced, a),
            ASSET_LINES + 3,
            "unknown status 7",
        );
    }
}
