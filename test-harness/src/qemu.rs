//! Boots the firmware image in QEMU as a test's box.
//!
//! Each [`Vm`] runs its own sparse copy of the image (the built image is
//! never written), under software emulation (`-accel tcg`: KVM is not
//! available everywhere this runs), with
//! - the serial console on a unix socket ([`crate::serial::Serial`]),
//! - a user-mode NIC (`eth0`) whose DHCP gives the box its first address,
//!   isolated (`restrict=on`: nothing leaves this machine) but for host
//!   forwards to the box's SMTP and API ports and guest forwards from the
//!   box to test servers on the host's loopback,
//! - a second NIC (`eth1`) whose frames travel over a unix datagram socket
//!   to the test's LAN host ([`crate::lan::LanHost`]),
//! - the i6300esb watchdog resetting the machine, an xHCI controller for
//!   USB sticks, and the QEMU monitor on a unix socket.
//!
//! Power can be cut (SIGKILL, as for a pulled plug) and given back; every
//! QEMU is killed when its [`Vm`] is dropped.

use std::fs::File;
use std::net::{SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::error::{run, HarnessError, Result};
use crate::monitor::Monitor;
use crate::serial::Serial;

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";

/// Guest memory, as the smallest box has.
pub const DEFAULT_MEMORY_MIB: u32 = 512;

/// The box's SMTP port, forwarded from the host.
pub const BOX_SMTP_PORT: u16 = 25;

/// The box's API port, forwarded from the host.
pub const BOX_API_PORT: u16 = 8080;

/// Time QEMU gets to create its sockets.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// A connection the box opens to `guest` (an address of the user-mode
/// network, e.g. `10.0.2.100:25`) reaches `127.0.0.1:host_port` here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestForward {
    /// The address the box connects to.
    pub guest: SocketAddrV4,
    /// The host's loopback port it reaches.
    pub host_port: u16,
}

/// Where the box's console goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsoleSink {
    /// A unix socket the harness connects to.
    Socket(PathBuf),
    /// This process's terminal, with QEMU's monitor on Ctrl-A C (interactive use).
    Stdio,
}

/// Host ports forwarded to the box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    /// `127.0.0.1:smtp` reaches the box's port 25.
    pub smtp: u16,
    /// `127.0.0.1:api` reaches the box's port 8080.
    pub api: u16,
}

impl Ports {
    /// Two free loopback ports.
    pub fn free() -> Result<Ports> {
        Ok(Ports {
            smtp: free_port()?,
            api: free_port()?,
        })
    }
}

/// A free loopback TCP port (bound, read, released).
pub fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(HarnessError::io("finding a free port"))
}

/// Everything one QEMU run is started with.
#[derive(Clone, Debug)]
pub struct Launch {
    /// The box's disk (a copy of the image, or an overlay over it).
    pub disk: PathBuf,
    /// Its format: `raw` for a copy, `qcow2` for an overlay.
    pub disk_format: &'static str,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Host ports forwarded to the box.
    pub ports: Ports,
    /// Connections from the box to test servers on the host.
    pub guest_forwards: Vec<GuestForward>,
    /// The console.
    pub console: ConsoleSink,
    /// The monitor's unix socket (none with [`ConsoleSink::Stdio`]: the
    /// monitor shares the terminal).
    pub monitor: Option<PathBuf>,
    /// The second NIC: (QEMU's socket, the LAN host's socket).
    pub lan: Option<(PathBuf, PathBuf)>,
    /// A raw disk image plugged in as a USB stick from power-on.
    pub usb_stick: Option<PathBuf>,
    /// Start with the CPU stopped (the harness starts it once connected).
    pub paused: bool,
}

