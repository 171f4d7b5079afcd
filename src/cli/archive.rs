use clap::Args;
use matrix_snapshot::archive::{self, ArchiveOptions};
use std::path::PathBuf;
use std::process::ExitCode;

/// Write a snapshot as a web archive (WARC/1.1, .warc.gz) for standard web-archive tools.
///
/// Every request of the manifest becomes a `response` record (status line, Content-Type,
/// Content-Length, body) under its canonical URL https://HOST/__api/..., after one `warcinfo`
/// record. The output is deterministic: WARC-Date comes from --date, else SOURCE_DATE_EPOCH,
/// else the time snapshot.json was written; record ids are derived from content hashes.
/// Replay it with pywb, read it with warcio (docs/archive.md).
#[derive(Debug, Args)]
#[command(after_long_help = "\
EXAMPLES:
  matrix-snapshot archive dist --warc uni-2026-11.warc.gz
  matrix-snapshot archive dist --warc uni.warc.gz --base-url https://www.uni.test --date 2026-11-25T00:00:00Z
  SOURCE_DATE_EPOCH=1764028800 matrix-snapshot archive dist --warc uni.warc.gz")]
pub struct ArchiveArgs {
    /// The snapshot directory.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// The .warc.gz to write (replaced atomically).
    #[arg(long, value_name = "OUT")]
    warc: PathBuf,
    /// scheme://host of the archived URLs (default: the snapshot's --base-url).
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// WARC-Date of every record (RFC 3339, e.g. 2026-11-25T00:00:00Z).
    #[arg(long, value_name = "DATE")]
    date: Option<String>,
}

impl ArchiveArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let r = archive::archive(
            &self.dir,
            &self.warc,
            &ArchiveOptions {
                base_url: self.base_url,
                date: self.date,
            },
        )?;
        eprintln!(
            "matrix-snapshot: wrote {}: {} response records, {:.1} MB, WARC-Date {}",
            self.warc.display(),
            r.records,
            r.bytes as f64 / 1e6,
            r.date
        );
        Ok(ExitCode::SUCCESS)
    }
}
