use anyhow::bail;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use matrix_snapshot::crawl::{self, ClientOptions, CrawlError, CrawlOptions, Stats};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Crawl a live Content API into a store, with only a token.
///
/// Walks the tree from each --root through the children lists, asked with all data (`limit=0`:
/// all in one page), so every child arrives whole in its parent's list: about one request per
/// asset. Lineages are asked only where the crawl cannot be sure of them from what it saw (see
/// docs/crawl.md). The result is a store (OUT/store.json + *.jsonl) whose single token `crawl`
/// reads what your token read, so `export --store OUT --token crawl` writes the same files as an
/// export of the live site. The token is sent only in the Authorization header and is never
/// written or logged. Progress is checkpointed beside OUT (.OUT.crawl/); after an interruption,
/// run the same command with --resume.
///
/// Pace: by default 4 requests in flight and no rate limit, which suits `serve` or a server you
/// run. For someone else's Matrix server, be polite: --rate 10 (about 36,000 requests, so about
/// as many assets, an hour), or what its owners allow.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("token_source").required(true)))]
#[command(after_long_help = "\
EXAMPLES:
  matrix-snapshot serve &   # the demo site on 127.0.0.1:8080
  echo demo-research > token.txt
  matrix-snapshot crawl --base-url http://127.0.0.1:8080 --token-file token.txt --root 12 --out research-store
  matrix-snapshot export --store research-store --token crawl --base-url https://research.uni.test --out research
  MATRIX_TOKEN=... matrix-snapshot crawl --base-url https://www.example.edu --token-env MATRIX_TOKEN --root 7 --root 12 --out store --concurrency 4 --rate 10
  MATRIX_TOKEN=... matrix-snapshot crawl --base-url https://www.example.edu --token-env MATRIX_TOKEN --root 7 --root 12 --out store --resume   # after an interruption

Exit codes: 0 crawled (assets answering 403/404 are listed, not fatal); 2 error: bad options,
the token refused (401), or assets still failing after every retry (run again with --resume).")]
pub struct CrawlArgs {
    /// The site's base URL (`/__api/` is appended), e.g. https://www.example.edu.
    #[arg(long, value_name = "URL", help_heading = "Input")]
    base_url: String,
    /// An asset id to start from (repeat for several): your token's root nodes, or the sites.
    #[arg(
        long = "root",
        value_name = "ID",
        required = true,
        help_heading = "Input"
    )]
    roots: Vec<String>,
    /// The store directory to write (replaced atomically if it holds a store).
    #[arg(short, long, value_name = "DIR", help_heading = "Output")]
    out: PathBuf,
    /// Requests in flight at most (default 4; with --rate, the rate is the limit).
    #[arg(
        short = 'j',
        long,
        value_name = "N",
        default_value_t = 4,
        help_heading = "Network"
    )]
    concurrency: usize,
    /// Requests per second at most, across all connections [default: no limit, as fast as
    /// --concurrency allows]. On a real Matrix server use a polite rate, e.g. --rate 10.
    #[arg(long, value_name = "R", help_heading = "Network")]
    rate: Option<f64>,
    /// Seconds to wait for a connection or for data before retrying.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 30.0,
        help_heading = "Network"
    )]
    timeout: f64,
    /// Attempts per request (connection errors, timeouts, 5xx and 429 are retried with
    /// exponential backoff and jitter; other 4xx never).
    #[arg(long, value_name = "N", default_value_t = 8, help_heading = "Network")]
    attempts: u32,
    /// Continue an interrupted crawl (same base URL and roots) without refetching what is done.
    #[arg(long)]
    resume: bool,
    /// No progress bar and no summary.
    #[arg(short, long)]
    quiet: bool,
    // Last: the help heading it sets would apply to the fields after it.
    #[command(flatten, next_help_heading = "Input")]
    token_source: super::TokenArgs,
}

impl CrawlArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let Some(token) = self.token_source.read()? else {
            bail!("no token given: use --token-file FILE or --token-env VAR");
        };
        if !(self.timeout > 0.0 && self.timeout.is_finite()) {
            bail!("--timeout must be a positive number of seconds");
        }
        if self.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
            bail!("--rate must be a positive number of requests per second");
        }
        let options = CrawlOptions {
            base_url: self.base_url.clone(),
            roots: self.roots.clone(),
            out: self.out.clone(),
            concurrency: self.concurrency.max(1),
            resume: self.resume,
            client: ClientOptions {
                rate: self.rate,
                attempts: self.attempts.max(1),
                timeout: Duration::from_secs_f64(self.timeout),
                ..ClientOptions::default()
            },
            cancel: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        };
        // Ctrl-C: finish the requests in flight, checkpoint them, stop.
        let cancel = options.cancel.clone();
        ctrlc::set_handler(move || cancel.store(true, std::sync::atomic::Ordering::Relaxed))?;
        let stats = Arc::new(Stats::default());
        let bar = (!self.quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} crawling {elapsed} {msg}")
                    .expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ticker = bar.clone().map(|bar| {
            let (stats, done) = (stats.clone(), done.clone());
            std::thread::spawn(move || {
                let started = std::time::Instant::now();
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let requests = Stats::get(&stats.requests);
                    bar.set_message(format!(
                        "{requests} requests, {}/{} assets, {} errors, {} retries, {:.0} req/s",
                        Stats::get(&stats.assets),
                        Stats::get(&stats.found),
                        Stats::get(&stats.errors),
                        Stats::get(&stats.retries),
                        requests as f64 / started.elapsed().as_secs_f64().max(0.001)
                    ));
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        });
        let result = crawl::crawl(&options, &token, stats.clone());
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = ticker {
            let _ = t.join();
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let report = match result {
            Ok(r) => r,
            Err(e @ CrawlError::Unauthorized(_)) => {
                bail!(
                    "{e}\nhint: check the token (--token-env/--token-file) and that it is enabled"
                )
            }
            Err(e) => {
                if !self.quiet {
                    eprintln!(
                        "matrix-snapshot: {} requests, {} retries before stopping",
                        Stats::get(&stats.requests),
                        Stats::get(&stats.retries)
                    );
                }
                return Err(e.into());
            }
        };
        for r in &report.refused {
            eprintln!(
                "matrix-snapshot: warning: asset {:?} answered {} {}: {}",
                r.id, r.status, r.message, r.url
            );
        }
        for c in &report.changes {
            eprintln!("matrix-snapshot: warning: the site changed during the crawl: {c}");
        }
        if !self.quiet {
            let this_run = report.walked.saturating_sub(report.resumed).max(1);
            eprintln!(
                "matrix-snapshot: crawled {} assets ({} resumed) with {} requests ({:.2} per asset, {} lineages, {} asked again; {} retries) in {:.2}s; store {}: {} assets, {} links, {} unreadable-parent placeholders, {} refused; export it with --token {}",
                report.walked,
                report.resumed,
                report.requests,
                report.requests as f64 / this_run as f64,
                report.lineages,
                report.reasked,
                report.retries,
                report.elapsed.as_secs_f64(),
                self.out.display(),
                report.assets,
                report.links,
                report.placeholders,
                report.refused.len(),
                crawl::CRAWL_TOKEN
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
