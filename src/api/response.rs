//! Responses: status, headers and body bytes; the fixed error bodies and their headers (spec §3
//! errors). Error bodies never echo input, so a static host can serve the same bytes.

/// An HTTP response. `Content-Length` is always among the headers (also for `HEAD`, whose body
/// is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers in the order they are sent.
    pub headers: Vec<(&'static str, String)>,
    /// Body bytes (empty for `HEAD`).
    pub body: Vec<u8>,
}

/// The JSON content type of every body (spec §1).
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// The `Allow` header of 405 answers.
pub const ALLOW: &str = "GET, HEAD";
/// The realm of `WWW-Authenticate`.
pub const REALM: &str = "Bearer realm=\"Matrix Content API\"";

/// Why a request is unauthorized, which picks the `WWW-Authenticate` value (RFC 6750).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthProblem {
    /// No `Authorization` header.
    Missing,
    /// The header is not exactly `Bearer <token>`.
    Malformed,
    /// A well-formed token that cannot be used.
    InvalidToken,
}

impl AuthProblem {
    /// The `WWW-Authenticate` value.
    pub fn challenge(self) -> String {
        match self {
            AuthProblem::Missing => REALM.to_string(),
            AuthProblem::Malformed => format!("{REALM}, error=\"invalid_request\""),
            AuthProblem::InvalidToken => format!("{REALM}, error=\"invalid_token\""),
        }
    }
}

/// The fixed message of an error status.
pub fn message(status: u16) -> &'static str {
    match status {
        400 => "Bad request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not found",
        405 => "Method not allowed",
        _ => "Error",
    }
}

/// The error body `{"code":N,"message":M}`.
pub fn error_body(status: u16) -> Vec<u8> {
    let mut out = format!("{{\"code\":{status},\"message\":").into_bytes();
    super::encode::write_str(&mut out, message(status));
    out.push(b'}');
    out
}

impl Response {
    /// A JSON response with these body bytes.
    pub fn json(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![
                ("Content-Type", CONTENT_TYPE.to_string()),
                ("Content-Length", body.len().to_string()),
            ],
            body,
        }
    }

    /// An error with its fixed body.
    pub fn error(status: u16) -> Response {
        let mut r = Response::json(status, error_body(status));
        if status == 405 {
            r.headers.push(("Allow", ALLOW.to_string()));
        }
        r
    }

    /// A 401 with its challenge.
    pub fn unauthorized(problem: AuthProblem) -> Response {
        let mut r = Response::error(401);
        r.headers.push(("WWW-Authenticate", problem.challenge()));
        r
    }

    /// The value of a header (first occurrence, case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The same response without its body, as `HEAD` answers (headers unchanged).
    pub fn without_body(mut self) -> Response {
        self.body = Vec::new();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec §3 errors: exactly `{"code":N,"message":M}` from the fixed table.
    #[test]
    fn error_bodies_are_fixed() {
        let bodies: Vec<String> = [400, 401, 403, 404, 405]
            .iter()
            .map(|s| String::from_utf8(error_body(*s)).unwrap())
            .collect();
        assert_eq!(
            bodies,
            [
                r#"{"code":400,"message":"Bad request"}"#,
                r#"{"code":401,"message":"Unauthorized"}"#,
                r#"{"code":403,"message":"Forbidden"}"#,
                r#"{"code":404,"message":"Not found"}"#,
                r#"{"code":405,"message":"Method not allowed"}"#,
            ]
        );
    }

    #[test]
    fn challenges_follow_rfc_6750() {
        assert_eq!(
            AuthProblem::Missing.challenge(),
            r#"Bearer realm="Matrix Content API""#
        );
        assert_eq!(
            AuthProblem::InvalidToken.challenge(),
            r#"Bearer realm="Matrix Content API", error="invalid_token""#
        );
        let r = Response::error(405);
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
        assert_eq!(r.header("content-length"), Some("43"));
    }
}
