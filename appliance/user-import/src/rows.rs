//! The rules every row obeys, whatever file it came from: readers feed rows
//! one at a time, so a 100,000-row file is never held twice in memory.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::address;
use crate::columns::{column_name, Columns};
use crate::{
    Import, ImportError, RowError, UserRow, MAX_FIELD_BYTES, MAX_NAME_CHARS, MAX_PASSWORD_BYTES,
    MAX_ROWS,
};

/// One cell as the reader found it. Spreadsheets type their cells; text is
/// what we want, anything else is kept apart so the address column can
/// refuse a number or date instead of importing `45123@...`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell<'a> {
    Text(Cow<'a, str>),
    /// A number, date, boolean or error value, rendered as Excel shows it;
    /// `kind` names it for messages ("a number").
    Other {
        shown: String,
        kind: &'static str,
    },
    /// A formula that failed (`#N/A`, `#REF!`): never a usable value.
    Error(String),
}

impl Cell<'_> {
    fn text(&self) -> &str {
        match self {
            Cell::Text(t) => t,
            Cell::Other { shown, .. } | Cell::Error(shown) => shown,
        }
    }

    fn is_blank(&self) -> bool {
        self.text().trim().is_empty()
    }
}

/// Collects rows into an [`Import`].
#[derive(Default)]
pub(crate) struct Builder {
    columns: Option<Columns>,
    /// Normalised address -> the row that first had it.
    seen: HashMap<String, usize>,
    import: Import,
    data_rows: usize,
    warned_extra: bool,
}

impl Builder {
    /// The column count readers need to keep, once the header is known;
    /// cells past it are never copied.
    pub fn width(&self) -> Option<usize> {
        self.columns.as_ref().map(Columns::width)
    }

