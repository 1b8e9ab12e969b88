//! DKIM signing (RFC 6376) of the outbound mail of our domains.
//!
//! The manager makes a key per domain and publishes nothing itself: the
//! customer publishes the TXT record `GET /domains/{name}/dkim` gives. The
//! keys reach the mta in the directory ([`model::api::Directory::dkim`]);
//! [`Signers`] parses them once per directory generation. A message whose
//! `From` domain has a key is signed before it is queued when the client
//! speaks for that domain ([`crate::relay::speaks_for`]: one of its relay
//! networks, or one of its logins), so receivers can tell the box sends
//! for the domain.
//!
//! Signatures use relaxed/relaxed canonicalization (robust against the
//! header refolding of later hops) and cover the headers a reader sees and
//! a forger would change; headers added later on the way (`Received`, the
//! filter's `X-Spam-*`) are not covered, so adding them keeps it valid.

use std::collections::HashMap;

use base64::Engine;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use model::api::DkimKey;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// The header fields signed (RFC 6376 section 5.4.1); absent ones are
/// listed too, so that one added on the way (a forged `Reply-To`) breaks
/// the signature (section 8.15).
const SIGNED_HEADERS: [&str; 12] = [
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "To",
    "Cc",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

/// Why a key or a message could not be used for signing.
#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    /// The key's algorithm is neither `rsa-sha256` nor `ed25519-sha256`.
    #[error("unsupported DKIM algorithm {0:?}")]
    Algorithm(String),
    /// The private key is not base64 PKCS#8 DER of its algorithm.
    #[error("unusable DKIM private key: {0}")]
    Key(String),
    /// mail-auth refused to sign (e.g. no header to sign).
    #[error("signing failed: {0}")]
    Sign(String),
}

/// One domain's signer.
enum Signer {
    Rsa(DkimSigner<RsaKey<Sha256>, Done>),
    Ed25519(DkimSigner<Ed25519Key, Done>),
}

/// The signers of every domain with a key, by normal-form domain name.
#[derive(Default)]
pub struct Signers {
    by_domain: HashMap<String, Signer>,
}

impl std::fmt::Debug for Signers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key material stays out of logs: only the domains.
        let mut domains: Vec<_> = self.by_domain.keys().collect();
        domains.sort();
        f.debug_struct("Signers")
            .field("domains", &domains)
            .finish()
    }
}

impl Signers {
    /// Parses `keys`; a key that does not parse is logged and skipped (its
    /// domain's mail then leaves unsigned rather than not at all).
    pub fn new(keys: &[DkimKey]) -> Signers {
        let mut by_domain = HashMap::new();
        for k in keys {
            let Ok(domain) = model::address::normalize_domain(&k.domain) else {
                log::warn!("DKIM key for invalid domain {:?} ignored", k.domain);
                continue;
            };
            match signer(k, &domain) {
                Ok(s) => {
                    by_domain.insert(domain, s);
                }
                Err(e) => log::warn!("DKIM key of {domain} ignored: {e}"),
            }
        }
        Signers { by_domain }
    }

    /// True when `domain` (normal form) has a key.
    pub fn has(&self, domain: &str) -> bool {
        self.by_domain.contains_key(domain)
    }

    /// The `DKIM-Signature` field (CRLF-terminated) of `domain` (normal
    /// form) for `message`; `None` when the domain has no key.
    pub fn sign(&self, domain: &str, message: &[u8]) -> Result<Option<String>, DkimError> {
        let Some(signer) = self.by_domain.get(domain) else {
            return Ok(None);
        };
        let signature = match signer {
            Signer::Rsa(s) => s.sign(message),
            Signer::Ed25519(s) => s.sign(message),
        }
        .map_err(|e| DkimError::Sign(e.to_string()))?;
        Ok(Some(signature.to_header()))
    }
}

