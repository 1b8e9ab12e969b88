//! Admin account, admin networks and stats routes, every status, without sockets.

use std::time::Duration;

use super::{call, code, raw, router, ROOT, TCP};
use crate::admin::throttle::LockoutPolicy;
use crate::admin::Admin;
use crate::caller::Caller;
use crate::http::response::Response;
use crate::http::router::Router;
use serde_json::{json, Value};

/// Lockouts short enough to wait out in a test.
const SHORT: LockoutPolicy = LockoutPolicy {
    max_failures: 5,
    first_lockout: Duration::from_millis(400),
    max_lockout: Duration::from_secs(2),
};

/// The uid of the manager in these tests: not root, to tell the two apart.
const OWN_UID: u32 = 4242;
/// A process of the manager's own user on the unix socket (a workstation).
const OWN_USER: Caller = Caller::Unix { uid: OWN_UID };
/// Another role on the shared unix socket (the mta, the filter).
const OTHER_ROLE: Caller = Caller::Unix { uid: 4243 };

/// A request as it arrives from `caller`.
fn send(r: &Router, method: &str, target: &str, body: Value, caller: &Caller) -> (Response, Value) {
    let resp = r.handle(method, target, body.to_string().as_bytes(), caller);
    let value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    (resp, value)
}

fn put_password(r: &Router, body: Value, caller: &Caller) -> (u16, Value) {
    let (resp, v) = send(r, "PUT", "/api/v1/admin/password", body, caller);
    (resp.status, v)
}

fn verify(r: &Router, password: &str) -> Response {
    send(
        r,
        "POST",
        "/api/v1/admin/verify",
        json!({ "password": password }),
        &ROOT,
    )
    .0
}

#[test]
fn first_password_over_the_socket_and_its_rules() {
    let (_d, r) = router();
    assert_eq!(
        call(&r, "GET", "/api/v1/admin", Value::Null),
        (200, json!({"password_set": false}))
    );
    let (status, v) = call(
        &r,
        "POST",
        "/api/v1/admin/verify",
        json!({"password": "whatever1"}),
    );
    assert_eq!((status, code(&v)), (409, "conflict"), "{v}");
    for short_or_long in ["1234567".to_string(), "x".repeat(129)] {
        let (status, v) = put_password(&r, json!({ "password": short_or_long }), &ROOT);
        assert_eq!((status, code(&v)), (422, "invalid"));
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("8 to 128 characters"),
            "{v}"
        );
    }
    let (status, v) = raw(&r, "PUT", "/api/v1/admin/password", b"{\"password\": ");
    assert_eq!((status, code(&v)), (400, "bad_json"));
    let (status, v) = put_password(&r, json!({"password": "long enough", "x": 1}), &ROOT);
    assert_eq!((status, code(&v)), (422, "invalid"));
    assert_eq!(
        call(&r, "GET", "/api/v1/admin", Value::Null).1["password_set"],
        false,
        "refused requests change nothing"
    );
    assert_eq!(
        put_password(&r, json!({"password": "long enough"}), &ROOT).0,
        204
    );
    assert_eq!(
        call(&r, "GET", "/api/v1/admin", Value::Null),
        (200, json!({"password_set": true}))
    );
    assert_eq!(call(&r, "GET", "/api/v1/admin?x=1", Value::Null).0, 422);
    let hash = r.store.admin_password_hash().unwrap().unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains("long enough"));
}

#[test]
fn tcp_needs_the_current_password_the_socket_does_not() {
    let (_d, r) = router();
    assert_eq!(
        put_password(&r, json!({"password": "first password"}), &TCP).0,
        204,
        "nothing to check on a new box"
    );
    let (status, v) = put_password(&r, json!({"password": "second password"}), &TCP);
    assert_eq!((status, code(&v)), (401, "unauthorized"));
    assert!(v["error"]["message"].as_str().unwrap().contains("current"));
    let wrong = json!({"password": "second password", "current": "not it at all"});
    assert_eq!(put_password(&r, wrong, &TCP).0, 401);
    assert_eq!(verify(&r, "first password").status, 204, "unchanged");
    let right = json!({"password": "second password", "current": "first password"});
    assert_eq!(put_password(&r, right, &TCP).0, 204);
    assert_eq!(verify(&r, "second password").status, 204);
    // Someone at the box: no current password needed (the recovery path).
    assert_eq!(
        put_password(&r, json!({"password": "third password"}), &ROOT).0,
        204
    );
    assert_eq!(verify(&r, "third password").status, 204);
    assert_eq!(verify(&r, "second password").status, 401);
}

