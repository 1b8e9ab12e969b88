//! The control socket server ([`model::control`]): one JSON request line per
//! connection, one JSON answer line.
//!
//! Connections are read here; valid requests go to the driver's loop with
//! a reply channel, so every decision is taken where the state lives.
//! Bad input is answered with an `error` and changes nothing. An
//! `install_stream` request is followed by the bundle itself: its whole
//! connection goes to the driver, which reads the bundle and answers.

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use model::control::{ControlRequest, ControlResponse};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

/// Longest request line accepted.
pub const MAX_REQUEST: u64 = 64 * 1024;

/// Input read and dropped after answering an oversized request.
const MAX_DRAIN: u64 = 1024 * 1024;

/// How long the rest of an oversized request is waited for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Time a client has to send its request, and to take the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait for the driver's answer (applying a network takes a while).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// Mode of the socket: root and the roles' group.
pub const SOCKET_MODE: u32 = 0o660;

/// Requests waiting for the loop; more clients wait in their connection.
const QUEUE: usize = 16;

/// Concurrent connections; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 32;

/// The driver's answer, and for answers after which it acts (reboot,
/// shutdown, reset) a channel told once the answer is written.
pub struct Answer {
    /// What to send back.
    pub response: ControlResponse,
    /// Told after the answer is written (or could not be).
    pub written: Option<oneshot::Sender<()>>,
}

/// A request for the driver's loop.
pub struct Call {
    /// What the client asked.
    pub request: ControlRequest,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Answer>,
    /// For [`ControlRequest::InstallStream`]: the rest of the connection,
    /// whose answers the driver then writes itself (`reply` is unused).
    pub stream: Option<BundleStream>,
}

/// The connection of an `install_stream` request, handed to the driver:
/// the bundle's bytes to read, and where to write the two answer lines.
pub struct BundleStream {
    /// Exactly the announced number of bytes (what the request line's
    /// buffer already holds, then the socket).
    pub reader: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    /// The connection's sending half.
    pub writer: tokio::net::unix::OwnedWriteHalf,
}

/// Writes one answer line to a connection (within the I/O timeout).
pub async fn write_answer(
    writer: &mut tokio::net::unix::OwnedWriteHalf,
    response: &ControlResponse,
) -> std::io::Result<()> {
    let mut text = serde_json::to_vec(response).expect("answers serialise");
    text.push(b'\n');
    tokio::time::timeout(IO_TIMEOUT, writer.write_all(&text))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "client too slow"))?
}

/// The serving socket; the file is removed when dropped.
pub struct ControlServer {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl ControlServer {
    /// Binds `path` (replacing a stale file but refusing a live one; mode
    /// 0660, group `group` when given) and serves it; calls arrive on the
    /// returned receiver.
    pub fn bind(
        path: &Path,
        group: Option<u32>,
    ) -> std::io::Result<(ControlServer, mpsc::Receiver<Call>)> {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another supervisor serves it (is filterbox already running on this data directory?)",
            ));
        }
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let listener = UnixListener::bind(path)?;
        if let Some(gid) = group {
            std::os::unix::fs::chown(path, Some(0), Some(gid))?;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(serve(listener, tx));
        Ok((
            ControlServer {
                path: path.to_path_buf(),
                task,
            },
            rx,
        ))
    }
}

