//! Orders the API uses (spec §2 sorting, [D]): id order, text order, and the child sort keys.
//!
//! Id order is total: values made only of ASCII digits come first, compared as numbers (then by
//! length, for leading zeros); all other values after them, by code point. Text compares by its
//! Unicode lower case, then by code point. `null` and empty values come first.

use super::request::SortKey;
use crate::store::Asset;
use std::cmp::Ordering;

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Id order (asset ids, user ids, link ids).
pub fn cmp_id(a: &str, b: &str) -> Ordering {
    match (is_digits(a), is_digits(b)) {
        (true, true) => {
            let (ta, tb) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
            ta.len()
                .cmp(&tb.len())
                .then_with(|| ta.cmp(tb))
                .then_with(|| a.len().cmp(&b.len()))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

/// Id order for optional ids: `None` and `""` first.
pub fn cmp_opt_id(a: Option<&str>, b: Option<&str>) -> Ordering {
    let a = a.filter(|s| !s.is_empty());
    let b = b.filter(|s| !s.is_empty());
    match (a, b) {
        (Some(a), Some(b)) => cmp_id(a, b),
        (a, b) => a.is_some().cmp(&b.is_some()),
    }
}

/// A precomputed sort key of one child for one `sort_by` (so a sort lowercases each name once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key<'a> {
    /// Text: (lower case, original).
    Text(String, &'a str),
    /// An id (empty and null first).
    Id(Option<&'a str>),
    /// A number.
    Num(u16),
    /// An instant (null first).
    Date(Option<i128>),
}

impl Ord for Key<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Key::Text(la, a), Key::Text(lb, b)) => la.cmp(lb).then_with(|| a.cmp(b)),
            (Key::Id(a), Key::Id(b)) => cmp_opt_id(*a, *b),
            (Key::Num(a), Key::Num(b)) => a.cmp(b),
            (Key::Date(a), Key::Date(b)) => a.cmp(b),
            // One sort uses one variant; keep the order total anyway.
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Key<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<'a> Key<'a> {
    fn rank(&self) -> u8 {
        match self {
            Key::Text(..) => 0,
            Key::Id(_) => 1,
            Key::Num(_) => 2,
            Key::Date(_) => 3,
        }
    }

    /// The key of `asset` for `sort_by`; `name`/`short_name`/`version` are the shown values.
    pub fn of(sort_by: SortKey, asset: &'a Asset, shown: &Shown<'a>) -> Key<'a> {
        let text = |s: &'a str| Key::Text(s.to_lowercase(), s);
        match sort_by {
            SortKey::Id => Key::Id(Some(&asset.id)),
            SortKey::Type => text(&asset.type_code),
            SortKey::Version => text(shown.version),
            SortKey::Name => text(shown.name),
            SortKey::ShortName => text(shown.short_name),
            SortKey::Status => Key::Num(asset.status.0),
            SortKey::CreatedDate => Key::Date(asset.created.instant),
            SortKey::CreatedUser => Key::Id(asset.created.user_id.as_deref()),
            SortKey::UpdatedDate => Key::Date(asset.updated.instant),
            SortKey::UpdatedUser => Key::Id(asset.updated.user_id.as_deref()),
            SortKey::PublishedDate => Key::Date(asset.published.instant),
            SortKey::PublishedUser => Key::Id(asset.published.user_id.as_deref()),
            SortKey::StatusChangedDate => Key::Date(asset.status_changed.instant),
            SortKey::StatusChangedUser => Key::Id(asset.status_changed.user_id.as_deref()),
        }
    }
}

/// The name fields a reader is shown (the `live` version for readers without write).
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a> {
    /// `name`
    pub name: &'a str,
    /// `short_name`
    pub short_name: &'a str,
    /// `version`
    pub version: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Spec §2 [D] id order: digits first numerically (then shorter), the rest by code point.
    #[test]
    fn id_order_digits_first_then_code_point() {
        let mut ids = vec!["12:3", "100", "99", "099", "a", "B", "9", "1:x/y"];
        ids.sort_by(|a, b| cmp_id(a, b));
        assert_eq!(ids, ["9", "99", "099", "100", "12:3", "1:x/y", "B", "a"]);
    }

    #[test]
    fn null_and_empty_ids_first() {
        assert_eq!(cmp_opt_id(None, Some("1")), Ordering::Less);
        assert_eq!(cmp_opt_id(Some(""), None), Ordering::Equal);
        assert_eq!(cmp_opt_id(Some(""), Some("0")), Ordering::Less);
    }

    #[test]
    fn text_is_case_insensitive_then_code_point() {
        let k = |s: &'static str| Key::Text(s.to_lowercase(), s);
        assert!(k("apple") < k("Banana"));
        assert!(k("Apple") < k("apple"), "ties broken by code point");
        assert!(k("") < k("a"));
        assert!(k("Ōtautahi") > k("otautahi"));
    }

    fn id_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9]{1,4}",
            "0[0-9]{0,3}",
            "[0-9]{1,3}:[a-z/]{0,3}",
            "[A-Za-z]{1,3}",
        ]
    }

    proptest! {
        /// Id order is a total order (antisymmetric, transitive, consistent with equality).
        #[test]
        fn id_order_is_total(a in id_strategy(), b in id_strategy(), c in id_strategy()) {
            prop_assert_eq!(cmp_id(&a, &b), cmp_id(&b, &a).reverse());
            prop_assert_eq!(cmp_id(&a, &b) == Ordering::Equal, a == b);
            if cmp_id(&a, &b) != Ordering::Greater && cmp_id(&b, &c) != Ordering::Greater {
                prop_assert_ne!(cmp_id(&a, &c), Ordering::Greater);
            }
        }
    }
}
