//! The SNTP exchange without I/O (RFC 4330; RFC 5905 client mode, version
//! 4): the request to send, and the checks a reply must pass before its
//! timestamps are believed.
//!
//! The request's transmit timestamp is a random cookie, not our clock: a
//! server copies it into the reply's origin timestamp, so a reply that does
//! not carry it is not an answer to this request (a late or forged packet),
//! and the request reveals nothing about our clock. The real send time stays
//! with the caller, who measures it on its own clock.

use std::fmt;

use crate::timestamp::NtpTimestamp;

/// Length of an NTP packet without extension fields or MAC; replies may be
/// longer (a MAC follows), never shorter.
pub const PACKET_LEN: usize = 48;

/// The protocol version we speak.
pub const VERSION: u8 = 4;

/// The highest stratum of a synchronised server; 16 means unsynchronised.
pub const MAX_STRATUM: u8 = 15;

const MODE_CLIENT: u8 = 3;
const MODE_SERVER: u8 = 4;
const LEAP_UNSYNCHRONISED: u8 = 3;

/// What a server told us with a kiss-o'-death packet (stratum 0): the
/// four ASCII letters of its reference id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kiss {
    /// "RATE": we ask too often; ask that server less often.
    Rate,
    /// "DENY": access denied; never ask that server again.
    Deny,
    /// "RSTR": access restricted; never ask that server again.
    Rstr,
    /// Any other code: this reply carries no time, nothing more.
    Other([u8; 4]),
}

impl Kiss {
    fn from_code(code: [u8; 4]) -> Kiss {
        match &code {
            b"RATE" => Kiss::Rate,
            b"DENY" => Kiss::Deny,
            b"RSTR" => Kiss::Rstr,
            _ => Kiss::Other(code),
        }
    }

    /// True for the codes after which a client must stop asking that server.
    pub fn refuses(self) -> bool {
        matches!(self, Kiss::Deny | Kiss::Rstr)
    }
}

impl fmt::Display for Kiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = match self {
            Kiss::Rate => *b"RATE",
            Kiss::Deny => *b"DENY",
            Kiss::Rstr => *b"RSTR",
            Kiss::Other(code) => *code,
        };
        let printable = code.iter().map(|&b| match b {
            0x20..=0x7e => b as char,
            _ => '?',
        });
        f.write_str(&printable.collect::<String>())
    }
}

/// Why a reply was not used; each names the rule it broke.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Fewer bytes than an NTP header.
    #[error("short reply: {0} bytes, an NTP packet has {PACKET_LEN}")]
    Short(usize),
    /// The origin timestamp is not our cookie: not an answer to this request.
    #[error("the origin timestamp is not our request's")]
    Origin,
    /// Not a server's reply (mode 4).
    #[error("mode {0}, a server answers in mode 4")]
    Mode(u8),
    /// A version we do not speak.
    #[error("version {0}, expected 3 or 4")]
    Version(u8),
    /// A kiss-o'-death packet (stratum 0).
    #[error("kiss-o'-death {0}")]
    Kiss(Kiss),
    /// Leap indicator 3: the server's own clock is not synchronised.
    #[error("the server is not synchronised (leap indicator 3)")]
    Unsynchronised,
    /// Stratum 16 or more: unsynchronised or invalid.
    #[error("stratum {0}, a synchronised server has 1 to {MAX_STRATUM}")]
    Stratum(u8),
    /// No transmit timestamp: the reply carries no time.
    #[error("the transmit timestamp is zero")]
    NoTransmit,
}

/// One good measurement of our clock against a server's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The server's clock minus ours, in nanoseconds: what to add to ours.
    pub offset: i64,
    /// The round trip minus the server's processing time, in nanoseconds:
    /// the uncertainty of `offset` is at most half of it.
    pub delay: i64,
    /// The server's stratum.
    pub stratum: u8,
}

impl Sample {
    /// The offset and delay of an exchange from its four timestamps: `t1`
    /// we sent, `t2` the server received, `t3` it replied, `t4` we received.
    /// A negative delay (the clocks' granularity) counts as zero.
    pub fn from_timestamps(
        t1: NtpTimestamp,
        t2: NtpTimestamp,
        t3: NtpTimestamp,
        t4: NtpTimestamp,
        stratum: u8,
    ) -> Sample {
        let (there, back) = (t2.nanos_since(t1), t3.nanos_since(t4));
        Sample {
            // Each difference is within ±2^31 s: the sum cannot overflow.
            offset: (there + back) / 2,
            delay: (t4.nanos_since(t1) - t3.nanos_since(t2)).max(0),
            stratum,
        }
    }
}

/// A request on its way: the cookie it carries as its transmit timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    cookie: NtpTimestamp,
}

impl Request {
    /// A request carrying `cookie` (random, from the caller); zero, which
    /// means "unknown" in NTP, is replaced by one.
    pub fn new(cookie: u64) -> Request {
        Request {
            cookie: NtpTimestamp(cookie.max(1)),
        }
    }

    /// The packet to send: leap 0, version 4, mode 3 (client), everything
    /// else zero but the transmit timestamp.
    pub fn to_bytes(&self) -> [u8; PACKET_LEN] {
        let mut packet = [0u8; PACKET_LEN];
        packet[0] = (VERSION << 3) | MODE_CLIENT;
        packet[40..48].copy_from_slice(&self.cookie.0.to_be_bytes());
        packet
    }

    /// Checks `reply` to this request and measures the clock with it: `sent`
    /// and `received` are our clock when the request left and the reply
    /// arrived. [`Rejection::Short`] and [`Rejection::Origin`] mean the
    /// packet is not an answer (keep waiting); [`Rejection::Kiss`] is the
    /// server's answer only once the origin matched, so it cannot be forged
    /// by someone who did not see the request.
    pub fn check(
        &self,
        reply: &[u8],
        sent: NtpTimestamp,
        received: NtpTimestamp,
    ) -> Result<Sample, Rejection> {
        if reply.len() < PACKET_LEN {
            return Err(Rejection::Short(reply.len()));
        }
        let word =
            |at: usize| NtpTimestamp(u64::from_be_bytes(reply[at..at + 8].try_into().unwrap()));
        let (origin, receive, transmit) = (word(24), word(32), word(40));
        if origin != self.cookie {
            return Err(Rejection::Origin);
        }
        let (leap, version, mode) = (reply[0] >> 6, (reply[0] >> 3) & 7, reply[0] & 7);
        let stratum = reply[1];
        if mode != MODE_SERVER {
            return Err(Rejection::Mode(mode));
        }
        if !(3..=VERSION).contains(&version) {
            return Err(Rejection::Version(version));
        }
        if stratum == 0 {
            return Err(Rejection::Kiss(Kiss::from_code(
                reply[12..16].try_into().unwrap(),
            )));
        }
        if leap == LEAP_UNSYNCHRONISED {
            return Err(Rejection::Unsynchronised);
        }
        if stratum > MAX_STRATUM {
            return Err(Rejection::Stratum(stratum));
        }
        if transmit.is_zero() {
            return Err(Rejection::NoTransmit);
        }
        Ok(Sample::from_timestamps(
            sent, receive, transmit, received, stratum,
        ))
    }
}

#[cfg(test)]
#[path = "packet_tests.rs"]
mod tests;
