//! What users and the quarantine teach the filter: messages reported as
//! spam and messages released as ham, kept in order under an increasing
//! sequence number until the filter has fetched them (`GET /learn?after=`).
//! Only the newest [`MAX_EVENTS`] are kept: a filter that was away longer
//! misses the oldest, which is better than a database that grows forever.

use model::api::Base64Bytes;
use model::policy::LearnEvent;

use super::{decode, decode_u64, encode, Store, StoreError, StoreResult};

/// Events kept.
pub const MAX_EVENTS: usize = 2_000;

/// Largest message taught, in bytes (the features come from its start).
pub const MAX_LEARN_MESSAGE: usize = 1024 * 1024;

impl Store {
    /// Records that `message` is spam or ham; returns the event, durably
    /// stored.
    pub fn learn_add(&self, spam: bool, message: &[u8]) -> StoreResult<LearnEvent> {
        if message.is_empty() {
            return Err(StoreError::Invalid("the message to learn is empty".into()));
        }
        let message = &message[..message.len().min(MAX_LEARN_MESSAGE)];
        let _guard = self.lock_learn();
        let seq = match self.learn.last()? {
            Some((k, _)) => decode_u64("learn", &k)? + 1,
            None => 1,
        };
        let event = LearnEvent {
            seq,
            spam,
            message: Base64Bytes(message.to_vec()),
        };
        self.learn.insert(seq.to_be_bytes(), encode(&event))?;
        while self.learn.len() > MAX_EVENTS {
            self.learn.pop_min()?;
        }
        self.flush()?;
        Ok(event)
    }

    /// Events after `after`, oldest first, at most `limit`.
    pub fn learn_after(&self, after: u64, limit: usize) -> StoreResult<Vec<LearnEvent>> {
        let from = after.saturating_add(1).to_be_bytes();
        self.learn
            .range(from..)
            .take(limit)
            .map(|r| decode("learn", &r?.1))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::store::test_util::temp_store;

    #[test]
    fn events_come_back_in_order_after_a_sequence_number() {
        let (_dir, s) = temp_store();
        assert!(s.learn_add(true, b"").is_err());
        let a = s.learn_add(true, b"spam message").unwrap();
        let b = s.learn_add(false, b"ham message").unwrap();
        assert_eq!((a.seq, b.seq), (1, 2));
        let all = s.learn_after(0, 10).unwrap();
        assert_eq!(all, vec![a.clone(), b.clone()]);
        assert_eq!(s.learn_after(1, 10).unwrap(), vec![b]);
        assert!(s.learn_after(2, 10).unwrap().is_empty());
        assert_eq!(s.learn_after(0, 1).unwrap(), vec![a]);
    }

    #[test]
    fn only_the_newest_are_kept() {
        let (_dir, s) = temp_store();
        for _ in 0..super::MAX_EVENTS + 3 {
            s.learn_add(false, b"m").unwrap();
        }
        let all = s.learn_after(0, usize::MAX).unwrap();
        assert_eq!(all.len(), super::MAX_EVENTS);
        assert_eq!(all[0].seq, 4);
    }
}
