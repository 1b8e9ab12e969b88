//! Quarantine, release and tracking routes, without sockets.

use super::{call, code, router, ROOT};
use serde_json::{json, Value};

fn quarantine_body(recipients: &[&str]) -> Value {
    json!({
        "queue_id": "QID1", "message_id": "m1@x.test", "sender": "s@x.test",
        "recipients": recipients, "subject": "Buy", "kind": "spam", "score": 1000.0,
        "reasons": ["GTUBE"], "message": "U3ViamVjdDogQnV5DQoNCkdUVUJFDQo="
    })
}

#[test]
fn quarantine_create_list_show_message_delete() {
    let (_d, r) = router();
    let (status, v) = call(
        &r,
        "POST",
        "/api/v1/quarantine",
        quarantine_body(&["a@y.test", "b@y.test"]),
    );
    assert_eq!(status, 201, "{v}");
    let ids: Vec<String> = serde_json::from_value(v["ids"].clone()).unwrap();
    assert_eq!(ids.len(), 2);
    let (_, list) = call(&r, "GET", "/api/v1/quarantine", Value::Null);
    assert_eq!(list[0]["id"], ids[1].as_str(), "newest first");
    assert_eq!(
        call(
            &r,
            "GET",
            "/api/v1/quarantine?recipient=A%40y.test",
            Value::Null
        )
        .1
        .as_array()
        .unwrap()
        .len(),
        1
    );
    assert_eq!(
        call(&r, "GET", "/api/v1/quarantine?kind=virus", Value::Null).1,
        json!([])
    );
    assert_eq!(
        call(&r, "GET", "/api/v1/quarantine?kind=ham", Value::Null).0,
        422
    );
    let (status, item) = call(
        &r,
        "GET",
        &format!("/api/v1/quarantine/{}", ids[0]),
        Value::Null,
    );
    assert_eq!(
        (status, item["recipient"].as_str(), item["size"].as_u64()),
        (200, Some("a@y.test"), Some(23))
    );
    let resp = r.handle(
        "GET",
        &format!("/api/v1/quarantine/{}/message", ids[0]),
        b"",
        &ROOT,
    );
    assert_eq!(
        (resp.status, resp.content_type),
        (200, Some("message/rfc822"))
    );
    assert_eq!(resp.body, b"Subject: Buy\r\n\r\nGTUBE\r\n");
    assert_eq!(
        call(
            &r,
            "DELETE",
            &format!("/api/v1/quarantine/{}", ids[0]),
            Value::Null
        )
        .0,
        204
    );
    assert_eq!(
        call(
            &r,
            "GET",
            &format!("/api/v1/quarantine/{}", ids[0]),
            Value::Null
        )
        .0,
        404
    );
    assert_eq!(
        call(
            &r,
            "GET",
            &format!("/api/v1/quarantine/{}/message", ids[1]),
            Value::Null
        )
        .0,
        200
    );
    let (_, events) = call(&r, "GET", "/api/v1/tracking?queue_id=QID1", Value::Null);
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["quarantined", "deleted"]);
}

#[test]
fn quarantine_refuses_bad_entries_and_ids() {
    let (_d, r) = router();
    let mut body = quarantine_body(&["a@y.test"]);
    body["message"] = json!("***");
    assert_eq!(call(&r, "POST", "/api/v1/quarantine", body).0, 422);
    assert_eq!(
        call(&r, "POST", "/api/v1/quarantine", quarantine_body(&[])).0,
        422
    );
    let mut body = quarantine_body(&["a@y.test"]);
    body["kind"] = json!("ham");
    assert_eq!(call(&r, "POST", "/api/v1/quarantine", body).0, 422);
    for target in [
        "/api/v1/quarantine/..%2Fx",
        "/api/v1/quarantine/ZZ/message",
        "/api/v1/quarantine/0123456789abcdef01234",
    ] {
        assert_eq!(call(&r, "GET", target, Value::Null).0, 404, "{target}");
    }
    assert_eq!(
        call(&r, "POST", "/api/v1/quarantine/nope/release", Value::Null).0,
        404
    );
    assert_eq!(
        call(&r, "GET", "/api/v1/quarantine", Value::Null).1,
        json!([])
    );
}

#[test]
fn release_with_the_mta_down_is_502_and_keeps_the_item() {
    let (_d, r) = router();
    let (_, v) = call(
        &r,
        "POST",
        "/api/v1/quarantine",
        quarantine_body(&["a@y.test"]),
    );
    let id = v["ids"][0].as_str().unwrap().to_string();
    let (status, v) = call(
        &r,
        "POST",
        &format!("/api/v1/quarantine/{id}/release"),
        Value::Null,
    );
    assert_eq!((status, code(&v)), (502, "upstream"));
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-mta.sock"),
        "{v}"
    );
    assert_eq!(
        call(&r, "GET", &format!("/api/v1/quarantine/{id}"), Value::Null).0,
        200
    );
}

#[test]
fn tracking_stores_batches_and_searches() {
    let (_d, r) = router();
    let event = |time: u64, qid: &str, rcpt: &str| json!({"time": time, "queue_id": qid, "kind": "received", "sender": "s@x.test", "recipients": [rcpt], "message_id": format!("{qid}@x.test")});
    let batch = json!([
        event(2, "Q1", "a@y.test"),
        event(1, "Q2", "b@y.test"),
        event(3, "Q1", "b@y.test")
    ]);
    assert_eq!(
        call(&r, "POST", "/api/v1/tracking", batch),
        (204, Value::Null)
    );
    let times = |target: &str| -> Vec<u64> {
        let (status, v) = call(&r, "GET", target, Value::Null);
        assert_eq!(status, 200, "{target}: {v}");
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["time"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(times("/api/v1/tracking?queue_id=Q1"), [2, 3]);
    assert_eq!(times("/api/v1/tracking?message_id=%3CQ2%40x.test%3E"), [1]);
    assert_eq!(times("/api/v1/tracking?sender=s%40x.test"), [1, 2, 3]);
    assert_eq!(times("/api/v1/tracking?recipient=b%40y.test"), [1, 3]);
    assert_eq!(
        times("/api/v1/tracking?recipient=b%40y.test&queue_id=Q1"),
        [3]
    );
    assert_eq!(times("/api/v1/tracking?sender=s%40x.test&limit=2"), [1, 2]);
    assert_eq!(
        call(&r, "GET", "/api/v1/tracking?rcpt=x", Value::Null).0,
        422
    );
    let missing = json!([{"time": 1, "kind": "received", "sender": "", "recipients": []}]);
    assert_eq!(call(&r, "POST", "/api/v1/tracking", missing).0, 422);
    let unknown_kind =
        json!([{"time": 1, "queue_id": "Q", "kind": "eaten", "sender": "", "recipients": []}]);
    assert_eq!(call(&r, "POST", "/api/v1/tracking", unknown_kind).0, 422);
    let empty_qid =
        json!([{"time": 1, "queue_id": "", "kind": "received", "sender": "", "recipients": []}]);
    assert_eq!(call(&r, "POST", "/api/v1/tracking", empty_qid).0, 422);
    assert_eq!(times("/api/v1/tracking"), [1, 2, 3]);
}
