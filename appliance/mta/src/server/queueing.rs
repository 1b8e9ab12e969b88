//! The end of DATA: Received header, the filter's verdict and edits, durable
//! queueing, tracking, and the final reply.
//!
//! Recipients relayed unfiltered (mailboxes of a manual-provisioning domain
//! verified by call-out) never reach the filter; they get the message as
//! received even when the filter discards or quarantines it for the others.
//! When some filtered recipients remain, all share the filtered copy.
//!
//! The 250 is given only after the group commit fsynced the message; a
//! storage failure gives 451 4.3.0 and nothing is acknowledged. A message
//! the filter discarded, or whose every recipient it removed, is the
//! filter's to keep (it quarantined it, and the manager recorded that): the
//! client gets 250 and nothing is queued.

use model::api::EventKind;

use super::filter::FilterLink;
use super::{Peer, Shared};
use crate::message::{Field, Message};
use crate::milter::apply::apply;
use crate::milter::{Modification, Response};
use crate::queue::Entry;
use crate::session::{Reply, Transaction};
use crate::tracking::event;

/// Filters, queues and tracks `txn`; returns the final reply to DATA.
pub(crate) async fn accept_message(
    shared: &Shared,
    filter: &mut FilterLink,
    peer: &Peer,
    txn: Transaction,
    unfiltered: &[String],
    dsn: crate::dsn::MessageDsn,
    sid: &str,
) -> Reply {
    let now = model::time::now_ms();
    let id = txn.queue_id.clone();
    let mut message = Message::parse(&txn.body);
    message.insert(0, received(&txn, peer, &shared.session.hostname, now));
    let message_id = message.message_id();
    let track = |kind, recipients: &[String], detail: String| {
        let mut e = event(kind, &id, &txn.sender, recipients);
        e.message_id = message_id.clone();
        e.detail = detail;
        e
    };
    shared.tracker.emit(track(
        EventKind::Received,
        &txn.recipients,
        format!("size={} client={peer} helo={}", txn.body.len(), txn.helo),
    ));

    let mut recipients: Vec<String> = txn
        .recipients
        .iter()
        .filter(|r| !unfiltered.contains(r))
        .cloned()
        .collect();
    if !unfiltered.is_empty() {
        shared.tracker.emit(track(
            EventKind::Verdict,
            unfiltered,
            "relayed unfiltered: mailbox verified by call-out, not provisioned".into(),
        ));
    }
    let original = (!unfiltered.is_empty()).then(|| message.clone());
    let eom = if recipients.is_empty() {
        crate::milter::EndOfMessage {
            response: Response::Accept,
            modifications: Vec::new(),
        }
    } else {
        filter.message(&message, &id).await
    };
    let verdict = match eom.response {
        Response::Reject(r) | Response::Tempfail(r) => {
            log::info!("{sid}: {id}: refused by the filter: {r}");
            shared.tracker.emit(track(
                EventKind::Verdict,
                &recipients,
                format!("refused: {r}"),
            ));
            let mut e = track(
                EventKind::Rejected,
                &recipients,
                "refused by the filter".into(),
            );
            e.reply = Some(r.to_string());
            shared.tracker.emit(e);
            return r;
        }
        Response::Discard => {
            log::info!("{sid}: {id}: discarded by the filter");
            shared.tracker.emit(track(
                EventKind::Verdict,
                &recipients,
                "discarded by the filter".into(),
            ));
            recipients.clear();
            String::new()
        }
        Response::Continue | Response::Accept | Response::Skip => {
            let applied = apply(&eom.modifications, &mut message, &mut recipients);
            if !applied.removed.is_empty() {
                shared.tracker.emit(track(
                    EventKind::Verdict,
                    &applied.removed,
                    "recipient removed by the filter".into(),
                ));
            }
            verdict_detail(filter.is_filtering(), &eom.modifications)
        }
    };
    if !recipients.is_empty() {
        shared
            .tracker
            .emit(track(EventKind::Verdict, &recipients, verdict));
    }
    if recipients.is_empty() {
        if let Some(original) = original {
            message = original;
        }
    }
    recipients.extend(unfiltered.iter().cloned());
    if recipients.is_empty() {
        log::info!("{sid}: {id}: no recipient left after filtering; nothing queued");
        return queued_reply(&id);
    }

    let mut entry = Entry::new(id.clone(), txn.sender.clone(), &recipients, now);
    entry.message_id = message_id.clone();
    entry.dsn = dsn;
    let bytes = message.to_bytes();
    entry.smtputf8 = txn.smtputf8 && needs_smtputf8(&txn.sender, &recipients, &bytes);
    let size = bytes.len();
    match shared.committer.commit(entry, bytes).await {
        Ok(()) => {
            log::info!(
                "{sid}: {id}: queued from=<{}> rcpts={} size={size}",
                txn.sender,
                recipients.len()
            );
            shared.tracker.emit(track(
                EventKind::Queued,
                &recipients,
                format!("size={size}"),
            ));
            // The scheduler is gone only during shutdown; the message is on disk anyway.
            let _ = shared.queued.send(id.clone());
            queued_reply(&id)
        }
        Err(e) => {
            log::error!("{sid}: {id}: not queued: {e}");
            Reply::new(451, "4.3.0", "queue storage failure, try again later")
        }
    }
}

