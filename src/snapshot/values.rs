//! The values that reach router configs and HTTP headers from outside: `--cors`,
//! `--cache-control`, `router --listen`, the snapshot's path, and the strings of
//! `_routers/routes.json`. Router configs are code (nginx, Apache, Caddy, JavaScript, Lua, shell):
//! every such value is checked against its grammar here, when the command line is parsed and
//! again when `routes.json` is read (a tampered file must not inject either), and written into
//! each config escaped for that config's syntax ([`escape_dir`], the template filters of
//! [`super::render`]). `docs/routing.md` ("Values in configs") lists the rules.

use serde::{Deserialize, Deserializer};

/// Checks an origin for `--cors`: the RFC 6454 serialisation browsers send in `Origin`
/// (`scheme://host[:port]`, lower case, no default port, no path), or `*` (any origin).
pub fn origin(value: &str) -> Result<String, String> {
    const SHAPE: &str = "an origin is what a browser sends in its Origin header: \
        scheme://host[:port], lower case, no path (e.g. https://app.uni.test or \
        http://localhost:3000), or * for any origin";
    if value == "*" {
        return Ok(value.to_string());
    }
    let refuse = |why: String| Err(format!("{why}; {SHAPE}"));
    if let Some(c) = value.chars().find(|c| !c.is_ascii_graphic()) {
        return refuse(format!(
            "{c:?} cannot appear in an origin (an internationalised host is written in its \
             xn-- form)"
        ));
    }
    if value.bytes().any(|b| b.is_ascii_uppercase()) {
        return refuse(format!(
            "browsers send origins in lower case, so {value:?} would never match: write {:?}",
            value.to_ascii_lowercase()
        ));
    }
    let Some((scheme, rest)) = value.split_once("://") else {
        return refuse("no scheme (https://, http://...)".into());
    };
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b));
    if !scheme_ok {
        return refuse(format!("{scheme:?} is not a URL scheme"));
    }
    if let Some(i) = rest.find(['/', '?', '#']) {
        return refuse(format!(
            "an origin has no path, query or fragment: write {:?}",
            &value[..value.len() - rest.len() + i]
        ));
    }
    let (host, port) = split_host_port(rest);
    if !host_ok(host) {
        return refuse(format!(
            "{host:?} is not a host name (letters, digits, `-` and `.`), an IPv4 address or a \
             bracketed IPv6 address"
        ));
    }
    if let Some(port) = port {
        let n = port_number(port).ok_or_else(|| {
            format!("port {port:?} is not a number from 1 to 65535 without leading zeros; {SHAPE}")
        })?;
        if (scheme, n) == ("https", 443) || (scheme, n) == ("http", 80) {
            return refuse(format!(
                "browsers leave the default port out of an origin: write \"{scheme}://{host}\""
            ));
        }
    }
    Ok(value.to_string())
}

