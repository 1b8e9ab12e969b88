//! One SMTP session's use of the filter: the milter connection opened at the
//! session's start, what the filter decided for the connection and for the
//! current transaction, and reconnecting after a failure.
//!
//! Any failure (unreachable, timeout, protocol error) drops the milter
//! connection and refuses the transaction with 451 4.7.1; the next MAIL
//! tries to reconnect. Mail is never accepted unfiltered when a filter is
//! configured.

use model::Endpoint;

use super::{Mode, Peer};
use crate::message::Message;
use crate::milter::client::{ConnectInfo, MilterClient};
use crate::milter::{EndOfMessage, MilterError, Response};
use crate::session::{Reply, Verdict};

/// What the filter decided for the whole connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ForConnection {
    /// Ask it about every transaction.
    Filter,
    /// It accepted the connection: no more filtering.
    AcceptAll,
    /// It discards everything from this client.
    DiscardAll,
    /// It refused the client: every MAIL gets this reply.
    Refuse(Reply),
}

/// What the filter decided for the current transaction so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ForMessage {
    /// No MAIL sent to the filter yet.
    Idle,
    /// Filtering step by step.
    Filter,
    /// Accepted without further filtering.
    Accepted,
    /// Accept, then drop silently.
    Discard,
    /// The filter failed during this transaction: everything is tempfailed.
    Failed,
}

/// The filter as one SMTP session sees it.
#[derive(Debug)]
pub(crate) struct FilterLink {
    sid: String,
    endpoint: Option<Endpoint>,
    info: Option<ConnectInfo>,
    helo: Option<String>,
    client: Option<MilterClient>,
    connection: ForConnection,
    message: ForMessage,
}

fn unavailable() -> Reply {
    Reply::new(451, "4.7.1", "content filter unavailable, try again later")
}

impl FilterLink {
    /// A link for a session in `mode` from `peer`; no filtering when
    /// `endpoint` is `None` or for the inject socket.
    pub fn new(
        endpoint: Option<Endpoint>,
        mode: Mode,
        peer: &Peer,
        hostname: &str,
        sid: &str,
    ) -> FilterLink {
        let info = match peer {
            Peer::Tcp(a) => Some(ConnectInfo {
                hostname: hostname.to_string(),
                ip: a.ip(),
                port: a.port(),
            }),
            Peer::Local => None,
        };
        FilterLink {
            sid: sid.to_string(),
            endpoint: endpoint.filter(|_| mode == Mode::Inbound),
            info,
            helo: None,
            client: None,
            connection: ForConnection::Filter,
            message: ForMessage::Idle,
        }
    }

    /// True when a filter is configured for this session.
    pub fn is_filtering(&self) -> bool {
        self.endpoint.is_some()
    }

    /// Connects at the session's start (SMFIC_CONNECT); a failure is
    /// remembered as a missing connection and retried at the next MAIL.
    pub async fn open(&mut self) {
        if let Err(e) = self.reconnect().await {
            log::warn!("{}: milter unavailable: {e}", self.sid);
        }
    }

    async fn reconnect(&mut self) -> Result<(), MilterError> {
        let (Some(endpoint), Some(info)) = (&self.endpoint, &self.info) else {
            return Ok(());
        };
        let mut client = MilterClient::open(endpoint).await?;
        let response = client.connect(info).await?;
        if let Some(name) = &self.helo {
            // Replaying HELO after a reconnect; its verdict was given before.
            client.helo(name).await?;
        }
        self.connection = match response {
            Response::Continue | Response::Skip => ForConnection::Filter,
            Response::Accept => ForConnection::AcceptAll,
            Response::Discard => ForConnection::DiscardAll,
            Response::Reject(r) | Response::Tempfail(r) => ForConnection::Refuse(r),
        };
        self.client = Some(client);
        Ok(())
    }

    /// Whether the filter should still be asked.
    fn active(&self) -> bool {
        self.endpoint.is_some() && self.connection == ForConnection::Filter
    }

    /// EHLO/HELO.
    pub async fn helo(&mut self, name: &str) -> Verdict {
        self.helo = Some(name.to_string());
        if !self.active() {
            return Verdict::Accept;
        }
        let Some(client) = &mut self.client else {
            return Verdict::Accept;
        };
        match client.helo(name).await {
            Ok(Response::Reject(r) | Response::Tempfail(r)) => Verdict::Refuse(r),
            Ok(Response::Accept) => {
                self.connection = ForConnection::AcceptAll;
                Verdict::Accept
            }
            Ok(Response::Discard) => {
                self.connection = ForConnection::DiscardAll;
                Verdict::Accept
            }
            Ok(_) => Verdict::Accept,
            Err(e) => {
                self.fail(e);
                Verdict::Accept
            }
        }
    }

