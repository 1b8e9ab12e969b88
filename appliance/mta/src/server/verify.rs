//! Inbound recipient control at RCPT: the policy, and the call-out for
//! mailboxes of our domains that are not provisioned.
//!
//! After a positive call-out, an [`Provisioning::Automatic`] domain's
//! mailbox is provisioned in the manager and filtered at once; a
//! [`Provisioning::Manual`] domain's is relayed to its server unfiltered
//! (the milter never hears of it).

use model::api::Provisioning;

use super::Shared;
use crate::policy::{self, RecipientCheck};
use crate::session::{Reply, Verdict};

/// Where an accepted recipient's copy goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Through the filter.
    Filter,
    /// Straight to the queue, unfiltered.
    Unfiltered,
    /// Refused with this reply.
    Refuse(Reply),
}

/// The policy's answer for `address` (normal form) from an inbound client.
pub(crate) async fn inbound_recipient(shared: &Shared, address: &str, sid: &str) -> Route {
    let Some(directory) = shared.directory.snapshot() else {
        return settled(policy::check_recipient(None, address));
    };
    let provisioning = match policy::check_recipient(Some(&directory), address) {
        RecipientCheck::Verify(p) => p,
        other => return settled(other),
    };
    let servers = directory
        .routes(model::address::domain_of(address))
        .unwrap_or_default();
    let verification = shared.callout.verify(address, servers, sid).await;
    if let Verdict::Refuse(r) = policy::after_callout(&verification, address) {
        return Route::Refuse(r);
    }
    match provisioning {
        Provisioning::Automatic => {
            shared.callout.provision(address, sid).await;
            Route::Filter
        }
        Provisioning::Manual => {
            log::info!("{sid}: <{address}> not provisioned: relayed unfiltered");
            Route::Unfiltered
        }
    }
}

/// A check that needs no call-out, as a route.
fn settled(check: RecipientCheck) -> Route {
    match check {
        RecipientCheck::Refuse(r) => Route::Refuse(r),
        _ => Route::Filter,
    }
}