fn queued_reply(id: &str) -> Reply {
    Reply::new(250, "2.0.0", format!("Ok: queued as {id}"))
}

/// The verdict event's detail: the filter's outcome and the `X-Spam-Status`
/// it set (not one the sender may have forged in the original header).
fn verdict_detail(filtered: bool, modifications: &[Modification]) -> String {
    if !filtered {
        return "accepted unfiltered (no filter for this listener)".into();
    }
    let status = modifications.iter().rev().find_map(|m| match m {
        Modification::AddHeader { name, value }
        | Modification::InsertHeader { name, value, .. }
        | Modification::ChangeHeader { name, value, .. }
            if name.eq_ignore_ascii_case("X-Spam-Status") =>
        {
            Some(value.trim().to_string())
        }
        _ => None,
    });
    match status {
        Some(status) => format!("accept; X-Spam-Status: {status}"),
        None => "accept".into(),
    }
}

/// Whether a message sent with SMTPUTF8 really needs it onward: UTF-8 in
/// an address or in the header section. One that is plain ASCII goes to
/// any server, as Postfix does (a client may flag every message).
fn needs_smtputf8(sender: &str, recipients: &[String], message: &[u8]) -> bool {
    let header_end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(message.len());
    !sender.is_ascii()
        || recipients.iter().any(|r| !r.is_ascii())
        || !message[..header_end].is_ascii()
}

/// Our `Received:` field (RFC 5321 section 4.4).
fn received(txn: &Transaction, peer: &Peer, hostname: &str, now: u64) -> Field {
    let from = match peer {
        Peer::Tcp(a) => format!("[{}]", a.ip()),
        Peer::Local => "localhost".into(),
    };
    let protocol = super::tls::received_protocol(txn);
    let helo = clean_helo(&txn.helo);
    let mut value = format!(
        "from {helo} ({from})\n\tby {hostname} (filterbox) with {protocol} id {}",
        txn.queue_id
    );
    if let [single] = txn.recipients.as_slice() {
        value.push_str(&format!("\n\tfor <{single}>"));
    }
    value.push_str(&format!("; {}", model::time::format_rfc5322(now)));
    Field::new("Received", &value)
}

/// The HELO name as it may appear in a header: anything unusual becomes `_`.
pub(super) fn clean_helo(helo: &str) -> String {
    let cleaned: String = helo
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_:[]".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "unknown".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtputf8_is_needed_only_for_utf8_addresses_or_headers() {
        let rcpts = vec!["u@x.test".to_string()];
        let ascii = b"Subject: hi\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n";
        assert!(
            !needs_smtputf8("s@x.test", &rcpts, ascii),
            "8-bit body only"
        );
        let header = "Subject: Grüße\r\n\r\nhi\r\n".as_bytes();
        assert!(needs_smtputf8("s@x.test", &rcpts, header));
        assert!(needs_smtputf8("jörg@x.test", &rcpts, ascii));
        let utf8_rcpt = vec!["jörg@x.test".to_string()];
        assert!(needs_smtputf8("s@x.test", &utf8_rcpt, ascii));
    }

    #[test]
    fn received_field_names_client_id_and_single_recipient() {
        let txn = Transaction {
            queue_id: "q1".into(),
            sender: "s@x.test".into(),
            recipients: vec!["u@x.test".into()],
            helo: "client(evil);".into(),
            esmtp: true,
            tls: false,
            authenticated: false,
            smtputf8: false,
            body: Vec::new(),
        };
        let peer = Peer::Tcp("192.0.2.1:4000".parse().unwrap());
        let f = received(&txn, &peer, "mx.test", 1_795_314_048_000);
        assert_eq!(
            String::from_utf8(f.raw).unwrap(),
            "Received: from client_evil__ ([192.0.2.1])\r\n\tby mx.test (filterbox) with ESMTP id q1\r\n\
             \tfor <u@x.test>; Sun, 22 Nov 2026 02:20:48 +0000\r\n"
        );
    }
}
