//! How fast, and in how much memory, a normal large import (100,000 users)
//! is read, so a change that makes uploads slow or hungry shows up.
//!
//! ```sh
//! cargo run --release -p user-import --example import-speed [ROWS]
//! ```
//!
//! Generates the file in memory as CSV and as xlsx and writes both to a
//! temporary directory; each is then parsed by a fresh process (this
//! example run with `--parse`), so the peak resident memory it reports
//! (VmHWM) is the parse's own and not the generator's: the peak, and the
//! peak less what the process held after reading the file.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use rust_xlsxwriter::Workbook;
use user_import::{parse, Format};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--parse") {
        return parse_one(Path::new(&args[2]), &args[3]);
    }
    let rows: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("import-speed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let csv = dir.join("users.csv");
    let xlsx = dir.join("users.xlsx");
    std::fs::write(&csv, make_csv(rows)).expect("write csv");
    std::fs::write(&xlsx, make_xlsx(rows)).expect("write xlsx");
    println!("{rows} rows");
    let me = std::env::current_exe().expect("own path");
    for (file, format) in [(&csv, "csv"), (&xlsx, "xlsx")] {
        let status = Command::new(&me)
            .args(["--parse", &file.display().to_string(), format])
            .status()
            .expect("run the parse");
        assert!(status.success());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Parses one file and reports speed and memory.
fn parse_one(path: &Path, format: &str) {
    let bytes = std::fs::read(path).expect("read");
    let format = if format == "csv" {
        Format::Csv
    } else {
        Format::Xlsx
    };
    let before = status("VmRSS:").unwrap_or(0);
    let start = Instant::now();
    let import = parse(&bytes, format).expect("parse");
    let secs = start.elapsed().as_secs_f64();
    let rows = import.rows.len() + import.errors.len();
    let peak = status("VmHWM:").unwrap_or(0);
    println!(
        "{:5} {:5.1} MiB {:>8.0} rows/s ({:.3} s), {} good, {} bad; peak RSS {} KiB ({} KiB over the file read)",
        format!("{format:?}"),
        mib(bytes.len()),
        rows as f64 / secs,
        secs,
        import.rows.len(),
        import.errors.len(),
        peak,
        peak.saturating_sub(before)
    );
}

fn mib(n: usize) -> f64 {
    n as f64 / (1024.0 * 1024.0)
}

/// A field of /proc/self/status, in KiB.
fn status(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// One row in a thousand is bad, as in a real export.
fn address(n: u32) -> String {
    if n % 1000 == 999 {
        format!("user {n}@example{}.test", n % 7)
    } else {
        format!("user.{n}@Example{}.test", n % 7)
    }
}

fn make_csv(rows: u32) -> Vec<u8> {
    let mut s = String::from("Email,Display Name,Password,Department\n");
    for n in 0..rows {
        s.push_str(&format!(
            "{},\"User {n}, Example\",pw-{n:08x},Dept {}\n",
            address(n),
            n % 13
        ));
    }
    s.into_bytes()
}

fn make_xlsx(rows: u32) -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (c, h) in ["Email", "Display Name", "Password", "Department"]
        .iter()
        .enumerate()
    {
        ws.write_string(0, c as u16, *h).expect("header");
    }
    for n in 0..rows {
        let r = n + 1;
        ws.write_string(r, 0, address(n)).expect("cell");
        ws.write_string(r, 1, format!("User {n}, Example"))
            .expect("cell");
        ws.write_string(r, 2, format!("pw-{n:08x}")).expect("cell");
        ws.write_string(r, 3, format!("Dept {}", n % 13))
            .expect("cell");
    }
    wb.save_to_buffer().expect("xlsx")
}
