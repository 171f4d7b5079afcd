//! `serve`: the Content API over HTTP/1.1, answering every request through [`crate::answer`]
//! unchanged. It is the dev server and the live oracle that tests (and later `crawl`) talk to.
//! `preview` runs the same server over a snapshot's files ([`crate::route::preview`]).
//!
//! The HTTP layer is hyper 1 on a tokio runtime: every connection is a task, not a thread, so
//! thousands of slow clients cost memory, not workers. What it refuses before routing it answers
//! itself, with `Connection: close` and no body (spec §1, "Header values may carry bytes
//! 0x80–0xFF"): the limits and timeouts are in [`limits`] and `docs/servers.md`.
//!
//! It decides nothing: it turns an HTTP request into a [`Request`] (raw target, `Authorization`,
//! `Host`), hands it to its handler and writes the [`Response`] back, with one access-log line
//! per request on stderr (never the token).

mod conn;
mod guard;
pub mod limits;
mod log;

use crate::api::{answer, Catalog, Request, Response};
use crate::store::url::Scheme;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, HOST};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

/// What a server answers with: one [`Request`] in, one [`Response`] out.
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// The request as the HTTP layer read it (method, target, headers), for a [`Respond`].
pub type Head = http::request::Parts;

/// An answer: status, headers and the whole body. A `HEAD` answer keeps the `Content-Length`
/// of its `GET` and an empty body.
pub type Answer = http::Response<Bytes>;

/// Something that answers requests from their head. [`Handler`]s are one; `preview` has its
/// own (hot bodies cached, `If-None-Match`).
pub trait Respond: Send + Sync + 'static {
    /// Answers one request.
    fn respond(&self, head: &Head) -> Answer;
}

impl Respond for Handler {
    fn respond(&self, head: &Head) -> Answer {
        to_http(self(&api_request(head)))
    }
}

/// The [`Request`] of an HTTP request head. Header values are bytes (RFC 9110 obs-text allows
/// 0x80–0xFF); bytes that are not UTF-8 become U+FFFD, so such a token is well-formed and
/// unknown (401 `invalid_token`), never a dropped connection.
pub fn api_request(head: &Head) -> Request {
    let text = |name: HeaderName| {
        head.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    Request {
        method: head.method.as_str().to_string(),
        target: target(head).to_string(),
        authorization: text(AUTHORIZATION),
        host: text(HOST).or_else(|| head.uri.authority().map(|a| a.as_str().to_string())),
        scheme: Scheme::Http,
    }
}

/// The request target as routed: path and query as sent (an absolute-form target gives its
/// path and query, as RFC 9112 §3.2.2 asks).
pub fn target(head: &Head) -> &str {
    head.uri.path_and_query().map_or("/", |p| p.as_str())
}

/// An API [`Response`] as an HTTP answer (headers in order; a name or value HTTP cannot carry
/// is left out).
pub fn to_http(response: Response) -> Answer {
    let mut out = http::Response::new(Bytes::from(response.body));
    *out.status_mut() = http::StatusCode::from_u16(response.status)
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = out.headers_mut();
    for (name, value) in response.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_maybe_shared(Bytes::from(value)),
        ) {
            headers.append(n, v);
        }
    }
    out
}

/// A bound server, ready to [`Server::run`].
pub struct Server {
    listener: std::net::TcpListener,
    respond: Arc<dyn Respond>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    threads: usize,
    log: bool,
    idle: std::time::Duration,
}

/// Stops a running [`Server`] from another thread (Ctrl-C, SIGTERM, tests): it stops accepting,
/// lets every request in flight finish (idle keep-alive connections close at once) and returns.
#[derive(Clone)]
pub struct StopHandle {
    stop: watch::Sender<bool>,
}

impl StopHandle {
    /// Starts the graceful shutdown.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}

impl Server {
    /// Binds `listen` (e.g. `127.0.0.1:8080`; port 0 picks a free one) to answer from a catalog.
    pub fn bind(catalog: Arc<Catalog>, listen: &str, threads: usize) -> io::Result<Server> {
        Server::bind_handler(Arc::new(move |r| answer(&catalog, r)), listen, threads)
    }

    /// Binds `listen` to answer with `handler`.
    pub fn bind_handler(handler: Handler, listen: &str, threads: usize) -> io::Result<Server> {
        Server::bind_with(Arc::new(handler), listen, threads)
    }

    /// Binds `listen` to answer with `respond`; `threads` runtime workers (0: one per core).
    pub fn bind_with(
        respond: Arc<dyn Respond>,
        listen: &str,
        threads: usize,
    ) -> io::Result<Server> {
        let listener = std::net::TcpListener::bind(listen)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}")))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        Ok(Server {
            listener,
            respond,
            addr,
            stop: watch::channel(false).0,
            threads: if threads == 0 {
                std::thread::available_parallelism().map_or(2, |n| n.get())
            } else {
                threads
            },
            log: true,
            idle: limits::IDLE_TIMEOUT,
        })
    }

    /// Turns the access log on or off (on by default).
    pub fn with_log(mut self, log: bool) -> Server {
        self.log = log;
        self
    }

    /// Closes a connection after this long without a byte either way (default
    /// [`limits::IDLE_TIMEOUT`]).
    pub fn with_idle_timeout(mut self, idle: std::time::Duration) -> Server {
        self.idle = idle;
        self
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops the server.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            stop: self.stop.clone(),
        }
    }

    /// Serves until stopped, on a runtime of `threads` workers; returns once every connection
    /// has finished (or [`limits::SHUTDOWN_GRACE`] has passed).
    pub fn run(self) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.threads)
            .thread_name("matrix-snapshot-http")
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime.block_on(conn::serve(conn::Config {
            listener: self.listener,
            respond: self.respond,
            stop: self.stop,
            log: self.log,
            idle: self.idle,
        }));
    }
}
