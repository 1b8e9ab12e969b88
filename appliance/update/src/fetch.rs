//! A minimal blocking HTTP/1.1 client for fetching a bundle from a URL.
//!
//! Plain `http://` only (https comes later); one `GET`, `Connection:
//! close`; the answer must be `200` with a `Content-Length` (the length is
//! handed on, so the install knows what is coming); redirects are not
//! followed. The answer's head is parsed without I/O; the body is returned
//! as a reader, never held in memory.

use std::io::{Chain, Cursor, Read, Take, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Largest answer head read.
pub const MAX_HEAD: usize = 16 * 1024;
/// Longest URL accepted.
pub const MAX_URL: usize = 2048;

/// Why a download could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Not a URL this client can fetch.
    #[error("invalid URL: {0}")]
    BadUrl(String),
    /// The connection failed.
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// `host:port`.
        address: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Reading or writing failed.
    #[error("talking to the server: {0}")]
    Io(#[from] std::io::Error),
    /// The server's answer is not HTTP as expected.
    #[error("malformed answer from the server: {0}")]
    Malformed(&'static str),
    /// The server answered with another status than 200.
    #[error("the server answered {status} {reason}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// No `Content-Length` (e.g. chunked): the length must be known.
    #[error("the server sent no Content-Length (chunked answers are not supported)")]
    NoLength,
}

/// A parsed `http://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// TCP port (80 by default).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// Parses `http://host[:port][/path]`.
    pub fn parse(url: &str) -> Result<Url, FetchError> {
        let bad = |m: &str| FetchError::BadUrl(m.to_string());
        if url.len() > MAX_URL {
            return Err(bad("longer than 2048 characters"));
        }
        if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad("it contains blanks or control characters"));
        }
        let Some(rest) = url.strip_prefix("http://") else {
            return Err(if url.starts_with("https://") {
                bad("https is not supported yet; use http://")
            } else {
                bad("it must start with http://")
            });
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(bad("user names and passwords in URLs are not supported"));
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
                (host, after.strip_prefix(':'))
            }
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            },
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            None => 80,
            Some(p) => p.parse().map_err(|_| bad("the port is not a number"))?,
        };
        Ok(Url {
            host: host.to_string(),
            port,
            path: path.split('#').next().unwrap_or("/").to_string(),
        })
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// The status line and framing of an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// HTTP status.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// `Content-Length`, when sent.
    pub content_length: Option<u64>,
}

/// Parses the answer head at the start of `buf`: `None` when more bytes
/// are needed, else the head and how many bytes it took.
pub fn parse_head(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, FetchError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() >= MAX_HEAD {
            Err(FetchError::Malformed("answer head larger than 16 KiB"))
        } else {
            Ok(None)
        };
    };
    let text =
        std::str::from_utf8(&buf[..end]).map_err(|_| FetchError::Malformed("head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let mut status_line = lines.next().unwrap_or_default().splitn(3, ' ');
    let (Some(version), Some(code)) = (status_line.next(), status_line.next()) else {
        return Err(FetchError::Malformed("no status line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(FetchError::Malformed("not HTTP/1.x"));
    }
    let status = code
        .parse()
        .map_err(|_| FetchError::Malformed("status is not a number"))?;
    let mut head = ResponseHead {
        status,
        reason: status_line.next().unwrap_or_default().to_string(),
        content_length: None,
    };
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or(FetchError::Malformed("header without a colon"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") && !value.eq_ignore_ascii_case("identity")
        {
            return Err(FetchError::NoLength);
        }
        if name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse()
                .map_err(|_| FetchError::Malformed("bad Content-Length"))?;
            if head.content_length.is_some_and(|m| m != n) {
                return Err(FetchError::Malformed("conflicting Content-Length headers"));
            }
            head.content_length = Some(n);
        }
    }
    Ok(Some((head, end + 4)))
}

/// The body of a download: what came with the head, then the socket,
/// limited to the announced length.
pub type Body = Take<Chain<Cursor<Vec<u8>>, TcpStream>>;

/// A download under way.
#[derive(Debug)]
pub struct Download {
    /// Bytes the body has (`Content-Length`).
    pub length: u64,
    /// The body; each read waits at most the timeout given to [`get`].
    pub body: Body,
}

/// Starts `GET url`; every connect, read and write waits at most `timeout`.
pub fn get(url: &Url, timeout: Duration) -> Result<Download, FetchError> {
    let address = format!("{}:{}", url.host, url.port);
    let connect = |source| FetchError::Connect {
        address: address.clone(),
        source,
    };
    let addrs: Vec<_> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(connect)?
        .collect();
    let mut last = std::io::Error::other("the host name has no address");
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let mut stream = stream.ok_or_else(|| connect(last))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: filterbox/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.path,
        url.host_header(),
        model::VERSION
    );
    stream.write_all(request.as_bytes())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, used) = loop {
        if let Some(parsed) = parse_head(&buf)? {
            break parsed;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(FetchError::Malformed(
                "the connection closed inside the head",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if head.status != 200 {
        return Err(FetchError::Status {
            status: head.status,
            reason: head.reason,
        });
    }
    let length = head.content_length.ok_or(FetchError::NoLength)?;
    let rest = buf.split_off(used);
    Ok(Download {
        length,
        body: Cursor::new(rest).chain(stream).take(length),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://192.0.2.1:8000/out/a.fbu?x=1#frag").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("192.0.2.1", 8000, "/out/a.fbu?x=1")
        );
        assert_eq!(u.host_header(), "192.0.2.1:8000");
        let u = Url::parse("http://[::1]/a.fbu").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 80));
        assert_eq!(u.host_header(), "[::1]");
        assert_eq!(Url::parse("http://h.test").unwrap().path, "/");
        for bad in [
            "https://h/a",
            "ftp://h/a",
            "http:///a",
            "http://h:x/",
            "http://u@h/",
            "http://h/a b",
            "http://[::1/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
        assert!(Url::parse("https://h/")
            .unwrap_err()
            .to_string()
            .contains("https is not supported yet"));
    }

    #[test]
    fn answer_heads() {
        let (h, used) =
            parse_head(b"HTTP/1.0 200 OK\r\nContent-Length: 12\r\nServer: x\r\n\r\nbody")
                .unwrap()
                .unwrap();
        assert_eq!((h.status, h.content_length, used), (200, Some(12), 50));
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\n").unwrap(), None);
        assert!(matches!(
            parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(FetchError::NoLength)
        ));
        let (h, _) = parse_head(b"HTTP/1.1 404 Not Found\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.status, h.reason.as_str(), h.content_length),
            (404, "Not Found", None)
        );
        for bad in [
            &b"SMTP 220\r\n\r\n"[..],
            b"HTTP/1.1 2x0 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            assert!(parse_head(bad).is_err());
        }
        assert!(parse_head(&vec![b'a'; MAX_HEAD]).is_err());
    }
}
