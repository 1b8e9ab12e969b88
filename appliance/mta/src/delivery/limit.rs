//! At most `per_destination_concurrency` deliveries to one destination at
//! once, so a customer's server is never flooded with parallel connections
//! (and rate-limiting receivers do not start refusing us).
//!
//! A delivery waiting for a slot keeps its worker: with many messages due
//! for one full destination, other destinations wait for a free worker
//! (`delivery_workers` should stay above `per_destination_concurrency`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Destinations tracked before idle ones are forgotten.
const PRUNE_ABOVE: usize = 256;

/// One semaphore per destination, created on demand.
#[derive(Debug)]
pub struct DestinationLimits {
    max: usize,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl DestinationLimits {
    /// `max` concurrent deliveries per destination; 0 means no limit.
    pub fn new(max: usize) -> DestinationLimits {
        let max = if max == 0 {
            Semaphore::MAX_PERMITS
        } else {
            max
        };
        DestinationLimits {
            max,
            slots: Mutex::default(),
        }
    }

    /// Waits for a free slot of `destination`; the slot is free again when
    /// the permit is dropped.
    pub async fn acquire(&self, destination: &str) -> OwnedSemaphorePermit {
        let semaphore = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            if slots.len() > PRUNE_ABOVE {
                // Only the map holds an idle destination's semaphore.
                slots.retain(|_, s| Arc::strong_count(s) > 1);
            }
            slots
                .entry(destination.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.max)))
                .clone()
        };
        semaphore
            .acquire_owned()
            .await
            .expect("destination semaphores are never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_destination_gets_at_most_its_limit_others_are_free() {
        let limits = DestinationLimits::new(2);
        let a1 = limits.acquire("a.test").await;
        let _a2 = limits.acquire("a.test").await;
        let third = tokio::time::timeout(Duration::from_millis(50), limits.acquire("a.test"));
        assert!(third.await.is_err(), "a third delivery to a.test waits");
        let _b = tokio::time::timeout(Duration::from_millis(50), limits.acquire("b.test"))
            .await
            .expect("b.test is not limited by a.test");
        drop(a1);
        let _reused = tokio::time::timeout(Duration::from_millis(50), limits.acquire("a.test"))
            .await
            .expect("a freed slot is reused");
    }

    #[tokio::test]
    async fn idle_destinations_are_forgotten() {
        let limits = DestinationLimits::new(1);
        for n in 0..(PRUNE_ABOVE + 10) {
            drop(limits.acquire(&format!("d{n}.test")).await);
        }
        let held = limits.slots.lock().unwrap().len();
        assert!(held <= PRUNE_ABOVE + 1, "{held} destinations kept");
    }
}
