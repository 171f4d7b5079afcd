//! The HTTP layer's limits and timeouts (documented in `docs/servers.md`). A request over a
//! limit is answered by the layer itself with `Connection: close` and no body (spec §1).

use std::time::Duration;

/// The longest request line (method, target, version): 64 KiB. Longer: 414, connection closed.
pub const REQUEST_LINE: usize = 64 * 1024;
/// The most header bytes of one request (names, values and line ends): 64 KiB. More: 431.
pub const HEADER_BLOCK: usize = 64 * 1024;
/// The most header lines of one request (hyper's default). More: 431.
pub const HEADER_COUNT: usize = 100;
/// hyper's read buffer: a request line and a header block at their limits, plus room. Memory
/// per connection never grows past it.
pub const READ_BUFFER: usize = REQUEST_LINE + HEADER_BLOCK + 8 * 1024;
/// The largest request body read (and discarded: neither server takes a body). A request that
/// declares more is answered, then its connection closed without reading the body.
pub const BODY: u64 = 8 * 1024;
/// How long a client may take to send a whole request head, from its first byte.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a declared body of up to [`BODY`] bytes: then 408.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection with no byte either way for this long is closed (`preview --idle-timeout`).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// After a stop (SIGTERM, SIGINT), how long requests in flight have to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long a connection closed by the server (a refusal, a timeout, a shutdown) reads what
/// the client still sends, so the close does not reset the connection before the client has
/// read the last answer.
pub const LINGER: Duration = Duration::from_secs(1);
/// The most connections served at once; further clients wait in the listen backlog.
pub const CONNECTIONS: usize = 16_384;
/// How much of a request target the access log keeps.
pub const LOGGED_TARGET: usize = 512;
