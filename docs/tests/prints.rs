//! What the book says a demo prints is what the demo prints.
//!
//! Every ```` ```text ```` block in `docs/src/**/*.md` is a demo's output,
//! introduced by a paragraph that ends with "prints:" and whose last inline
//! code span is the command, e.g. "`cargo run -p examples-pool -- pool`
//! prints:". This test builds that crate's binary, runs the command, and
//! checks the block against the real stdout:
//!
//! - each line of the block must match, in order, some line of the output
//!   (output lines may be skipped, so a block can be an excerpt);
//! - a number (digits, with an optional decimal part) matches any number,
//!   a run of spaces any run of spaces, and `…` any text; everything else
//!   must be the same.
//!
//! So the book cannot drift from the demos: change what a demo prints and
//! this fails until the chapter shows the new output. Other blocks (a
//! shell session, a diagram) use another info string (`console`, `sh`).

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use regex::Regex;

extern "C" {
    fn geteuid() -> u32;
}

/// How long one demo may run before it counts as hung.
const DEMO_TIMEOUT: Duration = Duration::from_secs(120);

/// One "prints" block of the book.
#[derive(Debug, Clone, PartialEq)]
struct Block {
    /// `page:line` of the opening fence.
    at: String,
    /// The package to build and run, e.g. `examples-pool`.
    package: String,
    /// The arguments after `--`.
    args: Vec<String>,
    /// The block's lines.
    lines: Vec<String>,
    /// Introduced "As root, ...": what the demo prints with root's rights.
    as_root: bool,
}

/// The ```text blocks of `text` with their commands; an error for a text
/// block that is not introduced as the rules above say.
fn blocks(page: &str, text: &str) -> Result<Vec<Block>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_start();
        let Some(info) = fence.strip_prefix("```") else {
            i += 1;
            continue;
        };
        let start = i;
        let mut end = i + 1;
        while end < lines.len() && !lines[end].trim_start().starts_with("```") {
            end += 1;
        }
        if info.trim() == "text" {
            let at = format!("{page}:{}", start + 1);
            let paragraph = paragraph_before(&lines, start);
            let (package, args) = command_of(&paragraph).map_err(|why| format!("{at}: {why}"))?;
            let as_root = paragraph.trim_start().starts_with("As root,");
            found.push(Block {
                at,
                package,
                args,
                as_root,
                lines: lines[start + 1..end.min(lines.len())]
                    .iter()
                    .map(|line| line.to_string())
                    .collect(),
            });
        }
        i = end + 1;
    }
    Ok(found)
}

/// The paragraph that ends at the blank line before line `fence`, joined
/// with spaces (a code span may be broken across lines).
fn paragraph_before(lines: &[&str], fence: usize) -> String {
    let mut end = fence;
    while end > 0 && lines[end - 1].trim().is_empty() {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && !lines[start - 1].trim().is_empty() {
        start -= 1;
    }
    lines[start..end].join(" ")
}

/// The package and arguments of the paragraph's last code span, which must
/// be `cargo run -p <package> [-- <args>]`, in a paragraph ending "prints:".
fn command_of(paragraph: &str) -> Result<(String, Vec<String>), String> {
    let trimmed = paragraph.trim_end();
    if !trimmed.ends_with("prints:") {
        return Err(format!(
            "a ```text block is a demo's output: the paragraph before it must end with \
             \"`cargo run -p <package> -- <demo>` prints:\" (use ```console or ```sh for \
             anything else); it is {trimmed:?}"
        ));
    }
    let spans: Vec<&str> = trimmed.split('`').skip(1).step_by(2).collect();
    let Some(span) = spans.last() else {
        return Err(format!("no `cargo run -p ...` code span in {trimmed:?}"));
    };
    let words: Vec<&str> = span.split_whitespace().collect();
    match words.as_slice() {
        ["cargo", "run", "-p", package, rest @ ..] => {
            let args = match rest {
                [] => Vec::new(),
                ["--", args @ ..] => args.iter().map(|a| a.to_string()).collect(),
                _ => return Err(format!("`{span}`: flags go after `--`")),
            };
            if args.iter().any(|a| a.contains(['\'', '"'])) {
                return Err(format!("`{span}`: quoted arguments are not supported"));
            }
            Ok((package.to_string(), args))
        }
        _ => Err(format!(
            "`{span}` is not `cargo run -p <package> [-- <args>]`"
        )),
    }
}

/// A book line as a pattern: numbers, runs of spaces and `…` are wildcards.
fn pattern(line: &str) -> Regex {
    let mut out = String::from("^");
    let mut chars = line.trim_end().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            while chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                chars.next();
            }
            out.push_str(r"\d+(?:\.\d+)?");
            // "1.5": the decimal part is in the pattern already.
            let mut rest = chars.clone();
            if rest.next() == Some('.') && rest.next().is_some_and(|c| c.is_ascii_digit()) {
                chars.next();
                while chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                    chars.next();
                }
            }
        } else if c == ' ' {
            while chars.peek() == Some(&' ') {
                chars.next();
            }
            out.push_str(" +");
        } else if c == '…' {
            out.push_str(".*");
        } else {
            out.push_str(&regex::escape(&c.to_string()));
        }
    }
    out.push('$');
    Regex::new(&out).unwrap_or_else(|e| panic!("pattern of {line:?}: {e}"))
}

