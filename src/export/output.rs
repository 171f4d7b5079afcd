//! The output directory's lifecycle: the checks before an export writes anything, the staging
//! tree beside `out`, the atomic swap of a full export and the roll-back of interrupted updates
//! (the names are the snapshot layer's: [`crate::snapshot::staging`]).

use super::{io_err, journal, ExportError};
use crate::snapshot::{self, staging, staging::parent_and_name};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Where an export goes, from [`prepare_out`].
pub(super) struct Target<'a> {
    /// The directory holding `out` (created), where the staging tree is made.
    pub(super) parent: &'a Path,
    /// `out`'s file name, which names the staging tree.
    pub(super) name: String,
    /// Staging trees of interrupted incremental exports that were rolled back.
    pub(super) rolled_back: usize,
}

/// The checks and clean-up before an export writes anything: creates the directory holding
/// `out`, refuses an `out` that is not a snapshot (unless `force`), removes what killed runs
/// left there and rolls back interrupted incremental exports.
pub(super) fn prepare_out(out: &Path, force: bool) -> Result<Target<'_>, ExportError> {
    let (parent, name) = parent_and_name(out);
    fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
    check_out_dir(out, force)?;
    remove_stale(parent, &name);
    // An incremental export interrupted mid-update: put the previous snapshot back first.
    let rolled_back = recover_interrupted(out).map_err(io_err(format!(
        "rolling back an interrupted update of {}",
        out.display()
    )))?;
    Ok(Target {
        parent,
        name,
        rolled_back,
    })
}

impl Target<'_> {
    /// Creates the staging tree beside `out` that the export fills: `.NAME.tmp-…` for a full
    /// export (swapped in when complete), `.NAME.inc-…` for an update (its changes applied to
    /// `out`): [`staging`].
    pub(super) fn staging(&self, update: bool) -> Result<tempfile::TempDir, ExportError> {
        tempfile::Builder::new()
            .prefix(&if update {
                staging::incremental_prefix(&self.name)
            } else {
                staging::full_prefix(&self.name)
            })
            .tempdir_in(self.parent)
            .map_err(io_err(format!(
                "creating a staging directory in {}",
                self.parent.display()
            )))
    }
}

/// Rolls back the incremental exports into `out` that were interrupted while moving their files
/// in (`kill -9`, power loss), so `out` is the previous snapshot again; removes their staging
/// trees. Returns how many were rolled back. Every export does this first.
pub fn recover_interrupted(out: &Path) -> io::Result<usize> {
    let (parent, name) = parent_and_name(out);
    Ok(journal::recover_all(parent, &name, out)?.len())
}

/// `out` may be absent, empty, or a previous snapshot (else `--force`).
fn check_out_dir(out: &Path, force: bool) -> Result<(), ExportError> {
    match fs::read_dir(out) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(format!("reading {}", out.display()))(e)),
        Ok(mut entries) => {
            if entries.next().is_none() || out.join(snapshot::INFO_FILE).is_file() || force {
                Ok(())
            } else {
                Err(ExportError::NotASnapshot(out.to_path_buf()))
            }
        }
    }
}

/// Removes `.NAME.tmp-*` and `.NAME.old-*` directories left by killed runs.
fn remove_stale(parent: &Path, name: &str) {
    let prefixes = [staging::full_prefix(name), staging::old_prefix(name)];
    if let Ok(entries) = fs::read_dir(parent) {
        for e in entries.flatten() {
            let file_name = e.file_name().to_string_lossy().into_owned();
            if prefixes.iter().any(|p| file_name.starts_with(p.as_str())) {
                let _ = crate::tree::remove_tree(&e.path());
            }
        }
    }
}

/// Moves the finished staging directory to `out` atomically, then deletes the old tree.
pub(super) fn swap_into_place(staging: PathBuf, out: &Path) -> Result<(), ExportError> {
    let ctx = || format!("moving the snapshot into {}", out.display());
    if !out.exists() {
        return fs::rename(&staging, out).map_err(io_err(ctx()));
    }
    // Exchange both names in one step: readers see the old tree or the new one, never neither.
    match rustix::fs::renameat_with(
        rustix::fs::CWD,
        &staging,
        rustix::fs::CWD,
        out,
        rustix::fs::RenameFlags::EXCHANGE,
    ) {
        Ok(()) => {}
        Err(_) => {
            // Filesystems without RENAME_EXCHANGE: two renames (a brief window without `out`).
            let (_, name) = parent_and_name(out);
            let old = staging.with_file_name(format!(
                "{}{}",
                staging::old_prefix(&name),
                std::process::id()
            ));
            fs::rename(out, &old).map_err(io_err(ctx()))?;
            fs::rename(&staging, out).map_err(io_err(ctx()))?;
            let _ = crate::tree::remove_tree(&old);
            return Ok(());
        }
    }
    // `staging` now holds the previous tree.
    crate::tree::remove_tree(&staging).map_err(io_err(format!(
        "removing the previous snapshot {}",
        staging.display()
    )))?;
    Ok(())
}
