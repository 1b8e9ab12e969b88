//! CSV as spreadsheets and directory exports write it: comma-, semicolon-
//! (Excel in locales with a decimal comma) or tab-separated, quoted fields
//! with embedded separators and newlines, UTF-8 with or without a BOM.

use std::borrow::Cow;

use crate::rows::{Builder, Cell};
use crate::{Import, ImportError};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

pub(crate) fn parse(bytes: &[u8]) -> Result<Import, ImportError> {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let text = utf8(bytes)?;
    let (text, delimiter) = match excel_separator(text) {
        Some((rest, d)) => (rest, d),
        None => (text, delimiter(text)),
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut builder = Builder::default();
    let mut record = csv::StringRecord::new();
    // A spreadsheet shows a record with an
    // embedded newline as one row, so those newlines are taken off again.
    let mut embedded_newlines = 0usize;
    let mut newlines_before = 0usize;
    let mut counted_to = 0usize;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                return Err(ImportError::Unreadable(format!(
                    "not a valid CSV file ({e}): save it from the spreadsheet as \"CSV UTF-8\""
                )))
            }
        }
        // csv's own line count skips lines after a quoted newline, and its
        // offset is before the blank lines it skipped: count from the
        // record's first byte instead.
        let mut start = record.position().map_or(0, |p| p.byte()) as usize;
        while matches!(text.as_bytes().get(start), Some(b'\n' | b'\r')) {
            start += 1;
        }
        newlines_before += memchr_count(&text.as_bytes()[counted_to..start]);
        counted_to = start;
        let row = 1 + newlines_before - embedded_newlines;
        embedded_newlines += record
            .iter()
            .map(|f| memchr_count(f.as_bytes()))
            .sum::<usize>();
        let cells: Vec<Cell<'_>> = record
            .iter()
            .map(|f| Cell::Text(Cow::Borrowed(f)))
            .collect();
        builder.row(row, &cells)?;
    }
    builder.finish()
}

fn memchr_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// Refuses non-UTF-8 rather than guessing (see the crate docs), naming the
/// first bad line and the menu entry that fixes it.
fn utf8(bytes: &[u8]) -> Result<&str, ImportError> {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(ImportError::Unreadable(
            "the file is UTF-16 text (Excel's \"Unicode Text\"): save it as \"CSV UTF-8\" instead"
                .into(),
        ));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        ImportError::Unreadable(format!(
            "line {line} is not UTF-8 text; the file was probably saved as \
             \"CSV (comma delimited)\" in a Windows encoding: save it as \
             \"CSV UTF-8 (comma delimited)\" and upload it again"
        ))
    })
}

/// Excel's `sep=;` first line names the separator, and Excel shows no row
/// for it, so the rows after it are numbered from 1.
fn excel_separator(text: &str) -> Option<(&str, u8)> {
    let rest = text.strip_prefix("sep=")?;
    let (&d, after) = rest.as_bytes().split_first()?;
    let after = std::str::from_utf8(after).ok()?;
    let after = after.strip_prefix('\r').unwrap_or(after);
    let after = after.strip_prefix('\n')?;
    matches!(d, b',' | b';' | b'\t' | b'|').then_some((after, d))
}

/// The separator that splits the first non-blank line most often, outside
/// quotes; a single-column file has none and gets the comma.
fn delimiter(text: &str) -> u8 {
    let first = text
        .split('\n')
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for b in first.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            if let Some(c) = counts.iter_mut().find(|(d, _)| *d == b) {
                c.1 += 1;
            }
        }
    }
    // max_by_key keeps the last maximum: reverse so the comma wins ties.
    counts
        .iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .map_or(b',', |&(d, _)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_delimiter_from_the_header() {
        assert_eq!(delimiter("email,name\n"), b',');
        assert_eq!(delimiter("\n\nemail;name;password\na,b\n"), b';');
        assert_eq!(delimiter("email\tname\n"), b'\t');
        assert_eq!(delimiter("\"e,mail\";name\n"), b';');
        assert_eq!(delimiter("a@x.test\n"), b',');
        assert_eq!(delimiter(""), b',');
    }

    #[test]
    fn honours_excels_sep_line() {
        assert_eq!(
            excel_separator("sep=;\r\nemail;name\n"),
            Some(("email;name\n", b';'))
        );
        assert_eq!(excel_separator("sep=|\n"), Some(("", b'|')));
        assert_eq!(excel_separator("sep=;x\n"), None);
        assert_eq!(excel_separator("email\n"), None);
        let i = parse(b"sep=;\nemail;name\nbad;x\na@x.test;A, B\n").unwrap();
        assert_eq!(i.errors[0].line, 2);
        assert_eq!(i.rows[0].line, 3);
        assert_eq!(i.rows[0].name.as_deref(), Some("A, B"));
    }

    #[test]
    fn refuses_other_encodings() {
        let e = utf8(b"email,name\na@x.test,J\xF6rg\n").unwrap_err();
        assert!(e.to_string().contains("line 2 is not UTF-8"), "{e}");
        assert!(e.to_string().contains("CSV UTF-8"), "{e}");
        let e = utf8(b"\xFF\xFEe\0").unwrap_err();
        assert!(e.to_string().contains("UTF-16"), "{e}");
    }

    #[test]
    fn rows_are_numbered_as_a_spreadsheet_shows_them() {
        let i = parse(b"email,name\n\"a@x.test\",\"two\nlines\"\n\nbad\nb@x.test,\"B\"\n").unwrap();
        // Row 2 spans two lines, row 3 is blank, row 4 is bad.
        assert_eq!(i.errors.len(), 2, "{i:?}");
        assert_eq!(i.errors[0].line, 2);
        assert!(i.errors[0].reason.contains("line break"));
        assert_eq!(i.errors[1].line, 4);
        assert_eq!(i.rows[0].line, 5);
    }

    #[test]
    fn bom_crlf_and_quotes() {
        let i = parse(b"\xEF\xBB\xBFEmail;Name\r\n\"a@x.test\";\"Doe; Jane\"\r\n").unwrap();
        assert_eq!(i.rows[0].address, "a@x.test");
        assert_eq!(i.rows[0].name.as_deref(), Some("Doe; Jane"));
        assert!(i.warnings.is_empty(), "{:?}", i.warnings);
    }
}
