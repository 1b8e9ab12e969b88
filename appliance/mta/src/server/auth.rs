//! Checking an SMTP AUTH login with the manager (`POST /smtp-accounts/verify`,
//! argon2 hashes there), with a delay after each failure so a client cannot
//! try passwords quickly; the session counts the failures.

use std::time::Duration;

use model::api::SmtpAuthCheck;

use super::connection::Peer;
use super::Shared;
use crate::session::{Credentials, Reply, Session, Verdict};

/// Delay added per earlier failure in the session, before answering.
const FAILURE_DELAY: Duration = Duration::from_secs(1);
/// The longest delay, however many failures.
const MAX_FAILURE_DELAY: Duration = Duration::from_secs(5);

/// 235 on a right login; 535 5.7.8 when wrong, after a growing delay; 454
/// 4.7.0 when it cannot be checked now (the manager is down or throttling).
pub(crate) async fn verify(
    shared: &Shared,
    credentials: Credentials,
    peer: &Peer,
    earlier_failures: u32,
    sid: &str,
) -> Verdict {
    let username = credentials.username.clone();
    let check = SmtpAuthCheck {
        username: credentials.username,
        password: credentials.password,
        client_ip: match peer {
            Peer::Tcp(a) => Some(a.ip().to_string()),
            Peer::Local => None,
        },
    };
    let api = shared.security.api.clone();
    let answer = tokio::task::spawn_blocking(move || api.verify_smtp_account(&check)).await;
    let verdict = match answer {
        Ok(Ok(())) => {
            log::info!("{sid}: authenticated as {username}");
            return Verdict::Accept;
        }
        Ok(Err(e)) if matches!(e.status(), Some(401) | Some(404)) => {
            log::info!("{sid}: AUTH failed for {username}");
            Reply::new(535, "5.7.8", "authentication credentials invalid")
        }
        Ok(Err(e)) => {
            log::warn!("{sid}: AUTH for {username} not checked: {e}");
            Reply::new(454, "4.7.0", "temporary authentication failure")
        }
        Err(e) => {
            log::error!("{sid}: AUTH check task failed: {e}");
            Reply::new(454, "4.7.0", "temporary authentication failure")
        }
    };
    let delay = (FAILURE_DELAY * (earlier_failures + 1)).min(MAX_FAILURE_DELAY);
    tokio::time::sleep(delay).await;
    Verdict::Refuse(verdict)
}

/// On a submission port, MAIL needs AUTH or a client in a relay network
/// (RFC 6409 section 4.3): `530 5.7.0` otherwise, so port 587 is never a
/// way around the inbound checks of port 25 for strangers.
pub(crate) fn submission_refusal(shared: &Shared, peer: &Peer, session: &Session) -> Option<Reply> {
    if !session.is_submission() || session.authenticated().is_some() {
        return None;
    }
    let ip = match peer {
        Peer::Tcp(a) => Some(a.ip()),
        Peer::Local => None,
    };
    let directory = shared.directory.snapshot();
    let network = directory
        .as_deref()
        .and_then(|d| crate::relay::grant(&d.relay, ip, None));
    network
        .is_none()
        .then(|| Reply::new(530, "5.7.0", "authentication required"))
}