#[test]
fn without_the_current_password_only_root_or_the_managers_own_user() {
    let (_d, mut r) = router();
    r.admin = Admin::new(LockoutPolicy::default(), OWN_UID);
    // Another role may not claim a new box's first password.
    let (status, v) = put_password(&r, json!({"password": "first password"}), &OTHER_ROLE);
    assert_eq!((status, code(&v)), (401, "unauthorized"), "{v}");
    let (resp, v) = send(&r, "GET", "/api/v1/admin", json!(null), &ROOT);
    assert_eq!((resp.status, v), (200, json!({"password_set": false})));
    assert_eq!(
        put_password(&r, json!({"password": "first password"}), &ROOT).0,
        204,
        "root at the box sets the first one"
    );
    // Another role on the shared socket is treated like TCP.
    let (status, v) = put_password(&r, json!({"password": "stolen password"}), &OTHER_ROLE);
    assert_eq!((status, code(&v)), (401, "unauthorized"));
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("current") && message.contains("root"),
        "{v}"
    );
    assert_eq!(verify(&r, "first password").status, 204, "unchanged");
    assert_eq!(verify(&r, "stolen password").status, 401);
    let right = json!({"password": "second password", "current": "first password"});
    assert_eq!(put_password(&r, right, &OTHER_ROLE).0, 204);
    assert_eq!(verify(&r, "second password").status, 204);
    // Root at the box and the manager's own user need no current password.
    assert_eq!(
        put_password(&r, json!({"password": "root's password"}), &ROOT).0,
        204
    );
    assert_eq!(verify(&r, "root's password").status, 204);
    assert_eq!(
        put_password(&r, json!({"password": "own user's password"}), &OWN_USER).0,
        204
    );
    assert_eq!(verify(&r, "own user's password").status, 204);
    assert_eq!(verify(&r, "root's password").status, 401);
}

#[test]
fn five_failures_lock_even_the_right_password_until_the_lockout_ends() {
    let (_d, r) = router();
    let r = r.with_lockout(SHORT);
    assert_eq!(
        put_password(&r, json!({"password": "the password"}), &ROOT).0,
        204
    );
    assert_eq!(verify(&r, "the password").status, 204);
    for _ in 0..5 {
        assert_eq!(verify(&r, "wrong password").status, 401);
    }
    let locked = verify(&r, "the password");
    let body: Value = serde_json::from_slice(&locked.body).unwrap();
    assert_eq!((locked.status, code(&body)), (429, "throttled"), "{body}");
    assert_eq!(locked.retry_after, Some(1), "400 ms, rounded up");
    let over_tcp = json!({"password": "new password", "current": "the password"});
    assert_eq!(put_password(&r, over_tcp.clone(), &TCP).0, 429);
    std::thread::sleep(SHORT.first_lockout);
    assert_eq!(verify(&r, "the password").status, 204);

    // Someone at the box resets the password, and the lockout with it.
    for _ in 0..5 {
        assert_eq!(verify(&r, "wrong password").status, 401);
    }
    assert_eq!(verify(&r, "the password").status, 429);
    assert_eq!(
        put_password(&r, json!({"password": "new password"}), &ROOT).0,
        204
    );
    assert_eq!(verify(&r, "new password").status, 204);
}

#[test]
fn admin_routes_refuse_other_methods() {
    let (_d, r) = router();
    for (method, target, allow) in [
        ("POST", "/api/v1/admin", "GET"),
        ("GET", "/api/v1/admin/password", "PUT"),
        ("GET", "/api/v1/admin/verify", "POST"),
        ("DELETE", "/api/v1/settings/admin-networks", "GET, PUT"),
        ("POST", "/api/v1/stats", "GET"),
    ] {
        let resp = r.handle(method, target, b"", &ROOT);
        assert_eq!(
            (resp.status, resp.allow),
            (405, Some(allow)),
            "{method} {target}"
        );
    }
    let (resp, v) = send(
        &r,
        "POST",
        "/api/v1/admin/verify",
        json!({"pass": 1}),
        &ROOT,
    );
    assert_eq!((resp.status, code(&v)), (422, "invalid"));
}

