//! Whole files through `parse`, as an administrator would upload them: CSV
//! written out here, and real workbooks written by rust_xlsxwriter.

use rust_xlsxwriter::{ExcelDateTime, Format as XlFormat, Workbook};
use user_import::{parse, Format, Import, ImportError, RowError, MAX_BYTES, MAX_ROWS};

fn csv(text: &str) -> Import {
    parse(text.as_bytes(), Format::Csv).unwrap()
}

fn lines(import: &Import) -> Vec<usize> {
    import.errors.iter().map(|e| e.line).collect()
}

fn addresses(import: &Import) -> Vec<&str> {
    import.rows.iter().map(|r| r.address.as_str()).collect()
}

#[test]
fn csv_good_and_bad_rows_mixed() {
    let i = csv("Email,Display Name,Password\n\
         ann@example.test,Ann,s3cret\n\
         bob@,Bob,\n\
         \n\
         Carl@Example.TEST,\"Carlsson, Carl\",\n\
         dave example.test,Dave,\n\
         ,Nobody,\n\
         eve@bücher.example,Eve,\n");
    assert_eq!(
        addresses(&i),
        [
            "ann@example.test",
            "carl@example.test",
            "eve@xn--bcher-kva.example"
        ]
    );
    assert_eq!(i.rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 5, 8]);
    assert_eq!(i.rows[0].password.as_deref(), Some("s3cret"));
    assert_eq!(i.rows[1].name.as_deref(), Some("Carlsson, Carl"));
    assert_eq!(i.rows[1].password, None);
    assert_eq!(lines(&i), [3, 6, 7]);
    assert!(i.errors[0].reason.contains("no domain"), "{:?}", i.errors);
    assert!(i.errors[1].reason.contains("space"), "{:?}", i.errors);
    assert_eq!(i.errors[2].to_string(), "row 7: no address in column A");
    assert!(i.warnings.is_empty());
}

#[test]
fn csv_semicolons_and_embedded_newlines() {
    let i = csv("name;e-mail;quarantine\r\n\"Doe; Jane\";jane@x.test;yes\r\n\"multi\r\nline\";bad;no\r\nJo;jo@x.test;\r\n");
    assert_eq!(addresses(&i), ["jane@x.test", "jo@x.test"]);
    assert_eq!(i.rows[0].name.as_deref(), Some("Doe; Jane"));
    assert_eq!(i.rows[1].line, 4);
    assert_eq!(lines(&i), [3]);
    assert_eq!(
        i.warnings,
        ["ignored column \"quarantine\": only address, name, password and domain are imported"]
    );
}

#[test]
fn csv_with_bom() {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice("Address,Name\na@x.test,Zoë\n".as_bytes());
    let i = parse(&bytes, Format::Csv).unwrap();
    assert_eq!(addresses(&i), ["a@x.test"]);
    assert_eq!(i.rows[0].name.as_deref(), Some("Zoë"));
}

#[test]
fn csv_headerless_single_column() {
    let i = csv("a@x.test\nB@X.test\n\nnot an address\n");
    assert_eq!(addresses(&i), ["a@x.test", "b@x.test"]);
    assert_eq!(i.rows[0].line, 1);
    assert_eq!(lines(&i), [4]);
}

#[test]
fn csv_duplicates_name_the_first_row() {
    let i = csv("email\na@x.test\nb@x.test\n A@x.TEST \n");
    assert_eq!(addresses(&i), ["a@x.test", "b@x.test"]);
    assert_eq!(
        i.errors,
        [RowError {
            line: 4,
            reason: "a@x.test is already on row 2".into()
        }]
    );
}

#[test]
fn csv_domain_column() {
    let i = csv("email,domain\na@x.test,X.test\nb@y.test,x.test\nc@z.test,\n");
    assert_eq!(addresses(&i), ["a@x.test", "c@z.test"]);
    assert_eq!(lines(&i), [3]);
}

#[test]
fn missing_address_column_is_refused_whole() {
    let e = parse(b"name,password\nAnn,x\n", Format::Csv).unwrap_err();
    assert!(
        matches!(e, ImportError::BadHeader(ref m) if m.contains("no address column")),
        "{e}"
    );
}

#[test]
fn latin1_csv_is_refused_with_advice() {
    let e = parse(b"email,name\na@x.test,J\xF6rg\n", Format::Csv).unwrap_err();
    let ImportError::Unreadable(m) = e else {
        panic!("{e:?}")
    };
    assert!(m.contains("line 2") && m.contains("CSV UTF-8"), "{m}");
}

