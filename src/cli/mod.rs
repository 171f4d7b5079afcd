//! Command-line interface: one `Args` struct and `run` per subcommand; handlers turn arguments
//! into library calls and do no work of their own.

mod archive;
mod check;
mod conformance;
mod crawl;
mod diff;
mod export;
mod generate;
mod preview;
mod router;
mod serve;
mod verify;

use clap::{Args, Parser, Subcommand};
use matrix_snapshot::{Catalog, Store};
use std::path::PathBuf;
use std::process::ExitCode;

const EXIT_CODES: &str = "\
Exit codes: 0 success; 1 the command ran but the answer is \"no\"; 2 error (bad input, usage, I/O).";

/// Render a Squiz Matrix Content API into static files, or serve it live.
///
/// matrix-snapshot reads a *store* (a directory of JSON Lines files describing assets, links,
/// users, permissions and Content API tokens; see shared/spec/store-format.md) and answers
/// `GET /__api/...` requests exactly as Matrix's Content API does. Without --store, commands use
/// the demo university site compiled into the binary (tokens: demo-public, demo-editor,
/// demo-research, demo-admin; see demo/README.md).
#[derive(Debug, Parser)]
#[command(name = "matrix-snapshot", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Export(export::ExportArgs),
    Serve(serve::ServeArgs),
    Preview(preview::PreviewArgs),
    Conformance(conformance::ConformanceArgs),
    Crawl(crawl::CrawlArgs),
    Router(router::RouterArgs),
    Verify(verify::VerifyArgs),
    Diff(diff::DiffArgs),
    Archive(archive::ArchiveArgs),
    Check(check::CheckArgs),
    Generate(generate::GenerateArgs),
}

/// Where the store comes from (shared by every command that reads one).
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Store directory (store.json + *.jsonl); default: the embedded demo site.
    #[arg(long, value_name = "DIR", help_heading = "Input")]
    pub store: Option<PathBuf>,
}

impl StoreArgs {
    /// Loads the store (or the embedded demo).
    pub fn load(&self) -> anyhow::Result<Store> {
        Ok(match &self.store {
            Some(dir) => Store::load(dir)?,
            None => matrix_snapshot::demo::store()?,
        })
    }

    /// Loads the store and builds its catalog, saying what it loaded on stderr.
    pub fn catalog(&self) -> anyhow::Result<Catalog> {
        let started = std::time::Instant::now();
        let store = self.load()?;
        let catalog = Catalog::new(store);
        eprintln!(
            "matrix-snapshot: loaded {:?}: {} assets, {} links, {} tokens in {:.2}s",
            catalog.store.meta.name,
            catalog.store.assets.len(),
            catalog.store.links.len(),
            catalog.store.tokens.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(catalog)
    }
}

/// A token from `--token-file FILE` (surrounding whitespace ignored) or `--token-env VAR`, if
/// either is given. Tokens never have to appear on a command line.
pub fn read_token(
    file: Option<&std::path::Path>,
    env: Option<&str>,
) -> anyhow::Result<Option<String>> {
    use anyhow::Context;
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the token from {}", path.display()))?;
        return Ok(Some(text.trim().to_string()));
    }
    if let Some(var) = env {
        return std::env::var(var)
            .map(|v| Some(v.trim().to_string()))
            .with_context(|| format!("reading the token from ${var}"));
    }
    Ok(None)
}

/// A value for `--cors`: an origin as browsers send it, or `*` (checked against its grammar:
/// it goes into HTTP headers and every host's config, `matrix_snapshot::router::values`).
pub fn origin(s: &str) -> Result<String, String> {
    matrix_snapshot::router::values::origin(s)
}

/// A value for `--cache-control`: RFC 9111's list of directives (see [`origin`]).
pub fn cache_control(s: &str) -> Result<String, String> {
    matrix_snapshot::router::values::cache_control(s)
}

/// A value for `router --listen`: `HOST:PORT` (see [`origin`]).
pub fn listen(s: &str) -> Result<String, String> {
    matrix_snapshot::router::values::listen(s)
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Export(args) => args.run(),
        Command::Serve(args) => args.run(),
        Command::Preview(args) => args.run(),
        Command::Conformance(args) => args.run(),
        Command::Crawl(args) => args.run(),
        Command::Router(args) => args.run(),
        Command::Verify(args) => args.run(),
        Command::Diff(args) => args.run(),
        Command::Archive(args) => args.run(),
        Command::Check(args) => args.run(),
        Command::Generate(args) => args.run(),
    }
}

/// Prints an error as a headline plus one `caused by:` line per source.
pub fn report_error(err: &anyhow::Error) {
    eprintln!("matrix-snapshot: error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
