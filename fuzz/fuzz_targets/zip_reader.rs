//! The zip reader over arbitrary bytes, as a top-level file and as found
//! in a part: listing and bounded extraction must never panic.
#![no_main]

use antivirus::archive::{entries, extract, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_entry: 1 << 20,
        max_total: 4 << 20,
        ..Limits::default()
    };
    if let Ok(list) = entries(data, &limits) {
        for entry in &list {
            let _ = extract(data, entry, &limits, limits.max_total);
        }
    }
    let scanner = antivirus::Scanner::new(antivirus::Database::builtin(), limits);
    let _ = scanner.scan(data);
});
