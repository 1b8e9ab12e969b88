//! `verify` against Debian's dovecot, started on loopback with its own
//! configuration in a temporary directory, and against sockets that refuse
//! or never speak. Skipped (with a message) where dovecot is not installed;
//! `scripts/deps` installs it.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use remote_login::{verify, Protocol, RemoteLoginError, RemoteServer, Security, TlsTrust};

const DOVECOT: &str = "/usr/sbin/dovecot";
const USER: &str = "alice";
/// Quotes, a backslash, a space and non-ASCII: quoting and literals matter.
const PASSWORD: &str = "s3cr\"et \\ pässwort";
const TIMEOUT: Duration = Duration::from_secs(10);

/// A dovecot on four free loopback ports; killed on drop.
struct Dovecot {
    child: Child,
    dir: tempfile::TempDir,
    imap: u16,
    imaps: u16,
    pop3: u16,
    pop3s: u16,
    ca_pem: Vec<u8>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA and a certificate it signs for 127.0.0.1: (CA PEM, cert PEM, key PEM).
fn make_certs(cn: &str) -> (String, String, String) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, cn);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

impl Dovecot {
    /// Starts dovecot, or `None` (said on stderr) where it is not installed.
    fn start() -> Option<Dovecot> {
        if !Path::new(DOVECOT).exists() {
            eprintln!("SKIPPED: {DOVECOT} is missing (apt-get install dovecot-imapd dovecot-pop3d, or scripts/deps)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // dovecot's unprivileged processes and the mail user must reach it.
        chmod(root, 0o755);
        let (ca_pem, cert, key) = make_certs("remote-login test CA");
        std::fs::write(root.join("cert.pem"), cert).unwrap();
        std::fs::write(root.join("key.pem"), key).unwrap();
        std::fs::write(
            root.join("passwd"),
            format!("{USER}:{{PLAIN}}{PASSWORD}::::::\n"),
        )
        .unwrap();
        chmod(&root.join("passwd"), 0o644);
        std::fs::create_dir(root.join("home")).unwrap();
        chmod(&root.join("home"), 0o777);
        let (imap, imaps, pop3, pop3s) = (free_port(), free_port(), free_port(), free_port());
        let r = root.display();
        let config = format!(
            r#"
protocols = imap pop3
listen = 127.0.0.1
base_dir = {r}/run
state_dir = {r}/state
log_path = {r}/dovecot.log
default_internal_user = dovecot
default_login_user = dovenull
ssl = yes
ssl_cert = <{r}/cert.pem
ssl_key = <{r}/key.pem
auth_mechanisms = plain login
# Wrong passwords are answered at once, not after the usual 2 s.
auth_failure_delay = 0
disable_plaintext_auth = no
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {r}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={r}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
    ssl = yes
  }}
}}
"#
        );
        let conf = root.join("dovecot.conf");
        std::fs::write(&conf, config).unwrap();
        let child = Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .spawn()
            .expect("start dovecot");
        let mut d = Dovecot {
            child,
            dir,
            imap,
            imaps,
            pop3,
            pop3s,
            ca_pem: ca_pem.into_bytes(),
        };
        d.wait_ready();
        Some(d)
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        for port in [self.imap, self.imaps, self.pop3, self.pop3s] {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Some(status) = self.child.try_wait().unwrap() {
                    panic!("dovecot exited ({status}):\n{}", self.log());
                }
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "dovecot not listening on {port}:\n{}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    fn server(&self, protocol: Protocol, security: Security) -> RemoteServer {
        let port = match (protocol, security) {
            (Protocol::Imap, Security::Tls) => self.imaps,
            (Protocol::Imap, _) => self.imap,
            (Protocol::Pop3, Security::Tls) => self.pop3s,
            (Protocol::Pop3, _) => self.pop3,
        };
        RemoteServer {
            host: "127.0.0.1".into(),
            port,
            protocol,
            security,
        }
    }

    fn trust(&self) -> TlsTrust {
        TlsTrust {
            extra_roots_pem: Some(self.ca_pem.clone()),
            ..TlsTrust::default()
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its children; SIGKILL if it lingers.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

const ALL: [(Protocol, Security); 4] = [
    (Protocol::Imap, Security::Tls),
    (Protocol::Imap, Security::StartTls),
    (Protocol::Pop3, Security::Tls),
    (Protocol::Pop3, Security::StartTls),
];

#[test]
fn right_password_accepted() {
    let Some(d) = Dovecot::start() else { return };
    for (protocol, security) in ALL {
        let server = d.server(protocol, security);
        let ok = verify(&server, USER, PASSWORD, &d.trust(), TIMEOUT);
        assert_eq!(ok, Ok(()), "{server:?}\n{}", d.log());
    }
}

/// One refusal per dovecot: each failure from an address delays that
/// address's next logins by seconds (dovecot's auth penalty).
fn rejected(protocol: Protocol, security: Security, user: &str, password: &str) {
    let Some(d) = Dovecot::start() else { return };
    let server = d.server(protocol, security);
    let err = verify(&server, user, password, &d.trust(), TIMEOUT);
    assert_eq!(
        err,
        Err(RemoteLoginError::Rejected),
        "{server:?}\n{}",
        d.log()
    );
}

#[test]
fn wrong_password_rejected_imap_tls() {
    rejected(Protocol::Imap, Security::Tls, USER, "wrong");
}

#[test]
fn wrong_password_rejected_imap_starttls() {
    rejected(
        Protocol::Imap,
        Security::StartTls,
        USER,
        "wrong \"quoted\" wörd",
    );
}

#[test]
fn wrong_password_rejected_pop3_tls() {
    rejected(Protocol::Pop3, Security::Tls, USER, "wrong");
}

#[test]
fn wrong_password_rejected_pop3_stls() {
    rejected(Protocol::Pop3, Security::StartTls, USER, "wrong");
}

#[test]
fn unknown_user_rejected() {
    rejected(Protocol::Imap, Security::Tls, "nobody-here", PASSWORD);
}

#[test]
fn plain_is_refused_unless_allowed() {
    let Some(d) = Dovecot::start() else { return };
    for protocol in [Protocol::Imap, Protocol::Pop3] {
        let server = d.server(protocol, Security::Plain);
        let refused = verify(&server, USER, PASSWORD, &d.trust(), TIMEOUT);
        assert!(
            matches!(refused, Err(RemoteLoginError::InsecureRefused { .. })),
            "{refused:?}"
        );
        let allowed = TlsTrust {
            allow_plaintext: true,
            ..d.trust()
        };
        assert_eq!(verify(&server, USER, PASSWORD, &allowed, TIMEOUT), Ok(()));
    }
}

#[test]
fn untrusted_certificate_is_a_tls_error() {
    let Some(d) = Dovecot::start() else { return };
    let (other_ca, _, _) = make_certs("some other CA");
    for trust in [
        TlsTrust::default(),
        TlsTrust {
            extra_roots_pem: Some(other_ca.into_bytes()),
            only_extra_roots: true,
            ..TlsTrust::default()
        },
    ] {
        for (protocol, security) in ALL {
            let server = d.server(protocol, security);
            let err = verify(&server, USER, PASSWORD, &trust, TIMEOUT).unwrap_err();
            assert!(
                matches!(err, RemoteLoginError::Tls { .. }),
                "{server:?}: {err:?}"
            );
            assert!(!err.to_string().contains(PASSWORD));
        }
    }
}

#[test]
fn nothing_listening_is_unreachable_quickly() {
    let port = free_port();
    let server = RemoteServer {
        host: "127.0.0.1".into(),
        port,
        protocol: Protocol::Imap,
        security: Security::Tls,
    };
    let start = Instant::now();
    let err = verify(&server, USER, PASSWORD, &TlsTrust::default(), TIMEOUT).unwrap_err();
    assert!(
        matches!(err, RemoteLoginError::Unreachable { .. }),
        "{err:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(err.to_string().contains("try again later"), "{err}");
}

#[test]
fn silent_server_times_out_within_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts, reads whatever comes, never answers.
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    for (protocol, security) in ALL {
        let server = RemoteServer {
            host: "127.0.0.1".into(),
            port,
            protocol,
            security,
        };
        let deadline = Duration::from_millis(700);
        let start = Instant::now();
        let err = verify(&server, USER, PASSWORD, &TlsTrust::default(), deadline).unwrap_err();
        let took = start.elapsed();
        assert!(matches!(err, RemoteLoginError::Timeout { .. }), "{err:?}");
        assert!(
            took >= deadline && took < deadline + Duration::from_secs(2),
            "{took:?}"
        );
    }
}

/// A fake server on loopback that plays `script` to the first client: for
/// each entry, write it, then read one line (if `read_after`).
fn fake_server(script: Vec<(Vec<u8>, bool)>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        let (conn, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut conn = conn;
        for (bytes, read_after) in script {
            if conn.write_all(&bytes).is_err() {
                return;
            }
            if read_after {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    });
    port
}

#[test]
fn data_injected_behind_stls_reply_is_refused() {
    // "+OK injected" arrives in clear with the STLS reply: it must not be
    // taken as the reply to USER under TLS (CVE-2011-0411).
    let port = fake_server(vec![
        (b"+OK ready\r\n".to_vec(), true),
        (b"+OK go ahead\r\n+OK injected\r\n".to_vec(), true),
    ]);
    let server = RemoteServer {
        host: "127.0.0.1".into(),
        port,
        protocol: Protocol::Pop3,
        security: Security::StartTls,
    };
    let err = verify(&server, USER, PASSWORD, &TlsTrust::default(), TIMEOUT).unwrap_err();
    assert!(
        matches!(&err, RemoteLoginError::Protocol { detail, .. } if detail.contains("STARTTLS")),
        "{err:?}"
    );
}

#[test]
fn overlong_and_early_close_replies_are_protocol_errors() {
    let plain = TlsTrust {
        allow_plaintext: true,
        ..TlsTrust::default()
    };
    for script in [
        vec![(vec![b'x'; 100_000], false)],
        vec![(b"* OK ready\r\n".to_vec(), true)],
        vec![(b"\x00\xff garbage\r\n".to_vec(), true)],
    ] {
        let port = fake_server(script);
        let server = RemoteServer {
            host: "127.0.0.1".into(),
            port,
            protocol: Protocol::Imap,
            security: Security::Plain,
        };
        let err = verify(&server, USER, PASSWORD, &plain, TIMEOUT).unwrap_err();
        assert!(matches!(err, RemoteLoginError::Protocol { .. }), "{err:?}");
        assert!(!err.to_string().contains(PASSWORD));
    }
}

#[test]
fn settings_json_round_trip() {
    let json = r#"{"host":"mail.example.com","port":993,"protocol":"imap","security":"tls"}"#;
    let server: RemoteServer = serde_json::from_str(json).unwrap();
    assert_eq!(
        server.port,
        RemoteServer::default_port(Protocol::Imap, Security::Tls)
    );
    assert_eq!(serde_json::to_string(&server).unwrap(), json);
    assert!(serde_json::from_str::<RemoteServer>(
        r#"{"host":"h","port":1,"protocol":"smtp","security":"tls"}"#
    )
    .is_err());
}
