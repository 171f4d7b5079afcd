//! The directories an export keeps beside its output `DIR` while it runs, and how a reader
//! recognises one that an interrupted run left behind.
//!
//! - `.DIR.tmp-*`: a full export being written; swapped with `DIR` when complete.
//! - `.DIR.old-*`: the previous tree after a swap without `RENAME_EXCHANGE`, until deleted.
//! - `.DIR.lock`: held (`flock`) by the export writing `DIR`, with its pid; left in place.
//! - `.DIR.inc-*`: an incremental export's staging tree. Once it holds [`JOURNAL_FILE`] (what
//!   the update will move, written before anything moves) and not yet [`DONE_FILE`], `DIR` may
//!   mix old and new files until the next export rolls the update back.

use std::fs;
use std::path::{Path, PathBuf};

/// In an incremental staging tree: the journal of the moves an update makes (its rollback
/// record).
pub const JOURNAL_FILE: &str = "plan";
/// In an incremental staging tree: written once every move of the journal is done.
pub const DONE_FILE: &str = "done";

/// The directory holding `out` (`.` for a bare name) and `out`'s file name, which names the
/// staging trees beside it.
pub fn parent_and_name(out: &Path) -> (&Path, String) {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "snapshot".into());
    (parent, name)
}

/// Prefix of a full export's staging tree for the output called `name`.
pub fn full_prefix(name: &str) -> String {
    format!(".{name}.tmp-")
}

/// Prefix of a previous tree waiting to be deleted after a swap.
pub fn old_prefix(name: &str) -> String {
    format!(".{name}.old-")
}

/// Prefix of an incremental export's staging tree.
pub fn incremental_prefix(name: &str) -> String {
    format!(".{name}.inc-")
}

/// The lock file beside the output called `name`, held by the export writing it.
pub fn lock_file(name: &str) -> String {
    format!(".{name}.lock")
}

/// Whether the staging tree `dir` is an update interrupted while moving files in.
pub fn is_interrupted(dir: &Path) -> bool {
    dir.join(JOURNAL_FILE).is_file() && !dir.join(DONE_FILE).exists()
}

/// Staging trees of incremental exports into `out` interrupted while moving files in (until
/// the next export rolls them back, `out` may mix old and new files), sorted.
pub fn interrupted_updates(out: &Path) -> Vec<PathBuf> {
    let (parent, name) = parent_and_name(out);
    let prefix = incremental_prefix(&name);
    let mut found: Vec<PathBuf> = fs::read_dir(parent)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .filter(|p| is_interrupted(p))
        .collect();
    found.sort();
    found
}
