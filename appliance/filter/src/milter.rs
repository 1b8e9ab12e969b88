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
use miltr_common::commands::{Body, Connect, Family, Header, Helo, Macro, Mail, Recipient};
use miltr_common::encoding::Writable;
use miltr_common::modifications::headers::{AddHeader, ChangeHeader};
use miltr_common::modifications::recipients::DeleteRecipient;
use miltr_common::modifications::ModificationResponse;
use miltr_common::optneg::OptNeg;
use miltr_common::ProtocolError;
use miltr_server::{Error, Milter};

use crate::auth::{Disposition, Report};
use crate::clamd::ClamdVerdict;
use crate::engine::Engines;
use crate::engine::{Class, Verdict};
use crate::headers;
use crate::message::{Connection, Flow, Message};
use crate::negotiate::negotiate;
use crate::policy::{Decision, PolicyCache};
use crate::quarantine::{self, Quarantine};
use crate::scanner::Scanner;
use model::api::QuarantineKind;
use model::config::EngineFailure;
use model::policy::{AttachmentPolicy, Thresholds};

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
    /// The administrators' policy in force.
    pub policy: Arc<PolicyCache>,
    /// An engine per attachment policy in use.
    pub engines: Engines,
    /// SPF, DKIM, DMARC, ARC and the DNS block lists.
    pub auth: crate::auth::Auth,
    /// The sender history and delay queue.
    pub history: crate::history::SenderHistory,
}

/// How a delivered message is marked.
#[derive(Clone, Copy, Debug)]
struct Marks {
    /// `X-Spam-Status: Yes`.
    spam: bool,
    /// `X-Spam-Flag: YES` and the subject tag.
    tag: bool,
}

