//! Turning request parts into typed values, with the API's error answers:
//! query parameters, JSON bodies, and store errors as responses.

use model::api::decode_component;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::response::Response;
use crate::admin::AdminError;
use crate::release::ReleaseError;
use crate::store::StoreError;

/// Answer of `limit` when the client gives none.
pub const DEFAULT_LIMIT: usize = 1000;
/// Largest `limit` a client may ask for.
pub const MAX_LIMIT: usize = 10_000;

/// Result of a handler: the error side is an answer too.
pub type Handled = Result<Response, Response>;

/// 422 with a sentence.
pub fn invalid(message: impl Into<String>) -> Response {
    Response::error(422, "invalid", message)
}

/// Decoded query parameters of one request.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `a=1&b=x%20y`; 400 on a malformed escape.
    pub fn parse(query: &str) -> Result<Params, Response> {
        let mut out = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (Some(k), Some(v)) = (decode_component(k), decode_component(v)) else {
                return Err(Response::error(
                    400,
                    "bad_request",
                    format!("malformed percent-encoding in query parameter {pair:?}"),
                ));
            };
            out.push((k, v));
        }
        Ok(Params(out))
    }

    /// 422 unless every parameter is one of `allowed`, each at most once.
    pub fn only(&self, allowed: &[&str]) -> Result<&Params, Response> {
        for (i, (k, _)) in self.0.iter().enumerate() {
            if !allowed.contains(&k.as_str()) {
                let expected = if allowed.is_empty() {
                    "this route takes none".to_string()
                } else {
                    format!("expected {}", allowed.join(", "))
                };
                return Err(invalid(format!(
                    "unknown query parameter {k:?}; {expected}"
                )));
            }
            if self.0[..i].iter().any(|(seen, _)| seen == k) {
                return Err(invalid(format!("query parameter {k:?} given twice")));
            }
        }
        Ok(self)
    }

    /// The value of `key`, when given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `limit`: [`DEFAULT_LIMIT`] when absent, 1 to [`MAX_LIMIT`] when given.
    pub fn limit(&self) -> Result<usize, Response> {
        let Some(v) = self.get("limit") else {
            return Ok(DEFAULT_LIMIT);
        };
        match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(invalid(format!(
                "limit {v:?} must be a number from 1 to {MAX_LIMIT}"
            ))),
        }
    }
}

/// Decodes a JSON body: 400 when it is not JSON, 422 when it is JSON of the
/// wrong shape (missing, unknown or mistyped fields).
pub fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            Response::error(400, "bad_json", format!("malformed JSON: {e}"))
        }
        Category::Data => invalid(format!("invalid request body: {e}")),
    })
}

impl From<StoreError> for Response {
    fn from(e: StoreError) -> Response {
        match e {
            StoreError::Invalid(m) => invalid(m),
            StoreError::Conflict(m) => Response::error(409, "conflict", m),
            StoreError::NotFound(m) => Response::error(404, "not_found", m),
            other => internal(&other),
        }
    }
}

impl From<ReleaseError> for Response {
    fn from(e: ReleaseError) -> Response {
        match e {
            ReleaseError::InProgress(_) => Response::error(409, "conflict", e.to_string()),
            ReleaseError::Upstream(_) => Response::error(502, "upstream", e.to_string()),
            ReleaseError::Store(e) => e.into(),
        }
    }
}

impl From<AdminError> for Response {
    fn from(e: AdminError) -> Response {
        match e {
            AdminError::Invalid(m) => invalid(m),
            AdminError::Refused(m) => Response::error(401, "unauthorized", m),
            AdminError::NotSet => Response::error(409, "conflict", e.to_string()),
            AdminError::Throttled(secs) => {
                let mut r = Response::error(429, "throttled", e.to_string());
                r.retry_after = Some(secs);
                r
            }
            AdminError::Store(e) => e.into(),
            other => internal(&other),
        }
    }
}

/// 500: the cause goes to the log, never to the client.
fn internal(e: &dyn std::fmt::Display) -> Response {
    log::error!("internal error answering an API request: {e}");
    Response::error(
        500,
        "internal",
        "internal error; the manager's log has the details",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::api::NewUser;

    #[test]
    fn params_decode_and_check() {
        let p = Params::parse("domain=a.test&q=x%40y+z&limit=5").unwrap();
        assert_eq!(p.get("q"), Some("x@y z"));
        assert_eq!(p.limit().unwrap(), 5);
        assert!(p.only(&["domain", "q", "limit"]).is_ok());
        assert_eq!(p.only(&["domain"]).unwrap_err().status, 422);
        assert_eq!(
            Params::parse("a=1&a=2")
                .unwrap()
                .only(&["a"])
                .unwrap_err()
                .status,
            422
        );
        assert_eq!(Params::parse("a=%zz").unwrap_err().status, 400);
        for bad in ["limit=0", "limit=x", "limit=10001"] {
            assert_eq!(
                Params::parse(bad).unwrap().limit().unwrap_err().status,
                422,
                "{bad}"
            );
        }
        assert_eq!(Params::parse("").unwrap().limit().unwrap(), DEFAULT_LIMIT);
    }

    #[test]
    fn json_errors_by_category() {
        assert_eq!(json::<NewUser>(b"{\"address\":").unwrap_err().status, 400);
        assert_eq!(json::<NewUser>(b"{address}").unwrap_err().status, 400);
        assert_eq!(json::<NewUser>(b"").unwrap_err().status, 400);
        assert_eq!(json::<NewUser>(b"{}").unwrap_err().status, 422);
        assert_eq!(
            json::<NewUser>(b"{\"address\":\"a@b.test\",\"x\":1}")
                .unwrap_err()
                .status,
            422
        );
        assert_eq!(json::<NewUser>(b"{\"address\":5}").unwrap_err().status, 422);
        assert!(json::<NewUser>(b"{\"address\":\"a@b.test\"}").is_ok());
    }

    #[test]
    fn internal_errors_do_not_leak() {
        let r: Response = StoreError::Corrupt {
            tree: "users",
            detail: "secret detail".into(),
        }
        .into();
        assert_eq!(r.status, 500);
        assert!(!String::from_utf8(r.body).unwrap().contains("secret"));
    }
}
