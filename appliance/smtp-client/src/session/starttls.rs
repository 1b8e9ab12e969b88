//! STARTTLS in the session (RFC 3207): when to ask for it, and what a
//! missing or refused STARTTLS means under each [`TlsMode`].

use super::{Action, Session, State};
use crate::ehlo::Capabilities;
use crate::{Reply, Stage, TlsMode};

impl Session<'_> {
    /// After a positive EHLO or HELO: upgrade first when the policy wants it
    /// and the server offers it; refuse locally when TLS is required but
    /// impossible; otherwise start the transaction.
    pub(super) fn after_hello(&mut self, caps: Capabilities) -> Vec<Action> {
        if !self.secured && self.tls != TlsMode::Disabled && caps.starttls {
            self.offered = caps;
            self.state = State::StartTls;
            return vec![
                Action::Send {
                    stage: Stage::Tls,
                    bytes: b"STARTTLS\r\n".to_vec(),
                },
                Action::Read(Stage::Tls),
            ];
        }
        if !self.secured && self.tls == TlsMode::Required {
            return self.refuse_clear("TLS is required, but the server did not offer STARTTLS");
        }
        self.begin(caps)
    }

    /// The reply to STARTTLS: 220 means handshake now; a refusal ends the
    /// session when TLS is required, and is ignored otherwise (the
    /// transaction goes on in clear with what the EHLO offered).
    pub(super) fn on_starttls(&mut self, reply: Reply) -> Vec<Action> {
        if reply.code == 220 {
            return vec![Action::StartTls];
        }
        if self.tls == TlsMode::Required {
            let why = format!("TLS is required, but the server refused STARTTLS: {reply}");
            return self.refuse_clear(&why);
        }
        let caps = self.offered;
        self.begin(caps)
    }

    /// The handshake succeeded: everything the server said in clear is
    /// forgotten (RFC 3207 section 4.2) and EHLO is sent again.
    pub(crate) fn tls_established(&mut self) -> Vec<Action> {
        self.secured = true;
        self.offered = Capabilities::default();
        self.state = State::Ehlo;
        self.hello("EHLO")
    }

    /// Defers every recipient without sending anything: the policy forbids
    /// this connection.
    fn refuse_clear(&mut self, why: &str) -> Vec<Action> {
        self.decide_pending(&Reply::new(450, format!("4.7.4 {why} (local, not sent)")));
        self.quit()
    }
}
