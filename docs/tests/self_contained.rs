//! The reader has this repository and nothing else: no user-facing text
//! points at the documents this project was first planned from.
//!
//! The word "seed" (any case: "the seed's", "seeds", a "seed map") is how
//! those documents were referred to; it must not appear in the book (except
//! the appendix that says where the original tutorials' topics are
//! covered), in any README, nor in the sources, tests and rustdoc of the
//! crates, whose demo output and `--help` come from those sources.

use std::fs;
use std::path::{Path, PathBuf};

/// The one page allowed to talk about where the topics came from: it is
/// recognised by its title.
const APPENDIX_TITLE: &str = "# Where the original tutorials' topics are covered";

/// The workspace's root.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("docs/ is in the workspace")
        .to_path_buf()
}

/// Every file under `dir` whose name ends with one of `extensions`,
/// skipping build output.
fn files(dir: &Path, extensions: &[&str], found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !matches!(name, "target" | "book" | ".git") {
                files(&path, extensions, found);
            }
        } else if extensions.iter().any(|ext| name.ends_with(ext)) {
            found.push(path);
        }
    }
}

/// `(line number, line)` of every line of `text` with "seed" in any case.
fn mentions(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.to_lowercase().contains("seed"))
        .map(|(i, line)| (i + 1, line.trim().to_owned()))
        .collect()
}

#[test]
fn no_user_facing_text_names_a_document_the_reader_does_not_have() {
    let root = workspace();
    let mut checked = Vec::new();
    files(&root.join("docs/src"), &[".md"], &mut checked);
    let crates = [
        "core",
        "benches",
        "docs",
        "examples-threads",
        "examples-channels",
        "examples-pool",
        "examples-process",
    ];
    for dir in crates {
        files(&root.join(dir), &[".rs", "README.md"], &mut checked);
    }
    checked.push(root.join("README.md"));
    // This file names the word it looks for.
    let me = root.join("docs/tests/self_contained.rs");
    checked.retain(|path| *path != me);
    assert!(checked.len() > 50, "only {} files found", checked.len());

    let mut problems = Vec::new();
    for path in &checked {
        let text =
            fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        if text.lines().next() == Some(APPENDIX_TITLE) {
            continue;
        }
        for (line, content) in mentions(&text) {
            let shown = path.strip_prefix(&root).unwrap_or(path).display();
            problems.push(format!("{shown}:{line}: {content}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} lines name documents the reader does not have:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_check_finds_the_word_in_any_case() {
    assert_eq!(mentions("a\nThe Seed's pool\nSEEDS\nok").len(), 2);
    assert_eq!(mentions("seedless counts too").len(), 1);
    assert!(mentions("nothing here").is_empty());
}
