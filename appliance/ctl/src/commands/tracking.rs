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
    out.emit(&events, || list(&events))
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
}
