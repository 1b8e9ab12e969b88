//! Interpreting what the filter sends: option negotiation, step answers,
//! final actions and edits. Pure functions, tested without a socket.

use bytes::BytesMut;
use miltr_common::actions::Replycode;
use miltr_common::decoding::ServerCommand;
use miltr_common::optneg::{Capability, OptNeg, Protocol};

use super::{MilterError, Modification, Response};
use crate::session::Reply;

/// The milter protocol version we speak.
const VERSION: u32 = 6;

/// SMFIR_ACCEPT and SMFIR_PROGRESS, which miltr-common does not decode.
pub(super) const ACCEPT: u8 = b'a';
pub(super) const PROGRESS: u8 = b'p';
/// SMFIC_OPTNEG: its reply may carry macro lists after 12 bytes; we send a
/// fixed set of macros and ignore them.
const OPTNEG: u8 = b'O';
const OPTNEG_LEN: usize = 13;

/// Our SMFIC_OPTNEG: version 6, every edit we can apply, every step we can skip.
pub(super) fn offer() -> OptNeg {
    OptNeg {
        version: VERSION,
        capabilities: offered_capabilities(),
        protocol: offered_protocol(),
        ..OptNeg::default()
    }
}

/// The filter's answer to [`offer`]; refused when it asks for more than offered.
pub(super) fn negotiated(mut reply: BytesMut) -> Result<OptNeg, MilterError> {
    if reply.first() != Some(&OPTNEG) || reply.len() < OPTNEG_LEN {
        return Err(MilterError::Protocol(
            "expected an option negotiation reply".into(),
        ));
    }
    reply.truncate(OPTNEG_LEN);
    let theirs = match ServerCommand::parse(reply) {
        Ok(ServerCommand::OptNeg(o)) => o,
        Ok(other) => return Err(MilterError::Protocol(format!("unexpected {other:?}"))),
        Err(e) => return Err(MilterError::Protocol(e.to_string())),
    };
    if !(2..=VERSION).contains(&theirs.version)
        || !offered_protocol().contains(theirs.protocol)
        || !offered_capabilities().contains(theirs.capabilities)
    {
        return Err(MilterError::Protocol(format!(
            "the filter asks for what we did not offer: version {}, actions {:#x}, protocol {:#x}",
            theirs.version,
            theirs.capabilities.bits(),
            theirs.protocol.bits()
        )));
    }
    Ok(theirs)
}

/// Steps we can skip and replies we can do without.
pub(super) fn offered_protocol() -> Protocol {
    Protocol::NO_CONNECT
        | Protocol::NO_HELO
        | Protocol::NO_MAIL
        | Protocol::NO_RECIPIENT
        | Protocol::NO_BODY
        | Protocol::NO_HEADER
        | Protocol::NO_END_OF_HEADER
        | Protocol::NR_HEADER
        | Protocol::NO_UNKNOWN
        | Protocol::NO_DATA
        | Protocol::SMFIP_SKIP
        | Protocol::NR_CONNECT
        | Protocol::NR_HELO
        | Protocol::NR_MAIL
        | Protocol::NR_RECIPIENT
        | Protocol::NR_DATA
        | Protocol::NR_UNKNOWN
        | Protocol::NR_END_OF_HEADER
        | Protocol::NR_BODY
        | Protocol::SMFIP_HDR_LEADSPC
}

/// Edits we can apply.
pub(super) fn offered_capabilities() -> Capability {
    Capability::SMFIF_ADDHDRS
        | Capability::SMFIF_ADDRCPT
        | Capability::SMFIF_DELRCPT
        | Capability::SMFIF_CHGHDRS
}

/// The edit `command` asks for, if it is one; refused unless `negotiated` allows it.
pub(super) fn modification(
    command: &ServerCommand,
    negotiated: Capability,
) -> Result<Option<Modification>, MilterError> {
    let (needed, m) = match command {
        ServerCommand::AddHeader(h) => (
            Capability::SMFIF_ADDHDRS,
            Modification::AddHeader {
                name: h.name().into_owned(),
                value: h.value().into_owned(),
            },
        ),
        ServerCommand::InsertHeader(h) => (
            Capability::SMFIF_ADDHDRS,
            Modification::InsertHeader {
                index: h.index(),
                name: h.name().into_owned(),
                value: h.value().into_owned(),
            },
        ),
        ServerCommand::ChangeHeader(h) => (
            Capability::SMFIF_CHGHDRS,
            Modification::ChangeHeader {
                index: h.index(),
                name: h.name().into_owned(),
                value: h.value().into_owned(),
            },
        ),
        ServerCommand::AddRecipient(r) => (
            Capability::SMFIF_ADDRCPT,
            Modification::AddRecipient(r.recipient().into_owned()),
        ),
        ServerCommand::DeleteRecipient(r) => (
            Capability::SMFIF_DELRCPT,
            Modification::DeleteRecipient(r.recipient().into_owned()),
        ),
        _ => return Ok(None),
    };
    if !negotiated.contains(needed) {
        return Err(MilterError::Protocol(format!("{m:?} was not negotiated")));
    }
    Ok(Some(m))
}

