//! `queue list|show|flush|delete|hold|release|holds`: the mta's queue,
//! through the manager's `/queue` routes.

use anyhow::Context;
use clap::Subcommand;
use model::client::ApiClient;
use model::queue::QueueItem;

use super::{time, Out};
use crate::table::{fields, table};

/// `queue …`
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Messages waiting for delivery, oldest first.
    List {
        /// Only those with a recipient in this domain.
        #[arg(long)]
        domain: Option<String>,
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// One message and its recipients' state.
    Show {
        /// The queue id, as listed.
        id: String,
    },
    /// Try now instead of at the next scheduled time: one message, one
    /// domain's, or all.
    Flush {
        /// Only this message.
        #[arg(long)]
        id: Option<String>,
        /// Only this domain's messages.
        #[arg(long)]
        domain: Option<String>,
    },
    /// Remove a message without telling its sender.
    Delete {
        /// The queue id, as listed.
        id: String,
    },
    /// Keep a domain's mail in the queue (e.g. while its server is down
    /// for maintenance); it is not bounced for age while held.
    Hold {
        /// The domain.
        domain: String,
    },
    /// Deliver a held domain's mail now and stop holding it.
    Release {
        /// The domain.
        domain: String,
    },
    /// The domains whose mail is held.
    Holds,
}

/// Runs one `queue` subcommand.
pub fn run(api: &ApiClient, cmd: QueueCommand, out: &mut Out<'_>) -> anyhow::Result<()> {
    match cmd {
        QueueCommand::List { domain, limit } => {
            let items = api
                .queue(domain.as_deref(), limit)
                .context("listing the queue")?;
            out.emit(&items, || list(&items))
        }
        QueueCommand::Show { id } => {
            let item = api
                .queue_item(&id)
                .with_context(|| format!("showing queued message {id}"))?;
            out.emit(&item, || show(&item))
        }
        QueueCommand::Flush { id, domain } => {
            let done = api
                .queue_flush(id.as_deref(), domain.as_deref())
                .context("flushing the queue")?;
            out.emit(&done, || format!("flushed {} message(s)\n", done.messages))
        }
        QueueCommand::Delete { id } => {
            api.queue_delete(&id)
                .with_context(|| format!("deleting queued message {id}"))?;
            out.done(&format!("deleted {id} from the queue"))
        }
        QueueCommand::Hold { domain } => {
            api.queue_hold(&domain)
                .with_context(|| format!("holding mail for {domain}"))?;
            out.done(&format!("mail for {domain} is held"))
        }
        QueueCommand::Release { domain } => {
            api.queue_release(&domain)
                .with_context(|| format!("releasing mail for {domain}"))?;
            out.done(&format!("mail for {domain} released"))
        }
        QueueCommand::Holds => {
            let domains = api.queue_holds().context("listing held domains")?;
            out.emit(&domains, || {
                domains.iter().map(|d| format!("{d}\n")).collect()
            })
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

fn list(items: &[QueueItem]) -> String {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            let rcpts: Vec<String> = i.recipients.iter().map(|r| r.address.clone()).collect();
            let held = i.recipients.iter().any(|r| r.held);
            vec![
                i.id.clone(),
                time(i.received),
                i.size.to_string(),
                sender(&i.sender),
                if held { "held".into() } else { "-".into() },
                rcpts.join(", "),
            ]
        })
        .collect();
    table(
        &["ID", "RECEIVED", "SIZE", "SENDER", "HELD", "RECIPIENTS"],
        &rows,
    )
}

fn show(i: &QueueItem) -> String {
    let mut pairs = vec![
        ("id", i.id.clone()),
        ("received", time(i.received)),
        ("sender", sender(&i.sender)),
        ("size", format!("{} bytes", i.size)),
        (
            "message id",
            i.message_id.clone().unwrap_or_else(|| "-".into()),
        ),
    ];
    for r in &i.recipients {
        let state = format!(
            "{} attempt(s), next {}{}{}",
            r.attempts,
            time(r.next_attempt),
            if r.held { ", held" } else { "" },
            r.last_error
                .as_deref()
                .map(|e| format!(", last: {e}"))
                .unwrap_or_default()
        );
        pairs.push(("recipient", format!("{}: {state}", r.address)));
    }
    fields(&pairs)
}
