//! API answers: a status, a content type and a body, always JSON for errors.

use model::api::{ErrorBody, ErrorDetail};
use serde::Serialize;

/// One answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`; `None` for 204.
    pub content_type: Option<&'static str>,
    /// The body.
    pub body: Vec<u8>,
    /// `Allow`, for 405 answers.
    pub allow: Option<&'static str>,
    /// `Retry-After` in seconds, for 429 answers.
    pub retry_after: Option<u64>,
}

impl Response {
    /// A JSON body with `status`.
    pub fn json<T: Serialize>(status: u16, value: &T) -> Response {
        // API entities are plain data and always serialise.
        let body = serde_json::to_vec(value).expect("API entities serialise to JSON");
        Response {
            status,
            content_type: Some("application/json"),
            body,
            allow: None,
            retry_after: None,
        }
    }

    /// 204, no body.
    pub fn no_content() -> Response {
        Response {
            status: 204,
            content_type: None,
            body: Vec::new(),
            allow: None,
            retry_after: None,
        }
    }

    /// Raw bytes with their media type.
    pub fn bytes(content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status: 200,
            content_type: Some(content_type),
            body,
            allow: None,
            retry_after: None,
        }
    }

    /// An [`ErrorBody`] with `status`, a stable `code` and a sentence for people.
    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Response {
        Response::json(
            status,
            &ErrorBody {
                error: ErrorDetail {
                    status,
                    code: code.to_string(),
                    message: message.into(),
                },
            },
        )
    }

    /// Status line and headers, ready to write; the connection always closes.
    pub fn head_bytes(&self) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        if let Some(ct) = self.content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        if self.status != 204 {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        if let Some(allow) = self.allow {
            head.push_str(&format!("Allow: {allow}\r\n"));
        }
        if let Some(secs) = self.retry_after {
            head.push_str(&format!("Retry-After: {secs}\r\n"));
        }
        head.push_str("Cache-Control: no-store\r\nConnection: close\r\n\r\n");
        head.into_bytes()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_carry_length_and_close() {
        let r = Response::error(404, "not_found", "no such thing");
        let head = String::from_utf8(r.head_bytes()).unwrap();
        assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
        assert!(head.contains(&format!("Content-Length: {}\r\n", r.body.len())));
        assert!(head.ends_with("Connection: close\r\n\r\n"));
        let body: ErrorBody = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            (body.error.status, body.error.code.as_str()),
            (404, "not_found")
        );
        let mut throttled = Response::error(429, "throttled", "wait");
        throttled.retry_after = Some(30);
        let head = String::from_utf8(throttled.head_bytes()).unwrap();
        assert!(
            head.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nRetry-After: 30\r\n"), "{head}");
        let none = String::from_utf8(Response::no_content().head_bytes()).unwrap();
        assert!(!none.contains("Content-Length") && !none.contains("Content-Type"));
    }
}
