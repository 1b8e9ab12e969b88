//! Test peers and load tools for filterbox.
//!
//! [`postfix::Postfix`] is a private Postfix instance for tests that need
//! Postfix as the real peer, and [`pty::Expect`] drives a program's
//! terminal (the serial console) expect-style through a pseudo-terminal.
//! [`chrony::Chrony`] is a private chronyd, the NTP server of the time
//! client's tests. [`dns::DnsServer`] serves a test's MX, A and TXT records.
//! `smtp-load` sends a bounded number of messages over loopback and reports
//! throughput and the latency of each SMTP transaction; the benchmark scripts
//! under `bench/` drive it together with Postfix's smtp-source and smtp-sink.
//!
//! The QEMU harness boots the firmware image as a test's box
//! ([`testbox::TestBox`]): [`qemu::Vm`] runs it, [`serial::Serial`] is its
//! console and [`console`] its menu, [`lan::LanHost`] a machine on its LAN
//! (smoltcp), [`recorder::Recorder`] the customer's mail server,
//! [`firmware::Firmware`] the image and update bundles, [`stick`] USB
//! sticks, [`monitor::Monitor`] QEMU's monitor.

pub mod chrony;
pub mod console;
pub mod dns;
pub mod error;
pub mod firmware;
pub mod lan;
pub mod monitor;
pub mod postfix;
pub mod pty;
pub mod qemu;
pub mod recorder;
pub mod serial;
pub mod stick;
pub mod testbox;

/// Latency percentiles of a sorted sample, in the sample's unit.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(super::percentile(&v, 50.0), 50.0);
        assert_eq!(super::percentile(&v, 99.0), 99.0);
        assert_eq!(super::percentile(&v, 100.0), 100.0);
        assert_eq!(super::percentile(&[7.0], 99.0), 7.0);
        assert!(super::percentile(&[], 50.0).is_nan());
    }
}
