//! Learning on the box: the filter fetches what the manager was taught
//! (spam reported by users, ham released from the quarantine) every
//! `filter.policy_refresh_secs`, learns each message, and keeps the model
//! it learned in its data directory (`spam.model`, with the last event in
//! `learn.seq`), so a restart or an update keeps what the box learned.
//!
//! The model is saved before the sequence number: a crash between the two
//! only learns the same messages again, which changes nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use log::{info, warn};
use model::client::ApiClient;
use model::Endpoint;

use crate::engine::spam::SharedClassifier;

/// Events fetched per request.
const BATCH: usize = 50;

/// The learned model's file in the filter's data directory.
pub const MODEL_FILE: &str = "spam.model";

/// The last learned event's file in the filter's data directory.
pub const SEQ_FILE: &str = "learn.seq";

/// The model learned on this box, else the shipped one (a damaged file is
/// logged and set aside, never fatal).
pub fn load(data_dir: &Path) -> SharedClassifier {
    let path = data_dir.join(MODEL_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => match classifier::Model::from_bytes(&bytes) {
            Ok(m) => {
                info!(
                    "spam model: the one learned on this box ({})",
                    path.display()
                );
                return SharedClassifier::new(classifier::Classifier::new(m));
            }
            Err(e) => warn!("spam model {}: {e}; using the shipped one", path.display()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warn!("spam model {}: {e}; using the shipped one", path.display()),
    }
    SharedClassifier::shipped()
}

/// Fetches and learns what the manager was taught.
pub struct Learner {
    client: ApiClient,
    classifier: SharedClassifier,
    dir: PathBuf,
}

impl Learner {
    /// A learner asking `manager`, teaching `classifier`, saving in `dir`.
    pub fn new(manager: Endpoint, classifier: SharedClassifier, dir: &Path) -> Learner {
        Learner {
            client: ApiClient::new(manager).with_timeout(Duration::from_secs(10)),
            classifier,
            dir: dir.to_path_buf(),
        }
    }

    /// Polls every `every` until the task is dropped.
    pub async fn run(self, every: Duration) {
        let learner = std::sync::Arc::new(self);
        loop {
            let l = std::sync::Arc::clone(&learner);
            match tokio::task::spawn_blocking(move || l.poll()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => warn!("learning: {e}; trying again in {every:?}"),
                Err(e) => warn!("learning: {e}"),
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Learns every event not learned yet; returns how many.
    pub fn poll(&self) -> Result<usize, String> {
        let mut learned = 0;
        loop {
            let after = self.last_seq();
            let events = self
                .client
                .learn_after(after, BATCH)
                .map_err(|e| format!("fetching learn events from the manager: {e}"))?;
            let Some(last) = events.last().map(|e| e.seq) else {
                return Ok(learned);
            };
            for e in &events {
                let (before, now) = self.classifier.learn(&e.message.0, e.spam);
                info!(
                    "learned event {} as {}: score {before:.1} -> {now:.1}",
                    e.seq,
                    if e.spam { "spam" } else { "ham" }
                );
            }
            learned += events.len();
            self.save(last)?;
            if events.len() < BATCH {
                return Ok(learned);
            }
        }
    }

    fn last_seq(&self) -> u64 {
        std::fs::read_to_string(self.dir.join(SEQ_FILE))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    fn save(&self, seq: u64) -> Result<(), String> {
        write_atomic(&self.dir.join(MODEL_FILE), &self.classifier.model_bytes())?;
        write_atomic(&self.dir.join(SEQ_FILE), format!("{seq}\n").as_bytes())
    }
}

/// Writes `path` whole or not at all: a temporary file, fsynced, renamed.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok::<(), std::io::Error>(())
    })();
    result.map_err(|e| format!("saving {}: {e}", path.display()))
}
