//! Command-line interface: one `Args` struct and `run` per subcommand; handlers turn arguments
//! into library calls and do no work of their own.

/// Writes to stdout like `print!`, but a reader that closed the pipe (`| head`) ends the command
/// quietly (exit 0, see [`StdoutClosed`]) instead of panicking; other errors are returned.
macro_rules! out {
    ($($t:tt)*) => { $crate::cli::write_stdout(&format!($($t)*))? };
}

/// `out!` with a newline.
macro_rules! outln {
    ($($t:tt)*) => { $crate::cli::write_stdout(&format!("{}\n", format_args!($($t)*)))? };
}

/// Writes a line to stderr like `eprintln!`, but never panics: a closed stderr loses the
/// message, nothing more.
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

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
        errln!(
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

/// Where a token comes from without appearing on the command line: `--token-file FILE`
/// (surrounding whitespace ignored) or `--token-env VAR`. Flattened into every command that
/// takes a token (`export` adds `--token` to the same group; `crawl` requires one of them).
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// Read the token from a file (surrounding whitespace ignored).
    #[arg(long, value_name = "FILE", group = "token_source")]
    pub token_file: Option<PathBuf>,
    /// Read the token from an environment variable.
    #[arg(long, value_name = "VAR", group = "token_source")]
    pub token_env: Option<String>,
}

impl TokenArgs {
    /// The token from the file or the variable, if either is given.
    pub fn read(&self) -> anyhow::Result<Option<String>> {
        use anyhow::Context;
        if let Some(path) = &self.token_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the token from {}", path.display()))?;
            return Ok(Some(text.trim().to_string()));
        }
        if let Some(var) = &self.token_env {
            return std::env::var(var)
                .map(|v| Some(v.trim().to_string()))
                .with_context(|| format!("reading the token from ${var}"));
        }
        Ok(None)
    }
}

/// A value for `--cors` or `--cache-control`: it goes into HTTP headers and every host's
/// config as is, so it must be one line of visible ASCII (spaces allowed inside).
pub fn header_value(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_graphic() || *c == ' ')) {
        return Err(format!(
            "{c:?} cannot appear in an HTTP header value: use one line of visible ASCII characters (e.g. https://www.uni.test or \"public, max-age=300\")"
        ));
    }
    Ok(s.to_string())
}

/// The reader of stdout went away (a pipe into `head`, a pager that quit): not an error. The
/// binary exits 0 without a message, as ripgrep does; nothing else is written to stdout.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed by its reader")]
pub struct StdoutClosed;

/// Writes `text` to stdout and flushes it: `Err(StdoutClosed)` when the reader closed the pipe.
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("writing to stdout")),
    }
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
    errln!("matrix-snapshot: error: {err}");
    for cause in err.chain().skip(1) {
        errln!("  caused by: {cause}");
    }
}
