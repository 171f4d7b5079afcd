use clap::Args;
use matrix_snapshot::verify::{self, Problem};
use std::path::PathBuf;
use std::process::ExitCode;

/// Check a snapshot against its manifest and root hash.
///
/// Every file listed in DIR/manifest.jsonl must exist under DIR/public (a route) or
/// DIR/_routers (the routing table and host configs) with the listed size and blake3; no other
/// file may be there; the manifest must hash to the root hash recorded in
/// DIR/snapshot.json. Files are hashed in parallel, each hard-linked body once. Nothing is
/// written.
#[derive(Debug, Args)]
#[command(after_long_help = "\
EXAMPLES:
  matrix-snapshot verify dist
  matrix-snapshot verify dist --show 100
  matrix-snapshot verify dist --format json

Exit status: 0 intact, 1 something differs (each problem is listed), 2 not a readable snapshot.")]
pub struct VerifyArgs {
    /// The snapshot directory.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// How many problems to list.
    #[arg(long, value_name = "N", default_value_t = 20)]
    show: usize,
    /// Output format (json: every problem, format `matrix-snapshot-verify/1`).
    #[arg(long, value_enum, default_value = "text")]
    format: super::Format,
}

impl VerifyArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let r = verify::verify(&self.dir)?;
        if self.format == super::Format::Json {
            super::print_json(&report_json(&self.dir, &r))?;
            return Ok(if r.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        let gbs = r.bytes_read as f64 / 1e9 / r.seconds.max(1e-9);
        outln!(
            "{}: {} files and {} router files, {:.1} MB served ({} bodies, {:.1} MB read) checked in {:.2}s ({gbs:.2} GB/s read)",
            self.dir.display(),
            r.files,
            r.router_files,
            r.bytes as f64 / 1e6,
            r.inodes,
            r.bytes_read as f64 / 1e6,
            r.seconds,
        );
        if r.ok() {
            outln!("ok: every file matches the manifest, and the manifest matches the root hash");
            return Ok(ExitCode::SUCCESS);
        }
        let [missing, extra, changed, other] = tally(&r.problems);
        outln!(
            "FAILED: {} problems: {missing} missing, {extra} extra, {changed} changed, {other} other",
            r.problems.len(),
        );
        for p in r.problems.iter().take(self.show) {
            outln!("  {p}");
        }
        if r.problems.len() > self.show {
            outln!("  … and {} more (--show N)", r.problems.len() - self.show);
        }
        if let Some(hint) = repair_hint(&self.dir, &r.problems) {
            outln!("{hint}");
        }
        Ok(ExitCode::from(1))
    }
}

/// What to run when `export --repair` can mend the problems: files missing or changed, or a
/// changed manifest (then it rebuilds); files the manifest does not list are the user's to move.
fn repair_hint(dir: &std::path::Path, problems: &[Problem]) -> Option<String> {
    let [missing, _, changed, _] = tally(problems);
    let manifest = problems.iter().any(|p| {
        matches!(
            p,
            Problem::RootHash { .. }
                | Problem::Count { .. }
                | Problem::Unreadable { .. }
                | Problem::RoutersNotCovered
        )
    });
    (missing + changed > 0 || manifest).then(|| {
        format!(
            "to rewrite what differs: matrix-snapshot export … --out {} --repair (the token and options of the export that wrote it; an update alone trusts the files)",
            dir.display()
        )
    })
}

/// Problems counted as missing, extra, changed (size or content) and other.
fn tally(problems: &[Problem]) -> [usize; 4] {
    let mut t = [0; 4];
    for p in problems {
        t[match p {
            Problem::Missing(_) => 0,
            Problem::Extra(_) => 1,
            Problem::Size { .. } | Problem::Hash(_) => 2,
            _ => 3,
        }] += 1;
    }
    t
}

/// The `matrix-snapshot-verify/1` object (docs/json-output.md).
fn report_json(dir: &std::path::Path, r: &verify::Report) -> serde_json::Value {
    let [missing, extra, changed, other] = tally(&r.problems);
    let problems: Vec<serde_json::Value> = r
        .problems
        .iter()
        .map(|p| {
            let (kind, path) = match p {
                Problem::RootHash { .. } => ("root_hash", None),
                Problem::Count { .. } => ("count", None),
                Problem::UnsafePath(x) => ("unsafe_path", Some(x)),
                Problem::Unsorted(x) => ("unsorted", Some(x)),
                Problem::Missing(x) => ("missing", Some(x)),
                Problem::Extra(x) => ("extra", Some(x)),
                Problem::Size { path, .. } => ("size", Some(path)),
                Problem::Hash(x) => ("hash", Some(x)),
                Problem::Interrupted(x) => ("interrupted", Some(x)),
                Problem::Unreadable { path, .. } => ("unreadable", Some(path)),
                Problem::RoutersNotCovered => ("routers_not_covered", None),
            };
            serde_json::json!({"kind": kind, "path": path, "message": p.to_string()})
        })
        .collect();
    serde_json::json!({
        "format": "matrix-snapshot-verify/1",
        "dir": dir.to_string_lossy(),
        "ok": r.ok(),
        "files": r.files,
        "router_files": r.router_files,
        "bytes": r.bytes,
        "bodies": r.inodes,
        "bytes_read": r.bytes_read,
        "seconds": (r.seconds * 1000.0).round() / 1000.0,
        "counts": {"missing": missing, "extra": extra, "changed": changed, "other": other},
        "problems": problems,
    })
}
