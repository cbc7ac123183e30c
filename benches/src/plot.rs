//! SVG plots for `report`, drawn with plotters (its SVG backend and its own
//! log axes, `log_scale`), sized for the book's column: [`WIDTH`] px wide,
//! no text under 12 px.
//!
//! - [`rows`]: one row per variant, its name at the left and its values
//!   along a horizontal axis, as dots ([`Mark::Dot`], on a linear or a log
//!   axis) or bars ([`Mark::Bar`], linear axis only: a bar's length means
//!   nothing on a log axis), with the values printed beside them when a
//!   panel has at most two series. Panels (e.g. one per CPU placement) are
//!   stacked vertically and share the axis range; a missing value is "n/a".
//! - [`stacked`]: several [`rows`] charts in one SVG, each with its own axis
//!   (e.g. times in µs above, memory in KiB below).
//! - [`lines`]: a line chart (e.g. time against thread count).
//!
//! Text is written as SVG `<text>` elements (no font files, no `ttf`
//! feature), rendered in the viewer's own sans-serif font; layout uses a
//! per-character width estimate.
//!
//! ```no_run
//! use ptm_benches::plot::{rows, Mark, Panel, Rows, Scale, Series};
//!
//! let panel = Panel {
//!     title: String::new(),
//!     rows: vec!["ptm ThreadPool".into(), "rayon spawn".into()],
//!     series: vec![Series { name: "2 workers".into(), values: vec![Some(2.6e7), None] }],
//! };
//! let chart = Rows {
//!     title: "Pool dispatch",
//!     axis: "jobs per second",
//!     scale: Scale::Linear,
//!     mark: Mark::Bar,
//!     value: ptm_benches::plot::short,
//! };
//! rows("pool.svg".as_ref(), &chart, &[panel])?;
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::ops::Range;
use std::path::Path;

use anyhow::{bail, ensure, Context};
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The width of every plot, in px: the book's column is 750 px wide.
pub const WIDTH: u32 = 720;

/// How values map onto an axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Evenly spaced values, from zero.
    Linear,
    /// Evenly spaced powers of ten (plotters' `log_scale`).
    Log10,
}

impl Scale {
    /// The axis range that holds every drawable value of `values` (positive
    /// ones on a log axis), with some room; `None` if there is none.
    pub fn range(self, values: impl IntoIterator<Item = f64>) -> Option<Range<f64>> {
        let drawable = |v: &f64| v.is_finite() && (self == Scale::Linear || *v > 0.0);
        let values: Vec<f64> = values.into_iter().filter(drawable).collect();
        let min = values.iter().copied().reduce(f64::min)?;
        let max = values.iter().copied().reduce(f64::max)?;
        Some(match self {
            Scale::Linear => min.min(0.0)..if max > 0.0 { max * 1.05 } else { 1.0 },
            // From a power of ten to a power of ten, so that the axis
            // always has labelled ticks.
            Scale::Log10 => {
                let low = 10f64.powf((min / 1.3).log10().floor());
                low..10f64.powf((max * 1.3).log10().ceil()).max(low * 10.0)
            }
        })
    }
}

/// `value` in at most three significant digits with a k/M/G suffix
/// (`1.5k`, `2.6M`, `0.25`).
pub fn short(value: f64) -> String {
    let (scaled, suffix) = match value.abs() {
        m if m >= 1e9 => (value / 1e9, "G"),
        m if m >= 1e6 => (value / 1e6, "M"),
        m if m >= 1e3 => (value / 1e3, "k"),
        _ => (value, ""),
    };
    let digits = match scaled.abs() {
        m if m >= 100.0 || scaled == scaled.trunc() => format!("{scaled:.0}"),
        m if m >= 10.0 => format!("{scaled:.1}"),
        m if m >= 0.01 => format!("{scaled:.2}"),
        _ => return format!("{scaled:.2e}{suffix}"),
    };
    let digits = if digits.contains('.') {
        digits.trim_end_matches('0').trim_end_matches('.')
    } else {
        &digits
    };
    format!("{digits}{suffix}")
}

/// `n` with thousands separators (`100,000`).
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One named series of values, one per row (`None`: "n/a").
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend's text.
    pub name: String,
    /// One value per row of the panel, in the panel's row order.
    pub values: Vec<Option<f64>>,
}

/// One panel of a [`rows`] chart: a row per variant, a mark per series in
/// each row.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// The panel's caption (empty: none).
    pub title: String,
    /// The rows' labels, top to bottom.
    pub rows: Vec<String>,
    /// The series, each drawn in its own colour in every row.
    pub series: Vec<Series>,
}