impl Launch {
    /// QEMU's arguments for this launch.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut add = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
        let memory = self.memory_mib.to_string();
        // `max` has RDRAND, as the box's CPUs do: without a hardware
        // source of randomness the kernel's pool starts empty and the
        // manager's first getrandom() blocks for minutes under emulation.
        add(&["-accel", "tcg", "-cpu", "max", "-m", &memory, "-smp", "1"]);
        add(&["-nodefaults", "-no-user-config", "-display", "none"]);
        add(&["-name", "filterbox"]);
        let disk = format!(
            "file={},format={},if=virtio,cache=writeback",
            self.disk.display(),
            self.disk_format
        );
        add(&["-drive", &disk]);
        match &self.console {
            ConsoleSink::Socket(path) => {
                let chardev = format!("socket,id=s0,path={},server=on,wait=off", path.display());
                add(&["-chardev", &chardev, "-serial", "chardev:s0"]);
            }
            ConsoleSink::Stdio => add(&["-serial", "mon:stdio"]),
        }
        if let Some(path) = &self.monitor {
            let chardev = format!("socket,id=mon,path={},server=on,wait=off", path.display());
            add(&["-chardev", &chardev, "-mon", "chardev=mon,mode=readline"]);
        }
        let wan = self.wan_netdev();
        add(&["-netdev", &wan]);
        add(&["-device", "virtio-net-pci,netdev=wan,mac=52:54:00:fb:00:01"]);
        if let Some((qemu_side, host_side)) = &self.lan {
            let lan = format!(
                "dgram,id=lan,local.type=unix,local.path={},remote.type=unix,remote.path={}",
                qemu_side.display(),
                host_side.display()
            );
            add(&["-netdev", &lan]);
            add(&["-device", "virtio-net-pci,netdev=lan,mac=52:54:00:fb:00:02"]);
        }
        add(&["-device", "i6300esb", "-action", "watchdog=reset"]);
        add(&["-device", "qemu-xhci,id=xhci"]);
        if let Some(stick) = &self.usb_stick {
            let drive = format!("if=none,id=stick,format=raw,file={}", stick.display());
            add(&["-drive", &drive]);
            add(&["-device", "usb-storage,bus=xhci.0,drive=stick,id=stickdev"]);
        }
        if self.paused {
            add(&["-S"]);
        }
        a
    }

    fn wan_netdev(&self) -> String {
        let mut wan = String::from("user,id=wan,restrict=on");
        for (host, guest) in [
            (self.ports.smtp, BOX_SMTP_PORT),
            (self.ports.api, BOX_API_PORT),
        ] {
            wan.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"));
        }
        for f in &self.guest_forwards {
            // A command per connection: a chardev would carry only one.
            wan.push_str(&format!(
                ",guestfwd=tcp:{}-cmd:/bin/busybox nc 127.0.0.1 {}",
                f.guest, f.host_port
            ));
        }
        wan
    }
}

/// How a test's box is made.
#[derive(Clone, Debug)]
pub struct VmSpec {
    /// The built disk image (raw); the box runs a copy.
    pub image: PathBuf,
    /// A name for logs (the test's).
    pub name: String,
    /// Guest memory in MiB.
    pub memory_mib: u32,
    /// Connections from the box to test servers on the host.
    pub guest_forwards: Vec<GuestForward>,
    /// Whether the box gets the second NIC for a LAN host.
    pub lan: bool,
    /// Where the console transcript is also written, one file per power-on.
    pub log_dir: Option<PathBuf>,
}

impl VmSpec {
    /// A box booting `image`, 512 MiB, with the LAN NIC.
    pub fn new(image: &Path, name: &str) -> VmSpec {
        VmSpec {
            image: image.to_path_buf(),
            name: name.to_string(),
            memory_mib: DEFAULT_MEMORY_MIB,
            guest_forwards: Vec::new(),
            lan: true,
            log_dir: None,
        }
    }
}

/// One test's box: its disk, its sockets and, while powered, its QEMU.
pub struct Vm {
    spec: VmSpec,
    dir: tempfile::TempDir,
    disk: PathBuf,
    ports: Ports,
    running: Option<Running>,
    power_ons: u32,
    usb_stick: Option<PathBuf>,
}

struct Running {
    child: Child,
    monitor: Monitor,
    started: Instant,
}