#[test]
fn empty_files() {
    assert_eq!(parse(b"", Format::Csv).unwrap_err(), ImportError::Empty);
    assert_eq!(parse(b"\n\n", Format::Csv).unwrap_err(), ImportError::Empty);
    assert_eq!(
        parse(b"email\n", Format::Csv).unwrap_err(),
        ImportError::Empty
    );
}

#[test]
fn too_many_rows() {
    let mut text = String::from("email\n");
    for n in 0..MAX_ROWS {
        text.push_str(&format!("u{n}@x.test\n"));
    }
    assert_eq!(
        parse(text.as_bytes(), Format::Csv).unwrap().rows.len(),
        MAX_ROWS
    );
    text.push_str("last@x.test\n");
    let e = parse(text.as_bytes(), Format::Csv).unwrap_err();
    assert!(
        matches!(e, ImportError::TooLarge(ref m) if m.contains("200000 rows")),
        "{e}"
    );
}

#[test]
fn too_many_bytes() {
    let bytes = vec![b'\n'; MAX_BYTES + 1];
    for format in [Format::Csv, Format::Xlsx] {
        assert!(matches!(
            parse(&bytes, format),
            Err(ImportError::TooLarge(_))
        ));
    }
}

#[test]
fn detects_formats() {
    assert_eq!(
        Format::detect(b"PK\x03\x04rest", Some("users.csv")).unwrap(),
        Format::Xlsx
    );
    assert_eq!(
        Format::detect(b"email\n", Some("users.CSV")).unwrap(),
        Format::Csv
    );
    assert_eq!(Format::detect(b"email\n", None).unwrap(), Format::Csv);
    assert_eq!(
        Format::detect(b"email\n", Some("users.txt")).unwrap(),
        Format::Csv
    );
    assert!(Format::detect(b"email\n", Some("users.xlsx")).is_err());
    let ole = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0];
    let e = Format::detect(&ole, Some("users.xls")).unwrap_err();
    assert!(e.to_string().contains(".xlsx"), "{e}");
}

#[test]
fn debug_hides_passwords() {
    let i = csv("email,password\na@x.test,hunter2\n");
    assert!(!format!("{i:?}").contains("hunter2"));
    assert_eq!(i.rows[0].password.as_deref(), Some("hunter2"));
}

/// A workbook with a first sheet of users, typed cells included, and a
/// second sheet that must be ignored.
fn workbook() -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Users").unwrap();
    for (c, h) in ["E-Mail", "Name", "Password", "Department"]
        .iter()
        .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    ws.write_string(1, 0, "ann@example.test").unwrap();
    ws.write_string(1, 1, "Ann").unwrap();
    ws.write_number(1, 2, 123456.0).unwrap();
    ws.write_string(1, 3, "Sales").unwrap();
    ws.write_number(2, 0, 42.0).unwrap(); // row 3: a number, not an address
    ws.write_string(3, 0, "bob@@example.test").unwrap(); // row 4
                                                         // Row 5 is empty; row 6 has a date as its name.
    ws.write_string(5, 0, "Carl@Example.test").unwrap();
    let date = XlFormat::new().set_num_format("yyyy-mm-dd");
    ws.write_datetime_with_format(5, 1, ExcelDateTime::from_ymd(2024, 5, 1).unwrap(), &date)
        .unwrap();
    ws.write_boolean(6, 0, true).unwrap(); // row 7
    ws.write_string(7, 0, "ann@example.test").unwrap(); // row 8: duplicate
    ws.write_string(8, 3, "only a department").unwrap(); // row 9: no address
    let other = wb.add_worksheet();
    other.write_string(0, 0, "email").unwrap();
    other.write_string(1, 0, "ghost@example.test").unwrap();
    wb.save_to_buffer().unwrap()
}

#[test]
fn xlsx_good_and_bad_rows_mixed() {
    let bytes = workbook();
    assert_eq!(
        Format::detect(&bytes, Some("users.xlsx")).unwrap(),
        Format::Xlsx
    );
    let i = parse(&bytes, Format::Xlsx).unwrap();
    assert_eq!(addresses(&i), ["ann@example.test", "carl@example.test"]);
    assert_eq!(i.rows[0].line, 2);
    assert_eq!(i.rows[0].password.as_deref(), Some("123456"));
    assert_eq!(i.rows[1].line, 6);
    assert_eq!(i.rows[1].name.as_deref(), Some("2024-05-01"));
    assert_eq!(lines(&i), [3, 4, 7, 8, 9], "{:?}", i.errors);
    assert_eq!(
        i.errors[0].reason,
        "column A holds a number (42), not an address"
    );
    assert_eq!(
        i.errors[2].reason,
        "column A holds a TRUE/FALSE value (TRUE), not an address"
    );
    assert_eq!(i.errors[3].reason, "ann@example.test is already on row 2");
    assert_eq!(i.errors[4].reason, "no address in column A");
    assert_eq!(
        i.warnings,
        ["ignored column \"Department\": only address, name, password and domain are imported"]
    );
}

