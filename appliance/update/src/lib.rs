//! Signed A/B firmware updates.
//!
//! The box has two read-only root slots, `A` and `B`. GRUB picks one from
//! its environment block (`ORDER`, `X_OK`, `X_TRY`: see [`bootstate`]),
//! counting the tries of a slot until the supervisor marks the boot good;
//! a slot that uses up its tries is abandoned and the other boots again.
//!
//! An update is a [`bundle`] (`.fbu`): JSON metadata signed with ed25519,
//! then the root filesystem image. [`install()`] checks the signature
//! before anything else, then the board and the version, streams the image
//! into the inactive slot while hashing it, and only when every byte is
//! there and the SHA-256 matches does it switch the boot order. Anything
//! off refuses the bundle whole with nothing switched.
//!
//! The parsers ([`bundle`], [`grubenv`], [`bootstate`], [`version`],
//! [`fetch`]'s answer head, [`usb`]'s device diff) are sans-I/O; the
//! [`Updater`] ties them to the box's files, all of whose paths are in a
//! [`Layout`], so tests run on plain files in a temporary directory.

#![forbid(unsafe_code)]

pub mod blockdev;
pub mod bootpart;
pub mod bootstate;
pub mod bundle;
pub mod cli;
pub mod envfile;
mod error;
pub mod fetch;
pub mod grubenv;
pub mod install;
pub mod keys;
pub mod layout;
pub mod record;
mod status;
mod updater;
pub mod usb;
pub mod version;

pub use bootstate::Slot;
pub use error::{BundleError, EnvError, UpdateError};
pub use install::{install, Installed, Progress, Running};
pub use layout::Layout;
pub use updater::Updater;
