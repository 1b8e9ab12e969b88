//! The tokio side: runs a [`Session`] over a stream, every read and write
//! under the configured time limit, upgrading the stream on STARTTLS and
//! recording the transcript of the proof.

use crate::body::{DotStuffer, BODY_CHUNK};
use crate::proof::{first_word, Transcript};
use crate::reader::ReplyReader;
use crate::session::{Action, Session};
use crate::tls::{self, Stream};
use crate::{
    ClientConfig, ClientError, Delivery, DeliveryReport, Destination, Envelope, Proof, Reply,
    Stage, TlsInfo, TlsMode,
};
use log::debug;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Size of one socket read. Replies are small; this only bounds how much
/// of a pipelined burst is buffered at once.
const READ_CHUNK: usize = 4096;

/// Numbers the sessions started through [`send`], for the logs.
static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// Delivers one message over `stream` (already connected, nothing read yet).
///
/// Returns the report as soon as every recipient's fate is known, whatever
/// it is (accepted, refused at greeting, EHLO, MAIL, RCPT or DATA, or refused
/// locally: over the advertised SIZE, unsafe address syntax). An 8-bit
/// message goes out as is when the server lacks 8BITMIME, as Postfix does.
/// Logs under a generated id (`smtp-client#N`); use [`send_logged`] to log
/// under the caller's own session id and peer name.
pub async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    config: &ClientConfig,
    envelope: &Envelope<'_>,
    message: &[u8],
) -> Result<DeliveryReport, ClientError> {
    let id = format!(
        "smtp-client#{}",
        NEXT_SESSION.fetch_add(1, Ordering::Relaxed)
    );
    send_logged(stream, config, envelope, message, &id).await
}

/// [`send`], with every debug line prefixed by `log_id` (e.g. the queue id
/// and the peer address), so a delivery can be followed in the logs.
///
/// Errors that happen once every recipient is decided (typically at QUIT)
/// are logged and ignored: the delivery already happened.
pub async fn send_logged<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    config: &ClientConfig,
    envelope: &Envelope<'_>,
    message: &[u8],
    log_id: &str,
) -> Result<DeliveryReport, ClientError> {
    let destination = Destination {
        server_name: "localhost",
        tls: TlsMode::Disabled,
    };
    let delivery = deliver(stream, config, &destination, envelope, message, log_id).await?;
    Ok(delivery.report)
}

/// [`send_logged`] to a server on the network: STARTTLS per
/// `destination.tls`, and the [`Proof`] of what was said.
///
/// With [`TlsMode::Required`] nothing is sent in clear: a server without
/// STARTTLS, or refusing it, gets QUIT and every recipient a local
/// `450 4.7.4` reply. A failed handshake is a [`ClientError`] at
/// [`Stage::Tls`] (the connection is unusable; retry later or elsewhere).
pub async fn deliver<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    config: &ClientConfig,
    destination: &Destination<'_>,
    envelope: &Envelope<'_>,
    message: &[u8],
    log_id: &str,
) -> Result<Delivery, ClientError> {
    let mut session = Session::new(&config.helo_name, envelope, message).with_tls(destination.tls);
    let mut conn = Connection {
        stream: Stream::Plain(stream),
        reader: ReplyReader::default(),
        config,
        log_id,
        server_name: destination.server_name,
        transcript: Transcript::default(),
        tls: None,
        body_sha256: None,
    };
    let outcome = conn.run(&mut session, message).await;
    let ehlo_name = session.ehlo_name().unwrap_or_default().to_string();
    let report = decided(session.into_report(), outcome, log_id)?;
    let proof = Proof {
        banner_name: first_word(&report.greeting.text),
        ehlo_name,
        tls: conn.tls,
        transcript: conn.transcript.into_lines(),
        body_sha256: conn.body_sha256,
    };
    Ok(Delivery { report, proof })
}

/// The report when every recipient was decided, whatever happened next.
fn decided(
    report: Option<DeliveryReport>,
    outcome: Result<(), ClientError>,
    log_id: &str,
) -> Result<DeliveryReport, ClientError> {
    match (report, outcome) {
        (Some(report), Ok(())) => Ok(report),
        (Some(report), Err(error)) => {
            debug!("{log_id}: ignoring {error}: every recipient was already decided");
            Ok(report)
        }
        (None, Err(error)) => Err(error),
        // The session only ends after QUIT, which follows the decision;
        // should that invariant ever break, retrying is the safe answer.
        (None, Ok(())) => Err(ClientError::Protocol {
            stage: Stage::Quit,
            detail: "session ended with undecided recipients".to_string(),
        }),
    }
}

/// Opens a TCP connection to `host:port`, trying each resolved address in
/// turn, each attempt (and the lookup) limited to `timeout`.
///
/// TCP_NODELAY is set: SMTP is a request/response protocol and Nagle's
/// algorithm would delay pipelined groups and small commands.
pub async fn connect_tcp(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, ClientError> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses = limit(
        timeout,
        Stage::Connect,
        tokio::net::lookup_host((host, port)),
    )
    .await?;
    let mut last = ClientError::Io {
        stage: Stage::Connect,
        source: io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address")),
    };
    for address in addresses {
        match limit(timeout, Stage::Connect, TcpStream::connect(address)).await {
            Ok(stream) => {
                stream.set_nodelay(true).map_err(|source| ClientError::Io {
                    stage: Stage::Connect,
                    source,
                })?;
                debug!("connected to {host} at {address}");
                return Ok(stream);
            }
            Err(error) => {
                debug!("connecting to {host} at {address}: {error}");
                last = error;
            }
        }
    }
    Err(last)
}

