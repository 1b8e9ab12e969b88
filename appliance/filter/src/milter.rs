//! The [`Milter`] implementation: one per client connection.
//!
//! It feeds the client's events to [`Connection`], and at end of message
//! scans, then either adds the score headers (clean) or quarantines through
//! the manager and discards the client's copy. When the manager cannot take
//! the message the client is told to retry (4xx): nothing is lost.

use std::convert::Infallible;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::BytesMut;
use log::{debug, info, warn};
use miltr_common::actions::{Action, Continue, Discard, Replycode};
use miltr_common::commands::{Body, Connect, Family, Header, Macro, Mail, Recipient};
use miltr_common::encoding::Writable;
use miltr_common::modifications::headers::{AddHeader, ChangeHeader};
use miltr_common::modifications::ModificationResponse;
use miltr_common::optneg::OptNeg;
use miltr_common::ProtocolError;
use miltr_server::{Error, Milter};

use crate::clamd::ClamdVerdict;
use crate::engine::{Class, Verdict};
use crate::headers;
use crate::message::{Connection, Flow, Message};
use crate::negotiate::negotiate;
use crate::quarantine::{self, Quarantine};
use crate::scanner::Scanner;
use model::config::EngineFailure;

/// The reason in `X-Spam-Status` of a message let through unscanned.
pub const NOT_SCANNED: &str = "NOT_SCANNED";

/// What every connection shares: the engine and the manager client.
pub struct Context {
    /// Runs the checks.
    pub scanner: Scanner,
    /// Where held-back messages go.
    pub quarantine: Quarantine,
    /// clamd, scanning every message beside the built-in scanner.
    pub clamd: Option<model::Endpoint>,
    /// Longest a scan may take.
    pub scan_timeout: std::time::Duration,
    /// What a message gets when a scanner fails.
    pub on_failure: model::config::EngineFailure,
}

/// The filter's side of one milter connection.
pub struct FilterMilter {
    ctx: Arc<Context>,
    session: String,
    conn: Connection,
}

impl FilterMilter {
    /// A milter for one connection; `session` prefixes its log lines.
    pub fn new(ctx: Arc<Context>, session: String) -> FilterMilter {
        FilterMilter {
            ctx,
            session,
            conn: Connection::new(false),
        }
    }

    async fn conclude(&mut self, message: Message) -> ModificationResponse {
        let raw = message.reconstruct();
        let scan = self.ctx.scanner.scan(raw);
        let (raw, verdict) = match tokio::time::timeout(self.ctx.scan_timeout, scan).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return self.engine_failed(&message, &e.to_string()),
            Err(_) => {
                let limit = self.ctx.scan_timeout.as_millis();
                return self.engine_failed(&message, &format!("no verdict within {limit} ms"));
            }
        };
        let verdict = match self.with_clamd(&raw, verdict).await {
            Ok(v) => v,
            Err(refusal) => return reply(refusal),
        };
        let queue_id = message.queue_id.clone().unwrap_or_else(|| "-".into());
        let queue_id = queue_id.as_str();
        if message.outbound {
            if let Some(refusal) = crate::outbound::refusal(&verdict) {
                self.log_verdict(queue_id, &verdict, "outbound: refused");
                return reply(refusal);
            }
            self.log_verdict(queue_id, &verdict, "outbound: accepted with headers");
            return self.clean_response(&message, &verdict);
        }
        let Some(kind) = quarantine::kind(verdict.class) else {
            self.log_verdict(queue_id, &verdict, "accepted with headers");
            return self.clean_response(&message, &verdict);
        };
        let submitted = self
            .ctx
            .quarantine
            .submit(message, raw, verdict.clone(), kind)
            .await;
        match submitted {
            Ok(ids) => {
                self.log_verdict(
                    queue_id,
                    &verdict,
                    &format!("quarantined as {}", ids.join(",")),
                );
                reply(Discard)
            }
            Err(e) => {
                self.log_verdict(
                    queue_id,
                    &verdict,
                    &format!("tempfailed: quarantine failed: {e}"),
                );
                reply(tempfail(
                    [4, 3, 0],
                    "Quarantine unavailable, try again later",
                ))
            }
        }
    }

    /// A scan that died or ran out of time: the message is tempfailed, or
    /// with `on_engine_failure = pass` delivered with headers saying it
    /// was not scanned.
    fn engine_failed(&self, message: &Message, why: &str) -> ModificationResponse {
        warn!("{}: scan failed: {why}", self.session);
        match self.ctx.on_failure {
            EngineFailure::Tempfail => reply(tempfail(
                [4, 3, 0],
                "Message could not be scanned, try again later",
            )),
            EngineFailure::Pass => {
                let unscanned = Verdict {
                    class: Class::Clean,
                    score: 0.0,
                    reasons: vec![NOT_SCANNED.to_string()],
                };
                self.clean_response(message, &unscanned)
            }
        }
    }

    /// Adds clamd's opinion when one is configured and the message is not
    /// already a virus; a clamd that fails tempfails the message or lets
    /// it pass, as `filter.on_engine_failure` says.
    async fn with_clamd(&self, raw: &[u8], mut verdict: Verdict) -> Result<Verdict, Action> {
        let Some(endpoint) = self
            .ctx
            .clamd
            .as_ref()
            .filter(|_| verdict.class != Class::Virus)
        else {
            return Ok(verdict);
        };
        match crate::clamd::scan(endpoint, raw, self.ctx.scan_timeout).await {
            Ok(ClamdVerdict::Clean) => Ok(verdict),
            Ok(ClamdVerdict::Found(name)) => {
                verdict.class = Class::Virus;
                verdict.reasons.push(format!("{name} (clamd)"));
                Ok(verdict)
            }
            Err(e) => {
                warn!("{}: {e}", self.session);
                match self.ctx.on_failure {
                    EngineFailure::Tempfail => Err(tempfail(
                        [4, 3, 0],
                        "Virus scanner unavailable, try again later",
                    )),
                    EngineFailure::Pass => Ok(verdict),
                }
            }
        }
    }

    fn clean_response(&self, message: &Message, verdict: &Verdict) -> ModificationResponse {
        let space = message.leading_space;
        let mut b = ModificationResponse::builder();
        for (index, name) in message.foreign_spam_headers() {
            b.push(ChangeHeader::new(index, &name, b""));
        }
        let score = headers::score_value(verdict, space);
        let status = headers::status_value(verdict, self.ctx.scanner.threshold(), space);
        b.push(AddHeader::new(
            headers::SCORE_HEADER.as_bytes(),
            score.as_bytes(),
        ));
        b.push(AddHeader::new(
            headers::STATUS_HEADER.as_bytes(),
            status.as_bytes(),
        ));
        b.contin()
    }

    fn log_verdict(&self, queue_id: &str, verdict: &Verdict, action: &str) {
        let reasons = if verdict.reasons.is_empty() {
            "-".to_string()
        } else {
            verdict.reasons.join("; ")
        };
        info!(
            "{}: queue_id={queue_id} verdict={} score={:.1} reasons=[{reasons}] action={action}",
            self.session, verdict.class, verdict.score
        );
    }

    fn flow(&self, flow: Flow) -> Action {
        match flow {
            Flow::Continue => Continue.into(),
            Flow::TooBig => {
                warn!("{}: message larger than the filter's limit", self.session);
                tempfail([4, 3, 4], "Message too big for the filter, try again later")
            }
            Flow::TooManyRecipients => {
                Replycode::new([4, 5, 2], [4, 5, 3], "Too many recipients").into()
            }
        }
    }
}

