//! Firmware updates against a real `filterbox up` whose updater works under
//! a directory standing in for `/` (`FILTERBOX_FIRMWARE_ROOT`): files as the
//! slots' partitions, a boot directory with GRUB's environment. Covers
//! marking the boot good once healthy, uploads through the manager's API
//! (good and refused), an install from a URL, a USB stick noticed and
//! installed through the control socket with the reboot, and the CLI.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{free_port, wait_until, EXE};
use model::api::FirmwareUrl;
use model::client::ApiClient;
use model::control::{ask, ControlRequest, ControlResponse, FirmwareStatus, InstallState};
use model::Endpoint;
use update::envfile::EnvFiles;
use update::grubenv::GrubEnv;

const BOARD: &str = "filterbox-x86_64";
const SLOT_SIZE: u64 = 4 * 1024 * 1024;

/// The stand-in for `/` and the data directory.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        let dir = tempfile::tempdir().unwrap();
        let r = Root { dir };
        for d in [
            "proc",
            "etc/filterbox",
            "dev",
            "run/boot/grub",
            "run/usb",
            "sys/block",
            "data",
            "work",
        ] {
            std::fs::create_dir_all(r.path(d)).unwrap();
        }
        std::fs::write(
            r.path("proc/cmdline"),
            "filterbox.slot=A filterbox.data=PARTNAME=data\n",
        )
        .unwrap();
        std::fs::write(r.path("etc/filterbox-release"), "0.1.0\n").unwrap();
        std::fs::write(r.path("etc/filterbox-board"), format!("{BOARD}\n")).unwrap();
        for (n, slot) in [(3, "A"), (4, "B")] {
            let entry = r.path(&format!("sys/class/block/vda{n}"));
            std::fs::create_dir_all(&entry).unwrap();
            let uevent =
                format!("DEVNAME=slot{slot}.img\nDEVTYPE=partition\nPARTNAME=root{slot}\n");
            std::fs::write(entry.join("uevent"), uevent).unwrap();
            let f = std::fs::File::create(r.path(&format!("dev/slot{slot}.img"))).unwrap();
            f.set_len(SLOT_SIZE).unwrap();
        }
        // The release key: made with the CLI, as the image build does.
        let out = r.cli(&[
            "update",
            "keygen",
            "-o",
            &r.work("release").to_string_lossy(),
        ]);
        assert!(out.contains("release.pub"), "{out}");
        std::fs::copy(r.work("release.pub"), r.path("etc/filterbox/update.pub")).unwrap();
        let mut env = GrubEnv::default();
        for (k, v) in [
            ("ORDER", "A B"),
            ("A_OK", "1"),
            ("B_OK", "1"),
            ("A_TRY", "1"),
            ("B_TRY", "0"),
        ] {
            env.set(k, v).unwrap();
        }
        r.env_files().save(&env).unwrap();
        r
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn work(&self, name: &str) -> PathBuf {
        self.path("work").join(name)
    }

    fn env_files(&self) -> EnvFiles {
        EnvFiles::in_boot_dir(&self.path("run/boot"))
    }

    fn env(&self, key: &str) -> Option<String> {
        self.env_files().load().0.get(key).map(str::to_string)
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(EXE).args(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "filterbox {args:?}: {text}");
        text
    }

    /// A bundle of `version` for `board`, signed with the release key (or
    /// `key`), through `filterbox update sign`.
    fn bundle(&self, name: &str, version: &str, board: &str, key: Option<&Path>) -> PathBuf {
        let rootfs = self.work(&format!("{name}.img"));
        let bytes: Vec<u8> = (0..300_000u32)
            .map(|i| (i * 7 % 253) as u8 ^ version.len() as u8)
            .collect();
        std::fs::write(&rootfs, bytes).unwrap();
        let out = self.work(name);
        let key = key.map_or_else(|| self.work("release.sec"), Path::to_path_buf);
        self.cli(&[
            "update",
            "sign",
            "--key",
            &key.to_string_lossy(),
            "--rootfs",
            &rootfs.to_string_lossy(),
            "--version",
            version,
            "--board",
            board,
            "-o",
            &out.to_string_lossy(),
        ]);
        out
    }
}

/// `filterbox up` on the root's data directory, API on a free TCP port.
struct Up {
    child: Option<Child>,
    logs: Arc<Mutex<Vec<String>>>,
    api: String,
    data: PathBuf,
}

