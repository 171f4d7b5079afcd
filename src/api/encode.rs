//! PHP-compatible JSON bytes: the only serializer for response bodies.
//!
//! Matrix answers with PHP's `json_encode($v, JSON_HEX_TAG | JSON_HEX_QUOT | JSON_UNESCAPED_SLASHES)`
//! (spec §1). This module reproduces those bytes exactly: `<` `>` `"` as `\u003C` `\u003E`
//! `\u0022`, `/` raw, `\\`, the short escapes `\b \f \n \r \t`, other control characters as
//! lower-case `\u00xx`, `&` `'` and DEL raw, every non-ASCII character as lower-case `\uxxxx`
//! (surrogate pairs above U+FFFF). Integers are copied as the store wrote them; other numbers are
//! written as PHP writes a double with `serialize_precision = -1`. It must not decide *what* is
//! written — only how; `api::body` decides the shape.

use serde_json::{Number, Value};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// How each ASCII byte is written inside a string: 0 = raw, b'u' = `\u00xx` (lower hex),
/// b'U' = `\u00XX` upper-case (the JSON_HEX_* flags), anything else = that short escape.
const ASCII_ESCAPES: [u8; 128] = {
    let mut table = [0u8; 128];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[b'\\' as usize] = b'\\';
    table[b'"' as usize] = b'U';
    table[b'<' as usize] = b'U';
    table[b'>' as usize] = b'U';
    table
};

/// Appends `s` as a JSON string literal, quotes included.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            let esc = ASCII_ESCAPES[b as usize];
            if esc == 0 {
                i += 1;
                continue;
            }
            out.extend_from_slice(&bytes[start..i]);
            match esc {
                b'u' => push_u16_escape(out, b as u16, false),
                b'U' => push_u16_escape(out, b as u16, true),
                short => out.extend_from_slice(&[b'\\', short]),
            }
            i += 1;
            start = i;
        } else {
            out.extend_from_slice(&bytes[start..i]);
            // `s` is valid UTF-8, so the char at `i` is whole.
            let ch = s[i..].chars().next().expect("char boundary inside a str");
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                push_u16_escape(out, *unit, false);
            }
            i += ch.len_utf8();
            start = i;
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn push_u16_escape(out: &mut Vec<u8>, unit: u16, upper: bool) {
    let digit = |n: u16| {
        let c = HEX[(n & 0xf) as usize];
        if upper {
            c.to_ascii_uppercase()
        } else {
            c
        }
    };
    out.extend_from_slice(&[
        b'\\',
        b'u',
        digit(unit >> 12),
        digit(unit >> 8),
        digit(unit >> 4),
        digit(unit),
    ]);
}

/// Appends an optional string: `null` for `None`.
pub fn write_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// True when the literal is a JSON integer (`-?[0-9]+`): those are copied verbatim.
fn is_integer_literal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Appends a number: integers as written, other numbers as PHP writes a double.
pub fn write_number(out: &mut Vec<u8>, n: &Number) {
    let text = n.as_str();
    if is_integer_literal(text) {
        out.extend_from_slice(text.as_bytes());
    } else {
        // The store loader rejects numbers that are not finite doubles.
        let f: f64 = text.parse().unwrap_or(f64::NAN);
        write_php_double(out, f);
    }
}

/// PHP's `php_gcvt(value, 17, '.', 'e')` in mode 0 (shortest round trip), as `json_encode`
/// calls it with `serialize_precision = -1`: fixed notation when the decimal exponent lies in
/// `[-3, 17]`, else `d.ddde±x` (with `.0` when there is a single digit); no `.0` on whole numbers.
pub fn write_php_double(out: &mut Vec<u8>, f: f64) {
    if !f.is_finite() {
        // json_encode fails on these; never produced for a valid store.
        out.push(b'0');
        return;
    }
    if f.is_sign_negative() {
        out.push(b'-');
    }
    let f = f.abs();
    if f == 0.0 {
        out.push(b'0');
        return;
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.2345e2", "1e-5".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci
        .split_once('e')
        .expect("LowerExp always has an exponent");
    let exp: i32 = exp.parse().expect("LowerExp exponent is an integer");
    let digits: Vec<u8> = mantissa.bytes().filter(|b| *b != b'.').collect();
    let decpt = exp + 1; // value = 0.d1d2... × 10^decpt
    if !(-3..=17).contains(&decpt) {
        out.push(digits[0]);
        out.push(b'.');
        if digits.len() == 1 {
            out.push(b'0');
        } else {
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        let e = decpt - 1;
        out.push(if e < 0 { b'-' } else { b'+' });
        out.extend_from_slice(e.unsigned_abs().to_string().as_bytes());
    } else if decpt <= 0 {
        out.extend_from_slice(b"0.");
        for _ in decpt..0 {
            out.push(b'0');
        }
        out.extend_from_slice(&digits);
    } else {
        let decpt = decpt as usize;
        if digits.len() <= decpt {
            out.extend_from_slice(&digits);
            out.extend(std::iter::repeat_n(b'0', decpt - digits.len()));
        } else {
            out.extend_from_slice(&digits[..decpt]);
            out.push(b'.');
            out.extend_from_slice(&digits[decpt..]);
        }
    }
}

/// Appends any JSON value (objects in their stored key order).
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => write_seq(out, items, write_value),
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write_value(out, item);
            }
            out.push(b'}');
        }
    }
}

