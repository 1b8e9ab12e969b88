//! Group commit: one task writes every waiting message, fsyncs once, and
//! then acknowledges them all.
//!
//! Sessions hand a message and a oneshot to [`Committer::commit`] through a
//! bounded channel and wait; the committer takes everything that queued up
//! while the previous fsync ran, so concurrent sessions share one flush
//! (ARCHITECTURE.md "Mail path" 3). A message is acknowledged only after the
//! flush that covers it succeeded.

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Entry, QueueError, Store};

/// Messages waiting for the committer; senders wait when it is full.
const COMMIT_CHANNEL: usize = 1024;

/// Most messages written under one fsync.
const MAX_BATCH: usize = 256;

type Ack = oneshot::Sender<Result<(), QueueError>>;

struct Pending {
    entry: Entry,
    body: Vec<u8>,
    ack: Ack,
}

/// A handle for queueing new messages durably; cheap to clone. The
/// committer task ends when every handle is dropped.
#[derive(Clone, Debug)]
pub struct Committer {
    tx: mpsc::Sender<Pending>,
}

impl Committer {
    /// Starts the committer task over `store`.
    pub fn start(store: Store) -> (Committer, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(COMMIT_CHANNEL);
        (Committer { tx }, tokio::spawn(run(store, rx)))
    }

    /// Writes `entry` and `body` and returns once they are fsynced.
    pub async fn commit(&self, entry: Entry, body: Vec<u8>) -> Result<(), QueueError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Pending { entry, body, ack })
            .await
            .map_err(|_| QueueError::Closed)?;
        done.await.map_err(|_| QueueError::Closed)?
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pending({})", self.entry.id)
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let store = store.clone();
        let written = tokio::task::spawn_blocking(move || write_batch(&store, batch)).await;
        match written {
            Ok(acks) => {
                for (ack, result) in acks {
                    // A session that went away no longer waits; its message is queued anyway.
                    let _ = ack.send(result);
                }
            }
            Err(e) => log::error!("queue committer: write task failed: {e}"),
        }
    }
}

/// Inserts every message, flushes once, and pairs each ack with its result.
fn write_batch(store: &Store, batch: Vec<Pending>) -> Vec<(Ack, Result<(), QueueError>)> {
    let mut results: Vec<(Ack, Result<(), QueueError>)> = batch
        .into_iter()
        .map(|p| {
            let r = store.insert(&p.entry, &p.body);
            (p.ack, r)
        })
        .collect();
    if let Err(e) = store.flush() {
        log::error!("queue flush failed: {e}");
        for (_, r) in results.iter_mut().filter(|(_, r)| r.is_ok()) {
            *r = Err(QueueError::Flush(e.to_string()));
        }
    }
    log::debug!("queue: group commit of {} message(s)", results.len());
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_commits_all_succeed_and_are_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        let store = Store::open(&path, None).unwrap();
        let (committer, task) = Committer::start(store.clone());
        let mut waits = Vec::new();
        for i in 0..50 {
            let c = committer.clone();
            waits.push(tokio::spawn(async move {
                let e = Entry::new(
                    format!("id{i:03}"),
                    "s@x.test".into(),
                    &["r@x.test".into()],
                    1,
                );
                c.commit(e, format!("message {i}").into_bytes()).await
            }));
        }
        for w in waits {
            w.await.unwrap().unwrap();
        }
        // The files as a crash would leave them now: sled flushes only when
        // told to (no background flush here), so this checks our fsync.
        let copy = dir.path().join("copy");
        std::fs::create_dir(&copy).unwrap();
        for f in std::fs::read_dir(&path).unwrap().flatten() {
            if f.file_type().unwrap().is_file() {
                std::fs::copy(f.path(), copy.join(f.file_name())).unwrap();
            }
        }
        assert_eq!(
            Store::open(&copy, None).unwrap().load_all().unwrap().len(),
            50
        );
        drop(committer);
        task.await.unwrap();
        assert_eq!(store.load_all().unwrap().len(), 50);
    }
}
