use super::StoreArgs;
use anyhow::Context;
use clap::Args;
use matrix_snapshot::conformance::{self, Harness};
use matrix_snapshot::route::preview::Snapshot;
use matrix_snapshot::serve::Server;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Check that a host serving a snapshot answers like the live Content API.
///
/// Generates a seeded corpus of requests over the snapshot's store, token and profile (every
/// endpoint; valid, invalid and out-of-profile parameters in any order, repeated or unknown;
/// encoded, hostile and unknown ids and URLs; good, bad and missing tokens; every method),
/// sends each to the host at --against, and compares status, Content-Type, WWW-Authenticate,
/// Allow and body bytes with what the live API (`answer()` over the store) gives. Requests for
/// variants the profile left out must get the snapshot's "not exported" 404; they are counted
/// apart. Without --against, the snapshot is checked through `preview`'s routing.
#[derive(Debug, Args)]
#[command(after_long_help = "\
EXAMPLES:
  matrix-snapshot export --token demo-public --base-url https://www.uni.test --out dist
  matrix-snapshot conformance --snapshot dist
  matrix-snapshot router nginx --snapshot dist --listen 127.0.0.1:8081 > nginx.conf
  nginx -c \"$PWD/nginx.conf\" -p \"$PWD\"
  matrix-snapshot conformance --snapshot dist --against 127.0.0.1:8081 --requests 20000
  nginx -c \"$PWD/nginx.conf\" -p \"$PWD\" -s stop

Exit status: 0 when every answer is right, 1 when some differ, 2 on error.")]
pub struct ConformanceArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The snapshot directory (what `export --out` wrote).
    #[arg(long, value_name = "DIR")]
    snapshot: PathBuf,
    /// The host serving the snapshot (`host:port`); default: an in-process `preview`.
    #[arg(long, value_name = "ADDR")]
    against: Option<String>,
    /// How many requests.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    requests: usize,
    /// Corpus seed (the same seed gives the same requests).
    #[arg(long, value_name = "SEED", default_value_t = 1)]
    seed: u64,
    /// How many differences to print.
    #[arg(long, value_name = "N", default_value_t = 10)]
    show: usize,
}

impl ConformanceArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let catalog = self.store.catalog()?;
        let harness = Harness::open(&catalog, &self.snapshot)
            .with_context(|| format!("checking {}", self.snapshot.display()))?;
        let cases = harness.corpus(self.seed, self.requests);
        let (label, tally) = match &self.against {
            Some(addr) => (addr.clone(), conformance::run_http(&harness, &cases, addr)),
            None => {
                let snapshot = Arc::new(Snapshot::open(&self.snapshot)?);
                let server =
                    Server::bind_handler(Arc::new(move |r| snapshot.answer(r)), "127.0.0.1:0", 2)?
                        .with_log(false);
                let addr = server.addr().to_string();
                let stop = server.stop_handle();
                let thread = std::thread::spawn(move || server.run());
                let tally = conformance::run_http(&harness, &cases, &addr);
                stop.stop();
                let _ = thread.join();
                ("preview".to_string(), tally)
            }
        };
        out!("{}", tally.report(&label, self.show));
        Ok(if tally.passed() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
}
