//! The firmware routes' rules, without sockets: who may install, the
//! parameters, the body cap of uploads, and answers without a supervisor.
//! (Installs through a real supervisor: `appliance/filterbox/tests/update.rs`.)

use super::{call, code, router, ROOT, TCP};
use crate::caller::Caller;
use crate::http::router::{MAX_BODY, MAX_UPLOAD};
use serde_json::{json, Value};

/// Another role on the shared unix socket (the mta, the filter).
const OTHER_ROLE: Caller = Caller::Unix { uid: 4243 };

fn upload(r: &super::Router, target: &str, body: &[u8], caller: &Caller) -> (u16, Value) {
    let resp = r.handle_stream(target, &mut &body[..], body.len() as u64, caller);
    (
        resp.status,
        serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
    )
}

#[test]
fn only_administrators_install() {
    let (dir, r) = router();
    let r = r.with_control_socket(dir.path().join("no-supervisor.sock"));
    let target = "/api/v1/firmware/upload";
    let (status, v) = upload(&r, target, b"bundle", &OTHER_ROLE);
    assert_eq!((status, code(&v)), (401, "unauthorized"), "{v}");
    let resp = r.handle(
        "POST",
        "/api/v1/firmware/url",
        br#"{"url":"http://192.0.2.1/a.fbu"}"#,
        &OTHER_ROLE,
    );
    assert_eq!(resp.status, 401);
    // Root at the box and TCP clients (token checked by admit) get through
    // to the supervisor, which is not there.
    for caller in [ROOT, TCP] {
        let (status, v) = upload(&r, target, b"bundle", &caller);
        assert_eq!((status, code(&v)), (502, "upstream"), "{v}");
    }
}

#[test]
fn parameters_and_bodies_are_checked_before_anything_is_sent() {
    let (dir, r) = router();
    let (status, v) = call(&r, "GET", "/api/v1/firmware", Value::Null);
    assert_eq!((status, code(&v)), (404, "not_found"), "no supervisor: {v}");
    let r = r.with_control_socket(dir.path().join("no-supervisor.sock"));
    let (status, v) = upload(&r, "/api/v1/firmware/upload?force=maybe", b"x", &ROOT);
    assert_eq!(status, 422, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("force=\"maybe\""));
    let (status, v) = upload(&r, "/api/v1/firmware/upload?color=red", b"x", &ROOT);
    assert_eq!(status, 422, "{v}");
    let (status, v) = upload(&r, "/api/v1/firmware/upload", b"", &ROOT);
    assert_eq!((status, code(&v)), (400, "bad_request"), "{v}");
    for (body, why) in [
        (
            json!({"url": "https://h/a.fbu"}),
            "https is not supported yet",
        ),
        (json!({"url": "ftp://h/a.fbu"}), "must start with http://"),
    ] {
        let (status, v) = call(&r, "POST", "/api/v1/firmware/url", body);
        assert_eq!(status, 422, "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(why), "{v}");
    }
    let (status, _) = call(
        &r,
        "POST",
        "/api/v1/firmware/url",
        json!({"url": "http://h/", "x": 1}),
    );
    assert_eq!(status, 422);
    let (status, v) = call(&r, "GET", "/api/v1/firmware", Value::Null);
    assert_eq!((status, code(&v)), (502, "upstream"), "{v}");
    let (status, _) = call(&r, "DELETE", "/api/v1/firmware/upload", Value::Null);
    assert_eq!(status, 405);
}

#[test]
fn only_uploads_are_streamed_and_may_exceed_the_body_cap() {
    let (_dir, r) = router();
    assert!(r.streams_body("POST", "/api/v1/firmware/upload?force=true"));
    assert!(!r.streams_body("GET", "/api/v1/firmware/upload"));
    assert!(!r.streams_body("POST", "/api/v1/firmware/url"));
    let big = MAX_BODY + 1;
    assert!(r.admit("/api/v1/firmware/upload", None, big, &ROOT).is_ok());
    assert_eq!(
        r.admit("/api/v1/users", None, big, &ROOT)
            .unwrap_err()
            .status,
        413
    );
    let too_big = r.admit("/api/v1/firmware/upload", None, MAX_UPLOAD + 1, &ROOT);
    assert_eq!(too_big.unwrap_err().status, 413);
    let no_token = r.admit("/api/v1/firmware/upload", None, 10, &TCP);
    assert_eq!(no_token.unwrap_err().status, 401);
}