/// Checks a `Cache-Control` value (`--cache-control`): RFC 9111's `1#cache-directive`, each
/// `token [ "=" ( token / quoted-string ) ]`, separated by commas with optional spaces; visible
/// ASCII and spaces only (no control characters, no line breaks, no bytes above 0x7E).
pub fn cache_control(value: &str) -> Result<String, String> {
    const SHAPE: &str = "a Cache-Control value is a comma-separated list of directives, each \
        a name with an optional =value or =\"quoted value\" (e.g. \"no-cache\" or \"public, \
        max-age=300\")";
    let b = value.as_bytes();
    if let Some(c) = value.chars().find(|c| !(c.is_ascii_graphic() || *c == ' ')) {
        return Err(format!(
            "{c:?} cannot appear in an HTTP header value: use one line of visible ASCII \
             characters; {SHAPE}"
        ));
    }
    let at = |i: usize, what: &str| {
        Err(format!(
            "{what} at byte {} of {value:?} ({:?}); {SHAPE}",
            i + 1,
            &value[i.min(value.len())..]
        ))
    };
    let ows = |mut i: usize| {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        i
    };
    let token = |mut i: usize| {
        let start = i;
        while i < b.len() && is_tchar(b[i]) {
            i += 1;
        }
        (i > start).then_some(i)
    };
    let mut i = ows(0);
    if i == b.len() {
        return Err(format!("must not be empty; {SHAPE}"));
    }
    loop {
        let Some(j) = token(i) else {
            return at(i, "a directive name expected");
        };
        i = j;
        if i < b.len() && b[i] == b'=' {
            i += 1;
            if i < b.len() && b[i] == b'"' {
                i += 1;
                loop {
                    match b.get(i) {
                        None => return at(value.len(), "an unclosed quoted value"),
                        Some(b'"') => break,
                        Some(b'\\') if i + 1 < b.len() => i += 2,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
            } else if let Some(j) = token(i) {
                i = j;
            } else {
                return at(i, "a value expected after `=`");
            }
        }
        i = ows(i);
        if i == b.len() {
            return Ok(value.to_string());
        }
        if b[i] != b',' {
            return at(i, "`,` expected between directives");
        }
        i = ows(i + 1);
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks a listen address (`router --listen`): `HOST:PORT`, HOST an IPv4 address, a host name
/// or a bracketed IPv6 address, PORT from 1 to 65535.
pub fn listen(value: &str) -> Result<String, String> {
    const SHAPE: &str = "a listen address is HOST:PORT (e.g. 127.0.0.1:8080, 0.0.0.0:80, \
        [::1]:8080 or localhost:8080)";
    if let Some(c) = value.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!("{c:?} cannot appear in a listen address; {SHAPE}"));
    }
    let (host, port) = split_host_port(value);
    let Some(port) = port else {
        return Err(format!("no port in {value:?}; {SHAPE}"));
    };
    if !host_ok(host) {
        return Err(format!("{host:?} is not a host; {SHAPE}"));
    }
    if port_number(port).is_none() {
        return Err(format!(
            "port {port:?} is not a number from 1 to 65535 without leading zeros; {SHAPE}"
        ));
    }
    Ok(value.to_string())
}

/// `host:port` split at the port's colon (after a bracketed IPv6 literal).
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    let after = s.rfind(']').map_or(0, |i| i + 1);
    match s[after..].rfind(':') {
        Some(i) => (&s[..after + i], Some(&s[after + i + 1..])),
        None => (s, None),
    }
}

/// 1 to 65535 in plain decimal.
fn port_number(p: &str) -> Option<u16> {
    let ok = !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    p.parse::<u16>()
        .ok()
        .filter(|&n| ok && n > 0 && !p.starts_with('0'))
}

/// A host name (labels of letters, digits and `-`), an IPv4 address (a host name by this
/// grammar) or a bracketed IPv6 address.
fn host_ok(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.contains(':')
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A piece of a file name in `routes.json` (data, sort and type codes, the anchor): the
/// characters of encoded names (`[a-z0-9_.,~-]`), never a `/` or a leading `.`: they are joined
/// into paths under `public/` and written into configs as they are.
pub fn name_piece(value: &str) -> Result<String, String> {
    let ok = !value.is_empty()
        && !value.starts_with('.')
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.,~-".contains(&b));
    if ok {
        Ok(value.to_string())
    } else {
        Err(format!(
            "{value:?} is not a file-name code of an export ([a-z0-9_.,~-], no leading dot)"
        ))
    }
}

/// A lower-case hex SHA-256.
pub fn sha256_hex(value: &str) -> Result<String, String> {
    if value.len() == 64
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(value.to_string())
    } else {
        Err(format!("{value:?} is not a lower-case hex SHA-256"))
    }
}

fn checked<'de, D: Deserializer<'de>>(
    d: D,
    field: &str,
    check: fn(&str) -> Result<String, String>,
) -> Result<String, D::Error> {
    let v = String::deserialize(d)?;
    check(&v).map_err(|e| {
        serde::de::Error::custom(format!(
            "{field}: {e} (the file was changed by hand: re-export the snapshot)"
        ))
    })
}

/// `serde(deserialize_with)` for `routes.json`'s `cors`.
pub fn de_cors<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|v| {
            origin(&v).map_err(|e| {
                serde::de::Error::custom(format!(
                    "cors: {e} (the file was changed by hand: re-export the snapshot)"
                ))
            })
        })
        .transpose()
}

