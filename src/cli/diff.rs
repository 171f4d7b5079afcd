use clap::{Args, ValueEnum};
use matrix_snapshot::diff;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Output formats of `diff`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// For people (coloured on a terminal).
    Text,
    /// For programs (schema in docs/diff.md).
    Json,
    /// For release notes and pull requests.
    Markdown,
}

/// When to colour text output.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

/// Compare two snapshots by content: assets added, removed, changed, moved, re-permissioned.
///
/// Manifests are compared first; only assets whose files differ are opened. For a changed
/// asset the report names the fields that changed (name, status, urls, dates, attribute and
/// metadata keys, contents with a short unified diff); moves come from lineage files and
/// permission changes from the forbidden markers.
#[derive(Debug, Args)]
#[command(after_long_help = "\
EXAMPLES:
  matrix-snapshot export --token demo-editor --base-url https://www.uni.test --out dist-editor
  matrix-snapshot diff dist dist-editor
  matrix-snapshot diff dist dist-editor --format markdown >> CHANGELOG.md
  matrix-snapshot diff dist dist-editor --format json --routes | jq .summary

Exit status like diff(1): 0 no differences, 1 differences, 2 trouble.")]
pub struct DiffArgs {
    /// The older snapshot directory.
    #[arg(value_name = "OLD")]
    old: PathBuf,
    /// The newer snapshot directory.
    #[arg(value_name = "NEW")]
    new: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Add file-level counts (files added, removed, changed).
    #[arg(long)]
    routes: bool,
    /// Colour text output (auto: on a terminal, unless NO_COLOR is set).
    #[arg(long, value_enum, default_value = "auto")]
    color: Color,
}

impl DiffArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let d = diff::diff(&self.old, &self.new, self.routes)?;
        let format = match self.format {
            Format::Text => diff::Format::Text,
            Format::Json => diff::Format::Json,
            Format::Markdown => diff::Format::Markdown,
        };
        // Only text is coloured: JSON and Markdown go to programs and files.
        let color = format == diff::Format::Text
            && match self.color {
                Color::Always => true,
                Color::Never => false,
                // https://no-color.org: a NO_COLOR that is set and not empty turns colours off.
                Color::Auto => {
                    std::io::stdout().is_terminal()
                        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                }
            };
        out!("{}", paint(&diff::render(&d, format), color));
        Ok(if d.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
}

/// The rendered diff as text, with ANSI colours by role when `color`.
fn paint(rendered: &diff::Rendered, color: bool) -> String {
    use anstyle::{AnsiColor, Style};
    use diff::Role;
    let mut out = String::new();
    for (role, text) in &rendered.pieces {
        let style = match role {
            Role::Plain => Style::new(),
            Role::Heading => Style::new().bold(),
            Role::Added => AnsiColor::Green.on_default(),
            Role::Removed => AnsiColor::Red.on_default(),
            Role::Changed => AnsiColor::Yellow.on_default(),
        };
        if color && *role != Role::Plain {
            out.push_str(&format!("{}{text}{}", style.render(), style.render_reset()));
        } else {
            out.push_str(text);
        }
    }
    out
}
