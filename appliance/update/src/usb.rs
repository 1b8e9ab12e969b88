//! USB sticks with update bundles: noticed when their disk appears in
//! `/sys/block` (`sd*`), mounted read-only at `/run/usb/<disk>` (the first
//! partition, else the whole disk, as vfat), their `*.fbu` files in the
//! root directory checked (signature, board, version, size) and offered,
//! and unmounted when the disk goes away.
//!
//! [`Sticks`] is the sans-I/O part: which disks came and went between two
//! scans. [`UsbWatcher::tick`] does one poll (blocking); the supervisor
//! calls it every couple of seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use nix::mount::{umount2, MntFlags, MsFlags};

use crate::layout::Layout;
use crate::Updater;

/// Most bundle files offered from one stick.
pub const MAX_BUNDLES: usize = 32;
/// Most directory entries looked at on one stick.
const MAX_ENTRIES: usize = 4096;
/// Polls a new disk is given to become mountable (its partitions appear
/// a moment after the disk).
const MOUNT_ATTEMPTS: u32 = 5;

/// The disks seen at the last scan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sticks {
    known: BTreeSet<String>,
}

impl Sticks {
    /// Takes the disks present now; returns those that appeared and those
    /// that went away since the last call.
    pub fn update(&mut self, present: BTreeSet<String>) -> (Vec<String>, Vec<String>) {
        let added = present.difference(&self.known).cloned().collect();
        let removed = self.known.difference(&present).cloned().collect();
        self.known = present;
        (added, removed)
    }
}

/// The USB-style disks (`sd*`) listed in `sys_block`.
pub fn scan(sys_block: &Path) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(sys_block) else {
        return BTreeSet::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_disk_name(n))
        .collect()
}

/// `sda`, `sdb`, … `sdaa`: a SCSI-style disk (USB sticks are), not a partition.
fn is_disk_name(name: &str) -> bool {
    name.strip_prefix("sd")
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_lowercase()))
}

/// The devices to try mounting for `disk`: its first partition (lowest
/// number), then the whole disk.
pub fn candidates(layout: &Layout, disk: &str) -> Vec<PathBuf> {
    let mut parts: Vec<(u32, String)> = std::fs::read_dir(layout.sys_block.join(disk))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter_map(|n| Some((n.strip_prefix(disk)?.parse().ok()?, n.clone())))
                .collect()
        })
        .unwrap_or_default();
    parts.sort();
    parts
        .into_iter()
        .take(1)
        .map(|(_, n)| layout.dev.join(n))
        .chain(std::iter::once(layout.dev.join(disk)))
        .collect()
}

/// The `*.fbu` files in the root directory of `dir`, sorted.
pub fn list_bundles(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .take(MAX_ENTRIES)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("fbu")))
        .collect();
    found.sort();
    found.truncate(MAX_BUNDLES);
    found
}

