//! The domain routes of outbound mail: `PATCH /domains/{name}`,
//! `GET /domains/{name}/dkim`, and `GET /directory` with the DKIM keys.

use model::api::DomainUpdate;

use super::input::{json, Handled, Params};
use super::response::Response;
use super::router::Router;
use crate::caller::Caller;

pub(super) fn update_domain(r: &Router, p: &Params, name: &str, body: &[u8]) -> Handled {
    p.only(&[])?;
    let update: DomainUpdate = json(body)?;
    Ok(Response::json(200, &r.store.update_domain(name, &update)?))
}

pub(super) fn domain_dkim(r: &Router, p: &Params, name: &str) -> Handled {
    p.only(&[])?;
    Ok(Response::json(200, &r.store.dkim_record(name)?))
}

/// The directory; the private keys only for the box's own processes (the
/// mta on the unix socket), never over the network.
pub(super) fn directory(r: &Router, p: &Params, caller: &Caller) -> Handled {
    p.only(&[])?;
    let mut directory = r.store.directory()?;
    if caller.is_local() {
        directory.dkim = r.store.dkim_keys()?;
    }
    Ok(Response::json(200, &directory))
}
