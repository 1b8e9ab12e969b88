//! Snowshoe spam: one campaign spread thinly over many addresses of a
//! rented range so that no single address sends enough to be noticed.
//!
//! Each message body gets a MinHash signature of its set of words:
//! [`BANDS`] bands of [`ROWS`] minima each, every band hashed to one value.
//! Two bodies sharing most of their words (a name or a tracking number
//! changed) very likely agree on a whole band; unrelated bodies almost
//! never do. So the store keys sightings by (range, band value) and finds
//! similar mail without comparing every pair. Only addresses from networks
//! first seen lately count: an established bulk sender's many servers are
//! not a snowshoe. All pure here; [`crate::store`] keeps the sightings.

use std::net::IpAddr;

use crate::pattern::canonical;

/// Bands of the signature: more bands find less similar mail.
pub const BANDS: usize = 8;
/// Minima per band: more rows make chance agreement rarer.
pub const ROWS: usize = 4;
/// Bodies with fewer distinct words get no fingerprint: short messages
/// look alike whoever sends them.
pub const MIN_WORDS: usize = 8;
/// Words read per body: enough for a campaign's text, bounded work.
pub const MAX_WORDS: usize = 2_000;
/// Longer tokens (base64, hashes) are not words.
pub const MAX_WORD: usize = 30;
/// Sightings older than this are forgotten.
pub const WINDOW_SECS: u64 = 3600;
/// Most sightings kept per (range, band): well above the thresholds.
pub const MAX_SIGHTINGS: usize = 64;
/// A network first seen less than this long ago is "new".
pub const NEW_NETWORK_SECS: u64 = 7 * 86_400;

/// Distinct new addresses of one /24 sending similar mail within the window
/// from which a message is a snowshoe, and the score it gets.
pub const NARROW: Threshold = Threshold {
    name: "SNOWSHOE_24",
    addresses: 4,
    score: 3.0,
};
/// The same over one /16 (ranges rented as several /24s; /48 for IPv6).
pub const WIDE: Threshold = Threshold {
    name: "SNOWSHOE_16",
    addresses: 8,
    score: 2.5,
};

/// When a count of addresses makes a snowshoe.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Threshold {
    /// The finding's name.
    pub name: &'static str,
    /// Distinct addresses, this message's included.
    pub addresses: usize,
    /// Added to the spam score.
    pub score: f64,
}

/// A snowshoe finding: the rule, its score, and how many addresses.
#[derive(Clone, Debug, PartialEq)]
pub struct Snowshoe {
    /// `SNOWSHOE_24` or `SNOWSHOE_16`.
    pub name: &'static str,
    /// Added to the spam score.
    pub score: f64,
    /// Distinct new addresses seen sending similar mail.
    pub addresses: usize,
}

impl Snowshoe {
    /// The reason shown in headers and the quarantine, `NAME (+3.0)`.
    pub fn reason(&self) -> String {
        format!("{} (+{:.1})", self.name, self.score)
    }
}

/// The strongest snowshoe finding for these counts of distinct addresses
/// in the /24 and the /16, if any.
pub fn judge(narrow: usize, wide: usize) -> Option<Snowshoe> {
    [(NARROW, narrow), (WIDE, wide)]
        .into_iter()
        .find(|(t, n)| *n >= t.addresses)
        .map(|(t, n)| Snowshoe {
            name: t.name,
            score: t.score,
            addresses: n,
        })
}

/// A body's signature: one value per band.
pub type Fingerprint = [u64; BANDS];

/// The MinHash signature of `body`'s words, or `None` for bodies under
/// [`MIN_WORDS`] distinct words.
pub fn fingerprint(body: &[u8]) -> Option<Fingerprint> {
    let mut words: Vec<u64> = body
        .split(|b| !b.is_ascii_alphanumeric())
        .filter(|w| (3..=MAX_WORD).contains(&w.len()) && !w.iter().all(u8::is_ascii_digit))
        .take(MAX_WORDS)
        .map(word_hash)
        .collect();
    words.sort_unstable();
    words.dedup();
    if words.len() < MIN_WORDS {
        return None;
    }
    let mut mins = [u64::MAX; BANDS * ROWS];
    for w in words {
        for (i, m) in mins.iter_mut().enumerate() {
            let seed = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            *m = (*m).min(mix(w ^ seed));
        }
    }
    Some(std::array::from_fn(|b| {
        mins[b * ROWS..(b + 1) * ROWS]
            .iter()
            .fold(b as u64, |acc, m| mix(acc ^ m))
    }))
}

/// FNV-1a of the lowercased word, then [`mix`]: every bit depends on every byte.
fn word_hash(word: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in word {
        h = (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x100_0000_01b3);
    }
    mix(h)
}

/// The splitmix64 finaliser: a cheap bijection with good avalanche.
fn mix(mut h: u64) -> u64 {
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// One address seen sending a fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sighting {
    /// The address (IPv4 as mapped IPv6).
    pub ip: u128,
    /// When (unix seconds).
    pub at: u64,
}

