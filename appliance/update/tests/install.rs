//! Installing into files standing in for the slots: a good bundle switches
//! the boot order; every bad one is refused whole with nothing switched.

mod common;

use std::io::Read;

use common::{bundle, rootfs, TestBox, BOARD};
use update::install::{install, Progress, Running, Target};
use update::{Slot, UpdateError};

/// Rootfs size spanning several copy chunks, not a multiple of one.
const ROOTFS: usize = 2 * update::install::CHUNK + 12345;

fn running(slot: Slot) -> Running {
    Running {
        version: "0.1.0".into(),
        board: BOARD.into(),
        slot: Some(slot),
    }
}

fn target(b: &TestBox) -> Target {
    Target {
        slot: Slot::B,
        device: b.slot_file(Slot::B),
        source: "test".into(),
    }
}

/// Installs `data` as a bundle stream; the progress seen.
fn run(
    b: &TestBox,
    data: &[u8],
    force: bool,
) -> (Result<update::Installed, UpdateError>, Vec<(u64, u64)>) {
    let mut seen = Vec::new();
    let mut verified = false;
    let mut reader = data;
    let result = install(
        &mut reader,
        &target(b),
        &b.layout,
        &b.key.verifying_key(),
        &running(Slot::A),
        force,
        &mut |p| match p {
            Progress::Verified(m) => {
                verified = true;
                assert_eq!(m.board, BOARD);
            }
            Progress::Written { done, total } => {
                assert!(verified, "written before verified");
                seen.push((done, total));
            }
        },
    );
    (result, seen)
}

#[test]
fn a_good_bundle_is_written_verified_and_switched() {
    let b = TestBox::new("0.1.0", Slot::A);
    let image = rootfs(b.root(), ROOTFS);
    let path = bundle(&b.key, "0.2.0", BOARD, &image, &b.root().join("new.fbu"));
    let (result, seen) = run(&b, &std::fs::read(&path).unwrap(), false);
    let installed = result.unwrap();
    assert_eq!(
        (installed.slot, installed.metadata.version.as_str()),
        (Slot::B, "0.2.0")
    );
    assert_eq!(seen.last(), Some(&(ROOTFS as u64, ROOTFS as u64)));
    assert!(seen.len() >= 3, "progress per chunk: {seen:?}");
    let written = std::fs::read(b.slot_file(Slot::B)).unwrap();
    assert_eq!(
        &written[..ROOTFS],
        std::fs::read(&image).unwrap().as_slice()
    );
    assert_eq!(
        written.len() as u64,
        common::SLOT_SIZE,
        "the slot is not resized"
    );
    let env = b.env();
    assert_eq!(env.get("ORDER"), Some("B A"));
    assert_eq!((env.get("B_OK"), env.get("B_TRY")), (Some("1"), Some("0")));
    assert_eq!(
        env.get("A_TRY"),
        Some("1"),
        "the running slot is left as it is"
    );
    let record = update::record::Record::load(&b.layout.record);
    assert_eq!(record.version(Slot::B), Some("0.2.0"));
    // Both copies of the environment hold the switch.
    let f = b.env_files();
    assert_eq!(
        std::fs::read(&f.primary).unwrap(),
        std::fs::read(&f.backup).unwrap()
    );
}

/// Installs `data`, expects a refusal matching `check`, and proves the
/// environment did not change (nor the slot, when refused before writing).
fn refused(b: &TestBox, data: &[u8], force: bool, check: impl Fn(&UpdateError) -> bool) -> String {
    let before = b.snapshot();
    let slot_before = std::fs::read(b.slot_file(Slot::B)).unwrap();
    let (result, written) = run(b, data, force);
    let e = result.expect_err("the bundle was installed");
    assert!(check(&e), "unexpected refusal: {e:?}");
    assert!(b.snapshot() == before, "{e}: the environment changed");
    if written.is_empty() {
        assert!(
            std::fs::read(b.slot_file(Slot::B)).unwrap() == slot_before,
            "{e}: the slot was written"
        );
    }
    e.to_string()
}

