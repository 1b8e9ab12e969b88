//! The update crate's errors: one variant per refusal, each with the
//! sentence an administrator reads.

use std::path::PathBuf;

/// Why a bundle's header (magic, format, metadata, signature) is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// It does not start with the `.fbu` magic.
    #[error("not a filterbox update bundle (.fbu): it does not start with the bundle magic")]
    BadMagic,
    /// A format this firmware does not read.
    #[error("bundle format {0} is not supported by this firmware (it reads format {supported})", supported = crate::bundle::FORMAT)]
    UnsupportedFormat(u16),
    /// The metadata is longer than [`crate::bundle::MAX_METADATA`].
    #[error("bundle metadata of {0} bytes is over the limit of {max} bytes", max = crate::bundle::MAX_METADATA)]
    MetadataTooLarge(u32),
    /// The stream ended inside the header.
    #[error("truncated: the bundle ends inside its header, after {0} bytes")]
    TruncatedHeader(u64),
    /// The signature does not verify with the trusted key.
    #[error("bad signature: the bundle is not signed by the key this firmware trusts")]
    BadSignature,
    /// The (signed) metadata is not what this firmware expects.
    #[error("invalid bundle metadata: {0}")]
    Metadata(String),
    /// Reading the bundle failed.
    #[error("cannot read the bundle: {0}")]
    Read(std::io::Error),
}

impl From<std::io::Error> for BundleError {
    fn from(e: std::io::Error) -> Self {
        BundleError::Read(e)
    }
}

/// Why GRUB's environment block could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// The block does not start with GRUB's signature line.
    #[error("not a GRUB environment block (no `# GRUB Environment Block` line)")]
    NoSignature,
    /// The variables do not fit in the block.
    #[error("the GRUB environment needs {needed} bytes but the block has {size}")]
    TooLarge {
        /// Bytes the variables need.
        needed: usize,
        /// Size of the block.
        size: usize,
    },
    /// A name GRUB could not read back (empty, or with `=`, `#` first, a newline or `\`).
    #[error("invalid GRUB environment variable name {0:?}")]
    BadName(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The boot partition could not be found or mounted.
    #[error("boot partition: {0}")]
    Mount(String),
}

/// Why an install was refused or failed. Every variant before the switch
/// leaves the boot order unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The header is unusable or the signature does not verify.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The bundle is for another board.
    #[error("wrong board {bundle} (this box is {running})")]
    WrongBoard {
        /// The bundle's board.
        bundle: String,
        /// This box's board.
        running: String,
    },
    /// The bundle is not newer than what runs, and `force` was not given.
    #[error("older version {bundle} <= running {running} (use force to downgrade)")]
    OlderVersion {
        /// The bundle's version.
        bundle: String,
        /// The running version.
        running: String,
    },
    /// The root filesystem does not fit in the slot.
    #[error(
        "slot too small: the root filesystem has {needed} bytes, slot {slot} holds {available}"
    )]
    SlotTooSmall {
        /// The slot.
        slot: crate::Slot,
        /// `rootfs_size`.
        needed: u64,
        /// The slot's size.
        available: u64,
    },
    /// The stream ended before the declared root filesystem size.
    #[error("truncated at {got} of {expected} bytes of the root filesystem")]
    Truncated {
        /// Bytes received.
        got: u64,
        /// `rootfs_size`.
        expected: u64,
    },
    /// The stream went on after the declared root filesystem size.
    #[error("oversized: more bytes follow the {expected} bytes of the root filesystem the metadata declares")]
    Oversized {
        /// `rootfs_size`.
        expected: u64,
    },
    /// The root filesystem's SHA-256 is not the signed one.
    #[error("hash mismatch: the root filesystem's SHA-256 is {actual}, the signed metadata says {expected}")]
    HashMismatch {
        /// From the metadata.
        expected: String,
        /// Computed.
        actual: String,
    },
    /// The target is the slot running now.
    #[error("slot {0} is the one running; an update goes into the other slot")]
    ActiveSlot(crate::Slot),
    /// Not booted from a firmware slot (a workstation), so no inactive slot.
    #[error("this system was not booted from a firmware slot (no filterbox.slot= on the kernel command line); nothing to install into")]
    NotOnSlot,
    /// The inactive slot's partition was not found.
    #[error("cannot find the partition {0} of the inactive slot")]
    NoDevice(String),
    /// The slot's device could not be opened, written or synced.
    #[error("writing slot {slot} ({}): {source}", device.display())]
    Slot {
        /// The slot.
        slot: crate::Slot,
        /// Its device.
        device: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The trusted public key could not be read.
    #[error("cannot read the update public key {}: {reason}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Another install is under way.
    #[error("another firmware install is under way; wait for it to finish")]
    Busy,
    /// The boot environment could not be read or switched.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// The record of the slots' versions on the data partition failed.
    #[error("cannot record the slot's version in {}: {source}", path.display())]
    Record {
        /// The record file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}
