//! One SMTP connection: the I/O around the sans-I/O [`Session`].
//!
//! Replies are written when the session needs more input, so the replies to
//! pipelined commands go out together and always before we wait. Every read
//! has a time limit (one for commands, one per chunk of message text), and
//! the whole session a deadline; running out gives `421 4.4.2`. On shutdown
//! an idle session gets `421 4.3.0` at once, a session in the middle of a
//! message may finish it within [`SHUTDOWN_GRACE`]. Log lines carry the
//! session id and never message contents; connect and disconnect are debug
//! lines, and a session that did something gets one info line at its end
//! (see [`summary`](super::summary)).

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use model::api::EventKind;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

use super::filter::FilterLink;
use super::summary::{summary, End};
use super::{queueing, Mode, Shared};
use crate::session::{Ask, Reply, Session, Step, Verdict};
use crate::tracking::event;

/// Bytes read from the client at a time.
const READ_CHUNK: usize = 16 * 1024;
/// Waiting for a command (RFC 5321 section 4.5.3.2.7: 5 minutes).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
/// Waiting for the next chunk of message text (section 4.5.3.2.5: 3 minutes).
const DATA_TIMEOUT: Duration = Duration::from_secs(180);
/// Writing replies to the client.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest a session may last, whatever it does.
const SESSION_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// After shutdown began, how long a client may take to finish its message.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The other end of a connection.
#[derive(Clone, Debug)]
pub(crate) enum Peer {
    /// A TCP client.
    Tcp(SocketAddr),
    /// The manager on the inject socket.
    Local,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Tcp(a) => write!(f, "{a}"),
            Peer::Local => f.write_str("inject socket"),
        }
    }
}

fn next_session_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("smtp#{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// What one read produced.
enum Input {
    Bytes(usize),
    Closed,
    Failed,
    TimedOut,
    ShutdownStarted,
}

/// A connection's state around its session.
struct Connection {
    sid: String,
    shared: Arc<Shared>,
    peer: Peer,
    mode: Mode,
    session: Session,
    filter: FilterLink,
    /// Queue id and sender of the open transaction, for tracking refusals.
    transaction: Option<(String, String)>,
    shutting_down: bool,
    timed_out: bool,
}

/// Serves one connection until the client quits, times out, or shutdown.
pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    shared: Arc<Shared>,
    peer: Peer,
    mode: Mode,
    mut shutdown: watch::Receiver<bool>,
) {
    let sid = next_session_id();
    log::debug!("{sid}: connect from {peer}");
    let filter = FilterLink::new(
        shared.milter.clone(),
        mode,
        &peer,
        &shared.session.hostname,
        &sid,
    );
    let mut conn = Connection {
        session: Session::new(shared.session.clone()),
        sid,
        shared,
        peer,
        mode,
        filter,
        transaction: None,
        shutting_down: false,
        timed_out: false,
    };
    let end = conn.run(&mut stream, &mut shutdown).await;
    log::debug!("{}: disconnect: {end}", conn.sid);
    let session = &conn.session;
    let (level, line) = summary(
        &conn.sid,
        &conn.peer,
        session.helo_name(),
        session.activity(),
        end,
    );
    log::log!(level, "{line}");
    conn.filter.quit().await;
}