impl Vm {
    /// Makes the box's disk: a sparse copy of the image.
    pub fn create(spec: VmSpec) -> Result<Vm> {
        let image = spec.image.canonicalize().map_err(HarnessError::io(format!(
            "finding {}",
            spec.image.display()
        )))?;
        // Unix socket paths are short: keep them under the system's tmp.
        let dir = tempfile::Builder::new()
            .prefix("fbvm-")
            .tempdir()
            .map_err(HarnessError::io("making the VM's directory"))?;
        // A sparse copy costs only the image's data, and a killed QEMU
        // leaves exactly what it wrote (no overlay metadata to lose).
        let disk = dir.path().join("disk.img");
        run(Command::new("cp")
            .arg("--sparse=always")
            .arg(&image)
            .arg(&disk))?;
        Ok(Vm {
            spec,
            dir,
            disk,
            ports: Ports::free()?,
            running: None,
            power_ons: 0,
            usb_stick: None,
        })
    }

    /// Host ports forwarded to the box (valid from the next power-on on).
    pub fn ports(&self) -> Ports {
        self.ports
    }

    /// The LAN's two socket paths: (QEMU's, the LAN host's).
    pub fn lan_sockets(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.path().join("lan-qemu.sock"),
            self.dir.path().join("lan-host.sock"),
        )
    }

    /// Plugs `stick` (a raw image) in at the next power-on too.
    pub fn set_boot_usb_stick(&mut self, stick: Option<PathBuf>) {
        self.usb_stick = stick;
    }

    /// Starts QEMU and the CPU; returns the console, connected before the
    /// first instruction runs.
    pub fn power_on(&mut self) -> Result<Serial> {
        if self.running.is_some() {
            return Err(HarnessError::Unexpected("the VM is already on".into()));
        }
        let serial_path = self.dir.path().join("serial.sock");
        let monitor_path = self.dir.path().join("monitor.sock");
        let (lan_qemu, lan_host) = self.lan_sockets();
        for stale in [&serial_path, &monitor_path, &lan_qemu] {
            let _ = std::fs::remove_file(stale);
        }
        let launch = Launch {
            disk: self.disk.clone(),
            disk_format: "raw",
            memory_mib: self.spec.memory_mib,
            ports: self.ports,
            guest_forwards: self.spec.guest_forwards.clone(),
            console: ConsoleSink::Socket(serial_path.clone()),
            monitor: Some(monitor_path.clone()),
            lan: self.spec.lan.then_some((lan_qemu, lan_host)),
            usb_stick: self.usb_stick.clone(),
            paused: true,
        };
        self.power_ons += 1;
        let qemu_log = self.dir.path().join(format!("qemu-{}.log", self.power_ons));
        let log = File::create(&qemu_log).map_err(HarnessError::io("creating QEMU's log"))?;
        let err = log.try_clone().map_err(HarnessError::io("QEMU's log"))?;
        let mut child = Command::new(QEMU)
            .args(launch.args())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(HarnessError::io(format!("starting {QEMU}")))?;
        let console_log = self.console_log()?;
        let connected = (|| -> Result<(Serial, Monitor)> {
            wait_for_sockets(&mut child, &[&serial_path, &monitor_path])?;
            let serial = Serial::connect(&serial_path, console_log)?;
            let mut monitor = Monitor::connect(&monitor_path)?;
            monitor.command("cont")?;
            Ok((serial, monitor))
        })();
        match connected {
            Ok((serial, monitor)) => {
                self.running = Some(Running {
                    child,
                    monitor,
                    started: Instant::now(),
                });
                Ok(serial)
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let output = std::fs::read_to_string(&qemu_log).unwrap_or_default();
                Err(HarnessError::Unexpected(format!(
                    "{e}; QEMU said: {output}"
                )))
            }
        }
    }

    /// When the CPU of the running QEMU started.
    pub fn powered_on_at(&self) -> Option<Instant> {
        self.running.as_ref().map(|r| r.started)
    }

    /// Cuts the power: SIGKILL to QEMU, as a pulled plug (the disk keeps
    /// what QEMU wrote, nothing more).
    pub fn power_cut(&mut self) -> Result<()> {
        if let Some(mut running) = self.running.take() {
            running
                .child
                .kill()
                .map_err(HarnessError::io("killing QEMU"))?;
            running
                .child
                .wait()
                .map_err(HarnessError::io("reaping QEMU"))?;
        }
        Ok(())
    }

    /// Stops QEMU through its monitor (`quit`), as a clean end of a test.
    pub fn quit(&mut self) -> Result<()> {
        if let Some(running) = self.running.as_mut() {
            // QEMU closes the monitor as it quits: no answer to wait for.
            let _ = running.monitor.send("quit");
            if wait_exit(&mut running.child, Duration::from_secs(10))?.is_none() {
                return self.power_cut();
            }
            self.running = None;
        }
        Ok(())
    }

    /// Waits up to `timeout` for QEMU to exit by itself (the box powered
    /// off); `None` if it still runs.
    pub fn wait_power_off(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let Some(running) = self.running.as_mut() else {
            return Err(HarnessError::Unexpected("the VM is not on".into()));
        };
        let status = wait_exit(&mut running.child, timeout)?;
        if status.is_some() {
            self.running = None;
        }
        Ok(status)
    }

    /// Sends a command to QEMU's monitor; returns its answer.
    pub fn monitor(&mut self, command: &str) -> Result<String> {
        match self.running.as_mut() {
            Some(running) => running.monitor.command(command),
            None => Err(HarnessError::Unexpected("the VM is not on".into())),
        }
    }

    /// Plugs `stick` (a raw image) into the running box's USB port.
    pub fn plug_usb(&mut self, stick: &Path) -> Result<()> {
        let answer = self.monitor(&format!(
            "drive_add 0 if=none,id=hotstick,format=raw,file={}",
            stick.display()
        ))?;
        if !answer.contains("OK") {
            return Err(HarnessError::Unexpected(format!("drive_add: {answer}")));
        }
        let answer =
            self.monitor("device_add usb-storage,bus=xhci.0,drive=hotstick,id=hotstickdev")?;
        if !answer.trim().is_empty() {
            return Err(HarnessError::Unexpected(format!("device_add: {answer}")));
        }
        Ok(())
    }

    /// Pulls the stick plugged in by [`Vm::plug_usb`].
    pub fn unplug_usb(&mut self) -> Result<()> {
        self.monitor("device_del hotstickdev").map(drop)
    }

    fn console_log(&self) -> Result<Option<File>> {
        let Some(dir) = &self.spec.log_dir else {
            return Ok(None);
        };
        std::fs::create_dir_all(dir)
            .map_err(HarnessError::io(format!("creating {}", dir.display())))?;
        let path = dir.join(format!(
            "{}-boot{}.console.log",
            self.spec.name, self.power_ons
        ));
        File::create(&path)
            .map(Some)
            .map_err(HarnessError::io(format!("creating {}", path.display())))
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.power_cut();
    }
}

