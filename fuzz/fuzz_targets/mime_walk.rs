//! The filter's engine over arbitrary bytes: MIME parsing, the part walk,
//! every check (archives and real types included) must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = filter::engine::scan(data);
});
