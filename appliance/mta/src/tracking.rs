//! Tracking events to the manager (`POST /tracking`), batched in the background.
//!
//! Sessions and delivery workers call [`Tracker::emit`], which never waits:
//! the event goes into a bounded channel, or is dropped with a warning when
//! even that is full. A background task moves events into a bounded backlog
//! and posts them in batches; while the manager is down the backlog is kept
//! and retried with backoff, the oldest events dropped (with a warning) when
//! it is full. Tracking is a log for people: losing events under overload is
//! acceptable, delaying mail is not.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use model::api::{EventKind, TrackingEvent};
use model::client::ApiClient;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Events waiting for the background task.
const TRACK_CHANNEL: usize = 4096;
/// Events kept while the manager is unreachable.
const TRACK_BACKLOG: usize = 10_000;
/// Events per `POST /tracking`.
const TRACK_BATCH: usize = 500;
/// First and longest pause between retries while the manager is down.
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// A cheap handle for emitting events.
#[derive(Clone, Debug)]
pub struct Tracker {
    tx: mpsc::Sender<TrackingEvent>,
    dropped: Arc<AtomicU64>,
}

/// A new event about `queue_id`; the caller fills in the optional fields.
pub fn event(
    kind: EventKind,
    queue_id: &str,
    sender: &str,
    recipients: &[String],
) -> TrackingEvent {
    TrackingEvent {
        proof: Default::default(),
        time: model::time::now_ms(),
        queue_id: queue_id.to_string(),
        message_id: None,
        kind,
        sender: sender.to_string(),
        recipients: recipients.to_vec(),
        detail: String::new(),
        remote: None,
        reply: None,
    }
}

impl Tracker {
    /// Starts the background task posting to `client`; it drains and stops
    /// when `stop` turns true.
    pub fn start(client: ApiClient, stop: watch::Receiver<bool>) -> (Tracker, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(TRACK_CHANNEL);
        let tracker = Tracker {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        };
        (tracker, tokio::spawn(run(rx, client, stop)))
    }

    /// Queues `event` for the manager without waiting.
    pub fn emit(&self, event: TrackingEvent) {
        if self.tx.try_send(event).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed);
            if n % 1000 == 0 {
                log::warn!("tracking channel full: {} event(s) dropped so far", n + 1);
            }
        }
    }
}

async fn run(
    mut rx: mpsc::Receiver<TrackingEvent>,
    client: ApiClient,
    mut stop: watch::Receiver<bool>,
) {
    let mut backlog = VecDeque::new();
    let mut failing = false;
    let mut delay = RETRY_MIN;
    loop {
        if backlog.is_empty() {
            tokio::select! {
                event = rx.recv() => match event {
                    Some(e) => push(&mut backlog, e),
                    None => break,
                },
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        while let Ok(e) = rx.try_recv() {
            push(&mut backlog, e);
        }
        match post_batch(&client, &mut backlog).await {
            Ok(()) => {
                if failing {
                    log::info!("tracking: manager reachable again");
                }
                failing = false;
                delay = RETRY_MIN;
            }
            Err(e) => {
                if !failing {
                    log::warn!(
                        "tracking: cannot post events, keeping {} for later: {e}",
                        backlog.len()
                    );
                }
                failing = true;
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                delay = (delay * 2).min(RETRY_MAX);
            }
        }
    }
    // Last chance: whatever is still waiting, while the manager answers.
    while let Ok(e) = rx.try_recv() {
        push(&mut backlog, e);
    }
    while !backlog.is_empty() {
        if let Err(e) = post_batch(&client, &mut backlog).await {
            log::warn!(
                "tracking: {} event(s) not delivered at shutdown: {e}",
                backlog.len()
            );
            return;
        }
    }
}

/// Appends `event`, dropping the oldest when the backlog is full (logged
/// when the backlog first overflows and then every 1000 drops).
fn push(backlog: &mut VecDeque<TrackingEvent>, event: TrackingEvent) {
    static DROPPED: AtomicU64 = AtomicU64::new(0);
    if backlog.len() >= TRACK_BACKLOG {
        backlog.pop_front();
        let n = DROPPED.fetch_add(1, Ordering::Relaxed);
        if n % 1000 == 0 {
            log::warn!(
                "tracking backlog full ({TRACK_BACKLOG}): dropped the oldest event ({} so far)",
                n + 1
            );
        }
    }
    backlog.push_back(event);
}

/// Posts the oldest batch and removes it from the backlog once the manager took it.
async fn post_batch(
    client: &ApiClient,
    backlog: &mut VecDeque<TrackingEvent>,
) -> Result<(), String> {
    let n = backlog.len().min(TRACK_BATCH);
    let batch: Vec<TrackingEvent> = backlog.iter().take(n).cloned().collect();
    let client = client.clone();
    match tokio::task::spawn_blocking(move || client.track(&batch)).await {
        Ok(Ok(())) => {
            backlog.drain(..n);
            Ok(())
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backlog_drops_the_oldest() {
        let mut b = VecDeque::new();
        for i in 0..TRACK_BACKLOG + 2 {
            push(&mut b, event(EventKind::Queued, &i.to_string(), "", &[]));
        }
        assert_eq!(b.len(), TRACK_BACKLOG);
        assert_eq!(b.front().unwrap().queue_id, "2");
    }
}
