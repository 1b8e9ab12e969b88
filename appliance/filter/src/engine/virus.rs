//! Viruses and dangerous content in every decoded part, through the
//! [`antivirus`] crate: ClamAV signatures (EICAR built in), zip archives
//! opened within limits, real file types. What the domain's
//! [`AttachmentPolicy`] refuses is held as an attachment; a virus always is;
//! what cannot be scanned (a decompression bomb, a damaged archive) is held
//! too, since passing it would pass whatever it hides.

use std::sync::{Arc, RwLock};

use antivirus::{Detection, Scanner};
use model::policy::AttachmentPolicy;

use super::{attachments, Check, Class, Finding, Part, PartKind};

/// Score of an encrypted archive entry the policy lets through: it hides
/// its content from every scanner.
pub const ENCRYPTED_SCORE: f64 = 1.0;

/// The signatures in force, shared by the scan threads and what reloads
/// them ([`crate::signatures::watch`]): a scan started before a reload
/// finishes with the signatures it started with.
#[derive(Clone)]
pub struct Signatures(Arc<RwLock<Arc<Scanner>>>);

impl Signatures {
    /// `db` under the default archive limits.
    pub fn new(db: antivirus::Database) -> Signatures {
        Signatures(Arc::new(RwLock::new(Arc::new(scanner(db)))))
    }

    /// The scanner in force.
    pub fn current(&self) -> Arc<Scanner> {
        // A panic while swapping leaves the old or the new one: both whole.
        Arc::clone(&self.0.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Puts `db` in force for the scans that start from now on.
    pub fn replace(&self, db: antivirus::Database) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(scanner(db));
    }
}

fn scanner(db: antivirus::Database) -> Scanner {
    Scanner::new(db, antivirus::archive::Limits::default())
}

/// The check.
pub struct Virus {
    /// Signatures and limits.
    pub signatures: Signatures,
    /// What the domain refuses.
    pub policy: AttachmentPolicy,
}

impl Check for Virus {
    fn check_part(&self, part: &Part<'_>, findings: &mut Vec<Finding>) {
        if part.kind == PartKind::Container || part.content.is_empty() {
            return;
        }
        let label = part.label();
        let at = |path: &str| {
            if path.is_empty() {
                label.clone()
            } else {
                format!("{label}/{}", path.chars().take(200).collect::<String>())
            }
        };
        for detection in self.signatures.current().scan(part.content) {
            let finding = match detection {
                Detection::Virus { signature, path } => {
                    Finding::verdict(Class::Virus, format!("{signature} in {}", at(&path)))
                }
                Detection::Executable { path } if self.policy.block_executables => {
                    Finding::verdict(Class::Attachment, format!("executable {}", at(&path)))
                }
                Detection::Macros { path } if self.policy.block_macros => {
                    Finding::verdict(Class::Attachment, format!("macros in {}", at(&path)))
                }
                Detection::Encrypted { path } if self.policy.block_encrypted_archives => {
                    Finding::verdict(Class::Attachment, format!("encrypted {}", at(&path)))
                }
                Detection::Encrypted { path } => {
                    Finding::score(ENCRYPTED_SCORE, format!("encrypted {}", at(&path)))
                }
                Detection::Unscannable { path, why } => Finding::verdict(
                    Class::Attachment,
                    format!("unscannable {}: {why}", at(&path)),
                ),
                Detection::Named { path } => match attachments::refusal(&path, &self.policy) {
                    Some(why) => {
                        Finding::verdict(Class::Attachment, format!("{why} {}", at(&path)))
                    }
                    None => continue,
                },
                _ => continue,
            };
            findings.push(finding);
        }
    }
}
