//! The socket under hyper, watched: it measures each line a client sends and the head of each
//! request, so an over-long request line gets its 414 and an over-large head its 431 before
//! hyper's read buffer fills (hyper would answer a full buffer with 431 whatever overflowed),
//! and it records when a byte last moved either way, for the idle timeout.
//!
//! It also judges the framing headers, which hyper would take or refuse in ways that lose the
//! answer: a `Transfer-Encoding` line (neither server takes a body; a chunked GET is how a front
//! proxy and a server are made to disagree on where a request ends), a `Content-Length` that is
//! not digits only (`abc`, `+5`, `5, 5`) and a second `Content-Length` line (hyper keeps one of
//! equal repeats) are refused with 400.
//!
//! On a refusal it stops reading: hyper sees the end of the stream, finishes any answer in
//! flight and drops the socket. A guard dropped before the client ended its stream keeps a
//! duplicate of the socket, on which [`Leftover::close`] writes the refusal's answer (after
//! hyper's, so answers stay in order), ends the sending side and reads what the client still
//! sends for a moment before closing: closing a socket with unread input resets the
//! connection, and the client could lose the answer (nginx's lingering close does the same).

use super::limits::{HEADER_BLOCK, REQUEST_LINE};
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The most bytes of one request head (request line, header lines, line ends) before the guard
/// answers 431; hyper's buffer is larger, so it never overflows first.
pub const HEAD_LIMIT: usize = REQUEST_LINE + HEADER_BLOCK + 4 * 1024;

/// How many bytes of each line the guard keeps: a `Content-Length` line's name and value.
const START: usize = 64;

const URI_TOO_LONG: &[u8] =
    b"HTTP/1.1 414 URI Too Long\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
const HEADERS_TOO_LARGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// What the guard shares with its connection's task.
pub struct Shared {
    epoch: Instant,
    /// Milliseconds since `epoch` when a byte last moved.
    last: AtomicU64,
    /// Milliseconds since `epoch` (plus one) when the request head being read began; 0 between
    /// heads.
    head_since: AtomicU64,
    leftover: Mutex<Option<Leftover>>,
}

