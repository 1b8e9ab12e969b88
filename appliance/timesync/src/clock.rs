//! Stepping the system clock: the only place that changes it.

use nix::sys::time::TimeSpec;
use nix::time::{clock_gettime, clock_settime, ClockId};

use crate::TimesyncError;

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// Adds `offset` nanoseconds to the system clock (CLOCK_REALTIME) at once.
/// The offset was measured against the same clock, so the time spent since
/// the measurement does not matter.
pub fn step(offset: i64) -> Result<(), TimesyncError> {
    let now = clock_gettime(ClockId::CLOCK_REALTIME).map_err(TimesyncError::ReadClock)?;
    clock_settime(ClockId::CLOCK_REALTIME, shifted(now, offset)).map_err(|e| match e {
        nix::Error::EPERM => TimesyncError::NotPermitted,
        e => TimesyncError::SetClock(e),
    })
}

/// `now` moved by `offset` nanoseconds, normalised (0 <= tv_nsec < 1 s).
pub fn shifted(now: TimeSpec, offset: i64) -> TimeSpec {
    let nanos =
        i128::from(now.tv_sec()) * NANOS_PER_SEC + i128::from(now.tv_nsec()) + i128::from(offset);
    TimeSpec::new(
        nanos.div_euclid(NANOS_PER_SEC) as _,
        nanos.rem_euclid(NANOS_PER_SEC) as _,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(t: TimeSpec) -> (i64, i64) {
        (t.tv_sec(), t.tv_nsec())
    }

    #[test]
    fn shifting_carries_and_borrows_whole_seconds() {
        let now = TimeSpec::new(1_700_000_000, 900_000_000);
        assert_eq!(
            parts(shifted(now, 200_000_000)),
            (1_700_000_001, 100_000_000)
        );
        assert_eq!(
            parts(shifted(now, -950_000_000)),
            (1_699_999_999, 950_000_000)
        );
        assert_eq!(
            parts(shifted(now, -3_600_000_000_000)),
            (1_699_996_400, 900_000_000)
        );
        assert_eq!(parts(shifted(now, 0)), parts(now));
    }
}
