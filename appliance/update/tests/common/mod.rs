//! A box laid out under a temporary directory: kernel command line, fake
//! sysfs naming two files as the slots' partitions, a boot directory with
//! GRUB's environment, release files, the trusted key and a data directory.

#![allow(dead_code)] // each test binary uses part of it

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use update::bundle::{create, NewBundle};
use update::envfile::EnvFiles;
use update::grubenv::GrubEnv;
use update::{Layout, Slot};

/// Size of each slot file.
pub const SLOT_SIZE: u64 = 8 * 1024 * 1024;
/// The board of the test box.
pub const BOARD: &str = "filterbox-x86_64";

pub struct TestBox {
    pub dir: tempfile::TempDir,
    pub layout: Layout,
    pub key: SigningKey,
}

impl TestBox {
    /// A box running `version` from `slot`, with GRUB's default environment.
    pub fn new(version: &str, slot: Slot) -> TestBox {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let layout = Layout::under(root, &root.join("data"));
        for d in [
            "proc",
            "etc/filterbox",
            "dev",
            "run/boot/grub",
            "data",
            "run/usb",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(
            &layout.cmdline,
            format!("console=ttyS0 filterbox.slot={slot} quiet\n"),
        )
        .unwrap();
        std::fs::write(&layout.release, format!("{version}\n")).unwrap();
        std::fs::write(&layout.board, format!("{BOARD}\n")).unwrap();
        for (n, s) in [(2, Slot::A), (3, Slot::B)] {
            let entry = layout.sys_class_block.join(format!("vda{n}"));
            std::fs::create_dir_all(&entry).unwrap();
            std::fs::write(
                entry.join("uevent"),
                format!(
                    "DEVNAME=slot{s}.img\nDEVTYPE=partition\nPARTNAME={}\n",
                    s.partname()
                ),
            )
            .unwrap();
            let f = std::fs::File::create(layout.dev.join(format!("slot{s}.img"))).unwrap();
            f.set_len(SLOT_SIZE).unwrap();
        }
        let key = SigningKey::from_bytes(&[7; 32]);
        update::keys::write_public(&key.verifying_key(), &layout.public_key).unwrap();
        let mut env = GrubEnv::default();
        for (k, v) in [
            ("ORDER", "A B"),
            ("A_OK", "1"),
            ("B_OK", "1"),
            ("A_TRY", "1"),
            ("B_TRY", "0"),
        ] {
            env.set(k, v).unwrap();
        }
        EnvFiles::in_boot_dir(&layout.boot_dir).save(&env).unwrap();
        TestBox { dir, layout, key }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn slot_file(&self, slot: Slot) -> PathBuf {
        self.layout.dev.join(format!("slot{slot}.img"))
    }

    pub fn env_files(&self) -> EnvFiles {
        EnvFiles::in_boot_dir(&self.layout.boot_dir)
    }

    /// The bytes of both environment files, to prove nothing changed.
    pub fn snapshot(&self) -> (Vec<u8>, Vec<u8>) {
        let f = self.env_files();
        (
            std::fs::read(&f.primary).unwrap(),
            std::fs::read(&f.backup).unwrap(),
        )
    }

    pub fn env(&self) -> GrubEnv {
        self.env_files().load().0
    }
}

/// A root filesystem image of `len` bytes of a pattern.
pub fn rootfs(dir: &Path, len: usize) -> PathBuf {
    let path = dir.join(format!("rootfs-{len}.img"));
    let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A bundle of `rootfs` signed with `key`.
pub fn bundle(key: &SigningKey, version: &str, board: &str, rootfs: &Path, out: &Path) -> PathBuf {
    create(
        key,
        &NewBundle {
            version: version.into(),
            board: board.into(),
            created: 1_700_000_000,
        },
        rootfs,
        out,
    )
    .unwrap();
    out.to_path_buf()
}
