//! The updater as the supervisor uses it: status, marking good, the
//! fallback notice, one install at a time, and USB offers.

mod common;

use common::{bundle, rootfs, TestBox, BOARD};
use model::control::InstallState;
use update::usb::UsbWatcher;
use update::{Slot, UpdateError, Updater};

#[test]
fn status_and_mark_good() {
    let b = TestBox::new("0.1.0", Slot::A);
    let u = Updater::new(b.layout.clone());
    assert_eq!(u.refresh(), None, "no fallback");
    let s = u.status();
    assert_eq!((s.version.as_str(), s.board.as_str()), ("0.1.0", BOARD));
    assert_eq!(s.boot_slot.as_deref(), Some("A"));
    assert_eq!(s.next_boot.as_deref(), Some("A"));
    assert_eq!(s.slots[0].tries, 1, "GRUB counted this boot");
    assert_eq!(s.slots[1].version, None, "nothing known about B");
    assert_eq!(u.mark_good().unwrap(), "slot A marked good");
    assert_eq!(b.env().get("A_TRY"), Some("0"));
    assert_eq!(b.env().get("A_OK"), Some("1"));
    assert_eq!(
        u.status().slots[0].tries,
        0,
        "the status follows without a refresh"
    );
}

#[test]
fn a_workstation_has_no_slots() {
    let b = TestBox::new("0.1.0", Slot::A);
    std::fs::write(&b.layout.cmdline, "quiet\n").unwrap();
    let u = Updater::new(b.layout.clone());
    u.refresh();
    let s = u.status();
    assert!(s.slots.is_empty() && s.boot_slot.is_none() && s.error.is_none());
    assert_eq!(u.mark_good().unwrap(), "no firmware slots on this system");
    let before = b.snapshot();
    let job = u.begin("test").unwrap();
    let e = job.run(&mut &b"x"[..], false, |_, _| {}).unwrap_err();
    assert!(matches!(e, UpdateError::NotOnSlot), "{e}");
    assert!(b.snapshot() == before);
}

#[test]
fn an_abandoned_update_is_reported_at_boot() {
    let b = TestBox::new("0.1.0", Slot::A);
    // slot B got 0.2.0, which never became healthy: GRUB abandoned it.
    let entry = update::record::SlotRecord {
        version: "0.2.0".into(),
        installed: 1,
        source: "upload".into(),
    };
    update::record::Record::update(&b.layout.record, Slot::B, Some(entry)).unwrap();
    let files = b.env_files();
    let mut env = b.env();
    for (k, v) in [
        ("ORDER", "B A"),
        ("B_OK", "0"),
        ("B_TRY", "3"),
        ("A_TRY", "1"),
    ] {
        env.set(k, v).unwrap();
    }
    files.save(&env).unwrap();
    let u = Updater::new(b.layout.clone());
    let notice = u.refresh();
    assert_eq!(
        notice.as_deref(),
        Some("update to version 0.2.0 failed to start; running 0.1.0 from slot A")
    );
    assert_eq!(u.status().fallback, notice);
    u.mark_good().unwrap();
    assert_eq!(b.env().get("ORDER"), Some("B A"), "GRUB skips B by itself");
    assert_eq!(u.status().next_boot.as_deref(), Some("A"));
}

#[test]
fn one_install_at_a_time_with_progress_and_outcome() {
    let b = TestBox::new("0.1.0", Slot::A);
    let u = Updater::new(b.layout.clone());
    u.refresh();
    let image = rootfs(b.root(), 3 * update::install::CHUNK);
    let path = bundle(&b.key, "0.2.0", BOARD, &image, &b.root().join("new.fbu"));
    let job = u.begin("upload from test").unwrap();
    assert!(matches!(u.begin("another"), Err(UpdateError::Busy)));
    let mut told = None;
    let installed = job
        .run(
            &mut std::fs::File::open(&path).unwrap(),
            false,
            |m, slot| told = Some((m.version.clone(), slot)),
        )
        .unwrap();
    assert_eq!(told, Some(("0.2.0".into(), Slot::B)));
    assert_eq!(installed.slot, Slot::B);
    let s = u.status();
    assert_eq!(
        s.install,
        Some(InstallState::Installed {
            source: "upload from test".into(),
            version: "0.2.0".into(),
            slot: "B".into(),
            message: "installed 0.2.0 into slot B".into(),
        })
    );
    assert_eq!(s.next_boot.as_deref(), Some("B"));
    assert_eq!(s.slots[1].version.as_deref(), Some("0.2.0"));
    // The job is over: another may start; a refused one says why.
    let job = u.begin("again").unwrap();
    let older = bundle(&b.key, "0.0.1", BOARD, &image, &b.root().join("old.fbu"));
    let e = job
        .run(&mut std::fs::File::open(&older).unwrap(), false, |_, _| {
            panic!("an older bundle is not verified")
        })
        .unwrap_err();
    assert!(matches!(e, UpdateError::OlderVersion { .. }));
    match u.status().install {
        Some(InstallState::Failed { message, .. }) => {
            assert_eq!(
                message,
                "older version 0.0.1 <= running 0.1.0 (use force to downgrade)"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn usb_sticks_offer_their_checked_bundles() {
    let b = TestBox::new("0.1.0", Slot::A);
    let u = Updater::new(b.layout.clone());
    let stick = b.layout.usb_dir.join("sdb");
    std::fs::create_dir_all(&stick).unwrap();
    let image = rootfs(b.root(), 10_000);
    bundle(&b.key, "0.2.0", BOARD, &image, &stick.join("a-good.fbu"));
    bundle(&b.key, "0.0.1", BOARD, &image, &stick.join("b-older.fbu"));
    bundle(&b.key, "0.3.0", "other", &image, &stick.join("c-board.fbu"));
    let foreign = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    bundle(
        &foreign,
        "0.3.0",
        BOARD,
        &image,
        &stick.join("d-foreign.fbu"),
    );
    let cut = std::fs::read(stick.join("a-good.fbu")).unwrap();
    std::fs::write(stick.join("e-cut.fbu"), &cut[..cut.len() - 10]).unwrap();
    std::fs::write(stick.join("readme.txt"), b"not a bundle").unwrap();

    let mut watcher = UsbWatcher::default();
    watcher.tick(&u);
    assert!(u.status().usb_bundles.is_empty(), "no disk yet");
    std::fs::create_dir_all(b.layout.sys_block.join("sdb")).unwrap();
    watcher.tick(&u);
    let offers = u.status().usb_bundles;
    let summary: Vec<(String, bool, String)> = offers
        .iter()
        .map(|o| {
            let name = o.path.file_name().unwrap().to_string_lossy().into_owned();
            (name, o.valid, o.message.clone())
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "a-good.fbu".into(),
                true,
                "signed and whole; installs into slot B".into()
            ),
            (
                "b-older.fbu".into(),
                false,
                "older version 0.0.1 <= running 0.1.0 (use force to downgrade)".into()
            ),
            (
                "c-board.fbu".into(),
                false,
                "wrong board other (this box is filterbox-x86_64)".into()
            ),
            (
                "d-foreign.fbu".into(),
                false,
                "bad signature: the bundle is not signed by the key this firmware trusts".into()
            ),
            (
                "e-cut.fbu".into(),
                false,
                format!("truncated at {} of {} bytes", cut.len() - 10, cut.len())
            ),
        ]
    );
    assert_eq!(offers[0].version.as_deref(), Some("0.2.0"));
    std::fs::remove_dir(b.layout.sys_block.join("sdb")).unwrap();
    watcher.tick(&u);
    assert!(u.status().usb_bundles.is_empty(), "the stick was pulled");
}