/// Mounts `disk` read-only at `usb_dir/disk` (with a layout that does not
/// mount, that directory is used as it is).
fn mount_stick(layout: &Layout, disk: &str) -> Result<PathBuf, String> {
    let dir = layout.usb_dir.join(disk);
    if !layout.mount {
        return if dir.is_dir() {
            Ok(dir)
        } else {
            Err(format!("{} does not exist", dir.display()))
        };
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let mut errors = Vec::new();
    for device in candidates(layout, disk) {
        match crate::bootpart::mount_vfat(&device, &dir, flags) {
            Ok(()) => return Ok(dir),
            Err(e) => errors.push(format!("{}: {e}", device.display())),
        }
    }
    let _ = std::fs::remove_dir(&dir);
    Err(format!("no vfat filesystem ({})", errors.join("; ")))
}

fn unmount_stick(layout: &Layout, dir: &Path) {
    if !layout.mount {
        return;
    }
    // The device is gone: detach whatever still refers to it.
    if let Err(e) = umount2(dir, MntFlags::MNT_DETACH) {
        log::warn!("cannot unmount {}: {e}", dir.display());
    }
    let _ = std::fs::remove_dir(dir);
}

/// Watches for USB sticks and keeps the updater's offers current.
#[derive(Debug, Default)]
pub struct UsbWatcher {
    sticks: Sticks,
    /// Mounted sticks and their bundles' paths.
    mounted: BTreeMap<String, PathBuf>,
    /// Disks not mountable yet, with the attempts made.
    pending: BTreeMap<String, u32>,
}

impl UsbWatcher {
    /// One poll: mounts new sticks, forgets removed ones, and updates the
    /// bundles `updater` offers when anything changed. Blocking.
    pub fn tick(&mut self, updater: &Updater) {
        let layout = updater.layout();
        let (added, removed) = self.sticks.update(scan(&layout.sys_block));
        let mut changed = false;
        for disk in removed {
            self.pending.remove(&disk);
            if let Some(dir) = self.mounted.remove(&disk) {
                log::info!("USB disk {disk} removed");
                unmount_stick(layout, &dir);
                changed = true;
            }
        }
        for disk in added {
            self.pending.insert(disk, 0);
        }
        let waiting: Vec<String> = self.pending.keys().cloned().collect();
        for disk in waiting {
            match mount_stick(layout, &disk) {
                Ok(dir) => {
                    log::info!("USB disk {disk} mounted read-only on {}", dir.display());
                    self.pending.remove(&disk);
                    self.mounted.insert(disk, dir);
                    changed = true;
                }
                Err(e) => {
                    let tries = self.pending.entry(disk.clone()).or_default();
                    *tries += 1;
                    if *tries >= MOUNT_ATTEMPTS {
                        log::warn!("USB disk {disk} ignored: {e}");
                        self.pending.remove(&disk);
                    }
                }
            }
        }
        if changed {
            let offers: Vec<_> = self
                .mounted
                .values()
                .flat_map(|dir| list_bundles(dir))
                .map(|path| updater.check_file(&path))
                .collect();
            for o in &offers {
                log::info!("USB bundle {}: {}", o.path.display(), o.message);
            }
            updater.set_usb_bundles(offers);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sticks_come_and_go() {
        let mut s = Sticks::default();
        let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
        assert_eq!(s.update(set(&["sda"])), (vec!["sda".into()], vec![]));
        assert_eq!(s.update(set(&["sda", "sdb"])), (vec!["sdb".into()], vec![]));
        assert_eq!(s.update(set(&["sdb"])), (vec![], vec!["sda".into()]));
        assert_eq!(s.update(set(&["sdb"])), (vec![], vec![]));
    }

    #[test]
    fn disks_partitions_and_bundles_are_found() {
        let root = tempfile::tempdir().unwrap();
        let layout = Layout::under(root.path(), root.path());
        for d in [
            "sys/block/sdb/sdb2",
            "sys/block/sdb/sdb1",
            "sys/block/sdb/queue",
            "sys/block/vda",
            "sys/block/sdc",
        ] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        let disks: Vec<String> = scan(&layout.sys_block).into_iter().collect();
        assert_eq!(disks, vec!["sdb", "sdc"]);
        assert!(!is_disk_name("sd") && !is_disk_name("sdb1") && !is_disk_name("vda"));
        assert_eq!(
            candidates(&layout, "sdb"),
            vec![root.path().join("dev/sdb1"), root.path().join("dev/sdb")]
        );
        assert_eq!(
            candidates(&layout, "sdc"),
            vec![root.path().join("dev/sdc")]
        );
        let stick = root.path().join("stick");
        std::fs::create_dir_all(stick.join("sub.fbu")).unwrap();
        for f in ["b.FBU", "a.fbu", "notes.txt", "sub.fbu/inner.fbu"] {
            std::fs::write(stick.join(f), b"x").unwrap();
        }
        assert_eq!(
            list_bundles(&stick),
            vec![stick.join("a.fbu"), stick.join("b.FBU")]
        );
    }
}
