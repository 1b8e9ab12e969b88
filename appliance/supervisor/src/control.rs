//! The control socket server ([`model::control`]): one JSON request line per
//! connection, one JSON answer line.
//!
//! Connections are read here; valid requests go to the driver's loop with
//! a reply channel, so every decision is taken where the state lives.
//! Bad input is answered with an `error` and changes nothing.

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
    let mut reader = BufReader::new(read.take(MAX_REQUEST + 1));
    let answer = match tokio::time::timeout(IO_TIMEOUT, reader.read_until(b'\n', &mut line)).await {
        Err(_) => error("no request within 10 seconds"),
        Ok(Err(e)) => error(&format!("cannot read the request: {e}")),
        Ok(Ok(_)) if line.len() as u64 > MAX_REQUEST => error("request longer than 64 KiB"),
        Ok(Ok(_)) => match serde_json::from_slice::<ControlRequest>(&line) {
            Ok(request) => ask(&calls, request).await,
            Err(e) => error(&format!("bad request: {e}")),
        },
    };
    let mut text = serde_json::to_vec(&answer.response).expect("answers serialise");
    text.push(b'\n');
    let _ = tokio::time::timeout(IO_TIMEOUT, write.write_all(&text)).await;
    let _ = write.shutdown().await;
    if let Some(written) = answer.written {
        let _ = written.send(());
    }
    // Closing with unread input would reset the connection, and the client
    // could lose the answer; read what an oversized request left, briefly.
    let mut rest = reader.into_inner().into_inner().take(MAX_DRAIN);
    let _ = tokio::time::timeout(
        DRAIN_TIMEOUT,
        tokio::io::copy(&mut rest, &mut tokio::io::sink()),
    )
    .await;
}

async fn ask(calls: &mpsc::Sender<Call>, request: ControlRequest) -> Answer {
    let (reply, answer) = oneshot::channel();
    if calls.send(Call { request, reply }).await.is_err() {
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
