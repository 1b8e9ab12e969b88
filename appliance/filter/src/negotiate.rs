//! Milter option negotiation: what we may do, what we want to be sent.
//!
//! miltr-server's default negotiation answers with every capability the
//! client offers and no protocol flags, so Postfix would strip the space after
//! each header colon and send events we ignore. We answer explicitly instead.
//! No-reply flags (`SMFIP_NR_*`) are NOT requested: miltr-server answers every
//! event, and a reply the client does not expect would desynchronise it.

use miltr_common::optneg::{Capability, CompatibilityError, MacroStages, OptNeg, Protocol};

/// The milter protocol version spoken (Postfix >= 2.6, sendmail 8.14).
pub const MILTER_VERSION: u32 = 6;

/// What the filter may ask of the client at end of message: add the score
/// headers, delete forged ones, and (later) drop quarantined recipients.
pub const CAPABILITIES: Capability = Capability::SMFIF_ADDHDRS
    .union(Capability::SMFIF_CHGHDRS)
    .union(Capability::SMFIF_DELRCPT);

/// Events the filter does not need (each saves a round trip), and exact
/// header values (with the space after the colon) so messages are
/// reconstructed byte for byte. HELO is wanted: the sender history keys on it.
pub const PROTOCOL: Protocol = Protocol::NO_DATA
    .union(Protocol::NO_UNKNOWN)
    .union(Protocol::NO_END_OF_HEADER)
    .union(Protocol::SMFIP_HDR_LEADSPC);

/// The negotiated options and whether header values keep their leading space.
pub fn negotiate(theirs: &OptNeg) -> Result<(OptNeg, bool), CompatibilityError> {
    if theirs.version < MILTER_VERSION {
        return Err(CompatibilityError::UnsupportedVersion {
            received: theirs.version,
            supported: MILTER_VERSION,
        });
    }
    let protocol = PROTOCOL.intersection(theirs.protocol);
    let ours = OptNeg {
        version: MILTER_VERSION,
        capabilities: CAPABILITIES.intersection(theirs.capabilities),
        protocol,
        // No macro lists: the clients' defaults carry what we use (Postfix
        // sends `j` at connect and `i` from RCPT on), and clients built on
        // miltr-common cannot parse an answer longer than 12 bytes.
        macro_stages: MacroStages::default(),
    };
    Ok((ours, protocol.contains(Protocol::SMFIP_HDR_LEADSPC)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use miltr_common::encoding::Writable;

    fn offer(version: u32, caps: u32, proto: u32) -> OptNeg {
        OptNeg {
            version,
            capabilities: Capability::from_bits_retain(caps),
            protocol: Protocol::from_bits_retain(proto),
            macro_stages: MacroStages::default(),
        }
    }

    #[test]
    fn answers_postfix_offer() {
        // What Postfix 3.7 offers with milter_protocol = 6.
        let (ours, leadspc) = negotiate(&offer(6, 0x1ff, 0x1f_ffff)).unwrap();
        assert!(leadspc);
        assert_eq!(ours.version, 6);
        assert_eq!(ours.capabilities.bits(), 0x01 | 0x10 | 0x08);
        assert_eq!(ours.protocol.bits(), 0x200 | 0x100 | 0x40 | 0x10_0000);
        let mut wire = BytesMut::new();
        ours.write(&mut wire);
        assert_eq!(wire.len(), 12, "version, actions and protocol only");
    }

    #[test]
    fn never_asks_for_more_than_offered() {
        let (ours, leadspc) = negotiate(&offer(6, 0x01, 0x42)).unwrap();
        assert!(!leadspc);
        assert_eq!(
            (ours.capabilities.bits(), ours.protocol.bits()),
            (0x01, 0x40)
        );
    }

    #[test]
    fn refuses_old_protocol_versions() {
        assert!(negotiate(&offer(2, 0x1ff, 0x7f)).is_err());
    }
}
