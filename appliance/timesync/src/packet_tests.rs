//! The request's bytes, the offset and delay arithmetic, and every rule a
//! reply must pass, over a recorded chronyd reply and constructed ones.

use super::*;
use crate::timestamp::UNIX_EPOCH_OFFSET;

const SEC: i64 = 1_000_000_000;
const COOKIE: u64 = 0x4142_4344_4546_4748; // "ABCDEFGH"

fn ts(unix_nanos: i128) -> NtpTimestamp {
    NtpTimestamp::from_unix_nanos(unix_nanos)
}

/// A well-formed server reply to `COOKIE`, received at `t2`, sent at `t3`.
fn reply(t2: NtpTimestamp, t3: NtpTimestamp) -> [u8; PACKET_LEN] {
    let mut p = [0u8; PACKET_LEN];
    p[0] = (4 << 3) | 4;
    p[1] = 2;
    p[12..16].copy_from_slice(b"GPS\0");
    p[24..32].copy_from_slice(&COOKIE.to_be_bytes());
    p[32..40].copy_from_slice(&t2.0.to_be_bytes());
    p[40..48].copy_from_slice(&t3.0.to_be_bytes());
    p
}

fn check(p: &[u8]) -> Result<Sample, Rejection> {
    let t = 1_700_000_000 * i128::from(SEC);
    Request::new(COOKIE).check(p, ts(t), ts(t + 30_000_000))
}

#[test]
fn the_request_is_a_version_4_client_packet_carrying_the_cookie() {
    let bytes = Request::new(COOKIE).to_bytes();
    assert_eq!(bytes[0], 0x23, "leap 0, version 4, mode 3");
    assert!(bytes[1..40].iter().all(|&b| b == 0));
    assert_eq!(&bytes[40..48], b"ABCDEFGH");
    assert_ne!(Request::new(0).to_bytes()[40..48], [0u8; 8]);
}

#[test]
fn a_recorded_chronyd_reply_is_accepted_and_measured() {
    // chronyd 4.3 (`local stratum 8`, `-x`) on loopback, asked with COOKIE;
    // t1 and t4 were read from the same clock around the exchange.
    let hex = "240800e600000000000000007f7f0101eeaceda3564e7f65414243444546474\
               8eeaceda4ad2b08e9eeaceda4ad30500c";
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let (t1, t4) = (1_795_321_636_676_373_700, 1_795_321_636_676_546_300);
    let sample = Request::new(COOKIE).check(&bytes, ts(t1), ts(t4)).unwrap();
    assert_eq!(sample.stratum, 8);
    assert!(sample.offset.abs() < 100_000, "{sample:?}");
    assert!((0..200_000).contains(&sample.delay), "{sample:?}");
}

#[test]
fn offset_and_delay_from_four_known_timestamps() {
    // The server is 5 s ahead; 10 ms each way; it takes 1 ms to answer.
    let t1 = 1_700_000_000 * i128::from(SEC);
    let ahead = 5 * i128::from(SEC);
    let (t2, t3) = (t1 + 10_000_000 + ahead, t1 + 11_000_000 + ahead);
    let t4 = t1 + 21_000_000;
    let s = Sample::from_timestamps(ts(t1), ts(t2), ts(t3), ts(t4), 2);
    // (Each conversion to NTP's 2^-32 s units may lose a nanosecond.)
    assert!((s.offset - 5 * SEC).abs() <= 1, "{s:?}");
    assert!((s.delay - 20_000_000).abs() <= 1, "{s:?}");
    // Asymmetric paths bias the offset by half the difference.
    let slow_back = Sample::from_timestamps(ts(t1), ts(t2), ts(t3), ts(t4 + 4_000_000), 2);
    assert!((slow_back.offset - (5 * SEC - 2_000_000)).abs() <= 1);
    // A server behind us gives a negative offset.
    let behind = Sample::from_timestamps(ts(t1), ts(t2 - 2 * ahead), ts(t3 - 2 * ahead), ts(t4), 2);
    assert!((behind.offset + 5 * SEC).abs() <= 1, "{behind:?}");
}

#[test]
fn the_exchange_straddles_the_2036_era_boundary() {
    let era1 = ((1_i128 << 32) - i128::from(UNIX_EPOCH_OFFSET)) * i128::from(SEC);
    // We send 1 s before the wrap; the server, 2 s ahead, is already past it.
    let t1 = era1 - i128::from(SEC);
    let ahead = 2 * i128::from(SEC);
    let (t2, t3, t4) = (
        t1 + 1_000_000 + ahead,
        t1 + 1_000_000 + ahead,
        t1 + 2_000_000,
    );
    assert!(ts(t2).0 < ts(t1).0, "the server's timestamps wrapped");
    let s = Sample::from_timestamps(ts(t1), ts(t2), ts(t3), ts(t4), 1);
    assert!((s.offset - 2 * SEC).abs() <= 1, "{s:?}");
    assert!((s.delay - 2_000_000).abs() <= 1, "{s:?}");
}