impl Connection {
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        shutdown: &mut watch::Receiver<bool>,
    ) -> End {
        let deadline = Instant::now() + SESSION_DEADLINE;
        let mut buf = vec![0u8; READ_CHUNK];
        // The banner first: a slow filter must not delay it (health checks read it).
        if self.flush(stream).await.is_err() {
            return End::WriteFailed;
        }
        self.filter.open().await;
        loop {
            match self.session.next_step() {
                Step::NeedInput => {
                    if let Err(e) = self.flush(stream).await {
                        log::info!("{}: write failed: {e}", self.sid);
                        return End::WriteFailed;
                    }
                    match self.read(stream, shutdown, deadline, &mut buf).await {
                        Input::Bytes(n) => self.session.feed(&buf[..n]),
                        Input::Closed => return End::ClientClosed,
                        Input::Failed => return End::ReadFailed,
                        Input::TimedOut => {
                            self.timed_out = true;
                            self.session
                                .close_with(Reply::new(421, "4.4.2", "timeout exceeded"))
                        }
                        Input::ShutdownStarted => self.begin_shutdown(),
                    }
                }
                Step::Ask(ask) => self.answer(ask).await,
                Step::TransactionAborted => {
                    self.transaction = None;
                    self.filter.end_transaction().await;
                }
                Step::Close => {
                    let _ = self.flush(stream).await;
                    return if self.timed_out {
                        End::TimedOut
                    } else if self.shutting_down {
                        End::Shutdown
                    } else {
                        End::Quit
                    };
                }
            }
        }
    }

    /// Idle sessions end now; one receiving a message may finish it.
    fn begin_shutdown(&mut self) {
        self.shutting_down = true;
        self.session.shut_down();
        if !self.session.in_data() {
            self.session
                .close_with(Reply::new(421, "4.3.0", "shutting down, try again later"));
        }
    }

    async fn flush<S: AsyncWrite + Unpin>(&mut self, stream: &mut S) -> std::io::Result<()> {
        let out = self.session.take_output();
        if out.is_empty() {
            return Ok(());
        }
        tokio::time::timeout(WRITE_TIMEOUT, async {
            stream.write_all(&out).await?;
            stream.flush().await
        })
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
    }

    async fn read<S: AsyncRead + Unpin>(
        &self,
        stream: &mut S,
        shutdown: &mut watch::Receiver<bool>,
        deadline: Instant,
        buf: &mut [u8],
    ) -> Input {
        let mut limit = if self.session.in_data() {
            DATA_TIMEOUT
        } else {
            COMMAND_TIMEOUT
        };
        if self.shutting_down {
            limit = limit.min(SHUTDOWN_GRACE);
        }
        let until = deadline.min(Instant::now() + limit);
        tokio::select! {
            r = tokio::time::timeout_at(until, stream.read(buf)) => match r {
                Ok(Ok(0)) => Input::Closed,
                Ok(Ok(n)) => Input::Bytes(n),
                Ok(Err(e)) => {
                    log::info!("{}: read failed: {e}", self.sid);
                    Input::Failed
                }
                Err(_) => {
                    log::info!("{}: timeout", self.sid);
                    Input::TimedOut
                }
            },
            _ = shutdown.wait_for(|s| *s), if !self.shutting_down => Input::ShutdownStarted,
        }
    }

    async fn answer(&mut self, ask: Ask) {
        match ask {
            Ask::Helo { name } => {
                let verdict = self.filter.helo(&name).await;
                self.session.decide(verdict);
            }
            Ask::Mail { queue_id, sender } => {
                let verdict = self.filter.mail(&sender).await;
                match &verdict {
                    Verdict::Accept => {
                        log::info!("{}: {queue_id}: from=<{sender}>", self.sid);
                        self.transaction = Some((queue_id, sender));
                    }
                    Verdict::Refuse(r) => {
                        log::info!("{}: MAIL from=<{sender}> refused: {r}", self.sid);
                        self.filter.end_transaction().await;
                    }
                }
                self.session.decide(verdict);
            }
            Ask::Rcpt { address } => {
                let verdict = self.check_recipient(&address).await;
                if let Verdict::Refuse(r) = &verdict {
                    self.track_refused_recipient(&address, r);
                }
                self.session.decide(verdict);
            }
            Ask::Message(txn) => {
                let reply = queueing::accept_message(
                    &self.shared,
                    &mut self.filter,
                    &self.peer,
                    txn,
                    &self.sid,
                )
                .await;
                self.session.message_done(reply);
                self.transaction = None;
                self.filter.end_transaction().await;
            }
        }
    }

    /// Our relay and recipient policy first, then the filter.
    async fn check_recipient(&mut self, address: &str) -> Verdict {
        if self.mode == Mode::Inbound {
            let directory = self.shared.directory.snapshot();
            if let Verdict::Refuse(r) =
                crate::policy::check_recipient(directory.as_deref(), address)
            {
                return Verdict::Refuse(r);
            }
        }
        self.filter.rcpt(address).await
    }

    fn track_refused_recipient(&self, address: &str, reply: &Reply) {
        let (id, sender) = self.transaction.clone().unwrap_or_default();
        log::info!("{}: {id}: rcpt <{address}> refused: {reply}", self.sid);
        let mut e = event(EventKind::Rejected, &id, &sender, &[address.to_string()]);
        e.detail = format!("recipient refused, client {}", self.peer);
        e.reply = Some(reply.to_string());
        self.shared.tracker.emit(e);
    }
}
