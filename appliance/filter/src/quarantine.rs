//! Handing held-back messages to the manager (`POST /quarantine`).
//!
//! The manager answers 201 only once the entry is on disk, so the milter may
//! then tell the client to discard its copy: the quarantine holds it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mail_parser::MessageParser;
use model::api::{Base64Bytes, NewQuarantine, QuarantineKind};
use model::client::{ApiClient, ClientError};
use model::config::API_TOKEN_FILE;
use model::Endpoint;

use crate::engine::{Class, Verdict};
use crate::message::Message;

/// Longest wait for the manager's answer; well inside Postfix's
/// `milter_content_timeout` (300 s), after which it would give up on us.
pub const QUARANTINE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a message could not be quarantined (the sender is told to retry).
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    /// The manager could not be reached or answered with an error.
    #[error(transparent)]
    Api(#[from] ClientError),
    /// The blocking call did not complete (panicked or was cancelled).
    #[error("quarantine call failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A client of the manager's quarantine.
#[derive(Debug, Clone)]
pub struct Quarantine {
    client: ApiClient,
    token_file: Option<PathBuf>,
}

impl Quarantine {
    /// A client of the manager at `endpoint`. Over TCP it sends the token the
    /// manager keeps in `DATA_DIR/api-token`, read per call so that a token
    /// created after the filter started is picked up.
    pub fn new(endpoint: Endpoint, data_dir: &Path) -> Quarantine {
        let token_file =
            matches!(endpoint, Endpoint::Tcp(_)).then(|| data_dir.join(API_TOKEN_FILE));
        Quarantine {
            client: ApiClient::new(endpoint).with_timeout(QUARANTINE_TIMEOUT),
            token_file,
        }
    }

    /// Stores `message` (whose reconstructed bytes are `raw`) as `kind`;
    /// returns the manager's ids (one per recipient). Parsing the headers
    /// and the HTTP call both run on the blocking pool.
    pub async fn submit(
        &self,
        message: Message,
        raw: Vec<u8>,
        verdict: Verdict,
        kind: QuarantineKind,
    ) -> Result<Vec<String>, QuarantineError> {
        let token = self
            .token_file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .map(|t| t.trim().to_string());
        let client = self.client.clone().with_token(token);
        let created = tokio::task::spawn_blocking(move || {
            client.quarantine_create(&request(&message, raw, &verdict, kind))
        })
        .await??;
        Ok(created.ids)
    }
}

/// The quarantine kind for a verdict; `None` for clean mail.
pub fn kind(class: Class) -> Option<QuarantineKind> {
    match class {
        Class::Clean => None,
        Class::Spam => Some(QuarantineKind::Spam),
        Class::Virus => Some(QuarantineKind::Virus),
        Class::Attachment => Some(QuarantineKind::Attachment),
    }
}

/// The request for `message`, whose reconstructed bytes are `raw`.
pub fn request(
    message: &Message,
    raw: Vec<u8>,
    verdict: &Verdict,
    kind: QuarantineKind,
) -> NewQuarantine {
    let (message_id, subject) = summary(&raw);
    NewQuarantine {
        queue_id: message.queue_id.clone(),
        message_id: message_id.or_else(|| {
            message
                .header("Message-ID")
                .map(|m| m.trim_matches(|c| c == '<' || c == '>').to_string())
        }),
        sender: message.sender.clone(),
        recipients: message.recipients.clone(),
        subject: subject
            .or_else(|| message.header("Subject"))
            .unwrap_or_default(),
        date: message.header("Date"),
        client_ip: message.client_ip.clone(),
        kind,
        outbound: message.outbound,
        score: verdict.score,
        reasons: verdict.reasons.clone(),
        message: Base64Bytes(raw),
    }
}

/// `Message-ID` without brackets and `Subject` RFC 2047 decoded.
fn summary(raw: &[u8]) -> (Option<String>, Option<String>) {
    match MessageParser::new().parse_headers(raw) {
        Some(m) => (
            m.message_id().map(str::to_string),
            m.subject().map(str::to_string),
        ),
        None => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::HeaderField;

    #[test]
    fn builds_the_request_from_the_message() {
        let field = |n: &str, v: &str| HeaderField {
            name: n.into(),
            value: v.into(),
        };
        let m = Message {
            queue_id: Some("4Q1".into()),
            client_ip: Some("192.0.2.1".into()),
            helo: None,
            sender: "a@example.test".into(),
            recipients: vec!["b@example.test".into(), "c@example.test".into()],
            headers: vec![
                field("Message-ID", " <m1@example.test>"),
                field("Subject", " =?UTF-8?Q?gr=C3=BC=C3=9Fe?="),
                field("Date", " Mon, 1 Jan 2024\n 00:00:00 +0000"),
            ],
            body: b"hi\r\n".to_vec(),
            leading_space: true,
            outbound: false,
        };
        let v = Verdict {
            class: Class::Spam,
            score: 1000.0,
            reasons: vec!["GTUBE".into()],
        };
        let raw = m.reconstruct();
        let q = request(&m, raw.clone(), &v, kind(v.class).unwrap());
        assert_eq!(q.message_id.as_deref(), Some("m1@example.test"));
        assert_eq!(q.subject, "grüße");
        assert_eq!(q.date.as_deref(), Some("Mon, 1 Jan 2024 00:00:00 +0000"));
        assert_eq!(q.recipients.len(), 2);
        assert_eq!((q.kind, q.score), (QuarantineKind::Spam, 1000.0));
        assert_eq!(q.message.0, raw);
        assert_eq!(kind(Class::Clean), None);
    }
}
