//! Dot-stuffing and normalisation, including the smuggling sequences.

use super::*;

fn encode(input: &[u8], chunk_size: usize) -> Vec<u8> {
    let mut stuffer = DotStuffer::new(input, chunk_size);
    let mut chunk = Vec::new();
    let mut wire = Vec::new();
    while stuffer.next_chunk(&mut chunk) {
        assert!(
            chunk.len() <= chunk_size + 6,
            "chunk of {} octets",
            chunk.len()
        );
        wire.extend_from_slice(&chunk);
    }
    wire
}

#[track_caller]
fn check(input: &[u8], expected: &[u8]) {
    for chunk_size in [1, 2, 3, 5, 7, BODY_CHUNK] {
        assert_eq!(
            encode(input, chunk_size).escape_ascii().to_string(),
            expected.escape_ascii().to_string(),
            "chunk size {chunk_size}"
        );
    }
    let stuffing = expected.windows(3).filter(|w| w == b"\n..").count() as u64
        + u64::from(expected.starts_with(b".."));
    assert_eq!(wire_size(input), expected.len() as u64 - 3 - stuffing);
}

#[test]
fn leading_dots_are_doubled() {
    check(
        b".a\r\n..b\r\nc.\r\n.\r\n",
        b"..a\r\n...b\r\nc.\r\n..\r\n.\r\n",
    );
}

#[test]
fn lf_dot_lf_cannot_end_the_data() {
    check(b"a\n.\nb\n", b"a\r\n..\r\nb\r\n.\r\n");
}

#[test]
fn cr_dot_cr_cannot_end_the_data() {
    check(b"a\r.\rb\r", b"a\r\n..\r\nb\r\n.\r\n");
}

#[test]
fn lf_dot_crlf_cannot_end_the_data() {
    check(b"a\n.\r\nb\r\n", b"a\r\n..\r\nb\r\n.\r\n");
}

#[test]
fn cr_before_crlf_is_a_line_of_its_own() {
    check(b"a\r\r\nb\r\n", b"a\r\n\r\nb\r\n.\r\n");
}

#[test]
fn missing_final_crlf_is_added() {
    check(
        b"Subject: x\r\n\r\nbody",
        b"Subject: x\r\n\r\nbody\r\n.\r\n",
    );
}

#[test]
fn empty_message_is_just_the_terminator() {
    check(b"", b".\r\n");
}

#[test]
fn lone_dot_message_is_stuffed() {
    check(b".", b"..\r\n.\r\n");
}

#[test]
fn long_line_is_streamed_in_bounded_chunks() {
    let mut input = vec![b'x'; 3 * BODY_CHUNK + 17];
    input.extend_from_slice(b"\n.end");
    let mut expected = input[..3 * BODY_CHUNK + 17].to_vec();
    expected.extend_from_slice(b"\r\n..end\r\n.\r\n");
    let mut stuffer = DotStuffer::new(&input, BODY_CHUNK);
    let mut chunk = Vec::new();
    let mut wire = Vec::new();
    let mut chunks = 0;
    while stuffer.next_chunk(&mut chunk) {
        assert!(chunk.len() <= BODY_CHUNK + 6);
        wire.extend_from_slice(&chunk);
        chunks += 1;
    }
    assert_eq!(wire, expected);
    assert!(chunks >= 4);
}

/// Reverses the transformation the way a correct receiver does.
fn unstuff(wire: &[u8]) -> Vec<u8> {
    let body = wire.strip_suffix(b".\r\n").expect("terminator");
    let mut out = Vec::new();
    for line in body.split_inclusive(|b| *b == b'\n') {
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    out
}

/// An independent, byte-at-a-time statement of the normalisation rule.
fn normalise(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut index = 0;
    while index < input.len() {
        match input[index] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if input.get(index + 1) == Some(&b'\n') {
                    index += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            other => out.push(other),
        }
        index += 1;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Every line ends in CRLF, the only `CRLF.CRLF` is the terminator, and
/// unstuffing gives back the normalised input, for many generated inputs.
#[test]
fn generated_inputs_keep_the_invariants() {
    let alphabet = [b'a', b'.', b'\r', b'\n', 0xc3];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..3000 {
        let len = (next() % 24) as usize;
        let input: Vec<u8> = (0..len).map(|_| alphabet[(next() % 5) as usize]).collect();
        let wire = encode(&input, 4);
        for (i, byte) in wire.iter().enumerate() {
            match byte {
                b'\r' => assert_eq!(wire.get(i + 1), Some(&b'\n'), "{input:?}"),
                b'\n' => assert_eq!(wire[i - 1], b'\r', "{input:?}"),
                _ => {}
            }
        }
        let framed = [b"\r\n".as_slice(), &wire].concat();
        let end = framed.windows(5).position(|w| w == b"\r\n.\r\n");
        assert_eq!(end, Some(framed.len() - 5), "{input:?}");
        let unstuffed = unstuff(&wire);
        assert_eq!(unstuffed, normalise(&input), "{input:?}");
        assert_eq!(unstuffed.len() as u64, wire_size(&input), "{input:?}");
    }
}

#[test]
fn eight_bit_detection() {
    assert!(!has_eight_bit(b"plain ascii\r\n"));
    assert!(has_eight_bit("caf\u{e9}".as_bytes()));
}
