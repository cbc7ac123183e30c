//! The book cannot drift from the code, nor point nowhere.
//!
//! Every `{{#include path:anchor}}` in `docs/src/**/*.md` must name a file
//! that exists and holds exactly one `ANCHOR: anchor` line followed by an
//! `ANCHOR_END: anchor` line, with code between them. Line ranges
//! (`path:10:20`) are refused: they silently drift when the file changes,
//! which is what anchors are for. Every relative link (`[text](other.md#part)`)
//! must reach a file inside `docs/src/`, and a `#part` a heading of that
//! page. Every chapter listed in `SUMMARY.md` must exist.
//!
//! So a broken include or link fails `cargo test --workspace`, with or
//! without mdbook installed; `mdbook build docs` checks the same includes
//! again when it renders them.

use std::fs;
use std::path::{Component, Path, PathBuf};

/// `docs/src/`.
fn book_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.md` file under `dir`, sorted.
fn markdown_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files.extend(markdown_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "md") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// `path` with `.` and `..` resolved lexically (no file system access).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// One mdBook include directive: where it was, the path and what follows
/// the first `:` after the path, if anything.
#[derive(Debug)]
struct Include {
    at: String,
    path: String,
    selector: Option<String>,
}

/// The `{{#include ...}}` and `{{#rustdoc_include ...}}` directives of a page
/// (a directive escaped as `\{{#include ...}}` is text, as mdBook reads it).
fn includes(page: &Path, text: &str) -> Vec<Include> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find("{{#") {
            let escaped = rest[..start].ends_with('\\');
            let after = &rest[start + 3..];
            let Some(end) = after.find("}}") else { break };
            let body = after[..end].trim();
            rest = &after[end + 2..];
            let directive = body
                .strip_prefix("include ")
                .or_else(|| body.strip_prefix("rustdoc_include "));
            if let (Some(arg), false) = (directive, escaped) {
                let arg = arg.trim();
                let (path, selector) = match arg.split_once(':') {
                    Some((path, selector)) => (path, Some(selector.to_owned())),
                    None => (arg, None),
                };
                found.push(Include {
                    at: format!("{}:{}", page.display(), number + 1),
                    path: path.to_owned(),
                    selector,
                });
            }
        }
    }
    found
}

/// True if `line` holds `marker` (`ANCHOR:` or `ANCHOR_END:`) followed by
/// the name `anchor`, by mdBook's own rule: the marker, optional spaces,
/// then the name, ended by anything that is not a word character or `-`.
fn marks(line: &str, marker: &str, anchor: &str) -> bool {
    line.split(marker).skip(1).any(|after| {
        let name: String = after
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        name == anchor
    })
}

/// Checks one include; returns what is wrong with it, if anything.
fn check_include(page: &Path, include: &Include) -> Option<String> {
    let at = &include.at;
    let dir = page.parent().expect("a page is in a directory");
    let file = normalize(&dir.join(&include.path));
    let Ok(source) = fs::read_to_string(&file) else {
        return Some(format!("{at}: `{}` does not exist", include.path));
    };
    let Some(anchor) = &include.selector else {
        return None; // the whole file
    };
    if anchor.is_empty() || anchor.contains(':') || anchor.starts_with(|c: char| c.is_ascii_digit())
    {
        return Some(format!(
            "{at}: `{}:{anchor}` is a line range; use an anchor (`// ANCHOR: name`)",
            include.path
        ));
    }
    let names = |marker: &str, line: &str| marks(line, marker, anchor);
    let lines: Vec<&str> = source.lines().collect();
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| names("ANCHOR:", lines[i]))
        .collect();
    let ends: Vec<usize> = (0..lines.len())
        .filter(|&i| names("ANCHOR_END:", lines[i]))
        .collect();
    match (starts.as_slice(), ends.as_slice()) {
        ([start], [end]) if start + 1 < *end => None,
        ([start], [end]) => Some(format!(
            "{at}: anchor `{anchor}` in `{}` is empty or ends (line {}) before it starts (line {})",
            include.path,
            end + 1,
            start + 1
        )),
        _ => Some(format!(
            "{at}: `{}` needs exactly one `ANCHOR: {anchor}` and one `ANCHOR_END: {anchor}` \
             line, has {} and {}",
            include.path,
            starts.len(),
            ends.len()
        )),
    }
}

/// `text` without its fenced code blocks and inline code spans, where
/// brackets and parentheses are code, not links.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            out.push('\n');
            continue;
        }
        if !fenced {
            let mut in_code = false;
            for c in line.chars() {
                if c == '`' {
                    in_code = !in_code;
                } else if !in_code {
                    out.push(c);
                }
            }
        }
        out.push('\n');
    }
    out
}