/// Bytes of one encoded sighting.
const SIGHTING_LEN: usize = 24;

/// Adds `ip` at `now` to `sightings` (forgetting those outside the window,
/// one per address, at most [`MAX_SIGHTINGS`], newest kept) and returns how
/// many distinct addresses remain.
pub fn sight(sightings: &mut Vec<Sighting>, ip: IpAddr, now: u64) -> usize {
    let ip = match canonical(ip) {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    };
    sightings.retain(|s| s.ip != ip && now.saturating_sub(s.at) <= WINDOW_SECS);
    sightings.push(Sighting { ip, at: now });
    if sightings.len() > MAX_SIGHTINGS {
        sightings.sort_by_key(|s| std::cmp::Reverse(s.at));
        sightings.truncate(MAX_SIGHTINGS);
    }
    sightings.len()
}

/// The stored form: 16 bytes of address, 8 of time, per sighting.
pub fn encode(sightings: &[Sighting]) -> Vec<u8> {
    let mut out = Vec::with_capacity(sightings.len() * SIGHTING_LEN);
    for s in sightings {
        out.extend_from_slice(&s.ip.to_be_bytes());
        out.extend_from_slice(&s.at.to_be_bytes());
    }
    out
}

/// Reads [`encode`]'s form; a damaged tail is dropped.
pub fn decode(bytes: &[u8]) -> Vec<Sighting> {
    bytes
        .chunks_exact(SIGHTING_LEN)
        .take(MAX_SIGHTINGS)
        .map(|c| {
            let (ip, at) = c.split_at(16);
            Sighting {
                ip: u128::from_be_bytes(ip.try_into().unwrap_or_default()),
                at: u64::from_be_bytes(at.try_into().unwrap_or_default()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "Dear NAME, our exclusive pharmacy offer ends tonight. Order \
        discounted medication online without prescription, shipped discreetly \
        worldwide. Visit the store today and save seventy percent on every \
        order. Reference number NUMBER. To stop receiving these offers reply \
        with remove in the subject line.";

    fn campaign(name: &str, number: u32) -> Vec<u8> {
        TEMPLATE
            .replace("NAME", name)
            .replace("NUMBER", &number.to_string())
            .into_bytes()
    }

    fn shared(x: &[u8], y: &[u8]) -> usize {
        let (x, y) = (fingerprint(x).unwrap(), fingerprint(y).unwrap());
        x.iter().zip(y).filter(|(p, q)| **p == *q).count()
    }

    #[test]
    fn similar_bodies_share_a_band_and_different_ones_do_not() {
        let a = campaign("John", 1234);
        let b = campaign("Mary", 98_765);
        assert!(shared(&a, &b) >= 2, "{}", shared(&a, &b));
        assert_eq!(shared(&a, &a), BANDS);
        let other = b"Hi team, the quarterly budget review moved to Thursday afternoon; \
            please bring the revised spreadsheets and the hiring plan for engineering.";
        assert_eq!(shared(&a, other), 0);
        let reworded = b"Dear customer, tonight only: exclusive pharmacy discounts on \
            medication, shipped worldwide, order online today and save.";
        assert_eq!(
            shared(&a, reworded),
            0,
            "a different text of the same theme"
        );
    }

    #[test]
    fn short_or_wordless_bodies_get_no_fingerprint() {
        assert_eq!(fingerprint(b"thanks, see you tomorrow at noon"), None);
        assert_eq!(fingerprint(&b"1234567 ".repeat(50)), None);
        let base64 = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2\r\n";
        assert_eq!(fingerprint(base64.repeat(100).as_bytes()), None);
    }

    #[test]
    fn sightings_count_distinct_addresses_in_the_window() {
        let mut s = Vec::new();
        let ip = |n: u8| IpAddr::from([192, 0, 2, n]);
        assert_eq!(sight(&mut s, ip(1), 100), 1);
        assert_eq!(sight(&mut s, ip(1), 110), 1, "same address counts once");
        assert_eq!(sight(&mut s, ip(2), 120), 2);
        assert_eq!(
            sight(&mut s, ip(3), 120 + WINDOW_SECS + 1),
            1,
            "old ones expire"
        );
        for n in 0..100 {
            sight(&mut s, ip(n), 5000 + u64::from(n));
        }
        assert_eq!(s.len(), MAX_SIGHTINGS);
        assert!(s.iter().all(|x| x.at >= 5000 + 100 - MAX_SIGHTINGS as u64));
        assert_eq!(decode(&encode(&s)), s);
        let mut damaged = encode(&s[..2]);
        damaged.push(7);
        assert_eq!(decode(&damaged), s[..2]);
    }

    #[test]
    fn thresholds_pick_the_strongest_finding() {
        assert_eq!(judge(3, 7), None);
        assert_eq!(judge(4, 4).unwrap().name, "SNOWSHOE_24");
        let wide = judge(2, 9).unwrap();
        assert_eq!((wide.name, wide.addresses), ("SNOWSHOE_16", 9));
        assert_eq!(wide.reason(), "SNOWSHOE_16 (+2.5)");
    }
}
