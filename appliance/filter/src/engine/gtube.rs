//! GTUBE, the Generic Test for Unsolicited Bulk Email: a fixed string every
//! spam filter scores as spam, so that an administrator can test the path.

use super::{Check, Finding, Part, PartKind};

/// The test string.
pub const GTUBE: &[u8] = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// Score of a message carrying GTUBE: far above any threshold.
pub const GTUBE_SCORE: f64 = 1000.0;

/// Reason shown for GTUBE.
pub const GTUBE_REASON: &str = "GTUBE";

/// Finds GTUBE in the message as received or in any decoded text part.
pub struct Gtube;

impl Check for Gtube {
    fn check_part(&self, part: &Part<'_>, findings: &mut Vec<Finding>) {
        if part.kind == PartKind::Text && memchr::memmem::find(part.content, GTUBE).is_some() {
            findings.push(Finding::score(GTUBE_SCORE, GTUBE_REASON));
        }
    }

    fn check_message(&self, raw: &[u8], findings: &mut Vec<Finding>) {
        if memchr::memmem::find(raw, GTUBE).is_some() {
            findings.push(Finding::score(GTUBE_SCORE, GTUBE_REASON));
        }
    }
}