/// Awaits an I/O future under a time limit, mapping both failures to `stage`.
async fn limit<T>(
    duration: Duration,
    stage: Stage,
    future: impl Future<Output = io::Result<T>>,
) -> Result<T, ClientError> {
    match tokio::time::timeout(duration, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(ClientError::Io { stage, source }),
        Err(_) => Err(ClientError::Timeout { stage }),
    }
}

/// One SMTP connection being driven.
struct Connection<'c, S> {
    stream: Stream<S>,
    reader: ReplyReader,
    config: &'c ClientConfig,
    log_id: &'c str,
    /// The server's name, for SNI.
    server_name: &'c str,
    transcript: Transcript,
    tls: Option<TlsInfo>,
    body_sha256: Option<String>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<'_, S> {
    /// Executes the session's actions until it has nothing left to do.
    async fn run(&mut self, session: &mut Session<'_>, message: &[u8]) -> Result<(), ClientError> {
        let mut actions = VecDeque::from(session.start());
        while let Some(action) = actions.pop_front() {
            match action {
                Action::Send { stage, bytes } => self.send_commands(stage, &bytes).await?,
                Action::SendBody => session.body_sent(self.send_body(message).await?),
                Action::StartTls => {
                    self.start_tls().await?;
                    actions.extend(session.tls_established());
                }
                Action::Read(stage) => {
                    let reply = self.read_reply(stage).await?;
                    actions.extend(session.on_reply(reply)?);
                }
            }
        }
        Ok(())
    }

    /// The time limit for one read or write at `stage`.
    fn timeout(&self, stage: Stage) -> Duration {
        match stage {
            Stage::Body => self.config.data_timeout,
            _ => self.config.command_timeout,
        }
    }

    async fn send_commands(&mut self, stage: Stage, bytes: &[u8]) -> Result<(), ClientError> {
        for line in String::from_utf8_lossy(bytes).lines() {
            debug!("{}: > {line}", self.log_id);
        }
        self.transcript.sent(bytes);
        self.write(stage, bytes).await
    }

    /// The TLS handshake after a 220 to STARTTLS. Bytes already received
    /// beyond that reply would be answers injected in clear (the
    /// CVE-2011-0411 class): the connection is dropped instead.
    async fn start_tls(&mut self) -> Result<(), ClientError> {
        let failed = |detail: String| ClientError::Protocol {
            stage: Stage::Tls,
            detail,
        };
        if self.reader.has_pending() {
            return Err(failed(
                "the server sent data after its STARTTLS reply".into(),
            ));
        }
        let name = tls::server_name(self.server_name).map_err(failed)?;
        let config = tls::client_config().map_err(|e| failed(e.to_string()))?;
        let Stream::Plain(plain) = std::mem::replace(&mut self.stream, Stream::Upgrading) else {
            return Err(failed("STARTTLS on an encrypted connection".into()));
        };
        let connector = tokio_rustls::TlsConnector::from(config);
        let timeout = self.config.command_timeout;
        let encrypted = limit(timeout, Stage::Tls, connector.connect(name, plain)).await?;
        let info = tls::info(&encrypted);
        debug!("{}: TLS {} {}", self.log_id, info.version, info.cipher);
        self.transcript
            .note(format!("TLS: {} {}", info.version, info.cipher));
        self.tls = Some(info);
        self.stream = Stream::Tls(Box::new(encrypted));
        self.reader = ReplyReader::default();
        Ok(())
    }

    async fn write(&mut self, stage: Stage, bytes: &[u8]) -> Result<(), ClientError> {
        let duration = self.timeout(stage);
        let stream = &mut self.stream;
        let write = async move {
            stream.write_all(bytes).await?;
            stream.flush().await
        };
        limit(duration, stage, write).await
    }

    /// Streams the encoded message; returns the octets sent.
    async fn send_body(&mut self, message: &[u8]) -> Result<u64, ClientError> {
        let mut stuffer = DotStuffer::new(message, BODY_CHUNK);
        let mut chunk = Vec::with_capacity(BODY_CHUNK + 8);
        let mut sent = 0u64;
        let mut digest = Sha256::new();
        while stuffer.next_chunk(&mut chunk) {
            self.write(Stage::Body, &chunk).await?;
            digest.update(&chunk);
            sent += chunk.len() as u64;
        }
        debug!("{}: > (message, {sent} octets)", self.log_id);
        let hash = format!("{:x}", digest.finalize());
        self.transcript
            .note(format!("C: [message data: {sent} octets, sha256 {hash}]"));
        self.body_sha256 = Some(hash);
        Ok(sent)
    }

    /// Reads one complete reply; the whole reply must arrive in time.
    async fn read_reply(&mut self, stage: Stage) -> Result<Reply, ClientError> {
        let duration = self.timeout(stage);
        let reply = tokio::time::timeout(duration, self.read_reply_untimed(stage))
            .await
            .map_err(|_| ClientError::Timeout { stage })??;
        debug!("{}: < {reply}", self.log_id);
        self.transcript.received(self.reader.last_raw());
        Ok(reply)
    }

    async fn read_reply_untimed(&mut self, stage: Stage) -> Result<Reply, ClientError> {
        let mut buffer = [0u8; READ_CHUNK];
        loop {
            let parsed = self.reader.next_reply();
            if let Some(reply) = parsed.map_err(|detail| ClientError::Protocol { stage, detail })? {
                return Ok(reply);
            }
            let read = self
                .stream
                .read(&mut buffer)
                .await
                .map_err(|source| ClientError::Io { stage, source })?;
            if read == 0 {
                let source = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed by the server",
                );
                return Err(ClientError::Io { stage, source });
            }
            self.reader.push(&buffer[..read]);
        }
    }
}
