//! Where the updater finds everything: the kernel command line, sysfs, the
//! boot partition, the running firmware's release files, the trusted key
//! and its record on the data partition.
//!
//! On the box these are the real paths ([`Layout::on_box`]); under a
//! directory standing in for `/` ([`Layout::under`]) every one of them is a
//! plain file or directory, so the whole update path runs in tests and on a
//! workstation without partitions (the boot partition is then a directory,
//! never mounted).

use std::path::{Path, PathBuf};

use crate::Slot;

/// The GPT name of the boot partition (GRUB, its environment).
pub const BOOT_PARTNAME: &str = "boot";
/// The record of the slots' versions, in the data directory.
pub const RECORD_FILE: &str = "firmware.json";
/// The board name when `/etc/filterbox-board` is missing.
pub const DEFAULT_BOARD: &str = "filterbox-x86_64";
/// Kernel parameter naming the booted slot.
pub const SLOT_PARAM: &str = "filterbox.slot";
/// Longest release or board file read.
const MAX_RELEASE_FILE: usize = 4096;

/// Every path the updater uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// `/proc/cmdline`: which slot booted.
    pub cmdline: PathBuf,
    /// `/sys/class/block`: partitions by name.
    pub sys_class_block: PathBuf,
    /// `/sys/block`: whole disks, where USB sticks appear.
    pub sys_block: PathBuf,
    /// `/dev`.
    pub dev: PathBuf,
    /// Where the boot partition is mounted while used (`/run/boot`).
    pub boot_dir: PathBuf,
    /// Mount partitions (the boot partition, USB sticks) as needed; when
    /// false, `boot_dir` and the sticks' directories are plain directories.
    pub mount: bool,
    /// Where USB sticks are mounted, one directory per device (`/run/usb`).
    pub usb_dir: PathBuf,
    /// `/etc/filterbox-release`: the running firmware's version.
    pub release: PathBuf,
    /// `/etc/filterbox-board`: this box's board name.
    pub board: PathBuf,
    /// `/etc/filterbox/update.pub`: the key bundles must be signed with.
    pub public_key: PathBuf,
    /// `DATA/firmware.json`: what was installed into which slot.
    pub record: PathBuf,
}

impl Layout {
    /// The box's own paths, with the data partition at `data_dir`.
    pub fn on_box(data_dir: &Path) -> Layout {
        let mut layout = Layout::under(Path::new("/"), data_dir);
        layout.mount = true;
        layout
    }

    /// The same paths under `root` (standing in for `/`), nothing mounted.
    pub fn under(root: &Path, data_dir: &Path) -> Layout {
        let at = |p: &str| root.join(p);
        Layout {
            cmdline: at("proc/cmdline"),
            sys_class_block: at("sys/class/block"),
            sys_block: at("sys/block"),
            dev: at("dev"),
            boot_dir: at("run/boot"),
            mount: false,
            usb_dir: at("run/usb"),
            release: at("etc/filterbox-release"),
            board: at("etc/filterbox-board"),
            public_key: at("etc/filterbox/update.pub"),
            record: data_dir.join(RECORD_FILE),
        }
    }

    /// The slot named by `filterbox.slot=` on the kernel command line.
    pub fn booted_slot(&self) -> Option<Slot> {
        let text = std::fs::read_to_string(&self.cmdline).ok()?;
        booted_slot_in(&text)
    }

    /// The running firmware's version: the release file, else [`model::VERSION`].
    pub fn running_version(&self) -> String {
        first_line(&self.release).unwrap_or_else(|| model::VERSION.to_string())
    }

    /// This box's board name: the board file, else [`DEFAULT_BOARD`].
    pub fn board_name(&self) -> String {
        first_line(&self.board).unwrap_or_else(|| DEFAULT_BOARD.to_string())
    }

    /// The device of `slot`'s partition.
    pub fn slot_device(&self, slot: Slot) -> Option<PathBuf> {
        crate::blockdev::find_partition(&self.sys_class_block, &self.dev, slot.partname())
    }
}

/// The last `filterbox.slot=` value of a kernel command line (parameters
/// after `--` belong to init).
pub fn booted_slot_in(cmdline: &str) -> Option<Slot> {
    cmdline
        .split_whitespace()
        .take_while(|w| *w != "--")
        .filter_map(|w| w.strip_prefix(SLOT_PARAM)?.strip_prefix('='))
        .last()
        .and_then(Slot::parse)
}

fn first_line(path: &Path) -> Option<String> {
    let text = std::fs::read(path).ok()?;
    let text = String::from_utf8_lossy(&text[..text.len().min(MAX_RELEASE_FILE)]).into_owned();
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_booted_slot_comes_from_the_command_line() {
        assert_eq!(
            booted_slot_in("BOOT_IMAGE=/boot/vmlinuz filterbox.slot=B console=ttyS0\n"),
            Some(Slot::B)
        );
        assert_eq!(
            booted_slot_in("filterbox.slot=A filterbox.slot=B"),
            Some(Slot::B)
        );
        assert_eq!(booted_slot_in("quiet -- filterbox.slot=A"), None);
        assert_eq!(booted_slot_in("filterbox.slot=C"), None);
        assert_eq!(booted_slot_in("filterbox.slotx=A"), None);
    }

    #[test]
    fn release_files_or_the_defaults() {
        let root = tempfile::tempdir().unwrap();
        let layout = Layout::under(root.path(), &root.path().join("data"));
        assert_eq!(layout.running_version(), model::VERSION);
        assert_eq!(layout.board_name(), DEFAULT_BOARD);
        assert_eq!(layout.booted_slot(), None);
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(&layout.release, "0.3.0+gabc\n").unwrap();
        std::fs::write(&layout.board, "  test-board \n").unwrap();
        assert_eq!(layout.running_version(), "0.3.0+gabc");
        assert_eq!(layout.board_name(), "test-board");
        assert_eq!(
            Layout::on_box(Path::new("/data")).record,
            Path::new("/data/firmware.json")
        );
        assert!(Layout::on_box(Path::new("/data")).mount);
    }
}
