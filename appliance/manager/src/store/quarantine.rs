//! The quarantine: messages held back by the filter, one item per recipient.
//!
//! A message is stored once (`quarantine_msg`, keyed by a blob id) and
//! reference-counted (`quarantine_refs`), so a spam run to a hundred
//! recipients costs one copy; the items (`quarantine`, keyed by their
//! time-ordered ids) point at it.

use model::address::normalize_address;
use model::api::{EventKind, NewQuarantine, QuarantineItem, QuarantineKind, TrackingEvent};
use model::id::{is_valid_id, new_id};
use serde::{Deserialize, Serialize};
use sled::Transactional;

use super::{
    abort, decode, decode_u64, encode, tracking, tx_error, Store, StoreError, StoreResult,
};

/// An item as stored: what the API shows plus the key of its message.
#[derive(Serialize, Deserialize)]
struct Stored {
    item: QuarantineItem,
    blob: String,
}

/// Why an item leaves the quarantine; recorded as its tracking event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuarantineDelete {
    /// Deleted by a person or a retention job.
    Deleted,
    /// Handed back to the mta, which answered `reply`.
    Released {
        /// Where the message went.
        remote: String,
        /// The mta's final reply.
        reply: String,
    },
}

impl Store {
    /// Stores one item per recipient and the `quarantined` tracking event,
    /// then flushes: when this returns, the message is on disk.
    pub fn quarantine_create(&self, new: &NewQuarantine, now: u64) -> StoreResult<Vec<String>> {
        let recipients = validate(new)?;
        let blob = new_id();
        let ids: Vec<String> = recipients.iter().map(|_| new_id()).collect();
        let stored: Vec<(String, Vec<u8>)> = ids
            .iter()
            .zip(&recipients)
            .map(|(id, rcpt)| (id.clone(), encode(&stored_item(new, id, rcpt, &blob, now))))
            .collect();
        let event = quarantined_event(new, &ids, recipients, now);
        tracking::validate(0, &event)?;
        (
            &self.quarantine,
            &self.quarantine_msg,
            &self.quarantine_refs,
        )
            .transaction(|(items, messages, refs)| {
                messages.insert(blob.as_bytes(), new.message.0.as_slice())?;
                refs.insert(blob.as_bytes(), &(ids.len() as u64).to_be_bytes())?;
                for (id, value) in &stored {
                    items.insert(id.as_bytes(), value.as_slice())?;
                }
                Ok(())
            })
            .map_err(tx_error)?;
        self.record_events(&[event])?;
        self.flush()?;
        log::info!(
            "quarantined {} ({} bytes) for {} recipients as {}",
            new.kind.as_str(),
            new.message.0.len(),
            ids.len(),
            ids.join(",")
        );
        Ok(ids)
    }

