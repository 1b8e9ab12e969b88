//! clamd, when one is installed: every message is streamed to it
//! (`zINSTREAM`, its chunked upload) beside the built-in scanner, so a site
//! with ClamAV's full database gets its detections too.

use std::time::Duration;

use model::Endpoint;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes per INSTREAM chunk.
const CHUNK: usize = 64 * 1024;

/// Longest reply read from clamd.
const MAX_REPLY: usize = 4096;

/// What clamd said about a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClamdVerdict {
    /// Nothing found.
    Clean,
    /// A signature matched: its name.
    Found(String),
}

/// Why clamd gave no verdict.
#[derive(Debug, thiserror::Error)]
pub enum ClamdError {
    /// Connecting, writing or reading failed.
    #[error("clamd at {endpoint}: {source}")]
    Io {
        /// Where clamd was reached.
        endpoint: String,
        /// What failed.
        source: std::io::Error,
    },
    /// No answer within the time limit.
    #[error("clamd at {0} did not answer in time")]
    Timeout(String),
    /// clamd answered with an error (e.g. its StreamMaxLength exceeded).
    #[error("clamd refused the scan: {0}")]
    Refused(String),
}

/// Reads clamd's answer to a stream scan (`stream: OK`, `stream: NAME
/// FOUND`, or an error), NUL- or newline-terminated.
pub fn parse_reply(reply: &[u8]) -> Result<ClamdVerdict, ClamdError> {
    let text = String::from_utf8_lossy(reply);
    let text = text.trim_end_matches(['\0', '\n']).trim();
    let body = text.strip_prefix("stream:").map(str::trim).unwrap_or(text);
    if body == "OK" {
        Ok(ClamdVerdict::Clean)
    } else if let Some(name) = body.strip_suffix(" FOUND") {
        Ok(ClamdVerdict::Found(name.trim().to_string()))
    } else {
        Err(ClamdError::Refused(body.chars().take(200).collect()))
    }
}

/// Streams `message` to clamd at `endpoint`, within `limit`.
pub async fn scan(
    endpoint: &Endpoint,
    message: &[u8],
    limit: Duration,
) -> Result<ClamdVerdict, ClamdError> {
    let name = endpoint.to_string();
    let io = |source| ClamdError::Io {
        endpoint: name.clone(),
        source,
    };
    let talk = async {
        match endpoint {
            Endpoint::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path).await.map_err(io)?;
                exchange(stream, message).await.map_err(io)
            }
            Endpoint::Tcp(addr) => {
                let stream = tokio::net::TcpStream::connect(addr).await.map_err(io)?;
                stream.set_nodelay(true).map_err(io)?;
                exchange(stream, message).await.map_err(io)
            }
        }
    };
    let reply = tokio::time::timeout(limit, talk)
        .await
        .map_err(|_| ClamdError::Timeout(name.clone()))??;
    parse_reply(&reply)
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    message: &[u8],
) -> std::io::Result<Vec<u8>> {
    stream.write_all(b"zINSTREAM\0").await?;
    for chunk in message.chunks(CHUNK) {
        stream
            .write_all(&(chunk.len() as u32).to_be_bytes())
            .await?;
        stream.write_all(chunk).await?;
    }
    stream.write_all(&0u32.to_be_bytes()).await?;
    stream.flush().await?;
    let mut reply = Vec::new();
    (&mut stream)
        .take(MAX_REPLY as u64)
        .read_to_end(&mut reply)
        .await?;
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        assert_eq!(parse_reply(b"stream: OK\0").unwrap(), ClamdVerdict::Clean);
        assert_eq!(
            parse_reply(b"stream: Win.Test.EICAR_HDB-1 FOUND\0").unwrap(),
            ClamdVerdict::Found("Win.Test.EICAR_HDB-1".into())
        );
        let e = parse_reply(b"INSTREAM size limit exceeded. ERROR\0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "clamd refused the scan: INSTREAM size limit exceeded. ERROR"
        );
    }
}
