use clap::{ArgGroup, Args};
use matrix_snapshot::archive::{self, ArchiveOptions, Targets};
use std::path::PathBuf;
use std::process::ExitCode;

/// Write a snapshot as a web archive: WARC/1.1 (.warc.gz), WACZ 1.1.1 (.wacz), or both.
///
/// Every request of the manifest becomes a `response` record (status line, Content-Type,
/// Content-Length, body) under its canonical URL https://HOST/__api/..., after one `warcinfo`
/// record. --wacz packages that WARC as a WACZ 1.1.1 (a ZIP with a CDXJ index, a page list of
/// every asset route without query, and datapackage.json with every file's sha256). Every file is
/// checked against the manifest as it is read: a snapshot changed after export is refused. The output
/// is deterministic: WARC-Date comes from --date, else SOURCE_DATE_EPOCH, else the time
/// snapshot.json was written; record ids are derived from content hashes (docs/archive.md).
#[derive(Debug, Args)]
#[command(
    group(ArgGroup::new("output").required(true).multiple(true).args(["warc", "wacz"])),
    after_long_help = "\
EXAMPLES:
  matrix-snapshot archive dist --warc uni-2026-11.warc.gz
  matrix-snapshot archive dist --wacz uni-2026-11.wacz
  matrix-snapshot archive dist --warc research.warc.gz --base-url https://research.uni.test --date 2026-11-25T00:00:00Z
  matrix-snapshot archive dist --warc uni.warc.gz --wacz uni.wacz --date 2026-11-25T00:00:00Z
  SOURCE_DATE_EPOCH=1764028800 matrix-snapshot archive dist --wacz uni.wacz
  wacz validate -f uni.wacz   # py-wacz (pip install wacz)"
)]
pub struct ArchiveArgs {
    /// The snapshot directory.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// The .warc.gz to write (replaced atomically).
    #[arg(long, value_name = "OUT")]
    warc: Option<PathBuf>,
    /// The .wacz to write (replaced atomically): the same WARC with an index, pages and metadata.
    #[arg(long, value_name = "OUT")]
    wacz: Option<PathBuf>,
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
            &Targets {
                warc: self.warc.clone(),
                wacz: self.wacz.clone(),
            },
            &ArchiveOptions {
                base_url: self.base_url,
                date: self.date,
            },
        )?;
        if let (Some(out), Some(bytes)) = (&self.warc, r.warc_bytes) {
            errln!(
                "matrix-snapshot: wrote {}: {} response records, {:.1} MB, WARC-Date {}",
                out.display(),
                r.records,
                bytes as f64 / 1e6,
                r.date
            );
        }
        if let (Some(out), Some(bytes)) = (&self.wacz, r.wacz_bytes) {
            errln!(
                "matrix-snapshot: wrote {}: WACZ {}, {} response records, {} pages, {:.1} MB, WARC-Date {}",
                out.display(),
                archive::WACZ_VERSION,
                r.records,
                r.pages,
                bytes as f64 / 1e6,
                r.date
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
