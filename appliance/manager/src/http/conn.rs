//! One API connection: read a request under deadlines, answer it, close.
//!
//! Every read has a deadline (a slow or silent client cannot hold a worker),
//! polled in short steps so shutdown is noticed promptly; every write has a
//! timeout. One request per connection keeps the framing trivial.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::parse::{parse_head, HeadError, MAX_HEAD};
use super::response::Response;
use super::router::Router;
use crate::caller::Caller;

/// Time limits of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time a client has to send the request head.
    pub head: Duration,
    /// Time a client has to send the body (up to 64 MiB).
    pub body: Duration,
    /// Limit of each write of the answer.
    pub write: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            head: Duration::from_secs(10),
            body: Duration::from_secs(120),
            write: Duration::from_secs(30),
        }
    }
}
/// Step of blocking reads: how quickly a read notices shutdown.
const POLL: Duration = Duration::from_millis(500);
/// Size of one socket read.
const READ_CHUNK: usize = 64 * 1024;
/// After refusing a request early, how much of its unread body we swallow
/// (so the client sees our answer instead of a reset), and for how long.
const DRAIN_CAP: usize = 1024 * 1024;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// A stream whose blocking calls can be bounded in time.
pub trait Socket: Read + Write {
    /// See `TcpStream::set_read_timeout`.
    fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()>;
    /// See `TcpStream::set_write_timeout`.
    fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()>;
    /// Half-closes the sending side.
    fn shutdown_write(&self) -> io::Result<()>;
}

macro_rules! socket_impl {
    ($t:ty) => {
        impl Socket for $t {
            fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
                <$t>::set_read_timeout(self, d)
            }
            fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
                <$t>::set_write_timeout(self, d)
            }
            fn shutdown_write(&self) -> io::Result<()> {
                self.shutdown(Shutdown::Write)
            }
        }
    };
}
socket_impl!(TcpStream);
socket_impl!(UnixStream);

/// What a connection is served with.
pub struct Context<'a> {
    /// The API.
    pub router: &'a Router,
    /// Who is on the other end (TCP needs the token; some routes care
    /// about the unix peer's uid); named in the log.
    pub caller: Caller,
    /// Set when the manager shuts down: pending reads give up.
    pub stop: &'a AtomicBool,
    /// Deadlines.
    pub limits: Limits,
}

/// Serves one connection to the end; errors are the client's problem and
/// only logged.
pub fn serve<S: Socket>(mut s: S, ctx: &Context<'_>) {
    if let Err(e) = serve_request(&mut s, ctx) {
        log::debug!("{}: connection ended: {e}", ctx.caller);
    }
}

fn serve_request<S: Socket>(s: &mut S, ctx: &Context<'_>) -> io::Result<()> {
    s.set_write_timeout(Some(ctx.limits.write))?;
    let mut buf = Vec::new();
    let deadline = Instant::now() + ctx.limits.head;
    let (head, used) = loop {
        match parse_head(&buf) {
            Ok(Some(parsed)) => break parsed,
            Ok(None) => {}
            Err(e) => return refuse(s, head_error(&e)),
        }
        let room = (MAX_HEAD + READ_CHUNK).saturating_sub(buf.len());
        if read_some(s, &mut buf, room, deadline, ctx.stop)? == 0 {
            return Ok(()); // closed before a whole head: nothing to answer
        }
    };
    let length = match head.content_length() {
        Ok(n) => n,
        Err(e) => return refuse(s, head_error(&e)),
    };
    let auth = head.header("authorization");
    if let Err(r) = ctx.router.admit(&head.target, auth, length, &ctx.caller) {
        log::debug!(
            "{}: {} {} -> {}",
            ctx.caller,
            head.method,
            path_of(&head.target),
            r.status
        );
        return refuse(s, r);
    }
    if head.header("expect").is_some() && !head.expects_continue() {
        return refuse(
            s,
            Response::error(417, "bad_request", "only Expect: 100-continue is supported"),
        );
    }
    let mut body = buf.split_off(used);
    if ctx.router.streams_body(&head.method, &head.target) {
        return serve_stream(s, ctx, &head, body, length);
    }
    // `length` is at most MAX_BODY (checked by admit), so it fits in usize.
    let length = length as usize;
    body.truncate(length);
    if head.expects_continue() && body.len() < length {
        s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let deadline = Instant::now() + ctx.limits.body;
    while body.len() < length {
        let missing = length - body.len();
        if read_some(s, &mut body, missing, deadline, ctx.stop)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "body cut short",
            ));
        }
    }
    let response = ctx
        .router
        .handle(&head.method, &head.target, &body, &ctx.caller);
    let level = if response.status >= 500 {
        log::Level::Warn
    } else {
        log::Level::Debug
    };
    log::log!(
        level,
        "{}: {} {} -> {}",
        ctx.caller,
        head.method,
        path_of(&head.target),
        response.status
    );
    write_response(s, &response)
}

