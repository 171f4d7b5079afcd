//! Writing the store's files: one [`Sink`] per file, counting lines and bytes, and the helpers
//! that append JSON to a line.

use anyhow::{Context, Result};
use std::fmt::Arguments;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// One output file, counting lines and bytes.
pub(super) struct Sink {
    name: &'static str,
    w: BufWriter<File>,
    lines: u64,
    bytes: u64,
}

impl Sink {
    pub(super) fn create(dir: &Path, name: &'static str) -> Result<Self> {
        let path = dir.join(name);
        let f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self {
            name,
            w: BufWriter::with_capacity(1 << 18, f),
            lines: 0,
            bytes: 0,
        })
    }

    /// Writes `line` (which ends with `\n`).
    pub(super) fn put(&mut self, line: &[u8]) -> Result<()> {
        self.w
            .write_all(line)
            .with_context(|| format!("writing {}", self.name))?;
        self.lines += 1;
        self.bytes += line.len() as u64;
        Ok(())
    }

    pub(super) fn finish(mut self) -> Result<(u64, u64)> {
        self.w
            .flush()
            .with_context(|| format!("writing {}", self.name))?;
        self.w
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .with_context(|| format!("writing {}", self.name))?;
        Ok((self.lines, self.bytes))
    }
}

/// Appends formatted text.
pub(super) fn pushf(buf: &mut Vec<u8>, args: Arguments<'_>) {
    buf.write_fmt(args).expect("writing into a Vec cannot fail");
}

/// Appends `s` as a JSON string, escaped by serde_json.
pub(super) fn push_str(buf: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *buf, s).expect("serialising a str into a Vec cannot fail");
}

/// Appends a principal id (`"40"`).
pub(super) fn push_pid(buf: &mut Vec<u8>, id: u64) {
    pushf(buf, format_args!("\"{id}\""));
}
