//! The `/queue` routes: the mta's queue, forwarded to the mta's control
//! socket ([`model::queue`]). The mta alone opens `queue.db`; the manager
//! only translates HTTP to one control request and back.

use std::path::Path;
use std::time::Duration;

use model::api::PREFIX;
use model::queue::{ask, QueueRequest, QueueResponse};

use super::input::{Handled, Params};
use super::response::Response;
use super::router::Router;

/// Time limit of one request to the mta (a listing reads the whole queue).
const MTA_TIMEOUT: Duration = Duration::from_secs(30);

/// Answers the request if its path is under `/queue`, else `None`.
pub(super) fn route(
    r: &Router,
    method: &str,
    segments: &[String],
    query: &str,
) -> Option<Response> {
    let prefix: Vec<&str> = PREFIX.split('/').skip(1).collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let rest = segs.strip_prefix(prefix.as_slice())?;
    if rest.first() != Some(&"queue") {
        return None;
    }
    let params = match Params::parse(query) {
        Ok(p) => p,
        Err(response) => return Some(response),
    };
    Some(dispatch(r, method, &rest[1..], &params).unwrap_or_else(|e| e))
}

fn dispatch(r: &Router, method: &str, rest: &[&str], p: &Params) -> Handled {
    let request = match (method, rest) {
        ("GET", []) => {
            p.only(&["domain", "limit"])?;
            let limit = match p.get("limit") {
                Some(_) => Some(p.limit()?),
                None => None,
            };
            let domain = p.get("domain").map(str::to_string);
            QueueRequest::List { domain, limit }
        }
        ("POST", ["flush"]) => {
            p.only(&["domain", "id"])?;
            let id = p.get("id").map(str::to_string);
            let domain = p.get("domain").map(str::to_string);
            QueueRequest::Flush { id, domain }
        }
        ("GET", ["holds"]) => p.only(&[]).map(|_| QueueRequest::Holds)?,
        ("PUT", ["holds", d]) => p.only(&[]).map(|_| QueueRequest::Hold {
            domain: d.to_string(),
        })?,
        ("DELETE", ["holds", d]) => p.only(&[]).map(|_| QueueRequest::Release {
            domain: d.to_string(),
        })?,
        ("GET", [id]) => p
            .only(&[])
            .map(|_| QueueRequest::Show { id: id.to_string() })?,
        ("DELETE", [id]) => p
            .only(&[])
            .map(|_| QueueRequest::Delete { id: id.to_string() })?,
        (_, rest) => return Err(not_allowed(method, rest)),
    };
    let Some(socket) = &r.mta_control else {
        return Err(Response::error(404, "not_found", "this manager has no mta"));
    };
    answer(socket, &request, method)
}

fn answer(socket: &Path, request: &QueueRequest, method: &str) -> Handled {
    let response = ask(socket, request, MTA_TIMEOUT)
        .map_err(|e| Response::error(502, "upstream", e.to_string()))?;
    Ok(match response {
        QueueResponse::Items { items } => Response::json(200, &items),
        QueueResponse::Item { item } => Response::json(200, &item),
        QueueResponse::Holds { domains } => Response::json(200, &domains),
        QueueResponse::Done(done) if method == "POST" => Response::json(200, &done),
        QueueResponse::Done(_) => Response::no_content(),
        QueueResponse::Error { code, message } => {
            let status = match code.as_str() {
                "not_found" => 404,
                "invalid" => 400,
                _ => 502,
            };
            Response::error(status, &code, message)
        }
    })
}

fn not_allowed(method: &str, rest: &[&str]) -> Response {
    let allow = match rest {
        [] | ["holds"] => "GET",
        ["flush"] => "POST",
        ["holds", _] => "PUT, DELETE",
        [_] => "GET, DELETE",
        _ => return Response::error(404, "not_found", "no such queue route"),
    };
    let mut r = Response::error(
        405,
        "method_not_allowed",
        format!("{method} is not served here; use {allow}"),
    );
    r.allow = Some(allow);
    r
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::caller::Caller;
    use crate::release::Releaser;
    use crate::store::Store;
    use model::Endpoint;

    fn router(dir: &Path, mta: bool) -> Router {
        let store = Arc::new(Store::open(&dir.join("data.db")).unwrap());
        let releaser = Releaser::new(Endpoint::Unix(dir.join("no-mta.sock")), "box.test").unwrap();
        let r = Router::new(store, releaser, "t".into());
        if mta {
            r.with_mta_control(dir.join("mta-control.sock"))
        } else {
            r
        }
    }

    fn status(r: &Router, method: &str, target: &str) -> (u16, Option<&'static str>) {
        let resp = r.handle(method, target, b"", &Caller::Unix { uid: 0 });
        (resp.status, resp.allow)
    }

    #[test]
    fn routes_methods_and_an_unreachable_mta() {
        let dir = tempfile::tempdir().unwrap();
        let r = router(dir.path(), false);
        assert_eq!(status(&r, "GET", "/api/v1/queue").0, 404, "no mta");
        let dir = tempfile::tempdir().unwrap();
        let r = router(dir.path(), true);
        assert_eq!(status(&r, "GET", "/api/v1/queue").0, 502, "mta down");
        assert_eq!(status(&r, "PUT", "/api/v1/queue/holds/x.test").0, 502);
        assert_eq!(status(&r, "POST", "/api/v1/queue"), (405, Some("GET")));
        assert_eq!(
            status(&r, "POST", "/api/v1/queue/holds/x.test"),
            (405, Some("PUT, DELETE"))
        );
        assert_eq!(status(&r, "GET", "/api/v1/queue?foo=1").0, 422);
        assert_eq!(status(&r, "GET", "/api/v1/queue/a/b/c").0, 404);
    }
}