fn signer(key: &DkimKey, domain: &str) -> Result<Signer, DkimError> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(key.private_key.trim())
        .map_err(|e| DkimError::Key(e.to_string()))?;
    let bad = |e: mail_auth::Error| DkimError::Key(e.to_string());
    Ok(match key.algorithm.as_str() {
        "rsa-sha256" => Signer::Rsa(configure(
            DkimSigner::from_key(RsaKey::<Sha256>::from_key_der(pkcs8(&der)).map_err(bad)?),
            domain,
            &key.selector,
        )),
        "ed25519-sha256" => Signer::Ed25519(configure(
            DkimSigner::from_key(Ed25519Key::from_pkcs8_maybe_unchecked_der(&der).map_err(bad)?),
            domain,
            &key.selector,
        )),
        other => return Err(DkimError::Algorithm(other.to_string())),
    })
}

fn pkcs8(der: &[u8]) -> PrivateKeyDer<'_> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der))
}

fn configure<T: mail_auth::common::crypto::SigningKey>(
    signer: DkimSigner<T>,
    domain: &str,
    selector: &str,
) -> DkimSigner<T, Done> {
    signer
        .domain(domain)
        .selector(selector)
        .headers(SIGNED_HEADERS)
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
}

/// The normal-form domain of the (first) `From` address, if there is one:
/// whose key signs.
pub fn from_domain(message: &[u8]) -> Option<String> {
    let parsed = mail_parser::MessageParser::new().parse_headers(message)?;
    let address = parsed.from()?.first()?.address()?;
    let (_, domain) = address.rsplit_once('@')?;
    model::address::normalize_domain(domain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed ed25519 key (PKCS#8 v1 DER of a 32-byte seed), so the unit
    /// tests need no key generation.
    fn ed25519_key(domain: &str) -> DkimKey {
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend((1..=32u8).collect::<Vec<_>>());
        DkimKey {
            domain: domain.into(),
            selector: "sel".into(),
            algorithm: "ed25519-sha256".into(),
            private_key: base64::engine::general_purpose::STANDARD.encode(der),
        }
    }

    const MESSAGE: &[u8] = b"From: Alice <alice@Customer.TEST>\r\nTo: bob@far.test\r\n\
        Subject: hi\r\n\r\nbody\r\n";

    #[test]
    fn signs_mail_from_a_domain_with_a_key() {
        let signers = Signers::new(&[ed25519_key("customer.test")]);
        assert!(signers.has("customer.test"));
        assert_eq!(from_domain(MESSAGE).as_deref(), Some("customer.test"));
        let header = signers
            .sign("customer.test", MESSAGE)
            .unwrap()
            .expect("signed");
        assert!(header.starts_with("DKIM-Signature: "), "{header}");
        assert!(header.ends_with("\r\n"), "{header}");
        for tag in [
            "a=ed25519-sha256",
            "d=customer.test",
            "s=sel",
            "c=relaxed/relaxed",
        ] {
            assert!(header.contains(tag), "{tag} missing in {header}");
        }
        let unfolded: String = header.split_whitespace().collect();
        let signed = unfolded
            .split(';')
            .find_map(|t| t.strip_prefix("h="))
            .expect("h= tag");
        let mut signed: Vec<_> = signed.split(':').map(str::to_ascii_lowercase).collect();
        signed.sort();
        let mut all: Vec<_> = SIGNED_HEADERS
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        all.sort();
        assert_eq!(signed, all, "absent ones too: adding one later breaks it");
    }

    #[test]
    fn other_domains_and_bad_keys_are_not_signed() {
        let mut bad = ed25519_key("broken.test");
        bad.private_key = "AAAA".into();
        let mut odd = ed25519_key("odd.test");
        odd.algorithm = "rsa-sha1".into();
        let signers = Signers::new(&[ed25519_key("other.test"), bad, odd]);
        assert!(!signers.has("broken.test") && !signers.has("odd.test"));
        assert!(signers.sign("customer.test", MESSAGE).unwrap().is_none());
        assert!(from_domain(b"Subject: no from\r\n\r\nx\r\n").is_none());
        assert_eq!(
            format!("{signers:?}"),
            "Signers { domains: [\"other.test\"] }"
        );
    }
}
