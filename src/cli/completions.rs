use clap::{Args, CommandFactory};
use clap_complete::Shell;
use std::process::ExitCode;

/// Print a shell completion script for matrix-snapshot (generated from its options).
///
/// Source it, or put it where your shell loads completions from.
#[derive(Debug, Args)]
#[command(after_long_help = "\
EXAMPLES:
  matrix-snapshot completions bash > matrix-snapshot.bash
  matrix-snapshot completions zsh > _matrix-snapshot
  matrix-snapshot completions fish > matrix-snapshot.fish

Where each shell loads them from: bash ~/.local/share/bash-completion/completions/matrix-snapshot;
zsh a directory of your $fpath, as _matrix-snapshot; fish ~/.config/fish/completions/.")]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_name = "SHELL", value_enum)]
    shell: Shell,
}

impl CompletionsArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let mut script = Vec::new();
        clap_complete::generate(
            self.shell,
            &mut super::Cli::command(),
            "matrix-snapshot",
            &mut script,
        );
        super::write_stdout(&String::from_utf8(script)?)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Print the manual page (roff), generated from the same definitions as --help.
///
/// One page for the whole tool, each command a section with its options and examples.
#[derive(Debug, Args)]
#[command(after_long_help = "\
EXAMPLES:
  matrix-snapshot man > matrix-snapshot.1
  man ./matrix-snapshot.1")]
pub struct ManArgs {}

impl ManArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let cmd = super::Cli::command();
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
        // Then each command in a section of its own: synopsis, description, options, examples.
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = format!("matrix-snapshot {}", sub.get_name());
            let man = clap_mangen::Man::new(
                sub.clone()
                    .display_name(name.clone())
                    .bin_name(name.clone()),
            );
            let mut body = Vec::new();
            man.render_synopsis_section(&mut body)?;
            man.render_description_section(&mut body)?;
            man.render_options_section(&mut body)?;
            let mut body = String::from_utf8(body)?.replace(".SH ", ".SS ");
            if let Some(text) = sub.get_after_long_help() {
                // As written, not filled: examples are command lines to copy.
                body.push_str(".SS MORE\n.nf\n");
                for line in text.to_string().lines() {
                    body.push_str(&roff_literal(line));
                    body.push('\n');
                }
                body.push_str(".fi\n");
            }
            page.extend_from_slice(format!(".SH \"{}\"\n", name.to_uppercase()).as_bytes());
            page.extend_from_slice(body.as_bytes());
        }
        super::write_stdout(&String::from_utf8(page)?)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// `line` as literal roff text: backslashes and hyphens escaped (a hyphen must stay an ASCII
/// minus in a command line), a leading dot or quote made inert.
fn roff_literal(line: &str) -> String {
    let text = line.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with('.') || text.starts_with('\'') {
        format!("\\&{text}")
    } else {
        text
    }
}
