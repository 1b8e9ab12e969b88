//! vm: boots the firmware image in QEMU with the console on this terminal
//! (what `scripts/up` runs), on the same virtual hardware as the tests.
//!
//! The box's disk is a copy of the image kept between runs (`--fresh`
//! starts again from the image). SMTP and the API are forwarded to
//! loopback ports, printed before the console starts; the box reaches a
//! mail server on this machine's `127.0.0.1:DELIVER_PORT` as `10.0.2.100:25`
//! (nothing else: its network is isolated). Ctrl-A X quits QEMU, Ctrl-A C
//! switches to its monitor.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context};
use clap::Parser;
use test_harness::firmware::Firmware;
use test_harness::qemu::{ConsoleSink, GuestForward, Launch, Ports, DEFAULT_MEMORY_MIB, QEMU};
use test_harness::testbox::DELIVERY_HOST;

/// Boots the firmware image with the console on this terminal.
#[derive(Parser)]
struct Args {
    /// Start again from the built image (a new box).
    #[arg(long)]
    fresh: bool,
    /// The box's disk, a copy of the image kept between runs.
    #[arg(long, default_value_os_t = Firmware::of_this_checkout().out_dir().join("qemu-disk.img"))]
    disk: PathBuf,
    /// Loopback port forwarded to the box's SMTP port (a free one if taken).
    #[arg(long, default_value_t = 2525)]
    smtp_port: u16,
    /// Loopback port forwarded to the box's API port (a free one if taken).
    #[arg(long, default_value_t = 8080)]
    api_port: u16,
    /// Loopback port of a mail server here that the box reaches as 10.0.2.100:25.
    #[arg(long, default_value_t = 2626)]
    deliver_port: u16,
    /// A raw disk image plugged in as a USB stick.
    #[arg(long)]
    stick: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let image = Firmware::of_this_checkout().image()?;
    if args.fresh || !args.disk.exists() {
        let status = Command::new("cp")
            .arg("--sparse=always")
            .arg(&image)
            .arg(&args.disk)
            .status()
            .context("copying the image")?;
        if !status.success() {
            bail!("cannot copy {} to {}", image.display(), args.disk.display());
        }
        eprintln!(
            "new box: {} (a copy of {})",
            args.disk.display(),
            image.display()
        );
    } else {
        eprintln!("box disk {} (--fresh for a new box)", args.disk.display());
    }
    let ports = Ports {
        smtp: port_or_free(args.smtp_port)?,
        api: port_or_free(args.api_port)?,
    };
    let launch = Launch {
        disk: args.disk.clone(),
        disk_format: "raw",
        memory_mib: DEFAULT_MEMORY_MIB,
        ports,
        guest_forwards: vec![GuestForward {
            guest: std::net::SocketAddrV4::new(DELIVERY_HOST, 25),
            host_port: args.deliver_port,
        }],
        console: ConsoleSink::Stdio,
        monitor: None,
        lan: None,
        usb_stick: args.stick.clone(),
        paused: false,
    };
    let summary = format!(
        "filterbox: SMTP 127.0.0.1:{} -> box:25, API http://127.0.0.1:{} -> box:8080",
        ports.smtp, ports.api
    );
    eprintln!("{summary}");
    eprintln!(
        "mail from the box to {DELIVERY_HOST}:25 reaches 127.0.0.1:{} here",
        args.deliver_port
    );
    eprintln!("console follows (GRUB clears the screen: the ports are in the window title too);");
    eprintln!("Ctrl-A X quits, Ctrl-A C is QEMU's monitor");
    // The title stays visible while the console scrolls.
    eprint!("\x1b]0;{summary}\x07");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let status = Command::new(QEMU)
        .args(launch.args())
        .status()
        .context(format!("running {QEMU}"))?;
    eprintln!("\n{summary} (QEMU ended: {status})");
    Ok(())
}

/// `port` if it is free on loopback, else a free one.
fn port_or_free(port: u16) -> anyhow::Result<u16> {
    if TcpListener::bind(("127.0.0.1", port)).is_ok() {
        return Ok(port);
    }
    let free = test_harness::qemu::free_port()?;
    eprintln!("port {port} is taken; using {free}");
    Ok(free)
}
