//! At most `per_destination_concurrency` deliveries to one destination at
//! once, so a customer's server is never flooded with parallel connections
//! (and rate-limiting receivers do not start refusing us).
//!
//! A delivery never waits for a slot: it takes one if free
//! ([`DestinationLimits::try_acquire`]), or its recipients are put back for
//! a moment without counting an attempt, so messages piling up for one full
//! destination never take the workers other destinations need.

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

    /// A free slot of `destination`, or `None` when all are taken; the slot
    /// is free again when the permit is dropped.
    pub fn try_acquire(&self, destination: &str) -> Option<OwnedSemaphorePermit> {
        self.semaphore(destination).try_acquire_owned().ok()
    }

    fn semaphore(&self, destination: &str) -> Arc<Semaphore> {
        {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            if slots.len() > PRUNE_ABOVE {
                // Only the map holds an idle destination's semaphore.
                slots.retain(|_, s| Arc::strong_count(s) > 1);
            }
            slots
                .entry(destination.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.max)))
                .clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_gets_at_most_its_limit_others_are_free() {
        let limits = DestinationLimits::new(2);
        let a1 = limits.try_acquire("a.test").expect("first slot");
        let _a2 = limits.try_acquire("a.test").expect("second slot");
        assert!(limits.try_acquire("a.test").is_none(), "a.test is full");
        let _b = limits
            .try_acquire("b.test")
            .expect("b.test is not limited by a.test");
        drop(a1);
        let _reused = limits
            .try_acquire("a.test")
            .expect("a freed slot is reused");
    }

    #[test]
    fn idle_destinations_are_forgotten() {
        let limits = DestinationLimits::new(1);
        for n in 0..(PRUNE_ABOVE + 10) {
            drop(limits.try_acquire(&format!("d{n}.test")));
        }
        let held = limits.slots.lock().unwrap().len();
        assert!(held <= PRUNE_ABOVE + 1, "{held} destinations kept");
    }
}
