//! Excel workbooks: the first worksheet, streamed cell by cell.
//!
//! An xlsx file is a zip archive of XML, so a 50 MiB upload can expand to
//! far more than it weighs, and calamine trusts what the archive says: it
//! inflates entries without a limit and reserves memory for the number of
//! shared strings the workbook claims. calamine has no setting for either,
//! so [`guard`] reads the archive once with the `zip` crate first, counting
//! the bytes each entry really inflates to (declared sizes can lie) and
//! checking the claimed string count, and only a workbook within
//! [`MAX_EXPANDED`] reaches calamine. The sheet itself is then streamed
//! (`worksheet_cells_reader`), never built as a whole in memory.

use std::borrow::Cow;
use std::io::{self, Cursor, Read};

use calamine::{DataRef, Reader, Xlsx};

use crate::rows::{Builder, Cell};
use crate::{Import, ImportError};

/// Most bytes all entries of a workbook may inflate to. 200,000 rows of
/// four columns take about 40 MiB of XML; this leaves room for styles and
/// long names while bounding memory and time.
pub(crate) const MAX_EXPANDED: u64 = 256 * 1024 * 1024;

/// Most shared strings a workbook may claim; calamine reserves 24 bytes
/// for each claimed one before reading any.
const MAX_SHARED_STRINGS: u64 = 4_000_000;

/// Most entries in the archive: a workbook has a dozen or so.
const MAX_ENTRIES: usize = 10_000;

/// Excel's last column is XFD; cells claiming to be further right are
/// ignored rather than allocated for.
const MAX_COLUMNS: usize = 16_384;

fn unreadable(detail: impl std::fmt::Display) -> ImportError {
    ImportError::Unreadable(format!(
        "not a readable Excel workbook ({detail}): open it in Excel and save it again \
         as \"Excel Workbook (.xlsx)\", or save it as \"CSV UTF-8\" and upload that"
    ))
}

fn too_large() -> ImportError {
    ImportError::TooLarge(format!(
        "the workbook expands to more than {} MiB: split it, or save it as \"CSV UTF-8\"",
        MAX_EXPANDED / (1024 * 1024)
    ))
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Import, ImportError> {
    guard(bytes)?;
    // calamine is a large parser fed by strangers: should a hostile workbook
    // find a panic in it, the upload fails instead of the manager's worker.
    std::panic::catch_unwind(|| read(bytes)).unwrap_or_else(|_| {
        log::warn!("user import: calamine panicked on an uploaded workbook");
        Err(unreadable("the workbook's contents are malformed"))
    })
}

fn read(bytes: &[u8]) -> Result<Import, ImportError> {
    let mut workbook = Xlsx::new(Cursor::new(bytes)).map_err(unreadable)?;
    let Some(sheet) = workbook.sheet_names().into_iter().next() else {
        return Err(unreadable("it has no worksheet"));
    };
    let mut reader = workbook
        .worksheet_cells_reader(&sheet)
        .map_err(unreadable)?;
    let mut builder = Builder::default();
    let mut row = RowBuf::default();
    while let Some(cell) = reader.next_cell().map_err(unreadable)? {
        let (r, c) = cell.get_position();
        let line = r as usize + 1;
        if row.line != Some(line) {
            row.flush(&mut builder)?;
            row.line = Some(line);
        }
        let width = builder.width().unwrap_or(MAX_COLUMNS).min(MAX_COLUMNS);
        row.put(c as usize, width, convert(cell.get_value()));
    }
    row.flush(&mut builder)?;
    builder.finish()
}

/// The cells of the row being read. Only the columns the header asked for
/// are kept; a value further right only marks the row as not empty.
#[derive(Default)]
struct RowBuf<'a> {
    line: Option<usize>,
    cells: Vec<Cell<'a>>,
    more: bool,
}

impl<'a> RowBuf<'a> {
    fn put(&mut self, col: usize, width: usize, cell: Option<Cell<'a>>) {
        let Some(cell) = cell else { return };
        if col >= width {
            self.more = true;
            return;
        }
        if self.cells.len() <= col {
            self.cells.resize(col + 1, Cell::Text(Cow::Borrowed("")));
        }
        self.cells[col] = cell;
    }

