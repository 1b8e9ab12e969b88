//! The bundle header: parsing, caps and every refusal.

use ed25519_dalek::{Signer, SigningKey};

use super::*;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn metadata() -> Metadata {
    Metadata {
        format: FORMAT,
        version: "0.2.0".into(),
        board: "filterbox-x86_64".into(),
        rootfs_size: 3,
        rootfs_sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into(),
        created: 1_700_000_000,
    }
}

fn header_of(m: &Metadata, signer: &SigningKey) -> Vec<u8> {
    let bytes = serde_json::to_vec(m).unwrap();
    encode_header(&bytes, &signer.sign(&bytes).to_bytes())
}

#[test]
fn a_signed_header_parses_and_verifies() {
    let k = key(1);
    let mut bundle = header_of(&metadata(), &k);
    let header_len = bundle.len();
    bundle.extend_from_slice(b"abc");
    let Parse::Header(h) = parse_header(&bundle).unwrap() else {
        panic!("complete header not found")
    };
    assert_eq!(h.len(), header_len as u64);
    assert_eq!(h.verify(&k.verifying_key()).unwrap(), metadata());
    // read_header stops exactly at the root filesystem.
    let mut reader = &bundle[..];
    assert_eq!(read_header(&mut reader).unwrap(), h);
    assert_eq!(reader, b"abc");
}

#[test]
fn the_parser_asks_for_what_it_needs() {
    let bundle = header_of(&metadata(), &key(1));
    assert_eq!(parse_header(&[]).unwrap(), Parse::NeedMore(FIXED_LEN));
    assert_eq!(
        parse_header(&bundle[..5]).unwrap(),
        Parse::NeedMore(FIXED_LEN)
    );
    let meta_len = bundle.len() - FIXED_LEN - SIGNATURE_LEN;
    assert_eq!(
        parse_header(&bundle[..FIXED_LEN + 1]).unwrap(),
        Parse::NeedMore(FIXED_LEN + meta_len + SIGNATURE_LEN)
    );
}

#[test]
fn a_wrong_key_or_a_changed_byte_is_a_bad_signature() {
    let k = key(1);
    let bundle = header_of(&metadata(), &k);
    let Parse::Header(h) = parse_header(&bundle).unwrap() else {
        unreachable!()
    };
    assert!(matches!(
        h.verify(&key(2).verifying_key()),
        Err(BundleError::BadSignature)
    ));
    // One byte of the metadata changed (the version 0.2.0 -> 0.3.0): the
    // signature no longer covers it, and it is refused before being parsed.
    let mut forged = h.clone();
    let at = forged
        .metadata
        .windows(5)
        .position(|w| w == b"0.2.0")
        .unwrap();
    forged.metadata[at + 2] = b'3';
    assert!(matches!(
        forged.verify(&k.verifying_key()),
        Err(BundleError::BadSignature)
    ));
    let mut bad_sig = h;
    bad_sig.signature[0] ^= 1;
    assert!(matches!(
        bad_sig.verify(&k.verifying_key()),
        Err(BundleError::BadSignature)
    ));
}

#[test]
fn magic_format_and_length_caps() {
    let mut bundle = header_of(&metadata(), &key(1));
    assert!(matches!(
        parse_header(b"#!/bin/sh\n"),
        Err(BundleError::BadMagic)
    ));
    assert!(matches!(
        parse_header(b"\x89FBX"),
        Err(BundleError::BadMagic)
    ));
    bundle[9] = 2;
    assert!(matches!(
        parse_header(&bundle),
        Err(BundleError::UnsupportedFormat(2))
    ));
    bundle[9] = 1;
    bundle[10..14].copy_from_slice(&(MAX_METADATA + 1).to_be_bytes());
    let e = parse_header(&bundle).unwrap_err();
    assert!(matches!(e, BundleError::MetadataTooLarge(n) if n == MAX_METADATA + 1));
    assert!(e.to_string().contains("over the limit"), "{e}");
}

#[test]
fn a_header_cut_short_is_truncated() {
    let bundle = header_of(&metadata(), &key(1));
    for cut in [3, FIXED_LEN, bundle.len() - 1] {
        let mut reader = &bundle[..cut];
        match read_header(&mut reader) {
            Err(BundleError::TruncatedHeader(n)) => assert_eq!(n, cut as u64),
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn signed_but_invalid_metadata_is_refused_with_every_problem() {
    let k = key(1);
    let mut m = metadata();
    m.version = "1.0 beta".into();
    m.board = String::new();
    m.rootfs_size = 0;
    m.rootfs_sha256 = "ABC".into();
    let bundle = header_of(&m, &k);
    let Parse::Header(h) = parse_header(&bundle).unwrap() else {
        unreachable!()
    };
    let e = h.verify(&k.verifying_key()).unwrap_err().to_string();
    for part in [
        "version \"1.0 beta\"",
        "board \"\"",
        "rootfs_size is 0",
        "rootfs_sha256",
    ] {
        assert!(e.contains(part), "{e} lacks {part}");
    }
    // Unknown fields are refused too: a newer format must say so.
    let bytes = br#"{"format":1,"version":"1","board":"b","rootfs_size":1,"rootfs_sha256":"00","created":0,"min":"0.1"}"#;
    let h = RawHeader {
        metadata: bytes.to_vec(),
        signature: k.sign(bytes).to_bytes(),
    };
    assert!(h
        .verify(&k.verifying_key())
        .unwrap_err()
        .to_string()
        .contains("unknown field"));
}
