//! A pulled plug in the middle of an update, then an update from a USB
//! stick at the console (checks 9, 7).

use std::io::Read;
use std::time::{Duration, Instant};

use model::control::InstallState;
use test_harness::console;
use test_harness::firmware::{newer_version, Firmware};
use test_harness::stick::make_stick;
use test_harness::testbox::{BoxOptions, TestBox, BOOT_TIMEOUT};

use crate::support::firmware;

/// Time for a USB install under emulation.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// Bytes of the bundle sent at full speed before the upload slows down.
const FAST_PART: u64 = 8 * 1024 * 1024;

/// A bundle upload that slows to a trickle after [`FAST_PART`], so that the
/// box is still writing its slot when the power goes.
struct Trickle {
    file: std::fs::File,
    sent: u64,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.sent >= FAST_PART {
            std::thread::sleep(Duration::from_millis(100));
        }
        let cap = buf.len().min(64 * 1024);
        let n = self.file.read(&mut buf[..cap])?;
        self.sent += n as u64;
        Ok(n)
    }
}

#[test]
fn power_cut_during_an_update_keeps_the_old_slot_then_usb_updates() -> anyhow::Result<()> {
    let fw = Firmware::of_this_checkout();
    let work = tempfile::tempdir()?;
    let (mut b, _) = TestBox::boot(&BoxOptions::new("usb-update"))?;
    b.log_in()?;
    let before = firmware(&b)?;
    assert_eq!(before.boot_slot.as_deref(), Some("A"), "{before:?}");
    let newer = newer_version(&before.version, "new");
    let bundle = fw.bundle(&newer, None)?;

    // 9. QEMU killed while the bundle is being written into slot B.
    let api = b.api().with_timeout(INSTALL_TIMEOUT);
    let file = std::fs::File::open(&bundle)?;
    let len = file.metadata()?.len();
    let uploading = std::thread::spawn(move || {
        let mut body = Trickle { file, sent: 0 };
        api.firmware_upload(&mut body, len, false, true)
    });
    let deadline = Instant::now() + INSTALL_TIMEOUT;
    let written = loop {
        if let Ok(f) = firmware(&b) {
            if let Some(InstallState::Installing { done, total, .. }) = f.install {
                if total > 0 && done >= FAST_PART / 2 {
                    break (done, total);
                }
            }
        }
        assert!(Instant::now() < deadline, "the install never got under way");
        std::thread::sleep(Duration::from_millis(200));
    };
    b.vm.power_cut()?;
    println!(
        "check 9: power cut with {} of {} bytes written into slot B",
        written.0, written.1
    );
    assert!(
        uploading.join().expect("the upload thread").is_err(),
        "the upload cannot have finished"
    );
    b.serial = b.vm.power_on()?;
    b.wait_ready(BOOT_TIMEOUT)?;
    let after = firmware(&b)?;
    assert_eq!(after.boot_slot.as_deref(), Some("A"), "{after:?}");
    assert_eq!(after.version, before.version);
    assert_eq!(after.next_boot.as_deref(), Some("A"), "{after:?}");
    assert!(!b.console_log_in()?, "the box kept its admin password");
    println!(
        "check 9: the box booted the old slot A, version {}",
        after.version
    );

    // 7. A USB stick with the bundle: offered at the console, installed, booted.
    let stick = make_stick(&work.path().join("stick.img"), &[&bundle])?;
    b.vm.plug_usb(&stick)?;
    b.wait_until(
        "the stick's bundle offered",
        Duration::from_secs(120),
        |b| {
            firmware(b)
                .ok()?
                .usb_bundles
                .into_iter()
                .find(|u| u.version.as_deref() == Some(newer.as_str()) && u.valid)
        },
    )?;
    b.serial.skip_pending();
    let started = Instant::now();
    console::install_from_usb(&mut b.serial, &newer, INSTALL_TIMEOUT)?;
    b.wait_ready(BOOT_TIMEOUT)?;
    let now = b.wait_until("slot B marked good", Duration::from_secs(120), |b| {
        let f = firmware(b).ok()?;
        let slot = f.slots.iter().find(|s| s.name == "B")?;
        (f.boot_slot.as_deref() == Some("B") && slot.ok && slot.tries == 0).then_some(f)
    })?;
    assert_eq!(now.version, newer);
    println!(
        "check 7: USB update to {newer}: {:.1} s from the confirmation to slot B marked good",
        started.elapsed().as_secs_f64()
    );
    b.vm.quit()?;
    Ok(())
}