    fn flush(&mut self, builder: &mut Builder) -> Result<(), ImportError> {
        let Some(line) = self.line.take() else {
            return Ok(());
        };
        if self.more {
            // Stands for the cells beyond the columns read, right of them.
            let width = builder.width().unwrap_or(MAX_COLUMNS);
            self.cells.resize(width, Cell::Text(Cow::Borrowed("")));
            self.cells.push(Cell::Text(Cow::Borrowed("...")));
        }
        let result = builder.row(line, &self.cells);
        self.cells.clear();
        self.more = false;
        result
    }
}

/// A cell as the admin sees it in Excel. Whole numbers print without a
/// decimal point (a numeric initial password `123456` stays `123456`).
fn convert<'a>(value: &DataRef<'a>) -> Option<Cell<'a>> {
    let number = |shown: String| Cell::Other {
        shown,
        kind: "a number",
    };
    Some(match value {
        DataRef::Empty => return None,
        DataRef::String(s) => Cell::Text(Cow::Owned(s.clone())),
        DataRef::SharedString(s) => Cell::Text(Cow::Borrowed(s)),
        DataRef::Int(i) => number(i.to_string()),
        DataRef::Float(f) => number(float(*f)),
        DataRef::Bool(b) => Cell::Other {
            shown: if *b { "TRUE" } else { "FALSE" }.into(),
            kind: "a TRUE/FALSE value",
        },
        DataRef::DateTime(d) if d.is_datetime() => Cell::Other {
            shown: date(d.as_f64()),
            kind: "a date",
        },
        DataRef::DateTime(d) => number(float(d.as_f64())),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Cell::Other {
            shown: s.clone(),
            kind: "a date",
        },
        DataRef::Error(e) => Cell::Error(e.to_string()),
    })
}

fn float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

/// An Excel serial date (days since 1899-12-30, the 1900 date system) as
/// ISO 8601, with the time only when there is one.
fn date(serial: f64) -> String {
    if !(0.0..=2_958_465.0).contains(&serial) {
        return float(serial);
    }
    let days = serial.floor() as i64;
    let secs = ((serial - serial.floor()) * 86_400.0).round() as i64;
    // Howard Hinnant's civil_from_days, from 1970-01-01 = day 25,569.
    let z = days - 25_569 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    if secs == 0 {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        let secs = secs.min(86_399);
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// Counts what an entry really inflates to and stops past the budget.
struct Counted<R> {
    inner: R,
    read: u64,
    budget: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.budget {
            return Err(io::Error::other("expanded size over the limit"));
        }
        Ok(n)
    }
}

/// Checks the archive before calamine opens it (see the module docs).
fn guard(bytes: &[u8]) -> Result<(), ImportError> {
    guard_within(bytes, MAX_EXPANDED)
}

fn guard_within(bytes: &[u8], max_expanded: u64) -> Result<(), ImportError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| unreadable(format!("damaged zip archive: {e}")))?;
    if zip.len() > MAX_ENTRIES {
        return Err(unreadable(format!("{} files in the archive", zip.len())));
    }
    let mut budget = max_expanded;
    for i in 0..zip.len() {
        let entry = zip
            .by_index(i)
            .map_err(|e| unreadable(format!("damaged zip archive: {e}")))?;
        if entry.size() > budget {
            return Err(too_large());
        }
        let shared = entry
            .name()
            .replace('\\', "/")
            .eq_ignore_ascii_case("xl/sharedStrings.xml");
        let mut counted = Counted {
            inner: entry,
            read: 0,
            budget,
        };
        let result = if shared {
            check_shared_strings(&mut counted).and_then(|()| {
                io::copy(&mut counted, &mut io::sink())
                    .map_err(|e| unreadable(format!("damaged zip archive: {e}")))
                    .map(drop)
            })
        } else {
            io::copy(&mut counted, &mut io::sink())
                .map(drop)
                .map_err(|e| unreadable(format!("damaged zip archive: {e}")))
        };
        if counted.read > counted.budget {
            return Err(too_large());
        }
        result?;
        budget -= counted.read;
    }
    Ok(())
}

