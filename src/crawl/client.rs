//! The crawl's HTTP client: one `GET` of a Content API path, made polite and robust.
//!
//! - **Bounded and paced**: the caller bounds concurrency; `--rate` spaces request starts evenly
//!   across all threads (one shared next-slot clock).
//! - **Retries** with exponential backoff and full jitter on connection errors, timeouts,
//!   truncated bodies, JSON that does not parse, 5xx and 429 (`Retry-After` in seconds is
//!   honoured, capped); never on other 4xx.
//! - **Redirects** are followed by hand (at most [`MAX_REDIRECTS`]) and only within the base
//!   URL's scheme, host and port, so the token is never sent to another host.
//! - The token is sent in the `Authorization` header and appears in no error, URL or log line.

use serde_json::Value;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Redirects followed per request.
pub const MAX_REDIRECTS: u32 = 5;
/// Longest wait honoured from a `Retry-After` header or computed by the backoff.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Largest body read (a children page of a huge folder with all data can be big).
const MAX_BODY: u64 = 512 * 1024 * 1024;

/// Counters shared with whoever shows progress (all relaxed: they are statistics).
#[derive(Debug, Default)]
pub struct Stats {
    /// HTTP requests sent (every attempt, redirects and retries included).
    pub requests: AtomicU64,
    /// Attempts that were retried.
    pub retries: AtomicU64,
    /// Assets whose lineage and children are fetched (or refused).
    pub assets: AtomicU64,
    /// Assets found so far (queued or done).
    pub found: AtomicU64,
    /// Assets refused (403/404/other 4xx) or failed after retries.
    pub errors: AtomicU64,
}

impl Stats {
    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// How one `GET` ended, when it did not fail.
#[derive(Debug)]
pub enum Answer {
    /// 200 with a JSON body.
    Json(Value),
    /// A 4xx other than 401 (not retried): the status and the server's message.
    Refused(u16, String),
}

/// Why a `GET` failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// 401: the token is not accepted; the crawl stops.
    #[error("{url}: the server refused the token (401): {message}")]
    Unauthorized {
        /// The URL asked.
        url: String,
        /// The server's message (body `message`, else the `WWW-Authenticate` header).
        message: String,
    },
    /// The answer is not the Content API's (HTML, another content type, a foreign redirect).
    #[error("{url}: {why}")]
    NotApi {
        /// The URL asked.
        url: String,
        /// What was wrong.
        why: String,
    },
    /// Still failing after every retry.
    #[error("{url}: {why} (after {attempts} attempts)")]
    GaveUp {
        /// The URL asked.
        url: String,
        /// The last failure.
        why: String,
        /// Attempts made.
        attempts: u32,
    },
}

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Requests per second across all threads (`None`: as fast as the concurrency allows).
    pub rate: Option<f64>,
    /// Attempts per request, the first included.
    pub attempts: u32,
    /// First backoff delay (doubled per retry, full jitter).
    pub backoff: Duration,
    /// Connect and read timeout.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            rate: None,
            attempts: 8,
            backoff: Duration::from_millis(200),
            timeout: Duration::from_secs(30),
        }
    }
}

