//! Making a bundle (`filterbox update sign`) and looking into one
//! (`filterbox update inspect`).

use std::io::{Read, Write};
use std::path::Path;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::{encode_header, read_header, Metadata, RawHeader, FORMAT};
use crate::BundleError;

/// Size of one read while hashing or copying.
const CHUNK: usize = 1024 * 1024;

/// What goes into a new bundle besides the root filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBundle {
    /// The firmware version inside.
    pub version: String,
    /// The board it is for.
    pub board: String,
    /// When it was made, unix seconds.
    pub created: u64,
}

/// Writes a bundle of the root filesystem image `rootfs` signed with
/// `key` to `out` (through `OUT.part`, renamed when complete). Returns
/// its metadata.
pub fn create(
    key: &SigningKey,
    new: &NewBundle,
    rootfs: &Path,
    out: &Path,
) -> Result<Metadata, BundleError> {
    let (rootfs_size, rootfs_sha256) = hash_file(rootfs)?;
    let metadata = Metadata {
        format: FORMAT,
        version: new.version.clone(),
        board: new.board.clone(),
        rootfs_size,
        rootfs_sha256,
        created: new.created,
    };
    metadata.check()?;
    let bytes = serde_json::to_vec(&metadata).map_err(|e| BundleError::Metadata(e.to_string()))?;
    let signature = key.sign(&bytes).to_bytes();
    let mut part = out.as_os_str().to_owned();
    part.push(".part");
    let part = std::path::PathBuf::from(part);
    let result = write_bundle(
        &part,
        &encode_header(&bytes, &signature),
        rootfs,
        rootfs_size,
    )
    .and_then(|()| std::fs::rename(&part, out));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&part);
        return Err(e.into());
    }
    Ok(metadata)
}

fn write_bundle(part: &Path, header: &[u8], rootfs: &Path, size: u64) -> std::io::Result<()> {
    let mut f = std::fs::File::create(part)?;
    f.write_all(header)?;
    let copied = std::io::copy(&mut std::fs::File::open(rootfs)?.take(size), &mut f)?;
    if copied != size {
        return Err(std::io::Error::other(format!(
            "the root filesystem image changed while it was signed ({copied} of {size} bytes)"
        )));
    }
    f.sync_all()
}

/// The size and SHA-256 (lowercase hex) of a file.
pub fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex(&hasher.finalize())))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What `inspect` found in a bundle file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inspection {
    /// The metadata (checked against the key when one was given).
    pub metadata: Metadata,
    /// `Some(true)` when the signature verifies with the key given,
    /// `Some(false)` when it does not, `None` when no key was given.
    pub signature_ok: Option<bool>,
    /// The file's size minus the header: what the root filesystem has.
    pub rootfs_bytes: u64,
    /// When `hash` was asked: whether the root filesystem's SHA-256 matches.
    pub hash_ok: Option<bool>,
}

impl Inspection {
    /// Everything checked is right (signature, size, hash where checked).
    pub fn whole(&self) -> bool {
        self.signature_ok != Some(false)
            && self.rootfs_bytes == self.metadata.rootfs_size
            && self.hash_ok != Some(false)
    }
}

/// Reads a bundle file's header, checks its signature with `key` when
/// given, its size, and with `hash` its root filesystem's SHA-256.
pub fn inspect(
    path: &Path,
    key: Option<&VerifyingKey>,
    hash: bool,
) -> Result<Inspection, BundleError> {
    let mut f = std::fs::File::open(path)?;
    let file_len = f.metadata()?.len();
    let header: RawHeader = read_header(&mut f)?;
    let (metadata, signature_ok) = match key {
        Some(k) => match header.verify(k) {
            Ok(m) => (m, Some(true)),
            Err(BundleError::BadSignature) => (header.metadata_unverified()?, Some(false)),
            Err(e) => return Err(e),
        },
        None => (header.metadata_unverified()?, None),
    };
    let rootfs_bytes = file_len.saturating_sub(header.len());
    let hash_ok = if hash {
        let mut hasher = Sha256::new();
        std::io::copy(&mut f.take(metadata.rootfs_size), &mut hasher)?;
        Some(hex(&hasher.finalize()) == metadata.rootfs_sha256)
    } else {
        None
    };
    Ok(Inspection {
        metadata,
        signature_ok,
        rootfs_bytes,
        hash_ok,
    })
}
