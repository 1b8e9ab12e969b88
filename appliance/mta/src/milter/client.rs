//! One connection to the filter, speaking milter protocol version 6.
//!
//! The client offers every "skip this step" and "no reply" flag it can
//! honour, header values with their leading space, and the edits it can
//! apply (add/insert/change headers, add/delete recipients); the filter
//! picks what it wants during option negotiation, and the client then sends
//! only the steps asked for and waits only for the replies expected. Every
//! read and write has a time limit.

use std::time::Duration;

use bytes::BytesMut;
use miltr_common::commands::{
    Body, Connect, Data, EndOfBody, EndOfHeader, Family, Header, Helo, Mail, Recipient,
};
use miltr_common::decoding::ServerCommand;
use miltr_common::optneg::{Capability, Protocol};
use model::Endpoint;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::decode::{self, action, parse, ACCEPT, PROGRESS};
use super::frame::{self, encode, encode_macros};
use super::{EndOfMessage, MilterError, Response};
use crate::message::Message;

/// Connecting to the filter.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Each reply before the end of the message, and each write.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// The verdict after the end of the message (the filter scans and may
/// quarantine through the manager first); progress frames restart it.
const EOM_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest body chunk per SMFIC_BODY (libmilter's MILTER_CHUNK_SIZE).
pub const BODY_CHUNK: usize = 65535;
/// Longest header value sent to the filter. Milters refuse frames over
/// 64 KiB (libmilter, miltr-server), so a huge folded field is shown to
/// the filter truncated instead of tempfailing the message forever; the
/// queued message keeps the whole field.
pub const MAX_HEADER_VALUE: usize = 60 * 1024;

/// Any byte stream to the filter (unix or TCP).
trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Io for T {}

/// The SMTP client as the milter's SMFIC_CONNECT describes it.
#[derive(Clone, Debug)]
pub struct ConnectInfo {
    /// Our host name (macro `j`).
    pub hostname: String,
    /// The client's IP address.
    pub ip: std::net::IpAddr,
    /// The client's port.
    pub port: u16,
}

/// An open, negotiated milter connection.
pub struct MilterClient {
    stream: Box<dyn Io>,
    buf: BytesMut,
    protocol: Protocol,
    capabilities: Capability,
}

impl std::fmt::Debug for MilterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MilterClient")
            .field("protocol", &self.protocol)
            .field("capabilities", &self.capabilities)
            .finish()
    }
}

