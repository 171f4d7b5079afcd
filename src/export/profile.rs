//! Export profiles (`docs/profiles.md`): which variants of each route a snapshot contains —
//! `data` subsets × sorts × orders × limits × `asset_types` filters, and the Content API 1.2.0
//! dimensions: `include_dependents`, `base_url` and `context`.

use crate::api::request::BaseUrl;
use crate::api::{Data, SortKey, SortOrder};
use crate::snapshot::path;
use crate::snapshot::routes::{self, RouteSpec};
use serde::Deserialize;
use std::path::Path;

/// What an export writes for every readable asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// `full`, `standard`, `minimal` or the file's path.
    pub name: String,
    /// `data` subsets of asset and lineage routes.
    pub data: Vec<Data>,
    /// `data` subsets of children pages.
    pub children_data: Vec<Data>,
    /// Sorts of children pages (`None` = tree order).
    pub sort_by: Vec<Option<SortKey>>,
    /// Orders of children pages.
    pub sort_order: Vec<SortOrder>,
    /// Page sizes (`0` = all children in one page).
    pub limits: Vec<u64>,
    /// `asset_types` filters (`None` = unfiltered).
    pub asset_types: Vec<Option<Vec<String>>>,
    /// Attribute names removed from every body (secrets such as API keys): a documented
    /// deviation from the live API, empty by default. Sorted, distinct.
    pub exclude_attributes: Vec<String>,
    /// Whether asset routes are also written with `include_dependents=true` (1.2.0). Plain
    /// requests (without it) are always written.
    pub include_dependents: bool,
    /// `base_url` values written besides "no `base_url`" (1.2.0), normalised as the API compares
    /// them ([`BaseUrl::canonical`]), distinct, in profile order.
    pub base_urls: Vec<String>,
    /// Contexts written besides the default one (1.2.0).
    pub contexts: Contexts,
}

/// The `contexts` dimension of a profile: names are checked against the store when an export
/// starts ([`Profile::context_indices`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Contexts {
    /// The default context only (the default).
    #[default]
    Default,
    /// Every context the store declares (`contexts = "all"`).
    All,
    /// These names (the default one among them), in profile order.
    Named(Vec<String>),
}

/// A profile file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Unreadable file.
    #[error("cannot read profile {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Invalid TOML or values.
    #[error("profile {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong (with the TOML line and column when known).
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    data: Option<toml::Value>,
    children_data: Option<toml::Value>,
    sort_by: Option<toml::Value>,
    sort_order: Option<Vec<String>>,
    limits: Option<Vec<i64>>,
    asset_types: Option<Vec<Vec<String>>>,
    exclude_attributes: Option<Vec<String>>,
    include_dependents: Option<Vec<bool>>,
    base_urls: Option<Vec<String>>,
    contexts: Option<toml::Value>,
}

fn all_sorts() -> Vec<Option<SortKey>> {
    std::iter::once(None)
        .chain(SortKey::ALL.iter().map(|(k, _)| Some(*k)))
        .collect()
}

impl Profile {
    /// `full`: every data subset everywhere, every sort, both orders, limits 100 and 0.
    pub fn full() -> Profile {
        Profile {
            name: "full".into(),
            data: Data::all_subsets().collect(),
            children_data: Data::all_subsets().collect(),
            sort_by: all_sorts(),
            sort_order: vec![SortOrder::Asc, SortOrder::Desc],
            limits: vec![100, 0],
            asset_types: vec![None],
            exclude_attributes: Vec::new(),
            include_dependents: false,
            base_urls: Vec::new(),
            contexts: Contexts::Default,
        }
    }

    /// `standard` (the default): every data subset for assets and lineage; children pages
    /// without data and with all data, every sort, both orders, limit 100.
    pub fn standard() -> Profile {
        Profile {
            name: "standard".into(),
            children_data: vec![Data::NONE, Data::ALL],
            limits: vec![100],
            ..Profile::full()
        }
    }

    /// `minimal`: no data and all data, tree order ascending, limit 100.
    pub fn minimal() -> Profile {
        Profile {
            name: "minimal".into(),
            data: vec![Data::NONE, Data::ALL],
            children_data: vec![Data::NONE, Data::ALL],
            sort_by: vec![None],
            sort_order: vec![SortOrder::Asc],
            limits: vec![100],
            asset_types: vec![None],
            exclude_attributes: Vec::new(),
            include_dependents: false,
            base_urls: Vec::new(),
            contexts: Contexts::Default,
        }
    }

