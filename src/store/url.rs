//! URL keys: how an asset URL is compared (spec §2 `url` parameter, [D]).
//!
//! A key is `host[:port]/path` with the scheme (`http`, `https` or none) dropped, the host in
//! lower case, default ports (80, 443) dropped, query and fragment removed, and a single trailing
//! `/` removed; the path stays case-sensitive. Store validation (unique URLs), `by_url` lookup and
//! the lineage walk all compare keys made here, so the rule lives in this one place.
//!
//! Revised 2026-12 (the WHATWG URL Standard's host and port parsing): [`clean`] comes first
//! (surrounding spaces and C0 controls stripped, tabs and newlines removed); ports are compared
//! as numbers, an empty port is no port, and a port that is not a number up to 65535 never
//! matches (a store URL with one is an error `check` reports: [`port_problem`]).

use std::borrow::Cow;

/// A URL's scheme, as far as `url` choice cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `http://`
    Http,
    /// `https://`
    Https,
    /// No scheme (`www.site/x` or `//www.site/x`).
    None,
}

/// The WHATWG-style clean-up every URL key starts with (spec §2 `url`, revised 2026-12, after
/// the URL Standard's basic URL parser): leading and trailing C0 controls and spaces stripped,
/// then every tab, line feed and carriage return inside removed.
pub fn clean(url: &str) -> Cow<'_, str> {
    let trimmed = url.trim_matches(|c: char| c <= ' ');
    if trimmed.contains(['\t', '\n', '\r']) {
        Cow::Owned(trimmed.replace(['\t', '\n', '\r'], ""))
    } else {
        Cow::Borrowed(trimmed)
    }
}

/// The scheme of a URL (after [`clean`]); `None` for schemes other than http(s).
pub fn scheme(url: &str) -> Option<Scheme> {
    split_scheme(&clean(url)).map(|(s, _)| s)
}

/// Splits off the scheme of a cleaned URL; `None` for schemes other than http(s).
fn split_scheme(url: &str) -> Option<(Scheme, &str)> {
    // `get`, not slicing: the prefix may end inside a multi-byte character (`http:/é`).
    let lower_starts = |p: &str| {
        url.get(..p.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(p))
    };
    if lower_starts("http://") {
        Some((Scheme::Http, &url[7..]))
    } else if lower_starts("https://") {
        Some((Scheme::Https, &url[8..]))
    } else if let Some(rest) = url.strip_prefix("//") {
        Some((Scheme::None, rest))
    } else {
        // Another scheme ("ftp://", "mailto:x") never matches; a bare "host/path" does.
        let before_slash = url.split('/').next().unwrap_or("");
        if url.contains("://") || (before_slash.contains(':') && !host_port_like(before_slash)) {
            None
        } else {
            Some((Scheme::None, url))
        }
    }
}

/// `host:1234` (a port) rather than `mailto:x` or `http:` (a scheme).
fn host_port_like(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
        }
        None => true,
    }
}

/// Splits `host[:port]` at the port's colon (after a bracketed IPv6 literal's `]`).
fn split_port(host: &str) -> (&str, Option<&str>) {
    let after = host.rfind(']').map_or(0, |i| i + 1);
    match host[after..].rfind(':') {
        Some(i) => (&host[..after + i], Some(&host[after + i + 1..])),
        None => (host, None),
    }
}

/// Normalises a host (with optional port): lower case; the port compared as a number
/// (`:0443` is `:443`), the default ports (80, 443) and an empty port (`host:`) dropped.
/// `None` for a port that is not all digits or above 65535: it never matches (revised 2026-12).
pub fn normalize_host(host: &str) -> Option<String> {
    let (name, port) = split_port(host);
    let mut h = name.to_ascii_lowercase();
    match port {
        None | Some("") => {}
        Some(p) => {
            if !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let digits = p.trim_start_matches('0');
            if digits.len() > 5 {
                return None;
            }
            let n: u32 = if digits.is_empty() {
                0
            } else {
                digits.parse().ok()?
            };
            if n > 65535 {
                return None;
            }
            if n != 80 && n != 443 {
                h.push(':');
                h.push_str(&n.to_string());
            }
        }
    }
    Some(h)
}

