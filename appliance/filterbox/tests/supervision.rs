//! `filterbox up` supervises: a killed role comes back, a role that keeps
//! dying is given up loudly, and SIGTERM stops everything in reverse order.

mod common;

use std::time::Duration;

use common::{swaks, wait_until, Recorder, TestBox};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn gone(pid: u32) -> bool {
    // Gone, or a zombie nobody has reaped yet (it no longer runs).
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.contains(") Z "))
        .unwrap_or(true)
}

#[test]
fn a_killed_role_is_restarted_and_mail_flows_again() {
    let downstream = Recorder::start();
    let b = TestBox::start(downstream.port);
    let old = b.role_pid("filter").unwrap();
    kill(Pid::from_raw(old as i32), Signal::SIGKILL).unwrap();
    wait_until(Duration::from_secs(30), "a new filter", || {
        b.role_pid("filter").filter(|p| *p != old)
    });
    wait_until(
        Duration::from_secs(30),
        "mail through the new filter",
        || {
            let out = swaks(&[
                "--server",
                b.smtp(),
                "--to",
                "user@example.test",
                "--body",
                "after restart",
            ]);
            out.status.success().then_some(())
        },
    );
    let got = downstream.wait_for(1, Duration::from_secs(30));
    assert!(
        got[0].header("X-Spam-Score")[0].parse::<f64>().unwrap() < 5.0,
        "scored as ham"
    );
    assert!(b.logs().contains("restarting filter in"), "{}", b.logs());
}

#[test]
fn sigterm_stops_every_role_in_reverse_order() {
    let downstream = Recorder::start();
    let mut b = TestBox::start(downstream.port);
    let pids: Vec<u32> = ["manager", "filter", "mta"]
        .iter()
        .map(|r| b.role_pid(r).expect("role runs"))
        .collect();
    let status = b.stop();
    assert!(status.success(), "up exits 0 after SIGTERM: {status:?}");
    for pid in pids {
        assert!(gone(pid), "role pid {pid} still runs");
    }
    let logs = b.logs();
    let pos = |needle: &str| {
        logs.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{logs}"))
    };
    assert!(pos("stopping mta") < pos("stopping filter"));
    assert!(pos("stopping filter") < pos("stopping manager"));
    assert!(logs.contains("all roles stopped"));
}

#[test]
fn a_role_that_keeps_dying_is_declared_a_crash_loop() {
    let downstream = Recorder::start();
    // The mta's SMTP port is taken, so every start of the mta fails.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = TestBox::config(downstream.port);
    config.mta.smtp_listen = taken.local_addr().unwrap().to_string();
    let mut b = TestBox::launch(config);
    b.wait_for_log("CRASH LOOP: mta", Duration::from_secs(90));
    let logs = b.logs();
    for delay in ["1s", "2s", "4s", "8s"] {
        assert!(
            logs.contains(&format!("restarting mta in {delay}")),
            "{logs}"
        );
    }
    // The other roles keep running; the mta is not started again, and the
    // API (what the web UI shows) says why.
    assert!(b.role_pid("manager").is_some() && b.role_pid("filter").is_some());
    let status = b.api().system_status().unwrap();
    let mta = status.processes.iter().find(|p| p.name == "mta").unwrap();
    assert_eq!(
        (mta.state.as_str(), mta.pid),
        ("crash-loop", None),
        "{status:?}"
    );
    assert!(status
        .processes
        .iter()
        .filter(|p| p.name != "mta")
        .all(|p| p.state == "healthy"));
    std::thread::sleep(Duration::from_secs(3));
    assert!(b.role_pid("mta").is_none());
    assert!(
        !b.stop().success(),
        "up reports the crash loop in its exit status"
    );
}
