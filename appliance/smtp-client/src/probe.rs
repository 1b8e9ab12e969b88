//! Recipient verification by SMTP call-out: `EHLO`, `MAIL FROM:<>`,
//! `RCPT TO:<recipient>`, `QUIT`, and no message.
//!
//! The mta asks a domain's own server whether a mailbox exists before it
//! accepts mail for a recipient it does not know. Only the server's answer
//! to RCPT says something about the mailbox; a refusal of the connection,
//! of EHLO/HELO or of the null sender does not, so it is reported as
//! [`ProbeOutcome::Undecided`] and must never turn into a 550 for the
//! client. [`Probe`] is the state machine (no I/O); [`probe`] drives it.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::reader::ReplyReader;
use crate::{ClientError, Reply, Stage};

/// Size of one socket read; replies are small.
const READ_CHUNK: usize = 4096;

/// What the server said about the recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// RCPT got 2xx: the mailbox exists.
    Accepted(Reply),
    /// RCPT got 5xx: the mailbox does not exist (or may not receive mail).
    Refused(Reply),
    /// No verdict on the mailbox: RCPT got 4xx, or an earlier step was
    /// refused (`stage` says which).
    Undecided {
        /// The step that did not succeed.
        stage: Stage,
        /// The server's reply there.
        reply: Reply,
    },
}

/// What the driver must do after a reply.
#[derive(Debug, PartialEq, Eq)]
pub enum ProbeStep {
    /// Write this command line, then read the next reply.
    Send(Vec<u8>),
    /// The probe is over; send `QUIT` (best effort) and close.
    Done(ProbeOutcome),
}

/// The sans-I/O call-out conversation.
#[derive(Debug)]
pub struct Probe {
    helo_name: String,
    recipient: String,
    stage: Stage,
    tried_helo: bool,
}

impl Probe {
    /// A probe for `recipient` (no angle brackets), greeting as `helo_name`.
    pub fn new(helo_name: &str, recipient: &str) -> Probe {
        Probe {
            helo_name: helo_name.to_string(),
            recipient: recipient.to_string(),
            stage: Stage::Greeting,
            tried_helo: false,
        }
    }

    /// The step now waiting for a reply.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Feeds the reply to the current step.
    pub fn on_reply(&mut self, reply: Reply) -> ProbeStep {
        let undecided = |stage, reply| ProbeStep::Done(ProbeOutcome::Undecided { stage, reply });
        match self.stage {
            Stage::Greeting if reply.is_positive() => {
                self.stage = Stage::Ehlo;
                ProbeStep::Send(format!("EHLO {}\r\n", self.helo_name).into_bytes())
            }
            // RFC 5321 section 3.2: a server that does not know EHLO gets HELO.
            Stage::Ehlo if reply.is_permanent() && !self.tried_helo => {
                self.tried_helo = true;
                ProbeStep::Send(format!("HELO {}\r\n", self.helo_name).into_bytes())
            }
            Stage::Ehlo if reply.is_positive() => {
                self.stage = Stage::Mail;
                ProbeStep::Send(b"MAIL FROM:<>\r\n".to_vec())
            }
            Stage::Mail if reply.is_positive() => {
                self.stage = Stage::Rcpt;
                ProbeStep::Send(format!("RCPT TO:<{}>\r\n", self.recipient).into_bytes())
            }
            Stage::Rcpt if reply.is_positive() => ProbeStep::Done(ProbeOutcome::Accepted(reply)),
            Stage::Rcpt if reply.is_permanent() => ProbeStep::Done(ProbeOutcome::Refused(reply)),
            stage => undecided(stage, reply),
        }
    }
}

/// Runs a probe for `recipient` over `stream` (connected, nothing read),
/// each read and write limited to `timeout`.
pub async fn probe<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    helo_name: &str,
    recipient: &str,
    timeout: Duration,
    log_id: &str,
) -> Result<ProbeOutcome, ClientError> {
    let safe = |b: u8| b >= 0x20 && b != 0x7f && b != b'<' && b != b'>';
    if recipient.is_empty() || !recipient.bytes().all(safe) {
        return Err(ClientError::Protocol {
            stage: Stage::Rcpt,
            detail: "recipient address unsafe to send (local)".into(),
        });
    }
    let mut machine = Probe::new(helo_name, recipient);
    let mut reader = ReplyReader::default();
    loop {
        let stage = machine.stage();
        let reply = read_reply(&mut stream, &mut reader, stage, timeout).await?;
        log::debug!("{log_id}: < {reply}");
        match machine.on_reply(reply) {
            ProbeStep::Send(line) => {
                log::debug!("{log_id}: > {}", String::from_utf8_lossy(&line).trim_end());
                write(&mut stream, machine.stage(), &line, timeout).await?;
            }
            ProbeStep::Done(outcome) => {
                // The verdict is known; QUIT is a courtesy whose failure changes nothing.
                if write(&mut stream, Stage::Quit, b"QUIT\r\n", timeout)
                    .await
                    .is_ok()
                {
                    let _ = read_reply(&mut stream, &mut reader, Stage::Quit, timeout).await;
                }
                return Ok(outcome);
            }
        }
    }
}

