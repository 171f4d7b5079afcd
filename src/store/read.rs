//! Reading the store's files: from a directory or from memory, JSON Lines in blocks parsed in
//! parallel, each record's source hash and the store fingerprint.

use super::diagnostic::{Diagnostics, LoadError};
use rayon::prelude::*;
use serde::de::DeserializeOwned;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Where the files come from.
pub(super) enum Source<'a> {
    Dir(&'a Path),
    Memory(&'a [(&'a str, &'a [u8])]),
}

impl Source<'_> {
    pub(super) fn open(&self, name: &str) -> Result<Box<dyn BufRead + Send + '_>, LoadError> {
        match self {
            Source::Dir(dir) => {
                let path = dir.join(name);
                let file = std::fs::File::open(&path).map_err(|source| LoadError::Io {
                    path: path.clone(),
                    source,
                })?;
                Ok(Box::new(BufReader::with_capacity(1 << 20, file)))
            }
            Source::Memory(files) => {
                let bytes = files
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, b)| *b)
                    .unwrap_or(b"");
                Ok(Box::new(bytes))
            }
        }
    }

    pub(super) fn io_error(&self, name: &str, source: io::Error) -> LoadError {
        let path = match self {
            Source::Dir(dir) => dir.join(name),
            Source::Memory(_) => PathBuf::from(name),
        };
        LoadError::Io { path, source }
    }
}

/// Serde's message without its "at line 1 column N" suffix (we report the file line).
pub(super) fn serde_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            format!("malformed JSON: {text} (column {})", e.column())
        }
        _ => text,
    }
}

/// A record parsed from its line's bytes; the error is the message a diagnostic gives.
///
/// The line is checked to be UTF-8 once, whole, and parsed as text: serde_json checks each
/// string of a byte slice on its own, which took a seventh of a 1M-asset store's load and of
/// reading an asset's fields again. It accepts what parsing the bytes accepted: bytes that
/// are not UTF-8 were an error there too, inside a string or out of one.
pub(super) fn parse_line<R: DeserializeOwned>(bytes: &[u8]) -> Result<R, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        format!(
            "not UTF-8: byte 0x{:02X} at column {} is not part of a valid UTF-8 character; store files are UTF-8 (convert the file, e.g. `iconv -f latin1 -t utf-8`)",
            bytes[at],
            at + 1
        )
    })?;
    serde_json::from_str(text).map_err(|e| serde_message(&e))
}

/// Bytes parsed per parallel batch. Unit tests use a tiny block so that every fixture line
/// crosses block boundaries, where a reader bug would hide.
#[cfg(not(test))]
const BATCH_BYTES: usize = 8 << 20;
#[cfg(test)]
const BATCH_BYTES: usize = 64;

/// Reads a JSON Lines file in blocks of [`BATCH_BYTES`], parsing the lines of each block in
/// parallel and turning each record into its final form with `convert` (given the record, its
/// line number, its bytes and the offset of its first byte in the file; so no intermediate
/// vector of raw records is ever held); keeps line numbers. The bytes are hashed in order.
pub(super) fn read_jsonl<R, T>(
    src: &Source,
    name: &str,
    diags: &Diagnostics,
    hasher: &mut blake3::Hasher,
    convert: impl Fn(R, u64, &[u8], u64) -> T + Sync,
) -> Result<(Vec<T>, Vec<u64>), LoadError>
where
    R: DeserializeOwned,
    T: Send,
{
    let mut reader = src.open(name)?;
    hash_file_start(hasher, name);
    let mut records = Vec::new();
    let mut lines = Vec::new();
    let mut next_line = 1u64;
    let mut block_offset = 0u64;
    // Two blocks: the next is read on this thread while the pool hashes and parses this one
    // (read before each parse, it left the pool idle a fifth of a 1M-asset store's load).
    let mut block: Vec<u8> = Vec::with_capacity(BATCH_BYTES + (64 << 10));
    let mut next: Vec<u8> = Vec::with_capacity(BATCH_BYTES + (64 << 10));
    let mut eof = fill_block(&mut reader, &mut block).map_err(|e| src.io_error(name, e))?;
    loop {
        // Lines found with memchr: splitting byte by byte took 0.12 s of a 0.9 s load (100k assets).
        let mut numbered: Vec<(u64, &[u8], u64)> = Vec::new();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', &block).chain([block.len()]) {
            let line = &block[start..end];
            if !line.iter().all(u8::is_ascii_whitespace) {
                numbered.push((next_line, line, block_offset + start as u64));
            }
            next_line += 1;
            start = end + 1;
        }
        // The piece after the block's last newline is not a line of its own.
        next_line -= 1;
        let mut parsed: Vec<(u64, Option<T>)> = Vec::new();
        let mut filled = Ok(true);
        rayon::in_place_scope(|scope| {
            let (block, numbered, parsed, hasher) = (&block, &numbered, &mut parsed, &mut *hasher);
            let convert = &convert;
            scope.spawn(move |_| {
                // The block is hashed into the fingerprint while its lines are parsed
                // (serially, the hash took a tenth of a 1M-asset store's load).
                let ((), lines) = rayon::join(
                    || {
                        hasher.update(block);
                    },
                    || {
                        numbered
                            .par_iter()
                            .map(|&(n, bytes, offset)| match parse_line::<R>(bytes) {
                                Ok(r) => (n, Some(convert(r, n, bytes, offset))),
                                Err(message) => {
                                    diags.push(name, n, message);
                                    (n, None)
                                }
                            })
                            .collect()
                    },
                );
                *parsed = lines;
            });
            if !eof {
                filled = fill_block(&mut reader, &mut next);
            }
        });
        for (n, v) in parsed {
            if let Some(v) = v {
                records.push(v);
                lines.push(n);
            }
        }
        let filled = filled.map_err(|e| src.io_error(name, e))?;
        block_offset += block.len() as u64;
        if eof {
            break;
        }
        block.clear();
        std::mem::swap(&mut block, &mut next);
        eof = filled;
    }
    hasher.update(&[0xff]);
    Ok((records, lines))
}

/// Reads into the empty `block` up to [`BATCH_BYTES`], then up to the end of a line; whether
/// the file ended.
fn fill_block(reader: &mut impl BufRead, block: &mut Vec<u8>) -> io::Result<bool> {
    while block.len() < BATCH_BYTES {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(true);
        }
        let take = buf.len().min(BATCH_BYTES - block.len());
        block.extend_from_slice(&buf[..take]);
        reader.consume(take);
    }
    Ok(reader.read_until(b'\n', block)? == 0)
}

/// A record's source hash: the first 16 bytes of blake3 over its line, surrounding whitespace
/// removed (what incremental exports compare to know a record did not change).
pub(super) fn source_hash(line: &[u8]) -> u128 {
    let trimmed = line.trim_ascii();
    let h = blake3::hash(trimmed);
    u128::from_le_bytes(h.as_bytes()[..16].try_into().expect("16 bytes"))
}

/// The store fingerprint is blake3 over each file in [`FILES`] order as `name 0x00 bytes 0xff`.
pub(super) fn hash_file_start(hasher: &mut blake3::Hasher, name: &str) {
    hasher.update(name.as_bytes());
    hasher.update(&[0]);
}
