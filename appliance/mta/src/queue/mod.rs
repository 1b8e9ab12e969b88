//! The durable queue in sled (`DIR/queue.db`).
//!
//! Two trees: `entries` holds each message's envelope and per-recipient
//! state ([`Entry`], JSON), `bodies` the message bytes, both keyed by queue
//! id. A new message is acknowledged only after both are written and sled
//! has fsynced them ([`Committer`], group commit). Later state changes are
//! not fsynced one by one: a crash may repeat a delivery, never lose one.

mod commit;
mod entry;
mod holds;
mod store;

pub use commit::Committer;
pub use entry::{Entry, RecipientState, Status};
pub use holds::Holds;
pub use store::{QueueError, Store};
