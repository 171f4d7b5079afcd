//! The accept loop and one task per connection: hyper's HTTP/1.1 (keep-alive, pipelining,
//! header-read timeout, bounded buffers) over a [`Guard`]ed socket, the framing rules hyper
//! leaves to its user, the idle timeout and the graceful shutdown.

use super::guard::{self, Guard};
use super::limits::*;
use super::{log, Respond};
use bytes::Bytes;
use http::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

/// What [`serve`] runs.
pub struct Config {
    pub listener: std::net::TcpListener,
    pub respond: Arc<dyn Respond>,
    pub stop: watch::Sender<bool>,
    pub log: bool,
    pub idle: Duration,
}

struct Ctx {
    respond: Arc<dyn Respond>,
    log: bool,
    idle: Duration,
}

/// Accepts until stopped, then waits for the connections to finish (at most
/// [`SHUTDOWN_GRACE`]).
pub async fn serve(config: Config) {
    let listener = match tokio::net::TcpListener::from_std(config.listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("matrix-snapshot: cannot serve: {e}");
            return;
        }
    };
    let ctx = Arc::new(Ctx {
        respond: config.respond,
        log: config.log,
        idle: config.idle,
    });
    let mut http = http1::Builder::new();
    // No hyper timer: its header-read timeout arms and cancels a timer per request; the
    // connection's watchdog below checks the guard's clock once per tick instead.
    http.max_buf_size(READ_BUFFER)
        .keep_alive(true)
        .pipeline_flush(true);
    let slots = Arc::new(Semaphore::new(CONNECTIONS));
    let mut stop = config.stop.subscribe();
    loop {
        if *stop.borrow_and_update() {
            break;
        }
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => p.expect("the semaphore is never closed"),
            _ = stop.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a little instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        // Without it, a response's head and body meet Nagle's algorithm and delayed ACKs.
        let _ = stream.set_nodelay(true);
        let conn = connection(
            stream,
            peer,
            http.clone(),
            Arc::clone(&ctx),
            config.stop.subscribe(),
        );
        tokio::spawn(async move {
            conn.await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(
        SHUTDOWN_GRACE + Duration::from_secs(1),
        slots.acquire_many(CONNECTIONS as u32),
    )
    .await;
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    http: http1::Builder,
    ctx: Arc<Ctx>,
    mut stop: watch::Receiver<bool>,
) {
    let shared = guard::Shared::new();
    let io = TokioIo::new(Guard::new(stream, Arc::clone(&shared)));
    let service_ctx = Arc::clone(&ctx);
    let service = hyper::service::service_fn(move |req| {
        let ctx = Arc::clone(&service_ctx);
        async move { Ok::<_, Infallible>(ctx.handle(req, peer).await) }
    });
    let mut conn = Box::pin(http.serve_connection(io, service));
    let tick = (ctx.idle.min(HEADER_READ_TIMEOUT) / 4)
        .clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut deadline: Option<Instant> = None;
    if *stop.borrow_and_update() {
        conn.as_mut().graceful_shutdown();
        deadline = Some(Instant::now() + SHUTDOWN_GRACE);
    }
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            changed = stop.changed(), if deadline.is_none() => {
                if changed.is_ok() {
                    // Idle keep-alive connections close now; answers in flight finish.
                    conn.as_mut().graceful_shutdown();
                    deadline = Some(Instant::now() + SHUTDOWN_GRACE);
                }
            }
            _ = tokio::time::sleep(tick) => match deadline {
                Some(d) if Instant::now() >= d => break,
                Some(_) => {}
                None => {
                    if shared.reading_head().is_some_and(|t| t >= HEADER_READ_TIMEOUT) {
                        break; // a head sent too slowly: closed without an answer
                    }
                    if shared.idle() >= ctx.idle {
                        conn.as_mut().graceful_shutdown();
                        deadline = Some(Instant::now() + Duration::from_secs(5));
                    }
                }
            },
        }
    }
    // Dropping hyper's connection drops the guard, which leaves the socket if it must linger.
    drop(conn);
    if let Some(leftover) = shared.take_leftover() {
        if let (true, Some((status, _))) = (ctx.log, leftover.refusal) {
            log::write(&format!(
                "{} \"- (request refused before routing)\" {status} 0 0.0ms\n",
                peer.ip(),
            ));
        }
        leftover.close(LINGER).await;
    }
}