/// The first line of `block` that has no match in `output` after the
/// previous line's match, if any.
fn first_mismatch<'a>(block: &'a [String], output: &str) -> Option<&'a str> {
    let mut rest = output.lines().map(str::trim_end);
    for line in block {
        let wanted = pattern(line);
        if !rest.any(|got| wanted.is_match(got)) {
            return Some(line);
        }
    }
    None
}

/// The workspace's root.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("docs/ is in the workspace")
        .to_path_buf()
}

/// Builds `package`'s binaries in the dev profile (the book shows debug
/// builds' output, which says so where it matters), and returns the
/// binary's path.
fn build(package: &str) -> PathBuf {
    // This test is <target>/<profile>/deps/prints-<hash>.
    let exe = std::env::current_exe().expect("the test's own path");
    let target = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .expect("the test binary is in <target>/<profile>/deps");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--bins", "-p", package])
        .env("CARGO_TARGET_DIR", target)
        .current_dir(workspace())
        .status()
        .unwrap_or_else(|e| panic!("running cargo build -p {package}: {e}"));
    assert!(status.success(), "cargo build -p {package}: {status}");
    let binary = target.join("debug").join(package);
    assert!(binary.exists(), "{} was not built", binary.display());
    binary
}

/// Runs `binary args`, and returns its stdout; panics on failure or after
/// [`DEMO_TIMEOUT`].
fn run(binary: &Path, args: &[String]) -> String {
    let shown = format!("{} {}", binary.display(), args.join(" "));
    let mut child = Command::new(binary)
        .args(args)
        .current_dir(workspace())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {shown}: {e}"));
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let err = thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).map(|_| text)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the demo") {
            break status;
        }
        if started.elapsed() > DEMO_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{shown} did not end within {DEMO_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.join().expect("reader").expect("reading stdout");
    let stderr = err.join().expect("reader").expect("reading stderr");
    assert!(status.success(), "{shown}: {status}\nstderr:\n{stderr}");
    stdout
}

/// `docs/src/`'s pages, recursively, sorted.
fn pages(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            found.extend(pages(&path));
        } else if path.extension().is_some_and(|ext| ext == "md") {
            found.push(path);
        }
    }
    found.sort();
    found
}