    /// MAIL FROM; `outbound` says why the client may relay, if it may.
    pub async fn mail(&mut self, sender: &str, outbound: Option<&str>) -> Verdict {
        if self.endpoint.is_none() {
            return Verdict::Accept;
        }
        if self.client.is_none() {
            if let Err(e) = self.reconnect().await {
                log::warn!("{}: milter unavailable: {e}", self.sid);
                return Verdict::Refuse(unavailable());
            }
        }
        match &self.connection {
            ForConnection::Refuse(r) => return Verdict::Refuse(r.clone()),
            ForConnection::AcceptAll => return Verdict::Accept,
            ForConnection::DiscardAll => {
                self.message = ForMessage::Discard;
                return Verdict::Accept;
            }
            ForConnection::Filter => {}
        }
        self.message = ForMessage::Filter;
        let result = match &mut self.client {
            Some(client) => client.mail(sender, outbound).await,
            None => return Verdict::Refuse(unavailable()),
        };
        self.transaction_step(result)
    }

    /// RCPT TO (after our own recipient checks accepted it).
    pub async fn rcpt(&mut self, recipient: &str) -> Verdict {
        match self.message {
            ForMessage::Filter => {}
            ForMessage::Failed => return Verdict::Refuse(unavailable()),
            ForMessage::Idle | ForMessage::Accepted | ForMessage::Discard => {
                return Verdict::Accept
            }
        }
        let result = match &mut self.client {
            Some(client) => client.rcpt(recipient).await,
            None => return Verdict::Refuse(unavailable()),
        };
        match result {
            // A recipient-level refusal keeps the transaction going.
            Ok(Response::Reject(r) | Response::Tempfail(r)) => Verdict::Refuse(r),
            other => self.transaction_step(other),
        }
    }

    /// Applies a MAIL/RCPT answer to the transaction state.
    fn transaction_step(&mut self, result: Result<Response, MilterError>) -> Verdict {
        match result {
            Ok(Response::Continue | Response::Skip) => Verdict::Accept,
            Ok(Response::Accept) => {
                self.message = ForMessage::Accepted;
                Verdict::Accept
            }
            Ok(Response::Discard) => {
                self.message = ForMessage::Discard;
                Verdict::Accept
            }
            Ok(Response::Reject(r) | Response::Tempfail(r)) => Verdict::Refuse(r),
            Err(e) => {
                self.fail(e);
                Verdict::Refuse(unavailable())
            }
        }
    }

    /// The end of the message: the filter's verdict and edits.
    pub async fn message(&mut self, message: &Message, queue_id: &str) -> EndOfMessage {
        let response = |response| EndOfMessage {
            response,
            modifications: Vec::new(),
        };
        match self.message {
            ForMessage::Idle | ForMessage::Accepted => return response(Response::Accept),
            ForMessage::Discard => return response(Response::Discard),
            ForMessage::Failed => return response(Response::Tempfail(unavailable())),
            ForMessage::Filter => {}
        }
        let Some(client) = &mut self.client else {
            return response(Response::Tempfail(unavailable()));
        };
        match client.message(message, queue_id).await {
            Ok(eom) => eom,
            Err(e) => {
                self.fail(e);
                response(Response::Tempfail(unavailable()))
            }
        }
    }

    /// The transaction is over (message done, RSET, MAIL refused): SMFIC_ABORT.
    pub async fn end_transaction(&mut self) {
        let sent_mail = self.message != ForMessage::Idle;
        self.message = ForMessage::Idle;
        if !sent_mail || self.connection != ForConnection::Filter {
            return;
        }
        if let Some(client) = &mut self.client {
            if let Err(e) = client.abort().await {
                self.fail(e);
            }
        }
    }

    /// The session is over: SMFIC_QUIT.
    pub async fn quit(mut self) {
        if let Some(client) = self.client.take() {
            client.quit().await;
        }
    }

    fn fail(&mut self, e: MilterError) {
        log::warn!("{}: milter failed, transaction tempfailed: {e}", self.sid);
        self.client = None;
        self.message = ForMessage::Failed;
    }
}
