//! Every SVG under `docs/src/` (at any depth) must fit the book's column
//! and stay legible there: its root `<svg>` at most 800 px wide, and no text
//! smaller than 12 px. Font sizes are read from `font-size` attributes
//! (`font-size="13"`, as plotters writes them on `<text>`) and from
//! `font-size:` declarations in `style` attributes and `<style>` blocks.
//! A root with both a `width` and a `viewBox` scales its drawing by
//! width / viewBox width, so font sizes are checked as shown: scaled by it.

use std::fs;
use std::path::{Path, PathBuf};

/// The widest an SVG may be, in px: the book's column is 750 px.
const MAX_WIDTH: f64 = 800.0;
/// The smallest text allowed, in px.
const MIN_FONT: f64 = 12.0;

fn book_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.svg` file under `dir`, recursively, in a stable order.
fn svg_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files.extend(svg_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "svg") {
            files.push(path);
        }
    }
    files
}

/// A length such as `720`, `720px` or `13.5` in px; `None` for other units
/// (`em`, `%`, `pt`...), which this check cannot compare.
fn px(value: &str) -> Option<f64> {
    let value = value.trim();
    let number = value.strip_suffix("px").unwrap_or(value).trim();
    number.parse().ok()
}

/// The value of attribute `name` in the tag text `tag` (`<svg a="1" ...>`).
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = tag;
    while let Some(at) = rest.find(name) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + name.len()..].trim_start();
        rest = &rest[at + name.len()..];
        if !before.is_some_and(char::is_whitespace) {
            continue;
        }
        let Some(after) = after.strip_prefix('=') else {
            continue;
        };
        let after = after.trim_start();
        let quote = after.chars().next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let value = &after[1..];
        return value.find(quote).map(|end| &value[..end]);
    }
    None
}

/// The root `<svg ...>` tag of `text`.
fn root_tag(text: &str) -> Option<&str> {
    let start = text.find("<svg")?;
    let end = text[start..].find('>')?;
    Some(&text[start..start + end + 1])
}

/// The width of the root's `viewBox`, if it has one.
fn view_box_width(tag: &str) -> Option<Result<f64, String>> {
    let view_box = attribute(tag, "viewBox")?;
    Some(
        view_box
            .split([' ', ','])
            .filter(|part| !part.is_empty())
            .nth(2)
            .and_then(px)
            .filter(|width| *width > 0.0)
            .ok_or(format!("viewBox {view_box:?} has no width")),
    )
}

/// The root's width in px (its `width` attribute, or else its `viewBox`'s)
/// and the scale its drawing is shown at: width / viewBox width when it has
/// both, else 1.
fn root_width(text: &str) -> Result<(f64, f64), String> {
    let tag = root_tag(text).ok_or("no <svg> element")?;
    let view_box = view_box_width(tag).transpose()?;
    if let Some(width) = attribute(tag, "width") {
        let width = px(width).ok_or(format!("root width {width:?} is not in px"))?;
        return Ok((width, view_box.map_or(1.0, |drawn| width / drawn)));
    }
    let width = view_box.ok_or("root has neither width nor viewBox")?;
    Ok((width, 1.0))
}

/// Every font size the SVG sets, as written: `font-size="N"` attributes
/// and `font-size: N` declarations.
fn font_sizes(text: &str) -> Vec<String> {
    let mut sizes = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("font-size") {
        rest = &rest[at + "font-size".len()..];
        let after = rest.trim_start();
        let value = if let Some(value) = after.strip_prefix('=') {
            let value = value.trim_start();
            let quote = value.chars().next().unwrap_or('"');
            let inner = value.get(1..).unwrap_or("");
            inner.split(quote).next().unwrap_or("")
        } else if let Some(value) = after.strip_prefix(':') {
            value.split([';', '"', '\'', '}']).next().unwrap_or("")
        } else {
            continue; // e.g. "font-size-adjust"
        };
        sizes.push(value.trim().to_owned());
    }
    sizes
}

/// What is wrong with one SVG's text, if anything.
fn problems(name: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut scale = 1.0;
    match root_width(text) {
        Ok((width, shown_at)) => {
            scale = shown_at;
            if width > MAX_WIDTH {
                found.push(format!("{name}: {width} px wide (at most {MAX_WIDTH})"))
            }
        }
        Err(error) => found.push(format!("{name}: {error}")),
    }
    for size in font_sizes(text) {
        match px(&size) {
            Some(px) if px * scale < MIN_FONT => {
                let shown = px * scale;
                found.push(if scale == 1.0 {
                    format!("{name}: text of {px} px (at least {MIN_FONT})")
                } else {
                    format!("{name}: text of {px} px shown at {shown} px (at least {MIN_FONT})")
                })
            }
            Some(_) => {}
            None => found.push(format!("{name}: font-size {size:?} is not in px")),
        }
    }
    let mut unique = Vec::new();
    for problem in found {
        if !unique.contains(&problem) {
            unique.push(problem);
        }
    }
    unique
}

#[test]
fn every_svg_fits_the_column_with_legible_text() {
    let src = book_src();
    let files = svg_files(&src);
    assert!(!files.is_empty(), "no SVG under {}", src.display());
    let mut found = Vec::new();
    for path in &files {
        let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path
            .strip_prefix(&src)
            .unwrap_or(path)
            .display()
            .to_string();
        found.extend(problems(&name, &text));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_check_catches_what_it_should() {
    let good = r#"<svg width="720" height="400" xmlns="http://www.w3.org/2000/svg">
        <text font-size="13.000000000000002">a</text>
        <text style="fill: red; font-size: 12px">b</text></svg>"#;
    assert_eq!(problems("good", good), Vec::<String>::new());

    let wide = r#"<svg width="2640" height="520"><text font-size="12">a</text></svg>"#;
    assert_eq!(problems("wide", wide), ["wide: 2640 px wide (at most 800)"]);
    let view_box = r#"<svg viewBox="0 0 1920 520"></svg>"#;
    assert_eq!(problems("v", view_box), ["v: 1920 px wide (at most 800)"]);

    // A viewBox wider than the width shrinks the text with the drawing.
    let scaled = r#"<svg width="720" viewBox="0 0 2160 600"><text font-size="24">a</text></svg>"#;
    assert_eq!(
        problems("scaled", scaled),
        ["scaled: text of 24 px shown at 8 px (at least 12)"]
    );
    let enlarged = r#"<svg width="720" viewBox="0,0,360,200"><text font-size="8">a</text></svg>"#;
    assert_eq!(problems("e", enlarged), Vec::<String>::new());
    let same = r#"<svg width="720px" viewBox="0 0 720 400"><text font-size="12">a</text></svg>"#;
    assert_eq!(problems("same", same), Vec::<String>::new());

    let small = r#"<svg width="640"><text x="1" font-size="8.064516129032258">a</text></svg>"#;
    assert_eq!(
        problems("small", small),
        ["small: text of 8.064516129032258 px (at least 12)"]
    );
    let styled = r#"<svg width="640"><style>text { font-size: 10px; }</style></svg>"#;
    assert_eq!(problems("s", styled), ["s: text of 10 px (at least 12)"]);
    let inline = r#"<svg width="640"><text style='font-size:9'>a</text></svg>"#;
    assert_eq!(problems("i", inline), ["i: text of 9 px (at least 12)"]);
    let em = r#"<svg width="640"><text font-size="0.5em">a</text></svg>"#;
    assert_eq!(
        problems("em", em),
        [r#"em: font-size "0.5em" is not in px"#]
    );

    // `stroke-width` is not `width`, `font-size-adjust` is not a size.
    let tricky = r#"<svg stroke-width="3000" width="700" font-size-adjust="0.5"></svg>"#;
    assert_eq!(problems("t", tricky), Vec::<String>::new());
    assert_eq!(
        problems("none", "<p>no svg</p>"),
        ["none: no <svg> element"]
    );
}
