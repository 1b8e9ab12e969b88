//! HTTP/1.1 request heads, parsed without I/O.
//!
//! The manager answers one request per connection (`Connection: close`), so
//! only the head and a `Content-Length` body are needed; this parser is fed
//! the bytes read so far and says "need more", "here is the head" or why the
//! request is unusable.

/// Largest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most header fields accepted.
const MAX_HEADERS: usize = 64;

/// A parsed request line and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// `GET`, `POST`, …
    pub method: String,
    /// The origin-form target: path and optional query.
    pub target: String,
    /// Header fields in arrival order, names as sent.
    pub headers: Vec<(String, String)>,
}

/// Why a head is unusable; each maps to a status in `conn`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// Longer than [`MAX_HEAD`] or more than the header limit (431).
    #[error("request head too large")]
    TooLarge,
    /// Not HTTP/1.x as expected (400).
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    /// A body without `Content-Length` (411).
    #[error("send the request body with Content-Length (chunked bodies are not supported)")]
    LengthRequired,
}

impl Head {
    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body length the client announced; 0 when it sent none.
    pub fn content_length(&self) -> Result<u64, HeadError> {
        if self.header("transfer-encoding").is_some() {
            return Err(HeadError::LengthRequired);
        }
        let mut lengths = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.trim());
        let Some(first) = lengths.next() else {
            return Ok(0);
        };
        if lengths.any(|v| v != first) {
            return Err(HeadError::Malformed("conflicting Content-Length headers"));
        }
        if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HeadError::Malformed("Content-Length is not a number"));
        }
        first
            .parse()
            .map_err(|_| HeadError::Malformed("Content-Length is not a number"))
    }

    /// True when the client waits for `100 Continue` before sending the body.
    pub fn expects_continue(&self) -> bool {
        self.header("expect")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
    }
}

/// Parses the head at the start of `buf`: `Ok(None)` when more bytes are
/// needed, else the head and how many bytes it took (the body follows).
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, HeadError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() >= MAX_HEAD {
            Err(HeadError::TooLarge)
        } else {
            Ok(None)
        };
    };
    if end + 4 > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    let text = std::str::from_utf8(&buf[..end])
        .map_err(|_| HeadError::Malformed("request head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let (method, target) = request_line(lines.next().unwrap_or_default())?;
    let mut headers = Vec::new();
    for line in lines {
        if headers.len() == MAX_HEADERS {
            return Err(HeadError::TooLarge);
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(HeadError::Malformed("header line without a colon"))?;
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(HeadError::Malformed("invalid header name"));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let head = Head {
        method,
        target,
        headers,
    };
    Ok(Some((head, end + 4)))
}

fn request_line(line: &str) -> Result<(String, String), HeadError> {
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed(
            "request line is not METHOD TARGET VERSION",
        ));
    };
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(HeadError::Malformed("invalid method"));
    }
    if !target.starts_with('/') || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(HeadError::Malformed(
            "the target must be a path starting with /",
        ));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(HeadError::Malformed(
            "only HTTP/1.0 and HTTP/1.1 are served",
        ));
    }
    Ok((method.to_string(), target.to_string()))
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_head_and_finds_the_body() {
        let raw = b"POST /api/v1/users?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nexpect: 100-Continue\r\n\r\nabc";
        let (head, used) = parse_head(raw).unwrap().unwrap();
        assert_eq!(head.method, "POST");
        assert_eq!(head.target, "/api/v1/users?x=1");
        assert_eq!(&raw[used..], b"abc");
        assert_eq!(head.content_length(), Ok(3));
        assert_eq!(head.header("HOST"), Some("a"));
        assert!(head.expects_continue());
    }

    #[test]
    fn needs_more_until_the_blank_line() {
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\nHost: a\r\n"), Ok(None));
        assert_eq!(parse_head(b""), Ok(None));
    }

    #[test]
    fn refuses_oversized_and_malformed_heads() {
        let big = vec![b'a'; MAX_HEAD];
        assert_eq!(parse_head(&big), Err(HeadError::TooLarge));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        let raw = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(parse_head(raw.as_bytes()), Err(HeadError::TooLarge));
        for bad in [
            &b"GET /\r\n\r\n"[..],
            b"GET http://x/ HTTP/1.1\r\n\r\n",
            b"GET / HTTP/2\r\n\r\n",
            b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET /a b HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
        ] {
            assert!(
                matches!(parse_head(bad), Err(HeadError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn body_framing() {
        let head = |h: &str| {
            parse_head(format!("POST / HTTP/1.1\r\n{h}\r\n").as_bytes())
                .unwrap()
                .unwrap()
                .0
        };
        assert_eq!(head("").content_length(), Ok(0));
        assert_eq!(
            head("Transfer-Encoding: chunked\r\n").content_length(),
            Err(HeadError::LengthRequired)
        );
        assert!(head("Content-Length: -1\r\n").content_length().is_err());
        assert!(head("Content-Length: 1\r\nContent-Length: 2\r\n")
            .content_length()
            .is_err());
        assert_eq!(
            head("Content-Length: 5\r\nContent-Length: 5\r\n").content_length(),
            Ok(5)
        );
        assert!(head("Content-Length: 99999999999999999999999\r\n")
            .content_length()
            .is_err());
    }
}