#[test]
fn every_bad_bundle_is_refused_with_nothing_switched() {
    let b = TestBox::new("0.1.0", Slot::A);
    let image = rootfs(b.root(), ROOTFS);
    let good = std::fs::read(bundle(
        &b.key,
        "0.2.0",
        BOARD,
        &image,
        &b.root().join("good.fbu"),
    ))
    .unwrap();

    // The record says what slot B holds; refusals before writing keep it.
    let known = update::record::SlotRecord {
        version: "0.0.5".into(),
        installed: 1,
        source: "factory".into(),
    };
    update::record::Record::update(&b.layout.record, Slot::B, Some(known)).unwrap();
    let record = std::fs::read(&b.layout.record).unwrap();

    let other_key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let foreign = std::fs::read(bundle(
        &other_key,
        "0.2.0",
        BOARD,
        &image,
        &b.root().join("f.fbu"),
    ))
    .unwrap();
    let m = refused(&b, &foreign, true, |e| {
        matches!(e, UpdateError::Bundle(update::BundleError::BadSignature))
    });
    assert!(m.starts_with("bad signature"), "{m}");

    let wrong_board = std::fs::read(bundle(
        &b.key,
        "0.2.0",
        "other-board",
        &image,
        &b.root().join("w.fbu"),
    ))
    .unwrap();
    let m = refused(&b, &wrong_board, true, |e| {
        matches!(e, UpdateError::WrongBoard { .. })
    });
    assert_eq!(m, "wrong board other-board (this box is filterbox-x86_64)");

    for old in ["0.1.0", "0.0.9", "0.1.0+gabcdef"] {
        let older =
            std::fs::read(bundle(&b.key, old, BOARD, &image, &b.root().join("o.fbu"))).unwrap();
        let m = refused(&b, &older, false, |e| {
            matches!(e, UpdateError::OlderVersion { .. })
        });
        assert_eq!(
            m,
            format!("older version {old} <= running 0.1.0 (use force to downgrade)")
        );
    }

    assert!(std::fs::read(&b.layout.record).unwrap() == record);

    let cut = good.len() - 1000;
    let m = refused(&b, &good[..cut], false, |e| {
        matches!(e, UpdateError::Truncated { .. })
    });
    assert_eq!(
        m,
        format!(
            "truncated at {} of {ROOTFS} bytes of the root filesystem",
            ROOTFS - 1000
        )
    );

    let mut long = good.clone();
    long.extend_from_slice(b"trailing");
    let m = refused(&b, &long, false, |e| {
        matches!(e, UpdateError::Oversized { .. })
    });
    assert!(m.starts_with("oversized"), "{m}");

    // The signed hash does not match the image (one byte flipped in it).
    let mut flipped = good.clone();
    let at = good.len() - 5;
    flipped[at] ^= 0xff;
    let m = refused(&b, &flipped, false, |e| {
        matches!(e, UpdateError::HashMismatch { .. })
    });
    assert!(m.starts_with("hash mismatch"), "{m}");
    // Written then refused: the slot's old version is no longer claimed.
    assert_eq!(
        update::record::Record::load(&b.layout.record).version(Slot::B),
        None
    );

    let m = refused(&b, b"PK\x03\x04 a zip file", false, |e| {
        matches!(e, UpdateError::Bundle(update::BundleError::BadMagic))
    });
    assert!(m.contains("not a filterbox update bundle"), "{m}");
    refused(&b, &good[..20], false, |e| {
        matches!(
            e,
            UpdateError::Bundle(update::BundleError::TruncatedHeader(20))
        )
    });
}

#[test]
fn a_root_filesystem_larger_than_the_slot_is_refused() {
    let b = TestBox::new("0.1.0", Slot::A);
    let image = rootfs(b.root(), common::SLOT_SIZE as usize + 1);
    let big = std::fs::read(bundle(
        &b.key,
        "0.2.0",
        BOARD,
        &image,
        &b.root().join("big.fbu"),
    ))
    .unwrap();
    let m = refused(&b, &big, false, |e| {
        matches!(e, UpdateError::SlotTooSmall { .. })
    });
    assert_eq!(
        m,
        format!(
            "slot too small: the root filesystem has {} bytes, slot B holds {}",
            common::SLOT_SIZE + 1,
            common::SLOT_SIZE
        )
    );
}

#[test]
fn force_installs_an_older_version_and_the_running_slot_is_never_written() {
    let b = TestBox::new("0.3.0", Slot::A);
    let image = rootfs(b.root(), 4096);
    let older = std::fs::read(bundle(
        &b.key,
        "0.2.0",
        BOARD,
        &image,
        &b.root().join("o.fbu"),
    ))
    .unwrap();
    run(&b, &older, true).0.unwrap();
    assert_eq!(b.env().get("ORDER"), Some("B A"));
    let mut into_running = target(&b);
    into_running.slot = Slot::A;
    let mut reader = older.as_slice();
    let e = install(
        &mut reader,
        &into_running,
        &b.layout,
        &b.key.verifying_key(),
        &running(Slot::A),
        true,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(e, UpdateError::ActiveSlot(Slot::A)), "{e}");
}

#[test]
fn a_slow_source_in_small_pieces_installs_the_same() {
    // A reader that hands out at most 7 bytes per read, like a slow socket.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let b = TestBox::new("0.1.0", Slot::B);
    let image = rootfs(b.root(), 100_000);
    let data = std::fs::read(bundle(
        &b.key,
        "0.2.0",
        BOARD,
        &image,
        &b.root().join("n.fbu"),
    ))
    .unwrap();
    let t = Target {
        slot: Slot::A,
        device: b.slot_file(Slot::A),
        source: "trickle".into(),
    };
    let installed = install(
        &mut Trickle(&data),
        &t,
        &b.layout,
        &b.key.verifying_key(),
        &running(Slot::B),
        false,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(installed.slot, Slot::A);
    assert_eq!(b.env().get("ORDER"), Some("A B"));
}
