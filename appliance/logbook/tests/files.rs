//! The log files: rotation bounds, names, long lines, write errors, and
//! `record` never waiting for a stalled writer.

mod common;

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{config, texts};
use logbook::{Logbook, LogbookError, MAX_LINE_BYTES, QUEUE_LINES};

/// The numbers of `mta.log.N` files present.
fn rotated(dir: &Path, stem: &str) -> Vec<u32> {
    let prefix = format!("{stem}.log.");
    let mut numbers: Vec<u32> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_prefix(&prefix)?.parse().ok()
        })
        .collect();
    numbers.sort_unstable();
    numbers
}

/// Every file of `stem`, oldest first.
fn files_oldest_first(dir: &Path, stem: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = rotated(dir, stem)
        .into_iter()
        .rev()
        .map(|n| dir.join(format!("{stem}.log.{n}")))
        .collect();
    files.push(dir.join(format!("{stem}.log")));
    files
}

#[test]
fn rotation_bounds_the_files_and_keeps_the_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    let (max, kept) = (1000, 3);
    let logbook = Logbook::open(&config(&dir, max, kept), "box").unwrap();
    for i in 0..600 {
        logbook.record("mta", &format!("INFO  mta::queue: message number {i:04}"));
    }
    logbook.flush();

    assert_eq!(
        rotated(&dir, "mta"),
        [1, 2, 3],
        "exactly files_kept rotated files"
    );
    let files = files_oldest_first(&dir, "mta");
    let mut numbers = Vec::new();
    for (n, file) in files.iter().enumerate() {
        let size = std::fs::metadata(file).unwrap().len();
        assert!(size <= max, "{file:?} has {size} bytes");
        // A file is rotated only when the next line would not fit.
        if let Some(next) = files.get(n + 1) {
            let first_next = std::fs::read_to_string(next).unwrap();
            let first_len = first_next.lines().next().unwrap().len() as u64 + 1;
            assert!(size + first_len > max, "{file:?} rotated too early");
        }
        numbers.extend(texts(file).iter().map(|t| {
            let n = t.strip_prefix("INFO  mta::queue: message number ").unwrap();
            n.parse::<u32>().unwrap()
        }));
    }
    // The newest lines, in order, without a gap, up to the last one recorded.
    assert_eq!(numbers.last(), Some(&599));
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    assert!(
        numbers.len() > 40,
        "four files hold more than {}",
        numbers.len()
    );
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o750);
}

#[test]
fn nothing_kept_means_one_file_and_fewer_kept_removes_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let logbook = Logbook::open(&config(tmp.path(), 400, 5), "box").unwrap();
    for i in 0..100 {
        logbook.record("filter", &format!("line {i}"));
    }
    logbook.flush();
    assert_eq!(rotated(tmp.path(), "filter"), [1, 2, 3, 4, 5]);

    logbook
        .reconfigure(&config(tmp.path(), 400, 2), "box")
        .unwrap();
    for i in 100..130 {
        logbook.record("filter", &format!("line {i}"));
    }
    logbook.flush();
    assert_eq!(rotated(tmp.path(), "filter"), [1, 2]);

    logbook
        .reconfigure(&config(tmp.path(), 400, 0), "box")
        .unwrap();
    for i in 130..160 {
        logbook.record("filter", &format!("line {i}"));
    }
    logbook.flush();
    assert_eq!(rotated(tmp.path(), "filter"), [] as [u32; 0]);
    let last = texts(&tmp.path().join("filter.log"));
    assert_eq!(last.last().map(String::as_str), Some("line 159"));
    assert!(
        std::fs::metadata(tmp.path().join("filter.log"))
            .unwrap()
            .len()
            <= 400
    );
}

#[test]
fn source_names_become_safe_file_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    let logbook = Logbook::open(&config(&dir, 4096, 1), "box").unwrap();
    logbook.record("../evil", "climbing");
    logbook.record("/etc/passwd", "absolute");
    logbook.record("ntp d.eth0", "spaces and dots");
    logbook.flush();

    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["___evil.log", "_etc_passwd.log", "ntp_d_eth0.log"]);
    assert_eq!(texts(&dir.join("___evil.log")), ["climbing"]);
    // Nothing was written outside the directory.
    let outside: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(outside.len(), 1);
}