#[test]
fn admin_networks_are_checked_and_normalised() {
    let (_d, r) = router();
    let target = "/api/v1/settings/admin-networks";
    assert_eq!(
        call(&r, "GET", target, Value::Null),
        (200, json!({"networks": []}))
    );
    let given = json!({"networks": ["192.168.1.0/24", "10.1.2.3/8", "2001:DB8::/32"]});
    let stored = json!({"networks": ["192.168.1.0/24", "10.0.0.0/8", "2001:db8::/32"]});
    assert_eq!(call(&r, "PUT", target, given), (200, stored.clone()));
    assert_eq!(call(&r, "GET", target, Value::Null), (200, stored.clone()));
    let (status, v) = call(
        &r,
        "PUT",
        target,
        json!({"networks": ["10.0.0.0/8", "10.0.0.0/99"]}),
    );
    assert_eq!((status, code(&v)), (422, "invalid"));
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("networks[1] \"10.0.0.0/99\""),
        "{v}"
    );
    assert_eq!(
        call(&r, "PUT", target, json!({"networks": "10.0.0.0/8"})).0,
        422
    );
    assert_eq!(
        call(&r, "GET", target, Value::Null),
        (200, stored),
        "unchanged"
    );
    assert_eq!(
        call(&r, "PUT", target, json!({"networks": []})),
        (200, json!({"networks": []})),
        "empty: any network"
    );
    assert_eq!(
        call(&r, "GET", &format!("{target}?a=b"), Value::Null).0,
        422
    );
}

#[test]
fn stats_count_posted_events() {
    let (_d, r) = router();
    let now = model::time::now_ms();
    let event = |kind: &str, rcpts: &[&str]| json!({"time": now, "queue_id": "Q1", "kind": kind, "sender": "s@x.test", "recipients": rcpts});
    let events = json!([
        event("received", &["a@y.test", "b@y.test"]),
        event("delivered", &["a@y.test", "b@y.test"]),
        event("deferred", &["a@y.test"]),
    ]);
    assert_eq!(call(&r, "POST", "/api/v1/tracking", events).0, 204);
    let (status, v) = call(&r, "GET", "/api/v1/stats", Value::Null);
    assert_eq!(status, 200);
    let want = json!({"received": 1, "delivered": 2, "quarantined": 0,
                      "rejected": 0, "deferred": 1, "bounced": 0});
    assert_eq!(v["total"], want);
    let hours = v["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    assert_eq!(hours[23]["hour"], json!(now - now % 3_600_000));
    assert_eq!(hours[23]["counters"], want);
    assert_eq!(call(&r, "GET", "/api/v1/stats?hours=2", Value::Null).0, 422);
}

#[test]
fn the_admin_password_buys_the_api_token_on_tcp() {
    let (_d, r) = router();
    let token = |password: &str| {
        send(
            &r,
            "POST",
            "/api/v1/admin/token",
            json!({ "password": password }),
            &TCP,
        )
    };
    // The login is open on TCP without a token; nothing else is.
    assert!(r.admit("/api/v1/admin/token", None, 0, &TCP).is_ok());
    assert_eq!(
        r.admit("/api/v1/admin/verify", None, 0, &TCP)
            .unwrap_err()
            .status,
        401
    );
    let (resp, v) = token("anything at all");
    assert_eq!((resp.status, code(&v)), (409, "conflict"), "{v}");
    let (status, _) = put_password(&r, json!({ "password": "correct horse" }), &ROOT);
    assert_eq!(status, 204);
    let (resp, v) = token("wrong horse!");
    assert_eq!(resp.status, 401, "{v}");
    assert!(v.get("token").is_none());
    let (resp, v) = token("correct horse");
    assert_eq!((resp.status, v), (200, json!({ "token": "secret-token" })));
}
