use clap::Args;
use matrix_snapshot::generate::{generate, GenerateOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Write a synthetic store of N assets (deterministic for a seed).
///
/// The store is realistic: two or three sites, nested folders, pages with dependent bodycopies,
/// big news folders, multi-parent links, shadow ids, every status, nested groups, deny rows and
/// tokens `gen-public`, `gen-editor`, `gen-site1`, `gen-staff`, `gen-admin` (plus unusable
/// `gen-disabled`, `gen-trashed`, `gen-nouser`). It is written streaming (1M assets take ~10 s
/// and a few MB of memory) into a temporary directory that becomes DIR only when complete.
#[derive(Debug, Args)]
#[command(after_long_help = "\
EXAMPLES:
  matrix-snapshot generate --assets 10000 --out store10k
  matrix-snapshot generate --assets 10000 --contexts fr,mi --out store10k-contexts
  matrix-snapshot serve --store store10k")]
pub struct GenerateArgs {
    /// Number of assets.
    #[arg(long, value_name = "N")]
    assets: u64,
    /// Seed: the same N and seed always give the same bytes.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Output directory (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Declare these contexts besides Default (Content API 1.2.0 `context`), comma-separated;
    /// about 2 assets in 5 get translated fields in each.
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    contexts: Vec<String>,
}

impl GenerateArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let started = Instant::now();
        let report = generate(
            &GenerateOptions {
                assets: self.assets,
                seed: self.seed,
                contexts: self.contexts,
            },
            &self.out,
        )?;
        errln!(
            "matrix-snapshot: wrote {} ({} assets, {} links, {} permission rows, {} tokens, {:.1} MB) in {:.1}s",
            self.out.display(),
            report.assets,
            report.links,
            report.permissions,
            report.tokens,
            report.bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
        Ok(ExitCode::SUCCESS)
    }
}