fn wait_for_sockets(child: &mut Child, paths: &[&Path]) -> Result<()> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while !paths.iter().all(|p| p.exists()) {
        if let Some(status) = child
            .try_wait()
            .map_err(HarnessError::io("watching QEMU"))?
        {
            return Err(HarnessError::Unexpected(format!(
                "QEMU exited at start ({status})"
            )));
        }
        if Instant::now() > deadline {
            return Err(HarnessError::Unexpected(format!(
                "QEMU made no sockets in {STARTUP_TIMEOUT:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn wait_exit(child: &mut Child, timeout: Duration) -> Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(HarnessError::io("watching QEMU"))?
        {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch() -> Launch {
        Launch {
            disk: "/d/disk.qcow2".into(),
            disk_format: "qcow2",
            memory_mib: 512,
            ports: Ports {
                smtp: 2525,
                api: 8080,
            },
            guest_forwards: vec![GuestForward {
                guest: "10.0.2.100:25".parse().unwrap(),
                host_port: 4025,
            }],
            console: ConsoleSink::Socket("/d/serial.sock".into()),
            monitor: Some("/d/monitor.sock".into()),
            lan: Some(("/d/lq.sock".into(), "/d/lh.sock".into())),
            usb_stick: None,
            paused: true,
        }
    }

    #[test]
    fn command_line_has_the_box_hardware() {
        let args = launch().args().join(" ");
        for part in [
            "-accel tcg -cpu max -m 512",
            "-drive file=/d/disk.qcow2,format=qcow2,if=virtio",
            "-chardev socket,id=s0,path=/d/serial.sock,server=on,wait=off -serial chardev:s0",
            "user,id=wan,restrict=on,hostfwd=tcp:127.0.0.1:2525-:25,hostfwd=tcp:127.0.0.1:8080-:8080,\
             guestfwd=tcp:10.0.2.100:25-cmd:/bin/busybox nc 127.0.0.1 4025",
            "dgram,id=lan,local.type=unix,local.path=/d/lq.sock,remote.type=unix,remote.path=/d/lh.sock",
            "-device i6300esb -action watchdog=reset",
            "-S",
        ] {
            assert!(args.contains(part), "{part:?} missing from {args}");
        }
        assert!(!args.contains("kvm"), "never KVM: {args}");
        assert!(!args.contains("usb-storage"));
        // eth0 is the user-mode NIC: it comes first.
        assert!(args.find("netdev=wan").unwrap() < args.find("netdev=lan").unwrap());
    }

    #[test]
    fn interactive_console_and_a_stick() {
        let mut l = launch();
        l.console = ConsoleSink::Stdio;
        l.monitor = None;
        l.paused = false;
        l.usb_stick = Some("/d/stick.img".into());
        let args = l.args().join(" ");
        assert!(args.contains("-serial mon:stdio"), "{args}");
        assert!(!args.contains("-mon ") && !args.contains(" -S"), "{args}");
        assert!(args.contains("-drive if=none,id=stick,format=raw,file=/d/stick.img"));
        assert!(args.contains("usb-storage,bus=xhci.0,drive=stick"));
    }

    #[test]
    fn a_machine_boots_its_disk_takes_a_stick_and_dies_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("hello.img");
        std::fs::write(&disk, hello_disk()).unwrap();
        let mut spec = VmSpec::new(&disk, "hello");
        spec.lan = false;
        let mut vm = Vm::create(spec).unwrap();
        let mut serial = vm.power_on().unwrap();
        assert!(vm.monitor("info status").unwrap().contains("running"));
        serial
            .expect("filterbox-serial-ok", Duration::from_secs(60))
            .unwrap();
        let stick = dir.path().join("stick.img");
        std::fs::File::create(&stick)
            .unwrap()
            .set_len(1 << 20)
            .unwrap();
        vm.plug_usb(&stick).unwrap();
        let usb = vm.monitor("info usb").unwrap();
        assert!(usb.contains("USB MSD, ID: hotstickdev"), "{usb:?}");
        vm.unplug_usb().unwrap();
        let pid = vm.running.as_ref().unwrap().child.id();
        drop(vm);
        // Killed and reaped: no such process any more.
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }

    /// A 1 MiB disk whose boot sector writes a line to COM1 and halts.
    fn hello_disk() -> Vec<u8> {
        let mut code = vec![
            0x31, 0xc0, // xor ax, ax
            0x8e, 0xd8, // mov ds, ax
            0xfc, // cld
            0xba, 0xf8, 0x03, // mov dx, 0x3f8 (COM1)
            0xbe, 0x16, 0x7c, // mov si, message (0x7c00 + 22)
            0xac, // next: lodsb
            0x84, 0xc0, // test al, al
            0x74, 0x03, // jz halt
            0xee, // out dx, al
            0xeb, 0xf8, // jmp next
            0xf4, // halt: hlt
            0xeb, 0xfd, // jmp halt
        ];
        code.extend_from_slice(b"filterbox-serial-ok\r\n\0");
        let mut disk = vec![0u8; 1 << 20];
        disk[..code.len()].copy_from_slice(&code);
        disk[510] = 0x55;
        disk[511] = 0xaa;
        disk
    }
}