/// Serves a request whose body goes to its handler as it arrives (a
/// firmware upload): each read waits at most [`STREAM_IDLE`], not a total
/// deadline. What the handler left unread is read and dropped after the
/// answer, so the client sees the answer instead of a reset.
fn serve_stream<S: Socket>(
    s: &mut S,
    ctx: &Context<'_>,
    head: &super::parse::Head,
    mut prefix: Vec<u8>,
    length: u64,
) -> io::Result<()> {
    prefix.truncate(usize::try_from(length).unwrap_or(usize::MAX));
    if head.expects_continue() && (prefix.len() as u64) < length {
        s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let mut body = StreamBody {
        socket: s,
        prefix: io::Cursor::new(prefix),
        remaining: length,
        stop: ctx.stop,
    };
    let response = ctx
        .router
        .handle_stream(&head.target, &mut body, length, &ctx.caller);
    let left = body.remaining;
    log::info!(
        "{}: {} {} ({length} bytes) -> {}",
        ctx.caller,
        head.method,
        path_of(&head.target),
        response.status
    );
    write_response(s, &response)?;
    let deadline = Instant::now() + STREAM_DRAIN_TIMEOUT;
    let mut sink = Vec::new();
    let mut drained = 0u64;
    while drained < left {
        sink.clear();
        let want = (left - drained).min(READ_CHUNK as u64) as usize;
        match read_some(s, &mut sink, want, deadline, ctx.stop)? {
            0 => break,
            n => drained += n as u64,
        }
    }
    Ok(())
}

/// Longest wait for one read of a streamed body.
const STREAM_IDLE: Duration = Duration::from_secs(60);
/// Longest time spent dropping a streamed body the handler refused.
const STREAM_DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

/// A request body read from the socket as the handler asks for it: first
/// what came with the head, then the socket, never past `Content-Length`.
struct StreamBody<'a, S: Socket> {
    socket: &'a mut S,
    prefix: io::Cursor<Vec<u8>>,
    remaining: u64,
    stop: &'a AtomicBool,
}

impl<S: Socket> Read for StreamBody<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let mut n = self.prefix.read(&mut buf[..want])?;
        if n == 0 {
            let mut chunk = Vec::with_capacity(want);
            let deadline = Instant::now() + STREAM_IDLE;
            n = read_some(self.socket, &mut chunk, want, deadline, self.stop)?;
            buf[..n].copy_from_slice(&chunk);
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// The path of a target, for logs (query values may be long).
fn path_of(target: &str) -> &str {
    target.split('?').next().unwrap_or_default()
}

fn head_error(e: &HeadError) -> Response {
    match e {
        HeadError::TooLarge => Response::error(431, "too_large", e.to_string()),
        HeadError::Malformed(_) => Response::error(400, "bad_request", e.to_string()),
        HeadError::LengthRequired => Response::error(411, "bad_request", e.to_string()),
    }
}

/// Reads at most `max` more bytes into `buf` before `deadline`; 0 at end of stream.
fn read_some<S: Socket>(
    s: &mut S,
    buf: &mut Vec<u8>,
    max: usize,
    deadline: Instant,
    stop: &AtomicBool,
) -> io::Result<usize> {
    let mut chunk = [0u8; READ_CHUNK];
    let want = max.min(READ_CHUNK);
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "the manager is shutting down",
            ));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "client too slow"));
        }
        s.set_read_timeout(Some(left.min(POLL)))?;
        match s.read(&mut chunk[..want]) {
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

fn write_response<S: Socket>(s: &mut S, r: &Response) -> io::Result<()> {
    s.write_all(&r.head_bytes())?;
    s.write_all(&r.body)?;
    s.flush()?;
    s.shutdown_write()
}

/// Answers a request refused before its body was read, then swallows a
/// bounded amount of that body so closing does not reset the connection
/// before the client has read the answer.
fn refuse<S: Socket>(s: &mut S, r: Response) -> io::Result<()> {
    write_response(s, &r)?;
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut sink = Vec::new();
    let never = AtomicBool::new(false);
    let mut drained = 0;
    while drained < DRAIN_CAP {
        sink.clear();
        match read_some(s, &mut sink, READ_CHUNK, deadline, &never)? {
            0 => break,
            n => drained += n,
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
