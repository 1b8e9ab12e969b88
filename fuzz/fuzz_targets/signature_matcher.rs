//! `.ndb` signature parsing and matching: the first line of the input is a
//! signature, the rest the data it is matched against.
#![no_main]

use antivirus::bodysig::{BodySignature, BodySignatures};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (line, rest) = data.split_at(split);
    let Ok(line) = std::str::from_utf8(line) else {
        return;
    };
    if let Ok(sig) = BodySignature::parse(line) {
        if let Ok(sigs) = BodySignatures::new(vec![sig]) {
            let _ = sigs.find(rest, None);
            let _ = sigs.find(rest, Some(1));
        }
    }
});
