//! The boot partition (vfat, GPT name `boot`), mounted at the layout's
//! `boot_dir` only while its GRUB environment is read or written, so a
//! power cut finds it unmounted and clean nearly always.
//!
//! One process-wide lock serialises every use: the supervisor is the only
//! writer of the environment while the box runs.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;

use nix::mount::{mount, umount, MsFlags};

use crate::bootstate::BootState;
use crate::envfile::{EnvFiles, Source};
use crate::layout::{Layout, BOOT_PARTNAME};
use crate::EnvError;

/// Held while the boot partition is in use.
static BOOT_LOCK: Mutex<()> = Mutex::new(());

/// Runs `f` with the boot partition's directory: mounted (read-write when
/// `write`, else read-only) for the call when the layout mounts, and
/// unmounted after, unless it was mounted before.
pub fn with_boot_dir<T>(
    layout: &Layout,
    write: bool,
    f: impl FnOnce(&Path) -> Result<T, EnvError>,
) -> Result<T, EnvError> {
    let _guard = BOOT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let dir = &layout.boot_dir;
    if !layout.mount || is_mount_point(dir) {
        return f(dir);
    }
    let device =
        crate::blockdev::find_partition(&layout.sys_class_block, &layout.dev, BOOT_PARTNAME)
            .ok_or_else(|| EnvError::Mount(format!("no partition named {BOOT_PARTNAME}")))?;
    std::fs::create_dir_all(dir)
        .map_err(|e| EnvError::Mount(format!("cannot create {}: {e}", dir.display())))?;
    let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if !write {
        flags |= MsFlags::MS_RDONLY;
    }
    mount_vfat(&device, dir, flags).map_err(|e| {
        EnvError::Mount(format!(
            "cannot mount {} on {}: {e}",
            device.display(),
            dir.display()
        ))
    })?;
    let result = f(dir);
    if let Err(e) = umount(dir) {
        log::error!("cannot unmount the boot partition {}: {e}", dir.display());
    }
    result
}

/// Character sets tried when mounting FAT: the kernel's default (Debian's
/// is utf8, a module of its own), then the ones the box loads early.
const FAT_OPTIONS: [Option<&str>; 3] = [None, Some("iocharset=iso8859-1"), Some("iocharset=utf8")];

/// Mounts the FAT filesystem on `device` at `dir`, trying the character
/// sets of [`FAT_OPTIONS`] in turn (a missing one makes the mount fail).
pub fn mount_vfat(device: &Path, dir: &Path, flags: MsFlags) -> nix::Result<()> {
    let mut last = nix::errno::Errno::EINVAL;
    for data in FAT_OPTIONS {
        match mount(Some(device), dir, Some("vfat"), flags, data) {
            Ok(()) => return Ok(()),
            Err(e @ nix::errno::Errno::EINVAL) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Reads the boot variables (primary, else backup, else defaults).
pub fn read_boot_state(layout: &Layout) -> Result<BootState, EnvError> {
    with_boot_dir(layout, false, |dir| {
        Ok(BootState::from_env(&EnvFiles::in_boot_dir(dir).load().0))
    })
}

/// Changes the boot variables with `change` and writes them (backup
/// first); returns the new state. Nothing is written when nothing changed.
pub fn modify_boot_state(
    layout: &Layout,
    change: impl FnOnce(&mut BootState),
) -> Result<BootState, EnvError> {
    with_boot_dir(layout, true, |dir| {
        let files = EnvFiles::in_boot_dir(dir);
        let (mut env, source) = files.load();
        let before = BootState::from_env(&env);
        let mut state = before.clone();
        change(&mut state);
        if state != before || source != Source::Primary {
            state.apply(&mut env)?;
            files.save(&env)?;
        }
        Ok(state)
    })
}

/// True when something is mounted on `dir` (it is on another device than
/// its parent).
fn is_mount_point(dir: &Path) -> bool {
    let parent = dir.parent().unwrap_or(dir);
    match (std::fs::metadata(dir), std::fs::metadata(parent)) {
        (Ok(d), Ok(p)) => d.dev() != p.dev(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unmounted_layout_uses_the_directory_as_it_is() {
        let root = tempfile::tempdir().unwrap();
        let layout = Layout::under(root.path(), root.path());
        let seen = with_boot_dir(&layout, true, |d| Ok(d.to_path_buf())).unwrap();
        assert_eq!(seen, root.path().join("run/boot"));
        assert!(!is_mount_point(root.path()));
        assert!(is_mount_point(Path::new("/proc")));
    }

    #[test]
    fn a_box_layout_without_a_boot_partition_says_so() {
        let root = tempfile::tempdir().unwrap();
        let mut layout = Layout::under(root.path(), root.path());
        layout.mount = true;
        let e = with_boot_dir(&layout, false, |_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("no partition named boot"), "{e}");
    }
}