impl Marks {
    /// Both, or neither.
    fn tagged(tag: bool) -> Marks {
        Marks { spam: tag, tag }
    }
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
        let mut raw = message.reconstruct();
        // The network checks first: a message every recipient refuses for
        // its sender domain's DMARC policy is not worth scanning.
        let auth = self.ctx.auth.check(&self.session, &message, &raw).await;
        if !message.outbound && self.dmarc_refuses_all(&message, &auth) {
            info!(
                "{}: refused: DMARC policy of the sender's domain is reject",
                self.session
            );
            return reply(crate::auth::dmarc_refusal());
        }
        // One scan per attachment policy among the recipients' domains
        // (nearly always one); outbound mail under the defaults.
        let groups = if message.outbound {
            vec![(AttachmentPolicy::default(), message.recipients.clone())]
        } else {
            self.ctx
                .policy
                .current()
                .attachment_groups(&message.recipients)
        };
        let mut verdicts: Vec<(Vec<String>, Verdict)> = Vec::with_capacity(groups.len());
        for (attachments, recipients) in groups {
            let engine = self.ctx.engines.get(&attachments);
            let scan = self.ctx.scanner.scan_with(engine, raw);
            let (back, verdict) = match tokio::time::timeout(self.ctx.scan_timeout, scan).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return self.engine_failed(&message, &auth, &e.to_string()),
                Err(_) => {
                    let limit = self.ctx.scan_timeout.as_millis();
                    let why = format!("no verdict within {limit} ms");
                    return self.engine_failed(&message, &auth, &why);
                }
            };
            raw = back;
            verdicts.push((recipients, verdict));
        }
        if let Err(refusal) = self.with_clamd(&raw, &mut verdicts).await {
            return reply(refusal);
        }
        // Findings from outside the engine: the network checks and the
        // sender history (snowshoe), then the history counts the verdict.
        let now = sender_history::now();
        let mut extra = auth.findings.clone();
        extra.extend(self.ctx.history.findings(&self.session, &message, now));
        let threshold = self.ctx.scanner.threshold();
        if !extra.is_empty() {
            for (_, v) in verdicts.iter_mut() {
                v.add_findings(&extra, threshold);
            }
        }
        let worst = verdicts
            .iter()
            .map(|v| v.1.class)
            .max()
            .unwrap_or(Class::Clean);
        self.ctx.history.record(&self.session, &message, worst, now);
        let queue_id = message.queue_id.clone().unwrap_or_else(|| "-".into());
        let queue_id = queue_id.as_str();
        if message.outbound {
            let verdict = verdicts.swap_remove(0).1;
            return self
                .decide_outbound(message, raw, verdict, &auth, queue_id)
                .await;
        }
        self.decide_inbound(message, raw, verdicts, &auth, queue_id)
            .await
    }

    /// True when every recipient's domain honours DMARC and the sender's
    /// domain asks for rejection.
    fn dmarc_refuses_all(&self, message: &Message, auth: &Report) -> bool {
        if auth.dmarc_failure.is_none() {
            return false;
        }
        let policy = self.ctx.policy.current();
        !message.recipients.is_empty()
            && message
                .recipients
                .iter()
                .all(|r| auth.disposition(policy.dmarc(r)) == Disposition::Reject)
    }

    /// A customer's own mail: held (and its sender told, by the manager)
    /// when it carries a virus, a blocked attachment or spam at the
    /// sending domain's quarantine threshold; otherwise it leaves with its
    /// score shown and the message itself (subject, DKIM signature to come)
    /// untouched.
    async fn decide_outbound(
        &self,
        message: Message,
        raw: Vec<u8>,
        verdict: Verdict,
        auth: &Report,
        queue_id: &str,
    ) -> ModificationResponse {
        let thresholds = self.ctx.policy.current().thresholds(&message.sender);
        if !crate::outbound::held(&verdict, &thresholds) {
            self.log_verdict(queue_id, &verdict, "outbound: accepted with headers");
            let marks = Marks {
                spam: verdict.score >= thresholds.tag,
                tag: false,
            };
            return self.clean_response(&message, &verdict, auth, marks, thresholds.tag, &[]);
        }
        let kind = quarantine::kind(verdict.class).unwrap_or(QuarantineKind::Spam);
        let logged = verdict.clone();
        match self
            .ctx
            .quarantine
            .submit(message, raw, verdict, kind)
            .await
        {
            Ok(ids) => {
                let action = format!("outbound: held as {}, sender told", ids.join(","));
                self.log_verdict(queue_id, &logged, &action);
                reply(Discard)
            }
            Err(e) => {
                let action = format!("outbound: tempfailed: quarantine failed: {e}");
                self.log_verdict(queue_id, &logged, &action);
                reply(tempfail(
                    [4, 3, 0],
                    "Quarantine unavailable, try again later",
                ))
            }
        }
    }

    /// Applies the administrators' policy to the inbound verdicts (one per
    /// group of recipients, see [`crate::policy::Snapshot::attachment_groups`]), recipient
    /// by recipient: refused when every recipient refuses it; otherwise
    /// held for the recipients that hold it (taken off the message) and
    /// delivered, tagged or not, to the others.
    async fn decide_inbound(
        &self,
        message: Message,
        raw: Vec<u8>,
        verdicts: Vec<(Vec<String>, Verdict)>,
        auth: &Report,
        queue_id: &str,
    ) -> ModificationResponse {
        let policy = self.ctx.policy.current();
        let from = message
            .header("From")
            .map(|f| header_address(&f))
            .unwrap_or_default();
        let senders = [message.sender.as_str(), from.as_str()];
        let verdict_of = |r: &str| {
            verdicts
                .iter()
                .position(|(rs, _)| rs.iter().any(|x| x == r))
                .unwrap_or(0)
        };
        let decisions: Vec<(usize, Decision)> = message
            .recipients
            .iter()
            .map(|r| {
                let v = verdict_of(r);
                let decision = match auth.disposition(policy.dmarc(r)) {
                    // The sender's domain asked: before any allow list.
                    Disposition::Reject | Disposition::Quarantine => {
                        Decision::Quarantine(Some(crate::auth::DMARC_POLICY_HOLD.into()))
                    }
                    Disposition::Accept => policy.decide(r, &senders, &verdicts[v].1),
                };
                (v, decision)
            })
            .collect();
        let first = &verdicts[0].1;
        if !decisions.is_empty() && decisions.iter().all(|d| d.1 == Decision::Reject) {
            self.log_verdict(queue_id, first, "rejected");
            let text = format!("Message refused as spam (score {:.1})", first.score);
            return reply(Replycode::new([5, 5, 0], [5, 7, 1], &text));
        }
        let tag = decisions.iter().any(|d| d.1 == Decision::Tag);
        // Recipients held, grouped by verdict and the reason a list adds.
        let mut groups: Vec<(usize, Option<String>, Vec<String>)> = Vec::new();
        let mut delivered_verdict = None;
        for (r, (v, d)) in message.recipients.iter().zip(&decisions) {
            let why = match d {
                Decision::Quarantine(why) => why.clone(),
                Decision::Reject => None,
                Decision::Deliver | Decision::Tag => {
                    delivered_verdict.get_or_insert(*v);
                    continue;
                }
            };
            match groups.iter_mut().find(|g| g.0 == *v && g.1 == why) {
                Some(g) => g.2.push(r.clone()),
                None => groups.push((*v, why, vec![r.clone()])),
            }
        }
        let shown = &verdicts[delivered_verdict.unwrap_or(0)].1;
        let required = message
            .recipients
            .first()
            .map_or(Thresholds::default().tag, |r| policy.thresholds(r).tag);
        let held: Vec<String> = groups.iter().flat_map(|g| g.2.iter().cloned()).collect();
        if held.is_empty() {
            let action = if tag {
                "accepted, tagged as spam"
            } else {
                "accepted with headers"
            };
            self.log_verdict(queue_id, shown, action);
            return self.clean_response(&message, shown, auth, Marks::tagged(tag), required, &[]);
        }
        let mut ids = Vec::new();
        for (v, why, recipients) in groups {
            let mut verdict = verdicts[v].1.clone();
            if let Some(why) = why {
                verdict.reasons.insert(0, why);
            }
            let kind = quarantine::kind(verdict.class).unwrap_or(QuarantineKind::Spam);
            let mut part = message.clone();
            part.recipients = recipients.clone();
            let logged = verdict.clone();
            match self
                .ctx
                .quarantine
                .submit(part, raw.clone(), verdict, kind)
                .await
            {
                Ok(created) => {
                    let action = format!(
                        "quarantined for {} as {}",
                        recipients.join(","),
                        created.join(",")
                    );
                    self.log_verdict(queue_id, &logged, &action);
                    ids.extend(created);
                }
                Err(e) => {
                    self.log_verdict(
                        queue_id,
                        &logged,
                        &format!("tempfailed: quarantine failed: {e}"),
                    );
                    return reply(tempfail(
                        [4, 3, 0],
                        "Quarantine unavailable, try again later",
                    ));
                }
            }
        }
        if held.len() == message.recipients.len() {
            return reply(Discard);
        }
        self.log_verdict(queue_id, shown, "delivered to the other recipients");
        self.clean_response(&message, shown, auth, Marks::tagged(tag), required, &held)
    }

    /// A scan that died or ran out of time: the message is tempfailed, or
    /// with `on_engine_failure = pass` delivered with headers saying it
    /// was not scanned.
    fn engine_failed(&self, message: &Message, auth: &Report, why: &str) -> ModificationResponse {
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
                let required = Thresholds::default().tag;
                let marks = Marks::tagged(false);
                self.clean_response(message, &unscanned, auth, marks, required, &[])
            }
        }
    }

    /// Adds clamd's opinion to every verdict when clamd is configured and
    /// not every verdict is already a virus; a clamd that fails tempfails
    /// the message or lets it pass, as `filter.on_engine_failure` says.
    async fn with_clamd(
        &self,
        raw: &[u8],
        verdicts: &mut [(Vec<String>, Verdict)],
    ) -> Result<(), Action> {
        let Some(endpoint) = self
            .ctx
            .clamd
            .as_ref()
            .filter(|_| verdicts.iter().any(|v| v.1.class != Class::Virus))
        else {
            return Ok(());
        };
        match crate::clamd::scan(endpoint, raw, self.ctx.scan_timeout).await {
            Ok(ClamdVerdict::Clean) => Ok(()),
            Ok(ClamdVerdict::Found(name)) => {
                for (_, v) in verdicts.iter_mut() {
                    v.class = Class::Virus;
                    v.reasons.push(format!("{name} (clamd)"));
                }
                Ok(())
            }
            Err(e) => {
                warn!("{}: {e}", self.session);
                match self.ctx.on_failure {
                    EngineFailure::Tempfail => Err(tempfail(
                        [4, 3, 0],
                        "Virus scanner unavailable, try again later",
                    )),
                    EngineFailure::Pass => Ok(()),
                }
            }
        }
    }

    /// The score headers (`X-Spam-Status: Yes` when `marks.spam`, the spam
    /// flag and subject tag when `marks.tag`), `Authentication-Results`
    /// (forged ones removed), incoming `X-Spam-*` removed, and `removed`
    /// taken off the recipients.
    fn clean_response(
        &self,
        message: &Message,
        verdict: &Verdict,
        auth: &Report,
        marks: Marks,
        required: f64,
        removed: &[String],
    ) -> ModificationResponse {
        let space = message.leading_space;
        let mut b = ModificationResponse::builder();
        auth.apply(&mut b, space);
        for (index, name) in message.foreign_spam_headers() {
            b.push(ChangeHeader::new(index, &name, b""));
        }
        let score = headers::score_value(verdict, space);
        let status = headers::status_value(verdict, marks.spam, required, space);
        b.push(AddHeader::new(
            headers::SCORE_HEADER.as_bytes(),
            score.as_bytes(),
        ));
        b.push(AddHeader::new(
            headers::STATUS_HEADER.as_bytes(),
            status.as_bytes(),
        ));
        if marks.tag {
            let yes = if space { " YES" } else { "YES" };
            b.push(AddHeader::new(
                headers::FLAG_HEADER.as_bytes(),
                yes.as_bytes(),
            ));
            let subject = message.header("Subject").unwrap_or_default();
            let tagged = headers::tagged_subject(&subject, space);
            if message.header("Subject").is_some() {
                b.push(ChangeHeader::new(1, b"Subject", tagged.as_bytes()));
            } else {
                b.push(AddHeader::new(b"Subject", tagged.as_bytes()));
            }
        }
        for r in removed {
            b.push(DeleteRecipient::new(format!("<{r}>").as_bytes()));
        }
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

/// The address in a From header value (`Name <a@b>` or `a@b`).
fn header_address(value: &str) -> String {
    let v = value.trim();
    match (v.rfind('<'), v.rfind('>')) {
        (Some(l), Some(r)) if l < r => v[l + 1..r].trim().to_string(),
        _ => v.to_string(),
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

    async fn helo(&mut self, helo: Helo) -> Result<Action, Infallible> {
        self.conn.on_helo(&helo.helo());
        Ok(Continue.into())
    }

    async fn mail(&mut self, mail: Mail) -> Result<Action, Infallible> {
        self.conn.on_mail(&mail.sender());
        Ok(Continue.into())
    }

    async fn rcpt(&mut self, recipient: Recipient) -> Result<Action, Infallible> {
        let address = recipient.recipient();
        // The policy lookups only when the delay queue is on (off by default).
        if self.ctx.history.delay_queue_enabled() {
            let policy = self.ctx.policy.current();
            let bare = address.trim().trim_start_matches('<').trim_end_matches('>');
            let sender = self.conn.sender().trim_matches(|c| c == '<' || c == '>');
            let delays = policy.delays(bare, sender);
            let exempt = &policy.delay_exempt;
            let now = sender_history::now();
            let history = &self.ctx.history;
            if let Some(delay) = history.at_rcpt(&self.session, &self.conn, delays, exempt, now) {
                return Ok(delay);
            }
        }
        let flow = self.conn.on_rcpt(&address);
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
