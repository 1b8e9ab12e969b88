//! USB sticks for the box: a disk image with an MBR and one FAT32
//! partition holding files, as a customer's stick from any shop.
//!
//! The partition table is written here (16 bytes and a signature); the
//! filesystem by dosfstools' `mkfs.vfat`, the files by mtools' `mcopy`.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{run, HarnessError, Result};

/// Sector size of the stick.
const SECTOR: u64 = 512;

/// The partition starts at 1 MiB, as partitioning tools align it.
const PARTITION_START: u64 = 2048;

/// Room on the stick beyond its files (FAT tables, slack).
const SPARE_BYTES: u64 = 48 * 1024 * 1024;

/// MBR partition type: FAT32 with LBA addressing.
const FAT32_LBA: u8 = 0x0c;

/// Makes `path`, a stick holding `files` (copied under their own names)
/// in the root directory of its first partition.
pub fn make_stick(path: &Path, files: &[&Path]) -> Result<PathBuf> {
    let mut content = 0;
    for f in files {
        let meta =
            std::fs::metadata(f).map_err(HarnessError::io(format!("reading {}", f.display())))?;
        content += meta.len();
    }
    // Whole MiBs: FAT32 wants at least 32 MiB or so; the spare covers it.
    let total_sectors = (content + SPARE_BYTES).div_ceil(1024 * 1024) * 1024 * 1024 / SECTOR;
    let partition_sectors = total_sectors - PARTITION_START;
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)
        .map_err(HarnessError::io(format!("creating {}", path.display())))?;
    file.set_len(total_sectors * SECTOR)
        .map_err(HarnessError::io("sizing the stick"))?;
    write_mbr(&file, PARTITION_START, partition_sectors)?;
    drop(file);
    run(Command::new("mkfs.vfat")
        .args(["-F", "32", "-n", "FBSTICK"])
        .arg(format!("--offset={PARTITION_START}"))
        .arg(path)
        .arg((partition_sectors * SECTOR / 1024).to_string()))?;
    let image = format!("{}@@{}", path.display(), PARTITION_START * SECTOR);
    for f in files {
        run(Command::new("mcopy").args(["-i", &image]).arg(f).arg("::/"))?;
    }
    Ok(path.to_path_buf())
}

/// The names of the files in the root directory of the stick's partition.
pub fn list_stick(path: &Path) -> Result<String> {
    let image = format!("{}@@{}", path.display(), PARTITION_START * SECTOR);
    run(Command::new("mdir").args(["-b", "-i", &image, "::/"]))
}

fn write_mbr(mut file: &std::fs::File, start: u64, sectors: u64) -> Result<()> {
    let (start, sectors) = (
        u32::try_from(start).expect("small start"),
        u32::try_from(sectors).map_err(|_| HarnessError::Unexpected("stick over 2 TiB".into()))?,
    );
    let mut entry = [0u8; 16];
    // Not bootable; CHS fields unused (0xfe/0xff/0xff: "use LBA").
    entry[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]);
    entry[4] = FAT32_LBA;
    entry[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
    entry[8..12].copy_from_slice(&start.to_le_bytes());
    entry[12..16].copy_from_slice(&sectors.to_le_bytes());
    let mut write_at = |offset: u64, bytes: &[u8]| {
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.write_all(bytes))
            .map_err(HarnessError::io("writing the stick's partition table"))
    };
    write_at(446, &entry)?;
    write_at(510, &[0x55, 0xaa])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stick_holds_its_files_in_a_fat32_partition() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("filterbox-9.9.9-x86_64.fbu");
        std::fs::write(&bundle, vec![7u8; 100_000]).unwrap();
        let stick = make_stick(&dir.path().join("stick.img"), &[&bundle]).unwrap();
        let listing = list_stick(&stick).unwrap();
        assert!(listing.contains("filterbox-9.9.9-x86_64.fbu"), "{listing}");
        let raw = std::fs::read(&stick).unwrap();
        assert_eq!(&raw[510..512], &[0x55, 0xaa]);
        assert_eq!(raw[446 + 4], FAT32_LBA);
        let start = u32::from_le_bytes(raw[454..458].try_into().unwrap()) as usize;
        // The partition holds a FAT32 boot sector.
        let boot = &raw[start * 512..start * 512 + 512];
        assert_eq!(&boot[82..87], b"FAT32");
        // The file is there, whole.
        let out = dir.path().join("back.fbu");
        let image = format!("{}@@{}", stick.display(), PARTITION_START * SECTOR);
        run(Command::new("mcopy")
            .args(["-i", &image, "::/filterbox-9.9.9-x86_64.fbu"])
            .arg(&out))
        .unwrap();
        assert_eq!(std::fs::read(out).unwrap(), vec![7u8; 100_000]);
    }
}
