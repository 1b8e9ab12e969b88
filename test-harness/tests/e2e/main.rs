//! End-to-end tests of the firmware: each test boots the image built by
//! `make image` in QEMU (built first if missing) and drives the box as its
//! administrator and its mail peers would: the serial console, SMTP and the
//! API on forwarded ports, a LAN host (smoltcp) on its second port, update
//! bundles over HTTP and on a USB stick, and a pulled power plug.
//!
//! The nine checks of issue 4 share three boxes (one per test function, run
//! in parallel), each check building on the state the previous one left:
//! - `first_boot`: 1 boot to ready, 2 a static LAN address from the
//!   console, 3 mail delivered and GTUBE quarantined, 8 factory reset;
//! - `http_update`: 5 bad bundles refused, 4 an update over HTTP, 6 a
//!   bundle that never turns healthy rolled back;
//! - `usb_update`: 9 power cut during an update, 7 an update from USB.
//!
//! Console transcripts are kept in `target/e2e-logs/`.

mod first_boot;
mod http_update;
mod support;
mod usb_update;
