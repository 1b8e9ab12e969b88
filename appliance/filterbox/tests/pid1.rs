//! The supervisor as PID 1 inside a PID namespace (`unshare --pid --fork`):
//! it restarts a crashing process with growing delays and then flags a crash
//! loop, reaps the orphaned grandchildren that are re-parented to it, and
//! SIGTERM stops everything in order within the stop timeout.

mod common;

use std::time::{Duration, Instant};

use common::{wait_until, Recorder, TestBox};
use model::config::ServiceConfig;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The `(pid, ppid, state)` of every process on the host.
fn processes() -> Vec<(u32, u32, char)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...; comm may contain spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        out.push((pid, ppid, state));
    }
    out
}

fn children_of(pid: u32) -> Vec<(u32, char)> {
    processes()
        .into_iter()
        .filter(|(_, ppid, _)| *ppid == pid)
        .map(|(p, _, s)| (p, s))
        .collect()
}

/// Starts `filterbox up` as PID 1 of a new PID namespace; returns the box and
/// the supervisor's pid as seen from here.
fn boot_in_pid_namespace(config: model::config::SystemConfig) -> (TestBox, u32) {
    let b = TestBox::launch_wrapped(
        &["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"],
        config,
    );
    let wrapper = b.pid();
    let init = wait_until(
        Duration::from_secs(10),
        "the supervisor in the namespace",
        || children_of(wrapper).first().map(|(p, _)| *p),
    );
    let status = std::fs::read_to_string(format!("/proc/{init}/status")).unwrap();
    let nspid = status
        .lines()
        .find(|l| l.starts_with("NSpid:"))
        .expect("NSpid line");
    assert!(
        nspid.trim_end().ends_with("\t1"),
        "not PID 1 in its namespace: {nspid}"
    );
    (b, init)
}

#[test]
fn as_pid_1_it_flags_a_crash_loop_and_reaps_orphans() {
    let downstream = Recorder::start();
    let mut config = TestBox::config(downstream.port);
    // Leaves an orphaned grandchild behind each time it dies.
    config.services.push(ServiceConfig {
        name: "crasher".into(),
        command: vec![
            "sh".into(),
            "-c".into(),
            "sleep 0.5 & echo crashing; exit 3".into(),
        ],
        user: None,
    });
    let (mut b, init) = boot_in_pid_namespace(config);
    b.wait_for_log("CRASH LOOP: crasher", Duration::from_secs(90));
    let logs = b.logs();
    for delay in ["1s", "2s", "4s", "8s"] {
        assert!(
            logs.contains(&format!("restarting crasher in {delay}")),
            "{logs}"
        );
    }
    // The roles are unaffected and the box serves.
    b.wait_for_log("ready:", Duration::from_secs(30));
    // Every orphaned `sleep` was re-parented to PID 1 and reaped: no zombies.
    std::thread::sleep(Duration::from_secs(2));
    let zombies: Vec<u32> = children_of(init)
        .into_iter()
        .filter(|(_, s)| *s == 'Z')
        .map(|(p, _)| p)
        .collect();
    assert!(zombies.is_empty(), "zombies left under PID 1: {zombies:?}");
    assert!(
        processes().iter().all(|(p, pp, _)| *pp != init
            || !std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .unwrap_or_default()
                .starts_with("sleep")),
        "the orphaned sleeps are gone"
    );
    kill(Pid::from_raw(init as i32), Signal::SIGTERM).unwrap();
    let status = b.wait(Duration::from_secs(30));
    assert!(!status.success(), "a crash loop makes up exit non-zero");
}

#[test]
fn as_pid_1_sigterm_stops_everything_in_order_within_the_timeout() {
    let downstream = Recorder::start();
    let (mut b, init) = boot_in_pid_namespace(TestBox::config(downstream.port));
    b.wait_for_log("ready:", Duration::from_secs(60));
    let started = Instant::now();
    kill(Pid::from_raw(init as i32), Signal::SIGTERM).unwrap();
    let status = b.wait(Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    // Three roles, each well within the 10 s stop timeout.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let logs = b.logs();
    let pos = |needle: &str| {
        logs.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{logs}"))
    };
    assert!(pos("stopping mta") < pos("stopping filter"));
    assert!(pos("stopping filter") < pos("stopping manager"));
    assert!(!logs.contains("did not stop within"), "{logs}");
}
