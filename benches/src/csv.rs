//! [`Table`]: rows of text written as CSV (RFC 4180 quoting), the format of
//! every file `report` writes beside its plots.
//!
//! ```
//! use ptm_benches::csv::Table;
//!
//! let mut table = Table::new(["design", "jobs_per_sec"]);
//! table.push(["ptm", "2.5e7"]);
//! table.push(["a, b", "1"]);
//! assert_eq!(table.to_csv(), "design,jobs_per_sec\nptm,2.5e7\n\"a, b\",1\n");
//! ```

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::Context;

/// A header and rows of fields, all text, written as CSV.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new<I, S>(header: I) -> Table
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Table {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends one row.
    ///
    /// # Panics
    ///
    /// If the row does not have one field per column: a bug in the caller.
    pub fn push<I, S>(&mut self, row: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let row: Vec<String> = row.into_iter().map(Into::into).collect();
        assert_eq!(
            row.len(),
            self.header.len(),
            "a row of {} fields in a table of {} columns",
            row.len(),
            self.header.len()
        );
        self.rows.push(row);
    }

    /// The column names.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The rows, in the order pushed.
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// Writes the header and every row to `out`, one line each.
    ///
    /// # Errors
    ///
    /// Whatever `out` returns.
    pub fn write_to(&self, mut out: impl Write) -> io::Result<()> {
        write_record(&mut out, &self.header)?;
        for row in &self.rows {
            write_record(&mut out, row)?;
        }
        Ok(())
    }

    /// The whole table as CSV text.
    pub fn to_csv(&self) -> String {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = self.write_to(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Writes the table to a new file at `path` (replacing any).
    ///
    /// # Errors
    ///
    /// If the file cannot be created or written; the error names the path.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = BufWriter::new(file);
        self.write_to(&mut out)
            .and_then(|()| out.flush())
            .with_context(|| format!("writing {}", path.display()))
    }
}

impl Table {
    /// Reads a file written by [`save`](Self::save) back: its first line
    /// is the header. (Fields with line breaks, which [`Table`] quotes but
    /// no table of this crate holds, are not read back.)
    ///
    /// # Errors
    ///
    /// If the file cannot be read, is empty, or has a line with an unclosed
    /// quote or the wrong number of fields; the error names the path and
    /// line.
    pub fn load(path: &Path) -> anyhow::Result<Table> {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut lines = text.lines().enumerate();
        let (_, header) = lines
            .next()
            .with_context(|| format!("{}: empty", path.display()))?;
        let header = split_line(header)
            .with_context(|| format!("{}:1: an unclosed quote", path.display()))?;
        let mut table = Table::new(header);
        for (i, line) in lines {
            let row = split_line(line)
                .with_context(|| format!("{}:{}: an unclosed quote", path.display(), i + 1))?;
            anyhow::ensure!(
                row.len() == table.header.len(),
                "{}:{}: {} fields under a header of {}",
                path.display(),
                i + 1,
                row.len(),
                table.header.len()
            );
            table.rows.push(row);
        }
        Ok(table)
    }
}

/// One CSV line: fields separated by commas, quoted where they hold a comma,
/// a quote or a line break (quotes doubled inside).
fn write_record(out: &mut impl Write, fields: &[String]) -> io::Result<()> {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(quote(field).as_bytes())?;
    }
    out.write_all(b"\n")
}

/// `field` as one CSV field: as is, or quoted with inner quotes doubled.
pub fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// Splits one CSV line written by [`Table`] back into fields (quoted fields
/// included); `None` if a quoted field is not closed.
///
/// ```
/// use ptm_benches::csv::split_line;
///
/// assert_eq!(split_line("a,\"b, \"\"c\"\"\",3"), Some(vec!["a".into(), "b, \"c\"".into(), "3".into()]));
/// ```
pub fn split_line(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_start => {
                quoted = true;
                at_start = false;
            }
            (true, '"') => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            }
            (false, ',') => {
                fields.push(std::mem::take(&mut field));
                at_start = true;
            }
            (_, c) => {
                field.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return None;
    }
    fields.push(field);
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::{quote, split_line, Table};

    #[test]
    fn plain_fields_are_written_as_is() {
        let mut table = Table::new(["a", "b"]);
        table.push(["1", "2.5"]);
        table.push(["x", ""]);
        assert_eq!(table.to_csv(), "a,b\n1,2.5\nx,\n");
        assert_eq!(table.rows().len(), 2);
        assert_eq!(table.header(), ["a", "b"]);
    }

    #[test]
    fn commas_quotes_and_newlines_are_quoted() {
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
        assert_eq!(quote("bounded(0)"), "bounded(0)");
    }

    #[test]
    fn split_line_inverts_quoting() {
        for fields in [
            vec!["a", "b", "c"],
            vec!["a,b", "say \"hi\"", ""],
            vec!["", ""],
            vec!["x"],
        ] {
            let line: Vec<String> = fields.iter().map(|f| quote(f)).collect();
            let back = split_line(&line.join(",")).expect("a closed line");
            assert_eq!(back, fields);
        }
        assert_eq!(split_line("\"open"), None);
    }

    #[test]
    #[should_panic(expected = "a row of 1 fields in a table of 2 columns")]
    fn a_short_row_is_a_bug() {
        Table::new(["a", "b"]).push(["1"]);
    }

    #[test]
    fn save_writes_the_file() {
        let dir = std::env::temp_dir().join(format!("ptm-benches-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let path = dir.join("t.csv");
        let mut table = Table::new(["n"]);
        table.push(["7"]);
        table.save(&path).expect("saving");
        assert_eq!(
            std::fs::read_to_string(&path).expect("reading back"),
            "n\n7\n"
        );
        assert_eq!(Table::load(&path).expect("loading"), table);
        std::fs::write(&path, "a,b\n1\n").expect("writing");
        let error = Table::load(&path).expect_err("a short row");
        assert!(error.to_string().contains(":2: 1 fields"), "{error}");
        std::fs::remove_dir_all(&dir).expect("cleaning up");
    }
}
