//! URL keys: how an asset URL is compared (spec §2 `url` parameter, [D]).
//!
//! A key is `host[:port]/path` with the scheme (`http`, `https` or none) dropped, the host in
//! lower case, default ports (80, 443) dropped, query and fragment removed, and a single trailing
//! `/` removed; the path stays case-sensitive. Store validation (unique URLs), `by_url` lookup and
//! the lineage walk all compare keys made here, so the rule lives in this one place.

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

/// Splits off the scheme; `None` for schemes other than http(s).
pub fn split_scheme(url: &str) -> Option<(Scheme, &str)> {
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

/// `host:1234` (a port) rather than `mailto:x` (a scheme).
fn host_port_like(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
        }
        None => true,
    }
}

/// Normalises a host (with optional port): lower case, default port dropped.
pub fn normalize_host(host: &str) -> String {
    let mut h = host.to_ascii_lowercase();
    for default in [":80", ":443"] {
        if h.ends_with(default) {
            h.truncate(h.len() - default.len());
            break;
        }
    }
    h
}

/// The key of a URL, or `None` when it can never match (other scheme, empty host).
pub fn key(url: &str) -> Option<String> {
    let (_, rest) = split_scheme(url)?;
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (host, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if host.is_empty() {
        return None;
    }
    let mut key = normalize_host(host);
    key.push_str(path.strip_suffix('/').unwrap_or(path));
    Some(key)
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
            let _ = split_scheme(u);
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
}
