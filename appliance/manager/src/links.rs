//! The one-click links of the quarantine digest: release this message,
//! block this sender. They work without a login, so each is signed
//! (HMAC-SHA256 with a key only the manager knows), expires, and names
//! one action on one quarantined message for one recipient; the store
//! remembers each link's nonce once used, so a link works once.
//!
//! A token is `base64url(payload) "." base64url(mac)`; the payload is
//! `version|action|expires|nonce|id|recipient`. Parsing and checking are
//! pure: the time comes in, the single-use record is the caller's.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The format of the payload; a token of another version is refused.
const VERSION: &str = "1";

/// Bytes of the signing key.
pub const KEY_BYTES: usize = 32;

/// Bytes of a link's nonce.
const NONCE_BYTES: usize = 16;

/// Longest token accepted: ids and addresses are bounded, so anything
/// longer is not ours.
const MAX_TOKEN: usize = 1024;

/// What a link does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkAction {
    /// Deliver the message to its recipient.
    Release,
    /// Put the sender on the recipient's block list.
    BlockSender,
}

impl LinkAction {
    fn code(self) -> &'static str {
        match self {
            LinkAction::Release => "release",
            LinkAction::BlockSender => "block",
        }
    }

    fn from_code(code: &str) -> Option<LinkAction> {
        match code {
            "release" => Some(LinkAction::Release),
            "block" => Some(LinkAction::BlockSender),
            _ => None,
        }
    }
}

/// One signed link's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// What it does.
    pub action: LinkAction,
    /// The quarantined item.
    pub id: String,
    /// The recipient it was sent to (the only one it acts for).
    pub recipient: String,
    /// Unix seconds after which it no longer works.
    pub expires: u64,
    /// Random, hex: what the store marks as used.
    pub nonce: String,
}

/// Why a token was refused. The messages are what the person who clicked
/// sees: they say what to do.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    /// Not a token of ours, or altered.
    #[error("this link is not valid (was it copied completely?); open the quarantine instead")]
    Invalid,
    /// Past its expiry.
    #[error("this link has expired; open the quarantine or wait for the next digest")]
    Expired,
    /// Used before.
    #[error("this link was already used; open the quarantine to see the message's state")]
    Used,
}

impl Link {
    /// A new link for `action` on item `id` for `recipient`, valid until
    /// `expires` (unix seconds).
    pub fn new(action: LinkAction, id: &str, recipient: &str, expires: u64) -> Link {
        let mut raw = [0u8; NONCE_BYTES];
        // A failing getrandom leaves zeroes: the link still works once,
        // and its signature still binds it.
        let _ = getrandom::fill(&mut raw);
        Link {
            action,
            id: id.to_string(),
            recipient: recipient.to_string(),
            expires,
            nonce: raw.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// The token to put in the link's URL.
    pub fn sign(&self, key: &[u8; KEY_BYTES]) -> String {
        let payload = format!(
            "{VERSION}|{}|{}|{}|{}|{}",
            self.action.code(),
            self.expires,
            self.nonce,
            self.id,
            self.recipient
        );
        let mac = mac(key, payload.as_bytes());
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(mac)
        )
    }

    /// The link `token` carries, if our `key` signed it and it has not
    /// expired at `now` (unix seconds). Whether it was used is the
    /// store's to say.
    pub fn verify(key: &[u8; KEY_BYTES], token: &str, now: u64) -> Result<Link, LinkError> {
        if token.len() > MAX_TOKEN {
            return Err(LinkError::Invalid);
        }
        let (payload, tag) = token.split_once('.').ok_or(LinkError::Invalid)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| LinkError::Invalid)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| LinkError::Invalid)?;
        let mut m = keyed(key);
        m.update(&payload);
        m.verify_slice(&tag).map_err(|_| LinkError::Invalid)?;
        let text = String::from_utf8(payload).map_err(|_| LinkError::Invalid)?;
        let link = parse(&text).ok_or(LinkError::Invalid)?;
        if now > link.expires {
            return Err(LinkError::Expired);
        }
        Ok(link)
    }
}

/// A new random signing key.
pub fn new_key() -> Result<[u8; KEY_BYTES], getrandom::Error> {
    let mut key = [0u8; KEY_BYTES];
    getrandom::fill(&mut key)?;
    Ok(key)
}

fn keyed(key: &[u8; KEY_BYTES]) -> Hmac<Sha256> {
    // HMAC takes keys of any length: this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length")
}

fn mac(key: &[u8; KEY_BYTES], payload: &[u8]) -> Vec<u8> {
    let mut m = keyed(key);
    m.update(payload);
    m.finalize().into_bytes().to_vec()
}

fn parse(text: &str) -> Option<Link> {
    // The recipient is last: an address may not contain '|', but splitting
    // at most six times keeps any later '|' inside it rather than lose it.
    let mut parts = text.splitn(6, '|');
    if parts.next()? != VERSION {
        return None;
    }
    let action = LinkAction::from_code(parts.next()?)?;
    let expires = parts.next()?.parse().ok()?;
    let nonce = parts.next()?.to_string();
    let id = parts.next()?.to_string();
    let recipient = parts.next()?.to_string();
    if nonce.len() != NONCE_BYTES * 2 || id.is_empty() || recipient.is_empty() {
        return None;
    }
    Some(Link {
        action,
        id,
        recipient,
        expires,
        nonce,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; KEY_BYTES] = [7; KEY_BYTES];
    const NOW: u64 = 1_800_000_000;

    fn link() -> Link {
        Link::new(LinkAction::Release, "q42", "user@example.test", NOW + 3600)
    }

    #[test]
    fn a_signed_link_verifies_until_it_expires() {
        let l = link();
        let token = l.sign(&KEY);
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'));
        assert_eq!(Link::verify(&KEY, &token, NOW), Ok(l.clone()));
        assert_eq!(Link::verify(&KEY, &token, NOW + 3600), Ok(l));
        assert_eq!(
            Link::verify(&KEY, &token, NOW + 3601),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn tampered_or_foreign_tokens_are_invalid() {
        let token = link().sign(&KEY);
        let (payload, tag) = token.split_once('.').unwrap();
        // Another item, same signature.
        let other = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap())
            .unwrap()
            .replace("q42", "q43");
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(other));
        assert_eq!(Link::verify(&KEY, &forged, NOW), Err(LinkError::Invalid));
        // Another key.
        assert_eq!(
            Link::verify(&[8; KEY_BYTES], &token, NOW),
            Err(LinkError::Invalid)
        );
        // A later expiry, re-signed with a wrong key.
        let mut longer = link();
        longer.expires += 1_000_000;
        let resigned = longer.sign(&[9; KEY_BYTES]);
        assert_eq!(Link::verify(&KEY, &resigned, NOW), Err(LinkError::Invalid));
        for junk in [
            "",
            ".",
            "abc",
            "a.b",
            &"x".repeat(5000),
            &token[..token.len() - 2],
        ] {
            assert_eq!(
                Link::verify(&KEY, junk, NOW),
                Err(LinkError::Invalid),
                "{junk}"
            );
        }
    }

    #[test]
    fn each_link_has_its_own_nonce_and_actions_round_trip() {
        let a = link();
        let b = link();
        assert_ne!(a.nonce, b.nonce);
        let block = Link::new(LinkAction::BlockSender, "q1", "u@x.test", NOW);
        assert_eq!(
            Link::verify(&KEY, &block.sign(&KEY), NOW).unwrap().action,
            LinkAction::BlockSender
        );
    }
}