#[test]
fn long_lines_are_cut_with_a_marker() {
    let tmp = tempfile::tempdir().unwrap();
    let logbook = Logbook::open(&config(tmp.path(), 1024 * 1024, 1), "box").unwrap();
    logbook.record("mta", &"a".repeat(40_000));
    logbook.record("mta", "multi\nline");
    logbook.flush();
    let lines = texts(&tmp.path().join("mta.log"));
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0],
        format!("{} [line cut: 40000 bytes]", "a".repeat(MAX_LINE_BYTES))
    );
    assert_eq!(lines[1], "multi line");

    // A file smaller than the line cap cuts lines further, to stay in bounds.
    logbook
        .reconfigure(&config(tmp.path(), 300, 1), "box")
        .unwrap();
    logbook.record("small", &"b".repeat(5000));
    logbook.flush();
    let path = tmp.path().join("small.log");
    assert!(std::fs::metadata(&path).unwrap().len() <= 300);
    assert!(texts(&path)[0].ends_with("b [line cut: 5000 bytes]"));
}

#[test]
fn bad_settings_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Logbook::open(&config(tmp.path(), 10, 1), "box")
        .err()
        .unwrap();
    assert!(matches!(err, LogbookError::FileTooSmall(10)), "{err}");
    let file = tmp.path().join("file");
    std::fs::write(&file, "").unwrap();
    let err = Logbook::open(&config(&file.join("logs"), 4096, 1), "box")
        .err()
        .unwrap();
    assert!(matches!(err, LogbookError::CreateDir { .. }), "{err}");
}

#[test]
fn a_full_disk_loses_lines_but_stops_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // Every write to /dev/full fails with ENOSPC, as on a full partition.
    std::os::unix::fs::symlink("/dev/full", tmp.path().join("full.log")).unwrap();
    let logbook = Logbook::open(&config(tmp.path(), 4096, 1), "box").unwrap();
    for i in 0..50 {
        logbook.record("full", &format!("lost {i}"));
        logbook.record("mta", &format!("kept {i}"));
    }
    logbook.flush();
    let kept = texts(&tmp.path().join("mta.log"));
    assert_eq!(kept.len(), 50);
    assert_eq!(kept[49], "kept 49");
}

#[test]
fn record_never_waits_for_a_stalled_writer() {
    let tmp = tempfile::tempdir().unwrap();
    // Opening a FIFO for writing blocks until a reader comes: the writer
    // thread stalls on the first line of `stall` as on a hung disk.
    let fifo = tmp.path().join("stall.log");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let logbook = Logbook::open(&config(tmp.path(), 1024 * 1024, 1), "box").unwrap();
    logbook.record("stall", "stalled");

    let total = QUEUE_LINES + 500;
    let (done, finished) = mpsc::channel();
    let flooding = logbook.clone();
    std::thread::spawn(move || {
        for i in 0..total {
            flooding.record("mta", &format!("line {i}"));
        }
        done.send(()).unwrap();
    });
    finished
        .recv_timeout(Duration::from_secs(5))
        .expect("record blocked on a stalled writer");

    // Unstall: read the FIFO, then record once more and flush.
    let reader = std::fs::File::open(&fifo).unwrap();
    let mut first = String::new();
    std::io::BufReader::new(reader)
        .read_line(&mut first)
        .unwrap();
    assert!(first.ends_with(" stalled\n"), "{first:?}");
    // Once the queue has room again, the next line brings the drop count.
    let drained = format!("line {}", QUEUE_LINES - 2);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !texts(&tmp.path().join("mta.log")).contains(&drained) {
        assert!(Instant::now() < deadline, "the writer did not resume");
        std::thread::sleep(Duration::from_millis(10));
    }
    logbook.record("mta", "after");
    logbook.flush();

    let lines = texts(&tmp.path().join("mta.log"));
    let (mut kept, mut dropped, mut last) = (0, 0, None);
    for text in &lines[..lines.len() - 1] {
        if let Some(n) = text.strip_prefix("line ") {
            let n: usize = n.parse().unwrap();
            assert!(last < Some(n), "out of order: {text}");
            last = Some(n);
            kept += 1;
        } else {
            let count = text.strip_prefix('[').unwrap();
            dropped += count
                .strip_suffix(" lines dropped]")
                .unwrap()
                .parse::<usize>()
                .unwrap();
        }
    }
    assert_eq!(lines.last().unwrap(), "after");
    assert!(
        lines[lines.len() - 2].ends_with(" lines dropped]"),
        "marker before it"
    );
    assert!(dropped >= 500, "dropped {dropped}");
    assert_eq!(kept + dropped, total);
}
