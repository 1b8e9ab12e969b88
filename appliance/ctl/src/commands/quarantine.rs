//! `quarantine list|show|message|release|delete`.

use anyhow::Context;
use model::address::normalize_address;
use model::api::QuarantineItem;
use model::client::ApiClient;

use super::{time, Out};
use crate::args::QuarantineCommand;
use crate::table::{fields, table};

/// Runs one `quarantine` subcommand.
pub fn run(api: &ApiClient, cmd: QuarantineCommand, out: &mut Out<'_>) -> anyhow::Result<()> {
    match cmd {
        QuarantineCommand::List { recipient } => {
            let recipient = recipient.as_deref().map(normalize_address).transpose()?;
            let items = api
                .quarantine_list(recipient.as_deref())
                .context("listing the quarantine")?;
            out.emit(&items, || list(&items))
        }
        QuarantineCommand::Show { id } => {
            let item = api
                .quarantine_show(&id.0)
                .with_context(|| format!("showing quarantine item {}", id.0))?;
            out.emit(&item, || show(&item))
        }
        QuarantineCommand::Message { id } => {
            let raw = api
                .quarantine_message(&id.0)
                .with_context(|| format!("fetching the message of {}", id.0))?;
            out.w.write_all(&raw)?;
            Ok(())
        }
        QuarantineCommand::Release { id } => {
            let released = api
                .quarantine_release(&id.0)
                .with_context(|| format!("releasing {}", id.0))?;
            out.emit(&released, || {
                format!("released {}: {}\n", released.id, released.reply)
            })
        }
        QuarantineCommand::Delete { id } => {
            api.quarantine_delete(&id.0)
                .with_context(|| format!("deleting {}", id.0))?;
            out.done(&format!("deleted quarantine item {}", id.0))
        }
    }
}

fn sender(s: &str) -> String {
    if s.is_empty() {
        "<>".into()
    } else {
        s.into()
    }
}

fn list(items: &[QuarantineItem]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            vec![
                i.id.clone(),
                time(i.quarantined),
                i.kind.as_str().into(),
                format!("{:.1}", i.score),
                i.recipient.clone(),
                sender(&i.sender),
                i.subject.clone(),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "QUARANTINED",
            "KIND",
            "SCORE",
            "RECIPIENT",
            "SENDER",
            "SUBJECT",
        ],
        &rows,
    )
}

fn show(i: &QuarantineItem) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    fields(&[
        ("id", i.id.clone()),
        ("quarantined", time(i.quarantined)),
        ("kind", i.kind.as_str().into()),
        ("score", format!("{:.1}", i.score)),
        ("reasons", i.reasons.join(", ")),
        ("recipient", i.recipient.clone()),
        ("sender", sender(&i.sender)),
        ("subject", i.subject.clone()),
        ("date", opt(&i.date)),
        ("size", format!("{} bytes", i.size)),
        ("queue id", opt(&i.queue_id)),
        ("message id", opt(&i.message_id)),
        ("client ip", opt(&i.client_ip)),
    ])
}
