//! Bulk import of mailbox users from the files administrators already have:
//! CSV exports and Excel workbooks.
//!
//! An import of 100,000 users must not fail as a whole because three rows are
//! wrong, and the administrator must be able to find those three rows in the
//! spreadsheet they uploaded. So [`parse`] returns every good row *and* a
//! [`RowError`] for every bad one, numbered as the spreadsheet numbers its
//! rows; only a file that cannot be read at all (or is too large to read
//! safely) is an [`ImportError`].
//!
//! The crate is sans-I/O: it reads the bytes it is given and nothing else, so
//! the manager decides where uploads come from and what happens to the rows.
//!
//! Encoding: CSV must be UTF-8 (with or without a byte-order mark). A file in
//! another encoding (Excel's "CSV (comma delimited)" writes Windows-1252) is
//! refused with a message asking for "CSV UTF-8", rather than guessed at: a
//! wrong guess would silently change names and, worse, initial passwords.

#![forbid(unsafe_code)]

mod address;
mod columns;
mod csv_source;
mod rows;
mod xlsx_source;

pub use address::normalise as normalise_address;

use std::fmt;

/// Largest upload read: past this an upload is more likely a mistake or an
/// attack than a user list (100,000 users in CSV are about 5 MiB).
pub const MAX_BYTES: usize = 50 * 1024 * 1024;

/// Most data rows in one file: twice the largest import we expect, so that a
/// runaway file is stopped before it costs the manager memory and time.
pub const MAX_ROWS: usize = 200_000;

/// Longest display name, in characters: longer is a pasted paragraph, not a
/// name, and would not fit a mail client's address line anyway.
pub const MAX_NAME_CHARS: usize = 256;

/// Longest initial password, in bytes: enough for any passphrase, short
/// enough that hashing it cannot be used to burn the manager's CPU.
pub const MAX_PASSWORD_BYTES: usize = 256;

/// Longest cell we look at, in bytes: anything longer is refused before it is
/// copied, so a hostile cell cannot multiply memory by the number of rows.
pub const MAX_FIELD_BYTES: usize = 1024;

/// What kind of file an upload is; the manager knows the upload's name, we
/// know the bytes, and [`Format::detect`] combines both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Comma, semicolon or tab separated text, UTF-8.
    Csv,
    /// Excel 2007+ workbook (Office Open XML, a zip archive).
    Xlsx,
}

impl Format {
    /// Tells the format from the bytes first, since browsers and users
    /// mislabel files: a zip archive is an xlsx whatever it is called. The
    /// name only decides for empty uploads or old binary Excel files, which
    /// are refused with advice instead of being parsed as garbage CSV.
    pub fn detect(bytes: &[u8], file_name: Option<&str>) -> Result<Format, ImportError> {
        if bytes.starts_with(b"PK\x03\x04") {
            return Ok(Format::Xlsx);
        }
        // Compound File Binary: .xls (Excel 97-2003) or an encrypted .xlsx.
        if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
            return Err(ImportError::Unreadable(
                "this is an old Excel (.xls) or password-protected workbook: \
                 open it in Excel, remove any password and save it as \
                 \"Excel Workbook (.xlsx)\" or \"CSV UTF-8\""
                    .into(),
            ));
        }
        let ext = file_name
            .and_then(|n| n.rsplit_once('.'))
            .map(|(_, e)| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("xlsx" | "xlsm") if !bytes.is_empty() => Err(ImportError::Unreadable(
                "the file is named .xlsx but is not an Excel workbook (it is not a zip \
                 archive): save it again from Excel as \"Excel Workbook (.xlsx)\""
                    .into(),
            )),
            Some("xls") => Err(ImportError::Unreadable(
                "old Excel (.xls) files are not supported: save it as \
                 \"Excel Workbook (.xlsx)\" or \"CSV UTF-8\""
                    .into(),
            )),
            _ => Ok(Format::Csv),
        }
    }
}

/// The outcome of reading a file that could be read: the manager imports
/// `rows` and shows `errors` and `warnings` to the administrator, who fixes
/// and re-uploads only the bad rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Import {
    /// Valid rows, in file order, with no two for the same address.
    pub rows: Vec<UserRow>,
    /// One entry per refused row, in file order.
    pub errors: Vec<RowError>,
    /// Things the administrator should know that refuse no row, such as
    /// columns that were ignored.
    pub warnings: Vec<String>,
}

/// A user to create; the fields are already in the form the manager stores,
/// so the manager needs no second validation pass to stay consistent.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Spreadsheet row number (1-based, the header is row 1), so a later
    /// failure in the manager (domain unknown, user exists) can be reported
    /// against the row the administrator sees.
    pub line: usize,
    /// In the manager's normal form ([`model::address::normalize_address`]):
    /// trimmed, lowercased, an internationalised domain in punycode.
    pub address: String,
    /// Display name, trimmed; `None` when the column is absent or empty.
    pub name: Option<String>,
    /// Initial password exactly as written (not trimmed: spaces may be part
    /// of it); `None` when absent or empty. Never printed by `Debug`.
    pub password: Option<String>,
}

impl fmt::Debug for UserRow {
    /// Rows end up in logs and panic messages; the initial password must not.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRow")
            .field("line", &self.line)
            .field("address", &self.address)
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// Why one row was not imported, in words meant for the administrator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// Spreadsheet row number (1-based, header is row 1).
    pub line: usize,
    /// What is wrong and, where it helps, what would be right.
    pub reason: String,
}

impl fmt::Display for RowError {
    /// One line per bad row is how the manager reports them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}: {}", self.line, self.reason)
    }
}

/// Why a whole file was refused; row-level problems are [`RowError`]s
/// instead, so one bad row never sinks an import.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImportError {
    /// The file is over one of the limits ([`MAX_BYTES`], [`MAX_ROWS`], or
    /// the expanded size of a workbook); the text says which.
    #[error("file too large: {0}")]
    TooLarge(String),
    /// The file is not a readable CSV or workbook; the text says what to do.
    #[error("file unreadable: {0}")]
    Unreadable(String),
    /// The header row does not say which column holds the addresses, or
    /// names one twice.
    #[error("{0}")]
    BadHeader(String),
    /// Nothing to import: no rows at all.
    #[error("the file has no users to import")]
    Empty,
}

/// Reads an uploaded file. Every limit is checked before the work it guards,
/// so a hostile upload costs at most [`MAX_BYTES`] plus bounded overhead.
pub fn parse(bytes: &[u8], format: Format) -> Result<Import, ImportError> {
    if bytes.len() > MAX_BYTES {
        return Err(ImportError::TooLarge(format!(
            "{} MiB; at most {} MiB can be imported at once: split the file",
            bytes.len().div_ceil(1024 * 1024),
            MAX_BYTES / (1024 * 1024)
        )));
    }
    let import = match format {
        Format::Csv => csv_source::parse(bytes)?,
        Format::Xlsx => xlsx_source::parse(bytes)?,
    };
    log::debug!(
        "user import: {} rows, {} errors, {} warnings",
        import.rows.len(),
        import.errors.len(),
        import.warnings.len()
    );
    Ok(import)
}