pub(super) fn parse(frame: BytesMut) -> Result<ServerCommand, MilterError> {
    ServerCommand::parse(frame).map_err(|e| MilterError::Protocol(e.to_string()))
}

/// Maps a final action (reject, tempfail, discard, reply code) to a response.
pub(super) fn action(command: ServerCommand, what: &'static str) -> Result<Response, MilterError> {
    match command {
        ServerCommand::Reject(_) => Ok(Response::reject()),
        ServerCommand::Tempfail(_) => Ok(Response::tempfail()),
        ServerCommand::Discard(_) => Ok(Response::Discard),
        ServerCommand::Replycode(r) => reply_code(&r),
        other => Err(MilterError::Protocol(format!(
            "unexpected {other:?} after {what}"
        ))),
    }
}

/// SMFIR_REPLYCODE: a 4xx or 5xx reply with the filter's own text.
fn reply_code(r: &Replycode) -> Result<Response, MilterError> {
    let [a, b, c] = r.rcode().code();
    let code = u16::from(a) * 100 + u16::from(b) * 10 + u16::from(c);
    let class = u16::from(a);
    if !(4..=5).contains(&class) || b > 9 || c > 9 {
        return Err(MilterError::Protocol(format!(
            "reply code {code} is not 4xx or 5xx"
        )));
    }
    let enhanced = match r.xcode() {
        Some(x) if x.code()[0] == class => {
            let [x, y, z] = x.code();
            format!("{x}.{y}.{z}")
        }
        _ => format!("{class}.7.1"),
    };
    let reply = Reply::new(code, &enhanced, r.message());
    Ok(if class == 4 {
        Response::Tempfail(reply)
    } else {
        Response::Reject(reply)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use miltr_common::encoding::Writable;

    fn optneg_frame(o: &OptNeg, extra: &[u8]) -> BytesMut {
        let mut b = BytesMut::from(&[OPTNEG][..]);
        o.write(&mut b);
        b.extend_from_slice(extra);
        b
    }

    #[test]
    fn negotiation_accepts_subsets_and_ignores_macro_lists() {
        let mut theirs = offer();
        theirs.protocol = Protocol::NR_HEADER | Protocol::NO_HELO;
        theirs.capabilities = Capability::SMFIF_ADDHDRS;
        let got = negotiated(optneg_frame(&theirs, b"\0\0\0\x01j {client_ptr}\0")).unwrap();
        assert_eq!(
            (got.protocol, got.capabilities),
            (theirs.protocol, theirs.capabilities)
        );

        let mut greedy = offer();
        greedy.capabilities |= Capability::SMFIF_CHGBODY;
        assert!(
            negotiated(optneg_frame(&greedy, b"")).is_err(),
            "body replacement was not offered"
        );
        let mut future = offer();
        future.version = 7;
        assert!(negotiated(optneg_frame(&future, b"")).is_err());
        assert!(negotiated(BytesMut::from(&b"c"[..])).is_err());
    }

    #[test]
    fn edits_need_their_capability() {
        use miltr_common::modifications::headers::AddHeader;
        let add = ServerCommand::AddHeader(AddHeader::new(b"X-A", b"1"));
        assert!(modification(&add, Capability::SMFIF_DELRCPT).is_err());
        assert_eq!(
            modification(&add, Capability::SMFIF_ADDHDRS).unwrap(),
            Some(Modification::AddHeader {
                name: "X-A".into(),
                value: "1".into()
            })
        );
        let cont = ServerCommand::Continue(miltr_common::actions::Continue);
        assert_eq!(modification(&cont, Capability::all()).unwrap(), None);
    }

    #[test]
    fn reply_codes_keep_the_filter_text() {
        let r = Replycode::new([5, 5, 4], [5, 7, 0], "spam refused");
        assert_eq!(
            reply_code(&r).unwrap(),
            Response::Reject(Reply::new(554, "5.7.0", "spam refused"))
        );
        let r = Replycode::without_xcode([4, 5, 1], "later");
        assert_eq!(
            reply_code(&r).unwrap(),
            Response::Tempfail(Reply::new(451, "4.7.1", "later"))
        );
        assert!(reply_code(&Replycode::without_xcode([2, 5, 0], "ok")).is_err());
    }
}
