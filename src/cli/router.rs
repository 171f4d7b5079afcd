use anyhow::{bail, Context};
use clap::Args;
use matrix_snapshot::route::preview::Snapshot;
use matrix_snapshot::router::{self, HOSTS};
use matrix_snapshot::snapshot::routes::{token_hash, Auth};
use matrix_snapshot::snapshot::Layout;
use std::path::PathBuf;
use std::process::ExitCode;

/// Print a snapshot's router config for one host, ready to run.
///
/// Every export writes a config per host into DIR/_routers/<host>/, with placeholders for the
/// snapshot's absolute path, the listen address and (for hosts that cannot hash) the token, so
/// the exported files stay byte-identical and secret-free. This command fills them in. For
/// nginx, Apache and Caddy the result is a complete configuration that runs as is; see
/// docs/hosting.md for each host. For Caddy it also derives the ETag table's shards into
/// DIR/_cache/caddy/ (the export writes the table once): run it again after every export.
#[derive(Debug, Args)]
#[command(after_long_help = "\
EXAMPLES:
  matrix-snapshot export --token demo-public --base-url https://www.uni.test --out dist
  matrix-snapshot router nginx --snapshot dist --listen 127.0.0.1:8081 > nginx.conf
  nginx -c \"$PWD/nginx.conf\" -p \"$PWD\"
  curl -H 'Authorization: Bearer demo-public' 'http://127.0.0.1:8081/__api/assets/100?data=urls'
  nginx -c \"$PWD/nginx.conf\" -p \"$PWD\" -s stop
  matrix-snapshot router apache --snapshot dist --listen 127.0.0.1:8082 > apache.conf
  apache2 -f \"$PWD/apache.conf\" -DFOREGROUND")]
pub struct RouterArgs {
    /// The host: see `matrix-snapshot router --help` for the list.
    #[arg(value_name = "TARGET", value_parser = clap::builder::PossibleValuesParser::new(HOSTS.iter().map(|h| h.name)))]
    target: String,
    /// The snapshot directory (what `export --out` wrote).
    #[arg(long, value_name = "DIR")]
    snapshot: PathBuf,
    /// Address the server listens on (nginx, Apache, Caddy).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080", value_parser = super::listen)]
    listen: String,
    // The token, for hosts that check it in plain text.
    #[command(flatten)]
    token_source: super::TokenArgs,
}

impl RouterArgs {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        // A pack snapshot has the pack variant of the hosts that read packs, and none of the
        // others.
        let layout = matrix_snapshot::snapshot::check_format(&self.snapshot)?;
        let host = router::host_for(&self.target, layout)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.snapshot.display()))?;
        let snapshot = Snapshot::open(&self.snapshot)?;
        let dir = std::fs::canonicalize(&self.snapshot)
            .with_context(|| format!("resolving {}", self.snapshot.display()))?;
        if dir.to_str().is_none() {
            bail!(
                "the snapshot's path {} is not valid UTF-8, and the {} config names it as text: move the snapshot (or link it) to a path that is UTF-8, then run this again",
                dir.display(),
                host.name
            );
        }
        let (name, _) = host.files[0];
        let path = dir.join("_routers").join(host.name).join(name);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {} (was the snapshot exported with --router options that left {} out, or by an older matrix-snapshot? re-export it)",
                path.display(),
                host.name
            )
        })?;
        let token = self.token_source.read()?;
        let token = match (host.needs_token, snapshot.routes.auth, token) {
            (true, Auth::Token, None) => bail!(
                "the {} config checks the token in plain text: pass --token-file FILE or --token-env VAR",
                host.name
            ),
            (true, Auth::Token, Some(t)) => {
                if Some(token_hash(&t)) != snapshot.routes.token_sha256 {
                    bail!("that token is not the one this snapshot was exported with");
                }
                Some(t)
            }
            _ => None,
        };
        // Before the config is printed: a config without its tables must not be installed.
        router::prepare(host, &dir)
            .with_context(|| format!("preparing the {} router's tables", host.name))?;
        let filled = router::fill(host.name, &text, &dir, &self.listen, token.as_deref())
            .map_err(anyhow::Error::msg)?;
        out!("{filled}");
        // A pack snapshot's uploaded files are a few packs and shards: no file-count limit.
        let files = match layout {
            Layout::Files => matrix_snapshot::snapshot::read_info(&dir)
                .map(|i| i.counts.files)
                .unwrap_or(0),
            Layout::Pack => 0,
        };
        for limit in router::limits(host, &dir, &snapshot.routes, files) {
            errln!("matrix-snapshot: warning: {}: {limit}", host.name);
        }
        Ok(ExitCode::SUCCESS)
    }
}
