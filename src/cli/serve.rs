use super::StoreArgs;
use clap::Args;
use matrix_snapshot::api::Options;
use matrix_snapshot::serve::Server;
use std::process::ExitCode;
use std::sync::Arc;

/// Serve the Content API live over HTTP from a store.
///
/// Every request is answered exactly as Matrix's Content API would: the same statuses, headers
/// and body bytes. The request's Host header picks each asset's `url`. One access-log line per
/// request goes to stderr (tokens are never logged). Ctrl-C stops the server cleanly.
#[derive(Debug, Args)]
#[command(after_long_help = "\
EXAMPLES:
  matrix-snapshot serve
  curl -H 'Authorization: Bearer demo-public' 'http://127.0.0.1:8080/__api/assets/100?data=urls'
  matrix-snapshot serve --listen 127.0.0.1:9000 --cors https://app.example.test")]
pub struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Allow browser calls from ORIGIN: CORS headers and 204 answers to OPTIONS preflights.
    #[arg(long, value_name = "ORIGIN", value_parser = super::origin)]
    cors: Option<String>,
    /// Worker threads (0: one per core). Connections are tasks, not threads.
    #[arg(long, value_name = "N", default_value_t = 0)]
    threads: usize,
    /// No access log.
    #[arg(short, long)]
    quiet: bool,
}

impl ServeArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let catalog = self.store.catalog()?.with_options(Options {
            cors: self.cors,
            ..Options::default()
        });
        let server =
            Server::bind(Arc::new(catalog), &self.listen, self.threads)?.with_log(!self.quiet);
        let stop = server.stop_handle();
        ctrlc::set_handler(move || stop.stop())?;
        eprintln!(
            "matrix-snapshot: listening on http://{}/__api/ (Ctrl-C stops)",
            server.addr()
        );
        server.run();
        eprintln!("matrix-snapshot: stopped");
        Ok(ExitCode::SUCCESS)
    }
}