    /// A built-in name or a TOML file.
    pub fn named_or_file(spec: &str) -> Result<Profile, ProfileError> {
        match spec {
            "full" => Ok(Profile::full()),
            "standard" => Ok(Profile::standard()),
            "minimal" => Ok(Profile::minimal()),
            path => {
                let text = std::fs::read_to_string(Path::new(path)).map_err(|source| {
                    ProfileError::Io {
                        path: path.into(),
                        source,
                    }
                })?;
                Profile::from_toml(&text, path)
            }
        }
    }

    /// Parses a profile; keys left out take the `standard` value.
    pub fn from_toml(text: &str, path: &str) -> Result<Profile, ProfileError> {
        let bad = |message: String| ProfileError::Invalid {
            path: path.into(),
            message,
        };
        let raw: RawProfile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let base = Profile::standard();
        let data_list = |key: &str,
                         v: Option<toml::Value>,
                         default: Vec<Data>|
         -> Result<Vec<Data>, ProfileError> {
            match v {
                None => Ok(default),
                Some(toml::Value::String(s)) if s == "all" => Ok(Data::all_subsets().collect()),
                Some(toml::Value::Array(lists)) => {
                    let mut out = Vec::new();
                    for list in lists {
                        let items = list.as_array().ok_or_else(|| bad(format!("{key}: each entry is a list of data items, e.g. [\"urls\", \"contents\"]")))?;
                        let mut d = Data::NONE;
                        for item in items {
                            let name = item.as_str().unwrap_or_default();
                            let (flag, _) = Data::ITEMS.iter().find(|(_, n)| *n == name).ok_or_else(|| {
                                bad(format!("{key}: unknown data item {item} (expected urls, attributes, metadata or contents)"))
                            })?;
                            d = d.with(*flag);
                        }
                        if !out.contains(&d) {
                            out.push(d);
                        }
                    }
                    Ok(out)
                }
                Some(other) => Err(bad(format!(
                    "{key} must be \"all\" or a list of lists, not {other}"
                ))),
            }
        };
        let data = data_list("data", raw.data, base.data.clone())?;
        let children_data = data_list(
            "children_data",
            raw.children_data,
            base.children_data.clone(),
        )?;
        let sort_by = match raw.sort_by {
            None => base.sort_by.clone(),
            Some(toml::Value::String(s)) if s == "all" => all_sorts(),
            Some(toml::Value::String(s)) if s == "tree" => vec![None],
            Some(toml::Value::Array(items)) => {
                let mut out = Vec::new();
                for item in items {
                    let name = item.as_str().unwrap_or_default();
                    let key = if name == "tree" {
                        None
                    } else {
                        Some(SortKey::parse(name).ok_or_else(|| bad(format!("sort_by: unknown key {item} (\"tree\" or one of the API's sort_by values)")))?)
                    };
                    if !out.contains(&key) {
                        out.push(key);
                    }
                }
                out
            }
            Some(other) => {
                return Err(bad(format!(
                    "sort_by must be \"all\", \"tree\" or a list, not {other}"
                )))
            }
        };
        let sort_order = match raw.sort_order {
            None => base.sort_order.clone(),
            Some(list) => {
                let mut out = Vec::new();
                for o in list {
                    let o = match o.as_str() {
                        "asc" => SortOrder::Asc,
                        "desc" => SortOrder::Desc,
                        _ => {
                            return Err(bad(format!(
                                "sort_order: {o:?} is neither \"asc\" nor \"desc\""
                            )))
                        }
                    };
                    if !out.contains(&o) {
                        out.push(o);
                    }
                }
                out
            }
        };
        let limits = match raw.limits {
            None => base.limits.clone(),
            Some(list) => {
                let mut out = Vec::new();
                for l in list {
                    let l =
                        u64::try_from(l).map_err(|_| bad(format!("limits: {l} is negative")))?;
                    if !out.contains(&l) {
                        out.push(l);
                    }
                }
                out
            }
        };
        let asset_types = match raw.asset_types {
            None => base.asset_types.clone(),
            Some(lists) => {
                let mut out = Vec::new();
                for mut l in lists {
                    l.retain(|t| !t.is_empty());
                    l.sort();
                    l.dedup();
                    let filter = (!l.is_empty()).then_some(l);
                    if !out.contains(&filter) {
                        out.push(filter);
                    }
                }
                out
            }
        };
        let mut exclude_attributes = raw.exclude_attributes.unwrap_or_default();
        if exclude_attributes.iter().any(|a| a.is_empty()) {
            return Err(bad(
                "exclude_attributes: an attribute name cannot be empty".into()
            ));
        }
        exclude_attributes.sort();
        exclude_attributes.dedup();
        let include_dependents = match raw.include_dependents.as_deref() {
            None => false,
            Some(list) if !list.contains(&false) => {
                return Err(bad("include_dependents must list false: plain requests (without the parameter) ask for it, e.g. [false, true]".into()))
            }
            Some(list) => list.contains(&true),
        };
        let mut base_urls: Vec<String> = Vec::new();
        for u in raw.base_urls.unwrap_or_default() {
            let b = BaseUrl::parse(&u).ok_or_else(|| {
                bad(format!("base_urls: {u:?} is not an absolute http:// or https:// URL with a host (the API ignores such a base_url, so there is nothing to export for it)"))
            })?;
            let canonical = b.canonical();
            if !base_urls.contains(&canonical) {
                base_urls.push(canonical);
            }
        }
        let contexts = match raw.contexts {
            None => Contexts::Default,
            Some(toml::Value::String(s)) if s == "all" => Contexts::All,
            Some(toml::Value::Array(items)) => {
                let mut names: Vec<String> = Vec::new();
                for item in items {
                    let name = item.as_str().filter(|n| !n.is_empty()).ok_or_else(|| {
                        bad(format!(
                            "contexts: {item} is not a context name (a non-empty string)"
                        ))
                    })?;
                    if !names.iter().any(|n| n == name) {
                        names.push(name.to_string());
                    }
                }
                Contexts::Named(names)
            }
            Some(other) => {
                return Err(bad(format!(
                    "contexts must be \"all\" or a list of context names, not {other}"
                )))
            }
        };
        let profile = Profile {
            name: path.into(),
            data,
            children_data,
            sort_by,
            sort_order,
            limits,
            asset_types,
            exclude_attributes,
            include_dependents,
            base_urls,
            contexts,
        };
        for (key, empty) in [
            ("data", profile.data.is_empty()),
            ("children_data", profile.children_data.is_empty()),
            ("sort_by", profile.sort_by.is_empty()),
            ("sort_order", profile.sort_order.is_empty()),
            ("limits", profile.limits.is_empty()),
            ("asset_types", profile.asset_types.is_empty()),
        ] {
            if empty {
                return Err(bad(format!("{key} is empty: list at least one value")));
            }
        }
        Ok(profile)
    }

