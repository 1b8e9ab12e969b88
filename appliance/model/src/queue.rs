//! The mta's queue, as administrators see and steer it: the protocol of the
//! mta's control socket ([`crate::config::MtaConfig::control_socket`]) and
//! the entities of the manager's `/queue` routes, which forward to it.
//!
//! One JSON request per line, one JSON answer per line, as on the
//! supervisor's control socket. The mta owns `queue.db`; nobody else opens it.

use serde::{Deserialize, Serialize};

/// A request to the mta.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum QueueRequest {
    /// Messages in the queue, oldest first: [`QueueResponse::Items`].
    List {
        /// Only messages with a recipient in this domain.
        #[serde(default)]
        domain: Option<String>,
        /// At most this many (default 100).
        #[serde(default)]
        limit: Option<usize>,
    },
    /// One message: [`QueueResponse::Item`].
    Show {
        /// Its queue id.
        id: String,
    },
    /// Try now instead of at the next scheduled time: one message, one
    /// domain's, or (neither given) all. [`QueueResponse::Done`].
    Flush {
        /// Only this message.
        #[serde(default)]
        id: Option<String>,
        /// Only messages with a recipient in this domain.
        #[serde(default)]
        domain: Option<String>,
    },
    /// Remove a message without telling its sender. [`QueueResponse::Done`].
    Delete {
        /// Its queue id.
        id: String,
    },
    /// The domains whose mail is held: [`QueueResponse::Holds`].
    Holds,
    /// Keep the domain's mail in the queue (e.g. while its server is
    /// serviced); kept across restarts, never bounced for age while held.
    Hold {
        /// The domain.
        domain: String,
    },
    /// Deliver the domain's held mail now and stop holding it.
    Release {
        /// The domain.
        domain: String,
    },
}

/// The mta's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum QueueResponse {
    /// Answer to [`QueueRequest::List`].
    Items {
        /// The messages.
        items: Vec<QueueItem>,
    },
    /// Answer to [`QueueRequest::Show`].
    Item {
        /// The message.
        item: QueueItem,
    },
    /// Answer to flush, delete, hold and release.
    Done(QueueDone),
    /// Answer to [`QueueRequest::Holds`].
    Holds {
        /// Held domains, sorted.
        domains: Vec<String>,
    },
    /// The request could not be carried out.
    Error {
        /// `not_found`, `invalid`, ...
        code: String,
        /// What went wrong, for a person.
        message: String,
    },
}

/// What a queue operation did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueDone {
    /// Messages affected.
    pub messages: usize,
}

/// A message in the queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueItem {
    /// Queue id (as in tracking).
    pub id: String,
    /// Envelope sender (empty for bounces).
    pub sender: String,
    /// When it was queued, unix milliseconds.
    pub received: u64,
    /// Size in bytes.
    pub size: u64,
    /// `Message-ID`, without angle brackets.
    #[serde(default)]
    pub message_id: Option<String>,
    /// The recipients still to deliver.
    pub recipients: Vec<QueueRecipient>,
}

/// A recipient of a queued message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRecipient {
    /// The address.
    pub address: String,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Next attempt, unix milliseconds.
    pub next_attempt: u64,
    /// The last failure, e.g. the remote's 4xx reply.
    #[serde(default)]
    pub last_error: Option<String>,
    /// True while its domain is held.
    #[serde(default)]
    pub held: bool,
}

/// Longest answer line accepted from the mta.
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// Sends one request to the mta's control socket and reads its answer.
pub fn ask(
    socket: &std::path::Path,
    request: &QueueRequest,
    timeout: std::time::Duration,
) -> std::io::Result<QueueResponse> {
    crate::control::ask_line(socket, request, timeout, MAX_ANSWER, "the mta")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json_lines() {
        let r = QueueRequest::Hold {
            domain: "example.test".into(),
        };
        let j = serde_json::to_string(&r).unwrap();
        assert_eq!(j, r#"{"cmd":"hold","domain":"example.test"}"#);
        assert_eq!(serde_json::from_str::<QueueRequest>(&j).unwrap(), r);
        let list: QueueRequest = serde_json::from_str(r#"{"cmd":"list"}"#).unwrap();
        assert_eq!(
            list,
            QueueRequest::List {
                domain: None,
                limit: None
            }
        );
        assert!(serde_json::from_str::<QueueRequest>(r#"{"cmd":"list","x":1}"#).is_err());
        let done = serde_json::to_string(&QueueResponse::Done(QueueDone { messages: 2 })).unwrap();
        assert_eq!(done, r#"{"result":"done","messages":2}"#);
    }
}