/// Why a store URL can never be a key (its port is not a number up to 65535), for `check`;
/// `None` when it is a key or another scheme (which simply never matches).
pub fn port_problem(url: &str) -> Option<String> {
    let url = clean(url);
    let (_, rest) = split_scheme(&url)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (_, port) = split_port(host);
    let port = port?;
    normalize_host(host).is_none().then(|| {
        format!("port {port:?} is not a number from 0 to 65535 (the URL can never be matched): write the port in digits, or leave it out")
    })
}

/// `f` of a URL's host (with its port) and path (without the query, the fragment and one
/// trailing slash), after [`clean`]; `None` for schemes other than http(s).
fn with_host_and_path<R>(url: &str, f: impl FnOnce(&str, &str) -> R) -> Option<R> {
    let url = clean(url);
    let (_, rest) = split_scheme(&url)?;
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (host, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    Some(f(host, path.strip_suffix('/').unwrap_or(path)))
}

/// The key of a URL, or `None` when it can never match (other scheme, empty host, bad port).
pub fn key(url: &str) -> Option<String> {
    with_host_and_path(url, |host, path| {
        if host.is_empty() {
            return None;
        }
        let mut key = normalize_host(host)?;
        if key.is_empty() {
            return None;
        }
        key.push_str(path);
        Some(key)
    })
    .flatten()
}

/// Whether `url`'s [`key`] is `want`, without making the key when the URL is already in its
/// key's form (a lower-case host without a port): what a lineage compares for each URL of
/// each parent of each asset it climbs through.
pub fn has_key(url: &str, want: &str) -> bool {
    with_host_and_path(url, |host, path| {
        let plain = !host.is_empty()
            && !host.contains(':')
            && !host.bytes().any(|b| b.is_ascii_uppercase());
        if plain {
            want.len() == host.len() + path.len() && want.starts_with(host) && want.ends_with(path)
        } else {
            key(url).as_deref() == Some(want)
        }
    })
    .unwrap_or(false)
}

/// The host part (`host[:port]`) of a key.
pub fn key_host(key: &str) -> &str {
    key.split('/').next().unwrap_or(key)
}

/// The key with its last path segment removed (`host/a/b` → `host/a`), `None` at the host.
pub fn parent_key(key: &str) -> Option<&str> {
    key.rfind('/').map(|i| &key[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `has_key` answers as comparing `key` does, for URLs in their key's form and others
    /// (case, ports, a trailing slash, a query, tabs, other schemes, no host).
    #[test]
    fn has_key_is_comparing_keys() {
        let urls = [
            "https://a.test/x/y",
            "http://a.test/x/y/",
            "https://A.Test/x/y",
            "https://a.test:443/x/y",
            "https://a.test:8080/x/y",
            "https://a.test:99999/x",
            "https://a.test/x/y?q=1#f",
            "https://a.test",
            "https://a.test/",
            " https://a.t\test/x/y ",
            "mailto:a@a.test",
            "https:///x",
            "//a.test/x/y",
            "https://[::1]:8080/x",
            "https://a.test/x/Y",
        ];
        let wants = [
            "a.test/x/y",
            "a.test",
            "a.test:8080/x/y",
            "a.test/x",
            "[::1]:8080/x",
            "a.test/x/Y",
            "a.test/x/y/",
            "",
        ];
        for u in urls {
            for w in wants {
                assert_eq!(has_key(u, w), key(u).as_deref() == Some(w), "{u:?} {w:?}");
            }
        }
    }

    /// A multi-byte character where the scheme would end is no scheme, never a panic.
    #[test]
    fn multi_byte_characters_after_a_short_prefix() {
        for u in [
            "http:/é",
            "https:/é",
            "http:/\u{1F600}",
            "é",
            "h\u{e9}ttp://x",
        ] {
            let _ = scheme(u);
            let _ = key(u);
        }
        assert_eq!(key("http:/é"), None, "a scheme that is not http(s)://");
    }

    /// Spec §2 `url`: scheme, one trailing slash, host case and default ports are ignored.
    #[test]
    fn url_key_ignores_scheme_slash_host_case_default_ports() {
        let k = key("https://www.Uni.TEST/News/").unwrap();
        assert_eq!(k, "www.uni.test/News");
        assert_eq!(key("http://www.uni.test:80/News").unwrap(), k);
        assert_eq!(key("www.uni.test:443/News?x=1#y").unwrap(), k);
        assert_eq!(key("//www.uni.test/News").unwrap(), k);
        assert_ne!(
            key("https://www.uni.test/news").unwrap(),
            k,
            "path is case-sensitive"
        );
        assert_ne!(
            key("https://www.uni.test:8443/News").unwrap(),
            k,
            "other ports must match"
        );
        assert_eq!(key("https://www.uni.test/").unwrap(), "www.uni.test");
        assert_eq!(
            key("https://www.uni.test/a//").unwrap(),
            "www.uni.test/a/",
            "one slash only"
        );
    }

    #[test]
    fn other_schemes_never_match() {
        assert_eq!(key("ftp://www.uni.test/x"), None);
        assert_eq!(key("mailto:someone@uni.test"), None);
        assert_eq!(key("https:///x"), None);
        assert_eq!(key(""), None);
        assert_eq!(key("www.uni.test:8080/x").unwrap(), "www.uni.test:8080/x");
    }

    #[test]
    fn parent_key_strips_one_segment() {
        assert_eq!(parent_key("h/a/b"), Some("h/a"));
        assert_eq!(parent_key("h/a"), Some("h"));
        assert_eq!(parent_key("h"), None);
    }

    /// Spec §2 (revised 2026-12): surrounding spaces and C0 controls stripped, tabs and newlines
    /// removed, before anything else.
    #[test]
    fn whatwg_clean_up() {
        let k = key("https://www.uni.test/News").unwrap();
        assert_eq!(key("  https://www.uni.test/News \u{1}").unwrap(), k);
        assert_eq!(key("\u{0}\thttps://www.uni.test/News\r\n").unwrap(), k);
        assert_eq!(key("ht\ttps://www.uni\n.test/Ne\rws").unwrap(), k);
        assert_eq!(
            key("https://www.uni.test/a b").unwrap(),
            "www.uni.test/a b",
            "inner spaces stay"
        );
        assert_eq!(key(" \t\n"), None);
        assert_eq!(scheme(" HTTP://x"), Some(Scheme::Http));
    }

    /// Spec §2 (revised 2026-12): ports compare as numbers, an empty port is none, a bad port
    /// never matches.
    #[test]
    fn ports_compare_as_numbers() {
        let k = key("https://www.uni.test/News").unwrap();
        assert_eq!(key("https://www.uni.test:0443/News").unwrap(), k);
        assert_eq!(key("http://www.uni.test:00080/News").unwrap(), k);
        assert_eq!(key("https://www.uni.test:/News").unwrap(), k);
        assert_eq!(key("//www.uni.test:/News").unwrap(), k);
        assert_eq!(
            key("www.uni.test:/News"),
            None,
            "`www.uni.test:` is a scheme here"
        );
        assert_eq!(
            key("https://www.uni.test:08080/x").unwrap(),
            "www.uni.test:8080/x"
        );
        assert_eq!(key("https://www.uni.test:0/x").unwrap(), "www.uni.test:0/x");
        assert_eq!(
            key("https://www.uni.test:65535/x").unwrap(),
            "www.uni.test:65535/x"
        );
        for bad in [
            "https://www.uni.test:65536/x",
            "https://www.uni.test:99999999999999999999/x",
            "https://www.uni.test:8o/x",
            "https://www.uni.test:-1/x",
            "https://www.uni.test: 80/x",
            "https://:80/x",
        ] {
            assert_eq!(key(bad), None, "{bad}");
        }
        assert_eq!(key("https://[::1]:0443/x").unwrap(), "[::1]/x");
        assert_eq!(key("https://[::1]/x").unwrap(), "[::1]/x");
        assert_eq!(
            normalize_host("WWW.uni.test:0443").as_deref(),
            Some("www.uni.test")
        );
        assert_eq!(normalize_host("x:8o"), None);
    }

    #[test]
    fn port_problems_are_reported() {
        assert!(port_problem("https://www.uni.test:65536/x")
            .unwrap()
            .contains("\"65536\""));
        assert!(port_problem("http://x:8o").is_some());
        assert_eq!(port_problem("https://www.uni.test:0443/x"), None);
        assert_eq!(port_problem("https://www.uni.test:/x"), None);
        assert_eq!(
            port_problem("ftp://x:y/"),
            None,
            "another scheme never matches anyway"
        );
    }
}