    /// Children variants per asset (before pages): data × sorts × orders × limits × filters.
    pub fn children_variants(&self) -> usize {
        self.children_data.len()
            * self.sort_by.len()
            * self.sort_order.len()
            * self.limits.len()
            * self.asset_types.len()
    }

    /// The store's indices (into `store.json` `contexts`, 0 = the default) of the contexts this
    /// profile writes, in store order, the default first. A name the store does not declare, or a
    /// list without the default context, cannot be exported.
    pub fn context_indices(&self, declared: &[String]) -> Result<Vec<usize>, ProfileError> {
        let bad = |message: String| ProfileError::Invalid {
            path: self.name.clone(),
            message,
        };
        match &self.contexts {
            Contexts::Default => Ok(vec![0]),
            Contexts::All => Ok((0..declared.len()).collect()),
            Contexts::Named(names) => {
                let mut out = Vec::new();
                for name in names {
                    let i = declared.iter().position(|d| d == name).ok_or_else(|| {
                        bad(format!(
                            "contexts: {name:?} is not declared in the store's store.json (it declares {})",
                            quoted_list(declared)
                        ))
                    })?;
                    out.push(i);
                }
                if !out.contains(&0) {
                    return Err(bad(format!(
                        "contexts must list the default context {:?}: plain requests (without the parameter) ask for it",
                        declared[0]
                    )));
                }
                out.sort();
                out.dedup();
                Ok(out)
            }
        }
    }

    /// Variants of every route for the 1.2.0 dimensions, given how many contexts are written:
    /// (asset routes, lineage and children routes).
    pub fn api12_variants(&self, contexts: usize) -> (usize, usize) {
        let shared = (1 + self.base_urls.len()) * contexts;
        (shared * (1 + self.include_dependents as usize), shared)
    }

    /// A one-line description.
    pub fn describe(&self) -> String {
        format!(
            "{}: {} data subsets for assets and lineage; children: {} data × {} sorts × {} orders × {} limits × {} type filters",
            self.name,
            self.data.len(),
            self.children_data.len(),
            self.sort_by.len(),
            self.sort_order.len(),
            self.limits.len(),
            self.asset_types.len()
        ) + &self.describe_api12()
    }

