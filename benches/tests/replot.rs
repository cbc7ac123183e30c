//! `report --replot DIR` redraws every plot from the CSVs in DIR and
//! measures nothing: run here on a copy of the book's CSVs.

use std::fs;
use std::path::Path;
use std::process::Command;

/// A fresh directory (removed when dropped, on a panic too) holding a copy
/// of every CSV under `docs/src/benchmarks`, and their stems.
fn copy_of_the_books_csvs() -> (tempfile::TempDir, Vec<String>) {
    let book = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/src/benchmarks");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut stems = Vec::new();
    for entry in fs::read_dir(&book).expect("the book's benchmarks directory") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|ext| ext == "csv") {
            let file = path.file_name().expect("a file name");
            fs::copy(&path, dir.path().join(file)).expect("copying a CSV");
            let stem = path.file_stem().expect("a stem").to_string_lossy();
            stems.push(stem.into_owned());
        }
    }
    stems.sort();
    (dir, stems)
}

fn replot(dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_report"))
        .arg("--replot")
        .arg(dir)
        .output()
        .expect("running report")
}

#[test]
fn every_csv_of_the_book_is_redrawn() {
    let (dir, stems) = copy_of_the_books_csvs();
    assert!(stems.len() >= 9, "{stems:?}");
    let output = replot(dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for stem in &stems {
        let svg = fs::read_to_string(dir.path().join(format!("{stem}.svg")))
            .unwrap_or_else(|e| panic!("{stem}.svg: {e}\n{stdout}{stderr}"));
        assert!(
            svg.starts_with("<svg width=\"720\""),
            "{stem}: {}",
            &svg[..60]
        );
        assert!(!svg.contains("font-size=\"8") && !svg.contains("font-size=\"9"));
        assert!(stdout.contains(&format!("{stem}.svg <- ")), "{stdout}");
    }
    dir.close().expect("cleaning up");
}

#[test]
fn a_csv_that_is_not_its_experiments_is_an_error_naming_it() {
    let (dir, _) = copy_of_the_books_csvs();
    fs::write(dir.path().join("pipes.csv"), "variant,round\nptm,0\n").expect("writing");
    fs::write(dir.path().join("notes.csv"), "anything\n").expect("writing");
    let output = replot(dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("reading pipes.csv back"), "{stderr}");
    assert!(
        stderr.contains("notes.csv: no experiment writes this file"),
        "{stderr}"
    );
    dir.close().expect("cleaning up");
}
