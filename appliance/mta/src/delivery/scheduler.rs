//! When each queued message is due, and how many attempts run at once.
//!
//! One task owns the schedule (mini-redis / Stalwart queue manager): it
//! learns about new messages from a channel, sleeps until the earliest due
//! time, and starts at most `workers` attempts; each attempt reports back
//! when the message is due again. On shutdown it starts nothing new and
//! waits (up to [`STOP_GRACE`]) for the attempts in flight.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::{worker, DeliveryContext};

/// How long shutdown waits for attempts in flight; one still running then
/// is cancelled (its recipients are retried after the restart; one whose
/// message already went out may be delivered twice, never lost).
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// The schedule: due time (unix ms) and queue id, earliest first.
#[derive(Debug, Default)]
struct Schedule {
    due: BTreeSet<(u64, String)>,
    in_flight: HashSet<String>,
}

impl Schedule {
    fn add(&mut self, at: u64, id: String) {
        if !self.in_flight.contains(&id) {
            self.due.insert((at, id));
        }
    }

    /// The next message due at or before `now` that is not already being
    /// attempted (a message announced and also loaded at start is listed twice).
    fn take_due(&mut self, now: u64) -> Option<String> {
        loop {
            let first = self.due.first()?;
            if first.0 > now {
                return None;
            }
            let (_, id) = self.due.pop_first()?;
            if self.in_flight.insert(id.clone()) {
                return Some(id);
            }
        }
    }

    fn next_due(&self) -> Option<u64> {
        self.due.first().map(|(at, _)| *at)
    }
}

/// Runs the scheduler until `shutdown` turns true: loads the queue, then
/// delivers what is due and what `queued` announces.
pub async fn run(
    ctx: Arc<DeliveryContext>,
    workers: usize,
    mut queued: mpsc::UnboundedReceiver<String>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut schedule = Schedule::default();
    load_queue(&ctx, &mut schedule).await;
    let mut attempts = Attempts::default();
    loop {
        let now = model::time::now_ms();
        while attempts.set.len() < workers {
            let Some(id) = schedule.take_due(now) else {
                break;
            };
            attempts.start(&ctx, id);
        }
        let wake = schedule
            .next_due()
            .filter(|_| attempts.set.len() < workers)
            .map(|at| Duration::from_millis(at.saturating_sub(now)));
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            Some(id) = queued.recv() => schedule.add(model::time::now_ms(), id),
            Some(done) = attempts.set.join_next_with_id(), if !attempts.set.is_empty() => {
                let (id, next) = attempts.finished(done, &ctx);
                schedule.in_flight.remove(&id);
                if let Some(at) = next {
                    schedule.add(at, id);
                }
            }
            _ = tokio::time::sleep(wake.unwrap_or_default()), if wake.is_some() => {}
        }
    }
    let running = attempts.set.len();
    let drained = tokio::time::timeout(STOP_GRACE, async {
        while attempts.set.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        log::warn!("delivery: abandoning attempts still running at shutdown (of {running})");
        attempts.set.shutdown().await;
    }
}

/// The attempts running now; a finished task has dropped its share of the
/// queue, so shutdown can rely on the database being closed afterwards.
#[derive(Default)]
struct Attempts {
    set: JoinSet<Option<u64>>,
    ids: HashMap<tokio::task::Id, String>,
}

impl Attempts {
    fn start(&mut self, ctx: &Arc<DeliveryContext>, id: String) {
        let (ctx, key) = (ctx.clone(), id.clone());
        let handle = self
            .set
            .spawn(async move { worker::attempt(&ctx, &key).await });
        self.ids.insert(handle.id(), id);
    }

    /// The queue id of a finished attempt and when it is due again; an
    /// attempt that panicked is retried after the first retry delay.
    fn finished(
        &mut self,
        done: Result<(tokio::task::Id, Option<u64>), tokio::task::JoinError>,
        ctx: &DeliveryContext,
    ) -> (String, Option<u64>) {
        match done {
            Ok((task, next)) => (self.ids.remove(&task).unwrap_or_default(), next),
            Err(e) => {
                let id = self.ids.remove(&e.id()).unwrap_or_default();
                log::error!("{id}: delivery attempt failed: {e}");
                let retry = model::time::now_ms() + ctx.retry_initial.as_millis() as u64;
                (id, Some(retry))
            }
        }
    }
}

async fn load_queue(ctx: &DeliveryContext, schedule: &mut Schedule) {
    let store = ctx.store.clone();
    match tokio::task::spawn_blocking(move || store.load_all()).await {
        Ok(Ok(entries)) => {
            log::info!("queue: {} message(s) waiting for delivery", entries.len());
            for e in entries {
                schedule.add(e.next_attempt, e.id);
            }
        }
        Ok(Err(e)) => log::error!("queue: cannot load queued messages: {e}"),
        Err(e) => log::error!("queue: load task failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_order_and_in_flight_exclusion() {
        let mut s = Schedule::default();
        s.add(30, "c".into());
        s.add(10, "a".into());
        s.add(20, "b".into());
        assert_eq!(s.take_due(5), None);
        assert_eq!(s.take_due(25).as_deref(), Some("a"));
        assert_eq!(s.take_due(25).as_deref(), Some("b"));
        assert_eq!(s.take_due(25), None);
        s.add(0, "a".into());
        assert_eq!(
            s.next_due(),
            Some(30),
            "an in-flight message is not scheduled twice"
        );
        s.due.insert((1, "b".into()));
        assert_eq!(s.take_due(25), None, "nor started twice when listed twice");
    }
}
