//! SURT keys (Sort-friendly URI Reordering Transform) as the web-archive tools compute them.
//!
//! The CDXJ index of a WACZ is sorted by SURT key, and replay tools (pywb, ReplayWeb.page) look a
//! URL up by computing its key and searching the index, so the key must be the one they compute:
//! the default canonicalisation of the Python `surt` package (0.3.x, used by pywb and
//! cdxj-indexer), its Google canonicaliser then its IA canonicaliser, without scheme. For
//! `https://www.uni.test/__api/assets/1?data=urls&context=M%C4%81ori` that is
//! `test,uni)/__api/assets/1?context=m%c4%81ori&data=urls`: host reversed without `www.`, path and
//! query unescaped then minimally re-escaped, lower-cased, query arguments sorted, session ids,
//! default ports and fragments removed.
//!
//! Not ported: IDNA for non-ASCII host names (they are percent-escaped instead) and the DNS
//! look-up `surt` makes for partial dotted-decimal hosts such as `10.1`. The archive tests compare
//! every key of the demo snapshots with the Python package's.

use regex::bytes::Regex;
use std::sync::LazyLock;

/// The SURT key of an absolute URL.
pub fn surt(url: &str) -> String {
    let mut url: Vec<u8> = url
        .as_bytes()
        .trim_ascii()
        .iter()
        .copied()
        .filter(|b| !matches!(b, b'\n' | b'\r' | b'\t'))
        .collect();
    if !has_scheme(&url) {
        url.splice(0..0, b"http://".iter().copied());
    }
    // `http://https://x` is `https://x`.
    while let Some(n) = http_prefix(&url) {
        if http_prefix(&url[n..]).is_none() {
            break;
        }
        url.drain(..n);
    }
    let Parts {
        scheme,
        mut host,
        port,
        path,
        query,
    } = split(&url);

    // Google canonicaliser.
    let query = query
        .filter(|q| !q.is_empty())
        .map(|q| escape_once(&unescape_repeatedly(&q)));
    if let Some(h) = host.take() {
        let mut h = unescape_repeatedly(&h);
        h = replace_double_dots(&h);
        let h = trim_dots(&h).to_vec();
        host = Some(match dotted_ip(&h) {
            Some(ip) => ip,
            None => escape_once(&h.to_ascii_lowercase()),
        });
    }
    let mut path = unescape_repeatedly(path.unwrap_or_default().as_slice());
    if host.is_some() {
        path = normalize_path(&path);
    }
    let mut path = escape_once(&path);

    // IA canonicaliser.
    let host = host.map(|h| {
        let h = h.to_ascii_lowercase();
        strip_www(&h).to_vec()
    });
    let default_port = match scheme.to_ascii_lowercase().as_slice() {
        b"http" => Some(80),
        b"https" => Some(443),
        _ => Some(0),
    };
    let port = port.filter(|p| Some(*p) != default_port);
    path.make_ascii_lowercase();
    let mut path = strip_path_session_id(&path);
    if path.len() > 1 && path.ends_with(b"/") {
        path.pop();
    }
    let query = query.and_then(|q| {
        let mut q = strip_query_session_id(&q);
        q.make_ascii_lowercase();
        let q = alpha_reorder(&q);
        (!q.is_empty()).then_some(q)
    });

    // The key, without scheme.
    let mut s = Vec::with_capacity(url.len());
    match &host {
        Some(h) if !h.is_empty() => {
            let mut labels: Vec<&[u8]> = h.split(|&b| b == b'.').collect();
            labels.reverse();
            s.extend_from_slice(&labels.join(&b","[..]));
            if let Some(p) = port {
                s.extend_from_slice(format!(":{p}").as_bytes());
            }
            s.push(b')');
        }
        _ => {
            s.extend_from_slice(&scheme);
            s.push(b':');
        }
    }
    if !path.is_empty() {
        s.extend_from_slice(&path);
    } else if query.is_some() {
        s.push(b'/');
    }
    if let Some(q) = query {
        s.push(b'?');
        s.extend_from_slice(&q);
    }
    // Every byte outside ASCII was escaped above.
    String::from_utf8(s).expect("escaped to ASCII")
}

