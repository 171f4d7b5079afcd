//! A raw HTTP/1.1 client for the conformance harness: it sends the request target byte for byte
//! (no normalisation of `..`, `//` or percent-encoding, which is what is being tested), keeps
//! the connection alive, and reads bodies by `Content-Length`, chunked encoding or close.
//! Response heads are parsed by `httparse`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A response as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Status code.
    pub status: u16,
    /// Headers (names as sent).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Received {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One keep-alive connection to `addr` (`host:port`), reopened when the server closes it.
pub struct Client {
    addr: String,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    /// A client for `addr`; nothing is opened until the first request.
    pub fn new(addr: &str) -> Client {
        Client {
            addr: addr.to_string(),
            conn: None,
        }
    }

    /// Sends one request; retries once on a fresh connection if the kept-alive one was closed.
    pub fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
    ) -> io::Result<Received> {
        match self.try_send(method, target, headers) {
            Ok(r) => Ok(r),
            Err(_) => {
                self.conn = None;
                self.try_send(method, target, headers)
            }
        }
    }

    fn try_send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
    ) -> io::Result<Received> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(&self.addr)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(30)))?;
            self.conn = Some(BufReader::new(stream));
        }
        let conn = self.conn.as_mut().expect("connected");
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        if method == "POST" || method == "PUT" || method == "PATCH" {
            head.push_str("Content-Length: 0\r\n");
        }
        head.push_str("\r\n");
        conn.get_mut().write_all(head.as_bytes())?;
        let received = read_response(conn, method == "HEAD")?;
        let close = received
            .header("Connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if close {
            self.conn = None;
        }
        Ok(received)
    }
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn read_response(conn: &mut BufReader<TcpStream>, head_only: bool) -> io::Result<Received> {
    // Read the head up to the blank line.
    let mut raw = Vec::new();
    loop {
        let n = conn.read_until(b'\n', &mut raw)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            ));
        }
        if raw.ends_with(b"\r\n\r\n") || raw.ends_with(b"\n\n") {
            break;
        }
        if raw.len() > 64 * 1024 {
            return Err(bad("response head over 64 KiB"));
        }
    }
    let mut header_buf = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut header_buf);
    match parsed
        .parse(&raw)
        .map_err(|e| bad(format!("bad response head: {e}")))?
    {
        httparse::Status::Complete(_) => {}
        httparse::Status::Partial => return Err(bad("incomplete response head")),
    }
    let status = parsed.code.ok_or_else(|| bad("no status code"))?;
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let mut r = Received {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(r);
    }
    let chunked = r
        .header("Transfer-Encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        r.body = read_chunked(conn)?;
    } else if let Some(len) = r.header("Content-Length") {
        let len: usize = len
            .trim()
            .parse()
            .map_err(|_| bad(format!("bad Content-Length {len:?}")))?;
        r.body = vec![0; len];
        conn.read_exact(&mut r.body)?;
    } else {
        conn.read_to_end(&mut r.body)?;
        r.headers.push(("Connection".into(), "close".into()));
    }
    Ok(r)
}

fn read_chunked(conn: &mut BufReader<TcpStream>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = Vec::new();
        conn.read_until(b'\n', &mut line)?;
        let size = match httparse::parse_chunk_size(&line) {
            Ok(httparse::Status::Complete((_, size))) => size as usize,
            _ => return Err(bad("bad chunk size line")),
        };
        if size == 0 {
            // Trailers up to the blank line.
            loop {
                let mut t = Vec::new();
                conn.read_until(b'\n', &mut t)?;
                if t == b"\r\n" || t == b"\n" || t.is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        conn.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        conn.read_exact(&mut crlf)?;
    }
}