/// A Content API client for one base URL and token.
pub struct Client {
    agent: ureq::Agent,
    origin: String,
    prefix: String,
    authorization: String,
    options: ClientOptions,
    next_slot: Mutex<Instant>,
    seed: AtomicU64,
    /// Shared counters.
    pub stats: std::sync::Arc<Stats>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Client")
            .field("origin", &self.origin)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Splits `https://host[:port][/prefix]` into origin (`https://host:port`, lower-case scheme and
/// host) and path prefix (no trailing `/`).
pub fn split_base(base_url: &str) -> Result<(String, String), String> {
    let (scheme, rest) = base_url
        .split_once("://")
        .ok_or_else(|| format!("{base_url:?} is not an absolute http(s) URL"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("{base_url:?}: only http and https are supported"));
    }
    let (host, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if host.is_empty() || host.contains('@') {
        return Err(format!(
            "{base_url:?}: expected scheme://host[:port][/path]"
        ));
    }
    if path.contains(['?', '#']) {
        return Err(format!("{base_url:?}: a base URL has no query or fragment"));
    }
    let path = path.trim_end_matches('/').trim_end_matches("/__api");
    Ok((
        format!("{scheme}://{}", host.to_ascii_lowercase()),
        path.to_string(),
    ))
}

impl Client {
    /// A client for `base_url` (the site, e.g. `https://www.example.edu`; `/__api/` is added).
    pub fn new(
        base_url: &str,
        token: &str,
        options: ClientOptions,
        stats: std::sync::Arc<Stats>,
    ) -> Result<Client, String> {
        let (origin, prefix) = split_base(base_url)?;
        if token.is_empty() || token.chars().any(char::is_whitespace) {
            return Err("the token is empty or contains whitespace".into());
        }
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(options.timeout)
            .timeout_read(options.timeout)
            .timeout_write(options.timeout)
            .redirects(0)
            .user_agent(concat!("matrix-snapshot-crawl/", env!("CARGO_PKG_VERSION")))
            .build();
        let seed = Instant::now().elapsed().as_nanos() as u64 ^ 0x9e37_79b9_7f4a_7c15;
        Ok(Client {
            agent,
            origin,
            prefix,
            authorization: format!("Bearer {token}"),
            options,
            next_slot: Mutex::new(Instant::now()),
            seed: AtomicU64::new(seed | 1),
            stats,
        })
    }

    /// The absolute URL of an API path (`/__api/...`).
    pub fn url(&self, api_path: &str) -> String {
        format!("{}{}{}", self.origin, self.prefix, api_path)
    }

    /// `GET` an API path (`/__api/assets/1?data=urls`), with retries; see the module doc.
    pub fn get(&self, api_path: &str) -> Result<Answer, FetchError> {
        let first = self.url(api_path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let wait = match self.once(&first) {
                Ok(answer) => return Ok(answer),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry { why, after }) => {
                    if attempt >= self.options.attempts {
                        return Err(FetchError::GaveUp {
                            url: first,
                            why,
                            attempts: attempt,
                        });
                    }
                    after.unwrap_or_else(|| self.backoff(attempt))
                }
            };
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(wait.min(MAX_BACKOFF));
        }
    }

    /// Exponential backoff with full jitter: uniform in [0, base·2^(attempt−1)], capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .options
            .backoff
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(MAX_BACKOFF);
        // xorshift64*: jitter needs no quality, only spread between threads.
        let mut x = self.seed.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.seed.store(x, Ordering::Relaxed);
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11; // 53 bits
        ceiling.mul_f64(0.5 + 0.5 * (r as f64 / (1u64 << 53) as f64))
    }

    fn pace(&self) {
        let Some(rate) = self.options.rate.filter(|r| *r > 0.0) else {
            return;
        };
        let slot = {
            let mut next = self.next_slot.lock().expect("pacing lock");
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + Duration::from_secs_f64(1.0 / rate);
            slot
        };
        let now = Instant::now();
        if slot > now {
            std::thread::sleep(slot - now);
        }
    }

    /// One attempt, following same-origin redirects.
    fn once(&self, first: &str) -> Result<Answer, Failure> {
        let mut url = first.to_string();
        for _ in 0..=MAX_REDIRECTS {
            self.pace();
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let result = self
                .agent
                .get(&url)
                .set("Authorization", &self.authorization)
                .set("Accept", "application/json")
                .call();
            let response = match result {
                Ok(r) => r,
                Err(ureq::Error::Status(_, r)) => r,
                Err(ureq::Error::Transport(t)) => {
                    return Err(Failure::Retry {
                        why: transport_message(&t),
                        after: None,
                    })
                }
            };
            let status = response.status();
            if (300..400).contains(&status) {
                let location = response.header("Location").unwrap_or_default().to_string();
                url = self.same_origin(&url, &location).ok_or_else(|| {
                    Failure::Fatal(FetchError::NotApi {
                        url: first.to_string(),
                        why: format!(
                            "redirected ({status}) to {location:?}, outside {}: not followed",
                            self.origin
                        ),
                    })
                })?;
                continue;
            }
            return self.finish(first, status, response);
        }
        Err(Failure::Fatal(FetchError::NotApi {
            url: first.to_string(),
            why: format!("more than {MAX_REDIRECTS} redirects"),
        }))
    }

    /// The absolute target of a redirect if it stays on this origin.
    fn same_origin(&self, from: &str, location: &str) -> Option<String> {
        if location.is_empty() {
            return None;
        }
        if location.starts_with("//") {
            return self.same_origin(from, &format!("{}:{location}", self.scheme()));
        }
        if location.starts_with('/') {
            return Some(format!("{}{location}", self.origin));
        }
        if let Some((scheme, rest)) = location.split_once("://") {
            let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let origin = format!(
                "{}://{}",
                scheme.to_ascii_lowercase(),
                rest[..host_end].to_ascii_lowercase()
            );
            return (origin == self.origin).then(|| format!("{origin}{}", &rest[host_end..]));
        }
        // Relative to the current path.
        let base = from.split(['?', '#']).next().unwrap_or(from);
        let dir = &base[..base.rfind('/').map_or(base.len(), |i| i + 1)];
        Some(format!("{dir}{location}"))
    }

    fn scheme(&self) -> &str {
        self.origin.split("://").next().unwrap_or("https")
    }

    fn finish(&self, url: &str, status: u16, response: ureq::Response) -> Result<Answer, Failure> {
        let retry_after = response
            .header("Retry-After")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let www_authenticate = response.header("WWW-Authenticate").map(str::to_string);
        let content_type = response.content_type().to_ascii_lowercase();
        let mut body = Vec::new();
        let read = response.into_reader().take(MAX_BODY).read_to_end(&mut body);
        if let Err(e) = read {
            return Err(Failure::Retry {
                why: format!("reading the body of a {status} answer: {e}"),
                after: retry_after,
            });
        }
        if status == 429 || status >= 500 {
            return Err(Failure::Retry {
                why: format!("{status} {}", message_of(&body)),
                after: retry_after,
            });
        }
        if status == 401 {
            let message = match (message_of(&body), www_authenticate) {
                (m, Some(h)) if m.is_empty() => h,
                (m, Some(h)) => format!("{m} ({h})"),
                (m, None) => m,
            };
            return Err(Failure::Fatal(FetchError::Unauthorized {
                url: url.to_string(),
                message,
            }));
        }
        if (400..500).contains(&status) {
            return Ok(Answer::Refused(status, message_of(&body)));
        }
        if status != 200 {
            return Err(Failure::Fatal(FetchError::NotApi {
                url: url.to_string(),
                why: format!("unexpected status {status}"),
            }));
        }
        if !content_type.contains("json") {
            return Err(Failure::Fatal(FetchError::NotApi {
                url: url.to_string(),
                why: format!(
                    "the answer is {} ({content_type:?}), not JSON: is this a Matrix Content API?",
                    describe_body(&body)
                ),
            }));
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(value) => Ok(Answer::Json(value)),
            // A JSON content type with a body that does not parse: most likely cut short.
            Err(e) => Err(Failure::Retry {
                why: format!("invalid JSON ({} bytes): {e}", body.len()),
                after: None,
            }),
        }
    }
}

enum Failure {
    Retry {
        why: String,
        after: Option<Duration>,
    },
    Fatal(FetchError),
}

fn transport_message(t: &ureq::Transport) -> String {
    // ureq's Display includes the URL, which the caller adds itself.
    let mut s = t.kind().to_string();
    if let Some(m) = t.message() {
        s.push_str(": ");
        s.push_str(m);
    }
    if let Some(src) = std::error::Error::source(t) {
        s.push_str(": ");
        s.push_str(&src.to_string());
    }
    s
}

/// The `message` of an error body, or a short description of the body.
fn message_of(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| describe_body(body))
}

