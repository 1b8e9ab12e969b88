//! The in-memory copy of the manager's directory: our domains, provisioned
//! users and where each domain's mail goes.
//!
//! A background task polls `GET /generation` every [`POLL_INTERVAL`] and
//! fetches `GET /directory` only when the generation moved, so domain and
//! user changes reach the mta without a restart. When the manager is
//! unreachable the last directory stays in use and the outage is logged
//! once. Until a first directory arrives recipients get 451 4.3.0.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use model::api::{self, DeliveryServer};
use model::client::ApiClient;
use tokio::sync::watch;

/// How often the generation is polled.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// One version of the directory, indexed for lookups.
#[derive(Debug, Default)]
pub struct DirectoryIndex {
    /// The manager's generation this was built from.
    pub generation: u64,
    routes: HashMap<String, Vec<DeliveryServer>>,
    users: HashSet<String>,
    /// Domains whose verified mailboxes are provisioned on first mail.
    automatic: HashSet<String>,
    /// Domains whose mail is never delivered in clear ([`api::TlsPolicy::Required`]).
    tls_required: HashSet<String>,
    /// Who may relay outbound (see [`crate::relay`]).
    pub relay: crate::relay::RelayIndex,
    /// The domains' DKIM signers (see [`crate::dkim`]).
    pub dkim: crate::dkim::Signers,
}

impl DirectoryIndex {
    /// Indexes `directory`: names in normal form, servers sorted by priority.
    pub fn new(directory: api::Directory) -> DirectoryIndex {
        let relay = crate::relay::RelayIndex::new(&directory.domains);
        let dkim = crate::dkim::Signers::new(&directory.dkim);
        let automatic = directory
            .domains
            .iter()
            .filter(|d| d.provisioning == api::Provisioning::Automatic)
            .filter_map(|d| model::address::normalize_domain(&d.name).ok())
            .collect();
        let tls_required = directory
            .domains
            .iter()
            .filter(|d| d.tls == api::TlsPolicy::Required)
            .filter_map(|d| model::address::normalize_domain(&d.name).ok())
            .collect();
        let routes = directory
            .domains
            .into_iter()
            .filter_map(|d| {
                let name = model::address::normalize_domain(&d.name).ok()?;
                let mut servers = d.delivery;
                servers.sort_by_key(|s| s.priority);
                Some((name, servers))
            })
            .collect();
        let users = directory
            .users
            .iter()
            .filter_map(|u| model::address::normalize_address(u).ok())
            .collect();
        DirectoryIndex {
            generation: directory.generation,
            routes,
            users,
            automatic,
            tls_required,
            relay,
            dkim,
        }
    }

    /// How the mailboxes of `domain` (normal form) are provisioned.
    pub fn provisioning(&self, domain: &str) -> api::Provisioning {
        if self.automatic.contains(domain) {
            api::Provisioning::Automatic
        } else {
            api::Provisioning::Manual
        }
    }

    /// True when `domain` (normal form) is one of ours.
    pub fn has_domain(&self, domain: &str) -> bool {
        self.routes.contains_key(domain)
    }

    /// True when `address` (normal form) is a provisioned mailbox.
    pub fn has_user(&self, address: &str) -> bool {
        self.users.contains(address)
    }

    /// The delivery TLS policy of `domain` (normal form); opportunistic for
    /// domains that are not ours.
    pub fn tls_policy(&self, domain: &str) -> api::TlsPolicy {
        if self.tls_required.contains(domain) {
            api::TlsPolicy::Required
        } else {
            api::TlsPolicy::Opportunistic
        }
    }

    /// The delivery servers of `domain`, lowest priority value first.
    pub fn routes(&self, domain: &str) -> Option<&[DeliveryServer]> {
        self.routes.get(domain).map(Vec::as_slice)
    }
}

/// The current directory, shared by sessions and delivery workers.
#[derive(Debug, Default)]
pub struct Directory {
    current: RwLock<Option<Arc<DirectoryIndex>>>,
}

impl Directory {
    /// Replaces the directory; what the poller does with each new version.
    pub fn apply(&self, directory: api::Directory) {
        let index = Arc::new(DirectoryIndex::new(directory));
        log::info!(
            "directory generation {}: {} domain(s), {} user(s)",
            index.generation,
            index.routes.len(),
            index.users.len()
        );
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(index);
    }

    /// The directory in use, or `None` before the first one arrived.
    pub fn snapshot(&self) -> Option<Arc<DirectoryIndex>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Polls the manager every [`POLL_INTERVAL`] until `shutdown` turns true.
pub async fn poll(
    directory: Arc<Directory>,
    client: ApiClient,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut reachable = true;
    loop {
        match refresh(&directory, &client).await {
            Ok(()) if !reachable => {
                log::info!("manager reachable again at {}", client.endpoint());
                reachable = true;
            }
            Ok(()) => {}
            Err(e) if reachable => {
                log::warn!("cannot refresh the directory (keeping the last one): {e}");
                reachable = false;
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// Fetches the directory once if the manager's generation moved.
pub async fn refresh(directory: &Directory, client: &ApiClient) -> Result<(), String> {
    let known = directory.snapshot().map(|d| d.generation);
    let c = client.clone();
    match tokio::task::spawn_blocking(move || fetch_if_changed(&c, known)).await {
        Ok(Ok(Some(d))) => {
            directory.apply(d);
            Ok(())
        }
        Ok(Ok(None)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("directory poll task failed: {e}")),
    }
}

/// Fetches the directory when the manager's generation differs from `known`.
fn fetch_if_changed(
    client: &ApiClient,
    known: Option<u64>,
) -> Result<Option<api::Directory>, model::client::ClientError> {
    let generation = client.generation()?.generation;
    if known == Some(generation) {
        return Ok(None);
    }
    client.directory().map(Some)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> api::Directory {
        let server = |host: &str, priority| DeliveryServer {
            host: host.into(),
            port: 25,
            priority,
        };
        api::Directory {
            dkim: Default::default(),
            generation: 7,
            domains: vec![api::Domain {
                provisioning: Default::default(),
                relay_networks: Default::default(),
                tls: Default::default(),
                name: "Example.TEST".into(),
                delivery: vec![server("b", 20), server("a", 10)],
                created: 0,
            }],
            users: vec!["User@example.test".into()],
        }
    }

    #[test]
    fn indexes_in_normal_form_and_priority_order() {
        let d = Directory::default();
        assert!(d.snapshot().is_none());
        d.apply(sample());
        let idx = d.snapshot().unwrap();
        assert_eq!(idx.generation, 7);
        assert!(idx.has_domain("example.test") && !idx.has_domain("other.test"));
        assert!(idx.has_user("user@example.test"));
        let hosts: Vec<_> = idx
            .routes("example.test")
            .unwrap()
            .iter()
            .map(|s| s.host.as_str())
            .collect();
        assert_eq!(hosts, ["a", "b"]);
    }
}
