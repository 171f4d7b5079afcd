//! The output directory's lifecycle: the checks before an export writes anything, the staging
//! tree beside `out`, the atomic swap of a full export and the roll-back of interrupted updates
//! (the names are the snapshot layer's: [`crate::snapshot::staging`]).

use super::{io_err, journal, ExportError};
use crate::snapshot::{self, staging, staging::parent_and_name};
use std::fs;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Where an export goes, from [`prepare_out`].
pub(super) struct Target<'a> {
    /// The directory holding `out` (created), where the staging tree is made.
    pub(super) parent: &'a Path,
    /// `out`'s file name, which names the staging tree.
    pub(super) name: String,
    /// Staging trees of interrupted incremental exports that were rolled back.
    pub(super) rolled_back: usize,
    /// The exclusive lock on `out`, held until the export ends.
    _lock: Lock,
}

/// What `out` names when it is a symbolic link: its target, as `cp` and `rsync` follow it (the
/// link stays; its target holds the snapshot). Other paths are returned as they are.
pub(super) fn resolve_out(out: &Path) -> Result<PathBuf, ExportError> {
    match fs::symlink_metadata(out) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(out).map_err(|e| {
            ExportError::Io {
                context: format!(
                    "{} is a symbolic link whose target cannot be used (create the directory it points to, or choose another --out)",
                    out.display()
                ),
                source: e,
            }
        }),
        _ => Ok(out.to_path_buf()),
    }
}

/// The exclusive lock of an output directory: `.NAME.lock` beside it, holding its owner's pid.
/// Removed when the export ends; the kernel releases it if the process dies (a stale file then
/// stops nobody).
pub(super) struct Lock {
    path: PathBuf,
    _file: fs::File,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still held, so no other run can lock this file and then lose it.
        let _ = fs::remove_file(&self.path);
    }
}

/// Takes the exclusive lock of `out`: a second export into the same directory is refused while
/// the first runs.
fn lock(parent: &Path, name: &str, out: &Path) -> Result<Lock, ExportError> {
    use std::os::unix::fs::MetadataExt;
    let path = parent.join(staging::lock_file(name));
    let ctx = || format!("locking {}", path.display());
    loop {
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err(ctx()))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(ExportError::Busy {
                    out: out.to_path_buf(),
                    holder: holder.trim().to_string(),
                });
            }
            Err(e) => return Err(io_err(ctx())(e.into())),
        }
        // The holder before us may have removed the file between our open and our lock: then
        // ours is a lock on a name nobody else sees. Lock the file the name holds now.
        let same = match (file.metadata(), fs::metadata(&path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        if !same {
            continue;
        }
        // Whose lock it is, for the message another run gives.
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "pid {}", std::process::id()))
            .map_err(io_err(ctx()))?;
        return Ok(Lock { path, _file: file });
    }
}

/// The checks and clean-up before an export writes anything: creates the directory holding
/// `out`, takes its lock, refuses an `out` that is not a snapshot (unless `force`), removes
/// what killed runs left there and rolls back interrupted incremental exports.
pub(super) fn prepare_out(out: &Path, force: bool) -> Result<Target<'_>, ExportError> {
    let (parent, name) = parent_and_name(out);
    fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
    let lock = lock(parent, &name, out)?;
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
        _lock: lock,
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

/// Whether `dir` holds a snapshot written by matrix-snapshot (any version): its `snapshot.json`
/// names a `matrix-snapshot/…` or `matrix-snapshot-pack/…` format and its manifest is there. Only such a directory is
/// replaced without `--force`.
pub(super) fn is_snapshot(dir: &Path) -> bool {
    #[derive(serde::Deserialize)]
    struct Format {
        format: String,
    }
    fs::read(dir.join(snapshot::INFO_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<Format>(&b).ok())
        .is_some_and(|f| {
            f.format.starts_with("matrix-snapshot/")
                || f.format.starts_with("matrix-snapshot-pack/")
        })
        && dir.join(snapshot::MANIFEST_FILE).is_file()
}

/// `out` may be absent, empty, or a snapshot (else `--force`).
fn check_out_dir(out: &Path, force: bool) -> Result<(), ExportError> {
    match fs::read_dir(out) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(format!("reading {}", out.display()))(e)),
        Ok(mut entries) => {
            if entries.next().is_none() || is_snapshot(out) || force {
                Ok(())
            } else {
                Err(ExportError::NotASnapshot(out.to_path_buf()))
            }
        }
    }
}

