//! The admin account, admin networks and mail counters over the real
//! listeners (unix socket and TCP with the token), with `ApiClient`.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use common::{new_quarantine, TestManager, GTUBE};
use manager::{LockoutPolicy, Manager, ManagerOptions, DATA_DB};
use model::api::{AdminNetworks, EventKind, SetPassword, TrackingEvent};
use model::client::ClientError;

const PASSWORD: &str = "correct horse battery";

fn short_lockout() -> ManagerOptions {
    ManagerOptions {
        lockout: LockoutPolicy {
            max_failures: 5,
            first_lockout: Duration::from_millis(500),
            max_lockout: Duration::from_secs(5),
        },
    }
}

fn status<T: std::fmt::Debug>(r: Result<T, ClientError>) -> Option<u16> {
    r.err().and_then(|e| e.status())
}

fn set(password: &str, current: Option<&str>) -> SetPassword {
    SetPassword {
        password: password.into(),
        current: current.map(Into::into),
    }
}

/// `POST /admin/verify` over the socket by hand, to see the headers too.
fn verify_raw(socket: &Path, password: &str) -> String {
    let body = serde_json::json!({ "password": password }).to_string();
    let mut s = UnixStream::connect(socket).unwrap();
    write!(
        s,
        "POST /api/v1/admin/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

/// Every file of the database, concatenated.
fn database_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join(DATA_DB)];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            out.extend(std::fs::read(&p).unwrap());
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn password_set_verified_throttled_and_kept_as_a_hash() {
    let mut m = TestManager::start_with(None, short_lockout());
    let (unix, tcp) = (m.unix(), m.tcp(Some(m.token())));
    assert!(!unix.admin_state().unwrap().password_set);
    assert_eq!(status(unix.verify_admin_password(PASSWORD)), Some(409));

    // The console (unix socket) needs no current password.
    unix.set_admin_password(&set(PASSWORD, None)).unwrap();
    assert!(tcp.admin_state().unwrap().password_set);
    // Over TCP the current one is required, and must be right.
    assert_eq!(
        status(tcp.set_admin_password(&set("another one", None))),
        Some(401)
    );
    let wrong = set("another one", Some("not the password"));
    assert_eq!(status(tcp.set_admin_password(&wrong)), Some(401));
    unix.verify_admin_password(PASSWORD).unwrap();
    assert_eq!(status(unix.verify_admin_password("another one")), Some(401));

    // Five failures in a row (with the one just above): locked.
    for _ in 0..4 {
        assert_eq!(status(tcp.verify_admin_password("guess")), Some(401));
    }
    let answer = verify_raw(&m.config.manager.api_socket, PASSWORD);
    assert!(answer.starts_with("HTTP/1.1 429 "), "{answer}");
    assert!(answer.contains("\r\nRetry-After: 1\r\n"), "{answer}");
    assert!(answer.contains("\"throttled\""), "{answer}");
    assert_eq!(status(tcp.verify_admin_password(PASSWORD)), Some(429));
    std::thread::sleep(Duration::from_millis(500));
    tcp.verify_admin_password(PASSWORD).unwrap();

    // A restart keeps the password, as an argon2id hash only.
    m.stop();
    let bytes = database_bytes(m.dir.path());
    assert!(
        !contains(&bytes, PASSWORD.as_bytes()),
        "the password is in data.db"
    );
    let db = sled::open(m.dir.path().join(DATA_DB)).unwrap();
    let hash = db
        .open_tree("settings")
        .unwrap()
        .get("admin_password")
        .unwrap()
        .unwrap();
    let hash = std::str::from_utf8(&hash).unwrap().to_string();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    drop(db);
    m.manager = Some(Manager::start_with(&m.config, m.dir.path(), short_lockout()).unwrap());
    let unix = m.unix();
    assert!(unix.admin_state().unwrap().password_set);
    unix.verify_admin_password(PASSWORD).unwrap();
    m.tcp(Some(m.token()))
        .set_admin_password(&set("a new password", Some(PASSWORD)))
        .unwrap();
    unix.verify_admin_password("a new password").unwrap();
}

#[test]
fn admin_networks_round_trip_and_bad_entries() {
    let m = TestManager::start(None);
    let (unix, tcp) = (m.unix(), m.tcp(Some(m.token())));
    assert!(unix.admin_networks().unwrap().networks.is_empty());
    let given = AdminNetworks {
        networks: vec!["192.168.1.0/24".into(), "2001:DB8::1/32".into()],
    };
    let stored = vec!["192.168.1.0/24".to_string(), "2001:db8::/32".to_string()];
    assert_eq!(unix.set_admin_networks(&given).unwrap().networks, stored);
    assert_eq!(tcp.admin_networks().unwrap().networks, stored);
    let bad = AdminNetworks {
        networks: vec!["10.0.0.0/8".into(), "10.0.0.0".into()],
    };
    let e = tcp.set_admin_networks(&bad).unwrap_err();
    assert_eq!(e.status(), Some(422));
    assert!(e.to_string().contains("networks[1] \"10.0.0.0\""), "{e}");
    assert_eq!(unix.admin_networks().unwrap().networks, stored, "unchanged");
    let none = AdminNetworks { networks: vec![] };
    assert!(tcp.set_admin_networks(&none).unwrap().networks.is_empty());
    assert!(unix.admin_networks().unwrap().networks.is_empty());
}

fn event(time: u64, kind: EventKind, rcpts: &[&str]) -> TrackingEvent {
    TrackingEvent {
        proof: Default::default(),
        time,
        queue_id: "4XqQ9".into(),
        message_id: None,
        kind,
        sender: "s@sender.test".into(),
        recipients: rcpts.iter().map(|r| r.to_string()).collect(),
        detail: String::new(),
        remote: None,
        reply: None,
    }
}

#[test]
fn stats_count_tracking_events_by_hour() {
    const HOUR: u64 = 3_600_000;
    let mut m = TestManager::start(None);
    let api = m.unix();
    let now = model::time::now_ms();
    let this_hour = now - now % HOUR;
    let two = ["a@example.test", "b@example.test"];
    api.track(&[
        event(now, EventKind::Received, &two),
        event(now, EventKind::Verdict, &two),
        event(now, EventKind::Queued, &two),
        event(now, EventKind::Delivered, &two[..1]),
        event(now, EventKind::Deferred, &two[1..]),
        event(now, EventKind::Bounced, &two[1..]),
        event(this_hour - 3 * HOUR, EventKind::Rejected, &two),
    ])
    .unwrap();
    // The manager's own event: quarantined, per recipient.
    api.quarantine_create(&new_quarantine(&two, GTUBE)).unwrap();

    let s = m.tcp(Some(m.token())).stats().unwrap();
    assert_eq!(s.hours.len(), 24);
    let hours: Vec<u64> = s.hours.iter().map(|h| h.hour).collect();
    assert!(hours.windows(2).all(|w| w[1] == w[0] + HOUR), "{hours:?}");
    // Found by value: the hour may have turned since `now`.
    let at = hours.iter().position(|h| *h == this_hour).unwrap();
    let c = &s.hours[at].counters;
    assert_eq!(
        (
            c.received,
            c.delivered,
            c.quarantined,
            c.rejected,
            c.deferred,
            c.bounced
        ),
        (1, 1, 2, 0, 1, 1)
    );
    assert_eq!(s.hours[at - 3].counters.rejected, 1, "three hours before");
    let mut quiet = s
        .hours
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != at && *i != at - 3);
    assert!(quiet.all(|(_, h)| h.counters == Default::default()));
    assert_eq!(s.total.received + s.total.rejected + s.total.quarantined, 4);

    m.stop();
    m.restart();
    assert_eq!(m.unix().stats().unwrap().total, s.total, "kept in data.db");
}
