//! The filterbox filter role: a milter server that scores, scans and quarantines.
