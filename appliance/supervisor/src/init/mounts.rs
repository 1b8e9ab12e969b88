//! The kernel filesystems init mounts before anything else runs.

use std::path::Path;

use nix::mount::{mount, MsFlags};

/// One filesystem to mount.
struct Fs {
    source: &'static str,
    target: &'static str,
    fstype: &'static str,
    flags: MsFlags,
    data: Option<&'static str>,
}

fn basics() -> [Fs; 6] {
    let secure = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let fs = |source, target, fstype, flags, data| Fs {
        source,
        target,
        fstype,
        flags,
        data,
    };
    [
        fs("proc", "/proc", "proc", secure | MsFlags::MS_NOEXEC, None),
        fs("sysfs", "/sys", "sysfs", secure | MsFlags::MS_NOEXEC, None),
        fs(
            "devtmpfs",
            "/dev",
            "devtmpfs",
            MsFlags::MS_NOSUID,
            Some("mode=0755"),
        ),
        fs(
            "devpts",
            "/dev/pts",
            "devpts",
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some("gid=5,mode=0620,ptmxmode=0666"),
        ),
        fs("tmpfs", "/run", "tmpfs", secure, Some("mode=0755")),
        fs("tmpfs", "/tmp", "tmpfs", secure, Some("mode=1777")),
    ]
}

/// The mount points listed in a `/proc/self/mounts` text (octal escapes
/// such as `\040` for a blank decoded).
pub fn mount_points(mounts: &str) -> Vec<String> {
    mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(unescape)
        .collect()
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mounts /proc, /sys, /dev, /dev/pts, /run and /tmp where nothing is
/// mounted yet; a failure is logged and the next one tried.
pub fn mount_basics() {
    for fs in basics() {
        // /proc first: the list of what is mounted is read from it.
        let mounted =
            mount_points(&std::fs::read_to_string("/proc/self/mounts").unwrap_or_default());
        if mounted.iter().any(|m| m == fs.target) {
            continue;
        }
        if let Err(e) = std::fs::create_dir_all(Path::new(fs.target)) {
            log::error!("cannot create {}: {e}", fs.target);
            continue;
        }
        match mount(
            Some(fs.source),
            fs.target,
            Some(fs.fstype),
            fs.flags,
            fs.data,
        ) {
            Ok(()) => log::info!("mounted {} on {}", fs.fstype, fs.target),
            Err(e) => log::error!("cannot mount {} on {}: {e}", fs.fstype, fs.target),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_read_from_the_mount_table() {
        let table = "proc /proc proc rw,nosuid,nodev,noexec 0 0\n\
                     /dev/vda4 /data ext4 rw,noatime 0 0\n\
                     tmpfs /mnt/with\\040blank tmpfs rw 0 0\n";
        assert_eq!(
            mount_points(table),
            vec!["/proc", "/data", "/mnt/with blank"]
        );
        assert!(mount_points("").is_empty());
        assert_eq!(unescape("a\\"), "a\\", "a lone backslash stays");
    }

    #[test]
    fn every_kernel_filesystem_init_needs_is_listed() {
        let targets: Vec<&str> = basics().iter().map(|f| f.target).collect();
        assert_eq!(
            targets,
            vec!["/proc", "/sys", "/dev", "/dev/pts", "/run", "/tmp"]
        );
    }
}