/// The targets of the inline links `[text](target)` of a page's prose.
fn link_targets(text: &str) -> Vec<String> {
    let prose = prose(text);
    let mut targets = Vec::new();
    let mut rest = prose.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        match after.find(')') {
            Some(end) => {
                let target = after[..end].split_whitespace().next().unwrap_or("");
                targets.push(target.to_owned());
                rest = &after[end..];
            }
            None => break,
        }
    }
    targets
}

/// The ids mdBook gives a page's headings: the heading's text, lowercased,
/// spaces as `-`, only letters, digits, `_` and `-` kept; a repeated id gets
/// `-1`, `-2`, ...
fn heading_ids(text: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim();
        let id: String = title
            .chars()
            .filter_map(|c| {
                if c.is_alphanumeric() || c == '_' || c == '-' {
                    Some(c.to_ascii_lowercase())
                } else if c.is_whitespace() {
                    Some('-')
                } else {
                    None
                }
            })
            .collect();
        let seen = ids
            .iter()
            .filter(|other| **other == id || other.starts_with(&format!("{id}-")))
            .count();
        ids.push(if seen == 0 {
            id
        } else {
            format!("{id}-{seen}")
        });
    }
    ids
}

/// Checks one link of `page`; returns what is wrong with it, if anything.
fn check_link(src: &Path, page: &Path, target: &str) -> Option<String> {
    let at = page.display();
    if target.contains("://") || target.starts_with("mailto:") {
        return None; // external: not checked here
    }
    let (file, fragment) = match target.split_once('#') {
        Some((file, fragment)) => (file, Some(fragment)),
        None => (target, None),
    };
    let linked = if file.is_empty() {
        page.to_path_buf()
    } else {
        normalize(&page.parent().expect("in a directory").join(file))
    };
    if !linked.starts_with(src) {
        return Some(format!(
            "{at}: link `{target}` leaves docs/src/ (the rendered book has no such page)"
        ));
    }
    if !linked.is_file() {
        return Some(format!("{at}: link `{target}` points to no file"));
    }
    match fragment {
        Some(fragment) if linked.extension().is_some_and(|ext| ext == "md") => {
            let ids = heading_ids(&read(&linked));
            (!ids.iter().any(|id| id == fragment)).then(|| {
                format!("{at}: link `{target}`: no heading with id `{fragment}` (ids: {ids:?})")
            })
        }
        _ => None,
    }
}

#[test]
fn every_include_names_an_existing_file_and_anchor() {
    let src = book_src();
    let mut problems = Vec::new();
    let mut count = 0;
    for page in markdown_files(&src) {
        for include in includes(&page, &read(&page)) {
            count += 1;
            problems.extend(check_include(&page, &include));
        }
    }
    assert!(
        problems.is_empty(),
        "broken includes:\n{}",
        problems.join("\n")
    );
    assert!(
        count > 0,
        "no include found: is {} the book?",
        src.display()
    );
}

#[test]
fn every_relative_link_reaches_a_page_and_heading() {
    let src = book_src();
    let mut problems = Vec::new();
    for page in markdown_files(&src) {
        for target in link_targets(&read(&page)) {
            problems.extend(check_link(&src, &page, &target));
        }
    }
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_chapter_in_the_summary_exists() {
    let summary = book_src().join("SUMMARY.md");
    let targets = link_targets(&read(&summary));
    assert!(targets.len() >= 10, "too few chapters: {targets:?}");
    let missing: Vec<_> = targets
        .iter()
        .filter(|target| !book_src().join(target).is_file())
        .collect();
    assert!(
        missing.is_empty(),
        "chapters missing from docs/src/: {missing:?}"
    );
}

/// The chapters that `lib.rs` turns into doctests.
fn doctested_chapters() -> Vec<String> {
    let lib = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("lib.rs"));
    lib.split("include_str!(\"src/")
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(name, _)| name.to_owned()))
        .collect()
}

#[test]
fn every_chapter_with_rust_code_is_doctested() {
    let doctested = doctested_chapters();
    assert!(doctested.len() >= 10, "{doctested:?}");
    let mut untested = Vec::new();
    for page in markdown_files(&book_src()) {
        let name = page
            .strip_prefix(book_src())
            .expect("under src/")
            .to_string_lossy()
            .into_owned();
        // A block whose info string starts with `rust` (`rust`,
        // `rust,compile_fail`, ...) claims to be Rust: it must be tested.
        // (Included pages also run untagged blocks; other pages may use
        // them for anything.)
        let mut open = false;
        let mut has_rust = false;
        for line in read(&page).lines() {
            if let Some(info) = line.trim_start().strip_prefix("```") {
                if !open {
                    has_rust |= info.split(',').next().unwrap_or("").trim() == "rust";
                }
                open = !open;
            }
        }
        if has_rust && !doctested.contains(&name) {
            untested.push(name);
        }
    }
    assert!(
        untested.is_empty(),
        "chapters with Rust blocks that lib.rs does not doctest: {untested:?}"
    );
}

