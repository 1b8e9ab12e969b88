//! Installing a bundle into the inactive slot: verify, stream, verify,
//! switch.
//!
//! 1. Read the header (capped) and check the signature FIRST; then the
//!    board, the version (newer, unless forced) and that the root
//!    filesystem fits the slot.
//! 2. Stream the root filesystem into the slot through a bounded buffer
//!    while hashing it; refuse a stream that ends early (truncated) or goes
//!    on past the declared size (oversized); fsync.
//! 3. Compare the SHA-256 with the signed one; only then record the slot's
//!    version and switch GRUB's environment to the slot.
//!
//! A failure anywhere before the switch leaves the boot order unchanged.
//! The slot may hold a partial image then, which is harmless: nothing boots
//! it, and the next install overwrites it.

use std::io::{Read, Write};
use std::path::PathBuf;

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

use crate::bundle::{read_full, read_header, Metadata};
use crate::layout::Layout;
use crate::record::{Record, SlotRecord};
use crate::{bootpart, version, Slot, UpdateError};

/// Bytes moved at once from the bundle to the slot.
pub const CHUNK: usize = 1024 * 1024;

/// What runs now: a bundle must match its board and be newer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Running {
    /// The running firmware's version.
    pub version: String,
    /// This box's board name.
    pub board: String,
    /// The slot running now; never written.
    pub slot: Option<Slot>,
}

/// Where a bundle goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The inactive slot.
    pub slot: Slot,
    /// Its device (or a file standing in for it).
    pub device: PathBuf,
    /// Where the bundle comes from, for the record and the log.
    pub source: String,
}

/// How an install is going, for a progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress<'a> {
    /// The signature, board, version and size are right; writing starts.
    Verified(&'a Metadata),
    /// Bytes of the root filesystem written so far, of `total`.
    Written {
        /// Written so far.
        done: u64,
        /// In all.
        total: u64,
    },
}

/// A finished install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    /// The slot written; GRUB boots it next.
    pub slot: Slot,
    /// The bundle's (verified) metadata.
    pub metadata: Metadata,
}

/// Installs the bundle read from `source` into `target`, trusting `key`,
/// and switches the boot environment of `layout` to it (see the module
/// docs). `force` installs an older or equal version.
pub fn install(
    source: &mut dyn Read,
    target: &Target,
    layout: &Layout,
    key: &VerifyingKey,
    running: &Running,
    force: bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<Installed, UpdateError> {
    let header = read_header(source)?;
    let metadata = header.verify(key)?;
    check(&metadata, target, running, force)?;
    progress(Progress::Verified(&metadata));
    log::info!(
        "installing version {} from {} into slot {} ({})",
        metadata.version,
        target.source,
        target.slot,
        target.device.display()
    );
    let record = |entry| {
        Record::update(&layout.record, target.slot, entry).map_err(|source| UpdateError::Record {
            path: layout.record.clone(),
            source,
        })
    };
    record(None)?;
    let digest = stream(source, target, metadata.rootfs_size, progress)?;
    if digest != metadata.rootfs_sha256 {
        return Err(UpdateError::HashMismatch {
            expected: metadata.rootfs_sha256.clone(),
            actual: digest,
        });
    }
    record(Some(SlotRecord {
        version: metadata.version.clone(),
        installed: model::time::now_ms(),
        source: target.source.clone(),
    }))?;
    bootpart::modify_boot_state(layout, |s| s.switch_to(target.slot))?;
    log::info!(
        "version {} is in slot {} and boots next",
        metadata.version,
        target.slot
    );
    Ok(Installed {
        slot: target.slot,
        metadata,
    })
}

/// The checks between the signature and the first byte written.
fn check(
    metadata: &Metadata,
    target: &Target,
    running: &Running,
    force: bool,
) -> Result<(), UpdateError> {
    if metadata.board != running.board {
        return Err(UpdateError::WrongBoard {
            bundle: metadata.board.clone(),
            running: running.board.clone(),
        });
    }
    if !force && !version::is_newer(&metadata.version, &running.version) {
        return Err(UpdateError::OlderVersion {
            bundle: metadata.version.clone(),
            running: running.version.clone(),
        });
    }
    if running.slot == Some(target.slot) {
        return Err(UpdateError::ActiveSlot(target.slot));
    }
    let available =
        crate::blockdev::device_size(&target.device).map_err(|e| slot_error(target, e))?;
    if metadata.rootfs_size > available {
        return Err(UpdateError::SlotTooSmall {
            slot: target.slot,
            needed: metadata.rootfs_size,
            available,
        });
    }
    Ok(())
}

/// Copies exactly `total` bytes from `source` to the slot, hashing them;
/// refuses fewer or more; syncs. Returns the SHA-256 in hex.
fn stream(
    source: &mut dyn Read,
    target: &Target,
    total: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<String, UpdateError> {
    let mut slot = std::fs::OpenOptions::new()
        .write(true)
        .open(&target.device)
        .map_err(|e| slot_error(target, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    while done < total {
        let want = (total - done).min(CHUNK as u64) as usize;
        let got = read_full(source, &mut buf[..want]).map_err(crate::BundleError::Read)?;
        hasher.update(&buf[..got]);
        slot.write_all(&buf[..got])
            .map_err(|e| slot_error(target, e))?;
        done += got as u64;
        progress(Progress::Written { done, total });
        if got < want {
            return Err(UpdateError::Truncated {
                got: done,
                expected: total,
            });
        }
    }
    let mut extra = [0u8; 1];
    if read_full(source, &mut extra).map_err(crate::BundleError::Read)? > 0 {
        return Err(UpdateError::Oversized { expected: total });
    }
    slot.sync_all().map_err(|e| slot_error(target, e))?;
    Ok(crate::bundle::hex(&hasher.finalize()))
}

fn slot_error(target: &Target, source: std::io::Error) -> UpdateError {
    UpdateError::Slot {
        slot: target.slot,
        device: target.device.clone(),
        source,
    }
}