impl Up {
    fn start(root: &Root) -> Up {
        let api = format!("127.0.0.1:{}", free_port());
        let port = || format!("127.0.0.1:{}", free_port());
        let data = root.path("data");
        let mut child = Command::new(EXE)
            .args(["up", "--data-dir"])
            .arg(&data)
            .args([
                "--smtp-listen",
                &port(),
                "--submission-listen",
                &port(),
                "--smtps-listen",
                &port(),
                "--api-listen",
                &api,
            ])
            .env("FILTERBOX_FIRMWARE_ROOT", root.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (out, sink) = (child.stderr.take().unwrap(), logs.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let up = Up {
            child: Some(child),
            logs,
            api,
            data,
        };
        up.wait_for_log("ready:", 1);
        up
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    fn wait_for_log(&self, needle: &str, count: usize) {
        wait_until(Duration::from_secs(60), needle, || {
            (self.logs().matches(needle).count() >= count).then_some(())
        });
    }

    fn client(&self) -> ApiClient {
        let token = std::fs::read_to_string(self.data.join("api-token")).unwrap();
        ApiClient::new(Endpoint::Tcp(self.api.clone()))
            .with_token(Some(token.trim().to_string()))
            .with_timeout(Duration::from_secs(120))
    }

    fn firmware(&self) -> FirmwareStatus {
        match ask(
            &self.data.join("control.sock"),
            &ControlRequest::FirmwareStatus,
            Duration::from_secs(10),
        )
        .unwrap()
        {
            ControlResponse::Firmware(s) => *s,
            other => panic!("{other:?}"),
        }
    }

    /// Waits for the outcome of the install under way.
    fn outcome(&self) -> InstallState {
        wait_until(
            Duration::from_secs(60),
            "the install's outcome",
            || match self.firmware().install {
                Some(InstallState::Installing { .. }) | None => None,
                Some(done) => Some(done),
            },
        )
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- filterbox output ----\n{}", self.logs());
        }
    }
}

fn upload(up: &Up, bundle: &Path, force: bool) -> Result<String, (u16, String)> {
    let len = std::fs::metadata(bundle).unwrap().len();
    let mut f = std::fs::File::open(bundle).unwrap();
    up.client()
        .firmware_upload(&mut f, len, force, false)
        .map(|a| a.message)
        .map_err(|e| (e.status().unwrap_or(0), e.to_string()))
}

/// Serves `file` once over HTTP on a free loopback port; the URL.
fn serve_once(file: PathBuf) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/bundles/new.fbu", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap() == 1 {
            head.push(byte[0]);
        }
        assert!(head.starts_with(b"GET /bundles/new.fbu HTTP/1.1\r\n"));
        let body = std::fs::read(&file).unwrap();
        write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        let _ = s.write_all(&body);
    });
    url
}