/// `serde(deserialize_with)` for `routes.json`'s `cache_control`.
pub fn de_cache_control<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, "cache_control", cache_control)
}

/// `serde(deserialize_with)` for `routes.json`'s `token_sha256`.
pub fn de_token_sha256<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|v| sha256_hex(&v).map_err(|e| serde::de::Error::custom(format!("token_sha256: {e}"))))
        .transpose()
}

/// `serde(deserialize_with)` for a file-name code of `routes.json` ([`name_piece`]).
pub fn de_code<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, "code", name_piece)
}

/// `serde(deserialize_with)` for a list of file-name codes of `routes.json`.
pub fn de_codes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Vec::<String>::deserialize(d)?
        .into_iter()
        .map(|v| {
            name_piece(&v).map_err(|e| {
                serde::de::Error::custom(format!(
                    "{e} (the file was changed by hand: re-export the snapshot)"
                ))
            })
        })
        .collect()
}

/// Why a snapshot directory cannot be written into `host`'s config, or its spelling there:
/// inside the double-quoted strings of nginx, Apache, Caddy and TOML, with what each treats
/// specially escaped, and what cannot be escaped refused (see `docs/routing.md`).
///
/// `context` matters for nginx only: `root` expands `$variables` (a `$` is written
/// `${matrix_snapshot_dollar}`, a variable holding `$`), `include` expands `*?[` globs (escaped
/// with `\` when the path has one), `js_import` takes the path as it is.
pub fn escape_dir(host: &str, context: DirContext, dir: &str) -> Result<String, String> {
    let refuse = |what: &str, why: &str| {
        Err(format!(
            "the snapshot directory {dir:?} contains {what}, which {why}: move or rename it \
             (a path of letters, digits, `/`, `-`, `_` and `.` works everywhere)"
        ))
    };
    if dir.chars().any(char::is_control) {
        return refuse(
            "a control character (a line break?)",
            "no config file can hold",
        );
    }
    let quoted = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    match host {
        // njs writes js_import's path into JavaScript source between single quotes, and
        // refuses a path that holds one.
        "nginx" if dir.contains('\'') => refuse("`'`", "nginx's js_import cannot name"),
        "nginx" => Ok(match context {
            DirContext::Literal => quoted(dir),
            DirContext::Variables => quoted(dir).replace('$', "${matrix_snapshot_dollar}"),
            DirContext::Glob if dir.contains(['*', '?', '[']) => {
                let mut g = String::with_capacity(dir.len() + 8);
                for c in dir.chars() {
                    if matches!(c, '\\' | '*' | '?' | '[') {
                        g.push('\\');
                    }
                    g.push(c);
                }
                quoted(&g)
            }
            DirContext::Glob => quoted(dir),
        }),
        "apache" => {
            if dir.contains("${") {
                return refuse("`${`", "Apache expands as a variable in any config line");
            }
            // Apache's quoted strings: only `\"` is an escape; a `\` elsewhere stays.
            Ok(dir.replace('"', "\\\""))
        }
        "caddy" => {
            if dir.contains(['{', '}']) {
                return refuse("`{` or `}`", "Caddy reads as a placeholder");
            }
            if dir.contains('\\') {
                return refuse(
                    "`\\`",
                    "a Caddyfile's quoted strings cannot hold before a quote",
                );
            }
            Ok(dir.replace('"', "\\\""))
        }
        // TOML basic strings (wrangler.toml).
        _ => Ok(quoted(dir)),
    }
}

