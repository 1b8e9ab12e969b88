//! The filter engine's throughput, for `test-harness/bench/filter-speed.sh`:
//! scans every file of a directory (one raw message each) with
//! [`filter::engine::Engine::standard`] on one thread, and prints messages
//! per CPU-second of this process (utime + stime from `/proc/self/stat`,
//! the measure the script applies to rspamd's worker).
//!
//! Usage: `scan-corpus DIR [CLK_TCK]` (CLK_TCK from `getconf CLK_TCK`, 100
//! if not given). Files are read into memory before the clock starts; the
//! set is scanned as many times as it takes to measure a few CPU-seconds.

use std::path::PathBuf;

use filter::engine::{Class, Engine};
use filter::scanner::SCAN_STACK_SIZE;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: scan-corpus DIR [CLK_TCK]")?);
    let ticks: f64 = args.next().map_or(Ok(100.0), |t| t.parse())?;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.sort();
    let messages: Vec<Vec<u8>> = paths.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    if messages.is_empty() {
        return Err(format!("no messages in {}", dir.display()).into());
    }
    let worker = std::thread::Builder::new()
        .stack_size(SCAN_STACK_SIZE)
        .spawn(move || scan_all(&messages, ticks))?;
    let (count, spam, seconds) = worker.join().map_err(|_| "the scan panicked")??;
    let seconds = seconds / ticks;
    println!(
        "messages={count} flagged_per_pass={spam} cpu_s={seconds:.2} msg_per_cpu_s={:.0}",
        count as f64 / seconds.max(1.0 / ticks)
    );
    Ok(())
}

/// Least CPU time measured, in seconds: the clock ticks 100 times a second,
/// so shorter runs would be imprecise. The set is scanned again until then.
const MIN_CPU_SECONDS: f64 = 3.0;

/// Scans the set in passes (after a warm-up of the first hundred) until
/// [`MIN_CPU_SECONDS`] of CPU went by: (messages scanned, flagged as not
/// clean in the first pass, CPU ticks spent).
fn scan_all(messages: &[Vec<u8>], ticks: f64) -> Result<(usize, usize, f64), std::io::Error> {
    let engine = Engine::standard();
    for m in messages.iter().take(100) {
        std::hint::black_box(engine.scan(m));
    }
    let start = cpu_ticks()?;
    let (mut scanned, mut flagged) = (0, None);
    while scanned == 0 || cpu_ticks()? - start < MIN_CPU_SECONDS * ticks {
        let pass = messages
            .iter()
            .filter(|m| std::hint::black_box(engine.scan(m)).class != Class::Clean)
            .count();
        flagged.get_or_insert(pass);
        scanned += messages.len();
    }
    Ok((scanned, flagged.unwrap_or(0), cpu_ticks()? - start))
}

/// utime + stime of this process, in clock ticks (`proc(5)`: fields 14 and
/// 15, counted after the parenthesised command name).
fn cpu_ticks() -> Result<f64, std::io::Error> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<f64> = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    Ok(fields.iter().sum())
}