/// The entries at the top of a snapshot directory that the tool writes: everything else there
/// (`.git/`, notes) belongs to the user and is carried into a new tree.
fn is_tool_entry(name: &str) -> bool {
    [
        snapshot::INFO_FILE,
        snapshot::MANIFEST_FILE,
        snapshot::PUBLIC_DIR,
        snapshot::ROUTERS_DIR,
        snapshot::CACHE_DIR,
    ]
    .contains(&name)
}

/// Before a full export replaces the snapshot `out` (unless `force`): the files under `public/`
/// that its manifest does not list, which the swap would delete. Refused with their names.
pub(super) fn check_unlisted(out: &Path, force: bool) -> Result<(), ExportError> {
    if force || !is_snapshot(out) || !out.join(snapshot::PUBLIC_DIR).is_dir() {
        return Ok(());
    }
    let listed: rustc_hash::FxHashSet<String> = match snapshot::read_manifest_paths(out) {
        Ok(paths) => paths.into_iter().collect(),
        Err(e) => {
            return Err(ExportError::Unlisted {
                out: out.to_path_buf(),
                files: vec![format!(
                    "(cannot tell which files matrix-snapshot wrote: {e})"
                )],
                count: 1,
            })
        }
    };
    // A pack snapshot's packs, shards and root are the tool's too.
    let pack_tree = format!("{}/{}/", snapshot::PUBLIC_DIR, snapshot::pack::DIR);
    let is_pack = snapshot::check_format(out).is_ok_and(|l| l == snapshot::Layout::Pack);
    let tool_written = |p: &str| listed.contains(p) || (is_pack && p.starts_with(&pack_tree));
    let found = std::sync::Mutex::new(Vec::new());
    let public = out.join(snapshot::PUBLIC_DIR);
    crate::tree::walk_levels(&public, false, |_, rel, files| {
        let prefix = if rel.as_os_str().is_empty() {
            format!("{}/", snapshot::PUBLIC_DIR)
        } else {
            format!("{}/{}/", snapshot::PUBLIC_DIR, rel.to_string_lossy())
        };
        let here: Vec<String> = files
            .iter()
            .map(|f| format!("{prefix}{}", f.to_string_lossy()))
            .filter(|p| !tool_written(p))
            .collect();
        if !here.is_empty() {
            found.lock().expect("not poisoned").extend(here);
        }
        Ok(())
    })
    .map_err(io_err(format!("listing {}", public.display())))?;
    let mut files = found.into_inner().expect("not poisoned");
    if files.is_empty() {
        return Ok(());
    }
    files.sort();
    let count = files.len();
    files.truncate(10);
    Err(ExportError::Unlisted {
        out: out.to_path_buf(),
        files,
        count,
    })
}

/// Moves what the user keeps at the top of `out` (anything the tool does not write:
/// [`is_tool_entry`]) into the finished staging tree, so the swap carries it over.
fn carry_user_entries(out: &Path, staging: &Path) -> Result<(), ExportError> {
    let Ok(entries) = fs::read_dir(out) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if is_tool_entry(&name.to_string_lossy()) {
            continue;
        }
        fs::rename(e.path(), staging.join(&name)).map_err(io_err(format!(
            "keeping {} in the new snapshot",
            e.path().display()
        )))?;
    }
    Ok(())
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

/// Moves the finished staging directory to `out` atomically, then deletes the old tree. What
/// the user keeps in `out` beside the snapshot (`.git/`, notes) is moved into the new tree first.
pub(super) fn swap_into_place(staging: PathBuf, out: &Path) -> Result<(), ExportError> {
    let ctx = || format!("moving the snapshot into {}", out.display());
    if !out.exists() {
        return fs::rename(&staging, out).map_err(io_err(ctx()));
    }
    if is_snapshot(out) {
        carry_user_entries(out, &staging)?;
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
