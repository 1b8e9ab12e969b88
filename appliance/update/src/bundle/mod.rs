//! The update bundle (`.fbu`), parsed without I/O.
//!
//! ```text
//! magic      8 bytes   \x89 F B U \r \n \x1a \n  (binary; mangled by text-mode copies)
//! format     u16 BE    1
//! length     u32 BE    length of the metadata, at most MAX_METADATA
//! metadata   JSON      Metadata, exactly the bytes that were signed
//! signature  64 bytes  ed25519 over the metadata bytes
//! rootfs     rootfs_size bytes: the squashfs image of a slot
//! ```
//!
//! The signature is checked before the metadata is even parsed
//! ([`RawHeader::verify`]), so nothing an attacker wrote is interpreted
//! unless the trusted key signed it. The metadata carries the format again,
//! so the signed bytes bind it.

mod write;

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::BundleError;

pub use write::{create, hash_file, hex, inspect, Inspection, NewBundle};

/// The first bytes of every bundle.
pub const MAGIC: [u8; 8] = *b"\x89FBU\r\n\x1a\n";
/// The bundle format this firmware reads and writes.
pub const FORMAT: u16 = 1;
/// Bytes of magic, format and metadata length.
pub const FIXED_LEN: usize = 14;
/// Length of the ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Longest metadata accepted: a few hundred bytes are used; the cap keeps
/// an unsigned (not yet verified) header from making us allocate much.
pub const MAX_METADATA: u32 = 16 * 1024;
/// Longest version and board names.
const MAX_NAME: usize = 64;

/// What a bundle says about itself (signed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// [`FORMAT`], bound by the signature.
    pub format: u16,
    /// The firmware version inside, e.g. `0.2.0` or `0.2.0+g1a2b3c4`.
    pub version: String,
    /// The board it is built for, e.g. `filterbox-x86_64`.
    pub board: String,
    /// Bytes of the root filesystem image that follow the signature.
    pub rootfs_size: u64,
    /// SHA-256 of those bytes, lowercase hex.
    pub rootfs_sha256: String,
    /// When it was made, unix seconds (`SOURCE_DATE_EPOCH` for reproducible builds).
    pub created: u64,
}

impl Metadata {
    /// Checks every field; a list of what is wrong.
    pub fn check(&self) -> Result<(), BundleError> {
        let mut problems = Vec::new();
        if self.format != FORMAT {
            problems.push(format!("format {} is not {FORMAT}", self.format));
        }
        if !valid_name(&self.version) {
            problems.push(format!("version {:?} must be 1 to {MAX_NAME} characters of letters, digits, `.`, `-`, `+`, `_` or `~`", self.version));
        }
        if !valid_name(&self.board) {
            problems.push(format!(
                "board {:?} must be 1 to {MAX_NAME} characters of letters, digits, `.`, `-`, `+`, `_` or `~`",
                self.board
            ));
        }
        if self.rootfs_size == 0 {
            problems.push("rootfs_size is 0".into());
        }
        if self.rootfs_sha256.len() != 64
            || !self
                .rootfs_sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            problems.push("rootfs_sha256 must be 64 lowercase hex digits".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(BundleError::Metadata(problems.join("; ")))
        }
    }
}

/// A version or board name: short, printable, no blanks.
pub fn valid_name(s: &str) -> bool {
    (1..=MAX_NAME).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-+_~".contains(&b))
}

/// A bundle's header as read, not yet trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawHeader {
    /// The metadata bytes exactly as signed.
    pub metadata: Vec<u8>,
    /// The signature over them.
    pub signature: [u8; SIGNATURE_LEN],
}

impl RawHeader {
    /// Bytes of the whole header; the root filesystem starts here.
    pub fn len(&self) -> u64 {
        (FIXED_LEN + self.metadata.len() + SIGNATURE_LEN) as u64
    }

    /// Never empty (the fixed part alone has bytes); for clippy's `len` rule.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Checks the signature with `key` FIRST, then parses and checks the
    /// metadata it covers.
    pub fn verify(&self, key: &VerifyingKey) -> Result<Metadata, BundleError> {
        let signature = Signature::from_bytes(&self.signature);
        key.verify(&self.metadata, &signature)
            .map_err(|_| BundleError::BadSignature)?;
        self.metadata_unverified()
    }

    /// The metadata without checking the signature: only for showing what
    /// a bundle claims (`filterbox update inspect` without the key).
    pub fn metadata_unverified(&self) -> Result<Metadata, BundleError> {
        let metadata: Metadata = serde_json::from_slice(&self.metadata)
            .map_err(|e| BundleError::Metadata(e.to_string()))?;
        metadata.check()?;
        Ok(metadata)
    }
}

/// What [`parse_header`] needs or found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parse {
    /// The header is not complete: at least this many bytes in all are needed.
    NeedMore(usize),
    /// The whole header.
    Header(RawHeader),
}

/// Parses the header at the start of `buf` (the bytes read so far).
pub fn parse_header(buf: &[u8]) -> Result<Parse, BundleError> {
    let magic_seen = buf.len().min(MAGIC.len());
    if buf[..magic_seen] != MAGIC[..magic_seen] {
        return Err(BundleError::BadMagic);
    }
    if buf.len() < FIXED_LEN {
        return Ok(Parse::NeedMore(FIXED_LEN));
    }
    let format = u16::from_be_bytes([buf[8], buf[9]]);
    if format != FORMAT {
        return Err(BundleError::UnsupportedFormat(format));
    }
    let length = u32::from_be_bytes([buf[10], buf[11], buf[12], buf[13]]);
    if length > MAX_METADATA {
        return Err(BundleError::MetadataTooLarge(length));
    }
    let end_meta = FIXED_LEN + length as usize;
    let total = end_meta + SIGNATURE_LEN;
    if buf.len() < total {
        return Ok(Parse::NeedMore(total));
    }
    let mut signature = [0u8; SIGNATURE_LEN];
    signature.copy_from_slice(&buf[end_meta..total]);
    Ok(Parse::Header(RawHeader {
        metadata: buf[FIXED_LEN..end_meta].to_vec(),
        signature,
    }))
}

/// Reads exactly the header from `source`, never more (the root
/// filesystem follows unread).
pub fn read_header(source: &mut dyn std::io::Read) -> Result<RawHeader, BundleError> {
    let mut buf = Vec::new();
    loop {
        match parse_header(&buf)? {
            Parse::Header(h) => return Ok(h),
            Parse::NeedMore(total) => {
                let have = buf.len();
                buf.resize(total, 0);
                let got = read_full(source, &mut buf[have..])?;
                if got < total - have {
                    return Err(BundleError::TruncatedHeader((have + got) as u64));
                }
            }
        }
    }
}

/// Reads until `buf` is full or the stream ends; how many bytes came.
pub(crate) fn read_full(source: &mut dyn std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match source.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Serialises the header of a bundle with `metadata` signed as `signature`.
pub fn encode_header(metadata: &[u8], signature: &[u8; SIGNATURE_LEN]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FIXED_LEN + metadata.len() + SIGNATURE_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT.to_be_bytes());
    out.extend_from_slice(&(metadata.len() as u32).to_be_bytes());
    out.extend_from_slice(metadata);
    out.extend_from_slice(signature);
    out
}

#[cfg(test)]
mod tests;