/// How a value is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A dot at the value.
    Dot,
    /// A bar from zero to the value (linear axis only).
    Bar,
}

/// What a [`rows`] chart shows and how.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    /// The figure's title.
    pub title: &'a str,
    /// The horizontal axis's name, with its unit.
    pub axis: &'a str,
    /// Linear or log.
    pub scale: Scale,
    /// Dots or bars.
    pub mark: Mark,
    /// How a printed value reads (e.g. [`short`]).
    pub value: fn(f64) -> String,
}

/// Writes a chart of one or more panels to `path` as SVG, [`WIDTH`] px
/// wide.
///
/// # Errors
///
/// If there is nothing to draw, bars are asked for on a log axis, or the
/// file cannot be written.
pub fn rows(path: &Path, chart: &Rows<'_>, panels: &[Panel]) -> anyhow::Result<()> {
    stacked(path, &[(chart, panels)])
}

/// Writes several [`rows`] charts to `path` as one SVG, one under the
/// other, each with its own title, legend and axis.
///
/// # Errors
///
/// As for [`rows`], for any of the charts, or if there is none.
pub fn stacked(path: &Path, charts: &[(&Rows<'_>, &[Panel])]) -> anyhow::Result<()> {
    ensure!(!charts.is_empty(), "{}: no chart to draw", path.display());
    let heights: Vec<u32> = charts.iter().map(|(_, p)| chart_height(p)).collect();
    let root = SVGBackend::new(path, (WIDTH, heights.iter().sum())).into_drawing_area();
    root.fill(&WHITE)?;
    let mut top = 0;
    for (&(chart, panels), &height) in charts.iter().zip(&heights) {
        let area = root.clone().shrink((0, top), (WIDTH, height));
        draw_chart(&root, &area, chart, panels)?;
        top += height;
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

const INK: RGBColor = RGBColor(30, 30, 30);
const GREY: RGBColor = RGBColor(110, 110, 110);

fn colour(index: usize) -> RGBColor {
    const COLOURS: [RGBColor; 6] = [
        RGBColor(31, 119, 180),
        RGBColor(230, 110, 0),
        RGBColor(44, 150, 44),
        RGBColor(200, 35, 40),
        RGBColor(148, 103, 189),
        RGBColor(120, 80, 60),
    ];
    COLOURS[index % COLOURS.len()]
}

/// A font of `px` pixels: plotters' SVG backend writes 1/1.24 of the size
/// it is given.
fn font(px: f64) -> FontDesc<'static> {
    ("sans-serif", px * 1.24).into_font()
}

fn text(px: f64, colour: &'static RGBColor, (h, v): (HPos, VPos)) -> TextStyle<'static> {
    TextStyle::from(font(px)).color(colour).pos(Pos::new(h, v))
}

fn text_width(text: &str, px: f64) -> u32 {
    (text.chars().count() as f64 * px * 0.58).ceil() as u32
}

fn row_height(panels: &[Panel]) -> u32 {
    let series = panels.iter().map(|p| p.series.len()).max().unwrap_or(1) as u32;
    (15 * series + 10).max(28)
}

/// Title, legend, and per panel its caption, rows and axis.
fn chart_height(panels: &[Panel]) -> u32 {
    let legend = if panels.iter().any(|p| p.series.len() > 1) {
        26
    } else {
        0
    };
    let rows: u32 = panels
        .iter()
        .map(|p| p.rows.len() as u32 * row_height(panels) + 56)
        .sum();
    40 + legend + rows + 26 * panels.iter().filter(|p| !p.title.is_empty()).count() as u32
}

fn draw_chart(
    root: &Area<'_>,
    area: &Area<'_>,
    chart: &Rows<'_>,
    panels: &[Panel],
) -> anyhow::Result<()> {
    if chart.mark == Mark::Bar && chart.scale == Scale::Log10 {
        bail!("{}: bars on a log axis mislead; use dots", chart.title);
    }
    let values = panels
        .iter()
        .flat_map(|p| &p.series)
        .flat_map(|s| s.values.iter().flatten());
    let Some(range) = chart.scale.range(values.copied()) else {
        bail!("{}: no value to plot", chart.title);
    };
    let centre = (HPos::Center, VPos::Top);
    area.draw(&Text::new(
        chart.title,
        (WIDTH as i32 / 2, 10),
        text(17.0, &INK, centre),
    ))?;
    let mut top = 40;
    if let Some(panel) = panels.iter().find(|p| p.series.len() > 1) {
        let mut x = 20;
        for (s, series) in panel.series.iter().enumerate() {
            area.draw(&Circle::new((x + 6, top + 8), 5, colour(s).filled()))?;
            let style = text(13.0, &INK, (HPos::Left, VPos::Center));
            area.draw(&Text::new(series.name.as_str(), (x + 16, top + 8), style))?;
            x += 40 + text_width(&series.name, 13.0) as i32;
        }
        top += 26;
    }
    let labels = panels
        .iter()
        .flat_map(|p| &p.rows)
        .map(|r| text_width(r, 13.0));
    let label_width = labels.max().unwrap_or(0).clamp(80, 340) + 20;
    for panel in panels {
        if !panel.title.is_empty() {
            let style = text(14.0, &INK, (HPos::Left, VPos::Top));
            area.draw(&Text::new(
                panel.title.as_str(),
                (label_width as i32, top + 4),
                style,
            ))?;
            top += 26;
        }
        let height = panel.rows.len() as u32 * row_height(panels) + 56;
        let sub = area.clone().shrink((0, top), (WIDTH, height));
        let range = range.clone();
        match chart.scale {
            Scale::Linear => draw_panel(
                root,
                &sub,
                range.clone(),
                range.start,
                chart,
                panel,
                label_width,
            )?,
            Scale::Log10 => draw_panel(
                root,
                &sub,
                range.clone().log_scale(),
                range.start,
                chart,
                panel,
                label_width,
            )?,
        }
        top += height as i32;
    }
    Ok(())
}

/// One panel on `area`: its rows along `x` (a linear or a log range whose
/// lowest value is `low`). Labels and printed values are drawn on `root`
/// at the chart's backend coordinates.
fn draw_panel<X>(
    root: &Area<'_>,
    area: &Area<'_>,
    x: X,
    low: f64,
    chart: &Rows<'_>,
    panel: &Panel,
    label_width: u32,
) -> anyhow::Result<()>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let n = panel.rows.len();
    let printed = chart.mark == Mark::Bar || panel.series.len() <= 2;
    let mut plot = ChartBuilder::on(area)
        .margin_right(if printed { 84 } else { 24 })
        .x_label_area_size(48)
        .y_label_area_size(label_width)
        .build_cartesian_2d(x, 0.0..n as f64)?;
    plot.configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(6)
        .x_label_formatter(&|v| short(*v))
        .x_label_style(font(12.0))
        .x_desc(chart.axis)
        .axis_desc_style(font(13.0))
        .draw()?;
    let slot = 0.8 / panel.series.len().max(1) as f64;
    for (r, label) in panel.rows.iter().enumerate() {
        let middle = n as f64 - r as f64 - 0.5;
        let (px, py) = plot.backend_coord(&(low, middle));
        let style = text(13.0, &INK, (HPos::Right, VPos::Center));
        root.draw(&Text::new(label.as_str(), (px - 10, py), style))?;
        for (s, series) in panel.series.iter().enumerate() {
            let y = middle + 0.4 - slot * (s as f64 + 0.5);
            let Some(value) = series
                .values
                .get(r)
                .copied()
                .flatten()
                .filter(|v| *v > 0.0 || chart.scale == Scale::Linear)
            else {
                let (px, py) = plot.backend_coord(&(low, y));
                root.draw(&Text::new(
                    "n/a",
                    (px + 8, py),
                    text(12.0, &GREY, (HPos::Left, VPos::Center)),
                ))?;
                continue;
            };
            let fill = colour(s).filled();
            match chart.mark {
                Mark::Dot => plot.draw_series([Circle::new((value, y), 5, fill)])?,
                Mark::Bar => {
                    let half = slot * 0.4;
                    plot.draw_series([Rectangle::new([(low, y - half), (value, y + half)], fill)])?
                }
            };
            if printed {
                let (px, py) = plot.backend_coord(&(value, y));
                let style = text(12.0, &INK, (HPos::Left, VPos::Center));
                root.draw(&Text::new((chart.value)(value), (px + 9, py), style))?;
            }
        }
    }
    Ok(())
}

/// One curve of a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The legend's text.
    pub name: String,
    /// The points, in increasing x.
    pub points: Vec<(f64, f64)>,
    /// A reference curve: drawn thin and grey, without markers.
    pub reference: bool,
}

/// A vertical marker line across a line chart (e.g. the core count).
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// Where, on the x axis.
    pub x: f64,
    /// Its label, written beside it.
    pub label: String,
}

/// Writes a line chart to `path` as SVG, [`WIDTH`] px wide, log-log
/// (plotters' `log_scale` on both axes), each line with point markers, the
/// legend at the upper left, and optional vertical markers.
///
/// # Errors
///
/// If there is nothing to draw or the file cannot be written.
pub fn lines(
    path: &Path,
    title: &str,
    (x_label, y_label): (&str, &str),
    curves: &[Line],
    markers: &[Marker],
) -> anyhow::Result<()> {
    let points = || curves.iter().flat_map(|c| &c.points);
    let xs = points().map(|p| p.0).chain(markers.iter().map(|m| m.x));
    let (Some(x), Some(y)) = (
        Scale::Log10.range(xs),
        Scale::Log10.range(points().map(|p| p.1)),
    ) else {
        bail!("{title}: no value to plot");
    };
    let root = SVGBackend::new(path, (WIDTH, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, font(17.0))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(x.log_scale(), y.clone().log_scale())?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .axis_desc_style(font(13.0))
        .label_style(font(12.0))
        .x_label_formatter(&|v| short(*v))
        .y_label_formatter(&|v| short(*v))
        .draw()?;
    for marker in markers {
        chart.draw_series(LineSeries::new(
            [(marker.x, y.start), (marker.x, y.end)],
            GREY.stroke_width(1),
        ))?;
        let style = text(12.0, &GREY, (HPos::Left, VPos::Top));
        let middle = (y.start * y.end).sqrt();
        chart.draw_series([Text::new(
            marker.label.clone(),
            (marker.x * 1.05, middle),
            style,
        )])?;
    }
    for (i, curve) in curves.iter().enumerate() {
        let stroke = if curve.reference {
            BLACK.mix(0.45).stroke_width(1)
        } else {
            colour(i).stroke_width(2)
        };
        let drawn = curve
            .points
            .iter()
            .copied()
            .filter(|&(x, y)| x > 0.0 && y > 0.0);
        chart
            .draw_series(LineSeries::new(drawn.clone(), stroke))?
            .label(curve.name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], stroke));
        if !curve.reference {
            chart.draw_series(drawn.map(|p| Circle::new(p, 3, colour(i).filled())))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(GREY)
        .label_font(font(13.0))
        .draw()?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::{lines, rows, short, Line, Mark, Marker, Panel, Rows, Scale, Series};

    #[test]
    fn short_numbers_and_ranges() {
        assert_eq!(short(1_000_000.0), "1M");
        assert_eq!(short(1_500.0), "1.5k");
        assert_eq!(short(0.25), "0.25");
        assert_eq!(short(0.001), "1.00e-3");
        assert_eq!(Scale::Linear.range([0.9, 2.0]), Some(0.0..2.1));
        assert_eq!(Scale::Log10.range([0.0, -1.0]), None, "nothing drawable");
        assert_eq!(Scale::Log10.range([2.0, 3.0]), Some(1.0..10.0), "decades");
        assert_eq!(Scale::Log10.range([2.0]), Some(1.0..10.0));
    }

    fn svg(name: &str, draw: impl FnOnce(&std::path::Path) -> anyhow::Result<()>) -> String {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join(name);
        draw(&path).expect("drawing");
        std::fs::read_to_string(path).expect("reading the SVG")
    }

    #[test]
    fn a_rows_chart_prints_values_and_n_a_and_refuses_log_bars() {
        let panel = Panel {
            title: "pinned".into(),
            rows: vec!["ptm ThreadPool".into(), "rayon".into()],
            series: vec![Series {
                name: "2 workers".into(),
                values: vec![Some(2.5e6), None],
            }],
        };
        let mut chart = Rows {
            title: "Dispatch",
            axis: "jobs/s",
            scale: Scale::Linear,
            mark: Mark::Bar,
            value: short,
        };
        let text = svg("rows.svg", |p| {
            rows(p, &chart, std::slice::from_ref(&panel))
        });
        assert!(text.starts_with("<svg width=\"720\""), "{}", &text[..40]);
        for expected in [
            "Dispatch",
            "ptm ThreadPool",
            "2.5M",
            "n/a",
            "pinned",
            "jobs/s",
        ] {
            assert!(text.contains(expected), "no {expected:?}");
        }
        chart.scale = Scale::Log10;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let error =
            rows(&dir.path().join("x.svg"), &chart, &[panel]).expect_err("bars on a log axis");
        assert!(error.to_string().contains("log axis"), "{error}");
    }

    #[test]
    fn a_line_chart_has_its_curves_and_marker() {
        let curve = Line {
            name: "sleep".into(),
            points: vec![(1.0, 2.0), (100.0, 30.0)],
            reference: false,
        };
        let marker = Marker {
            x: 2.0,
            label: "2 CPUs".into(),
        };
        let text = svg("lines.svg", |p| {
            lines(p, "Curves", ("threads", "ms"), &[curve], &[marker])
        });
        for expected in ["Curves", "sleep", "2 CPUs", "threads"] {
            assert!(text.contains(expected), "no {expected:?}");
        }
    }
}
