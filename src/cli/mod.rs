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
mod completions;
mod conformance;
mod crawl;
mod diff;
mod export;
mod generate;
mod preview;
mod progress;
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
/// users, permissions and Content API tokens; see docs/store-format.md) and answers
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
    Completions(completions::CompletionsArgs),
    Man(completions::ManArgs),
}

/// Output format of `check`, `verify` and `export`'s summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For programs: one JSON object on stdout (schemas in docs/json-output.md).
    Json,
}

/// Prints `value` as pretty JSON and a newline on stdout.
pub fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    write_stdout(&format!("{text}\n"))
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
        self.load_catalog(false)
    }

    /// [`StoreArgs::catalog`], silent when `quiet` (`-q`, or output for programs).
    pub fn load_catalog(&self, quiet: bool) -> anyhow::Result<Catalog> {
        let started = std::time::Instant::now();
        let store = self.load()?;
        let catalog = Catalog::new(store);
        if quiet {
            return Ok(catalog);
        }
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

/// Parses the command line, or prints help or a usage error and exits.
///
/// A command's long help ends with EXAMPLES, complete command lines to copy. clap wraps every
/// help text to the terminal (100 columns when stdout is no terminal), which would cut an
/// example in two; so the examples are taken out of clap's help and printed after it as they
/// are written, while the prose above them still wraps to the terminal.
pub fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let mut cmd = Cli::command();
    let mut examples = Vec::new();
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        let sub = cmd.find_subcommand(&name).expect("listed");
        if let Some(text) = sub.get_after_long_help() {
            examples.push((name.clone(), text.to_string()));
            cmd = cmd.mut_subcommand(&name, |s| s.after_long_help(None::<&str>));
        }
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match cmd.try_get_matches_from_mut(&args) {
        Ok(matches) => {
            Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut cmd).exit())
        }
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            let _ = e.print();
            if let Some(name) = long_help_of(&args) {
                if let Some((_, text)) = examples.iter().find(|(n, _)| *n == name) {
                    let _ = write_stdout(&format!("\n{text}\n"));
                }
            }
            std::process::exit(0);
        }
        Err(e) => e.exit(),
    }
}

/// The subcommand whose long help `args` ask for (`CMD --help` or `help CMD`), if any.
fn long_help_of(args: &[std::ffi::OsString]) -> Option<String> {
    let words: Vec<&str> = args.iter().skip(1).filter_map(|a| a.to_str()).collect();
    let mut positional = words.iter().filter(|w| !w.starts_with('-'));
    match positional.next() {
        Some(&"help") => positional.next().map(|s| s.to_string()),
        Some(name) if words.contains(&"--help") => Some(name.to_string()),
        _ => None,
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    matrix_snapshot::rss::without_huge_pages();
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
        Command::Completions(args) => args.run(),
        Command::Man(args) => args.run(),
    }
}

/// Prints an error as a headline plus one `caused by:` line per source that says something the
/// lines above did not (a message that already quotes its cause is not followed by it again).
pub fn report_error(err: &anyhow::Error) {
    for line in error_lines(err) {
        errln!("{line}");
    }
}

/// The lines [`report_error`] prints.
fn error_lines(err: &anyhow::Error) -> Vec<String> {
    let mut lines = vec![format!("matrix-snapshot: error: {err}")];
    let mut said = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !said.contains(&text) {
            lines.push(format!("  caused by: {text}"));
            said.push_str(&text);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The words of a shell command line up to a pipe, redirection, `&` or comment, without
    /// leading `VAR=value` assignments (single and double quotes, no expansions).
    fn shell_words(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let (mut word, mut quote, mut any) = (String::new(), None, false);
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    any = true;
                }
                (None, ' ') => {
                    if any || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    any = false;
                }
                (None, c) => word.push(c),
            }
        }
        if any || !word.is_empty() {
            words.push(word);
        }
        let end = words
            .iter()
            .position(|w| ["|", ">", ">>", "&", "#"].contains(&w.as_str()))
            .unwrap_or(words.len());
        words.truncate(end);
        let start = words.iter().position(|w| !w.contains('=')).unwrap_or(0);
        words.drain(..start);
        words
    }

    /// Every `matrix-snapshot` example of README.md's `sh` blocks and of every command's
    /// EXAMPLES parses with clap (tests/it/examples.rs runs those that need only this machine;
    /// this also covers those that need a live Matrix).
    #[test]
    fn every_example_parses() {
        let mut lines: Vec<(String, String)> = Vec::new();
        let mut inside = false;
        for line in include_str!("../../README.md").lines() {
            if line.starts_with("```") {
                inside = !inside && line == "```sh";
            } else if inside {
                let line = line.replace("cargo run --release -- ", "matrix-snapshot ");
                lines.push(("README.md".into(), line));
            }
        }
        let cmd = Cli::command();
        for sub in cmd.get_subcommands() {
            let text = sub
                .get_after_long_help()
                .map(|t| t.to_string())
                .unwrap_or_default();
            let examples: Vec<&str> = text
                .lines()
                .skip_while(|l| *l != "EXAMPLES:")
                .skip(1)
                .take_while(|l| l.starts_with("  "))
                .collect();
            assert!(
                !examples.is_empty(),
                "{} --help has examples",
                sub.get_name()
            );
            for l in examples {
                lines.push((format!("{} --help", sub.get_name()), l.to_string()));
            }
        }
        let mut parsed = 0;
        for (source, line) in &lines {
            let words = shell_words(line.trim());
            if words.first().map(String::as_str) != Some("matrix-snapshot") {
                continue;
            }
            if let Err(e) = Cli::try_parse_from(&words) {
                panic!("{source}: {line}\n{e}");
            }
            parsed += 1;
        }
        assert!(parsed >= 40, "only {parsed} examples found");
    }

    #[test]
    fn shell_words_stop_at_pipes_and_skip_assignments() {
        assert_eq!(
            shell_words("MATRIX_TOKEN=... matrix-snapshot export --token-env 'A B' --out d | jq ."),
            [
                "matrix-snapshot",
                "export",
                "--token-env",
                "A B",
                "--out",
                "d"
            ]
        );
        assert_eq!(
            shell_words("matrix-snapshot serve &   # the demo"),
            ["matrix-snapshot", "serve"]
        );
    }

    #[test]
    fn a_cause_the_headline_already_quotes_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let err = anyhow::Error::new(io).context("cannot read x.toml: No such file");
        assert_eq!(
            error_lines(&err),
            ["matrix-snapshot: error: cannot read x.toml: No such file"]
        );
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let err = anyhow::Error::new(io).context("reading the token from t.txt");
        assert_eq!(
            error_lines(&err),
            [
                "matrix-snapshot: error: reading the token from t.txt",
                "  caused by: No such file"
            ]
        );
    }
}