impl Shared {
    pub fn new() -> Arc<Shared> {
        Arc::new(Shared {
            epoch: Instant::now(),
            last: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            leftover: Mutex::new(None),
        })
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn touch(&self) {
        let ms = self.now();
        // Only when it changed: most reads and writes of a busy connection store nothing.
        if self.last.load(Ordering::Relaxed) != ms {
            self.last.store(ms, Ordering::Relaxed);
        }
    }

    /// How long since a byte last moved.
    pub fn idle(&self) -> std::time::Duration {
        let now = self.epoch.elapsed().as_millis() as u64;
        std::time::Duration::from_millis(now.saturating_sub(self.last.load(Ordering::Relaxed)))
    }

    /// How long the client has been sending the current request head (`None` between heads).
    pub fn reading_head(&self) -> Option<std::time::Duration> {
        match self.head_since.load(Ordering::Relaxed) {
            0 => None,
            since => Some(std::time::Duration::from_millis(
                (self.now() + 1).saturating_sub(since),
            )),
        }
    }

    /// What the dropped guard left to close, if anything.
    pub fn take_leftover(&self) -> Option<Leftover> {
        self.leftover.lock().ok()?.take()
    }
}

/// A socket the client may still be sending on, and the refusal to answer on it.
pub struct Leftover {
    /// The refusal's status and answer.
    pub refusal: Option<(u16, &'static [u8])>,
    socket: OwnedFd,
}

impl Leftover {
    /// Writes the refusal's answer, ends the sending side and reads (discarding) what the
    /// client still sends until it closes or `linger` passes.
    pub async fn close(self, linger: std::time::Duration) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok(mut stream) = TcpStream::from_std(std::net::TcpStream::from(self.socket)) else {
            return;
        };
        let _ = tokio::time::timeout(linger, async {
            if let Some((_, answer)) = self.refusal {
                if stream.write_all(answer).await.is_err() {
                    return;
                }
            }
            let _ = stream.shutdown().await;
            let mut sink = [0u8; 16 * 1024];
            let mut total = 0usize;
            while let Ok(n) = stream.read(&mut sink).await {
                total += n;
                if n == 0 || total > 64 * 1024 * 1024 {
                    break;
                }
            }
        })
        .await;
    }
}

/// A TCP stream whose reads are measured (see the module doc).
pub struct Guard {
    inner: TcpStream,
    shared: Arc<Shared>,
    lines: Lines,
    /// The refusal made, if any: reads end.
    refusal: Option<(u16, &'static [u8])>,
    /// Whether the client ended its stream (or it failed).
    ended: bool,
}

/// Where the client is in its stream of lines.
#[derive(Debug)]
struct Lines {
    /// Bytes of the current line so far (its CR included, not its LF).
    line: usize,
    /// Whether the last byte seen was a CR.
    last_cr: bool,
    /// Whether the current line is the first of a request (the request line).
    first: bool,
    /// Bytes of the current request head so far.
    head: usize,
    /// The first bytes of the current line (to judge framing headers).
    start: [u8; START],
    /// `Content-Length` lines in the current head.
    lengths: u8,
    /// Whether a request head is being read (its first byte came, its blank line not yet).
    in_head: bool,
}

impl Default for Lines {
    fn default() -> Lines {
        Lines {
            line: 0,
            last_cr: false,
            first: true,
            head: 0,
            start: [0; START],
            lengths: 0,
            in_head: false,
        }
    }
}

impl Lines {
    /// Follows the lines of `data`; the status to refuse with, if a limit is passed.
    fn scan(&mut self, mut data: &[u8]) -> Option<u16> {
        if !data.is_empty() {
            // A body's bytes count as a head's start too: bodies are small and read at once.
            self.in_head = true;
        }
        while let Some(i) = memchr::memchr(b'\n', data) {
            let len = self.line + i;
            if let Some(status) = self.over(len) {
                return Some(status);
            }
            self.remember(&data[..i]);
            if !self.first && self.bad_framing(len) {
                return Some(400);
            }
            let cr_only = len == 1
                && if i >= 1 {
                    data[i - 1] == b'\r'
                } else {
                    self.last_cr
                };
            let blank = len == 0 || cr_only;
            self.head = if blank { 0 } else { self.head + len + 1 };
            if blank {
                self.lengths = 0;
                self.in_head = i + 1 < data.len();
            }
            if self.head > HEAD_LIMIT {
                return Some(431);
            }
            self.first = blank;
            self.line = 0;
            self.last_cr = false;
            data = &data[i + 1..];
        }
        if let Some(&b) = data.last() {
            self.remember(data);
            self.line += data.len();
            self.last_cr = b == b'\r';
        }
        if self.head + self.line > HEAD_LIMIT {
            return Some(431);
        }
        self.over(self.line)
    }

    /// Whether the header line just ended (`len` bytes) is a framing header to refuse.
    fn bad_framing(&mut self, len: usize) -> bool {
        let line = &self.start[..len.min(START)];
        let Some(colon) = memchr::memchr(b':', line) else {
            return false;
        };
        let name = &line[..colon];
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return true;
        }
        if !name.eq_ignore_ascii_case(b"content-length") {
            return false;
        }
        self.lengths += 1;
        let value = line[colon + 1..].trim_ascii();
        self.lengths > 1
            || len > START
            || value.is_empty()
            || value.len() > 19
            || !value.iter().all(u8::is_ascii_digit)
    }

    /// Keeps the first bytes of the current line, `data` continuing it.
    fn remember(&mut self, data: &[u8]) {
        if self.line < self.start.len() {
            let n = (self.start.len() - self.line).min(data.len());
            self.start[self.line..self.line + n].copy_from_slice(&data[..n]);
        }
    }

    fn over(&self, len: usize) -> Option<u16> {
        // A line's CR is not part of it; one byte of slack for it.
        if len > REQUEST_LINE + 1 {
            Some(if self.first { 414 } else { 431 })
        } else {
            None
        }
    }
}

impl Guard {
    pub fn new(inner: TcpStream, shared: Arc<Shared>) -> Guard {
        Guard {
            inner,
            shared,
            lines: Lines::default(),
            refusal: None,
            ended: false,
        }
    }

