//! NTP's 64-bit timestamps: seconds since 1900-01-01 in the high 32 bits and
//! a binary fraction of a second in the low 32.
//!
//! The seconds wrap every 2^32 s (136 years): era 1 starts on 2036-02-07, and
//! a timestamp does not say its era. Only differences between timestamps are
//! used, taken as wrapping 64-bit subtractions read as signed numbers, which
//! are right whenever the two times are less than 68 years apart, across the
//! era boundary too (RFC 5905, section 6).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
pub const UNIX_EPOCH_OFFSET: u64 = 2_208_988_800;

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// A timestamp as it is on the wire (era unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    /// The time `nanos` nanoseconds after the Unix epoch (negative: before),
    /// reduced to its era.
    pub fn from_unix_nanos(nanos: i128) -> NtpTimestamp {
        let since_1900 = nanos + i128::from(UNIX_EPOCH_OFFSET) * NANOS_PER_SEC;
        let seconds = since_1900.div_euclid(NANOS_PER_SEC).rem_euclid(1 << 32) as u64;
        let fraction = ((since_1900.rem_euclid(NANOS_PER_SEC) << 32) / NANOS_PER_SEC) as u64;
        NtpTimestamp((seconds << 32) | fraction)
    }

    /// The wire form of `time`.
    pub fn from_system_time(time: SystemTime) -> NtpTimestamp {
        NtpTimestamp::from_unix_nanos(unix_nanos(time))
    }

    /// `self - earlier` in nanoseconds (negative if `earlier` is later);
    /// right for times less than 68 years apart, whatever their eras.
    pub fn nanos_since(self, earlier: NtpTimestamp) -> i64 {
        let units = self.0.wrapping_sub(earlier.0) as i64;
        ((i128::from(units) * NANOS_PER_SEC) >> 32) as i64
    }

    /// The all-zero timestamp means "unknown" in NTP.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

/// Nanoseconds from the Unix epoch to `time` (negative before it).
pub fn unix_nanos(time: SystemTime) -> i128 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_nanos() as i128,
        Err(before) => -(before.duration().as_nanos() as i128),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const SEC: i128 = NANOS_PER_SEC;

    #[test]
    fn the_unix_epoch_and_half_a_second() {
        let t = NtpTimestamp::from_unix_nanos(SEC / 2);
        assert_eq!(t.0 >> 32, UNIX_EPOCH_OFFSET);
        assert_eq!(t.0 & 0xFFFF_FFFF, 0x8000_0000);
        assert_eq!(
            NtpTimestamp::from_system_time(UNIX_EPOCH + Duration::from_millis(500)),
            t
        );
    }

    #[test]
    fn era_one_starts_in_2036_at_zero_seconds() {
        // 2036-02-07T06:28:16Z is 2^32 s after 1900-01-01.
        let era1 = (1_i128 << 32) - i128::from(UNIX_EPOCH_OFFSET);
        assert_eq!(era1, 2_085_978_496);
        assert_eq!(NtpTimestamp::from_unix_nanos(era1 * SEC), NtpTimestamp(0));
        let before = NtpTimestamp::from_unix_nanos(era1 * SEC - 1);
        assert_eq!(before.0 >> 32, 0xFFFF_FFFF);
    }

    #[test]
    fn differences_across_the_era_boundary() {
        let era1 = ((1_i128 << 32) - i128::from(UNIX_EPOCH_OFFSET)) * SEC;
        let before = NtpTimestamp::from_unix_nanos(era1 - 3 * SEC / 2);
        let after = NtpTimestamp::from_unix_nanos(era1 + SEC / 4);
        assert!(after.0 < before.0, "the seconds wrapped");
        assert_eq!(after.nanos_since(before), 1_750_000_000);
        assert_eq!(before.nanos_since(after), -1_750_000_000);
    }

    #[test]
    fn nanosecond_precision_survives_the_round_trip() {
        let now = unix_nanos(SystemTime::now());
        let a = NtpTimestamp::from_unix_nanos(now);
        for delta in [1_i64, 999, 123_456_789, -42_000_000_000] {
            let b = NtpTimestamp::from_unix_nanos(now + i128::from(delta));
            // A 2^-32 s unit is 0.23 ns: each conversion may lose one.
            assert!((b.nanos_since(a) - delta).abs() <= 1, "{delta}");
        }
    }

    #[test]
    fn before_the_unix_epoch() {
        assert_eq!(unix_nanos(UNIX_EPOCH - Duration::from_secs(2)), -2 * SEC);
        let t = NtpTimestamp::from_unix_nanos(-SEC / 2);
        assert_eq!(t.0 >> 32, UNIX_EPOCH_OFFSET - 1);
        assert_eq!(t.0 & 0xFFFF_FFFF, 0x8000_0000);
    }
}