#[test]
fn a_negative_delay_counts_as_zero() {
    let t = 1_700_000_000 * i128::from(SEC);
    // The server claims it took longer to answer than our whole round trip.
    let s = Sample::from_timestamps(ts(t), ts(t), ts(t + 5_000_000), ts(t + 1_000_000), 3);
    assert_eq!(s.delay, 0);
}

#[test]
fn a_good_constructed_reply_passes() {
    let t = 1_700_000_000 * i128::from(SEC);
    let good = reply(ts(t + 15_000_000), ts(t + 15_000_000));
    let s = check(&good).unwrap();
    assert_eq!(s.stratum, 2);
    assert!(
        s.offset.abs() <= 1 && (s.delay - 30_000_000).abs() <= 1,
        "{s:?}"
    );
    // A longer reply (a MAC after the header) is fine.
    let mut with_mac = good.to_vec();
    with_mac.extend_from_slice(&[0u8; 20]);
    assert!(check(&with_mac).is_ok());
    // Version 3 servers answer too.
    let mut v3 = good;
    v3[0] = (3 << 3) | 4;
    assert!(check(&v3).is_ok());
}

#[test]
fn every_rule_rejects_its_own_fault() {
    let t = 1_700_000_000 * i128::from(SEC);
    let good = reply(ts(t), ts(t));
    let with = |f: &dyn Fn(&mut [u8; PACKET_LEN])| {
        let mut p = good;
        f(&mut p);
        check(&p)
    };
    assert_eq!(check(&good[..47]), Err(Rejection::Short(47)));
    assert_eq!(check(&[]), Err(Rejection::Short(0)));
    assert_eq!(with(&|p| p[31] ^= 1), Err(Rejection::Origin));
    assert_eq!(with(&|p| p[0] = (4 << 3) | 3), Err(Rejection::Mode(3)));
    assert_eq!(with(&|p| p[0] = (4 << 3) | 5), Err(Rejection::Mode(5)));
    assert_eq!(with(&|p| p[0] = (2 << 3) | 4), Err(Rejection::Version(2)));
    assert_eq!(with(&|p| p[0] = (5 << 3) | 4), Err(Rejection::Version(5)));
    assert_eq!(with(&|p| p[0] |= 3 << 6), Err(Rejection::Unsynchronised));
    assert!(
        with(&|p| p[0] |= 1 << 6).is_ok(),
        "a leap second warning is fine"
    );
    assert_eq!(with(&|p| p[1] = 16), Err(Rejection::Stratum(16)));
    assert_eq!(with(&|p| p[1] = 255), Err(Rejection::Stratum(255)));
    assert!(with(&|p| p[1] = 15).is_ok());
    assert_eq!(with(&|p| p[40..48].fill(0)), Err(Rejection::NoTransmit));
}

#[test]
fn kiss_o_death_packets_name_their_code() {
    let t = 1_700_000_000 * i128::from(SEC);
    let kiss = |code: &[u8; 4]| {
        let mut p = reply(ts(t), ts(t));
        // As servers send them: leap 3, stratum 0, the code as reference id.
        p[0] |= 3 << 6;
        p[1] = 0;
        p[12..16].copy_from_slice(code);
        check(&p)
    };
    assert_eq!(kiss(b"RATE"), Err(Rejection::Kiss(Kiss::Rate)));
    assert_eq!(kiss(b"DENY"), Err(Rejection::Kiss(Kiss::Deny)));
    assert_eq!(kiss(b"RSTR"), Err(Rejection::Kiss(Kiss::Rstr)));
    assert_eq!(kiss(b"INIT"), Err(Rejection::Kiss(Kiss::Other(*b"INIT"))));
    assert!(Kiss::Deny.refuses() && Kiss::Rstr.refuses());
    assert!(!Kiss::Rate.refuses() && !Kiss::Other(*b"INIT").refuses());
    assert_eq!(Kiss::Other([b'A', 0, 0xff, b'B']).to_string(), "A??B");
    // A kiss that does not carry our cookie is not honoured: it is no answer.
    let mut forged = reply(ts(t), ts(t));
    forged[1] = 0;
    forged[12..16].copy_from_slice(b"DENY");
    forged[24..32].fill(0);
    assert_eq!(check(&forged), Err(Rejection::Origin));
}
