//! The admin account and admin networks routes.

use model::api::{AdminNetworks, AdminToken, SetPassword, VerifyPassword};

use super::input::{invalid, json, Handled, Params};
use super::response::Response;
use super::router::Router;
use crate::admin::networks::normalize;
use crate::caller::Caller;

pub(super) fn state(r: &Router, p: &Params) -> Handled {
    p.only(&[])?;
    Ok(Response::json(200, &r.admin.state(&r.store)?))
}

pub(super) fn set_password(r: &Router, p: &Params, body: &[u8], caller: &Caller) -> Handled {
    p.only(&[])?;
    let req: SetPassword = json(body)?;
    r.admin.set_password(&r.store, &req, caller)?;
    Ok(Response::no_content())
}

pub(super) fn verify(r: &Router, p: &Params, body: &[u8]) -> Handled {
    p.only(&[])?;
    let req: VerifyPassword = json(body)?;
    r.admin.verify(&r.store, &req.password)?;
    Ok(Response::no_content())
}

/// The API token for the right admin password (throttled like `verify`).
pub(super) fn token(r: &Router, p: &Params, body: &[u8]) -> Handled {
    p.only(&[])?;
    let req: VerifyPassword = json(body)?;
    r.admin.verify(&r.store, &req.password)?;
    log::info!("admin login: API token handed out");
    Ok(Response::json(
        200,
        &AdminToken {
            token: r.token().to_string(),
        },
    ))
}

pub(super) fn networks(r: &Router, p: &Params) -> Handled {
    p.only(&[])?;
    let networks = r.store.admin_networks()?;
    Ok(Response::json(200, &AdminNetworks { networks }))
}

pub(super) fn set_networks(r: &Router, p: &Params, body: &[u8]) -> Handled {
    p.only(&[])?;
    let req: AdminNetworks = json(body)?;
    let networks = normalize(&req.networks).map_err(invalid)?;
    r.store.set_admin_networks(&networks)?;
    log::info!("admin networks set to [{}]", networks.join(", "));
    Ok(Response::json(200, &AdminNetworks { networks }))
}
