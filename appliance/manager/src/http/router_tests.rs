//! Every route and every error status, without sockets.

use super::*;
use crate::release::Releaser;
use crate::store::Store;
use model::api::ErrorBody;
use model::Endpoint;
use serde_json::{json, Value};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// Root on the unix socket: the console, or `filterbox ctl` at the box.
const ROOT: Caller = Caller::Unix { uid: 0 };
/// A client over TCP.
const TCP: Caller = Caller::Tcp(SocketAddr::V4(SocketAddrV4::new(
    Ipv4Addr::new(192, 0, 2, 9),
    40000,
)));

fn router() -> (tempfile::TempDir, Router) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("data.db")).unwrap());
    // Nothing listens there: releases fail as when the mta is down.
    let releaser =
        Releaser::new(Endpoint::Unix(dir.path().join("no-mta.sock")), "box.test").unwrap();
    (dir, Router::new(store, releaser, "secret-token".into()))
}

fn call(r: &Router, method: &str, target: &str, body: Value) -> (u16, Value) {
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    raw(r, method, target, &body)
}

fn raw(r: &Router, method: &str, target: &str, body: &[u8]) -> (u16, Value) {
    let resp = r.handle(method, target, body, &ROOT);
    let value = if resp.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&resp.body).unwrap_or(Value::Null)
    };
    if resp.status >= 400 {
        let e: ErrorBody = serde_json::from_slice(&resp.body).expect("errors are ErrorBody JSON");
        assert_eq!(e.error.status, resp.status);
    }
    (resp.status, value)
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

#[test]
fn system_status_needs_a_reachable_supervisor() {
    let (dir, r) = router();
    let (status, v) = call(&r, "GET", "/api/v1/system", json!(null));
    assert_eq!((status, code(&v)), (404, "not_found"));
    let r = r.with_control_socket(dir.path().join("no-supervisor.sock"));
    let (status, v) = call(&r, "GET", "/api/v1/system", json!(null));
    assert_eq!((status, code(&v)), (502, "upstream"), "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("supervisor"));
    let (status, _) = call(&r, "POST", "/api/v1/system", json!(null));
    assert_eq!(status, 405);
}

fn domain_body(name: &str) -> Value {
    json!({"name": name, "delivery": [{"host": "127.0.0.1", "port": 2626}]})
}

fn setup_domain_and_users(r: &Router) {
    assert_eq!(
        call(r, "POST", "/api/v1/domains", domain_body("a.test")).0,
        201
    );
    assert_eq!(
        call(r, "POST", "/api/v1/domains", domain_body("b.test")).0,
        201
    );
    for a in ["x@a.test", "y@a.test", "x@b.test"] {
        assert_eq!(
            call(r, "POST", "/api/v1/users", json!({"address": a})).0,
            201
        );
    }
}

#[test]
fn health_is_ok() {
    let (_d, r) = router();
    let (status, v) = call(&r, "GET", "/health", Value::Null);
    assert_eq!(
        (status, v["status"].as_str(), v["role"].as_str()),
        (200, Some("ok"), Some("manager"))
    );
}

#[test]
fn unknown_routes_are_404_json() {
    let (_d, r) = router();
    for target in [
        "/",
        "/nope",
        "/api/v1",
        "/api/v1/nope",
        "/api/v2/domains",
        "/api/v1/domains/a.test/x",
        "/api/v1/quarantine/0/release/x",
    ] {
        let (status, v) = call(&r, "GET", target, Value::Null);
        assert_eq!((status, code(&v)), (404, "not_found"), "{target}");
    }
}

#[test]
fn wrong_methods_are_405_with_allow() {
    let (_d, r) = router();
    for (method, target, allow) in [
        ("PUT", "/api/v1/domains", "GET, POST"),
        ("DELETE", "/api/v1/directory", "GET"),
        ("POST", "/health", "GET"),
        ("POST", "/api/v1/domains/a.test", "GET, PATCH, DELETE"),
        ("DELETE", "/api/v1/domains/a.test/dkim", "GET"),
        (
            "GET",
            "/api/v1/quarantine/0123456789abcdef01234/release",
            "POST",
        ),
    ] {
        let resp = r.handle(method, target, b"", &ROOT);
        assert_eq!(
            (resp.status, resp.allow),
            (405, Some(allow)),
            "{method} {target}"
        );
    }
}

#[test]
fn bodies_bad_json_400_wrong_shape_422() {
    let (_d, r) = router();
    let (status, v) = raw(&r, "POST", "/api/v1/domains", b"{\"name\": ");
    assert_eq!((status, code(&v)), (400, "bad_json"));
    let (status, v) = raw(&r, "POST", "/api/v1/tracking", b"not json");
    assert_eq!((status, code(&v)), (400, "bad_json"));
    for body in [
        json!({"delivery": []}),
        json!({"name": "a.test", "delivery": [{"host": "h.test"}], "extra": 1}),
        json!({"name": "a.test", "delivery": "h.test"}),
    ] {
        let (status, v) = call(&r, "POST", "/api/v1/domains", body.clone());
        assert_eq!((status, code(&v)), (422, "invalid"), "{body}");
    }
    let (status, v) = call(&r, "POST", "/api/v1/domains", domain_body("bad_name.test"));
    assert_eq!(status, 422);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bad_name.test"),
        "{v}"
    );
    assert_eq!(call(&r, "GET", "/api/v1/domains", Value::Null).1, json!([]));
}

