//! `stats`: the mail counters.

use anyhow::Context;
use model::api::{Counters, MailStats};
use model::client::ApiClient;

use super::{time, Out};
use crate::table::table;

/// Prints the last 24 hours, oldest first, and the totals.
pub fn run(api: &ApiClient, out: &mut Out<'_>) -> anyhow::Result<()> {
    let stats = api.stats().context("asking for the mail counters")?;
    out.emit(&stats, || render(&stats))
}

fn render(s: &MailStats) -> String {
    let row = |label: String, c: &Counters| {
        let numbers = [
            c.received,
            c.delivered,
            c.quarantined,
            c.rejected,
            c.deferred,
            c.bounced,
        ];
        std::iter::once(label)
            .chain(numbers.iter().map(u64::to_string))
            .collect::<Vec<String>>()
    };
    let rows: Vec<Vec<String>> = s
        .hours
        .iter()
        .map(|h| row(time(h.hour), &h.counters))
        .chain(std::iter::once(row("total".into(), &s.total)))
        .collect();
    table(
        &[
            "HOUR",
            "RECEIVED",
            "DELIVERED",
            "QUARANTINED",
            "REJECTED",
            "DEFERRED",
            "BOUNCED",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::api::HourCounters;

    #[test]
    fn hours_then_totals() {
        let c = Counters {
            received: 12,
            delivered: 3,
            quarantined: 1,
            rejected: 0,
            deferred: 2,
            bounced: 5,
        };
        let s = MailStats {
            total: c.clone(),
            hours: vec![HourCounters {
                hour: 1_795_312_800_000,
                counters: c,
            }],
        };
        assert_eq!(
            render(&s),
            "HOUR                  RECEIVED  DELIVERED  QUARANTINED  REJECTED  DEFERRED  BOUNCED\n\
             2026-11-22T02:00:00Z  12        3          1            0         2         5\n\
             total                 12        3          1            0         2         5\n"
        );
    }
}