async fn serve(listener: UnixListener, calls: mpsc::Sender<Call>) {
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, _)) => {
                let calls = calls.clone();
                tokio::spawn(async move {
                    connection(stream, calls).await;
                    drop(permit);
                });
            }
            Err(e) => {
                log::warn!("control socket: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(stream: UnixStream, calls: mpsc::Sender<Call>) {
    let (read, mut write) = stream.into_split();
    let mut line = Vec::new();
    let mut reader = BufReader::new(read);
    let mut limited = (&mut reader).take(MAX_REQUEST + 1);
    let read_line = limited.read_until(b'\n', &mut line);
    let answer = match tokio::time::timeout(IO_TIMEOUT, read_line).await {
        Err(_) => error("no request within 10 seconds"),
        Ok(Err(e)) => error(&format!("cannot read the request: {e}")),
        Ok(Ok(_)) if line.len() as u64 > MAX_REQUEST => error("request longer than 64 KiB"),
        Ok(Ok(_)) => match serde_json::from_slice::<ControlRequest>(&line) {
            Ok(request) => {
                if let ControlRequest::InstallStream { size, .. } = &request {
                    let size = *size;
                    return hand_over(request, reader.take(size), write, &calls).await;
                }
                ask(&calls, request).await
            }
            Err(e) => error(&format!("bad request: {e}")),
        },
    };
    let _ = write_answer(&mut write, &answer.response).await;
    let _ = write.shutdown().await;
    if let Some(written) = answer.written {
        let _ = written.send(());
    }
    // Closing with unread input would reset the connection, and the client
    // could lose the answer; read what an oversized request left, briefly.
    let mut rest = reader.into_inner().take(MAX_DRAIN);
    let _ = tokio::time::timeout(
        DRAIN_TIMEOUT,
        tokio::io::copy(&mut rest, &mut tokio::io::sink()),
    )
    .await;
}

/// Gives an `install_stream` connection to the driver, which reads the
/// bundle and writes the answers.
async fn hand_over(
    request: ControlRequest,
    reader: tokio::io::Take<BufReader<tokio::net::unix::OwnedReadHalf>>,
    writer: tokio::net::unix::OwnedWriteHalf,
    calls: &mpsc::Sender<Call>,
) {
    let (reply, _unused) = oneshot::channel();
    let stream = BundleStream {
        reader: Box::new(IdleTimeout::new(reader, STREAM_IDLE)),
        writer,
    };
    let call = Call {
        request,
        reply,
        stream: Some(stream),
    };
    if let Err(mpsc::error::SendError(call)) = calls.send(call).await {
        if let Some(mut s) = call.stream {
            let busy = error("the supervisor is restarting; try again");
            let _ = write_answer(&mut s.writer, &busy.response).await;
        }
    }
}

/// Longest wait for the next bytes of a streamed bundle.
const STREAM_IDLE: Duration = Duration::from_secs(120);

/// A reader whose every read fails with `TimedOut` when no byte came for
/// its idle time: a stalled client cannot hold an install forever.
struct IdleTimeout<R> {
    inner: R,
    idle: Duration,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl<R> IdleTimeout<R> {
    fn new(inner: R, idle: Duration) -> IdleTimeout<R> {
        IdleTimeout {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for IdleTimeout<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                let next = tokio::time::Instant::now() + this.idle;
                this.deadline.as_mut().reset(next);
                Poll::Ready(result)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no bytes of the bundle for 120 seconds",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

async fn ask(calls: &mpsc::Sender<Call>, request: ControlRequest) -> Answer {
    let (reply, answer) = oneshot::channel();
    let call = Call {
        request,
        reply,
        stream: None,
    };
    if calls.send(call).await.is_err() {
        return error("the supervisor is restarting; try again");
    }
    match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => error("the supervisor is restarting; try again"),
        Err(_) => error("no answer from the supervisor in time"),
    }
}

fn error(message: &str) -> Answer {
    Answer {
        response: ControlResponse::Error {
            message: message.to_string(),
        },
        written: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stalled_bundle_stream_times_out() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut reader = IdleTimeout::new(server, Duration::from_millis(200));
        client.write_all(b"abc").await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(reader.read(&mut buf).await.unwrap(), 3);
        let started = std::time::Instant::now();
        let e = reader.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(200));
        // Bytes that keep coming keep it alive.
        let (mut client, server) = tokio::io::duplex(64);
        let mut reader = IdleTimeout::new(server, Duration::from_millis(200));
        let writer = tokio::spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                client.write_all(b"x").await.unwrap();
            }
        });
        let mut all = Vec::new();
        reader.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"xxxxx");
        writer.await.unwrap();
    }
}
