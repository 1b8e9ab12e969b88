//! Milter framing: a 4-byte big-endian length (code included), a 1-byte
//! command code, the payload. miltr-common encodes and decodes the messages;
//! the framing and its size cap are ours.

use bytes::{Buf, BytesMut};
use miltr_common::encoding::Writable;

/// Largest frame accepted from the filter. libmilter sends at most 64 KiB
/// of body per frame; header edits and reply texts are far smaller.
pub const MAX_FRAME: usize = 1024 * 1024;

/// SMFIC_MACRO.
const MACRO: u8 = b'D';

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The announced length is over [`MAX_FRAME`].
    #[error("milter frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    /// A frame without even a command code.
    #[error("empty milter frame")]
    Empty,
}

/// Encodes one message (command, action or option negotiation).
pub fn encode(message: &impl Writable) -> Vec<u8> {
    let mut payload = BytesMut::with_capacity(message.len());
    message.write(&mut payload);
    encode_raw(message.code(), &payload)
}

/// Encodes a frame from its code and payload.
pub fn encode_raw(code: u8, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len() + 1).expect("milter payloads are capped far below 4 GiB");
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.extend_from_slice(&len.to_be_bytes());
    out.push(code);
    out.extend_from_slice(payload);
    out
}

/// Encodes SMFIC_MACRO: the stage's command code, then `name\0value\0` pairs.
pub fn encode_macros(stage: u8, macros: &[(&str, &str)]) -> Vec<u8> {
    let mut payload = vec![stage];
    for (name, value) in macros {
        payload.extend_from_slice(name.as_bytes());
        payload.push(0);
        payload.extend_from_slice(value.as_bytes());
        payload.push(0);
    }
    encode_raw(MACRO, &payload)
}

/// Takes one complete frame (code and payload) off the front of `buf`.
pub fn decode(buf: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use miltr_common::commands::Helo;

    #[test]
    fn encodes_messages_and_macros() {
        assert_eq!(
            encode(&Helo::from(b"c.test".as_slice())),
            b"\0\0\0\x08Hc.test\0"
        );
        assert_eq!(encode_macros(b'C', &[("j", "mx")]), b"\0\0\0\x07DCj\0mx\0");
    }

    #[test]
    fn decodes_whole_frames_only_and_caps_them() {
        let mut buf = BytesMut::from(&b"\0\0\0\x02y"[..]);
        assert_eq!(decode(&mut buf), Ok(None));
        buf.extend_from_slice(b"Xrest");
        assert_eq!(decode(&mut buf).unwrap().unwrap().as_ref(), b"yX");
        assert_eq!(buf.as_ref(), b"rest");
        let mut huge = BytesMut::from(&0x0100_0001u32.to_be_bytes()[..]);
        assert_eq!(decode(&mut huge), Err(FrameError::TooLarge(0x0100_0001)));
        let mut empty = BytesMut::from(&[0u8, 0, 0, 0][..]);
        assert_eq!(decode(&mut empty), Err(FrameError::Empty));
    }
}