/// A `451` reply with enhanced status `enhanced` (class 4).
fn tempfail(enhanced: [u16; 3], text: &str) -> Action {
    Replycode::new([4, 5, 1], enhanced, text).into()
}

fn reply(action: impl Into<Action>) -> ModificationResponse {
    ModificationResponse::builder().build(action)
}

/// The raw name and value of a header event (miltr only offers lossy text).
fn header_bytes(header: &Header) -> (Vec<u8>, Vec<u8>) {
    let mut wire = BytesMut::new();
    header.write(&mut wire);
    let mut fields = wire[..].split(|&b| b == 0);
    let name = fields.next().unwrap_or_default().to_vec();
    let value = fields.next().unwrap_or_default().to_vec();
    (name, value)
}

#[async_trait]
impl Milter for FilterMilter {
    type Error = Infallible;

    async fn option_negotiation(&mut self, theirs: OptNeg) -> Result<OptNeg, Error<Infallible>> {
        let (ours, leading_space) = negotiate(&theirs).map_err(|e| {
            warn!("{}: option negotiation failed: {e}", self.session);
            Error::Codec(ProtocolError::CompatibilityError(e))
        })?;
        debug!(
            "{}: negotiated version {} actions {:#x} protocol {:#x} (offered {:#x}/{:#x})",
            self.session,
            ours.version,
            ours.capabilities.bits(),
            ours.protocol.bits(),
            theirs.capabilities.bits(),
            theirs.protocol.bits()
        );
        self.conn.set_leading_space(leading_space);
        Ok(ours)
    }

    async fn macro_(&mut self, macro_: Macro) -> Result<(), Infallible> {
        self.conn.on_macros(macro_.macros());
        Ok(())
    }

    async fn connect(&mut self, connect: Connect) -> Result<Action, Infallible> {
        let ip = matches!(connect.family, Family::Inet | Family::Inet6)
            .then(|| connect.address().into_owned());
        self.conn.on_connect(ip);
        debug!(
            "{}: client {} [{}] via {}",
            self.session,
            connect.hostname(),
            self.conn.client_ip().unwrap_or("unknown"),
            self.conn.mta_name().unwrap_or("unknown MTA")
        );
        Ok(Continue.into())
    }

    async fn mail(&mut self, mail: Mail) -> Result<Action, Infallible> {
        self.conn.on_mail(&mail.sender());
        Ok(Continue.into())
    }

    async fn rcpt(&mut self, recipient: Recipient) -> Result<Action, Infallible> {
        let flow = self.conn.on_rcpt(&recipient.recipient());
        Ok(self.flow(flow))
    }

    async fn header(&mut self, header: Header) -> Result<Action, Infallible> {
        let (name, value) = header_bytes(&header);
        let flow = self.conn.on_header(&name, &value);
        Ok(self.flow(flow))
    }

    async fn body(&mut self, body: Body) -> Result<Action, Infallible> {
        let flow = self.conn.on_body(body.as_bytes());
        Ok(self.flow(flow))
    }

    async fn end_of_body(&mut self) -> Result<ModificationResponse, Infallible> {
        match self.conn.finish() {
            Ok(message) => Ok(self.conclude(message).await),
            Err(flow) => Ok(reply(self.flow(flow))),
        }
    }

    async fn abort(&mut self) -> Result<(), Infallible> {
        self.conn.reset();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes_are_exact() {
        let h = Header::new(b"Subject", b" \xff raw\n\tfold");
        assert_eq!(
            header_bytes(&h),
            (b"Subject".to_vec(), b" \xff raw\n\tfold".to_vec())
        );
    }
}
