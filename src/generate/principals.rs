//! The fixed principals and tokens every generated store has, and their files.

use super::sink::{push_pid, push_str, pushf, Sink};
use super::text::{FIRST_NAMES, LAST_NAMES};
use super::STREAM_PRINCIPALS;
use crate::rng::{mix, Rng};
use anyhow::Result;

/// Principal ids (all below 100, asset ids other than the root start at 1000).
pub(super) const PUBLIC: u64 = 7;
pub(super) const ROOT_USER: u64 = 12;
pub(super) const SYSTEM_ADMIN: u64 = 13;
pub(super) const STAFF: u64 = 20;
pub(super) const EDITORS: u64 = 21;
pub(super) const SITE_ADMINS: u64 = 23;
pub(super) const TUTORS: u64 = 29;
pub(super) const FIRST_USER: u64 = 40;
pub(super) const USERS: u64 = 50;
pub(super) const EDITOR_USER: u64 = 40;
const STAFF_USER: u64 = 41;
const ADMIN_USER: u64 = 42;

/// Groups: id, name, the groups it belongs to (a DAG, at most three levels).
const GROUPS: [(u64, &str, &[u64]); 10] = [
    (20, "Staff", &[]),
    (21, "Editors", &[20]),
    (22, "Senior Editors", &[21]),
    (23, "Site Administrators", &[20]),
    (24, "Faculty", &[20]),
    (25, "Science Faculty", &[24]),
    (26, "Arts Faculty", &[24]),
    (27, "Students", &[]),
    (28, "Postgraduate Students", &[27]),
    (29, "Tutors", &[24, 27]),
];

/// Who a token acts for.
#[derive(Clone, Copy)]
enum TokenUser {
    Principal(u64),
    None,
}

/// Which root nodes a token has.
#[derive(Clone, Copy)]
enum TokenRoots {
    Unrestricted,
    FirstSite,
}

/// The tokens of every generated store. `gen-public` (public user),
/// `gen-editor` (member of Editors: may write in site 1), `gen-site1` (public
/// user, root node = the first site, or the root folder in a one-asset store),
/// `gen-admin` (system administrator), `gen-staff` (member of Staff: reads the
/// intranet), `gen-disabled` (enabled false), `gen-trashed` (trashed true) and
/// `gen-nouser` (user_id null).
pub const TOKENS: [&str; 8] = [
    "gen-public",
    "gen-editor",
    "gen-site1",
    "gen-admin",
    "gen-staff",
    "gen-disabled",
    "gen-trashed",
    "gen-nouser",
];

/// token, name, enabled, trashed, user, root nodes; in [`TOKENS`] order.
const TOKEN_ROWS: [(&str, &str, bool, bool, TokenUser, TokenRoots); 8] = [
    (
        "gen-public",
        "Public website",
        true,
        false,
        TokenUser::Principal(PUBLIC),
        TokenRoots::Unrestricted,
    ),
    (
        "gen-editor",
        "Editor preview",
        true,
        false,
        TokenUser::Principal(EDITOR_USER),
        TokenRoots::Unrestricted,
    ),
    (
        "gen-site1",
        "Site 1 build",
        true,
        false,
        TokenUser::Principal(PUBLIC),
        TokenRoots::FirstSite,
    ),
    (
        "gen-admin",
        "Administrator",
        true,
        false,
        TokenUser::Principal(SYSTEM_ADMIN),
        TokenRoots::Unrestricted,
    ),
    (
        "gen-staff",
        "Intranet build",
        true,
        false,
        TokenUser::Principal(STAFF_USER),
        TokenRoots::Unrestricted,
    ),
    (
        "gen-disabled",
        "Disabled token",
        false,
        false,
        TokenUser::Principal(PUBLIC),
        TokenRoots::Unrestricted,
    ),
    (
        "gen-trashed",
        "Trashed token",
        true,
        true,
        TokenUser::Principal(PUBLIC),
        TokenRoots::Unrestricted,
    ),
    (
        "gen-nouser",
        "Token without a user",
        true,
        false,
        TokenUser::None,
        TokenRoots::Unrestricted,
    ),
];

pub(super) fn write_principals(sink: &mut Sink, seed: u64) -> Result<()> {
    let mut line = Vec::with_capacity(256);
    let mut put = |sink: &mut Sink, id: u64, kind: &str, name: &str, groups: Option<&[u64]>| {
        line.clear();
        line.extend_from_slice(b"{\"id\":");
        push_pid(&mut line, id);
        pushf(&mut line, format_args!(",\"kind\":\"{kind}\",\"name\":"));
        push_str(&mut line, name);
        if let Some(groups) = groups {
            line.extend_from_slice(b",\"groups\":[");
            for (k, g) in groups.iter().enumerate() {
                if k > 0 {
                    line.push(b',');
                }
                push_pid(&mut line, *g);
            }
            line.push(b']');
        }
        line.extend_from_slice(b"}\n");
        sink.put(&line)
    };
    put(sink, ROOT_USER, "root", "Root User", None)?;
    put(
        sink,
        SYSTEM_ADMIN,
        "system_admin",
        "System Administrator",
        None,
    )?;
    put(sink, PUBLIC, "public", "Public User", None)?;
    for (id, name, groups) in GROUPS {
        put(sink, id, "group", name, Some(groups))?;
    }
    let mut r = Rng::new(mix(seed, STREAM_PRINCIPALS));
    for id in FIRST_USER..FIRST_USER + USERS {
        let (name, groups): (String, Vec<u64>) = match id {
            EDITOR_USER => ("Ed Itor".into(), vec![EDITORS]),
            STAFF_USER => ("Sam Staff".into(), vec![STAFF]),
            ADMIN_USER => ("Ada Admin".into(), vec![SITE_ADMINS]),
            _ => {
                let name = format!("{} {}", r.pick(FIRST_NAMES), r.pick(LAST_NAMES));
                let mut groups = Vec::new();
                for _ in 0..r.below(3) {
                    let g = GROUPS[r.below(GROUPS.len() as u64) as usize].0;
                    if !groups.contains(&g) {
                        groups.push(g);
                    }
                }
                (name, groups)
            }
        };
        put(sink, id, "user", &name, Some(&groups))?;
    }
    Ok(())
}

pub(super) fn write_tokens(sink: &mut Sink, first_site: &str) -> Result<()> {
    let mut line = Vec::with_capacity(256);
    for (token, name, enabled, trashed, user, roots) in TOKEN_ROWS {
        line.clear();
        line.extend_from_slice(b"{\"token\":");
        push_str(&mut line, token);
        line.extend_from_slice(b",\"name\":");
        push_str(&mut line, name);
        pushf(
            &mut line,
            format_args!(",\"enabled\":{enabled},\"trashed\":{trashed},\"user_id\":"),
        );
        match user {
            TokenUser::Principal(id) => push_pid(&mut line, id),
            TokenUser::None => line.extend_from_slice(b"null"),
        }
        line.extend_from_slice(b",\"root_nodes\":[");
        if let TokenRoots::FirstSite = roots {
            push_str(&mut line, first_site);
        }
        line.extend_from_slice(b"]}\n");
        sink.put(&line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_list_matches_token_rows() {
        let names: Vec<&str> = TOKEN_ROWS.iter().map(|row| row.0).collect();
        assert_eq!(names, TOKENS);
    }
}
