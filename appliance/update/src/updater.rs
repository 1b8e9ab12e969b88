//! The updater as the supervisor runs it: one per box, shared between the
//! control requests, the USB watcher and the boot-time checks.
//!
//! It keeps what it read of the boot slots (only the supervisor writes
//! GRUB's environment while the box runs, so the copy stays exact and
//! status requests cost no I/O), the progress or outcome of the install,
//! and the bundles found on USB sticks. Its blocking methods (reading the
//! environment, marking good, installing) run on blocking threads.

use std::io::Read;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use model::control::{FirmwareStatus, InstallState, UsbBundle};

use crate::bundle::{read_header, Metadata};
use crate::install::{install, Installed, Progress, Running, Target};
use crate::layout::Layout;
use crate::record::Record;
use crate::status::{status, BootInfo, Facts};
use crate::{bootpart, keys, version, Slot, UpdateError};

/// The updater of one box.
#[derive(Debug)]
pub struct Updater {
    layout: Layout,
    version: String,
    board: String,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    boot: Option<Result<BootInfo, String>>,
    install: Option<InstallState>,
    installing: bool,
    usb: Vec<UsbBundle>,
}

impl Updater {
    /// The updater of the box laid out as `layout` (reads only the small
    /// release files; call [`Updater::refresh`] for the slots).
    pub fn new(layout: Layout) -> Updater {
        Updater {
            version: layout.running_version(),
            board: layout.board_name(),
            layout,
            state: Mutex::new(State::default()),
        }
    }

