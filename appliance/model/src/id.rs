//! Identifiers for queued messages and quarantine entries.
//!
//! Ids sort by creation time (so listings and sled prefix scans come out in
//! order) and are unique across processes and restarts: a millisecond
//! timestamp, a per-process counter and random bits.

use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A new time-ordered id: 21 lowercase hex digits, e.g. `19a4f3c2b1e00037f2a9c`.
pub fn new_id() -> String {
    let ms = crate::time::now_ms() & 0xfff_ffff_ffff; // 44 bits: until year 2527
    let count = COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff;
    let mut rnd = [0u8; 3];
    // getrandom only fails when the OS has no entropy source at all; the
    // counter and timestamp still keep ids unique within this process then.
    let _ = getrandom::fill(&mut rnd);
    let rnd = u32::from_be_bytes([0, rnd[0], rnd[1], rnd[2]]);
    format!("{ms:011x}{count:04x}{rnd:06x}")
}

/// True when `s` has the shape of an id made by [`new_id`]; used to reject
/// path segments that are not ids before they reach a database key.
pub fn is_valid_id(s: &str) -> bool {
    s.len() == 21
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_ordered_and_valid() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        assert!(is_valid_id(&a) && is_valid_id(&b));
        assert!(a[..11] <= b[..11]);
        assert!(!is_valid_id("../etc/passwd"));
        assert!(!is_valid_id(&a.to_uppercase()));
    }
}
