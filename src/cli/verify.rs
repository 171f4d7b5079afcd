use clap::Args;
use matrix_snapshot::verify::{self, Problem};
use std::path::PathBuf;
use std::process::ExitCode;

/// Check a snapshot against its manifest and root hash.
///
/// Every file listed in DIR/manifest.jsonl must exist under DIR/public with the listed size and
/// blake3; no other file may be there; the manifest must hash to the root hash recorded in
/// DIR/snapshot.json. Files are hashed in parallel, each hard-linked body once. Nothing is
/// written.
#[derive(Debug, Args)]
#[command(after_long_help = "\
EXAMPLES:
  matrix-snapshot verify dist
  matrix-snapshot verify /archive/2026-11-25 --show 100

Exit status: 0 intact, 1 something differs (each problem is listed), 2 not a readable snapshot.")]
pub struct VerifyArgs {
    /// The snapshot directory.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// How many problems to list.
    #[arg(long, value_name = "N", default_value_t = 20)]
    show: usize,
}

impl VerifyArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let r = verify::verify(&self.dir)?;
        let gbs = r.bytes_read as f64 / 1e9 / r.seconds.max(1e-9);
        outln!(
            "{}: {} files, {:.1} MB served ({} bodies, {:.1} MB read) checked in {:.2}s ({gbs:.2} GB/s read)",
            self.dir.display(),
            r.files,
            r.bytes as f64 / 1e6,
            r.inodes,
            r.bytes_read as f64 / 1e6,
            r.seconds,
        );
        if r.ok() {
            outln!("ok: every file matches the manifest, and the manifest matches the root hash");
            return Ok(ExitCode::SUCCESS);
        }
        let count = |f: fn(&Problem) -> bool| r.problems.iter().filter(|p| f(p)).count();
        outln!(
            "FAILED: {} problems: {} missing, {} extra, {} changed, {} other",
            r.problems.len(),
            count(|p| matches!(p, Problem::Missing(_))),
            count(|p| matches!(p, Problem::Extra(_))),
            count(|p| matches!(p, Problem::Size { .. } | Problem::Hash(_))),
            count(|p| !matches!(
                p,
                Problem::Missing(_) | Problem::Extra(_) | Problem::Size { .. } | Problem::Hash(_)
            )),
        );
        for p in r.problems.iter().take(self.show) {
            outln!("  {p}");
        }
        if r.problems.len() > self.show {
            outln!("  … and {} more (--show N)", r.problems.len() - self.show);
        }
        Ok(ExitCode::from(1))
    }
}
