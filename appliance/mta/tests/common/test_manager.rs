//! The real manager role (the `manager` crate) on a test's data directory:
//! the mta reads its directory from it and posts tracking events to it, and
//! the test changes and reads both through its JSON API.

use std::path::Path;
use std::time::{Duration, Instant};

use manager::Manager;
use model::api::{EventKind, TrackingEvent};
use model::client::{ApiClient, ClientError, TrackingQuery};
use model::config::SystemConfig;
use model::Endpoint;

/// Longest wait for tracking events to reach the manager.
const EVENTS_TIMEOUT: Duration = Duration::from_secs(10);

/// A manager serving the API on `config.manager.api_socket`.
pub struct TestManager {
    manager: Option<Manager>,
    api: ApiClient,
}

impl TestManager {
    /// Starts the manager of `config` on `dir`: a new `data.db` seeded with
    /// `config.initial_data`. The API socket is bound when this returns.
    pub async fn start(config: &SystemConfig, dir: &Path) -> TestManager {
        let (c, d) = (config.clone(), dir.to_path_buf());
        let manager = tokio::task::spawn_blocking(move || Manager::start(&c, &d))
            .await
            .unwrap()
            .expect("the manager starts");
        let api = ApiClient::new(Endpoint::Unix(config.manager.api_socket.clone()))
            .with_timeout(Duration::from_secs(10));
        TestManager {
            manager: Some(manager),
            api,
        }
    }

    /// Runs blocking API calls off the async runtime; they must succeed.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ApiClient) -> Result<T, ClientError> + Send + 'static,
    ) -> T {
        let api = self.api.clone();
        tokio::task::spawn_blocking(move || f(&api))
            .await
            .unwrap()
            .expect("API call")
    }

    /// Tracking events matching `query`, oldest first.
    pub async fn tracking(&self, query: TrackingQuery) -> Vec<TrackingEvent> {
        self.call(move |api| api.tracking(&query)).await
    }

    /// The tracking events about queue id `id`, oldest first.
    pub async fn events(&self, id: &str) -> Vec<TrackingEvent> {
        self.tracking(TrackingQuery {
            queue_id: Some(id.to_string()),
            ..TrackingQuery::default()
        })
        .await
    }

    /// [`TestManager::events`] once one of `kind` has arrived (panics after
    /// [`EVENTS_TIMEOUT`]).
    pub async fn events_until(&self, id: &str, kind: EventKind) -> Vec<TrackingEvent> {
        let start = Instant::now();
        loop {
            let events = self.events(id).await;
            if events.iter().any(|e| e.kind == kind) {
                return events;
            }
            assert!(
                start.elapsed() < EVENTS_TIMEOUT,
                "no {kind:?} event for {id} within {EVENTS_TIMEOUT:?}: {events:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the manager; it must flush and stop cleanly.
    pub async fn stop(mut self) {
        let manager = self.manager.take().expect("running");
        tokio::task::spawn_blocking(move || manager.stop())
            .await
            .unwrap()
            .expect("the manager stops cleanly");
    }
}