/// The widest lines of what `include` puts on the page: the anchored region
/// (without nested `ANCHOR` lines, which mdBook drops), or the whole file.
/// Returns `(line number, width)` of every line over `limit` columns.
fn too_wide(page: &Path, include: &Include, limit: usize) -> Vec<(usize, usize)> {
    let dir = page.parent().expect("a page is in a directory");
    let source = read(&normalize(&dir.join(&include.path)));
    let lines: Vec<&str> = source.lines().collect();
    let range = match &include.selector {
        None => 0..lines.len(),
        Some(anchor) => {
            let find = |marker: &str| lines.iter().position(|line| marks(line, marker, anchor));
            match (find("ANCHOR:"), find("ANCHOR_END:")) {
                (Some(start), Some(end)) if start < end => start + 1..end,
                _ => return Vec::new(), // reported by the include check
            }
        }
    };
    range
        .filter(|&i| !lines[i].contains("ANCHOR"))
        .map(|i| (i + 1, lines[i].chars().count()))
        .filter(|&(_, width)| width > limit)
        .collect()
}

/// The widest listing that fits the book's column without a scroll bar.
const MAX_COLUMNS: usize = 80;

#[test]
fn every_included_listing_fits_80_columns() {
    let src = book_src();
    let mut problems = Vec::new();
    for page in markdown_files(&src) {
        for include in includes(&page, &read(&page)) {
            for (line, width) in too_wide(&page, &include, MAX_COLUMNS) {
                problems.push(format!(
                    "{}: `{}` line {line} is {width} columns (at most {MAX_COLUMNS})",
                    include.at, include.path
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "listings too wide for the page:\n{}",
        problems.join("\n")
    );
}

/// The lines over `limit` columns inside the fenced code blocks written in
/// a page (any info string: output, Rust, shell), as `(line number, width)`.
/// An include directive inside a block is not counted: what it puts on the
/// page is checked by `every_included_listing_fits_80_columns`.
fn too_wide_in_blocks(text: &str, limit: usize) -> Vec<(usize, usize)> {
    let mut wide = Vec::new();
    let mut fenced = false;
    for (number, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced || line.contains("{{#include") || line.contains("{{#rustdoc_include") {
            continue;
        }
        let width = line.chars().count();
        if width > limit {
            wide.push((number + 1, width));
        }
    }
    wide
}

#[test]
fn every_written_code_block_fits_80_columns() {
    let mut problems = Vec::new();
    for page in markdown_files(&book_src()) {
        for (line, width) in too_wide_in_blocks(&read(&page), MAX_COLUMNS) {
            problems.push(format!(
                "{}:{line} is {width} columns (at most {MAX_COLUMNS})",
                page.display()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "code block lines too wide for the page:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checks_catch_what_they_should() {
    let src = book_src();
    let page = src.join("threads.md");
    let bad = [
        "{{#include ../../examples-threads/src/spawn.rs:no_such_anchor}}",
        "{{#include ../../examples-threads/src/no_such_file.rs}}",
        "{{#include ../../examples-threads/src/spawn.rs:10:20}}",
    ];
    for text in bad {
        let found = includes(&page, text);
        assert_eq!(found.len(), 1, "{text}");
        assert!(check_include(&page, &found[0]).is_some(), "{text} passed");
    }
    let good = "{{#include ../../examples-threads/src/spawn.rs:spawn_named}}";
    let found = includes(&page, good);
    assert_eq!(check_include(&page, &found[0]), None);
    let whole = includes(&page, "{{#include ../../examples-threads/src/spawn.rs}}");
    assert!(
        !too_wide(&page, &whole[0], 40).is_empty(),
        "a 40-column limit caught nothing"
    );
    assert!(includes(&page, r"\{{#include nowhere.rs}}").is_empty());
    let page_text = format!(
        "{}\n```text\n{}\n```\n```rust\n{{{{#include a.rs}}}} {}\n{}\n```\n",
        "x".repeat(100),
        "y".repeat(81),
        "z".repeat(100),
        "é".repeat(80)
    );
    assert_eq!(too_wide_in_blocks(&page_text, 80), [(3, 81)]);

    assert!(check_link(&src, &page, "no-such-page.md").is_some());
    assert!(check_link(&src, &page, "../../README.md").is_some());
    assert!(check_link(&src, &page, "threads.md#no-such-heading").is_some());
    assert_eq!(check_link(&src, &page, "https://example.com/x"), None);
    assert_eq!(
        link_targets("see [a](b.md) and `[c](d.md)` and [e](f.md#g)"),
        ["b.md", "f.md#g"]
    );
    assert_eq!(
        heading_ids("# Hello, World\n## `spawn`: start\n## Hello, World\n"),
        ["hello-world", "spawn-start", "hello-world-1"]
    );
}