#[test]
fn uploads_urls_usb_and_the_cli_install_into_the_other_slot() {
    let root = Root::new();
    let up = Up::start(&root);
    // Every role healthy: the boot is marked good by itself.
    up.wait_for_log("slot A marked good", 1);
    assert_eq!(root.env("A_TRY").as_deref(), Some("0"));
    let s = up.client().firmware_status().unwrap();
    assert_eq!(
        (s.version.as_str(), s.boot_slot.as_deref()),
        ("0.1.0", Some("A"))
    );
    assert_eq!(s.next_boot.as_deref(), Some("A"));

    // Refused uploads: precise 422s, nothing switched.
    let env_before = std::fs::read(root.env_files().primary).unwrap();
    let other = root.work("other");
    root.cli(&["update", "keygen", "-o", &other.to_string_lossy()]);
    let cases = [
        (
            root.bundle("foreign.fbu", "0.2.0", BOARD, Some(&root.work("other.sec"))),
            "bad signature",
        ),
        (
            root.bundle("board.fbu", "0.2.0", "other-board", None),
            "wrong board other-board (this box is filterbox-x86_64)",
        ),
        (
            root.bundle("older.fbu", "0.0.1", BOARD, None),
            "older version 0.0.1 <= running 0.1.0 (use force to downgrade)",
        ),
    ];
    for (bundle, why) in &cases {
        let (status, message) = upload(&up, bundle, false).unwrap_err();
        assert_eq!(status, 422, "{message}");
        assert!(message.contains(why), "{message}");
    }
    // Truncated on the wire: the client stops sending and half-closes.
    let good = root.bundle("good.fbu", "0.2.0", BOARD, None);
    let bytes = std::fs::read(&good).unwrap();
    let mut tcp = TcpStream::connect(&up.api).unwrap();
    let token = std::fs::read_to_string(up.data.join("api-token")).unwrap();
    write!(
        tcp,
        "POST /api/v1/firmware/upload?reboot=false HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
        token.trim(),
        bytes.len()
    )
    .unwrap();
    tcp.write_all(&bytes[..bytes.len() - 5000]).unwrap();
    tcp.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 422 "), "{answer}");
    assert!(
        answer.contains("truncated at 295000 of 300000 bytes"),
        "{answer}"
    );
    // No token: refused before anything is read.
    let anonymous = ApiClient::new(Endpoint::Tcp(up.api.clone()));
    let e = anonymous
        .firmware_upload(&mut &bytes[..], bytes.len() as u64, false, false)
        .unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert!(
        std::fs::read(root.env_files().primary).unwrap() == env_before,
        "nothing switched"
    );

    // A good upload: written into B, switched, answered with the outcome.
    let message = upload(&up, &good, false).unwrap();
    assert_eq!(
        message,
        "installed 0.2.0 into slot B; it boots at the next restart"
    );
    assert_eq!(root.env("ORDER").as_deref(), Some("B A"));
    assert_eq!(root.env("B_TRY").as_deref(), Some("0"));
    let written = std::fs::read(root.path("dev/slotB.img")).unwrap();
    assert!(written[..300_000] == std::fs::read(root.work("good.fbu.img")).unwrap()[..]);
    let s = up.client().firmware_status().unwrap();
    assert_eq!(s.slots[1].version.as_deref(), Some("0.2.0"));
    assert_eq!(s.next_boot.as_deref(), Some("B"));

    // From a URL: 202 once verified, the outcome in GET /firmware.
    let url = serve_once(root.bundle("url.fbu", "0.3.0", BOARD, None));
    let accepted = up
        .client()
        .firmware_url(&FirmwareUrl {
            url,
            force: false,
            reboot: false,
        })
        .unwrap();
    assert_eq!(
        accepted.message,
        "verified version 0.3.0 for filterbox-x86_64; installing into slot B"
    );
    match up.outcome() {
        InstallState::Installed { version, slot, .. } => {
            assert_eq!((version.as_str(), slot.as_str()), ("0.3.0", "B"))
        }
        other => panic!("{other:?}"),
    }
    let e = up
        .client()
        .firmware_url(&FirmwareUrl {
            url: "https://example.test/a.fbu".into(),
            force: false,
            reboot: false,
        })
        .unwrap_err();
    assert_eq!(e.status(), Some(422));
    assert!(e.to_string().contains("https is not supported yet"), "{e}");

    // The CLI on the box: a forced downgrade, progress, no reboot.
    let data = up.data.to_string_lossy().into_owned();
    let older = &cases[2].0;
    let out = root.cli(&[
        "update",
        "install",
        &older.to_string_lossy(),
        "--force",
        "--no-reboot",
        "--data-dir",
        &data,
    ]);
    assert!(out.contains("verified version 0.0.1"), "{out}");
    assert!(
        out.contains("installed 0.0.1 into slot B; it boots at the next restart"),
        "{out}"
    );
    let out = root.cli(&["update", "status", "--data-dir", &data]);
    assert!(out.contains("Slot B     0.0.1: usable, tries 0"), "{out}");

    // A USB stick appears with a bundle: offered, installed, rebooted into.
    let stick = root.path("run/usb/sdb");
    std::fs::create_dir_all(&stick).unwrap();
    std::fs::copy(
        root.bundle("usb.fbu", "0.4.0", BOARD, None),
        stick.join("filterbox-0.4.0.fbu"),
    )
    .unwrap();
    std::fs::create_dir_all(root.path("sys/block/sdb")).unwrap();
    let offered = wait_until(Duration::from_secs(20), "the USB bundle offered", || {
        let s = up.client().firmware_status().ok()?;
        s.usb_bundles.into_iter().next()
    });
    assert!(offered.valid, "{offered:?}");
    assert_eq!(offered.version.as_deref(), Some("0.4.0"));
    let answer = ask(
        &up.data.join("control.sock"),
        &ControlRequest::InstallBundle {
            path: offered.path.clone(),
            force: false,
            reboot: true,
        },
        Duration::from_secs(20),
    )
    .unwrap();
    assert_eq!(
        answer,
        ControlResponse::Ok {
            message: "verified version 0.4.0 for filterbox-x86_64; installing into slot B".into()
        }
    );
    up.wait_for_log("rebooting into the new firmware", 1);
    up.wait_for_log("ready:", 2);
    assert_eq!(root.env("ORDER").as_deref(), Some("B A"));
    let s = up.client().firmware_status().unwrap();
    assert_eq!(s.slots[1].version.as_deref(), Some("0.4.0"));
    std::fs::remove_dir(root.path("sys/block/sdb")).unwrap();
    wait_until(Duration::from_secs(20), "the USB bundle gone", || {
        up.client()
            .firmware_status()
            .ok()?
            .usb_bundles
            .is_empty()
            .then_some(())
    });
}
