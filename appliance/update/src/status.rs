//! The firmware status shown to people, built from what was read.

use model::control::{FirmwareStatus, InstallState, SlotStatus, UsbBundle};

use crate::bootstate::BootState;
use crate::record::Record;
use crate::Slot;

/// What the updater read about the boot slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BootInfo {
    /// The slot booted.
    pub slot: Slot,
    /// GRUB's boot variables.
    pub state: BootState,
    /// What was installed where.
    pub record: Record,
}

/// Everything [`status`] describes.
pub(crate) struct Facts<'a> {
    pub version: &'a str,
    pub board: &'a str,
    /// `None`: not booted from a slot; `Err`: the slots could not be read.
    pub boot: Option<&'a Result<BootInfo, String>>,
    pub install: Option<&'a InstallState>,
    pub usb: &'a [UsbBundle],
}

/// The status of the firmware.
pub(crate) fn status(f: &Facts<'_>) -> FirmwareStatus {
    let mut s = FirmwareStatus {
        version: f.version.to_string(),
        board: f.board.to_string(),
        install: f.install.cloned(),
        usb_bundles: f.usb.to_vec(),
        ..FirmwareStatus::default()
    };
    match f.boot {
        None => {}
        Some(Err(e)) => s.error = Some(e.clone()),
        Some(Ok(b)) => {
            s.boot_slot = Some(b.slot.to_string());
            s.slots = Slot::ALL
                .into_iter()
                .map(|slot| SlotStatus {
                    name: slot.to_string(),
                    version: slot_version(b, slot, f.version),
                    ok: b.state.ok(slot),
                    tries: b.state.tries(slot),
                    booted: slot == b.slot,
                })
                .collect();
            s.next_boot = b.state.next_boot().map(|n| n.to_string());
            s.fallback = fallback(b, f.version);
        }
    }
    s
}

fn slot_version(b: &BootInfo, slot: Slot, running: &str) -> Option<String> {
    if slot == b.slot {
        Some(running.to_string())
    } else {
        b.record.version(slot).map(str::to_string)
    }
}

/// The sentence saying this boot fell back from an abandoned update.
pub(crate) fn fallback(b: &BootInfo, running: &str) -> Option<String> {
    if !b.state.fell_back(b.slot) {
        return None;
    }
    let abandoned = b.state.order[0];
    let update = match b.record.version(abandoned) {
        Some(v) => format!("update to version {v}"),
        None => format!("the firmware in slot {abandoned}"),
    };
    Some(format!(
        "{update} failed to start; running {running} from slot {}",
        b.slot
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::SlotRecord;

    #[test]
    fn an_abandoned_update_is_named_with_its_version() {
        let mut record = Record::default();
        record.slots.insert(
            "B".into(),
            SlotRecord {
                version: "0.2.0".into(),
                installed: 0,
                source: "upload".into(),
            },
        );
        let mut state = BootState::default();
        state.switch_to(Slot::B);
        state.ok[1] = false;
        state.tries = [1, 3];
        let boot = Ok(BootInfo {
            slot: Slot::A,
            state,
            record,
        });
        let s = status(&Facts {
            version: "0.1.0",
            board: "b",
            boot: Some(&boot),
            install: None,
            usb: &[],
        });
        assert_eq!(
            s.fallback.as_deref(),
            Some("update to version 0.2.0 failed to start; running 0.1.0 from slot A")
        );
        assert_eq!(s.next_boot.as_deref(), Some("A"));
        assert_eq!(s.slots[0].version.as_deref(), Some("0.1.0"));
        assert!(s.slots[0].booted && !s.slots[1].booted);
        assert_eq!((s.slots[1].ok, s.slots[1].tries), (false, 3));
        assert_eq!(s.slots[1].version.as_deref(), Some("0.2.0"));
    }

    #[test]
    fn not_on_a_slot_or_unreadable() {
        let none = status(&Facts {
            version: "0.1.0",
            board: "b",
            boot: None,
            install: None,
            usb: &[],
        });
        assert!(none.slots.is_empty() && none.boot_slot.is_none() && none.error.is_none());
        let broken = Err("no partition named boot".to_string());
        let s = status(&Facts {
            version: "0.1.0",
            board: "b",
            boot: Some(&broken),
            install: None,
            usb: &[],
        });
        assert_eq!(s.error.as_deref(), Some("no partition named boot"));
    }
}
