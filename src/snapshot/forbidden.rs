//! The files layout's forbidden-URL tables (decision D-057, `docs/snapshot-format.md`): the
//! URLs of live assets the token may not read, recorded only by a hash, so routers answer the
//! live API's 403 for them while no file name, manifest line or table shows a URL.
//!
//! A URL's **line** is the first [`LINE_HEX`] lower-case hex digits of the SHA-256 of its
//! forbidden marker's path, `<url directory>/~forbidden.json` (`path::forbidden_file` of
//! `path::url_dir` of the URL key: the path routers already build, and the key the pack layout
//! hashes for the same marker). Lines are split by their first `digits` hex digits
//! (`routes.json`'s `forbidden_url_digits`, 0 to [`MAX_DIGITS`]) into `16^digits` tables,
//! `__api/~/forbidden-urls/f<digits>.txt` (`f.txt` alone when `digits` is 0), each the sorted
//! lines of its share, every line ending in `\n` (33 bytes a line, so a line is found by a
//! substring search or a binary search alike). Few forbidden URLs make one small file; a token
//! limited to root nodes, whose every other URL is forbidden, makes at most 65,536 tables of
//! about [`LINES_PER_TABLE`] lines or fewer: compact, not one file per URL.

use sha2::{Digest, Sha256};

/// The directory of the tables, relative to the web root.
pub const DIR: &str = "__api/~/forbidden-urls";
/// Hex digits of a line (128 bits: two different URLs share a line with odds of about
/// n²/2¹²⁹).
pub const LINE_HEX: usize = 32;
/// The most hex digits tables are split by (65,536 tables).
pub const MAX_DIGITS: u8 = 4;
/// The most lines a table holds on average before the lines are split by one more digit
/// (34 KiB: a router that reads a whole table per lookup reads little).
pub const LINES_PER_TABLE: usize = 1024;

/// A line: the first 16 bytes of the hash.
pub type Line = [u8; LINE_HEX / 2];

/// The line of the forbidden marker `marker` (`<url directory>/~forbidden.json`).
pub fn line_of(marker: &str) -> Line {
    let digest = Sha256::digest(marker.as_bytes());
    let mut line = [0u8; LINE_HEX / 2];
    line.copy_from_slice(&digest[..LINE_HEX / 2]);
    line
}

/// `line` in hex, as a table holds it (without its `\n`).
pub fn hex(line: &Line) -> String {
    line.iter().map(|b| format!("{b:02x}")).collect()
}

/// The number of hex digits that split `count` lines into tables of at most
/// [`LINES_PER_TABLE`] lines on average.
pub fn digits_for(count: usize) -> u8 {
    let mut digits = 0;
    while digits < MAX_DIGITS && count > LINES_PER_TABLE << (4 * digits) {
        digits += 1;
    }
    digits
}

/// The table (path relative to the web root) that holds `hex_line` when lines are split by
/// `digits` hex digits.
pub fn table_file(digits: u8, hex_line: &str) -> String {
    let digits = usize::from(digits).min(hex_line.len());
    format!("{DIR}/f{}.txt", &hex_line[..digits])
}

/// Every table for `lines` (sorted, distinct), split by `digits` hex digits: `(path relative to
/// the web root, bytes)`, in path order, empty tables included (a router never meets a missing
/// one).
pub fn tables(lines: &[Line], digits: u8) -> Vec<(String, Vec<u8>)> {
    let count = 1usize << (4 * digits);
    let mut out: Vec<(String, Vec<u8>)> = (0..count)
        .map(|i| {
            let prefix = if digits == 0 {
                String::new()
            } else {
                format!("{i:0width$x}", width = usize::from(digits))
            };
            (format!("{DIR}/f{prefix}.txt"), Vec::new())
        })
        .collect();
    for line in lines {
        // The top `4 * digits` bits of the line.
        let top = u32::from_be_bytes([line[0], line[1], line[2], line[3]]);
        let i = if digits == 0 {
            0
        } else {
            (top >> (32 - 4 * u32::from(digits))) as usize
        };
        let table = &mut out[i].1;
        table.extend_from_slice(hex(line).as_bytes());
        table.push(b'\n');
    }
    out
}

/// Whether a table's bytes list `hex_line` (a whole line: lines are fixed-width, so a match of
/// the line and its `\n` can only start at a line's start).
pub fn lists(table: &[u8], hex_line: &str) -> bool {
    let width = LINE_HEX + 1;
    if hex_line.len() != LINE_HEX || table.len() % width != 0 {
        return false;
    }
    let lines: Vec<&[u8]> = table.chunks_exact(width).collect();
    lines
        .binary_search_by(|l| l[..LINE_HEX].cmp(hex_line.as_bytes()))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_the_sha256_prefix_of_the_marker_path() {
        let marker = "__api/assets/by_url/www.site/x/~forbidden.json";
        let full: String = Sha256::digest(marker.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex(&line_of(marker)), full[..LINE_HEX]);
    }

    #[test]
    fn digits_grow_with_the_count() {
        assert_eq!(digits_for(0), 0);
        assert_eq!(digits_for(1024), 0);
        assert_eq!(digits_for(1025), 1);
        assert_eq!(digits_for(16 * 1024), 1);
        assert_eq!(digits_for(16 * 1024 + 1), 2);
        assert_eq!(digits_for(usize::MAX / 2), MAX_DIGITS);
    }

    #[test]
    fn tables_split_sorted_lines_and_find_them() {
        let mut lines: Vec<Line> = (0..3000)
            .map(|i| line_of(&format!("__api/assets/by_url/h/{i}/~forbidden.json")))
            .collect();
        lines.sort();
        let digits = digits_for(lines.len());
        assert_eq!(digits, 1);
        let tables = tables(&lines, digits);
        assert_eq!(tables.len(), 16);
        assert_eq!(tables[0].0, "__api/~/forbidden-urls/f0.txt");
        assert_eq!(tables[15].0, "__api/~/forbidden-urls/ff.txt");
        let total: usize = tables.iter().map(|(_, b)| b.len()).sum();
        assert_eq!(total, 3000 * 33);
        for line in &lines {
            let h = hex(line);
            let file = table_file(digits, &h);
            let (_, bytes) = tables.iter().find(|(p, _)| *p == file).unwrap();
            assert!(lists(bytes, &h), "{h} in {file}");
            // Only there.
            let elsewhere = tables.iter().filter(|(_, b)| lists(b, &h)).count();
            assert_eq!(elsewhere, 1);
        }
        let absent = hex(&line_of("__api/assets/by_url/h/x/~forbidden.json"));
        let (_, bytes) = tables
            .iter()
            .find(|(p, _)| *p == table_file(digits, &absent))
            .unwrap();
        assert!(!lists(bytes, &absent));
        // Not a part of a line, nor a damaged table.
        assert!(!lists(bytes, &absent[..31]));
        assert!(!lists(&bytes[1..], &hex(&lines[0])));
    }

    #[test]
    fn no_digits_one_table() {
        let line = line_of("__api/assets/by_url/a/~forbidden.json");
        let t = tables(&[line], 0);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].0, "__api/~/forbidden-urls/f.txt");
        assert_eq!(table_file(0, &hex(&line)), t[0].0);
        assert_eq!(t[0].1, format!("{}\n", hex(&line)).into_bytes());
    }
}
