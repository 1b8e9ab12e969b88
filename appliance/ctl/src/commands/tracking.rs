//! `tracking show`.

use anyhow::Context;
use model::api::TrackingEvent;
use model::client::{ApiClient, TrackingQuery};

use super::{time, Out};
use crate::args::{TrackingCommand, TrackingTerms};
use crate::table::table;

/// Runs one `tracking` subcommand.
pub fn run(api: &ApiClient, cmd: TrackingCommand, out: &mut Out<'_>) -> anyhow::Result<()> {
    let TrackingCommand::Show(terms) = cmd;
    let events = api
        .tracking(&query(terms))
        .context("searching the tracking log")?;
    out.emit(&events, || {
        let mut text = list(&events);
        for e in &events {
            text.push_str(&proof(e));
        }
        text
    })
}

/// The proof of delivery of a `delivered` event, after the table: who
/// took the message, over what, and the conversation verbatim.
fn proof(e: &TrackingEvent) -> String {
    let Some(p) = &e.proof else {
        return String::new();
    };
    let tls = match (&p.tls_version, &p.tls_cipher) {
        (Some(v), Some(c)) => format!("{v} {c}"),
        (Some(v), None) => v.clone(),
        _ => "none (clear text)".into(),
    };
    let mut text = format!(
        "\nProof of delivery of {} to {} ({}):\n  \
         server:  {} (banner {}, EHLO {})\n  \
         TLS:     {tls}\n  \
         data:    {} octets, sha256 {}\n",
        e.queue_id,
        e.recipients.join(", "),
        time(e.time),
        p.address,
        p.banner_name,
        p.ehlo_name,
        p.body_bytes,
        p.body_sha256,
    );
    for line in &p.transcript {
        text.push_str(&format!("  {line}\n"));
    }
    text
}

fn query(t: TrackingTerms) -> TrackingQuery {
    TrackingQuery {
        queue_id: t.queue_id,
        message_id: t.message_id,
        sender: t.sender,
        recipient: t.recipient,
    }
}

fn list(events: &[TrackingEvent]) -> String {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let detail: Vec<&str> = [
                Some(e.detail.as_str()),
                e.remote.as_deref(),
                e.reply.as_deref(),
            ]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect();
            vec![
                time(e.time),
                format!("{:?}", e.kind).to_lowercase(),
                e.queue_id.clone(),
                if e.sender.is_empty() {
                    "<>".into()
                } else {
                    e.sender.clone()
                },
                e.recipients.join(", "),
                detail.join("; "),
            ]
        })
        .collect();
    table(
        &[
            "TIME",
            "EVENT",
            "QUEUE-ID",
            "SENDER",
            "RECIPIENTS",
            "DETAIL",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::api::EventKind;

    #[test]
    fn events_as_a_table() {
        let e = TrackingEvent {
            proof: Default::default(),
            time: 1_795_314_048_000,
            queue_id: "Q1".into(),
            message_id: None,
            kind: EventKind::Delivered,
            sender: String::new(),
            recipients: vec!["a@b.test".into(), "c@b.test".into()],
            detail: String::new(),
            remote: Some("mx [127.0.0.1]:25".into()),
            reply: Some("250 ok".into()),
        };
        assert_eq!(
            list(&[e]),
            "TIME                  EVENT      QUEUE-ID  SENDER  RECIPIENTS          DETAIL\n\
             2026-11-22T02:20:48Z  delivered  Q1        <>      a@b.test, c@b.test  mx [127.0.0.1]:25; 250 ok\n"
        );
    }

    #[test]
    fn a_delivery_shows_its_proof() {
        let e = TrackingEvent {
            proof: Some(model::api::DeliveryProof {
                banner_name: "mx.b.test".into(),
                ehlo_name: "mx.b.test".into(),
                address: "127.0.0.1:25".into(),
                tls_version: Some("TLSv1.3".into()),
                tls_cipher: Some("TLS13_AES_256_GCM_SHA384".into()),
                transcript: vec!["S: 220 mx.b.test ESMTP".into(), "C: EHLO fb.test".into()],
                body_sha256: "ab12".into(),
                body_bytes: 42,
            }),
            time: 1_795_314_048_000,
            queue_id: "Q1".into(),
            message_id: None,
            kind: EventKind::Delivered,
            sender: String::new(),
            recipients: vec!["a@b.test".into()],
            detail: String::new(),
            remote: None,
            reply: None,
        };
        assert_eq!(
            proof(&e),
            "\nProof of delivery of Q1 to a@b.test (2026-11-22T02:20:48Z):\n  \
             server:  127.0.0.1:25 (banner mx.b.test, EHLO mx.b.test)\n  \
             TLS:     TLSv1.3 TLS13_AES_256_GCM_SHA384\n  \
             data:    42 octets, sha256 ab12\n  \
             S: 220 mx.b.test ESMTP\n  \
             C: EHLO fb.test\n"
        );
        let mut clear = e.clone();
        clear.proof = None;
        assert_eq!(proof(&clear), "");
    }
}
