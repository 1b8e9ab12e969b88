//! The clamd client against a real clamd (Debian's clamav-daemon) started
//! by the test on a unix socket, with a signature database the test writes
//! (Debian ships none): a match, a clean message, a clamd that is gone.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use filter::clamd::{scan, ClamdError, ClamdVerdict};
use md5::Digest;
use model::Endpoint;

const PAYLOAD: &[u8] = b"Subject: bad\r\n\r\nthis exact message is known to be bad\r\n";

struct Clamd(Child);

impl Drop for Clamd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_clamd(dir: &Path) -> (Clamd, Endpoint) {
    let db = dir.join("db");
    std::fs::create_dir_all(&db).unwrap();
    let md5 = format!("{:x}", md5::Md5::digest(PAYLOAD));
    std::fs::write(
        db.join("local.hdb"),
        format!("{md5}:{}:Local.Known.Bad\n", PAYLOAD.len()),
    )
    .unwrap();
    let socket = dir.join("clamd.sock");
    let conf = dir.join("clamd.conf");
    std::fs::write(
        &conf,
        format!(
            "LocalSocket {}\nDatabaseDirectory {}\nForeground yes\nLogFile {}\n\
             TemporaryDirectory {}\nUser root\n",
            socket.display(),
            db.display(),
            dir.join("clamd.log").display(),
            dir.display()
        ),
    )
    .unwrap();
    let child = Command::new("/usr/sbin/clamd")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("clamd (apt-get install clamav-daemon)");
    let clamd = Clamd(child);
    let start = Instant::now();
    while !socket.exists() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(dir.join("clamd.log")).unwrap_or_default();
    assert!(socket.exists(), "clamd did not start: {log}");
    (clamd, Endpoint::Unix(socket))
}

#[tokio::test]
async fn clamd_finds_what_its_database_knows() {
    let dir = tempfile::tempdir().unwrap();
    let (clamd, endpoint) = start_clamd(dir.path());
    let limit = Duration::from_secs(30);
    let found = scan(&endpoint, PAYLOAD, limit).await.unwrap();
    assert_eq!(
        found,
        ClamdVerdict::Found("Local.Known.Bad.UNOFFICIAL".into())
    );
    let clean = scan(&endpoint, b"Subject: hi\r\n\r\nhello\r\n", limit).await;
    assert_eq!(clean.unwrap(), ClamdVerdict::Clean);
    // Larger than one INSTREAM chunk.
    let big = vec![b'a'; 300 * 1024];
    assert_eq!(
        scan(&endpoint, &big, limit).await.unwrap(),
        ClamdVerdict::Clean
    );
    drop(clamd);
    let gone = scan(&endpoint, PAYLOAD, limit).await.unwrap_err();
    assert!(matches!(gone, ClamdError::Io { .. }), "{gone}");
}