fn has_scheme(url: &[u8]) -> bool {
    let Some(colon) = url.iter().position(|&b| b == b':') else {
        return false;
    };
    let s = &url[..colon];
    !s.is_empty()
        && s[0].is_ascii_alphabetic()
        && s.iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

fn http_prefix(url: &[u8]) -> Option<usize> {
    if url.starts_with(b"http://") {
        Some(7)
    } else if url.starts_with(b"https://") {
        Some(8)
    } else {
        None
    }
}

struct Parts {
    scheme: Vec<u8>,
    host: Option<Vec<u8>>,
    port: Option<u32>,
    path: Option<Vec<u8>>,
    query: Option<Vec<u8>>,
}

/// RFC 2396 appendix B, as `surt`'s `handyurl.parse` applies it (a fragment is dropped).
fn split(url: &[u8]) -> Parts {
    let colon = url.iter().position(|&b| b == b':').unwrap_or(0);
    let scheme = url[..colon].to_vec();
    let mut rest = &url[colon + 1..];
    if let Some(hash) = rest.iter().position(|&b| b == b'#') {
        rest = &rest[..hash];
    }
    let (rest, query) = match rest.iter().position(|&b| b == b'?') {
        Some(q) => (&rest[..q], Some(rest[q + 1..].to_vec())),
        None => (rest, None),
    };
    let (netloc, path) = match rest.strip_prefix(b"//") {
        Some(r) => {
            let end = r.iter().position(|&b| b == b'/').unwrap_or(r.len());
            (Some(&r[..end]), &r[end..])
        }
        None => (None, rest),
    };
    let mut path = (!path.is_empty()).then(|| path.to_vec());
    // urllib's hostname and port: after any user info, before the last ':', lower-cased.
    let (mut host, port) = match netloc {
        Some(n) => {
            let n = &n[..n.len() - n.iter().rev().take_while(|&&b| b == b':').count()];
            let n = match n.iter().rposition(|&b| b == b'@') {
                Some(at) => &n[at + 1..],
                None => n,
            };
            let (h, p) = match n.iter().position(|&b| b == b':') {
                Some(c) => (&n[..c], Some(&n[c + 1..])),
                None => (n, None),
            };
            let port = p
                .and_then(|p| std::str::from_utf8(p).ok())
                .and_then(|p| p.parse::<u16>().ok())
                .filter(|&p| p != 0)
                .map(u32::from);
            ((!h.is_empty()).then(|| h.to_ascii_lowercase()), port)
        }
        None => (None, None),
    };
    // `http:////host/path`: the host is the path's first segment.
    if scheme.starts_with(b"http") && host.is_none() {
        if let Some(p) = path.take() {
            let p: &[u8] = &p[p.iter().take_while(|&&b| b == b'/').count()..];
            let (h, rest) = match p.iter().position(|&b| b == b'/') {
                Some(i) => (&p[..i], &p[i + 1..]),
                None => (p, &b""[..]),
            };
            host = Some(h.to_vec());
            let mut np = b"/".to_vec();
            np.extend_from_slice(rest);
            path = Some(np);
        }
    }
    Parts {
        scheme,
        host,
        port,
        path,
        query,
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One pass of `%XX` decoding; malformed escapes stay as they are.
fn unescape(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' && i + 2 < input.len() {
            if let (Some(h), Some(l)) = (hex(input[i + 1]), hex(input[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

fn unescape_repeatedly(input: &[u8]) -> Vec<u8> {
    let mut cur = input.to_vec();
    loop {
        let next = unescape(&cur);
        if next == cur {
            return cur;
        }
        cur = next;
    }
}

/// Escapes control bytes, space, `#`, `%` and everything outside ASCII (`%XX`, upper case).
fn escape_once(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    for &b in input {
        if b <= b' ' || b >= 0x7f || b == b'#' || b == b'%' {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
    out
}

fn replace_double_dots(host: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(host.len());
    let mut i = 0;
    while i < host.len() {
        if host[i..].starts_with(b"..") {
            out.push(b'.');
            i += 2;
        } else {
            out.push(host[i]);
            i += 1;
        }
    }
    out
}

fn trim_dots(host: &[u8]) -> &[u8] {
    let start = host.iter().take_while(|&&b| b == b'.').count();
    let end = host.len()
        - host[start..]
            .iter()
            .rev()
            .take_while(|&&b| b == b'.')
            .count();
    &host[start..end]
}

/// A host of digits only is an IPv4 address as a number; a dotted quad stays as it is.
fn dotted_ip(host: &[u8]) -> Option<Vec<u8>> {
    if !host.is_empty() && host.iter().all(u8::is_ascii_digit) {
        let n = std::str::from_utf8(host).ok()?.parse::<u128>().ok()? as u32;
        return Some(std::net::Ipv4Addr::from(n).to_string().into_bytes());
    }
    let quad = host.split(|&b| b == b'.').collect::<Vec<_>>();
    (quad.len() == 4
        && quad
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.iter().all(u8::is_ascii_digit)))
    .then(|| host.to_vec())
}

/// `.` and `..` segments resolved, empty segments dropped (a trailing `/` kept).
fn normalize_path(path: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        return b"/".to_vec();
    }
    let mut kept: Vec<&[u8]> = Vec::new();
    for p in path.split(|&b| b == b'/').skip(1) {
        match p {
            b"." => {}
            b".." => {
                if kept.pop().is_none() {
                    kept.push(p);
                }
            }
            _ => kept.push(p),
        }
    }
    let mut out = b"/".to_vec();
    if let Some((last, init)) = kept.split_last() {
        for p in init.iter().filter(|p| !p.is_empty()) {
            out.extend_from_slice(p);
            out.push(b'/');
        }
        out.extend_from_slice(last);
    }
    out
}

fn strip_www(host: &[u8]) -> &[u8] {
    if let Some(rest) = host.strip_prefix(b"www") {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if rest.get(digits) == Some(&b'.') {
            return &rest[digits + 1..];
        }
    }
    host
}

static PATH_SESSION_IDS: LazyLock<[Regex; 2]> = LazyLock::new(|| {
    [
        Regex::new(r"(?i-u)^(.*/)(\((?:[a-z]\([0-9a-z]{24}\))+\)/)([^\?]+\.aspx.*)$"),
        Regex::new(r"(?i-u)^(.*/)(\([0-9a-z]{24}\)/)([^\?]+\.aspx.*)$"),
    ]
    .map(|r| r.expect("valid pattern"))
});

static QUERY_SESSION_IDS: LazyLock<[Regex; 5]> = LazyLock::new(|| {
    [
        Regex::new(r"(?i-u)^(.*)(?:jsessionid=[0-9a-zA-Z]{32})(?:&(.*))?$"),
        Regex::new(r"(?i-u)^(.*)(?:phpsessid=[0-9a-zA-Z]{32})(?:&(.*))?$"),
        Regex::new(r"(?i-u)^(.*)(?:sid=[0-9a-zA-Z]{32})(?:&(.*))?$"),
        Regex::new(r"(?i-u)^(.*)(?:ASPSESSIONID[a-zA-Z]{8}=[a-zA-Z]{24})(?:&(.*))?$"),
        Regex::new(r"(?i-u)^(.*)(?:cfid=[^&]+&cftoken=[^&]+)(?:&(.*))?$"),
    ]
    .map(|r| r.expect("valid pattern"))
});

fn strip_path_session_id(path: &[u8]) -> Vec<u8> {
    let mut path = path.to_vec();
    for re in PATH_SESSION_IDS.iter() {
        if let Some(c) = re.captures(&path) {
            path = [&c[1], &c[3]].concat();
        }
    }
    path
}

fn strip_query_session_id(query: &[u8]) -> Vec<u8> {
    let mut query = query.to_vec();
    for re in QUERY_SESSION_IDS.iter() {
        if let Some(c) = re.captures(&query) {
            query = match c.get(2).filter(|m| !m.is_empty()) {
                Some(rest) => [&c[1], rest.as_bytes()].concat(),
                None => c[1].to_vec(),
            };
        }
    }
    query
}

/// Arguments sorted by (name, value), an argument without `=` before one with.
fn alpha_reorder(query: &[u8]) -> Vec<u8> {
    if query.len() <= 1 {
        return query.to_vec();
    }
    let mut args: Vec<(&[u8], Option<&[u8]>)> = query
        .split(|&b| b == b'&')
        .map(|a| match a.iter().position(|&b| b == b'=') {
            Some(i) => (&a[..i], Some(&a[i + 1..])),
            None => (a, None),
        })
        .collect();
    args.sort();
    let mut out = Vec::with_capacity(query.len());
    for (i, (k, v)) in args.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(k);
        if let Some(v) = v {
            out.push(b'=');
            out.extend_from_slice(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::surt;

    /// Keys computed by the Python `surt` package 0.3.1 (`surt.surt(url)`).
    #[test]
    fn keys_match_the_python_surt_package() {
        for (url, key) in [
            (
                "https://www.uni.test/__api/assets/100?data=urls,attributes,metadata,contents",
                "test,uni)/__api/assets/100?data=urls,attributes,metadata,contents",
            ),
            (
                "https://www.uni.test/__api/assets/1234%3Av1/children",
                "test,uni)/__api/assets/1234:v1/children",
            ),
            (
                "https://www.uni.test/__api/assets/by_url?url=https%3A%2F%2Fresearch.uni.test%2Fcentres&data=urls",
                "test,uni)/__api/assets/by_url?data=urls&url=https://research.uni.test/centres",
            ),
            (
                "https://www.uni.test/__api/assets/1?context=M%C4%81ori&base_url=https%3A%2F%2Fresearch.uni.test",
                "test,uni)/__api/assets/1?base_url=https://research.uni.test&context=m%c4%81ori",
            ),
            (
                "HTTPS://WWW2.Uni.TEST:443/A/B/?Z=1&a=2&a=1&b",
                "test,uni)/a/b?a=1&a=2&b&z=1",
            ),
            ("http://uni.test:80/", "test,uni)/"),
            ("http://uni.test:8080/x/./y/../z//w", "test,uni:8080)/x/z/w"),
            (
                "http://127.0.0.1:8080/__api/assets/1",
                "1,0,0,127:8080)/__api/assets/1",
            ),
            ("https://www.uni.test/a%2520b/c d#frag", "test,uni)/a%20b/c%20d"),
            ("https://www.uni.test/x?", "test,uni)/x"),
            ("https://www.uni.test", "test,uni)/"),
            (
                "https://www.uni.test/p?jsessionid=0123456789abcdef0123456789ABCDEF&x=1",
                "test,uni)/p?x=1",
            ),
            (
                "https://www.uni.test/p?a=1&sid=0123456789abcdef0123456789ABCDEF",
                "test,uni)/p?&a=1",
            ),
            (
                "https://www.uni.test/p?cfid=12&cftoken=34&z=9",
                "test,uni)/p?z=9",
            ),
            (
                "https://www.uni.test/x/(a(0123456789abcdef01234567))/page.aspx?q=1",
                "test,uni)/x/page.aspx?q=1",
            ),
            (
                "https://www.uni.test/x/(0123456789abcdef01234567)/Page.aspx",
                "test,uni)/x/page.aspx",
            ),
            (
                "https://www.uni.test/m\u{101}ori/%7Euser?q=%zz&r=%25",
                "test,uni)/m%c4%81ori/~user?q=%25zz&r=%25",
            ),
            ("https://www.uni.test/%41%42?%41=%42", "test,uni)/ab?a=b"),
            ("https://sub.www.uni.test/p?b=&a", "test,uni,www,sub)/p?a&b="),
            ("https://www.uni.test/p?a=1&&b=2", "test,uni)/p?&a=1&b=2"),
        ] {
            assert_eq!(surt(url), key, "{url}");
        }
    }
}
