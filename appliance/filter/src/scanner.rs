//! Runs the engine off the async threads, a bounded number at a time, on
//! threads whose stack fits the deepest message the engine accepts.

use std::sync::Arc;

use tokio::sync::{oneshot, Semaphore};

use crate::engine::{Engine, Verdict};

/// Stack of a scanning thread. mail-parser recurses once per nested message
/// (about 300 bytes a level in debug builds, less in release); with
/// [`crate::engine::MAX_MIME_HEADERS`] levels at most this leaves a wide
/// margin. It is reserved, not used: pages are committed as touched.
pub const SCAN_STACK_SIZE: usize = 64 * 1024 * 1024;

/// Why a scan produced no verdict.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// No thread could be started.
    #[error("cannot start a scanning thread: {0}")]
    Spawn(#[from] std::io::Error),
    /// The scanning thread ended without an answer (it panicked).
    #[error("the scanning thread died")]
    Died,
}

/// The engine plus a limit on concurrent scans (scanning is CPU-bound:
/// more scans than cores only adds memory).
#[derive(Clone)]
pub struct Scanner {
    engine: Arc<Engine>,
    slots: Arc<Semaphore>,
}

impl Scanner {
    /// Runs `engine`, at most one scan per available core.
    pub fn new(engine: Engine) -> Scanner {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Scanner {
            engine: Arc::new(engine),
            slots: Arc::new(Semaphore::new(cores)),
        }
    }

    /// The engine's spam threshold.
    pub fn threshold(&self) -> f64 {
        self.engine.threshold()
    }

    /// Scans `raw` and hands it back with the verdict.
    pub async fn scan(&self, raw: Vec<u8>) -> Result<(Vec<u8>, Verdict), ScanError> {
        self.scan_with(Arc::clone(&self.engine), raw).await
    }

    /// Scans `raw` with `engine` (one of [`crate::engine::Engines`]).
    pub async fn scan_with(
        &self,
        engine: Arc<Engine>,
        raw: Vec<u8>,
    ) -> Result<(Vec<u8>, Verdict), ScanError> {
        let _slot = self.slots.acquire().await.map_err(|_| ScanError::Died)?;
        let (tx, rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("filter-scan".into())
            .stack_size(SCAN_STACK_SIZE)
            .spawn(move || {
                let verdict = engine.scan(&raw);
                let _ = tx.send((raw, verdict));
            })?;
        rx.await.map_err(|_| ScanError::Died)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Class, MAX_MIME_HEADERS, TOO_COMPLEX};

    fn nested(depth: usize) -> Vec<u8> {
        let mut m = b"Content-Type: message/rfc822\r\n\r\n".repeat(depth);
        m.extend_from_slice(b"Content-Type: text/plain\r\n\r\n");
        m.extend_from_slice(crate::engine::eicar::EICAR);
        m
    }

    #[tokio::test]
    async fn the_deepest_accepted_nesting_fits_the_stack() {
        let scanner = Scanner::new(Engine::standard());
        let (_, v) = scanner.scan(nested(MAX_MIME_HEADERS - 1)).await.unwrap();
        assert_eq!(v.class, Class::Virus);
        assert!(!v.reasons.contains(&TOO_COMPLEX.to_string()), "{v:?}");
    }

    #[tokio::test]
    async fn deeper_nesting_is_held_back_unparsed() {
        let scanner = Scanner::new(Engine::standard());
        let (raw, v) = scanner.scan(nested(MAX_MIME_HEADERS + 5)).await.unwrap();
        assert_eq!(raw.len(), nested(MAX_MIME_HEADERS + 5).len());
        assert_eq!(v.class, Class::Virus, "raw search still finds EICAR: {v:?}");
        assert!(v.reasons.contains(&TOO_COMPLEX.to_string()), "{v:?}");
        let (_, v) = scanner
            .scan(b"content-type: x\r\n".repeat(MAX_MIME_HEADERS + 1))
            .await
            .unwrap();
        assert_eq!(
            (v.class, v.reasons[0].as_str()),
            (Class::Attachment, TOO_COMPLEX)
        );
    }
}
