//! A booted box as a test sees it: the VM, its console, its API on a
//! forwarded port, and the admin password the test gave it.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use model::client::ApiClient;
use model::endpoint::Endpoint;

use crate::console;
use crate::error::{HarnessError, Result};
use crate::firmware::Firmware;
use crate::qemu::{GuestForward, Vm, VmSpec};
use crate::serial::Serial;

/// What the console shows once every role is up: the supervisor's line
/// `ready: address ... on eth0, ..., SMTP on 0.0.0.0:25, ...`.
pub const READY: &str = r"ready: [^\n]*SMTP on";

/// How long a boot may take under emulation (GRUB, kernel, first-boot mkfs).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// The address the box delivers to for the test's mail server: a guest
/// forward of the user-mode network to the host's loopback.
pub const DELIVERY_HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);

/// The admin password tests give their boxes.
pub const ADMIN_PASSWORD: &str = "e2e-admin-password";

/// A box under test.
pub struct TestBox {
    /// The VM.
    pub vm: Vm,
    /// Its console.
    pub serial: Serial,
    token: Option<String>,
}

/// How [`TestBox::boot`] makes the box.
#[derive(Clone, Debug)]
pub struct BoxOptions {
    /// The test's name, for logs.
    pub name: String,
    /// A host loopback port the box reaches as `DELIVERY_HOST:25`.
    pub delivery_port: Option<u16>,
    /// A USB stick plugged in from power-on.
    pub usb_stick: Option<PathBuf>,
}

impl BoxOptions {
    /// A plain box named `name`.
    pub fn new(name: &str) -> BoxOptions {
        BoxOptions {
            name: name.to_string(),
            delivery_port: None,
            usb_stick: None,
        }
    }
}

impl TestBox {
    /// Makes a box from the checkout's image and powers it on; returns it
    /// without waiting for the boot.
    pub fn power_on(options: &BoxOptions) -> Result<TestBox> {
        let image = Firmware::of_this_checkout().image()?;
        let mut spec = VmSpec::new(&image, &options.name);
        spec.log_dir = Some(log_dir());
        if let Some(port) = options.delivery_port {
            spec.guest_forwards.push(GuestForward {
                guest: std::net::SocketAddrV4::new(DELIVERY_HOST, 25),
                host_port: port,
            });
        }
        let mut vm = Vm::create(spec)?;
        vm.set_boot_usb_stick(options.usb_stick.clone());
        let serial = vm.power_on()?;
        Ok(TestBox {
            vm,
            serial,
            token: None,
        })
    }

    /// Powers a box on and waits for "ready"; returns it and the time
    /// from power-on to ready.
    pub fn boot(options: &BoxOptions) -> Result<(TestBox, Duration)> {
        let mut b = TestBox::power_on(options)?;
        let took = b.wait_ready(BOOT_TIMEOUT)?;
        eprintln!(
            "{}: power-on to ready in {:.1} s",
            options.name,
            took.as_secs_f64()
        );
        Ok((b, took))
    }

    /// Waits for the console's "ready"; returns the time since power-on.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Duration> {
        let since = self.vm.powered_on_at().unwrap_or_else(Instant::now);
        self.serial.expect_re(READY, timeout)?;
        Ok(since.elapsed())
    }

    /// Logs in at the console with [`ADMIN_PASSWORD`] (setting it on a new
    /// box), then gets the API token with it.
    pub fn log_in(&mut self) -> Result<()> {
        self.console_log_in()?;
        self.api_log_in()
    }

    /// Logs in at the console with [`ADMIN_PASSWORD`], choosing it on a new
    /// box (then true); ends at the menu.
    pub fn console_log_in(&mut self) -> Result<bool> {
        console::log_in(&mut self.serial, ADMIN_PASSWORD, console::SCREEN_TIMEOUT)
    }

    /// Gets the API token with [`ADMIN_PASSWORD`], as a remote admin does.
    pub fn api_log_in(&mut self) -> Result<()> {
        self.token = Some(self.fetch_token()?);
        Ok(())
    }

    /// An API client for the box's forwarded API port (with the token once
    /// [`TestBox::log_in`] got it).
    pub fn api(&self) -> ApiClient {
        ApiClient::new(Endpoint::Tcp(format!("127.0.0.1:{}", self.vm.ports().api)))
            .with_token(self.token.clone())
            .with_timeout(Duration::from_secs(60))
    }

    /// The box's forwarded SMTP address on the host.
    pub fn smtp_address(&self) -> String {
        format!("127.0.0.1:{}", self.vm.ports().smtp)
    }

    /// Polls `check` every second until it gives `Some` or `timeout` passes.
    pub fn wait_until<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&mut TestBox) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = check(self) {
                return Ok(v);
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout {
                    wanted: what.to_string(),
                    after: timeout,
                    tail: self.serial.tail(),
                });
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    fn fetch_token(&self) -> Result<String> {
        let answer = self
            .api()
            .admin_token(ADMIN_PASSWORD)
            .map_err(HarnessError::api("POST /admin/token"))?;
        Ok(answer.token)
    }
}

/// Where console transcripts are kept (`FILTERBOX_E2E_LOGS`, else
/// `target/e2e-logs`): one file per test and power-on.
pub fn log_dir() -> PathBuf {
    std::env::var_os("FILTERBOX_E2E_LOGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-logs")
        })
}
