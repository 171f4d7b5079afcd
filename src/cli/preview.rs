use anyhow::Context;
use clap::Args;
use matrix_snapshot::route::preview::Snapshot;
use matrix_snapshot::serve::Server;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Serve a snapshot directory locally, routed as the host configs route it.
///
/// Reads only the snapshot (DIR/public and DIR/_routers/routes.json), never the store: what
/// preview answers is what nginx, Apache, Caddy or a CDN serving the same snapshot answer. The
/// token check, CORS and Cache-Control follow the options the snapshot was exported with.
/// Requests for variants the profile left out get a 404 that names what was exported.
#[derive(Debug, Args)]
#[command(after_long_help = "\
EXAMPLES:
  matrix-snapshot export --token demo-public --base-url https://www.uni.test --out dist
  matrix-snapshot preview dist
  curl -H 'Authorization: Bearer demo-public' 'http://127.0.0.1:8080/__api/assets/100?data=urls'
  curl -H 'Authorization: Bearer demo-public' 'http://127.0.0.1:8080/__api/assets/106/children?limit=5'   # 404: not exported (the profile's pages hold 100)")]
pub struct PreviewArgs {
    /// The snapshot directory (what `export --out` wrote).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Worker threads.
    #[arg(long, value_name = "N", default_value_t = 8)]
    threads: usize,
    /// No access log.
    #[arg(short, long)]
    quiet: bool,
}

impl PreviewArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let snapshot = Snapshot::open(&self.dir)?;
        let snapshot = Arc::new(snapshot);
        let server = Server::bind_handler(
            Arc::new(move |r| snapshot.answer(r)),
            &self.listen,
            self.threads,
        )
        .with_context(|| format!("previewing {}", self.dir.display()))?
        .with_log(!self.quiet);
        let stop = server.stop_handle();
        ctrlc::set_handler(move || stop.stop())?;
        eprintln!(
            "matrix-snapshot: previewing {} on http://{}/__api/ (Ctrl-C stops)",
            self.dir.display(),
            server.addr()
        );
        server.run();
        eprintln!("matrix-snapshot: stopped");
        Ok(ExitCode::SUCCESS)
    }
}