async fn write<S: AsyncWrite + Unpin>(
    stream: &mut S,
    stage: Stage,
    bytes: &[u8],
    timeout: Duration,
) -> Result<(), ClientError> {
    let io = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    match tokio::time::timeout(timeout, io).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(ClientError::Io { stage, source }),
        Err(_) => Err(ClientError::Timeout { stage }),
    }
}

async fn read_reply<S: AsyncRead + Unpin>(
    stream: &mut S,
    reader: &mut ReplyReader,
    stage: Stage,
    timeout: Duration,
) -> Result<Reply, ClientError> {
    let read = async {
        let mut buffer = [0u8; READ_CHUNK];
        loop {
            if let Some(reply) = reader
                .next_reply()
                .map_err(|detail| ClientError::Protocol { stage, detail })?
            {
                return Ok(reply);
            }
            let n = stream
                .read(&mut buffer)
                .await
                .map_err(|source| ClientError::Io { stage, source })?;
            if n == 0 {
                let source = std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed by the server",
                );
                return Err(ClientError::Io { stage, source });
            }
            reader.push(&buffer[..n]);
        }
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| ClientError::Timeout { stage })?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(replies: &[(u16, &str)]) -> (Vec<String>, Option<ProbeOutcome>) {
        let mut p = Probe::new("mx.test", "u@x.test");
        let mut sent = Vec::new();
        for (code, text) in replies {
            match p.on_reply(Reply::new(*code, *text)) {
                ProbeStep::Send(b) => sent.push(String::from_utf8(b).unwrap()),
                ProbeStep::Done(o) => return (sent, Some(o)),
            }
        }
        (sent, None)
    }

    #[test]
    fn accepted_refused_and_temporary_rcpt() {
        let ok = [(220, "hi"), (250, "mx"), (250, "ok"), (250, "2.1.5 ok")];
        let (sent, outcome) = run(&ok);
        assert_eq!(
            sent,
            [
                "EHLO mx.test\r\n",
                "MAIL FROM:<>\r\n",
                "RCPT TO:<u@x.test>\r\n"
            ]
        );
        assert_eq!(
            outcome,
            Some(ProbeOutcome::Accepted(Reply::new(250, "2.1.5 ok")))
        );
        let (_, outcome) = run(&[(220, ""), (250, ""), (250, ""), (550, "5.1.1 no")]);
        assert_eq!(
            outcome,
            Some(ProbeOutcome::Refused(Reply::new(550, "5.1.1 no")))
        );
        let (_, outcome) = run(&[(220, ""), (250, ""), (250, ""), (450, "4.2.0 later")]);
        assert_eq!(
            outcome,
            Some(ProbeOutcome::Undecided {
                stage: Stage::Rcpt,
                reply: Reply::new(450, "4.2.0 later")
            })
        );
    }

    #[test]
    fn refusals_before_rcpt_are_never_a_verdict_on_the_mailbox() {
        let (_, o) = run(&[(554, "go away")]);
        assert!(matches!(
            o,
            Some(ProbeOutcome::Undecided {
                stage: Stage::Greeting,
                ..
            })
        ));
        let (_, o) = run(&[(220, ""), (250, ""), (550, "5.7.1 no null sender")]);
        assert!(matches!(
            o,
            Some(ProbeOutcome::Undecided {
                stage: Stage::Mail,
                ..
            })
        ));
    }

    #[test]
    fn falls_back_to_helo_once() {
        let (sent, o) = run(&[(220, ""), (502, "no"), (250, ""), (250, ""), (250, "")]);
        assert_eq!(sent[..2], ["EHLO mx.test\r\n", "HELO mx.test\r\n"]);
        assert!(matches!(o, Some(ProbeOutcome::Accepted(_))));
        let (_, o) = run(&[(220, ""), (502, "no"), (502, "no")]);
        assert!(matches!(
            o,
            Some(ProbeOutcome::Undecided {
                stage: Stage::Ehlo,
                ..
            })
        ));
    }
}