    /// Its paths.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The running firmware's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// What runs now.
    pub fn running(&self) -> Running {
        Running {
            version: self.version.clone(),
            board: self.board.clone(),
            slot: self.layout.booted_slot(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the boot slots again (blocking: may mount the boot
    /// partition). Returns the fallback notice when this boot fell back
    /// from an abandoned update.
    pub fn refresh(&self) -> Option<String> {
        let boot = self.read_boot();
        let notice = match &boot {
            Some(Ok(b)) => crate::status::fallback(b, &self.version),
            _ => None,
        };
        self.lock().boot = boot;
        notice
    }

    fn read_boot(&self) -> Option<Result<BootInfo, String>> {
        let slot = self.layout.booted_slot()?;
        let read = bootpart::read_boot_state(&self.layout).map(|state| BootInfo {
            slot,
            state,
            record: Record::load(&self.layout.record),
        });
        Some(read.map_err(|e| e.to_string()))
    }

    /// The firmware status (no I/O).
    pub fn status(&self) -> FirmwareStatus {
        let state = self.lock();
        status(&Facts {
            version: &self.version,
            board: &self.board,
            boot: state.boot.as_ref(),
            install: state.install.as_ref(),
            usb: &state.usb,
        })
    }

    /// Records that the running slot works (GRUB stops counting its
    /// tries). Blocking. Says what was done.
    pub fn mark_good(&self) -> Result<String, UpdateError> {
        let Some(slot) = self.layout.booted_slot() else {
            return Ok("no firmware slots on this system".into());
        };
        let state = bootpart::modify_boot_state(&self.layout, |s| s.mark_good(slot))?;
        if let Some(Ok(b)) = self.lock().boot.as_mut() {
            b.state = state;
        }
        Ok(format!("slot {slot} marked good"))
    }

    /// Replaces the bundles offered from USB sticks.
    pub fn set_usb_bundles(&self, bundles: Vec<UsbBundle>) {
        self.lock().usb = bundles;
    }

    /// Checks a bundle file without installing it: signature, board,
    /// version, size (for offering what is on a USB stick).
    pub fn check_file(&self, path: &Path) -> UsbBundle {
        let mut offer = UsbBundle {
            path: path.to_path_buf(),
            version: None,
            board: None,
            valid: false,
            message: String::new(),
        };
        match self.check_file_inner(path) {
            Ok((metadata, message)) => {
                offer.version = Some(metadata.version);
                offer.board = Some(metadata.board);
                offer.valid = message.is_none();
                offer.message = message.unwrap_or_else(|| {
                    let slot = self.layout.booted_slot().map(Slot::other);
                    match slot {
                        Some(s) => format!("signed and whole; installs into slot {s}"),
                        None => "signed and whole".into(),
                    }
                });
            }
            Err(e) => offer.message = e.to_string(),
        }
        offer
    }

    /// The metadata and, when it must not be installed as it is, why.
    fn check_file_inner(&self, path: &Path) -> Result<(Metadata, Option<String>), UpdateError> {
        let key = self.key()?;
        let mut f = std::fs::File::open(path).map_err(crate::BundleError::Read)?;
        let len = f.metadata().map_err(crate::BundleError::Read)?.len();
        let header = read_header(&mut f)?;
        let metadata = header.verify(&key)?;
        let whole = header.len() + metadata.rootfs_size;
        let problem = if metadata.board != self.board {
            Some(format!(
                "wrong board {} (this box is {})",
                metadata.board, self.board
            ))
        } else if len < whole {
            Some(format!("truncated at {len} of {whole} bytes"))
        } else if len > whole {
            Some(format!(
                "oversized: {len} bytes where the metadata declares {whole}"
            ))
        } else if !version::is_newer(&metadata.version, &self.version) {
            Some(format!(
                "older version {} <= running {} (use force to downgrade)",
                metadata.version, self.version
            ))
        } else {
            None
        };
        Ok((metadata, problem))
    }

    fn key(&self) -> Result<keys::VerifyingKey, UpdateError> {
        keys::read_verifying_key(&self.layout.public_key).map_err(|e| UpdateError::Key {
            path: self.layout.public_key.clone(),
            reason: e.to_string(),
        })
    }

    /// Claims the updater for one install from `source`; refused while
    /// another runs.
    pub fn begin(&self, source: &str) -> Result<InstallJob<'_>, UpdateError> {
        let mut state = self.lock();
        if state.installing {
            return Err(UpdateError::Busy);
        }
        state.installing = true;
        state.install = Some(InstallState::Installing {
            source: source.to_string(),
            version: None,
            slot: None,
            done: 0,
            total: 0,
        });
        Ok(InstallJob {
            updater: self,
            source: source.to_string(),
        })
    }
}

/// One install, claimed with [`Updater::begin`]. Blocking.
#[derive(Debug)]
pub struct InstallJob<'a> {
    updater: &'a Updater,
    source: String,
}

impl InstallJob<'_> {
    /// Installs the bundle read from `bundle` into the inactive slot;
    /// `verified` is told once its signature, board, version and size are
    /// right (before the first byte is written). The outcome is kept for
    /// the status.
    pub fn run(
        self,
        bundle: &mut dyn Read,
        force: bool,
        verified: impl FnOnce(&Metadata, Slot),
    ) -> Result<Installed, UpdateError> {
        let result = self.install(bundle, force, verified);
        let outcome = match &result {
            Ok(i) => InstallState::Installed {
                source: self.source.clone(),
                version: i.metadata.version.clone(),
                slot: i.slot.to_string(),
                message: format!("installed {} into slot {}", i.metadata.version, i.slot),
            },
            Err(e) => {
                log::warn!("firmware install from {} refused: {e}", self.source);
                InstallState::Failed {
                    source: self.source.clone(),
                    message: e.to_string(),
                }
            }
        };
        self.updater.lock().install = Some(outcome);
        if result.is_ok() {
            self.updater.refresh();
        }
        result
    }

    fn install(
        &self,
        bundle: &mut dyn Read,
        force: bool,
        verified: impl FnOnce(&Metadata, Slot),
    ) -> Result<Installed, UpdateError> {
        let u = self.updater;
        let running = u.running();
        let slot = running.slot.ok_or(UpdateError::NotOnSlot)?.other();
        let device = u
            .layout
            .slot_device(slot)
            .ok_or_else(|| UpdateError::NoDevice(slot.partname().to_string()))?;
        let key = u.key()?;
        let target = Target {
            slot,
            device,
            source: self.source.clone(),
        };
        let mut verified = Some(verified);
        let mut progress = |p: Progress| match p {
            Progress::Verified(m) => {
                u.set_progress(&self.source, Some(&m.version), slot, 0, m.rootfs_size);
                if let Some(tell) = verified.take() {
                    tell(m, slot);
                }
            }
            Progress::Written { done, total } => {
                u.set_progress(&self.source, None, slot, done, total)
            }
        };
        install(
            bundle,
            &target,
            &u.layout,
            &key,
            &running,
            force,
            &mut progress,
        )
    }
}

impl Drop for InstallJob<'_> {
    fn drop(&mut self) {
        self.updater.lock().installing = false;
    }
}

impl Updater {
    fn set_progress(&self, source: &str, version: Option<&str>, slot: Slot, done: u64, total: u64) {
        let mut state = self.lock();
        let known = match &state.install {
            Some(InstallState::Installing { version, .. }) => version.clone(),
            _ => None,
        };
        state.install = Some(InstallState::Installing {
            source: source.to_string(),
            version: version.map(str::to_string).or(known),
            slot: Some(slot.to_string()),
            done,
            total,
        });
    }
}
