//! One function per route: parameters checked, the store asked, the answer built.

use model::api::{
    Generation, Health, NewDomain, NewQuarantine, NewUser, QuarantineCreated, QuarantineKind,
    TrackingEvent,
};
use model::client::TrackingQuery;
use model::time::now_ms;

use super::input::{invalid, json, Handled, Params};
use super::response::Response;
use super::router::Router;
use crate::store::QuarantineDelete;

pub(super) fn health(p: &Params) -> Handled {
    p.only(&[])?;
    Ok(Response::json(
        200,
        &Health {
            status: "ok".into(),
            role: "manager".into(),
            version: model::VERSION.into(),
        },
    ))
}

pub(super) fn domains(r: &Router, p: &Params) -> Handled {
    p.only(&[])?;
    Ok(Response::json(200, &r.store.domains()?))
}

pub(super) fn create_domain(r: &Router, p: &Params, body: &[u8]) -> Handled {
    p.only(&[])?;
    let new: NewDomain = json(body)?;
    Ok(Response::json(201, &r.store.create_domain(&new, now_ms())?))
}

pub(super) fn domain(r: &Router, p: &Params, name: &str) -> Handled {
    p.only(&[])?;
    Ok(Response::json(200, &r.store.domain(name)?))
}

pub(super) fn delete_domain(r: &Router, p: &Params, name: &str) -> Handled {
    p.only(&[])?;
    r.store.delete_domain(name)?;
    Ok(Response::no_content())
}

pub(super) fn users(r: &Router, p: &Params) -> Handled {
    p.only(&["domain", "q", "limit"])?;
    let users = r.store.users(p.get("domain"), p.get("q"), p.limit()?)?;
    Ok(Response::json(200, &users))
}

pub(super) fn create_user(r: &Router, p: &Params, body: &[u8]) -> Handled {
    p.only(&[])?;
    let new: NewUser = json(body)?;
    Ok(Response::json(201, &r.store.create_user(&new, now_ms())?))
}

pub(super) fn user(r: &Router, p: &Params, address: &str) -> Handled {
    p.only(&[])?;
    Ok(Response::json(200, &r.store.user(address)?))
}

pub(super) fn delete_user(r: &Router, p: &Params, address: &str) -> Handled {
    p.only(&[])?;
    r.store.delete_user(address)?;
    Ok(Response::no_content())
}

pub(super) fn generation(r: &Router, p: &Params) -> Handled {
    p.only(&[])?;
    let generation = r.store.generation()?;
    Ok(Response::json(200, &Generation { generation }))
}

pub(super) fn quarantine_list(r: &Router, p: &Params) -> Handled {
    p.only(&["recipient", "kind", "limit"])?;
    let kind = p.get("kind").map(parse_kind).transpose()?;
    let items = r
        .store
        .quarantine_list(p.get("recipient"), kind, p.limit()?)?;
    Ok(Response::json(200, &items))
}

fn parse_kind(k: &str) -> Result<QuarantineKind, Response> {
    [
        QuarantineKind::Spam,
        QuarantineKind::Virus,
        QuarantineKind::Attachment,
    ]
    .into_iter()
    .find(|q| q.as_str() == k)
    .ok_or_else(|| invalid(format!("kind {k:?} must be spam, virus or attachment")))
}

pub(super) fn quarantine_create(r: &Router, p: &Params, body: &[u8]) -> Handled {
    p.only(&[])?;
    let new: NewQuarantine = json(body)?;
    let ids = r.store.quarantine_create(&new, now_ms())?;
    if new.outbound {
        r.releaser.notify_held(&new, &ids);
    }
    Ok(Response::json(201, &QuarantineCreated { ids }))
}

pub(super) fn quarantine_item(r: &Router, p: &Params, id: &str) -> Handled {
    p.only(&[])?;
    Ok(Response::json(200, &r.store.quarantine_item(id)?))
}

pub(super) fn quarantine_message(r: &Router, p: &Params, id: &str) -> Handled {
    p.only(&[])?;
    Ok(Response::bytes(
        "message/rfc822",
        r.store.quarantine_message(id)?,
    ))
}

pub(super) fn quarantine_delete(r: &Router, p: &Params, id: &str) -> Handled {
    p.only(&[])?;
    r.store.quarantine_remove(id, QuarantineDelete::Deleted)?;
    Ok(Response::no_content())
}

pub(super) fn quarantine_release(r: &Router, p: &Params, id: &str) -> Handled {
    p.only(&[])?;
    Ok(Response::json(200, &r.releaser.release(&r.store, id)?))
}

pub(super) fn learn_create(r: &Router, p: &Params, body: &[u8]) -> Handled {
    p.only(&[])?;
    let new: model::policy::NewLearnEvent = json(body)?;
    let mut event = r.store.learn_add(new.spam, &new.message.0)?;
    event.message = model::api::Base64Bytes(Vec::new());
    Ok(Response::json(201, &event))
}

pub(super) fn learn_list(r: &Router, p: &Params) -> Handled {
    p.only(&["after", "limit"])?;
    let after = match p.get("after") {
        None => 0,
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| invalid(format!("after {v:?} must be a sequence number")))?,
    };
    Ok(Response::json(
        200,
        &r.store.learn_after(after, p.limit()?)?,
    ))
}

pub(super) fn tracking(r: &Router, p: &Params) -> Handled {
    p.only(&["queue_id", "message_id", "sender", "recipient", "limit"])?;
    let q = TrackingQuery {
        queue_id: p.get("queue_id").map(Into::into),
        message_id: p.get("message_id").map(Into::into),
        sender: p.get("sender").map(Into::into),
        recipient: p.get("recipient").map(Into::into),
    };
    Ok(Response::json(200, &r.store.tracking(&q, p.limit()?)?))
}

pub(super) fn track(r: &Router, p: &Params, body: &[u8]) -> Handled {
    p.only(&[])?;
    let events: Vec<TrackingEvent> = json(body)?;
    r.store.record_events(&events)?;
    Ok(Response::no_content())
}

pub(super) fn stats(r: &Router, p: &Params) -> Handled {
    p.only(&[])?;
    Ok(Response::json(200, &r.store.stats(now_ms())?))
}

/// How long the supervisor may take to describe the box.
const SYSTEM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The box's status as the supervisor reports it (roles, crash loops,
/// addresses): what the console's status screen shows, for the web UI.
pub(super) fn system(r: &Router, p: &Params) -> Handled {
    use model::control::{ask, ControlRequest, ControlResponse};
    p.only(&[])?;
    let Some(socket) = &r.control_socket else {
        return Ok(Response::error(
            404,
            "not_found",
            "this manager runs without a supervisor",
        ));
    };
    match ask(socket, &ControlRequest::Status, SYSTEM_TIMEOUT) {
        Ok(ControlResponse::Status(status)) => Ok(Response::json(200, &status)),
        Ok(other) => Ok(Response::error(
            502,
            "upstream",
            format!("unexpected answer from the supervisor: {other:?}"),
        )),
        Err(e) => Ok(Response::error(502, "upstream", e.to_string())),
    }
}
