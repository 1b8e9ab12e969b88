//! Timestamps as the roles exchange them (unix milliseconds) and as people and
//! mail headers read them.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch; the one time format of the API.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Splits unix seconds into UTC (year, month, day, hour, minute, second, weekday 0=Sunday).
fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = (days + 4).rem_euclid(7) as u32;
    (
        year,
        month,
        day,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
        weekday,
    )
}

/// `2026-11-22T02:20:48Z`: for logs, `filterbox ctl` and JSON shown to people.
pub fn format_rfc3339(ms: u64) -> String {
    let (y, mo, d, h, mi, s, _) = civil(ms / 1000);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `Sun, 22 Nov 2026 02:20:48 +0000`: the date format of mail headers (RFC 5322).
pub fn format_rfc5322(ms: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s, wd) = civil(ms / 1000);
    format!(
        "{}, {d} {} {y:04} {h:02}:{mi:02}:{s:02} +0000",
        DAYS[wd as usize],
        MONTHS[(mo - 1) as usize]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        // 2026-11-22 02:20:48 UTC, a Sunday.
        let t = 1_795_314_048_000;
        assert_eq!(format_rfc3339(t), "2026-11-22T02:20:48Z");
        assert_eq!(format_rfc5322(t), "Sun, 22 Nov 2026 02:20:48 +0000");
        // Leap day.
        assert_eq!(format_rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
