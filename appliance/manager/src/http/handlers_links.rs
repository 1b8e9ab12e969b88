//! The quarantine digests (`/digest/...`: schedules per domain and user,
//! sending due digests now) and their one-click links (`/links/{token}`), open
//! without a login because the token is signed, expiring and single-use
//! (see `crate::links`). `GET` only says what the link would do: mail
//! scanners fetch the links in a message, and that must change nothing.
//! `POST` does it, once.

use model::tenancy::{DigestRun, DigestSetting, LinkInfo};

use super::input::{invalid, json, Handled, Params};
use super::response::Response;
use super::router::Router;
use crate::links::{Link, LinkAction, LinkError};
use crate::store::StoreError;

pub(super) fn describe(r: &Router, p: &Params, token: &str) -> Handled {
    p.only(&[])?;
    let (link, item) = checked(r, token)?;
    let used = r.store.link_used(&link.nonce)?;
    Ok(Response::json(200, &info(&link, &item, used)))
}

pub(super) fn act(r: &Router, p: &Params, token: &str) -> Handled {
    p.only(&[])?;
    let (link, item) = checked(r, token)?;
    if r.store.link_used(&link.nonce)? {
        return Err(refused(LinkError::Used));
    }
    match link.action {
        // A release that fails (the mta is down) leaves the link unused,
        // to be clicked again; two clicks at once deliver once (the
        // releaser's in-flight guard, then the item is gone).
        LinkAction::Release => {
            r.releaser.release(&r.store, &link.id)?;
        }
        LinkAction::BlockSender => {
            r.store.block_sender(&link.recipient, &item.sender)?;
        }
    }
    r.store.use_link(&link.nonce, link.expires)?;
    log::info!(
        "digest link: {} {} for {}",
        match link.action {
            LinkAction::Release => "released",
            LinkAction::BlockSender => "blocked the sender of",
        },
        link.id,
        link.recipient
    );
    Ok(Response::json(200, &info(&link, &item, true)))
}

/// The link `token` names and its item, or the refusal.
fn checked(r: &Router, token: &str) -> Result<(Link, model::api::QuarantineItem), Response> {
    let key = r.store.link_key()?;
    let link = Link::verify(&key, token, model::time::now_ms() / 1000).map_err(refused)?;
    let item = match r.store.quarantine_item(&link.id) {
        Ok(item) => item,
        Err(StoreError::NotFound(_)) => {
            return Err(Response::error(
                410,
                "gone",
                "the message is no longer in the quarantine (released, deleted or expired)",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    if item.recipient != link.recipient {
        return Err(refused(LinkError::Invalid));
    }
    Ok((link, item))
}

fn refused(e: LinkError) -> Response {
    match e {
        LinkError::Invalid => Response::error(403, "invalid_link", e.to_string()),
        LinkError::Expired => Response::error(410, "expired_link", e.to_string()),
        LinkError::Used => Response::error(410, "used_link", e.to_string()),
    }
}

fn info(link: &Link, item: &model::api::QuarantineItem, used: bool) -> LinkInfo {
    LinkInfo {
        action: match link.action {
            LinkAction::Release => "release".into(),
            LinkAction::BlockSender => "block".into(),
        },
        id: link.id.clone(),
        recipient: link.recipient.clone(),
        sender: item.sender.clone(),
        subject: item.subject.clone(),
        expires: link.expires,
        used,
    }
}

pub(super) fn set_domain_digest(r: &Router, p: &Params, name: &str, body: &[u8]) -> Handled {
    p.only(&[])?;
    let s: DigestSetting = json(body)?;
    r.store.set_domain_digest(name, s.schedule)?;
    Ok(Response::json(200, &s))
}

pub(super) fn user_digest(r: &Router, p: &Params, address: &str) -> Handled {
    p.only(&[])?;
    r.store.user(address)?;
    let schedule = r.store.digest_schedule(address)?;
    Ok(Response::json(200, &DigestSetting { schedule }))
}

pub(super) fn set_user_digest(r: &Router, p: &Params, address: &str, body: &[u8]) -> Handled {
    p.only(&[])?;
    let s: DigestSetting = json(body)?;
    r.store.set_user_digest(address, s.schedule)?;
    Ok(Response::json(200, &s))
}

pub(super) fn run_digests(r: &Router, p: &Params) -> Handled {
    p.only(&["force"])?;
    let force = match p.get("force") {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => return Err(invalid(format!("force {v:?} must be true or false"))),
    };
    let sent = r.send_digests(force)?;
    Ok(Response::json(
        200,
        &DigestRun {
            sent: u32::try_from(sent).unwrap_or(u32::MAX),
        },
    ))
}
