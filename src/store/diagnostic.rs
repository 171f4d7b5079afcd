//! Load diagnostics: every problem in a store is a [`Diagnostic`] `file:line: message`;
//! several are reported together (up to [`MAX_REPORTED`]) so a user fixes a batch per run, not
//! one error at a time.

use super::FILES;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;

/// How many diagnostics are shown; the rest are counted.
pub const MAX_REPORTED: usize = 50;

/// One problem in the input, at a file and line (line 0: the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// File name (with the store path prefix).
    pub file: String,
    /// 1-based line, 0 when the problem is not on one line.
    pub line: u64,
    /// What is wrong, in lower case.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

/// Why a store could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The input is invalid.
    #[error("{}", render_diagnostics(diagnostics, *total))]
    Invalid {
        /// The first [`MAX_REPORTED`] problems, in file order.
        diagnostics: Vec<Diagnostic>,
        /// How many problems there were in all.
        total: usize,
    },
}

fn render_diagnostics(diags: &[Diagnostic], total: usize) -> String {
    let mut s = format!(
        "the store is invalid ({total} problem{})",
        if total == 1 { "" } else { "s" }
    );
    for d in diags {
        s.push_str("\n  ");
        s.push_str(&d.to_string());
    }
    if total > diags.len() {
        s.push_str(&format!("\n  … and {} more", total - diags.len()));
    }
    s
}

/// Collects diagnostics from parallel parsers, keeping the first [`MAX_REPORTED`] in order.
pub(super) struct Diagnostics {
    prefix: String,
    all: Mutex<Vec<Diagnostic>>,
}

impl Diagnostics {
    pub(super) fn new(prefix: &str) -> Self {
        Diagnostics {
            prefix: prefix.to_string(),
            all: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn push(&self, file: &str, line: u64, message: impl Into<String>) {
        let d = Diagnostic {
            file: format!("{}{}", self.prefix, file),
            line,
            message: message.into(),
        };
        self.all.lock().expect("diagnostics lock").push(d);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.all.lock().expect("diagnostics lock").is_empty()
    }

    pub(super) fn into_error(self) -> LoadError {
        let mut all = self.all.into_inner().expect("diagnostics lock");
        let order = |f: &str| FILES.iter().position(|n| f.ends_with(n)).unwrap_or(99);
        all.sort_by_key(|d| (order(&d.file), d.line));
        let total = all.len();
        all.truncate(MAX_REPORTED);
        LoadError::Invalid {
            diagnostics: all,
            total,
        }
    }
}
