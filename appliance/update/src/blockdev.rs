//! Block devices as sysfs describes them: finding a partition by its GPT
//! name (`PARTNAME` in `/sys/class/block/*/uevent`), and a device's size.
//!
//! Shared by init (the data partition) and the updater (the boot partition
//! and the root slots); every path is a parameter, so tests use a fake
//! sysfs in a temporary directory.

use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The `KEY=VALUE` pairs of a `/sys/class/block/*/uevent` file.
pub fn parse_uevent(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The value of `key` in parsed uevent `fields`.
pub fn uevent_value<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The device (`DEV/DEVNAME`) of the partition called `partname`, found
/// in the uevent files under `sys_class_block` (`/sys/class/block`).
pub fn find_partition(sys_class_block: &Path, dev: &Path, partname: &str) -> Option<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(sys_class_block)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    entries.into_iter().find_map(|dir| {
        let text = std::fs::read_to_string(dir.join("uevent")).ok()?;
        let fields = parse_uevent(&text);
        let value = |key| uevent_value(&fields, key);
        (value("DEVTYPE") == Some("partition") && value("PARTNAME") == Some(partname))
            .then(|| value("DEVNAME").map(|d| dev.join(d)))
            .flatten()
    })
}

/// The size in bytes of a block device or of a file standing in for one.
pub fn device_size(path: &Path) -> std::io::Result<u64> {
    std::fs::File::open(path)?.seek(SeekFrom::End(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uevent_files_are_parsed_and_partitions_found_by_name() {
        let text = "MAJOR=253\nMINOR=4\nDEVNAME=vda4\nDEVTYPE=partition\nPARTN=4\nPARTNAME=data\n";
        let fields = parse_uevent(text);
        assert!(fields.contains(&("PARTNAME".into(), "data".into())));
        assert_eq!(fields.len(), 6);
        assert_eq!(uevent_value(&fields, "PARTN"), Some("4"));
        let sys = tempfile::tempdir().unwrap();
        let dev = |name: &str, body: &str| {
            std::fs::create_dir(sys.path().join(name)).unwrap();
            std::fs::write(sys.path().join(name).join("uevent"), body).unwrap();
        };
        dev("vda", "MAJOR=253\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n");
        dev("vda3", "DEVNAME=vda3\nDEVTYPE=partition\nPARTNAME=rootA\n");
        dev("vda4", text);
        let slash_dev = Path::new("/dev");
        assert_eq!(
            find_partition(sys.path(), slash_dev, "data"),
            Some(PathBuf::from("/dev/vda4"))
        );
        assert_eq!(
            find_partition(sys.path(), Path::new("/x"), "rootA"),
            Some(PathBuf::from("/x/vda3"))
        );
        assert_eq!(find_partition(sys.path(), slash_dev, "rootB"), None);
        assert_eq!(
            find_partition(&sys.path().join("none"), slash_dev, "data"),
            None
        );
    }

    #[test]
    fn a_file_standing_in_for_a_device_has_its_length() {
        let dir = tempfile::tempdir().unwrap();
        let slot = dir.path().join("slot");
        std::fs::File::create(&slot)
            .unwrap()
            .set_len(5 * 1024 * 1024)
            .unwrap();
        assert_eq!(device_size(&slot).unwrap(), 5 * 1024 * 1024);
    }
}
