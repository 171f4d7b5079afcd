//! `serve`: the Content API over HTTP/1.1, answering every request through [`crate::answer`]
//! unchanged. It is the dev server and the live oracle that tests (and later `crawl`) talk to.
//! `preview` runs the same server over a snapshot's files ([`crate::route::preview`]).
//!
//! It decides nothing: it turns an HTTP request into a [`Request`] (raw target, `Authorization`,
//! `Host`), hands it to its handler and writes the [`Response`] back, with one access-log line
//! per request on stderr (never the token).

use crate::api::{answer, Catalog, Request, Response};
use crate::store::url::Scheme;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// What a server answers with.
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// A bound server, ready to [`Server::run`].
pub struct Server {
    http: Arc<tiny_http::Server>,
    handler: Handler,
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    threads: usize,
    log: bool,
}

/// Stops a running [`Server`] from another thread (Ctrl-C, tests).
#[derive(Clone)]
pub struct StopHandle {
    http: Arc<tiny_http::Server>,
    stopping: Arc<AtomicBool>,
    threads: usize,
}

impl StopHandle {
    /// Asks every worker to finish its current request and return.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for _ in 0..self.threads {
            self.http.unblock();
        }
    }
}

impl Server {
    /// Binds `listen` (e.g. `127.0.0.1:8080`; port 0 picks a free one) to answer from a catalog.
    pub fn bind(catalog: Arc<Catalog>, listen: &str, threads: usize) -> io::Result<Server> {
        Server::bind_handler(Arc::new(move |r| answer(&catalog, r)), listen, threads)
    }

    /// Binds `listen` to answer with `handler`.
    pub fn bind_handler(handler: Handler, listen: &str, threads: usize) -> io::Result<Server> {
        let listener = std::net::TcpListener::bind(listen)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}")))?;
        // Accepted sockets inherit TCP_NODELAY on Linux. Without it, tiny_http's separate header
        // and body writes meet Nagle's algorithm and delayed ACKs: 40 ms per keep-alive response.
        rustix::net::sockopt::set_tcp_nodelay(&listener, true)?;
        let http = tiny_http::Server::from_listener(listener, None).map_err(|e| {
            io::Error::new(io::ErrorKind::AddrNotAvailable, format!("{listen}: {e}"))
        })?;
        let addr = http
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("not an IP listener"))?;
        Ok(Server {
            http: Arc::new(http),
            handler,
            addr,
            stopping: Arc::new(AtomicBool::new(false)),
            threads: threads.max(1),
            log: true,
        })
    }

    /// Turns the access log on or off (on by default).
    pub fn with_log(mut self, log: bool) -> Server {
        self.log = log;
        self
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops the server.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            http: Arc::clone(&self.http),
            stopping: Arc::clone(&self.stopping),
            threads: self.threads,
        }
    }

    /// Serves until stopped, with `threads` workers.
    pub fn run(self) {
        std::thread::scope(|scope| {
            for _ in 0..self.threads {
                scope.spawn(|| self.worker());
            }
        });
    }

    fn worker(&self) {
        while !self.stopping.load(Ordering::SeqCst) {
            let Ok(request) = self.http.recv() else {
                continue;
            };
            if self.stopping.load(Ordering::SeqCst) {
                // Woken by `stop` (or a request racing it): answer and leave.
                self.handle(request);
                break;
            }
            self.handle(request);
        }
    }

    fn handle(&self, request: tiny_http::Request) {
        let started = Instant::now();
        let header = |name: &'static str| {
            request
                .headers()
                .iter()
                .find(|h| h.field.equiv(name))
                .map(|h| h.value.as_str().to_string())
        };
        let req = Request {
            method: request.method().as_str().to_string(),
            target: request.url().to_string(),
            authorization: header("Authorization"),
            host: header("Host"),
            scheme: Scheme::Http,
        };
        let response = (self.handler)(&req);
        let line = self.log.then(|| {
            let peer = request
                .remote_addr()
                .map_or_else(|| "-".to_string(), |a| a.ip().to_string());
            format!(
                "{peer} \"{} {} HTTP/{}\" {} {} {:.1}ms\n",
                req.method,
                log_target(&req.target),
                request.http_version(),
                response.status,
                response.header("Content-Length").unwrap_or("0"),
                started.elapsed().as_secs_f64() * 1000.0
            )
        });
        let _ = request.respond(to_tiny(response));
        if let Some(line) = line {
            let _ = io::stderr().lock().write_all(line.as_bytes());
        }
    }
}

/// The target as logged: control characters escaped so a request cannot forge log lines.
fn log_target(target: &str) -> String {
    target.escape_debug().to_string()
}

fn to_tiny(response: Response) -> tiny_http::Response<io::Cursor<Vec<u8>>> {
    let headers = response
        .headers
        .iter()
        .filter_map(|(n, v)| tiny_http::Header::from_bytes(n.as_bytes(), v.as_bytes()).ok())
        .collect();
    let length = response
        .header("Content-Length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(response.body.len());
    tiny_http::Response::new(
        tiny_http::StatusCode(response.status),
        headers,
        io::Cursor::new(response.body),
        Some(length),
        None,
    )
    // Always `Content-Length`, never chunked, whatever the body size.
    .with_chunked_threshold(usize::MAX)
}
