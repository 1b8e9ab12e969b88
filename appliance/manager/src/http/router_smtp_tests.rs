//! `/smtp-accounts` and `/tls` through the router, without sockets.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use model::Endpoint;
use serde_json::json;

use super::Router;
use crate::caller::Caller;
use crate::release::Releaser;
use crate::store::Store;

const ROOT: Caller = Caller::Unix { uid: 0 };
const TCP: Caller = Caller::Tcp(SocketAddr::V4(SocketAddrV4::new(
    Ipv4Addr::new(192, 0, 2, 9),
    40000,
)));

fn router(dir: &std::path::Path) -> Router {
    let store = Arc::new(Store::open(&dir.join("data.db")).unwrap());
    let releaser = Releaser::new(Endpoint::Unix(dir.join("no-mta.sock")), "box.test").unwrap();
    Router::new(store, releaser, "t".into())
}

fn status(r: &Router, method: &str, target: &str, body: serde_json::Value, who: &Caller) -> u16 {
    r.handle(method, target, body.to_string().as_bytes(), who)
        .status
}

#[test]
fn logins_are_checked_only_on_the_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let r = router(dir.path());
    let domain = json!({"name": "example.test", "delivery": [{"host": "127.0.0.1", "port": 25}]});
    assert_eq!(status(&r, "POST", "/api/v1/domains", domain, &ROOT), 201);
    let account =
        json!({"username": "u@example.test", "domain": "example.test", "password": "pass word 1"});
    assert_eq!(
        status(&r, "POST", "/api/v1/smtp-accounts", account.clone(), &ROOT),
        201
    );
    assert_eq!(
        status(&r, "POST", "/api/v1/smtp-accounts", account, &ROOT),
        409
    );
    let check = json!({"username": "u@example.test", "password": "pass word 1"});
    let verify = "/api/v1/smtp-accounts/verify";
    assert_eq!(status(&r, "POST", verify, check.clone(), &TCP), 403);
    assert_eq!(status(&r, "POST", verify, check, &ROOT), 204);
    assert_eq!(status(&r, "GET", verify, json!(null), &ROOT), 405);
    let gone = "/api/v1/smtp-accounts/u%40example.test";
    assert_eq!(status(&r, "DELETE", gone, json!(null), &ROOT), 204);
    assert_eq!(status(&r, "DELETE", gone, json!(null), &ROOT), 404);
}

#[test]
fn tls_needs_its_files_and_refuses_garbage() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        status(
            &router(dir.path()),
            "GET",
            "/api/v1/tls",
            json!(null),
            &ROOT
        ),
        404
    );
    let files = model::config::TlsFiles {
        cert: dir.path().join("tls/cert.pem"),
        key: dir.path().join("tls/key.pem"),
    };
    let r = router(dir.path()).with_tls(files.clone());
    assert_eq!(status(&r, "GET", "/api/v1/tls", json!(null), &ROOT), 404);
    tls::ensure_certificate(&files, "box.test").unwrap();
    let shown = r.handle("GET", "/api/v1/tls", b"", &ROOT);
    assert_eq!(shown.status, 200);
    let info: model::api::TlsCertificate = serde_json::from_slice(&shown.body).unwrap();
    assert_eq!(info.names, ["box.test"]);
    let garbage = json!({"cert": "not pem", "key": "not pem"});
    assert_eq!(status(&r, "PUT", "/api/v1/tls", garbage, &ROOT), 422);
}
