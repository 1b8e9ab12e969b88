//! The digest's one-click links: open without the token, signed, expiring,
//! single-use, bound to their item's recipient; `GET` changes nothing.

use super::{call, router, Router, TCP};
use crate::links::{Link, LinkAction};
use serde_json::{json, Value};

/// A quarantined spam for `user@y.test` (and its domain and user); its id.
fn held(r: &Router) -> String {
    assert_eq!(
        call(
            r,
            "POST",
            "/api/v1/domains",
            json!({"name": "y.test", "delivery": [{"host": "127.0.0.1"}]})
        )
        .0,
        201
    );
    assert_eq!(
        call(
            r,
            "POST",
            "/api/v1/users",
            json!({"address": "user@y.test"})
        )
        .0,
        201
    );
    let (status, v) = call(
        r,
        "POST",
        "/api/v1/quarantine",
        json!({
            "sender": "pest@nuisance.test", "recipients": ["user@y.test"],
            "subject": "Buy", "kind": "spam", "score": 9.0, "reasons": ["X"],
            "message": "U3ViamVjdDogQnV5DQoNCkdUVUJFDQo="
        }),
    );
    assert_eq!(status, 201, "{v}");
    v["ids"][0].as_str().unwrap().to_string()
}

fn token(r: &Router, action: LinkAction, id: &str, recipient: &str, expires: u64) -> String {
    let key = r.store.link_key().unwrap();
    Link::new(action, id, recipient, expires).sign(&key)
}

fn later() -> u64 {
    model::time::now_ms() / 1000 + 3600
}

#[test]
fn a_block_link_works_once_without_a_login_and_get_changes_nothing() {
    let (_d, r) = router();
    let id = held(&r);
    let t = token(&r, LinkAction::BlockSender, &id, "user@y.test", later());
    let path = format!("/api/v1/links/{t}");
    // Open over TCP without the API token, unlike its neighbours.
    assert!(r.admit(&path, None, 0, &TCP).is_ok());
    assert!(r.admit("/api/v1/quarantine", None, 0, &TCP).is_err());

    let (status, v) = call(&r, "GET", &path, Value::Null);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (
            v["action"].as_str(),
            v["sender"].as_str(),
            v["used"].as_bool()
        ),
        (Some("block"), Some("pest@nuisance.test"), Some(false))
    );
    assert_eq!(call(&r, "GET", &path, Value::Null).1["used"], false);
    let policy = r.store.filter_policy().unwrap();
    assert!(policy.users.is_empty(), "GET blocked nothing: {policy:?}");

    let (status, v) = call(&r, "POST", &path, Value::Null);
    assert_eq!((status, v["used"].as_bool()), (200, Some(true)), "{v}");
    let policy = r.store.filter_policy().unwrap();
    assert_eq!(policy.users[0].block, ["pest@nuisance.test"]);
    assert_eq!(call(&r, "POST", &path, Value::Null).0, 410, "used once");
    assert_eq!(call(&r, "GET", &path, Value::Null).1["used"], true);
}

#[test]
fn tampered_expired_foreign_and_gone_links_are_refused() {
    let (_d, r) = router();
    let id = held(&r);
    let good = token(&r, LinkAction::Release, &id, "user@y.test", later());
    let mut chars: Vec<char> = good.chars().collect();
    let i = chars.len() / 3;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    assert_eq!(
        call(
            &r,
            "POST",
            &format!("/api/v1/links/{tampered}"),
            Value::Null
        )
        .0,
        403
    );
    let expired = token(&r, LinkAction::Release, &id, "user@y.test", 1);
    assert_eq!(
        call(&r, "POST", &format!("/api/v1/links/{expired}"), Value::Null).0,
        410
    );
    // Signed, but for another recipient than the item's.
    let foreign = token(&r, LinkAction::Release, &id, "eve@y.test", later());
    assert_eq!(
        call(&r, "GET", &format!("/api/v1/links/{foreign}"), Value::Null).0,
        403
    );
    // The mta is down: 502, and the link stays usable.
    let path = format!("/api/v1/links/{good}");
    assert_eq!(call(&r, "POST", &path, Value::Null).0, 502);
    assert_eq!(call(&r, "GET", &path, Value::Null).1["used"], false);
    // The item deleted meanwhile: gone.
    assert_eq!(
        call(
            &r,
            "DELETE",
            &format!("/api/v1/quarantine/{id}"),
            Value::Null
        )
        .0,
        204
    );
    assert_eq!(call(&r, "GET", &path, Value::Null).0, 410);
    assert_eq!(call(&r, "PUT", &path, Value::Null).0, 405);
}