/// Where a snapshot directory appears in a config ([`escape_dir`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirContext {
    /// A string taken as it is.
    Literal,
    /// nginx: a string that expands `$variables` (`root`).
    Variables,
    /// nginx: a file pattern (`include`).
    Glob,
}

/// nginx: a double-quoted string whose `$` is literal (for values of directives that expand
/// variables, such as `add_header`): `\` and `"` escaped, `$` written `${matrix_snapshot_dollar}`
/// (nginx has no escape for `$`; the config defines that variable as `$`).
pub fn nginx_string(value: &str) -> String {
    format!(
        "\"{}\"",
        value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "${matrix_snapshot_dollar}")
    )
}

/// POSIX shell: one single-quoted word (`'` written `'\''`).
pub fn shell_word(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16: `--cors 'https://app.test$http_x_evil'` reached nginx as a variable.
    #[test]
    fn origins() {
        for ok in [
            "https://app.test",
            "http://localhost:3000",
            "https://127.0.0.1:8443",
            "http://[::1]:8080",
            "https://xn--caf-dma.test",
            "*",
        ] {
            assert_eq!(origin(ok).as_deref(), Ok(ok), "{ok}");
        }
        for (bad, teaches) in [
            ("https://app.test$http_x_evil", "is not a host name"),
            ("https://app.test\r\nSet-Cookie: x=1", "cannot appear"),
            ("https://App.test", "write \"https://app.test\""),
            ("https://app.test/", "write \"https://app.test\""),
            ("https://app.test/x?y", "no path"),
            ("app.test", "no scheme"),
            ("https://app.test:443", "write \"https://app.test\""),
            ("https://app.test:0443", "without leading zeros"),
            ("https://app.test:99999", "from 1 to 65535"),
            ("https://", "is not a host name"),
            ("https://a..b", "is not a host name"),
            ("https://é.test", "xn--"),
            ("1http://x", "is not a URL scheme"),
            ("https://x\"; add_header X y", "cannot appear"),
            ("null", "no scheme"),
        ] {
            let err = origin(bad).expect_err(bad);
            assert!(err.contains(teaches), "{bad}: {err}");
            assert!(err.contains("e.g. https://app.uni.test"), "{bad}: {err}");
        }
    }

    /// Issue 16: `--cache-control` values reached nginx as variables. The grammar allows `$` (a
    /// tchar) and quotes: they are escaped per config, and anything else is refused.
    #[test]
    fn cache_control_values() {
        for ok in [
            "no-cache",
            "public, max-age=300",
            "public,max-age=300 ,  s-maxage=60",
            "private=\"set-cookie, x\"",
            "x=\"a\\\"b\"",
            "x-$http_x_evil",
            "max-age=1, x=\"$(id)`id`\"",
        ] {
            assert_eq!(cache_control(ok).as_deref(), Ok(ok), "{ok}");
        }
        for (bad, teaches) in [
            ("", "must not be empty"),
            ("  ", "must not be empty"),
            ("max-age=60\n", "cannot appear"),
            ("max-age=60\r\nSet-Cookie: x", "cannot appear"),
            ("a\tb", "cannot appear"),
            ("public; max-age=1", "`,` expected"),
            ("max-age=", "a value expected"),
            ("x=\"open", "unclosed"),
            (",", "a directive name expected"),
            ("public,", "a directive name expected"),
            ("a b", "`,` expected"),
            ("x=(y)", "a value expected"),
            ("caf\u{e9}", "cannot appear"),
        ] {
            let err = cache_control(bad).expect_err(bad);
            assert!(err.contains(teaches), "{bad:?}: {err}");
        }
    }

    /// Issue 16: `router --listen '127.0.0.1:1; location /etc { alias /etc/; } #'` passed
    /// `nginx -t`, and a newline injected Apache directives.
    #[test]
    fn listen_addresses() {
        for ok in [
            "127.0.0.1:8080",
            "0.0.0.0:80",
            "[::1]:8080",
            "localhost:65535",
        ] {
            assert_eq!(listen(ok).as_deref(), Ok(ok));
        }
        for (bad, teaches) in [
            (
                "127.0.0.1:1; location /etc { alias /etc/; } #",
                "cannot appear",
            ),
            ("127.0.0.1:1;location", "is not a number"),
            ("127.0.0.1:8080\nLoadModule x y", "cannot appear"),
            ("8080", "no port"),
            ("127.0.0.1:0", "from 1 to 65535"),
            ("127.0.0.1:65536", "from 1 to 65535"),
            ("a\"b:80", "is not a host"),
            ("[::1:80", "is not a host"),
            (":80", "is not a host"),
        ] {
            let err = listen(bad).expect_err(bad);
            assert!(err.contains(teaches), "{bad:?}: {err}");
            assert!(err.contains("HOST:PORT"), "{err}");
        }
    }

    /// Issue 16: a snapshot path with `"` or `$` broke the nginx config.
    #[test]
    fn snapshot_dirs_per_host() {
        let d = "/srv/sn\"ap$x/a*b";
        let nginx = |c| escape_dir("nginx", c, d).unwrap();
        assert_eq!(nginx(DirContext::Literal), "/srv/sn\\\"ap$x/a*b");
        assert_eq!(
            nginx(DirContext::Variables),
            "/srv/sn\\\"ap${matrix_snapshot_dollar}x/a*b"
        );
        assert_eq!(nginx(DirContext::Glob), "/srv/sn\\\"ap$x/a\\\\*b");
        assert_eq!(
            escape_dir("nginx", DirContext::Glob, "/a\\b").unwrap(),
            "/a\\\\b",
            "no glob character: no glob escape"
        );
        assert_eq!(
            escape_dir("apache", DirContext::Literal, d).unwrap(),
            "/srv/sn\\\"ap$x/a*b"
        );
        assert_eq!(
            escape_dir("caddy", DirContext::Literal, d).unwrap(),
            "/srv/sn\\\"ap$x/a*b"
        );
        assert_eq!(
            escape_dir("cloudflare", DirContext::Literal, "/a\\\"b").unwrap(),
            "/a\\\\\\\"b"
        );
        for (host, bad, teaches) in [
            ("nginx", "/srv/a\nb", "control character"),
            ("nginx", "/srv/it's", "js_import"),
            ("apache", "/srv/a\nInclude /etc/x", "control character"),
            ("apache", "/srv/${HOME}", "`${`"),
            ("caddy", "/srv/{env.SECRET}", "placeholder"),
            ("caddy", "/srv/a\\", "`\\`"),
            ("cloudflare", "/srv/a\u{7}", "control character"),
        ] {
            let err = escape_dir(host, DirContext::Literal, bad).expect_err(bad);
            assert!(err.contains(teaches), "{host} {bad:?}: {err}");
            assert!(err.contains("move or rename it"), "{err}");
        }
    }

    #[test]
    fn nginx_and_shell_strings() {
        assert_eq!(
            nginx_string("a$http_x \"q\" \\"),
            "\"a${matrix_snapshot_dollar}http_x \\\"q\\\" \\\\\""
        );
        assert_eq!(shell_word("x=\"$(id)\" 'y'"), "'x=\"$(id)\" '\\''y'\\'''");
    }

    #[test]
    fn codes_and_hashes() {
        assert!(name_piece("~asset.u---.json").is_ok());
        assert!(name_piece("page~5fstandard,folder").is_ok());
        for bad in ["", "../x", ".x", "a/b", "a\"b", "A"] {
            assert!(name_piece(bad).is_err(), "{bad}");
        }
        assert!(sha256_hex(&"a".repeat(64)).is_ok());
        assert!(sha256_hex(&"A".repeat(64)).is_err());
        assert!(sha256_hex("abc").is_err());
    }
}
