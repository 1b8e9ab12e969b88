//! Which delivery server to try first, and when to try again.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use model::api::DeliveryServer;

/// The servers in the order to try them: by priority (lowest first), and in
/// random order among equal priorities so load is spread (as with MX records).
pub fn order(servers: &[DeliveryServer]) -> Vec<DeliveryServer> {
    let mut ordered = servers.to_vec();
    ordered.sort_by_key(|s| s.priority);
    let mut start = 0;
    while start < ordered.len() {
        let priority = ordered[start].priority;
        let end = start
            + ordered[start..]
                .iter()
                .take_while(|s| s.priority == priority)
                .count();
        shuffle(&mut ordered[start..end]);
        start = end;
    }
    ordered
}

/// Fisher-Yates with std's randomly keyed hasher as the random source: good
/// enough to spread load, and no extra dependency.
fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(i);
        let j = (h.finish() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// The delay before attempt number `attempts + 1`: `initial`, doubled per
/// failed attempt, at most `max`.
pub fn backoff(initial: Duration, max: Duration, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(31);
    initial.saturating_mul(1 << doublings).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(host: &str, priority: u16) -> DeliveryServer {
        DeliveryServer {
            host: host.into(),
            port: 25,
            priority,
        }
    }

    #[test]
    fn priority_first_ties_shuffled() {
        let servers = [
            server("c", 20),
            server("a1", 10),
            server("a2", 10),
            server("b", 15),
        ];
        let mut firsts = std::collections::HashSet::new();
        for _ in 0..200 {
            let o = order(&servers);
            let hosts: Vec<_> = o.iter().map(|s| s.host.as_str()).collect();
            assert_eq!(&hosts[2..], ["b", "c"]);
            assert!(hosts[..2].contains(&"a1") && hosts[..2].contains(&"a2"));
            firsts.insert(hosts[0].to_string());
        }
        assert_eq!(
            firsts.len(),
            2,
            "both equal-priority servers come first sometimes"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let s = Duration::from_secs;
        let b: Vec<_> = (1..=6).map(|a| backoff(s(60), s(600), a)).collect();
        assert_eq!(b, [s(60), s(120), s(240), s(480), s(600), s(600)]);
        assert_eq!(backoff(s(60), s(600), 1000), s(600));
    }
}