    /// Items, newest first, optionally of one recipient and/or kind; at most `limit`.
    pub fn quarantine_list(
        &self,
        recipient: Option<&str>,
        kind: Option<QuarantineKind>,
        limit: usize,
    ) -> StoreResult<Vec<QuarantineItem>> {
        let recipient = recipient
            .map(normalize_address)
            .transpose()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut out = Vec::new();
        for v in self.quarantine.iter().values().rev() {
            let item = decode::<Stored>("quarantine", &v?)?.item;
            if recipient.as_ref().is_none_or(|r| *r == item.recipient)
                && kind.is_none_or(|k| k == item.kind)
            {
                out.push(item);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// One item.
    pub fn quarantine_item(&self, id: &str) -> StoreResult<QuarantineItem> {
        Ok(self.stored(id)?.item)
    }

    /// The raw message of an item.
    pub fn quarantine_message(&self, id: &str) -> StoreResult<Vec<u8>> {
        let stored = self.stored(id)?;
        match self.quarantine_msg.get(stored.blob.as_bytes())? {
            Some(v) => Ok(v.to_vec()),
            None => Err(StoreError::Corrupt {
                tree: "quarantine_msg",
                detail: format!("message of item {id} is missing"),
            }),
        }
    }

    /// Removes an item (and its message once no item refers to it), records
    /// why in the tracking log and flushes.
    pub fn quarantine_remove(
        &self,
        id: &str,
        why: QuarantineDelete,
    ) -> StoreResult<QuarantineItem> {
        if !is_valid_id(id) {
            return Err(no_such_item(id));
        }
        let item = (
            &self.quarantine,
            &self.quarantine_msg,
            &self.quarantine_refs,
        )
            .transaction(|(items, messages, refs)| {
                let Some(v) = items.remove(id.as_bytes())? else {
                    return abort(no_such_item(id));
                };
                let stored: Stored = decode("quarantine", &v).or_else(abort)?;
                let key = stored.blob.as_bytes();
                let count = match refs.get(key)? {
                    Some(c) => decode_u64("quarantine_refs", &c).or_else(abort)?,
                    None => 0,
                };
                if count <= 1 {
                    refs.remove(key)?;
                    messages.remove(key)?;
                } else {
                    refs.insert(key, &(count - 1).to_be_bytes())?;
                }
                Ok(stored.item)
            })
            .map_err(tx_error)?;
        self.record_events(&[removed_event(&item, &why)])?;
        self.flush()?;
        log::info!("quarantine item {id} removed: {why:?}");
        Ok(item)
    }

    fn stored(&self, id: &str) -> StoreResult<Stored> {
        if !is_valid_id(id) {
            return Err(no_such_item(id));
        }
        match self.quarantine.get(id.as_bytes())? {
            Some(v) => decode("quarantine", &v),
            None => Err(no_such_item(id)),
        }
    }
}

fn no_such_item(id: &str) -> StoreError {
    StoreError::NotFound(format!("no quarantine item {id:?}"))
}

/// Checks a new quarantine entry; returns its recipients in normal form.
fn validate(new: &NewQuarantine) -> StoreResult<Vec<String>> {
    let bad = |why: String| Err(StoreError::Invalid(why));
    if new.recipients.is_empty() {
        return bad("recipients is empty: name at least one recipient".into());
    }
    if new.message.0.is_empty() {
        return bad("message is empty".into());
    }
    if !new.score.is_finite() {
        return bad("score must be a finite number".into());
    }
    // The sender goes back into MAIL FROM on release: it must not be able to
    // break out of the angle brackets or the command line.
    let s = &new.sender;
    if s.len() > 320
        || s.chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
    {
        return bad(format!(
            "sender {s:?} is not a usable envelope sender (at most 320 characters, no spaces, controls or angle brackets)"
        ));
    }
    new.recipients
        .iter()
        .enumerate()
        .map(|(i, r)| {
            normalize_address(r)
                .map_err(|e| StoreError::Invalid(format!("recipient {}: {e}", i + 1)))
        })
        .collect()
}

fn stored_item(new: &NewQuarantine, id: &str, recipient: &str, blob: &str, now: u64) -> Stored {
    Stored {
        item: QuarantineItem {
            id: id.to_string(),
            recipient: recipient.to_string(),
            sender: new.sender.clone(),
            subject: new.subject.clone(),
            date: new.date.clone(),
            quarantined: now,
            kind: new.kind,
            outbound: new.outbound,
            score: new.score,
            reasons: new.reasons.clone(),
            size: new.message.0.len() as u64,
            queue_id: new.queue_id.clone(),
            message_id: new.message_id.clone(),
            client_ip: new.client_ip.clone(),
        },
        blob: blob.to_string(),
    }
}

fn quarantined_event(
    new: &NewQuarantine,
    ids: &[String],
    recipients: Vec<String>,
    now: u64,
) -> TrackingEvent {
    TrackingEvent {
        proof: Default::default(),
        time: now,
        queue_id: new
            .queue_id
            .clone()
            .filter(|q| !q.trim().is_empty())
            .unwrap_or_else(|| ids[0].clone()),
        message_id: new.message_id.clone(),
        kind: EventKind::Quarantined,
        sender: new.sender.clone(),
        recipients,
        detail: format!(
            "{} score {:.1} ({}); quarantine ids {}",
            new.kind.as_str(),
            new.score,
            new.reasons.join(", "),
            ids.join(" ")
        ),
        remote: new.client_ip.clone(),
        reply: None,
    }
}

fn removed_event(item: &QuarantineItem, why: &QuarantineDelete) -> TrackingEvent {
    let (kind, detail, remote, reply) = match why {
        QuarantineDelete::Deleted => (
            EventKind::Deleted,
            format!("deleted from the quarantine (id {})", item.id),
            None,
            None,
        ),
        QuarantineDelete::Released { remote, reply } => (
            EventKind::Released,
            format!("released from the quarantine (id {})", item.id),
            Some(remote.clone()),
            Some(reply.clone()),
        ),
    };
    TrackingEvent {
        proof: Default::default(),
        time: model::time::now_ms(),
        queue_id: item.queue_id.clone().unwrap_or_else(|| item.id.clone()),
        message_id: item.message_id.clone(),
        kind,
        sender: item.sender.clone(),
        recipients: vec![item.recipient.clone()],
        detail,
        remote,
        reply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_util::temp_store;
    use model::api::Base64Bytes;
    use model::client::TrackingQuery;

    pub(crate) fn new_quarantine(recipients: &[&str], message: &[u8]) -> NewQuarantine {
        NewQuarantine {
            queue_id: Some("Q1".into()),
            message_id: Some("m1@x.test".into()),
            sender: "s@x.test".into(),
            recipients: recipients.iter().map(|r| r.to_string()).collect(),
            subject: "hello".into(),
            date: None,
            client_ip: Some("127.0.0.1".into()),
            outbound: false,
            kind: QuarantineKind::Spam,
            score: 1000.0,
            reasons: vec!["GTUBE".into()],
            message: Base64Bytes(message.to_vec()),
        }
    }

    #[test]
    fn one_item_per_recipient_sharing_one_message() {
        let (_dir, store) = temp_store();
        let ids = store
            .quarantine_create(&new_quarantine(&["A@y.test", "b@y.test"], b"body"), 5)
            .unwrap();
        assert_eq!(ids.len(), 2);
        let list = store.quarantine_list(None, None, 10).unwrap();
        assert_eq!(
            list.iter().map(|i| &i.id).collect::<Vec<_>>(),
            [&ids[1], &ids[0]]
        );
        assert_eq!(list[1].recipient, "a@y.test");
        assert_eq!(
            store
                .quarantine_list(Some("B@y.test"), None, 10)
                .unwrap()
                .len(),
            1
        );
        assert!(store
            .quarantine_list(None, Some(QuarantineKind::Virus), 10)
            .unwrap()
            .is_empty());
        assert_eq!(store.quarantine_message(&ids[0]).unwrap(), b"body");
        assert_eq!(store.quarantine_msg.len(), 1);

        store
            .quarantine_remove(&ids[0], QuarantineDelete::Deleted)
            .unwrap();
        assert_eq!(
            store.quarantine_message(&ids[1]).unwrap(),
            b"body",
            "still shared"
        );
        assert!(matches!(
            store.quarantine_item(&ids[0]),
            Err(StoreError::NotFound(_))
        ));
        store
            .quarantine_remove(&ids[1], QuarantineDelete::Deleted)
            .unwrap();
        assert_eq!(
            (store.quarantine_msg.len(), store.quarantine_refs.len()),
            (0, 0)
        );

        let q = TrackingQuery {
            queue_id: Some("Q1".into()),
            ..Default::default()
        };
        let kinds: Vec<_> = store
            .tracking(&q, 10)
            .unwrap()
            .iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                EventKind::Quarantined,
                EventKind::Deleted,
                EventKind::Deleted
            ]
        );
    }

    #[test]
    fn bad_entries_change_nothing() {
        let (_dir, store) = temp_store();
        let mut cases = vec![
            (new_quarantine(&[], b"x"), "recipients is empty"),
            (new_quarantine(&["ok@y.test", "nope"], b"x"), "recipient 2"),
            (new_quarantine(&["a@y.test"], b""), "message is empty"),
        ];
        let mut evil = new_quarantine(&["a@y.test"], b"x");
        evil.sender = "a@b.test> RCPT TO:<c@d.test".into();
        cases.push((evil, "usable envelope sender"));
        for (new, want) in cases {
            let e = store.quarantine_create(&new, 1).unwrap_err();
            assert!(
                matches!(&e, StoreError::Invalid(m) if m.contains(want)),
                "{e}"
            );
        }
        assert_eq!(store.quarantine.len() + store.quarantine_msg.len(), 0);
        assert!(matches!(
            store.quarantine_item("../../etc"),
            Err(StoreError::NotFound(_))
        ));
    }
}
