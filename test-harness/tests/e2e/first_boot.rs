//! A new box: boots, is given a LAN address at its console, passes and
//! quarantines mail, and is reset to factory defaults (checks 1, 2, 3, 8).

use std::time::Duration;

use smoltcp::wire::Ipv4Address;
use test_harness::console;
use test_harness::lan::{FrameSocket, LanHost};
use test_harness::recorder::Recorder;
use test_harness::testbox::{BoxOptions, TestBox, BOOT_TIMEOUT};

use crate::support::{
    add_test_domain, send_first_mail, send_mail, DOMAIN, GTUBE, MAIL_TIMEOUT, USER,
};

/// The box's address on the LAN, set from its console.
const BOX_LAN: Ipv4Address = Ipv4Address::new(192, 168, 77, 10);
/// The LAN host's own address.
const HOST_LAN: Ipv4Address = Ipv4Address::new(192, 168, 77, 2);

#[test]
fn new_box_takes_a_lan_address_passes_mail_and_resets_to_defaults() -> anyhow::Result<()> {
    let recorder = Recorder::start()?;
    let mut options = BoxOptions::new("first-boot");
    options.delivery_port = Some(recorder.port());

    // 1. Power on to "ready" on the console.
    let (mut b, took) = TestBox::boot(&options)?;
    println!("check 1: power-on to ready in {:.1} s", took.as_secs_f64());

    // 2. A static address on the LAN port from the console; the LAN host
    //    gets the SMTP banner from it.
    let (qemu_side, host_side) = b.vm.lan_sockets();
    let mut lan = LanHost::new(
        FrameSocket::bind(&host_side, &qemu_side)?,
        [0x02, 0, 0, 0x77, 0, 2],
        HOST_LAN,
        24,
    );
    assert!(
        b.console_log_in()?,
        "a new box asks for its first admin password"
    );
    let shown = console::set_static_address(&mut b.serial, "eth1", &format!("{BOX_LAN}/24"))?;
    assert!(shown.contains(&format!("{BOX_LAN}/24")), "{shown}");
    let banner = lan.smtp_banner((BOX_LAN, 25), Duration::from_secs(60))?;
    assert!(banner.starts_with("220 "), "{banner}");
    println!("check 2: the LAN host at {HOST_LAN} got {banner:?} from {BOX_LAN}:25");

    // 3. Mail in through SMTP reaches the customer's server; GTUBE is
    //    held in the quarantine and never delivered.
    b.api_log_in()?;
    add_test_domain(&b)?;
    send_first_mail(&b, "hello from e2e", "first message through the box")?;
    let got = recorder.wait_for(1, MAIL_TIMEOUT)?;
    let text = String::from_utf8_lossy(&got[0].bytes).into_owned();
    assert!(text.contains("first message through the box"), "{text}");
    assert!(
        text.contains("X-Spam-Status:"),
        "filtered on the way: {text}"
    );
    assert_eq!(got[0].rcpt_tos, vec![USER.to_string()]);
    send_mail(&b, "spam from e2e", GTUBE)?;
    let held = b.wait_until("a quarantined message", MAIL_TIMEOUT, |b| {
        b.api()
            .quarantine_list(Some(USER))
            .ok()
            .filter(|items| !items.is_empty())
    })?;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].subject, "spam from e2e");
    assert!(
        held[0].reasons.iter().any(|r| r.contains("GTUBE")),
        "{held:?}"
    );
    // A later clean message overtakes nothing: the spam was never delivered.
    send_mail(&b, "after the spam", "second clean message")?;
    let got = recorder.wait_for(2, MAIL_TIMEOUT)?;
    assert_eq!(got.len(), 2);
    assert!(got
        .iter()
        .all(|m| !String::from_utf8_lossy(&m.bytes).contains("GTUBE")));
    println!("check 3: 2 messages delivered to the recorder, GTUBE quarantined");

    // 8. Factory reset from the console: the box comes back as new.
    let reset = std::time::Instant::now();
    console::factory_reset(&mut b.serial)?;
    b.wait_ready(BOOT_TIMEOUT)?;
    println!(
        "check 8: factory reset, ready again {:.1} s later",
        reset.elapsed().as_secs_f64()
    );
    assert!(
        b.console_log_in()?,
        "after a reset the console asks for a new admin password"
    );
    b.api_log_in()?;
    let api = b.api();
    let domains = api.domains()?;
    assert!(domains.iter().all(|d| d.name != DOMAIN), "{domains:?}");
    assert!(api.quarantine_list(None)?.is_empty());
    let status = api.system_status()?;
    let eth1 = status.interfaces.iter().find(|i| i.name == "eth1");
    assert!(
        eth1.is_none_or(|i| !i
            .addresses
            .iter()
            .any(|a| a.starts_with(&BOX_LAN.to_string()))),
        "the LAN address is gone: {eth1:?}"
    );
    assert!(
        lan.connect((BOX_LAN, 25), Duration::from_secs(15)).is_err(),
        "nothing answers on the old LAN address"
    );
    b.vm.quit()?;
    Ok(())
}