#[test]
fn every_prints_block_matches_a_real_run_of_its_demo() {
    let src = workspace().join("docs/src");
    let mut all = Vec::new();
    let mut problems = Vec::new();
    for page in pages(&src) {
        let name = page
            .strip_prefix(&src)
            .expect("under src")
            .display()
            .to_string();
        let text = fs::read_to_string(&page).expect("reading a page");
        match blocks(&name, &text) {
            Ok(found) => all.extend(found),
            Err(problem) => problems.push(problem),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(all.len() >= 10, "only {} prints blocks found", all.len());

    let mut binaries = BTreeMap::new();
    let mut outputs: BTreeMap<(String, Vec<String>), String> = BTreeMap::new();
    // SAFETY: geteuid only returns a number.
    let root = unsafe { geteuid() } == 0;
    for block in &all {
        if block.as_root && !root {
            // Said, not silent: the block shows what root sees (CI runs as
            // root, so there it is always checked).
            eprintln!("{}: not checked: it shows a run as root", block.at);
            continue;
        }
        let binary = binaries
            .entry(block.package.clone())
            .or_insert_with(|| build(&block.package))
            .clone();
        let key = (block.package.clone(), block.args.clone());
        let output = outputs
            .entry(key)
            .or_insert_with(|| run(&binary, &block.args));
        if let Some(line) = first_mismatch(&block.lines, output) {
            problems.push(format!(
                "{}: `cargo run -p {} -- {}`: no line matches {line:?} (in order) in its \
                 output:\n{output}",
                block.at,
                block.package,
                block.args.join(" ")
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn the_matcher_ignores_numbers_and_spacing_but_nothing_else() {
    let block = |text: &str| text.lines().map(str::to_owned).collect::<Vec<_>>();
    let output = "== child: a demo ==\n     3 ms  read \"tick 0\"\n   103 ms  read \"tick 1\"\n\
                  ratio = 0.72x\nargs [\"/tmp/x/target/debug/demo\", \"info\"]\nnotice: done\n";
    // Numbers, spacing and `…` vary; lines may be skipped.
    let good = block("== child: a demo ==\n  7 ms read \"tick 5\"\nratio = 1.5x\nargs [\"…/demo\", \"info\"]\nnotice: done");
    assert_eq!(first_mismatch(&good, output), None);
    // Words must match, and so must the order.
    let wrong_word = block("== child: a demo ==\nratio = 0.72y");
    assert_eq!(first_mismatch(&wrong_word, output), Some("ratio = 0.72y"));
    let wrong_order = block("notice: done\n== child: a demo ==");
    assert_eq!(
        first_mismatch(&wrong_order, output),
        Some("== child: a demo ==")
    );
    // A number does not match a word, nor a missing one.
    let missing = block("    ms  read \"tick 0\"");
    assert_eq!(
        first_mismatch(&missing, output),
        Some("    ms  read \"tick 0\"")
    );

    // Commands: the last code span of a paragraph ending "prints:".
    let page = "Intro `x`.\n\nRun `cargo run -p examples-pool -- parallel --n 4` and it\nprints:\n\n```text\nspeed-up 1.0x\n```\n";
    let found = blocks("p.md", page).expect("a valid page");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].package, "examples-pool");
    assert_eq!(found[0].args, ["parallel", "--n", "4"]);
    assert_eq!(found[0].lines, ["speed-up 1.0x"]);
    assert!(!found[0].as_root);
    let root_page =
        "As root, `cargo run -p examples-process -- container` prints:\n\n```text\nx\n```\n";
    assert!(blocks("p.md", root_page).expect("valid")[0].as_root);
    assert!(blocks("p.md", "Output:\n\n```text\nx\n```\n").is_err());
    assert!(blocks("p.md", "`ls` prints:\n\n```text\nx\n```\n").is_err());
    assert!(blocks("p.md", "A shell:\n\n```console\n$ ls\n```\n")
        .expect("ok")
        .is_empty());
}

/// The demos a topic binary lists in its `--help` ("Commands:"), without
/// `help`.
fn demos_of(binary: &Path) -> Vec<String> {
    let help = run(binary, &["--help".to_owned()]);
    help.lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readme_and_the_introduction_list_every_demo_of_every_topic() {
    let readme = fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let intro =
        fs::read_to_string(workspace().join("docs/src/introduction.md")).expect("introduction.md");
    for package in [
        "examples-threads",
        "examples-channels",
        "examples-pool",
        "examples-process",
    ] {
        let demos = demos_of(&build(package));
        assert!(demos.len() >= 5, "{package}: {demos:?}");
        let listed = format!(
            "| {} |",
            demos
                .iter()
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for (name, text) in [("README.md", &readme), ("introduction.md", &intro)] {
            let row = text
                .lines()
                .find(|line| line.starts_with(&format!("| `{package}/` |")))
                .unwrap_or_else(|| panic!("{name} has no row for {package}"));
            assert!(
                row.contains(&listed),
                "{name}'s row for {package} should list {listed}, in --help's order: {row}"
            );
        }
    }
}
