//! The access log: one line per answered request on stderr, every byte a client chose
//! escaped, so a method or target can neither forge a line nor send control bytes to a
//! terminal, and long targets cut.

use super::limits::LOGGED_TARGET;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;

/// Appends `bytes` to `out` as printable ASCII: `"` and `\` backslash-escaped, anything
/// outside 0x20–0x7E as `\xNN`. At most `max` input bytes, then `…(+N bytes)`.
pub fn escape_into(out: &mut String, bytes: &[u8], max: usize) {
    for &b in bytes.iter().take(max) {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    if bytes.len() > max {
        let _ = write!(out, "...(+{} bytes)", bytes.len() - max);
    }
}

/// One access-log line (with its newline).
pub fn line(
    peer: SocketAddr,
    method: &str,
    target: &str,
    version: http::Version,
    status: u16,
    length: u64,
    millis: f64,
) -> String {
    let mut out = String::with_capacity(96 + target.len().min(LOGGED_TARGET));
    let _ = write!(out, "{} \"", peer.ip());
    escape_into(&mut out, method.as_bytes(), 32);
    out.push(' ');
    escape_into(&mut out, target.as_bytes(), LOGGED_TARGET);
    let _ = writeln!(out, " {version:?}\" {status} {length} {millis:.1}ms");
    out
}

/// Writes a line to stderr in one call (lines of concurrent requests do not interleave).
pub fn write(line: &str) {
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bytes_quotes_and_non_ascii_are_escaped() {
        let mut out = String::new();
        escape_into(&mut out, b"GET\n1.2.3.4 \"x\\\x1b[31m\x7f\xc3\xa9", 100);
        assert_eq!(out, "GET\\x0a1.2.3.4 \\\"x\\\\\\x1b[31m\\x7f\\xc3\\xa9");
    }

    #[test]
    fn a_long_target_is_cut() {
        let target = format!("/{}", "a".repeat(10_000));
        let l = line(
            "127.0.0.1:9".parse().unwrap(),
            "GET",
            &target,
            http::Version::HTTP_11,
            404,
            0,
            0.1,
        );
        assert!(l.len() < LOGGED_TARGET + 100, "{}", l.len());
        assert!(l.contains("...(+9489 bytes)"), "{l}");
        assert_eq!(l.matches('\n').count(), 1);
        assert!(l.starts_with("127.0.0.1 \"GET /aaa"));
        assert!(l.ends_with("HTTP/1.1\" 404 0 0.1ms\n"), "{l}");
    }
}