/// Refuses a shared-string table that claims more strings than any user
/// list has, before calamine reserves memory for the claim. Reads up to the
/// `sst` element the way calamine does (the first one, attribute matched
/// by its exact name).
fn check_shared_strings<R: Read>(entry: &mut Counted<R>) -> Result<(), ImportError> {
    use quick_xml::events::Event;
    let mut xml = quick_xml::Reader::from_reader(io::BufReader::new(entry));
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let e = match xml.read_event_into(&mut buf) {
            Ok(Event::Start(e) | Event::Empty(e)) if e.local_name().as_ref() == b"sst" => e,
            Ok(Event::Eof) => return Ok(()),
            Ok(_) => continue,
            Err(e) => return Err(unreadable(format!("shared strings: {e}"))),
        };
        for a in e.attributes().flatten() {
            if a.key.as_ref() != b"uniqueCount" {
                continue;
            }
            let digits = a.value.as_ref();
            let claimed = digits.iter().try_fold(0u64, |n, &d| {
                d.is_ascii_digit()
                    .then(|| n.saturating_mul(10).saturating_add(u64::from(d - b'0')))
            });
            match claimed {
                Some(n) if n <= MAX_SHARED_STRINGS => {}
                Some(n) => {
                    return Err(ImportError::TooLarge(format!(
                        "the workbook claims {n} different texts; at most \
                         {MAX_SHARED_STRINGS} can be imported: split it"
                    )))
                }
                None => return Err(unreadable("shared strings: bad uniqueCount")),
            }
        }
        return Ok(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_render_as_iso() {
        assert_eq!(date(45_413.0), "2024-05-01");
        assert_eq!(date(45_413.5), "2024-05-01 12:00:00");
        assert_eq!(date(1.0), "1899-12-31");
        assert_eq!(date(-1.0), "-1");
    }

    #[test]
    fn numbers_render_as_excel_shows_them() {
        assert_eq!(float(123_456.0), "123456");
        assert_eq!(float(1.5), "1.5");
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            w.start_file(*name, options).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn inflated_size_is_capped() {
        let zeros = vec![0u8; 2 << 20];
        let bomb = zip_of(&[
            ("xl/media/a.bin", &zeros[..1 << 19]),
            ("xl/media/b.bin", &zeros),
        ]);
        assert!(bomb.len() < 20_000, "{}", bomb.len());
        assert!(guard_within(&bomb, 3 << 20).is_ok());
        // Over the budget in total, though each entry alone is under it.
        let e = guard_within(&bomb, (2 << 20) + 1000).unwrap_err();
        assert!(
            matches!(e, ImportError::TooLarge(ref m) if m.contains("expands")),
            "{e}"
        );
        let e = guard_within(&bomb, 1 << 20).unwrap_err();
        assert!(matches!(e, ImportError::TooLarge(_)), "{e}");
    }

    #[test]
    fn claimed_shared_strings_are_capped() {
        let sst = |n: &str| {
            format!(
                r#"<?xml version="1.0"?><!-- x --><sst xmlns="x" count="1" uniqueCount="{n}"><si><t>a</t></si></sst>"#
            )
        };
        let ok = zip_of(&[("xl/sharedStrings.xml", sst("1").as_bytes())]);
        assert!(guard(&ok).is_ok());
        for huge in ["4000001", "99999999999999999999999999"] {
            let bad = zip_of(&[("XL\\SharedStrings.xml", sst(huge).as_bytes())]);
            let e = guard(&bad).unwrap_err();
            assert!(
                matches!(e, ImportError::TooLarge(ref m) if m.contains("different texts")),
                "{e}"
            );
        }
        let bad = zip_of(&[("xl/sharedStrings.xml", sst("+5").as_bytes())]);
        assert!(matches!(
            guard(&bad).unwrap_err(),
            ImportError::Unreadable(_)
        ));
    }

    #[test]
    fn not_a_zip() {
        let e = parse(b"PK\x03\x04 garbage").unwrap_err();
        assert!(
            matches!(e, ImportError::Unreadable(ref m) if m.contains("Excel Workbook")),
            "{e}"
        );
    }
}