#[test]
fn admission_checks_token_and_size() {
    let (_d, r) = router();
    let status = |res: Result<(), Response>| res.err().map(|resp| resp.status);
    assert_eq!(status(r.admit("/api/v1/domains", None, 0, &TCP)), Some(401));
    assert_eq!(
        status(r.admit("/api/v1/domains", Some("Bearer wrong"), 0, &TCP)),
        Some(401)
    );
    assert_eq!(
        status(r.admit("/api/v1/domains", Some("Bearer secret-token"), 0, &TCP)),
        None
    );
    assert_eq!(status(r.admit("/health", None, 0, &TCP)), None);
    assert_eq!(status(r.admit("/health?x", None, 0, &TCP)), None);
    assert_eq!(status(r.admit("/api/v1/domains", None, 0, &ROOT)), None);
    // Every role on the shared socket, whatever its user.
    let role = Caller::Unix { uid: 4243 };
    assert_eq!(status(r.admit("/api/v1/domains", None, 0, &role)), None);
    assert_eq!(
        status(r.admit("/api/v1/quarantine", None, MAX_BODY + 1, &ROOT)),
        Some(413)
    );
    assert_eq!(
        status(r.admit("/api/v1/quarantine", None, MAX_BODY, &ROOT)),
        None
    );
    // Unauthenticated clients learn nothing, not even the size limit.
    assert_eq!(
        status(r.admit("/api/v1/quarantine", None, MAX_BODY + 1, &TCP)),
        Some(401)
    );
}

#[test]
fn domains_crud_conflict_and_generation() {
    let (_d, r) = router();
    let generation = |r: &Router| {
        call(r, "GET", "/api/v1/generation", Value::Null).1["generation"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(generation(&r), 0);
    let (status, v) = call(&r, "POST", "/api/v1/domains", domain_body("A.Test"));
    assert_eq!((status, v["name"].as_str()), (201, Some("a.test")));
    assert_eq!(
        v["delivery"][0],
        json!({"host": "127.0.0.1", "port": 2626, "priority": 10})
    );
    assert_eq!(generation(&r), 1);
    let (status, v) = call(&r, "POST", "/api/v1/domains", domain_body("a.test"));
    assert_eq!((status, code(&v)), (409, "conflict"));
    assert_eq!(generation(&r), 1);
    assert_eq!(
        call(&r, "GET", "/api/v1/domains/A.TEST", Value::Null).1["name"],
        "a.test"
    );
    assert_eq!(
        call(&r, "GET", "/api/v1/domains", Value::Null)
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        call(&r, "DELETE", "/api/v1/domains/a.test", Value::Null),
        (204, Value::Null)
    );
    assert_eq!(generation(&r), 2);
    assert_eq!(
        call(&r, "GET", "/api/v1/domains/a.test", Value::Null).0,
        404
    );
    assert_eq!(
        call(&r, "DELETE", "/api/v1/domains/a.test", Value::Null).0,
        404
    );
    assert_eq!(call(&r, "GET", "/api/v1/domains?x=1", Value::Null).0, 422);
}

#[test]
fn users_need_a_domain_list_filters_and_cascade() {
    let (_d, r) = router();
    let (status, v) = call(&r, "POST", "/api/v1/users", json!({"address": "x@a.test"}));
    assert_eq!(status, 422);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("a.test does not exist"));
    setup_domain_and_users(&r);
    assert_eq!(
        call(&r, "POST", "/api/v1/users", json!({"address": "X@A.test"})).0,
        409
    );
    assert_eq!(
        call(&r, "POST", "/api/v1/users", json!({"address": "nobody"})).0,
        422
    );
    assert_eq!(call(&r, "POST", "/api/v1/users", json!({})).0, 422);
    let list = |target: &str| -> Vec<String> {
        let (status, v) = call(&r, "GET", target, Value::Null);
        assert_eq!(status, 200, "{target}: {v}");
        v.as_array()
            .unwrap()
            .iter()
            .map(|u| u["address"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        list("/api/v1/users?domain=a.test"),
        ["x@a.test", "y@a.test"]
    );
    assert_eq!(list("/api/v1/users?q=x%40"), ["x@a.test", "x@b.test"]);
    assert_eq!(list("/api/v1/users?limit=1").len(), 1);
    assert_eq!(call(&r, "GET", "/api/v1/users?limit=0", Value::Null).0, 422);
    assert_eq!(
        call(&r, "GET", "/api/v1/users?domain=bad_domain", Value::Null).0,
        422
    );
    assert_eq!(
        call(&r, "GET", "/api/v1/users/Y%40a.test", Value::Null).1["address"],
        "y@a.test"
    );
    let generation = call(&r, "GET", "/api/v1/directory", Value::Null).1["generation"]
        .as_u64()
        .unwrap();
    assert_eq!(
        call(&r, "DELETE", "/api/v1/domains/a.test", Value::Null).0,
        204
    );
    let (_, dir) = call(&r, "GET", "/api/v1/directory", Value::Null);
    assert_eq!(dir["users"], json!(["x@b.test"]));
    assert_eq!(dir["generation"].as_u64().unwrap(), generation + 1);
    assert_eq!(
        call(&r, "GET", "/api/v1/users/x@a.test", Value::Null).0,
        404
    );
    assert_eq!(
        call(&r, "DELETE", "/api/v1/users/x@b.test", Value::Null).0,
        204
    );
    assert_eq!(
        call(&r, "DELETE", "/api/v1/users/x@b.test", Value::Null).0,
        404
    );
}

#[test]
fn malformed_escapes_are_400() {
    let (_d, r) = router();
    assert_eq!(call(&r, "GET", "/api/v1/domains/%zz", Value::Null).0, 400);
    assert_eq!(call(&r, "GET", "/api/v1/users?q=%", Value::Null).0, 400);
}

#[path = "router_quarantine_tests.rs"]
mod quarantine;

#[path = "router_admin_tests.rs"]
mod admin;

#[path = "router_firmware_tests.rs"]
mod firmware;

#[path = "router_links_tests.rs"]
mod links;
