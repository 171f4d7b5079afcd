use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Write a synthetic store of N assets (deterministic for a seed).
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of assets.
    #[arg(long, value_name = "N")]
    assets: u64,
    /// Seed.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Output directory (must not exist or be empty).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

impl GenerateArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!(
            "generate is not wired yet ({} assets, seed {}, {})",
            self.assets,
            self.seed,
            self.out.display()
        )
    }
}