impl MilterClient {
    /// Connects to `endpoint` and negotiates options.
    pub async fn open(endpoint: &Endpoint) -> Result<MilterClient, MilterError> {
        let err = |source| MilterError::Connect {
            endpoint: endpoint.to_string(),
            source,
        };
        let timed_out = || err(std::io::Error::from(std::io::ErrorKind::TimedOut));
        let stream: Box<dyn Io> = match endpoint {
            Endpoint::Unix(path) => Box::new(
                tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::UnixStream::connect(path))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(err)?,
            ),
            Endpoint::Tcp(address) => Box::new(
                tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(address))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(err)?,
            ),
        };
        let mut client = MilterClient {
            stream,
            buf: BytesMut::new(),
            protocol: Protocol::empty(),
            capabilities: Capability::empty(),
        };
        client.negotiate().await?;
        Ok(client)
    }

    async fn negotiate(&mut self) -> Result<(), MilterError> {
        self.write(&encode(&decode::offer())).await?;
        let reply = self
            .read_frame(COMMAND_TIMEOUT, "option negotiation")
            .await?;
        let theirs = decode::negotiated(reply)?;
        self.protocol = theirs.protocol;
        self.capabilities = theirs.capabilities;
        Ok(())
    }

    /// SMFIC_CONNECT with the connect-stage macros.
    pub async fn connect(&mut self, info: &ConnectInfo) -> Result<Response, MilterError> {
        if self.protocol.contains(Protocol::NO_CONNECT) {
            return Ok(Response::Continue);
        }
        let ip = info.ip.to_string();
        let bracketed = format!("[{ip}]");
        let mut out = encode_macros(
            b'C',
            &[
                ("j", &info.hostname),
                ("{daemon_name}", "filterbox"),
                ("_", &bracketed),
            ],
        );
        let family = if info.ip.is_ipv4() {
            Family::Inet
        } else {
            Family::Inet6
        };
        let connect = Connect::new(bracketed.as_bytes(), family, Some(info.port), ip.as_bytes());
        out.extend(encode(&connect));
        self.step(&out, Protocol::NR_CONNECT, "connect").await
    }

    /// SMFIC_HELO.
    pub async fn helo(&mut self, name: &str) -> Result<Response, MilterError> {
        if self.protocol.contains(Protocol::NO_HELO) {
            return Ok(Response::Continue);
        }
        let out = encode(&Helo::from(name.as_bytes()));
        self.step(&out, Protocol::NR_HELO, "HELO").await
    }

    /// SMFIC_MAIL with the `{mail_addr}` macro, and `{filterbox_outbound}`
    /// (why the client may relay) for a customer's outbound mail.
    pub async fn mail(
        &mut self,
        sender: &str,
        outbound: Option<&str>,
    ) -> Result<Response, MilterError> {
        if self.protocol.contains(Protocol::NO_MAIL) {
            return Ok(Response::Continue);
        }
        let mut macros = vec![("{mail_addr}", sender)];
        macros.extend(outbound.map(|grant| ("{filterbox_outbound}", grant)));
        let mut out = encode_macros(b'M', &macros);
        out.extend(encode(&Mail::from(format!("<{sender}>").as_bytes())));
        self.step(&out, Protocol::NR_MAIL, "MAIL").await
    }

    /// SMFIC_RCPT.
    pub async fn rcpt(&mut self, recipient: &str) -> Result<Response, MilterError> {
        if self.protocol.contains(Protocol::NO_RECIPIENT) {
            return Ok(Response::Continue);
        }
        let out = encode(&Recipient::from(format!("<{recipient}>").as_bytes()));
        self.step(&out, Protocol::NR_RECIPIENT, "RCPT").await
    }

    /// DATA, the header fields, EOH, the body in chunks and EOM (with macro
    /// `i`); collects the edits up to the final action.
    pub async fn message(
        &mut self,
        message: &Message,
        queue_id: &str,
    ) -> Result<EndOfMessage, MilterError> {
        let early = |response| EndOfMessage {
            response,
            modifications: Vec::new(),
        };
        if !self.protocol.contains(Protocol::NO_DATA) {
            let r = self.step(&encode(&Data), Protocol::NR_DATA, "DATA").await?;
            if r != Response::Continue {
                return Ok(early(r));
            }
        }
        if !self.protocol.contains(Protocol::NO_HEADER) {
            for field in &message.fields {
                let value = field.milter_value(self.protocol.contains(Protocol::SMFIP_HDR_LEADSPC));
                let header = Header::new(field.name.as_bytes(), truncate(&value).as_bytes());
                let r = self
                    .step(&encode(&header), Protocol::NR_HEADER, "header")
                    .await?;
                if r != Response::Continue {
                    return Ok(early(r));
                }
            }
        }
        if !self.protocol.contains(Protocol::NO_END_OF_HEADER) {
            let r = self
                .step(&encode(&EndOfHeader), Protocol::NR_END_OF_HEADER, "EOH")
                .await?;
            if r != Response::Continue {
                return Ok(early(r));
            }
        }
        if !self.protocol.contains(Protocol::NO_BODY) {
            for chunk in message.body.chunks(BODY_CHUNK) {
                match self
                    .step(&encode(&Body::from(chunk)), Protocol::NR_BODY, "body")
                    .await?
                {
                    Response::Continue => {}
                    Response::Skip => break,
                    r => return Ok(early(r)),
                }
            }
        }
        let mut out = encode_macros(b'E', &[("i", queue_id)]);
        out.extend(encode(&EndOfBody));
        self.write(&out).await?;
        self.end_of_message().await
    }

    /// SMFIC_ABORT: the transaction is over; the connection stays for the next one.
    pub async fn abort(&mut self) -> Result<(), MilterError> {
        self.write(&frame::encode_raw(b'A', &[])).await
    }

    /// SMFIC_QUIT: the SMTP session is over.
    pub async fn quit(mut self) {
        let _ = self.write(&frame::encode_raw(b'Q', &[])).await;
        let _ = self.stream.shutdown().await;
    }

    /// Sends `out`; waits for the reply unless `no_reply` was negotiated.
    async fn step(
        &mut self,
        out: &[u8],
        no_reply: Protocol,
        what: &'static str,
    ) -> Result<Response, MilterError> {
        self.write(out).await?;
        if self.protocol.contains(no_reply) {
            return Ok(Response::Continue);
        }
        loop {
            let frame = self.read_frame(COMMAND_TIMEOUT, what).await?;
            match frame[0] {
                PROGRESS => continue,
                ACCEPT => return Ok(Response::Accept),
                _ => {}
            }
            return match parse(frame)? {
                ServerCommand::Continue(_) => Ok(Response::Continue),
                // SMFIS_SKIP is an answer to a body chunk only.
                ServerCommand::Skip(_) if no_reply == Protocol::NR_BODY => Ok(Response::Skip),
                other => action(other, what),
            };
        }
    }

    async fn end_of_message(&mut self) -> Result<EndOfMessage, MilterError> {
        let mut modifications = Vec::new();
        loop {
            let frame = self.read_frame(EOM_TIMEOUT, "end of message").await?;
            match frame[0] {
                PROGRESS => continue,
                ACCEPT => {
                    return Ok(EndOfMessage {
                        response: Response::Accept,
                        modifications,
                    })
                }
                _ => {}
            }
            let command = parse(frame)?;
            if let Some(m) = decode::modification(&command, self.capabilities)? {
                modifications.push(m);
                continue;
            }
            let response = match command {
                ServerCommand::Continue(_) => Response::Continue,
                other => action(other, "end of message")?,
            };
            return Ok(EndOfMessage {
                response,
                modifications,
            });
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), MilterError> {
        tokio::time::timeout(COMMAND_TIMEOUT, self.stream.write_all(bytes))
            .await
            .map_err(|_| MilterError::Timeout("a write"))??;
        Ok(())
    }

    async fn read_frame(
        &mut self,
        limit: Duration,
        what: &'static str,
    ) -> Result<BytesMut, MilterError> {
        loop {
            match frame::decode(&mut self.buf) {
                Ok(Some(f)) => return Ok(f),
                Ok(None) => {}
                Err(e) => return Err(MilterError::Protocol(e.to_string())),
            }
            let n = tokio::time::timeout(limit, self.stream.read_buf(&mut self.buf))
                .await
                .map_err(|_| MilterError::Timeout(what))??;
            if n == 0 {
                return Err(MilterError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }
}

/// `value` cut to [`MAX_HEADER_VALUE`] bytes on a character boundary.
fn truncate(value: &str) -> &str {
    let mut end = value.len().min(MAX_HEADER_VALUE);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_header_values_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("short"), "short");
        let long = "é".repeat(MAX_HEADER_VALUE);
        let cut = truncate(&long);
        assert!(cut.len() <= MAX_HEADER_VALUE && cut.len() >= MAX_HEADER_VALUE - 1);
    }
}