    fn describe_api12(&self) -> String {
        let mut parts = Vec::new();
        if self.include_dependents {
            parts.push("include_dependents false and true".to_string());
        }
        if !self.base_urls.is_empty() {
            parts.push(format!(
                "{} base_url values besides none",
                self.base_urls.len()
            ));
        }
        match &self.contexts {
            Contexts::Default => {}
            Contexts::All => parts.push("every declared context".into()),
            Contexts::Named(n) => parts.push(format!("contexts {}", quoted_list(n))),
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("; 1.2.0: {}", parts.join(", "))
        }
    }
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Profile {
    /// The routing table of an export of this profile (`_routers/routes.json`): `contexts`
    /// declared by the store, the positions of those exported, the token routers check (`None`:
    /// public) and the router options.
    pub fn route_spec(
        &self,
        contexts: &[String],
        context_variants: &[usize],
        token: Option<&str>,
        cors: Option<String>,
        cache_control: Option<String>,
    ) -> RouteSpec {
        let codes = |v: &[Data]| v.iter().map(|d| path::data_code(*d)).collect::<Vec<_>>();
        let data = codes(&self.data);
        RouteSpec {
            format: routes::FORMAT.to_string(),
            auth: if token.is_some() {
                routes::Auth::Token
            } else {
                routes::Auth::Public
            },
            token_sha256: token.map(routes::token_hash),
            cors,
            cache_control: cache_control
                .unwrap_or_else(|| routes::DEFAULT_CACHE_CONTROL.to_string()),
            anchor: format!("~asset.{}.json", data[0]),
            exclude_attributes: self.exclude_attributes.clone(),
            include_dependents: self.include_dependents,
            base_urls: self.base_urls.clone(),
            contexts: contexts.to_vec(),
            context_variants: context_variants.to_vec(),
            forbidden_url_digits: None,
            data,
            children_data: codes(&self.children_data),
            sort_by: self
                .sort_by
                .iter()
                .map(|k| routes::SortEntry {
                    sort_by: k.map(|k| k.as_str().to_string()),
                    code: path::sort_code(*k),
                })
                .collect(),
            sort_order: self
                .sort_order
                .iter()
                .map(|o| o.as_str().to_string())
                .collect(),
            limits: self.limits.clone(),
            asset_types: self
                .asset_types
                .iter()
                .map(|t| routes::TypesEntry {
                    types: t.clone().unwrap_or_default(),
                    code: path::types_code(t.as_deref()),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indoc::indoc;

    #[test]
    fn full_is_the_documented_example() {
        let text = indoc! {r#"
            data = "all"
            children_data = "all"
            sort_by = "all"
            sort_order = ["asc", "desc"]
            limits = [100, 0]
            asset_types = [[]]
        "#};
        let p = Profile::from_toml(text, "full").unwrap();
        assert_eq!(p, Profile::full());
        assert_eq!(p.children_variants(), 16 * 15 * 2 * 2);
    }

    #[test]
    fn built_ins() {
        assert_eq!(Profile::standard().children_variants(), 2 * 15 * 2);
        assert_eq!(Profile::minimal().children_variants(), 2);
        assert_eq!(
            Profile::named_or_file("minimal").unwrap(),
            Profile::minimal()
        );
    }

    #[test]
    fn lists_are_sets() {
        let p = Profile::from_toml(
            indoc! {r#"
                data = [[], ["contents", "urls"], ["urls", "contents", "urls"]]
                sort_by = ["tree", "name", "status_changed.user_id", "status_changed.userid"]
                asset_types = [["page", "news", "page"], ["news", "page"], [""]]
            "#},
            "p.toml",
        )
        .unwrap();
        assert_eq!(p.data, vec![Data::NONE, Data::URLS.with(Data::CONTENTS)]);
        assert_eq!(
            p.sort_by,
            vec![None, Some(SortKey::Name), Some(SortKey::StatusChangedUser)]
        );
        assert_eq!(
            p.asset_types,
            vec![Some(vec!["news".into(), "page".into()]), None]
        );
        assert_eq!(
            p.limits,
            Profile::standard().limits,
            "absent keys take the standard value"
        );
    }

    #[test]
    fn excluded_attributes_are_a_sorted_set() {
        let p = Profile::from_toml(r#"exclude_attributes = ["z", "api_key", "z"]"#, "p").unwrap();
        assert_eq!(p.exclude_attributes, ["api_key", "z"]);
        assert!(Profile::standard().exclude_attributes.is_empty());
    }

    #[test]
    fn errors_name_the_problem() {
        for (text, needle) in [
            ("data = [[\"thumbnail\"]]", "unknown data item"),
            ("sort_by = [\"status\"]", "unknown key"),
            ("sort_order = [\"ASC\"]", "neither"),
            ("limits = [-1]", "negative"),
            ("limits = []", "limits is empty"),
            ("lmits = [1]", "unknown field"),
            ("data = 3", "must be"),
            ("exclude_attributes = [\"\"]", "cannot be empty"),
            ("exclude_attributes = \"api_key\"", "invalid type"),
        ] {
            let e = Profile::from_toml(text, "p.toml").unwrap_err().to_string();
            assert!(
                e.contains(needle) && e.starts_with("profile p.toml: "),
                "{text}: {e}"
            );
        }
    }
}