impl Ctx {
    /// The responder's answer, and whether the connection must close: a panic inside it (a
    /// store changed in place under `serve`, which [`crate::store::Store::fields`] refuses to
    /// read, or a bug) is a 500 with the API's error body on a closed connection, never a
    /// dropped one; the panic's message goes to stderr as usual.
    fn answer(&self, head: &super::Head) -> (super::Answer, bool) {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.respond.respond(head)))
        {
            Ok(answer) => (answer, false),
            Err(_) => (super::to_http(crate::api::Response::error(500)), true),
        }
    }

    async fn handle(
        &self,
        req: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> hyper::Response<Full<Bytes>> {
        let started = Instant::now();
        let (head, body) = req.into_parts();
        let (answer, close) = match framing(&head.headers) {
            Err(status) => (refusal(status), true),
            Ok(declared) if declared > BODY => {
                // Answered without reading the body; the connection cannot be reused.
                drop(body);
                (self.answer(&head).0, true)
            }
            Ok(0) => self.answer(&head),
            Ok(_) => match tokio::time::timeout(BODY_READ_TIMEOUT, discard(body)).await {
                Ok(true) => self.answer(&head),
                Ok(false) => (refusal(StatusCode::BAD_REQUEST), true),
                Err(_) => (refusal(StatusCode::REQUEST_TIMEOUT), true),
            },
        };
        let (mut parts, bytes) = answer.into_parts();
        if close {
            parts
                .headers
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        if self.log {
            let length = parts
                .headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(bytes.len() as u64);
            log::write(&log::line(
                peer,
                head.method.as_str(),
                super::target(&head),
                head.version,
                parts.status.as_u16(),
                length,
                started.elapsed().as_secs_f64() * 1000.0,
            ));
        }
        hyper::Response::from_parts(parts, Full::new(bytes))
    }
}

/// Reads a (small, declared) body to its end, keeping none of it: false on an error.
async fn discard(mut body: Incoming) -> bool {
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            return false;
        }
    }
    true
}

/// Checks what hyper leaves to its user: a request carries no `Transfer-Encoding` (neither
/// server takes a body, and a chunked GET is how a front proxy and a server are made to
/// disagree on where a request ends), at most one `Content-Length`, of digits only (hyper
/// refuses a malformed one itself, and keeps one of equal repeats: the guard refuses a second
/// line before), and at most [`HEADER_BLOCK`] header bytes. The declared body length, or the
/// status to refuse with.
pub fn framing(headers: &HeaderMap) -> Result<u64, StatusCode> {
    if headers.contains_key(TRANSFER_ENCODING) {
        return Err(StatusCode::BAD_REQUEST);
    }
    let mut lengths = headers.get_all(CONTENT_LENGTH).iter();
    let declared = match (lengths.next(), lengths.next()) {
        (None, _) => 0,
        (Some(v), None) => {
            let digits = v.as_bytes();
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return Err(StatusCode::BAD_REQUEST);
            }
            std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse().ok())
                .ok_or(StatusCode::BAD_REQUEST)?
        }
        (Some(_), Some(_)) => return Err(StatusCode::BAD_REQUEST),
    };
    let bytes: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    if bytes > HEADER_BLOCK {
        return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    Ok(declared)
}

/// What the HTTP layer answers itself: the status, `Connection: close`, no body (spec §1).
fn refusal(status: StatusCode) -> super::Answer {
    let mut answer = http::Response::new(Bytes::new());
    *answer.status_mut() = status;
    answer
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in lines {
            h.append(
                http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn framing_takes_one_content_length_of_digits_and_no_transfer_encoding() {
        assert_eq!(framing(&headers(&[])), Ok(0));
        assert_eq!(framing(&headers(&[("Content-Length", "5")])), Ok(5));
        assert_eq!(framing(&headers(&[("Content-Length", "007")])), Ok(7));
        for bad in ["abc", "5, 5", "+5", "-1", " ", "18446744073709551616"] {
            assert_eq!(
                framing(&headers(&[("Content-Length", bad)])),
                Err(StatusCode::BAD_REQUEST),
                "{bad}"
            );
        }
        assert_eq!(
            framing(&headers(&[
                ("Content-Length", "5"),
                ("Content-Length", "5")
            ])),
            Err(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            framing(&headers(&[("Transfer-Encoding", "chunked")])),
            Err(StatusCode::BAD_REQUEST)
        );
    }

    #[test]
    fn framing_counts_header_bytes() {
        let v = "v".repeat(1000);
        let names: Vec<String> = (0..70).map(|i| format!("x-{i}")).collect();
        let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), v.as_str())).collect();
        assert_eq!(
            framing(&headers(&many)),
            Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        assert_eq!(framing(&headers(&many[..60])), Ok(0));
    }

    /// A panic while answering (e.g. `serve`'s store changed in place under it) is a 500 with
    /// the API's error body and `Connection: close`, and the server goes on answering.
    #[test]
    fn a_panic_while_answering_is_a_500_and_the_server_goes_on() {
        use std::io::{Read, Write};
        let handler: crate::serve::Handler = Arc::new(|r: &crate::api::Request| {
            assert!(r.target != "/boom", "the answer panics");
            crate::api::Response::error(404)
        });
        let server = crate::serve::Server::bind_handler(handler, "127.0.0.1:0", 1)
            .expect("bind")
            .with_log(false);
        let (addr, stop) = (server.addr(), server.stop_handle());
        let running = std::thread::spawn(move || server.run());
        let get = |path: &str| {
            let mut c = std::net::TcpStream::connect(addr).expect("connect");
            write!(
                c,
                "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut text = String::new();
            c.read_to_string(&mut text)
                .expect("an answer, not a dropped connection");
            text.to_ascii_lowercase()
        };
        let boom = get("/boom");
        assert!(boom.starts_with("http/1.1 500"), "{boom}");
        assert!(boom.contains("connection: close"), "{boom}");
        let body = String::from_utf8(crate::api::response::error_body(500)).unwrap();
        assert!(boom.ends_with(&body.to_ascii_lowercase()), "{boom}");
        assert!(get("/fine").starts_with("http/1.1 404"));
        stop.stop();
        running.join().expect("the server stops");
    }
}
