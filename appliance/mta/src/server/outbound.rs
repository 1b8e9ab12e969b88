//! A connection's outbound side: relay control at RCPT (see
//! [`crate::relay`]), the relay grant the filter is told at MAIL (it
//! treats outbound mail differently), and DKIM signing at the end of DATA
//! (see [`crate::dkim`]).

use std::net::IpAddr;

use super::{Peer, Shared};
use crate::relay::{self, Decision};
use crate::session::Transaction;

/// The client's IP address; `None` on the inject socket.
fn client_ip(peer: &Peer) -> Option<IpAddr> {
    match peer {
        Peer::Tcp(a) => Some(a.ip()),
        Peer::Local => None,
    }
}

/// Why this client may relay (for the filter), if it may.
pub(crate) fn grant(shared: &Shared, peer: &Peer, user: Option<&str>) -> Option<relay::Grant> {
    let directory = shared.directory.snapshot()?;
    relay::grant(&directory.relay, client_ip(peer), user)
}

/// Relay control for `address` (normal form): our domains go on to the
/// inbound checks, foreign ones are relayed only for a client that may.
pub(crate) fn recipient(
    shared: &Shared,
    peer: &Peer,
    user: Option<&str>,
    address: &str,
    sid: &str,
) -> Decision {
    let directory = shared.directory.snapshot();
    let grant = directory
        .as_deref()
        .and_then(|d| relay::grant(&d.relay, client_ip(peer), user));
    let decision = relay::check(directory.as_deref(), grant.as_ref(), address);
    if let (Decision::Relay, Some(g)) = (&decision, &grant) {
        log::info!("{sid}: <{address}> relayed outbound ({g})");
    }
    decision
}

/// Signs `txn`'s message with its `From` domain's DKIM key when the client
/// speaks for that domain (see [`relay::speaks_for`]); the
/// `DKIM-Signature` field goes first. A
/// signing failure is logged and the message goes unsigned: refusing the
/// customer's mail over our key would be worse.
pub(crate) fn sign(
    shared: &Shared,
    peer: &Peer,
    user: Option<&str>,
    txn: &mut Transaction,
    sid: &str,
) {
    let (Some(directory), Some(domain)) = (
        shared.directory.snapshot(),
        crate::dkim::from_domain(&txn.body),
    ) else {
        return;
    };
    if !relay::speaks_for(&directory.relay, client_ip(peer), user, &domain) {
        return;
    }
    match directory.dkim.sign(&domain, &txn.body) {
        Ok(Some(field)) => {
            log::info!("{sid}: {}: DKIM-signed for {domain}", txn.queue_id);
            let mut body = field.into_bytes();
            body.extend_from_slice(&txn.body);
            txn.body = body;
        }
        Ok(None) => {}
        Err(e) => log::warn!("{sid}: {}: not DKIM-signed: {e}", txn.queue_id),
    }
}
