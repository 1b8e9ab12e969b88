//! Human output: aligned columns under a header line, and `key: value` blocks.
//!
//! Values come from mail (subjects, addresses chosen by spammers), so control
//! characters are replaced before they reach a terminal: a subject must not
//! be able to move the cursor or break the columns.

/// Columns are separated by this many spaces.
const GAP: usize = 2;

/// Makes a value safe and single-line for a terminal.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// Formats rows under a header; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clean(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(&rows) {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count() + GAP;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

/// Formats `key: value` lines with the values aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| format!("{k}:{}{}\n", " ".repeat(width - k.len() + 1), clean(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns_under_the_header() {
        let t = table(
            &["NAME", "SERVERS", "CREATED"],
            &[
                vec!["a.test".into(), "mx:25/10".into(), "2026".into()],
                vec!["longer.test".into(), "m".into(), "x".into()],
            ],
        );
        assert_eq!(
            t,
            "NAME         SERVERS   CREATED\n\
             a.test       mx:25/10  2026\n\
             longer.test  m         x\n"
        );
        assert_eq!(table(&["A", "B"], &[]), "A  B\n");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let t = table(&["SUBJECT"], &[vec!["evil\x1b[2J\r\nline".into()]]);
        assert_eq!(t, "SUBJECT\nevil\u{fffd}[2J\u{fffd}\u{fffd}line\n");
        assert_eq!(
            fields(&[("id", "1".into()), ("subject", "a\tb".into())]),
            "id:      1\nsubject: a\u{fffd}b\n"
        );
    }
}