/// Appends `[a,b,…]`, writing each item with `write`.
pub fn write_seq<T>(
    out: &mut Vec<u8>,
    items: impl IntoIterator<Item = T>,
    mut write: impl FnMut(&mut Vec<u8>, T),
) {
    out.push(b'[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(out, item);
    }
    out.push(b']');
}

/// Appends a list of strings.
pub fn write_str_list<S: AsRef<str>>(out: &mut Vec<u8>, items: &[S]) {
    write_seq(out, items, |out, s| write_str(out, s.as_ref()));
}

/// Appends an unsigned integer.
pub fn write_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(n.to_string().as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    fn dbl(f: f64) -> String {
        let mut out = Vec::new();
        write_php_double(&mut out, f);
        String::from_utf8(out).unwrap()
    }

    /// docs/content-api.md "JSON encoding": every line of `tests/fixtures/php-json-encode.jsonl`
    /// (the bytes PHP 8.2's `json_encode` produced).
    #[test]
    fn reproduces_every_php_vector() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/php-json-encode.jsonl"
        );
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{path}: {e} (the PHP vectors are part of the repository)"));
        let mut checked = 0;
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let case: Value = serde_json::from_str(line).unwrap();
            let expected = case["php_bytes"].as_str().unwrap();
            let mut out = Vec::new();
            if let Some(s) = case.get("string") {
                write_str(&mut out, s.as_str().unwrap());
            } else {
                let v: Value = serde_json::from_str(case["json_value"].as_str().unwrap()).unwrap();
                write_value(&mut out, &v);
            }
            assert_eq!(
                String::from_utf8(out).unwrap(),
                expected,
                "vector line {}",
                n + 1
            );
            checked += 1;
        }
        assert!(checked >= 20, "only {checked} vectors read");
    }

    #[test]
    fn hex_tag_and_quot_are_upper_case_controls_lower_case() {
        assert_eq!(
            enc("<a href=\"x\">"),
            r#""\u003Ca href=\u0022x\u0022\u003E""#
        );
        assert_eq!(enc("\u{1}\u{1f}\u{b}"), r#""\u0001\u001f\u000b""#);
    }

    #[test]
    fn short_escapes_slash_amp_apos_del() {
        assert_eq!(enc("\u{8}\u{c}\n\r\t"), r#""\b\f\n\r\t""#);
        assert_eq!(enc("a/b&c'd\u{7f}"), "\"a/b&c'd\u{7f}\"");
        assert_eq!(enc("\\"), r#""\\""#);
    }

    #[test]
    fn non_ascii_is_lower_hex_with_surrogates() {
        assert_eq!(enc("é"), r#""\u00e9""#);
        assert_eq!(enc("\u{ffff}"), r#""\uffff""#);
        assert_eq!(enc("𝄞"), r#""\ud834\udd1e""#);
    }

    #[test]
    fn doubles_as_php_writes_them() {
        assert_eq!(dbl(2.0), "2");
        assert_eq!(dbl(1.5), "1.5");
        assert_eq!(dbl(0.1), "0.1");
        assert_eq!(dbl(-0.25), "-0.25");
        assert_eq!(dbl(1e25), "1.0e+25");
        assert_eq!(dbl(1.5e25), "1.5e+25");
        assert_eq!(dbl(1e-5), "1.0e-5");
        assert_eq!(dbl(1.25e-7), "1.25e-7");
        assert_eq!(dbl(0.0001), "0.0001");
        // Checked against PHP 8.2 json_encode (Debian php-cli).
        assert_eq!(dbl(1e16), "10000000000000000");
        assert_eq!(dbl(1e17), "1.0e+17");
        assert_eq!(dbl(0.00012), "0.00012");
        assert_eq!(dbl(123456.789), "123456.789");
        assert_eq!(dbl(0.0), "0");
        assert_eq!(dbl(-0.0), "-0");
    }

    #[test]
    fn integers_are_copied_as_written() {
        let v: Value = serde_json::from_str("[12345678901234567890123, -7, 0, 2.0, 1E2]").unwrap();
        let mut out = Vec::new();
        write_value(&mut out, &v);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[12345678901234567890123,-7,0,2,100]"
        );
    }
}