    fn refuse(&mut self, status: u16) {
        let answer = match status {
            414 => URI_TOO_LONG,
            431 => HEADERS_TOO_LARGE,
            _ => BAD_REQUEST,
        };
        self.refusal = Some((status, answer));
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.ended && self.refusal.is_none() {
            return;
        }
        if let Ok(socket) = rustix::io::dup(&self.inner) {
            if let Ok(mut slot) = self.shared.leftover.lock() {
                *slot = Some(Leftover {
                    refusal: self.refusal,
                    socket,
                });
            }
        }
    }
}

impl AsyncRead for Guard {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refusal.is_some() {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        match &polled {
            Poll::Ready(Err(_)) => this.ended = true,
            Poll::Ready(Ok(())) if buf.filled().len() == before && buf.remaining() > 0 => {
                this.ended = true
            }
            _ => {}
        }
        if let Poll::Ready(Ok(())) = polled {
            let after = buf.filled().len();
            if after > before {
                this.shared.touch();
                let was = this.lines.in_head;
                if let Some(status) = this.lines.scan(&buf.filled()[before..after]) {
                    buf.set_filled(before);
                    this.refuse(status);
                }
                match (was, this.lines.in_head) {
                    (false, true) => this
                        .shared
                        .head_since
                        .store(this.shared.now() + 1, Ordering::Relaxed),
                    (true, false) => this.shared.head_since.store(0, Ordering::Relaxed),
                    _ => {}
                }
            }
        }
        polled
    }
}

impl AsyncWrite for Guard {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            if n > 0 {
                this.shared.touch();
            }
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled {
            if n > 0 {
                this.shared.touch();
            }
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refusal.is_some() {
            // The refusal's answer is still to be written on the duplicate.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(chunks: &[&[u8]]) -> Option<u16> {
        let mut lines = Lines::default();
        chunks.iter().find_map(|c| lines.scan(c))
    }

    #[test]
    fn a_long_request_line_is_414_a_long_header_line_431() {
        let long = vec![b'a'; REQUEST_LINE + 10];
        assert_eq!(statuses(&[b"GET /", &long]), Some(414));
        assert_eq!(statuses(&[b"GET / HTTP/1.1\r\nX: ", &long]), Some(431));
        // After a complete request, the next request line is a first line again.
        assert_eq!(
            statuses(&[b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /", &long]),
            Some(414)
        );
        // A CRLF split across reads.
        assert_eq!(
            statuses(&[b"GET / HTTP/1.1\r\nHost: t\r", b"\n\r", b"\nGET /", &long]),
            Some(414)
        );
    }

    #[test]
    fn a_second_content_length_line_is_400() {
        assert_eq!(
            statuses(&[b"GET / HTTP/1.1\r\nContent-Length: 5\r\ncontent-LENGTH: 5\r\n\r\n"]),
            Some(400)
        );
        // Split across reads.
        assert_eq!(
            statuses(&[
                b"GET / HTTP/1.1\r\nContent-Length: 5\r\nConte",
                b"nt-Len",
                b"gth: 5\r\n"
            ]),
            Some(400)
        );
        for bad in ["abc", "+5", "5, 5", "-1", "", "12345678901234567890", "5 5"] {
            let head = format!("GET / HTTP/1.1\r\nContent-Length: {bad}\r\n\r\n");
            assert_eq!(statuses(&[head.as_bytes()]), Some(400), "{bad:?}");
        }
        assert_eq!(
            statuses(&[b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"]),
            Some(400)
        );
        assert_eq!(
            statuses(&[b"GET / HTTP/1.1\r\nContent-Length:\t 7 \r\n\r\n"]),
            None
        );
        // One per request is fine, pipelined or not.
        let one = b"GET / HTTP/1.1\r\nContent-Length: 0\r\nX-Content-Length: 1\r\n\r\n";
        assert_eq!(statuses(&[one, one, one]), None);
    }

    #[test]
    fn many_header_lines_are_431_and_lines_within_limits_pass() {
        let line = format!("X-A: {}\r\n", "v".repeat(1000));
        let many = line.repeat(HEAD_LIMIT / line.len() + 2);
        assert_eq!(
            statuses(&[b"GET / HTTP/1.1\r\n", many.as_bytes()]),
            Some(431)
        );
        let fine = line.repeat(60);
        let exact = format!("GET /{} HTTP/1.1\r\n", "a".repeat(REQUEST_LINE - 15));
        assert_eq!(
            statuses(&[exact.as_bytes(), fine.as_bytes(), b"\r\n"]),
            None
        );
        // Heads reset at each blank line: many small requests never add up.
        let small = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n".repeat(20_000);
        assert_eq!(statuses(&[&small]), None);
    }
}
