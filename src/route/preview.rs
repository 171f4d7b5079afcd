//! `preview`: serve a snapshot directory with [`resolve`] — the routing every host config
//! encodes — reading only the snapshot (its `public/` files and `_routers/routes.json`), never the
//! store. A snapshot can be tried without installing a web server.

use super::{resolve, Kind};
use crate::api::response::CONTENT_TYPE;
use crate::api::{Request, Response};
use crate::snapshot::routes::{self, RouteSpec};
use crate::snapshot::{self, ReadError};
use std::fs;
use std::path::{Path, PathBuf};

/// A snapshot opened for serving.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The web root (`DIR/public`).
    pub public: PathBuf,
    /// The routing table.
    pub routes: RouteSpec,
}

impl Snapshot {
    /// Opens `dir` (a directory written by `export`): its format and routing table checked.
    pub fn open(dir: &Path) -> Result<Snapshot, ReadError> {
        Ok(Snapshot {
            public: dir.join(snapshot::PUBLIC_DIR),
            routes: routes::read(dir)?,
        })
    }

    /// Answers one request from the snapshot's files.
    pub fn answer(&self, req: &Request) -> Response {
        let exists = |rel: &str| self.public.join(rel).is_file();
        let routed = resolve(
            &self.routes,
            &req.method,
            &req.target,
            req.authorization.as_deref(),
            &exists,
        );
        let body = match &routed.file {
            Some(rel) => match fs::read(self.public.join(rel)) {
                Ok(b) => b,
                // Deleted between the check and the read, or an export without its error files.
                Err(_) => return Response::error(500),
            },
            None => Vec::new(),
        };
        let mut headers = Vec::new();
        if routed.kind != Kind::Preflight {
            headers.push(("Content-Type", CONTENT_TYPE.to_string()));
        }
        headers.push(("Content-Length", body.len().to_string()));
        if routed.kind == Kind::File {
            headers.push(("ETag", etag(&body)));
            headers.push(("Cache-Control", self.routes.cache_control.clone()));
        }
        headers.extend(routed.headers);
        let response = Response {
            status: routed.status,
            headers,
            body,
        };
        if req.method == "HEAD" {
            response.without_body()
        } else {
            response
        }
    }
}

/// The `ETag` of a body: its blake3, quoted (strong validator; the manifest holds the same hash).
pub fn etag(body: &[u8]) -> String {
    format!("\"{}\"", blake3::hash(body).to_hex())
}
