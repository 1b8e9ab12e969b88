//! What the mta logs per SMTP session, over real sockets: a health probe
//! (banner, QUIT) leaves debug lines only; a session that sends mail (swaks)
//! or gets an error reply leaves exactly one info line at its end.

mod common;

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use common::downstream::Downstream;
use common::{config, start, wait_for, Client};
use log::{Level, LevelFilter, Log, Metadata, Record};

/// Every log record of this test binary, with its level.
struct Recorder(Mutex<Vec<(Level, String)>>);

impl Log for Recorder {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }

    fn log(&self, record: &Record) {
        let line = record.args().to_string();
        self.0.lock().unwrap().push((record.level(), line));
    }

    fn flush(&self) {}
}

fn recorder() -> &'static Recorder {
    static RECORDER: OnceLock<&'static Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let r: &'static Recorder = Box::leak(Box::new(Recorder(Mutex::new(Vec::new()))));
        log::set_logger(r).expect("the only logger of this test binary");
        log::set_max_level(LevelFilter::Debug);
        r
    })
}

/// The records of session `sid` (lines starting with `sid: `).
fn lines_of(sid: &str) -> Vec<(Level, String)> {
    let prefix = format!("{sid}: ");
    recorder()
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, l)| l.starts_with(&prefix))
        .cloned()
        .collect()
}

/// The session id of the record holding `needle`, once it is logged.
async fn sid_of(needle: &str) -> String {
    let find = || {
        recorder()
            .0
            .lock()
            .unwrap()
            .iter()
            .find(|(_, l)| l.contains(needle))
            .and_then(|(_, l)| l.split(": ").next().map(str::to_string))
    };
    assert!(
        wait_for(Duration::from_secs(10), || find().is_some()).await,
        "no log line with {needle:?}"
    );
    find().unwrap()
}

/// Waits for the session's end-of-session line and returns all its records.
async fn ended(sid: &str) -> Vec<(Level, String)> {
    let done = format!("{sid}: session client=");
    assert!(
        wait_for(Duration::from_secs(10), || lines_of(sid)
            .iter()
            .any(|(_, l)| l.starts_with(&done)))
        .await,
        "{sid} did not end: {:?}",
        lines_of(sid)
    );
    lines_of(sid)
}

fn at(level: Level, lines: &[(Level, String)]) -> Vec<&str> {
    lines
        .iter()
        .filter(|(l, _)| *l == level)
        .map(|(_, s)| s.as_str())
        .collect()
}

#[tokio::test]
async fn a_health_probe_leaves_only_debug_lines() {
    recorder();
    let dir = tempfile::tempdir().unwrap();
    let mta = start(dir.path(), config(dir.path()), 9).await;
    // What the supervisor's probe does: read the banner, QUIT.
    let (mut c, banner) = Client::connect(mta.smtp_addr()).await;
    assert!(banner.starts_with("220 "), "{banner}");
    let port = c.local_addr().port();
    assert_eq!(c.cmd("QUIT").await, "221 2.0.0 Bye\r\n");
    let sid = sid_of(&format!("connect from 127.0.0.1:{port}")).await;
    let lines = ended(&sid).await;
    assert_eq!(at(Level::Info, &lines), Vec::<&str>::new(), "{lines:?}");
    let debug = at(Level::Debug, &lines);
    assert_eq!(
        debug,
        [
            format!("{sid}: connect from 127.0.0.1:{port}"),
            format!("{sid}: disconnect: quit"),
            format!(
                "{sid}: session client=127.0.0.1:{port} helo=none mail=0 accepted=0 refused=0 errors=0 end=quit"
            ),
        ],
    );
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_session_that_sends_mail_gets_one_info_line_at_its_end() {
    recorder();
    let dir = tempfile::tempdir().unwrap();
    let down = Downstream::accepting().await;
    let mta = start(dir.path(), config(dir.path()), down.port).await;
    let out = tokio::process::Command::new("swaks")
        .args(["--server", &mta.smtp_addr().to_string()])
        .args(["--helo", "swaks-log.test", "--from", "sender@sender.test"])
        .args(["--to", "user@example.test", "--body", "hello"])
        .output()
        .await
        .expect("swaks runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let sid = sid_of("helo=swaks-log.test").await;
    let lines = ended(&sid).await;
    let info = at(Level::Info, &lines);
    let summary: Vec<&&str> = info.iter().filter(|l| l.contains(" session ")).collect();
    assert_eq!(summary.len(), 1, "{lines:?}");
    assert!(
        summary[0].starts_with(&format!("{sid}: session client=127.0.0.1:"))
            && summary[0]
                .ends_with(" helo=swaks-log.test mail=1 accepted=1 refused=0 errors=0 end=quit"),
        "{}",
        summary[0]
    );
    // The transaction's own lines are still there; connect/disconnect are not info.
    assert!(info
        .iter()
        .any(|l| l.contains(" queued from=<sender@sender.test>")));
    assert!(
        !info
            .iter()
            .any(|l| l.contains("connect from") || l.contains("disconnect")),
        "{info:?}"
    );
    assert_eq!(
        at(Level::Debug, &lines)
            .iter()
            .filter(|l| l.contains("connect from 127.0.0.1:"))
            .count(),
        1
    );
    mta.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_error_reply_is_worth_an_info_line_too() {
    recorder();
    let dir = tempfile::tempdir().unwrap();
    let mta = start(dir.path(), config(dir.path()), 9).await;
    let (mut c, _) = Client::connect(mta.smtp_addr()).await;
    let port = c.local_addr().port();
    assert_eq!(c.cmd("BOGUS").await, "500 5.5.1 command unrecognized\r\n");
    drop(c);
    let sid = sid_of(&format!("connect from 127.0.0.1:{port}")).await;
    let lines = ended(&sid).await;
    assert_eq!(
        at(Level::Info, &lines),
        [format!(
            "{sid}: session client=127.0.0.1:{port} helo=none mail=0 accepted=0 refused=0 errors=1 end=client-closed"
        )],
    );
    mta.shutdown().await.unwrap();
}
