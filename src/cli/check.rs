use super::StoreArgs;
use clap::Args;
use std::process::ExitCode;

/// Validate a store and summarise it: counts and what each token can read.
///
/// Every rule of the store format is checked; problems are listed as FILE:LINE: MESSAGE (up to
/// 50 at once) and the exit code is 2.
#[derive(Debug, Args)]
#[command(
    after_long_help = "EXAMPLES:\n  matrix-snapshot check --store ./store\n  matrix-snapshot check"
)]
pub struct CheckArgs {
    #[command(flatten)]
    store: StoreArgs,
}

impl CheckArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let catalog = self.store.catalog()?;
        let store = &catalog.store;
        let trashed = store.assets.iter().filter(|a| a.trashed).count();
        outln!("store {:?} is valid", store.meta.name);
        outln!(
            "  {} assets ({} trashed), {} links, {} principals, {} tokens",
            store.assets.len(),
            trashed,
            store.links.len(),
            store.principals.len(),
            store.tokens.len()
        );
        outln!("  fingerprint {}", store.fingerprint);
        for (i, token) in store.tokens.iter().enumerate() {
            match catalog.view(i as u32) {
                Ok(view) => outln!(
                    "  token {:?}: reads {} assets{}",
                    token.name,
                    view.readable_count(),
                    if token.root_nodes.is_empty() {
                        String::new()
                    } else {
                        format!(" under root nodes {}", token.root_nodes.join(", "))
                    }
                ),
                Err(why) => outln!("  token {:?}: unusable ({why}): answers 401", token.name),
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
