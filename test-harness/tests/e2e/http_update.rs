//! Updates over HTTP (the API's upload): bad bundles are refused and
//! change nothing, a good one is installed and booted with the data kept,
//! and one whose rootfs never turns healthy is rolled back (checks 5, 4, 6).

use std::path::Path;
use std::time::Duration;

use model::control::{FirmwareStatus, InstallState};
use test_harness::firmware::{newer_version, older_version, Firmware, BOARD};
use test_harness::recorder::Recorder;
use test_harness::testbox::{BoxOptions, TestBox, BOOT_TIMEOUT};

use crate::support::{
    add_test_domain, firmware, send_first_mail, send_mail, DOMAIN, GTUBE, MAIL_TIMEOUT, USER,
};

/// A rootfs hook that breaks the firmware: the mta's user is gone, so
/// the supervisor cannot start the roles and reboots, on every try.
const BREAK_ROOTFS: &str = "#!/bin/sh\nset -e\nsed -i '/^fb-mta:/d' \"$1/etc/passwd\"\n";

/// Time for an upload and its install (streamed into the slot, hashed)
/// under emulation.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// Time for three failed tries of a broken slot and the fallback boot.
const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(900);

#[test]
fn http_update_refuses_bad_bundles_installs_a_good_one_and_rolls_back_a_broken_one(
) -> anyhow::Result<()> {
    let fw = Firmware::of_this_checkout();
    let work = tempfile::tempdir()?;
    let recorder = Recorder::start()?;
    let mut options = BoxOptions::new("http-update");
    options.delivery_port = Some(recorder.port());
    let (mut b, _) = TestBox::boot(&options)?;
    b.log_in()?;
    // Data that must survive the update: a domain, a user, a quarantined message.
    add_test_domain(&b)?;
    send_first_mail(&b, "held across the update", GTUBE)?;
    let held = b.wait_until("the quarantined message", MAIL_TIMEOUT, |b| {
        b.api()
            .quarantine_list(Some(USER))
            .ok()
            .filter(|q| !q.is_empty())
    })?;
    let before = firmware(&b)?;
    assert_eq!(before.boot_slot.as_deref(), Some("A"), "{before:?}");
    let newer = newer_version(&before.version, "new");
    let good = fw.bundle(&newer, None)?;

    // 5. Bad bundles are refused, precisely, and nothing is switched.
    for (name, bundle, reason) in bad_bundles(&fw, &newer, &before.version, &good, work.path())? {
        let err = upload(&b, &bundle).expect_err(&format!("the {name} bundle is refused"));
        assert_eq!(err.status(), Some(422), "{name}: {err}");
        assert!(err.to_string().contains(reason), "{name}: {err}");
        let after = firmware(&b)?;
        assert_unchanged(&before, &after, name);
        match after.install {
            Some(InstallState::Failed { message, .. }) => {
                assert!(message.contains(reason), "{name}: {message}")
            }
            other => panic!("{name}: the status shows no refusal: {other:?}"),
        }
        println!("check 5: {name} bundle refused: {err}");
    }
    assert_eq!(b.api().health()?.status, "ok");

    // 4. The good bundle: installed into B, booted, data kept.
    b.serial.skip_pending();
    let started = std::time::Instant::now();
    let answer = upload(&b, &good)?;
    let installed = started.elapsed();
    println!("check 4: {}", answer.message);
    b.wait_ready(BOOT_TIMEOUT)?;
    let now = wait_marked_good(&mut b, "B")?;
    assert_eq!(now.version, newer);
    println!(
        "check 4: upload and install {:.1} s; slot B with {newer} marked good {:.1} s after the upload began",
        installed.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        !b.console_log_in()?,
        "the admin password survived the update"
    );
    let api = b.api();
    assert!(api.domains()?.iter().any(|d| d.name == DOMAIN));
    let kept = api.quarantine_list(Some(USER))?;
    assert_eq!(
        kept.iter().map(|q| &q.id).collect::<Vec<_>>(),
        held.iter().map(|q| &q.id).collect::<Vec<_>>()
    );
    send_mail(&b, "after the update", "mail flows on the new firmware")?;
    recorder.wait_for(1, MAIL_TIMEOUT)?;

    // 6. A bundle whose rootfs never turns healthy: after its tries the
    //    box is back on slot B, and says so.
    let hook = work.path().join("break-rootfs.sh");
    std::fs::write(&hook, BREAK_ROOTFS)?;
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let broken_version = newer_version(&newer, "broken");
    let broken = fw.bundle(&broken_version, Some(&hook))?;
    b.serial.skip_pending();
    upload(&b, &broken)?;
    b.serial
        .expect("slot A failed its tries", ROLLBACK_TIMEOUT)?;
    b.wait_ready(BOOT_TIMEOUT)?;
    let back = wait_marked_good(&mut b, "B")?;
    assert_eq!(back.version, newer, "{back:?}");
    let fallback = back.fallback.clone().unwrap_or_default();
    assert!(
        fallback.contains(&broken_version),
        "the box says what failed: {back:?}"
    );
    let a = back
        .slots
        .iter()
        .find(|s| s.name == "A")
        .expect("slot A listed");
    assert!(!a.ok, "slot A is abandoned: {back:?}");
    assert!(!b.console_log_in()?);
    let screen = test_harness::console::show(&mut b.serial, "8")?;
    assert!(
        screen.contains(&fallback),
        "the console says so too: {screen}"
    );
    println!("check 6: {broken_version} abandoned after its tries; {fallback}");
    b.vm.quit()?;
    Ok(())
}

