//! image-figures: the firmware's figures, measured on the image built by
//! `make image` booted in QEMU (software emulation, 512 MiB):
//! image and bundle sizes, power-on to SMTP banner, the roles' resident
//! memory when idle, and the time to apply an update over HTTP.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use test_harness::firmware::{newer_version, Firmware};
use test_harness::testbox::{BoxOptions, TestBox, BOOT_TIMEOUT};

fn main() -> anyhow::Result<()> {
    let fw = Firmware::of_this_checkout();
    let image = fw.image()?;
    println!("image          {}", size_line(&image)?);

    let mut b = TestBox::power_on(&BoxOptions::new("figures"))?;
    let powered = b.vm.powered_on_at().unwrap_or_else(Instant::now);
    let banner = wait_banner(&b.smtp_address(), BOOT_TIMEOUT)?;
    println!(
        "power-on to SMTP banner  {:.1} s  ({})",
        powered.elapsed().as_secs_f64(),
        banner.trim_end()
    );
    b.wait_ready(BOOT_TIMEOUT)?;
    b.log_in()?;
    let running = b.api().firmware_status()?.version;
    let bundle = fw.bundle_file(&running);
    if bundle.is_file() {
        println!("bundle         {}", size_line(&bundle)?);
    }

    // Idle: nothing sent, the first-boot work done.
    std::thread::sleep(Duration::from_secs(30));
    let status = b.api().system_status()?;
    let mut total = 0;
    println!("resident memory when idle (VmRSS):");
    for p in &status.processes {
        let kib = p.rss_kib.unwrap_or(0);
        total += kib;
        println!("  {:<14} {:>8} KiB  {}", p.name, kib, p.state);
    }
    println!("  {:<14} {:>8} KiB", "all", total);

    let newer = newer_version(&running, "figures");
    let update = fw.bundle(&newer, None)?;
    println!("update bundle  {}", size_line(&update)?);
    let started = Instant::now();
    let mut file = std::fs::File::open(&update)?;
    let len = file.metadata()?.len();
    b.api()
        .with_timeout(Duration::from_secs(900))
        .firmware_upload(&mut file, len, false, true)
        .context("uploading the update")?;
    let installed = started.elapsed();
    b.wait_ready(BOOT_TIMEOUT)?;
    let booted = started.elapsed();
    let now = b.api().firmware_status()?;
    if now.version != newer {
        bail!("the box runs {} after the update, not {newer}", now.version);
    }
    println!(
        "update over HTTP: {:.1} s upload and install, {:.1} s until ready on the new slot {}",
        installed.as_secs_f64(),
        booted.as_secs_f64(),
        now.boot_slot.unwrap_or_default()
    );
    b.vm.quit()?;
    Ok(())
}

/// "N MiB (M MiB allocated)" of a file.
fn size_line(path: &Path) -> anyhow::Result<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    Ok(format!(
        "{:.1} MiB ({:.1} MiB allocated)  {}",
        mib(meta.len()),
        mib(meta.blocks() * 512),
        path.display()
    ))
}

/// Polls `address` until an SMTP server there greets with 220.
fn wait_banner(address: &str, timeout: Duration) -> anyhow::Result<String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(stream) = TcpStream::connect(address) {
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut line = String::new();
            if BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("220") {
                return Ok(line);
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    bail!("no SMTP banner on {address} within {timeout:?}")
}
