//! The outcome of one delivery attempt, recipient by recipient.

use crate::Reply;

/// The fate of one envelope recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientResult {
    /// The recipient, as given in the envelope.
    pub recipient: String,
    /// The reply that decided it: the final reply after the dot for an
    /// accepted recipient, otherwise the refusal (RCPT, MAIL, DATA, greeting,
    /// EHLO, or a local one such as the SIZE check).
    pub reply: Reply,
}

/// Everything the mta needs to record a delivery attempt and schedule
/// retries: per-recipient replies plus what the tracking log shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The server's banner (also when it refused the connection).
    pub greeting: Reply,
    /// One entry per envelope recipient, in envelope order.
    pub recipients: Vec<RecipientResult>,
    /// The final reply after the dot, if the message body was sent.
    pub data_reply: Option<Reply>,
    /// Octets of DATA payload transmitted: after dot-stuffing and line-ending
    /// normalisation, including the final `.\r\n`; 0 if no body was sent.
    pub bytes_sent: u64,
    /// The server offered DSN and got the sender's DSN parameters: it
    /// reports successes from now on, so we must not report them too.
    pub dsn_passed: bool,
}

impl DeliveryReport {
    /// Recipients the server took responsibility for (2xx).
    pub fn accepted(&self) -> impl Iterator<Item = &RecipientResult> + '_ {
        self.recipients.iter().filter(|r| r.reply.is_positive())
    }

    /// Recipients to retry later (4xx).
    pub fn transient(&self) -> impl Iterator<Item = &RecipientResult> + '_ {
        self.recipients.iter().filter(|r| r.reply.is_transient())
    }

    /// Recipients to bounce (5xx).
    pub fn permanent(&self) -> impl Iterator<Item = &RecipientResult> + '_ {
        self.recipients.iter().filter(|r| r.reply.is_permanent())
    }
}
