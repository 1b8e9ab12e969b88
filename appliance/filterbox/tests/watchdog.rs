//! The hardware watchdog, with a FIFO standing in for the device: fed while
//! every role is healthy; a hung mta (SIGSTOP) stops the feeding, is killed
//! after three failed liveness probes and restarted, and feeding resumes;
//! SIGTERM ends with the magic close `V`.

mod common;

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{wait_until, Recorder, TestBox};
use model::config::WatchdogConfig;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Everything written to the FIFO so far, and whether the writer closed it.
#[derive(Default)]
struct Device {
    bytes: Vec<u8>,
    closed: bool,
}

/// Reads the FIFO on a thread (the open waits for the supervisor's).
fn read_fifo(path: std::path::PathBuf) -> Arc<Mutex<Device>> {
    let device = Arc::new(Mutex::new(Device::default()));
    let sink = device.clone();
    std::thread::spawn(move || {
        let mut fifo = std::fs::File::open(path).unwrap();
        let mut buf = [0u8; 64];
        loop {
            match fifo.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink.lock().unwrap().bytes.extend_from_slice(&buf[..n]),
            }
        }
        sink.lock().unwrap().closed = true;
    });
    device
}

fn fed(device: &Arc<Mutex<Device>>) -> usize {
    device.lock().unwrap().bytes.len()
}

#[test]
fn fed_only_while_healthy_a_hung_role_is_killed_and_exit_disarms() {
    let downstream = Recorder::start();
    let fifo_dir = tempfile::tempdir().unwrap();
    let fifo = fifo_dir.path().join("watchdog");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let device = read_fifo(fifo.clone());
    let mut config = TestBox::config(downstream.port);
    config.watchdog = Some(WatchdogConfig {
        device: fifo,
        interval_secs: 1,
    });
    let mut b = TestBox::start_with(config);

    // Healthy: a byte about every second.
    let start = fed(&device);
    wait_until(Duration::from_secs(10), "three feeds", || {
        (fed(&device) >= start + 3).then_some(())
    });

    // A hung mta: probes fail, feeding stops, the mta is killed and restarted.
    let mta = b.role_pid("mta").unwrap();
    kill(Pid::from_raw(mta as i32), Signal::SIGSTOP).unwrap();
    b.wait_for_log("mta liveness probe failed", Duration::from_secs(20));
    let at_first_failure = fed(&device);
    b.wait_for_log(
        "mta failed 3 liveness probes in a row; killing it",
        Duration::from_secs(30),
    );
    let at_kill = fed(&device);
    // At most the one feed that may have been on its way at the first failure.
    assert!(
        at_kill <= at_first_failure + 1,
        "fed while the mta hung: {at_first_failure} -> {at_kill}"
    );
    b.wait_for_log("mta exited: killed by SIGKILL", Duration::from_secs(10));
    b.wait_for_log("restarting mta in", Duration::from_secs(10));
    let new = wait_until(Duration::from_secs(30), "a new mta", || {
        b.role_pid("mta").filter(|p| *p != mta)
    });
    assert_ne!(new, mta);
    wait_until(Duration::from_secs(30), "the new mta healthy", || {
        let logs = b.logs();
        let killed_at = logs.find("killing it")?;
        logs[killed_at..].contains("mta is healthy").then_some(())
    });
    let resumed = fed(&device);
    wait_until(Duration::from_secs(10), "feeding again", || {
        (fed(&device) >= resumed + 2).then_some(())
    });

    // An orderly exit disarms the watchdog: `V`, then the device is closed.
    assert!(b.stop().success());
    wait_until(Duration::from_secs(5), "the device closed", || {
        device.lock().unwrap().closed.then_some(())
    });
    let d = device.lock().unwrap();
    assert_eq!(d.bytes.last(), Some(&b'V'));
    assert!(d.bytes[..d.bytes.len() - 1].iter().all(|b| *b == b'1'));
}
