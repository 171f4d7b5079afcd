use super::StoreArgs;
use clap::Args;
use matrix_snapshot::api::LINEAGE_WARN_DEPTH;
use std::process::ExitCode;

/// Validate a store and summarise it: counts and what each token can read.
///
/// Every rule of the store format is checked; problems are listed as FILE:LINE: MESSAGE (up to
/// 50 at once) and the exit code is 2.
#[derive(Debug, Args)]
#[command(after_long_help = "\
EXAMPLES:
  matrix-snapshot check
  matrix-snapshot generate --assets 1000 --out store
  matrix-snapshot check --store store
  matrix-snapshot check --format json")]
pub struct CheckArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Output format (json: format `matrix-snapshot-check/1`).
    #[arg(long, value_enum, default_value = "text")]
    format: super::Format,
}

impl CheckArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let catalog = self
            .store
            .load_catalog(self.format == super::Format::Json)?;
        let store = &catalog.store;
        let trashed = store.assets.iter().filter(|a| a.trashed).count();
        let growth = catalog.lineage_growth(LINEAGE_WARN_DEPTH);
        if let Some(g) = &growth {
            errln!(
                "matrix-snapshot: warning: the lineage of asset {:?} lists {} ancestors (warned from {LINEAGE_WARN_DEPTH}; links.jsonl): every lineage body lists each ancestor, so lineage files grow with the square of the depth: {} assets listed, about {:.1} MB for one data subset by id alone (each data subset of the profile and each URL adds as much). `export --dry-run` estimates the whole export; a flatter tree (or assets with URLs under fewer levels) shrinks it",
                g.id,
                g.depth,
                g.entries,
                g.bytes as f64 / 1e6
            );
        }
        if self.format == super::Format::Json {
            let tokens: Vec<serde_json::Value> = store
                .tokens
                .iter()
                .enumerate()
                .map(|(i, token)| match catalog.view(i as u32) {
                    Ok(view) => serde_json::json!({
                        "name": token.name,
                        "usable": true,
                        "reads": view.readable_count(),
                        "root_nodes": token.root_nodes,
                    }),
                    Err(why) => serde_json::json!({
                        "name": token.name,
                        "usable": false,
                        "why": why.to_string(),
                        "root_nodes": token.root_nodes,
                    }),
                })
                .collect();
            super::print_json(&serde_json::json!({
                "format": "matrix-snapshot-check/1",
                "valid": true,
                "store": store.meta.name,
                "assets": store.assets.len(),
                "trashed": trashed,
                "links": store.links.len(),
                "principals": store.principals.len(),
                "fingerprint": store.fingerprint,
                "tokens": tokens,
                "lineage_warning": growth.as_ref().map(|g| serde_json::json!({
                    "id": g.id,
                    "depth": g.depth,
                    "entries": g.entries,
                    "bytes": g.bytes,
                })),
            }))?;
            return Ok(ExitCode::SUCCESS);
        }
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