fn describe_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(60)]);
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.is_empty() {
        "an empty body".into()
    } else {
        format!("{} bytes starting {:?}", body.len(), text.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_split_into_origin_and_prefix() {
        assert_eq!(
            split_base("HTTPS://WWW.Uni.test/").unwrap(),
            ("https://www.uni.test".into(), String::new())
        );
        assert_eq!(
            split_base("http://127.0.0.1:8080/site/__api/").unwrap(),
            ("http://127.0.0.1:8080".into(), "/site".into())
        );
        assert!(split_base("ftp://x").is_err());
        assert!(split_base("www.uni.test").is_err());
        assert!(split_base("https://u:p@x/").is_err());
    }

    #[test]
    fn redirects_stay_on_the_origin() {
        let c = Client::new(
            "https://www.uni.test",
            "t",
            ClientOptions::default(),
            Default::default(),
        )
        .unwrap();
        let from = "https://www.uni.test/__api/assets/1";
        assert_eq!(
            c.same_origin(from, "/__api/assets/2").as_deref(),
            Some("https://www.uni.test/__api/assets/2")
        );
        assert_eq!(
            c.same_origin(from, "https://WWW.uni.test/x").as_deref(),
            Some("https://www.uni.test/x")
        );
        assert_eq!(c.same_origin(from, "https://evil.test/x"), None);
        assert_eq!(c.same_origin(from, "http://www.uni.test/x"), None);
        assert_eq!(c.same_origin(from, "//evil.test/x"), None);
        assert_eq!(
            c.same_origin(from, "3").as_deref(),
            Some("https://www.uni.test/__api/assets/3")
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = Client::new(
            "http://x",
            "t",
            ClientOptions::default(),
            Default::default(),
        )
        .unwrap();
        for attempt in 1..30 {
            let d = c.backoff(attempt);
            assert!(d <= MAX_BACKOFF);
            let ceiling = Duration::from_millis(200).saturating_mul(1 << (attempt - 1).min(16));
            assert!(d <= ceiling.min(MAX_BACKOFF) && d >= ceiling.min(MAX_BACKOFF) / 2);
        }
    }
}
