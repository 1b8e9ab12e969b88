//! Which column is which, from the header row.
//!
//! Exports from other systems name their columns differently ("E-Mail",
//! "Email Address", "Display Name"), so headers are matched loosely: case,
//! spaces, hyphens and underscores do not matter.

use crate::ImportError;

/// A column we use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Address,
    Name,
    Password,
    Domain,
}

impl Field {
    fn header(self) -> &'static str {
        match self {
            Field::Address => "address",
            Field::Name => "name",
            Field::Password => "password",
            Field::Domain => "domain",
        }
    }
}

/// Header spellings, after [`squash`].
const ALIASES: &[(&str, Field)] = &[
    ("address", Field::Address),
    ("email", Field::Address),
    ("mail", Field::Address),
    ("emailaddress", Field::Address),
    ("mailaddress", Field::Address),
    ("name", Field::Name),
    ("displayname", Field::Name),
    ("fullname", Field::Name),
    ("password", Field::Password),
    ("initialpassword", Field::Password),
    ("domain", Field::Domain),
];

/// Lowercase without separators, so "E-Mail Address" matches "emailaddress".
fn squash(header: &str) -> String {
    header
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

fn field_of(header: &str) -> Option<Field> {
    let s = squash(header);
    ALIASES.iter().find(|(a, _)| *a == s).map(|&(_, f)| f)
}

/// Where each field is (0-based cell index) in the file's rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Columns {
    pub address: usize,
    pub name: Option<usize>,
    pub password: Option<usize>,
    pub domain: Option<usize>,
    /// No header row: the first row is data, the column of its one value
    /// holds the addresses and the other columns are ignored.
    pub headerless: bool,
}

impl Columns {
    /// Reads the first non-empty row. A row naming an address column is the
    /// header; a row of one cell is taken as the first address of a
    /// headerless list (the simplest file an admin can make); anything else
    /// is refused, since guessing which column holds addresses would import
    /// the wrong thing. Returns the columns and a warning for unknown headers.
    pub fn from_first_row(cells: &[&str]) -> Result<(Columns, Option<String>), ImportError> {
        let mut found: Vec<(Field, usize)> = Vec::new();
        let mut unknown = Vec::new();
        for (i, cell) in cells.iter().enumerate() {
            if cell.trim().is_empty() {
                continue;
            }
            match field_of(cell) {
                Some(f) => {
                    if let Some(&(_, first)) = found.iter().find(|(g, _)| *g == f) {
                        return Err(ImportError::BadHeader(format!(
                            "the header row has two {} columns ({:?} in column {} and {:?} in column {}): keep one",
                            f.header(),
                            cells[first].trim(),
                            column_name(first),
                            cell.trim(),
                            column_name(i)
                        )));
                    }
                    found.push((f, i));
                }
                None => unknown.push(format!("{:?}", cell.trim())),
            }
        }
        let get = |f: Field| found.iter().find(|(g, _)| *g == f).map(|&(_, i)| i);
        if let Some(address) = get(Field::Address) {
            let warning = (!unknown.is_empty()).then(|| {
                format!(
                    "ignored column{} {}: only address, name, password and domain are imported",
                    if unknown.len() == 1 { "" } else { "s" },
                    unknown.join(", ")
                )
            });
            let columns = Columns {
                address,
                name: get(Field::Name),
                password: get(Field::Password),
                domain: get(Field::Domain),
                headerless: false,
            };
            return Ok((columns, warning));
        }
        let mut non_empty = cells
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.trim().is_empty());
        if let (Some((address, _)), None, true) =
            (non_empty.next(), non_empty.next(), found.is_empty())
        {
            return Ok((
                Columns {
                    address,
                    headerless: true,
                    ..Columns::default()
                },
                None,
            ));
        }
        let seen: Vec<String> = cells
            .iter()
            .filter(|c| !c.trim().is_empty())
            .map(|c| format!("{:?}", c.trim()))
            .collect();
        Err(ImportError::BadHeader(format!(
            "no address column: the first row must name the columns, one of them \
             \"email\" (or \"address\", \"e-mail\", \"mail\"); it has {}. \
             A file with only addresses, one per row, needs no header",
            seen.join(", ")
        )))
    }

    /// The highest cell index we read, so rows can be cut short early.
    pub fn width(&self) -> usize {
        [Some(self.address), self.name, self.password, self.domain]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(0)
            + 1
    }
}

/// Spreadsheet column letters (0 -> A, 26 -> AA), as the admin sees them.
pub(crate) fn column_name(mut i: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_match_loosely() {
        for h in [
            "Address",
            "EMAIL",
            "E-Mail",
            "e_mail",
            "Mail",
            "Email Address",
            "\u{feff}email",
        ] {
            assert_eq!(field_of(h), Some(Field::Address), "{h}");
        }
        for h in ["Name", "Display Name", "display_name"] {
            assert_eq!(field_of(h), Some(Field::Name), "{h}");
        }
        assert_eq!(field_of(" Password "), Some(Field::Password));
        assert_eq!(field_of("Domain"), Some(Field::Domain));
        assert_eq!(field_of("quarantine"), None);
    }

    #[test]
    fn header_with_all_columns() {
        let (c, w) = Columns::from_first_row(&["Name", "E-mail", "Password", "Domain"]).unwrap();
        assert_eq!(
            (c.address, c.name, c.password, c.domain),
            (1, Some(0), Some(2), Some(3))
        );
        assert!(!c.headerless);
        assert_eq!(w, None);
        assert_eq!(c.width(), 4);
    }

    #[test]
    fn unknown_columns_warn_once() {
        let (c, w) = Columns::from_first_row(&["email", "Policy", "", "quarantine"]).unwrap();
        assert_eq!(c.address, 0);
        assert_eq!(
            w.unwrap(),
            "ignored columns \"Policy\", \"quarantine\": only address, name, password and domain are imported"
        );
    }

    #[test]
    fn headerless_single_column() {
        let (c, _) = Columns::from_first_row(&["a@x.test"]).unwrap();
        assert!(c.headerless);
        let (c, _) = Columns::from_first_row(&["", "a@x.test", ""]).unwrap();
        assert!(c.headerless);
        assert_eq!(c.address, 1);
    }

    #[test]
    fn missing_or_doubled_address_column() {
        let e = Columns::from_first_row(&["Name", "Password"]).unwrap_err();
        assert!(e.to_string().contains("no address column"), "{e}");
        let e = Columns::from_first_row(&["Benutzer", "Kennwort"]).unwrap_err();
        assert!(e.to_string().contains("\"Benutzer\""), "{e}");
        let e = Columns::from_first_row(&["Name"]).unwrap_err();
        assert!(e.to_string().contains("no address column"), "{e}");
        let e = Columns::from_first_row(&["email", "mail"]).unwrap_err();
        assert!(e.to_string().contains("two address columns"), "{e}");
        assert!(e.to_string().contains("column B"), "{e}");
    }

    #[test]
    fn column_letters() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(701), "ZZ");
        assert_eq!(column_name(702), "AAA");
    }
}
