//! A small SMTP server that answers from a script and records exactly what
//! the client sent, for cases smtp-sink cannot produce (per-recipient codes,
//! SIZE, a pipelined DATA refusal, silence).

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// How the server answers.
#[derive(Clone)]
pub struct Script {
    /// The banner, with its CRLF.
    pub greeting: &'static str,
    /// The EHLO reply (HELO always gets `250 scripted`).
    pub ehlo: &'static str,
    /// The RCPT reply for an address: `ok*` 250, `temp*` 450, else 550.
    pub rcpt: fn(&str) -> &'static str,
    /// The reply to DATA.
    pub data: &'static str,
    /// The reply after the dot; `None`: never answer.
    pub final_reply: Option<&'static str>,
}

/// Replies by local part, the convention of [`Script::rcpt`].
pub fn rcpt_by_local_part(address: &str) -> &'static str {
    if address.starts_with("ok") {
        "250 2.1.5 Ok\r\n"
    } else if address.starts_with("temp") {
        "450 4.2.1 try again later\r\n"
    } else {
        "550 5.1.1 unknown user\r\n"
    }
}

impl Default for Script {
    fn default() -> Self {
        Script {
            greeting: "220 scripted ESMTP\r\n",
            ehlo: "250-scripted\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n",
            rcpt: rcpt_by_local_part,
            data: "354 End data with <CR><LF>.<CR><LF>\r\n",
            final_reply: Some("250 2.0.0 Ok: queued as SCRIPTED\r\n"),
        }
    }
}

/// What the client sent.
#[derive(Debug, Default)]
pub struct Transcript {
    /// Command lines without CRLF, in order.
    pub commands: Vec<String>,
    /// Command lines grouped by the socket read they arrived in.
    pub batches: Vec<Vec<String>>,
    /// The raw DATA payload, up to and including the terminating `.\r\n`.
    pub data: Option<Vec<u8>>,
}

/// Serves one session on `stream` and returns what it received.
///
/// Replies to commands that arrived together are written together, as
/// Postfix does for a pipelined group; only a line `.\r\n` ends the data.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, script: Script) -> Transcript {
    let (read, mut write) = tokio::io::split(stream);
    let mut reader = BufReader::new(read);
    let mut transcript = Transcript::default();
    let mut pending = script.greeting.to_string();
    let mut batch = Vec::new();
    loop {
        if reader.buffer().is_empty() {
            write.write_all(pending.as_bytes()).await.unwrap();
            pending.clear();
            if !batch.is_empty() {
                transcript.batches.push(std::mem::take(&mut batch));
            }
        }
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await.unwrap() == 0 {
            return transcript;
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_string();
        transcript.commands.push(command.clone());
        batch.push(command.clone());
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" => script.ehlo,
            "HELO" => "250 scripted\r\n",
            "MAIL" | "RSET" | "NOOP" => "250 2.1.0 Ok\r\n",
            "RCPT" => (script.rcpt)(address(&command)),
            "DATA" => script.data,
            "QUIT" => {
                pending.push_str("221 2.0.0 Bye\r\n");
                write.write_all(pending.as_bytes()).await.unwrap();
                transcript.batches.push(batch);
                return transcript;
            }
            _ => "500 5.5.2 unknown command\r\n",
        };
        pending.push_str(reply);
        if verb == "DATA" && reply.starts_with('3') {
            write.write_all(pending.as_bytes()).await.unwrap();
            pending.clear();
            transcript.data = Some(read_data(&mut reader).await);
            match script.final_reply {
                Some(reply) => pending.push_str(reply),
                None => {
                    // Silence: hold the connection until the client gives up.
                    let _ = reader.read_to_end(&mut Vec::new()).await;
                    return transcript;
                }
            }
        }
    }
}

/// The address between the angle brackets of a MAIL or RCPT command.
fn address(command: &str) -> &str {
    let start = command.find('<').map_or(0, |i| i + 1);
    let end = command.rfind('>').unwrap_or(command.len());
    &command[start..end.max(start)]
}

/// Reads DATA lines until a line that is exactly `.\r\n`.
async fn read_data<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> Vec<u8> {
    let mut data = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await.unwrap() == 0 {
            return data;
        }
        data.extend_from_slice(&line);
        if line == b".\r\n" && (data.len() == 3 || data.ends_with(b"\r\n.\r\n")) {
            return data;
        }
    }
}