/// Uploads `bundle` through the API (installing and rebooting).
fn upload(
    b: &TestBox,
    bundle: &Path,
) -> Result<model::api::FirmwareInstall, model::client::ClientError> {
    let mut file = std::fs::File::open(bundle).expect("the bundle was just made");
    let len = file.metadata().expect("the bundle's size").len();
    b.api()
        .with_timeout(INSTALL_TIMEOUT)
        .firmware_upload(&mut file, len, false, true)
}

/// The refusals of check 5: (name, bundle, a word of the refusal).
fn bad_bundles(
    fw: &Firmware,
    newer: &str,
    running: &str,
    good: &Path,
    dir: &Path,
) -> anyhow::Result<Vec<(&'static str, std::path::PathBuf, &'static str)>> {
    let rootfs = fw.rootfs(newer);
    let stranger = fw.stranger_key(&dir.join("stranger"))?;
    let foreign = dir.join("foreign-key.fbu");
    fw.sign(&stranger, &rootfs, newer, BOARD, &foreign)?;
    let truncated = dir.join("truncated.fbu");
    let bytes = std::fs::read(good)?;
    std::fs::write(&truncated, &bytes[..bytes.len() * 3 / 5])?;
    let tampered = dir.join("tampered.fbu");
    let mut changed = bytes.clone();
    let last = changed.len() - 1000;
    changed[last] ^= 0x55;
    std::fs::write(&tampered, &changed)?;
    let wrong_board = dir.join("wrong-board.fbu");
    fw.sign(
        &fw.dev_key(),
        &rootfs,
        newer,
        "filterbox-arm64",
        &wrong_board,
    )?;
    let older = dir.join("older.fbu");
    fw.sign(
        &fw.dev_key(),
        &rootfs,
        &older_version(running),
        BOARD,
        &older,
    )?;
    Ok(vec![
        ("foreign-key", foreign, "bad signature"),
        ("truncated", truncated, "truncated"),
        ("tampered", tampered, "hash mismatch"),
        ("wrong-board", wrong_board, "wrong board"),
        ("older", older, "older version"),
    ])
}

/// The refused install left the box as it was: same firmware running,
/// same slot booting next, the running slot untouched.
fn assert_unchanged(before: &FirmwareStatus, after: &FirmwareStatus, name: &str) {
    assert_eq!(after.version, before.version, "{name}");
    assert_eq!(after.boot_slot, before.boot_slot, "{name}");
    assert_eq!(after.next_boot, before.next_boot, "{name}: {after:?}");
    let running = |s: &FirmwareStatus| s.slots.iter().find(|x| x.booted).cloned();
    assert_eq!(running(after), running(before), "{name}");
}

/// Waits until the box runs from `slot` and has marked that boot good.
fn wait_marked_good(b: &mut TestBox, slot: &str) -> anyhow::Result<FirmwareStatus> {
    Ok(b.wait_until(
        &format!("slot {slot} marked good"),
        Duration::from_secs(120),
        |b| {
            let f = b.api().firmware_status().ok()?;
            let s = f.slots.iter().find(|s| s.name == slot)?;
            (f.boot_slot.as_deref() == Some(slot) && s.booted && s.ok && s.tries == 0).then_some(f)
        },
    )?)
}
