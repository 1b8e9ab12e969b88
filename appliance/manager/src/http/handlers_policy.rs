//! The filter policy routes: `/filter-policy` and its parts.

use model::policy::{DomainPolicy, FilterPolicy, UserPolicy};

use super::input::{json, Handled, Params};
use super::response::Response;
use super::router::Router;

pub(super) fn filter_policy(r: &Router, p: &Params) -> Handled {
    p.only(&[])?;
    Ok(Response::json(200, &r.store.filter_policy()?))
}

pub(super) fn set_domain_policy(r: &Router, p: &Params, name: &str, body: &[u8]) -> Handled {
    p.only(&[])?;
    let policy: DomainPolicy = json(body)?;
    Ok(Response::json(
        200,
        &r.store.set_domain_policy(name, policy)?,
    ))
}

pub(super) fn set_user_policy(r: &Router, p: &Params, address: &str, body: &[u8]) -> Handled {
    p.only(&[])?;
    let policy: UserPolicy = json(body)?;
    Ok(Response::json(
        200,
        &r.store.set_user_policy(address, policy)?,
    ))
}

pub(super) fn set_delay_exempt(r: &Router, p: &Params, body: &[u8]) -> Handled {
    p.only(&[])?;
    let exempt: FilterPolicy = json(body)?;
    Ok(Response::json(
        200,
        &r.store
            .set_delay_exempt(&exempt.delay_exempt_networks, &exempt.delay_exempt_senders)?,
    ))
}
