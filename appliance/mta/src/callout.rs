//! Recipient verification by SMTP call-out, with its cache.
//!
//! A recipient of one of our domains that is not provisioned is checked by
//! asking the domain's own servers (`MAIL FROM:<>`, `RCPT TO`, no message,
//! see [`smtp_client::probe`]). Only the answer to RCPT decides: 2xx means
//! the mailbox exists, 5xx that it does not. A server that cannot be
//! reached, or answers 4xx, or refuses before RCPT, decides nothing, so the
//! client gets a temporary refusal, never a 550. Decisions are cached (the
//! positive and negative lifetimes differ: a mailbox that exists rarely
//! disappears, a missing one may be created); undecided results are not.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use model::api::{DeliveryServer, NewUser, UserSource};
use model::client::ApiClient;
use model::config::MtaConfig;
use smtp_client::ProbeOutcome;

/// Most addresses cached at once; when full, expired entries are dropped,
/// and if that is not enough the cache starts over.
pub const MAX_CACHED: usize = 100_000;

/// What the domain's servers said about a mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// The mailbox exists.
    Valid,
    /// The server refused it for good; its reply.
    Invalid(String),
    /// No server gave a verdict; why, for the logs.
    Unverifiable(String),
}

/// The call-out verifier shared by all sessions.
#[derive(Debug)]
pub struct Callout {
    api: ApiClient,
    helo: String,
    timeout: Duration,
    positive_ttl: Duration,
    negative_ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Verification)>>,
}

impl Callout {
    /// A verifier greeting as `helo`, provisioning through `api`.
    pub fn new(api: ApiClient, helo: &str, mta: &MtaConfig) -> Callout {
        Callout {
            api,
            helo: helo.to_string(),
            timeout: Duration::from_secs(mta.callout_timeout_secs.max(1)),
            positive_ttl: Duration::from_secs(mta.callout_positive_ttl_secs),
            negative_ttl: Duration::from_secs(mta.callout_negative_ttl_secs),
            cache: Mutex::default(),
        }
    }

    /// Verifies `address` (normal form) with `servers` (lowest priority
    /// value first), from the cache when a decision is still fresh.
    pub async fn verify(
        &self,
        address: &str,
        servers: &[DeliveryServer],
        sid: &str,
    ) -> Verification {
        if let Some(v) = self.cached(address) {
            log::debug!("{sid}: call-out for <{address}>: cached {v:?}");
            return v;
        }
        let v = self.ask_servers(address, servers, sid).await;
        log::info!("{sid}: call-out for <{address}>: {v:?}");
        self.remember(address, &v);
        v
    }

    /// Provisions `address` in the manager as found by call-out. A failure
    /// is logged and harmless: the cached decision keeps accepting it, and
    /// the next mail after the cache expires tries again.
    pub async fn provision(&self, address: &str, sid: &str) {
        let api = self.api.clone();
        let user = NewUser {
            address: address.to_string(),
            source: UserSource::Callout,
        };
        let created = tokio::task::spawn_blocking(move || api.create_user(&user)).await;
        match created {
            Ok(Ok(_)) => log::info!("{sid}: <{address}> provisioned after call-out"),
            Ok(Err(e)) if e.status() == Some(409) => {}
            Ok(Err(e)) => log::warn!("{sid}: cannot provision <{address}>: {e}"),
            Err(e) => log::warn!("{sid}: provisioning task failed: {e}"),
        }
    }

    async fn ask_servers(
        &self,
        address: &str,
        servers: &[DeliveryServer],
        sid: &str,
    ) -> Verification {
        let mut why = Vec::new();
        for s in servers {
            let log_id = format!("{sid}: call-out {}:{}", s.host, s.port);
            let outcome = match smtp_client::connect_tcp(&s.host, s.port, self.timeout).await {
                Ok(stream) => {
                    smtp_client::probe(stream, &self.helo, address, self.timeout, &log_id).await
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(ProbeOutcome::Accepted(_)) => return Verification::Valid,
                Ok(ProbeOutcome::Refused(reply)) => {
                    return Verification::Invalid(reply.to_string())
                }
                Ok(ProbeOutcome::Undecided { stage, reply }) => {
                    why.push(format!("{}:{} at {stage}: {reply}", s.host, s.port))
                }
                Err(e) => why.push(format!("{}:{}: {e}", s.host, s.port)),
            }
        }
        if why.is_empty() {
            why.push("no delivery server configured".into());
        }
        Verification::Unverifiable(why.join("; "))
    }

    fn cached(&self, address: &str) -> Option<Verification> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let (until, v) = cache.get(address)?;
        (*until > Instant::now()).then(|| v.clone())
    }

    fn remember(&self, address: &str, v: &Verification) {
        let ttl = match v {
            Verification::Valid => self.positive_ttl,
            Verification::Invalid(_) => self.negative_ttl,
            Verification::Unverifiable(_) => return,
        };
        let now = Instant::now();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, (until, _)| *until > now);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(address.to_string(), (now + ttl, v.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn callout(positive: u64, negative: u64) -> Callout {
        let mta = MtaConfig {
            callout_positive_ttl_secs: positive,
            callout_negative_ttl_secs: negative,
            ..MtaConfig::default()
        };
        let api = ApiClient::new(model::Endpoint::Unix("/nonexistent".into()));
        Callout::new(api, "mx.test", &mta)
    }

    #[test]
    fn decisions_are_cached_with_their_own_lifetimes_and_undecided_never() {
        let c = callout(3600, 0);
        c.remember("a@x.test", &Verification::Valid);
        c.remember("b@x.test", &Verification::Invalid("550 no".into()));
        c.remember("c@x.test", &Verification::Unverifiable("down".into()));
        assert_eq!(c.cached("a@x.test"), Some(Verification::Valid));
        assert_eq!(c.cached("b@x.test"), None, "negative lifetime 0: expired");
        assert_eq!(c.cached("c@x.test"), None);
        let c = callout(0, 3600);
        c.remember("b@x.test", &Verification::Invalid("550 no".into()));
        c.remember("a@x.test", &Verification::Valid);
        assert_eq!(
            c.cached("b@x.test"),
            Some(Verification::Invalid("550 no".into()))
        );
        assert_eq!(c.cached("a@x.test"), None);
    }

    #[tokio::test]
    async fn no_reachable_server_is_unverifiable() {
        let c = callout(60, 60);
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let servers = [DeliveryServer {
            host: "127.0.0.1".into(),
            port,
            priority: 10,
        }];
        let v = c.verify("a@x.test", &servers, "t").await;
        assert!(matches!(v, Verification::Unverifiable(_)), "{v:?}");
        let none = c.verify("a@x.test", &[], "t").await;
        assert!(matches!(none, Verification::Unverifiable(_)), "{none:?}");
    }
}