#[test]
fn xlsx_headerless_single_column() {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(2, 1, "a@x.test").unwrap();
    ws.write_string(3, 1, "b@x.test").unwrap();
    ws.write_string(4, 1, "c@x.test").unwrap();
    ws.write_string(4, 2, "Carl").unwrap();
    let i = parse(&wb.save_to_buffer().unwrap(), Format::Xlsx).unwrap();
    assert_eq!(addresses(&i), ["a@x.test", "b@x.test", "c@x.test"]);
    assert_eq!(i.rows[0].line, 3);
    assert_eq!(i.warnings.len(), 1);
    assert!(i.warnings[0].contains("only column B"), "{:?}", i.warnings);
}

#[test]
fn xlsx_headerless_in_column_a() {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "a@x.test").unwrap();
    ws.write_string(2, 0, "B@x.test").unwrap();
    let i = parse(&wb.save_to_buffer().unwrap(), Format::Xlsx).unwrap();
    assert_eq!(addresses(&i), ["a@x.test", "b@x.test"]);
    assert_eq!(i.rows[1].line, 3);
}

#[test]
fn xlsx_missing_address_column() {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "Name").unwrap();
    ws.write_string(0, 1, "Password").unwrap();
    ws.write_string(1, 0, "Ann").unwrap();
    let e = parse(&wb.save_to_buffer().unwrap(), Format::Xlsx).unwrap_err();
    assert!(matches!(e, ImportError::BadHeader(_)), "{e}");
}

#[test]
fn corrupt_xlsx_is_unreadable() {
    let bytes = workbook();
    for broken in [
        &bytes[..bytes.len() / 2],
        &bytes[..bytes.len() - 10],
        b"PK\x03\x04 not really a zip".as_slice(),
    ] {
        let e = parse(broken, Format::Xlsx).unwrap_err();
        assert!(
            matches!(e, ImportError::Unreadable(ref m) if m.contains("save it again")),
            "{e}"
        );
    }
    // A zip that is no workbook.
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 3;
    for b in &mut flipped[mid..mid + 64] {
        *b ^= 0x5A;
    }
    assert!(matches!(
        parse(&flipped, Format::Xlsx),
        Err(ImportError::Unreadable(_))
    ));
}

#[test]
fn xlsx_too_many_rows() {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "email").unwrap();
    for r in 1..=MAX_ROWS as u32 + 1 {
        ws.write_string(r, 0, "x").unwrap();
    }
    let e = parse(&wb.save_to_buffer().unwrap(), Format::Xlsx).unwrap_err();
    assert!(matches!(e, ImportError::TooLarge(_)), "{e}");
}

/// Damaged XML inside an intact archive (so the zip checks pass and
/// calamine sees it): every outcome is a result, never a panic or a hang.
#[test]
fn mangled_workbook_xml_never_panics() {
    use std::io::{Cursor, Read, Write};
    let original = workbook();
    let mut zip = zip::ZipArchive::new(Cursor::new(&original)).unwrap();
    let mut entries = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        entries.push((f.name().to_string(), data));
    }
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..300 {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in &entries {
            let mut data = data.clone();
            if name.contains("sheet1")
                || name.contains("sharedStrings")
                || name.contains("workbook.xml")
            {
                for _ in 0..1 + next() % 4 {
                    let at = (next() % data.len() as u64) as usize;
                    data[at] = b"<>/\"'=&;x0 9#"[(next() % 13) as usize];
                }
            }
            w.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(&data).unwrap();
        }
        let bytes = w.finish().unwrap().into_inner();
        match parse(&bytes, Format::Xlsx) {
            Ok(_) => ok += 1,
            Err(ImportError::Unreadable(_) | ImportError::BadHeader(_) | ImportError::Empty) => {
                refused += 1
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(ok > 0 && refused > 0, "{ok} read, {refused} refused");
}
