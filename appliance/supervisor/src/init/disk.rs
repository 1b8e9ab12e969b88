//! The data partition: finding it, checking it, creating its filesystem on
//! first boot or after a factory reset, mounting it on `/data`.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{mount, MsFlags};

use super::cmdline::KernelCmdline;
use crate::SupervisorError;

/// Where the data partition is mounted.
pub const DATA_DIR: &str = "/data";

/// The GPT partition name of the data partition.
pub const DATA_PARTNAME: &str = "data";

/// Offset of the ext2/3/4 magic number: superblock at 1024, magic at +56.
const EXT_MAGIC_OFFSET: u64 = 1024 + 56;
/// The ext2/3/4 magic, little-endian 0xEF53.
const EXT_MAGIC: [u8; 2] = [0x53, 0xEF];

/// Bytes zeroed at the start of the partition by a factory reset: the
/// superblock and more, so no tool mistakes the rest for a filesystem.
const WIPE_BYTES: usize = 64 * 1024;

/// The data device: the one the command line names, else the partition
/// with the GPT name it gives (`PARTNAME=NAME`), else the one named `data`.
pub fn data_device(cmdline: &KernelCmdline) -> Result<PathBuf, SupervisorError> {
    let partname = cmdline.data_partname().unwrap_or(DATA_PARTNAME);
    cmdline
        .data_device()
        .or_else(|| {
            update::blockdev::find_partition(
                Path::new("/sys/class/block"),
                Path::new("/dev"),
                partname,
            )
        })
        .ok_or_else(|| {
            SupervisorError::Boot(format!(
                "no data partition: no device on the kernel command line \
                 and no partition named {partname}"
            ))
        })
}

/// Whether `device` (or an image file) starts with an ext2/3/4 superblock.
pub fn has_ext_filesystem(device: &Path) -> std::io::Result<bool> {
    let mut f = std::fs::File::open(device)?;
    let mut magic = [0u8; 2];
    f.seek(SeekFrom::Start(EXT_MAGIC_OFFSET))?;
    match f.read_exact(&mut magic) {
        Ok(()) => Ok(magic == EXT_MAGIC),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// Erases the start of `device`, so the next boot creates a new filesystem
/// there; durable before it returns.
pub fn wipe(device: &Path) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).open(device)?;
    f.write_all(&[0u8; WIPE_BYTES])?;
    f.sync_all()
}

/// Creates an ext4 filesystem labelled `data` (ext2 with busybox mke2fs when
/// e2fsprogs is absent).
pub fn make_filesystem(device: &Path) -> Result<(), SupervisorError> {
    let attempts: [&[&str]; 2] = [
        &["mkfs.ext4", "-F", "-q", "-L", DATA_PARTNAME],
        &["busybox", "mke2fs", "-L", DATA_PARTNAME],
    ];
    let mut errors = Vec::new();
    for argv in attempts {
        match Command::new(argv[0]).args(&argv[1..]).arg(device).status() {
            Ok(s) if s.success() => {
                log::info!(
                    "created a filesystem on {} with {}",
                    device.display(),
                    argv[0]
                );
                return Ok(());
            }
            Ok(s) => errors.push(format!("{} {s}", argv[0])),
            Err(e) => errors.push(format!("{}: {e}", argv[0])),
        }
    }
    Err(SupervisorError::Boot(format!(
        "cannot create a filesystem on {}: {}",
        device.display(),
        errors.join("; ")
    )))
}

/// Checks the filesystem with `e2fsck -p` when that is installed; problems
/// it cannot fix are logged, and mounting is tried anyway.
fn check(device: &Path) {
    match Command::new("e2fsck").arg("-p").arg(device).status() {
        Ok(s) if s.code().is_some_and(|c| c < 4) => {}
        Ok(s) => log::error!("e2fsck -p {}: {s}; mounting it anyway", device.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log::warn!("cannot run e2fsck: {e}"),
    }
}

/// Finds, checks (or creates) and mounts the data partition on [`DATA_DIR`].
pub fn mount_data(cmdline: &KernelCmdline) -> Result<PathBuf, SupervisorError> {
    let device = data_device(cmdline)?;
    let boot = |what: &str, e: &dyn std::fmt::Display| {
        SupervisorError::Boot(format!("{what} {}: {e}", device.display()))
    };
    if has_ext_filesystem(&device).map_err(|e| boot("cannot read", &e))? {
        check(&device);
    } else {
        log::warn!("{} has no filesystem: creating one", device.display());
        make_filesystem(&device)?;
    }
    std::fs::create_dir_all(DATA_DIR).map_err(|e| boot("cannot create /data for", &e))?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOATIME;
    let mounted = ["ext4", "ext2"].iter().find_map(|fstype| {
        match mount(Some(&device), DATA_DIR, Some(*fstype), flags, None::<&str>) {
            Ok(()) => Some(Ok(())),
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENODEV) => None,
            Err(e) => Some(Err(e)),
        }
    });
    match mounted {
        Some(Ok(())) => {
            log::info!("mounted {} on {DATA_DIR}", device.display());
            Ok(device)
        }
        Some(Err(e)) => Err(boot("cannot mount", &e)),
        None => Err(boot("cannot mount", &"no ext4 or ext2 support")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_names_the_device_first() {
        let c = KernelCmdline::parse("filterbox.data=sdb1");
        assert_eq!(data_device(&c).unwrap(), PathBuf::from("/dev/sdb1"));
    }

    #[test]
    fn an_ext_superblock_is_recognised_on_an_image_and_gone_after_a_wipe() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("data.img");
        let f = std::fs::File::create(&image).unwrap();
        f.set_len(4 * 1024 * 1024).unwrap();
        drop(f);
        assert!(
            !has_ext_filesystem(&image).unwrap(),
            "zeros are no filesystem"
        );
        make_filesystem(&image).unwrap();
        assert!(has_ext_filesystem(&image).unwrap());
        wipe(&image).unwrap();
        assert!(!has_ext_filesystem(&image).unwrap());
        // A file too short to hold a superblock has none.
        std::fs::write(dir.path().join("short"), b"x").unwrap();
        assert!(!has_ext_filesystem(&dir.path().join("short")).unwrap());
    }
}
