//! The EICAR anti-virus test file: harmless, and detected as a virus by every
//! scanner, so that the virus path can be tested end to end.

use super::{Check, Class, Finding};

pub use antivirus::{EICAR, EICAR_NAME};

/// Reason when the string is found only in the message as received (in a
/// header, or where MIME parsing found no part to hold it).
pub const EICAR_IN_MESSAGE: &str = "EICAR-Test-File in message";

/// Finds the EICAR string in the message as received when no part held it
/// (the [`super::virus`] check finds it in decoded parts and archives).
pub struct Eicar;

impl Check for Eicar {
    fn check_message(&self, raw: &[u8], findings: &mut Vec<Finding>) {
        let found = |f: &Finding| f.reason.starts_with(EICAR_NAME);
        if !findings.iter().any(found) && memchr::memmem::find(raw, EICAR).is_some() {
            findings.push(Finding::verdict(Class::Virus, EICAR_IN_MESSAGE));
        }
    }
}