    /// Takes one row (`line` as the spreadsheet numbers it). Row problems
    /// become [`RowError`]s; only a missing header or too many rows stop
    /// the import.
    pub fn row(&mut self, line: usize, cells: &[Cell<'_>]) -> Result<(), ImportError> {
        if cells.iter().all(Cell::is_blank) {
            return Ok(());
        }
        let Some(columns) = &self.columns else {
            let texts: Vec<&str> = cells.iter().map(Cell::text).collect();
            let (columns, warning) = Columns::from_first_row(&texts)?;
            self.import.warnings.extend(warning);
            let header = !columns.headerless;
            self.columns = Some(columns);
            if header {
                return Ok(());
            }
            return self.row(line, cells);
        };
        self.data_rows += 1;
        if self.data_rows > MAX_ROWS {
            return Err(ImportError::TooLarge(format!(
                "more than {MAX_ROWS} rows (row {line}): split the file"
            )));
        }
        let address = columns.address;
        let extra = |(i, c): (usize, &Cell<'_>)| i != address && !c.is_blank();
        if columns.headerless && !self.warned_extra && cells.iter().enumerate().any(extra) {
            self.warned_extra = true;
            self.import.warnings.push(format!(
                "row {line} has more than one column, but the file has no header row: \
                 only column {} (the address) is read; add a header row (email, name, \
                 password) to import the other columns",
                column_name(address)
            ));
        }
        match check(columns, cells) {
            Ok(mut row) => {
                row.line = line;
                if let Some(&first) = self.seen.get(&row.address) {
                    self.error(line, format!("{} is already on row {first}", row.address));
                } else {
                    self.seen.insert(row.address.clone(), line);
                    self.import.rows.push(row);
                }
            }
            Err(reason) => self.error(line, reason),
        }
        Ok(())
    }

    fn error(&mut self, line: usize, reason: String) {
        self.import.errors.push(RowError { line, reason });
    }

    /// The import, or [`ImportError::Empty`] if there was nothing to import.
    pub fn finish(self) -> Result<Import, ImportError> {
        if self.data_rows == 0 {
            return Err(ImportError::Empty);
        }
        Ok(self.import)
    }
}

/// Applies the per-row rules; the first problem found is the reason.
fn check(columns: &Columns, cells: &[Cell<'_>]) -> Result<UserRow, String> {
    let get = |i: Option<usize>| i.and_then(|i| cells.get(i)).filter(|c| !c.is_blank());
    let column = |i: usize| format!("column {}", column_name(i));
    for i in [
        Some(columns.address),
        columns.name,
        columns.password,
        columns.domain,
    ]
    .into_iter()
    .flatten()
    {
        if let Some(Cell::Error(e)) = cells.get(i) {
            return Err(format!("{} holds the error value {e}", column(i)));
        }
    }
    let address = match get(Some(columns.address)) {
        None => return Err(format!("no address in {}", column(columns.address))),
        Some(Cell::Other { shown, kind }) => {
            return Err(format!(
                "{} holds {kind} ({shown}), not an address",
                column(columns.address)
            ))
        }
        Some(Cell::Text(t)) if t.len() > MAX_FIELD_BYTES => {
            return Err(format!(
                "the address is {} characters long; at most 254 are allowed",
                t.chars().count()
            ))
        }
        Some(Cell::Text(t)) => address::normalise(t)?,
        Some(Cell::Error(e)) => {
            return Err(format!(
                "{} holds the error value {e}",
                column(columns.address)
            ))
        }
    };
    let name = match get(columns.name) {
        None => None,
        Some(c) => {
            let name = c.text().trim();
            let chars = name.chars().count();
            if chars > MAX_NAME_CHARS {
                return Err(format!(
                    "the name is {chars} characters long; at most {MAX_NAME_CHARS} are allowed"
                ));
            }
            if name.chars().any(char::is_control) {
                return Err("the name contains a line break or control character".into());
            }
            Some(name.to_string())
        }
    };
    let password = match get(columns.password) {
        None => None,
        // Never quote a password in a message: the report may be mailed.
        Some(c) => {
            let password = c.text();
            if password.len() > MAX_PASSWORD_BYTES {
                return Err(format!(
                    "the password is too long; at most {MAX_PASSWORD_BYTES} bytes are allowed"
                ));
            }
            if password.chars().any(char::is_control) {
                return Err("the password contains a line break or control character".into());
            }
            Some(password.to_string())
        }
    };
    if let Some(d) = get(columns.domain) {
        let text = d.text();
        if text.len() > MAX_FIELD_BYTES {
            return Err("the domain is too long".into());
        }
        let domain = address::normalise_domain(text)?;
        if address::domain_of(&address) != domain {
            return Err(format!(
                "{address} is not in the domain {:?} given in {}",
                text.trim(),
                column(columns.domain.unwrap_or_default())
            ));
        }
    }
    Ok(UserRow {
        line: 0,
        address,
        name,
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Cell<'_> {
        Cell::Text(Cow::Borrowed(s))
    }

    fn build(rows: &[&[&str]]) -> Result<Import, ImportError> {
        let mut b = Builder::default();
        for (i, r) in rows.iter().enumerate() {
            let cells: Vec<Cell<'_>> = r.iter().map(|s| t(s)).collect();
            b.row(i + 1, &cells)?;
        }
        b.finish()
    }

    fn only_error(rows: &[&[&str]]) -> RowError {
        let import = build(rows).unwrap();
        assert_eq!(import.rows, vec![], "{import:?}");
        assert_eq!(import.errors.len(), 1, "{import:?}");
        import.errors[0].clone()
    }

    #[test]
    fn good_row_with_every_column() {
        let i = build(&[
            &["email", "name", "password", "domain"],
            &[" A@X.test ", "  Ann Example ", " p w ", "X.TEST"],
        ])
        .unwrap();
        assert_eq!(
            i.rows,
            vec![UserRow {
                line: 2,
                address: "a@x.test".into(),
                name: Some("Ann Example".into()),
                password: Some(" p w ".into()),
            }]
        );
        assert!(i.errors.is_empty() && i.warnings.is_empty());
    }

    #[test]
    fn empty_rows_are_skipped_and_optional_cells_may_be_blank() {
        let i = build(&[
            &["", ""],
            &["email", "name"],
            &["", "  "],
            &["b@x.test", ""],
            &["c@x.test"],
        ])
        .unwrap();
        assert_eq!(i.rows.len(), 2);
        assert_eq!((i.rows[0].line, i.rows[1].line), (4, 5));
        assert_eq!(i.rows[0].name, None);
        assert!(i.errors.is_empty());
    }

    #[test]
    fn row_without_address() {
        let e = only_error(&[&["name", "email"], &["Ann", ""]]);
        assert_eq!(
            e,
            RowError {
                line: 2,
                reason: "no address in column B".into()
            }
        );
    }

    #[test]
    fn bad_address_names_the_row() {
        let e = only_error(&[&["email"], &["not-an-address"]]);
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("no @"), "{e}");
    }

    #[test]
    fn duplicate_names_the_first_row() {
        let i = build(&[&["email"], &["a@x.test"], &["b@x.test"], &["A@X.TEST"]]).unwrap();
        assert_eq!(i.rows.len(), 2);
        assert_eq!(
            i.errors,
            vec![RowError {
                line: 4,
                reason: "a@x.test is already on row 2".into()
            }]
        );
    }

    #[test]
    fn domain_column_must_match() {
        let i = build(&[
            &["email", "domain"],
            &["a@x.test", "x.test"],
            &["b@x.test", "y.test"],
            &["c@bücher.example", "XN--BCHER-KVA.example"],
            &["d@x.test", "not a domain"],
        ])
        .unwrap();
        assert_eq!(i.rows.len(), 2);
        assert_eq!(i.errors[0].line, 3);
        assert_eq!(
            i.errors[0].reason,
            "b@x.test is not in the domain \"y.test\" given in column B"
        );
        assert!(
            i.errors[1].reason.contains("not a domain name"),
            "{:?}",
            i.errors
        );
    }

    #[test]
    fn over_long_fields() {
        let long_name = "n".repeat(MAX_NAME_CHARS + 1);
        let e = only_error(&[&["email", "name"], &["a@x.test", &long_name]]);
        assert!(e.reason.contains("at most 256"), "{e}");
        let long_pw = "p".repeat(MAX_PASSWORD_BYTES + 1);
        let e = only_error(&[&["email", "password"], &["a@x.test", &long_pw]]);
        assert!(e.reason.contains("password is too long"), "{e}");
        assert!(!e.reason.contains("ppp"));
        let huge = format!("{}@x.test", "a".repeat(5000));
        let e = only_error(&[&["email"], &[&huge]]);
        assert!(e.reason.len() < 100, "{e}");
        let e = only_error(&[&["email", "name"], &["a@x.test", "two\nlines"]]);
        assert!(e.reason.contains("line break"), "{e}");
        let e = only_error(&[&["email", "password"], &["a@x.test", "secret\t1"]]);
        assert!(e.reason.contains("password contains"), "{e}");
        assert!(!e.reason.contains("secret"));
    }

    #[test]
    fn numbers_are_not_addresses_but_may_be_passwords() {
        let mut b = Builder::default();
        b.row(1, &[t("email"), t("password")]).unwrap();
        let number = || Cell::Other {
            shown: "12345".into(),
            kind: "a number",
        };
        b.row(2, &[number(), t("")]).unwrap();
        b.row(3, &[t("a@x.test"), number()]).unwrap();
        let i = b.finish().unwrap();
        assert_eq!(
            i.errors[0].reason,
            "column A holds a number (12345), not an address"
        );
        assert_eq!(i.rows[0].password.as_deref(), Some("12345"));
    }

    #[test]
    fn error_values_refuse_the_row() {
        let mut b = Builder::default();
        b.row(1, &[t("email"), t("name")]).unwrap();
        b.row(2, &[t("a@x.test"), Cell::Error("#N/A".into())])
            .unwrap();
        let i = b.finish().unwrap();
        assert_eq!(i.errors[0].reason, "column B holds the error value #N/A");
    }

    #[test]
    fn headerless_list_warns_about_extra_columns_once() {
        let i = build(&[&["a@x.test"], &["b@x.test", "Bob"], &["c@x.test", "Carl"]]).unwrap();
        assert_eq!(i.rows.len(), 3);
        assert_eq!(i.rows[0].line, 1);
        assert_eq!(i.warnings.len(), 1);
        assert!(i.warnings[0].starts_with("row 2 has more than one column"));
    }

    #[test]
    fn empty_and_header_only_files() {
        assert_eq!(build(&[]).unwrap_err(), ImportError::Empty);
        assert_eq!(build(&[&["", ""]]).unwrap_err(), ImportError::Empty);
        assert_eq!(
            build(&[&["email", "name"]]).unwrap_err(),
            ImportError::Empty
        );
    }

    #[test]
    fn password_is_not_in_debug() {
        let i = build(&[&["email", "password"], &["a@x.test", "hunter2"]]).unwrap();
        let debug = format!("{:?}", i);
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("<hidden>"));
    }
}
