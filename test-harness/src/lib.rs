//! Test peers and load tools for filterbox.
//!
//! [`postfix::Postfix`] is a private Postfix instance for tests that need
//! Postfix as the real peer, and [`pty::Expect`] drives a program's
//! terminal (the serial console) expect-style through a pseudo-terminal.
//! `smtp-load` sends a bounded number of messages over loopback and reports
//! throughput and the latency of each SMTP transaction; the benchmark scripts
//! under `bench/` drive it together with Postfix's smtp-source and smtp-sink.

pub mod postfix;
pub mod pty;

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
