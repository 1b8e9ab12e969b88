//! What was installed into which slot, kept on the data partition
//! (`firmware.json`), so the status can name the version in the other slot
//! and the one an abandoned update carried.
//!
//! A slot's entry is removed before the slot is written and added once the
//! new contents are verified, so the record never names contents a slot
//! does not hold. Written atomically (temporary file, fsync, rename).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Slot;

/// Largest record file read.
const MAX_RECORD: u64 = 64 * 1024;

/// One slot's contents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRecord {
    /// The firmware version installed there.
    pub version: String,
    /// When, unix milliseconds.
    pub installed: u64,
    /// Where the bundle came from.
    pub source: String,
}

/// The record: slot name to contents.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Known slots.
    pub slots: BTreeMap<String, SlotRecord>,
}

impl Record {
    /// Reads the record; missing or unreadable means nothing is known.
    pub fn load(path: &Path) -> Record {
        use std::io::Read;
        let mut text = Vec::new();
        let read =
            std::fs::File::open(path).and_then(|f| f.take(MAX_RECORD).read_to_end(&mut text));
        match read {
            Ok(_) => serde_json::from_slice(&text).unwrap_or_else(|e| {
                log::warn!("ignoring {}: {e}", path.display());
                Record::default()
            }),
            Err(_) => Record::default(),
        }
    }

    /// The version recorded for `slot`.
    pub fn version(&self, slot: Slot) -> Option<&str> {
        self.slots.get(slot.as_str()).map(|r| r.version.as_str())
    }

    /// Sets (or with `None` removes) `slot`'s entry and saves the record.
    pub fn update(path: &Path, slot: Slot, entry: Option<SlotRecord>) -> std::io::Result<()> {
        let mut record = Record::load(path);
        let before = record.clone();
        match entry {
            Some(e) => record.slots.insert(slot.as_str().to_string(), e),
            None => record.slots.remove(slot.as_str()),
        };
        if record == before && path.exists() {
            return Ok(());
        }
        let text = serde_json::to_vec_pretty(&record).map_err(std::io::Error::other)?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_added_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("firmware.json");
        assert_eq!(Record::load(&path), Record::default());
        let entry = SlotRecord {
            version: "0.2.0".into(),
            installed: 1,
            source: "upload".into(),
        };
        Record::update(&path, Slot::B, Some(entry.clone())).unwrap();
        assert_eq!(Record::load(&path).version(Slot::B), Some("0.2.0"));
        assert_eq!(Record::load(&path).version(Slot::A), None);
        Record::update(&path, Slot::B, None).unwrap();
        assert_eq!(Record::load(&path).version(Slot::B), None);
        std::fs::write(&path, b"{garbage").unwrap();
        assert_eq!(Record::load(&path), Record::default());
    }
}
