use anyhow::Context;
use clap::Args;
use matrix_snapshot::route::preview::Live;
use matrix_snapshot::serve::Server;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Serve a snapshot directory locally, routed as the host configs route it.
///
/// Reads only the snapshot (DIR/public and DIR/_routers/routes.json), never the store: what
/// preview answers is what nginx, Apache, Caddy or a CDN serving the same snapshot answer. The
/// token check, CORS and Cache-Control follow the options the snapshot was exported with.
/// Requests for variants the profile left out get a 404 that names what was exported.
///
/// Fit to run behind a CDN: hot answers are cached, If-None-Match gets 304, a re-export of DIR
/// is picked up without a restart, SIGTERM or Ctrl-C finishes the requests in flight and stops.
/// Limits and timeouts: docs/servers.md.
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
    /// Worker threads (0: one per core). Connections are tasks, not threads.
    #[arg(long, value_name = "N", default_value_t = 0)]
    threads: usize,
    /// Close a connection after SECS seconds without a byte either way.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,
    /// No access log.
    #[arg(short, long)]
    quiet: bool,
}

impl PreviewArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let live = Live::open(&self.dir)?;
        let server = Server::bind_with(Arc::new(live), &self.listen, self.threads)
            .with_context(|| format!("previewing {}", self.dir.display()))?
            .with_log(!self.quiet)
            .with_idle_timeout(Duration::from_secs(self.idle_timeout));
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
