//! SVG plots for `report`, drawn with plotters' SVG backend, sized for the
//! book's column: [`WIDTH`] px wide, no text under 12 px.
//!
//! - [`rows`]: one row per variant, its name written out at the left and its
//!   values along a horizontal axis, as dots ([`Mark::Dot`], on a linear or
//!   a log axis) or bars ([`Mark::Bar`], linear axis only: a bar's length
//!   means nothing on a log axis), with the values printed beside them
//!   where there is room. Panels (e.g. one per CPU placement) are stacked
//!   vertically; a missing value is drawn as "n/a".
//! - [`stacked`]: several [`rows`] charts in one SVG, one under the
//!   other, each with its own axis (e.g. times in µs above, memory in KiB
//!   below).
//! - [`lines`]: a line chart (e.g. time against thread count).
//!
//! No font files and no system packages are involved: without plotters'
//! `ttf` feature, text is written as SVG `<text>` elements, which the
//! viewer renders in its own sans-serif font. Layout uses a per-character
//! width estimate.
//!
//! ```no_run
//! use ptm_benches::plot::{rows, Mark, Panel, Rows, Scale, Series};
//!
//! let panel = Panel {
//!     title: String::new(),
//!     rows: vec!["ptm ThreadPool".into(), "rayon spawn".into()],
//!     series: vec![Series { name: "2 workers".into(), values: vec![Some(2.6e7), Some(5.1e6)] }],
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

use std::path::Path;

use anyhow::{anyhow, bail, Context};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The width of every plot, in px: the book's column is 750 px wide.
pub const WIDTH: u32 = 720;

/// How values map onto an axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// From zero, linearly.
    Linear,
    /// Logarithmically (values must be positive; others are not drawn).
    Log10,
}

impl Scale {
    /// Where `value` sits on the axis, or `None` if it cannot be drawn.
    pub fn to_axis(self, value: f64) -> Option<f64> {
        match self {
            Scale::Linear if value.is_finite() => Some(value),
            Scale::Log10 if value.is_finite() && value > 0.0 => Some(value.log10()),
            _ => None,
        }
    }

    /// The value at axis position `position` (the inverse of
    /// [`to_axis`](Self::to_axis)).
    pub fn from_axis(self, position: f64) -> f64 {
        match self {
            Scale::Linear => position,
            Scale::Log10 => 10f64.powf(position),
        }
    }

    /// The axis range (in axis positions) that shows every drawable value
    /// of `values`: from 0 to the first tick at or above the maximum
    /// (linear), or from a tenth of a decade below the minimum to a tenth
    /// of a decade above the maximum (log). `None` if nothing is drawable.
    ///
    /// ```
    /// use ptm_benches::plot::Scale;
    ///
    /// assert_eq!(Scale::Linear.axis_range([2.0, 9.0]), Some((0.0, 10.0)));
    /// assert_eq!(Scale::Log10.axis_range([100.0, 1000.0]), Some((1.9, 3.1)));
    /// ```
    pub fn axis_range(self, values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
        let positions: Vec<f64> = values.into_iter().filter_map(|v| self.to_axis(v)).collect();
        let min = positions.iter().copied().reduce(f64::min)?;
        let max = positions.iter().copied().reduce(f64::max)?;
        match self {
            Scale::Linear => {
                let top = if max > 0.0 { max } else { 1.0 };
                let step = nice_step(top / 5.0);
                Some((min.min(0.0), (top / step).ceil() * step))
            }
            Scale::Log10 => {
                let round = |x: f64| (x * 10.0).round() / 10.0;
                Some((
                    round(min - 0.1),
                    round(max + 0.1).max(round(min - 0.1) + 0.5),
                ))
            }
        }
    }

    /// The ticks of the axis `low..high` (in axis positions): multiples of
    /// a round step (linear); whole decades, and 2 and 5 times them if the
    /// axis spans less than three decades (log).
    ///
    /// ```
    /// use ptm_benches::plot::Scale;
    ///
    /// assert_eq!(Scale::Linear.ticks(0.0, 40.0), [0.0, 10.0, 20.0, 30.0, 40.0]);
    /// let log: Vec<f64> = Scale::Log10.ticks(0.9, 4.1).iter().map(|t| 10f64.powf(*t)).collect();
    /// assert_eq!(log.iter().map(|v| v.round()).collect::<Vec<_>>(), [10.0, 100.0, 1000.0, 10000.0]);
    /// ```
    pub fn ticks(self, low: f64, high: f64) -> Vec<f64> {
        match self {
            Scale::Linear => {
                let step = nice_step((high - low) / 5.0);
                let first = (low / step).ceil() as i64;
                let last = (high / step + 1e-9).floor() as i64;
                (first..=last).map(|i| i as f64 * step).collect()
            }
            Scale::Log10 => {
                let multiples: &[f64] = if high - low < 3.0 {
                    &[1.0, 2.0, 5.0]
                } else {
                    &[1.0]
                };
                let mut ticks = Vec::new();
                for decade in low.floor() as i32..=high.ceil() as i32 {
                    for m in multiples {
                        let t = (m * 10f64.powi(decade)).log10();
                        if t >= low - 1e-9 && t <= high + 1e-9 {
                            ticks.push(t);
                        }
                    }
                }
                ticks
            }
        }
    }
}

/// The smallest of 1, 2 or 5 times a power of ten that is at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&step| step >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * power)
}

/// `1_234_567.0` as "1.23M", `0.0123` as "0.0123": short labels for
/// values and axes.
///
/// ```
/// use ptm_benches::plot::short;
///
/// assert_eq!(short(26_200_000.0), "26.2M");
/// assert_eq!(short(35_400.0), "35.4k");
/// assert_eq!(short(715.0), "715");
/// assert_eq!(short(1.5), "1.5");
/// ```
pub fn short(value: f64) -> String {
    let magnitude = value.abs();
    let (scaled, suffix) = if magnitude >= 1e9 {
        (value / 1e9, "G")
    } else if magnitude >= 1e6 {
        (value / 1e6, "M")
    } else if magnitude >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    let digits = if scaled.abs() >= 100.0 || scaled == scaled.trunc() {
        format!("{scaled:.0}")
    } else if scaled.abs() >= 10.0 {
        format!("{scaled:.1}")
    } else if scaled.abs() >= 0.01 {
        format!("{scaled:.2}")
    } else {
        format!("{scaled:.2e}")
    };
    // "1.50" -> "1.5", "2.00" stays "2" (from the first branch).
    let digits = if digits.contains('.') && !digits.contains('e') {
        digits
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    } else {
        digits
    };
    format!("{digits}{suffix}")
}

/// `n` with a comma between groups of three digits: "16,110".
///
/// ```
/// assert_eq!(ptm_benches::plot::thousands(16_110), "16,110");
/// assert_eq!(ptm_benches::plot::thousands(100), "100");
/// ```
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

/// A tick's label: [`short`] of its value (a log tick, 1, 2 or 5 times a
/// power of ten, rounded to that value first).
fn tick_label(scale: Scale, position: f64) -> String {
    let value = scale.from_axis(position);
    match scale {
        Scale::Log10 if value >= 1.0 => short(value.round()),
        Scale::Log10 => short((value * 1e6).round() / 1e6),
        Scale::Linear => short(value),
    }
}

/// A font of `px` pixels as the SVG will say it (plotters writes a font of
/// size `s` as `font-size = s / 1.24`).
fn font(px: f64) -> FontDesc<'static> {
    ("sans-serif", px * 1.24).into_font()
}

/// A text style of `px` pixels in `colour`, anchored at `(h, v)`.
fn text(px: f64, colour: &'static RGBColor, (h, v): (HPos, VPos)) -> TextStyle<'static> {
    TextStyle::from(font(px)).color(colour).pos(Pos::new(h, v))
}

/// The width of `text` at `px` pixels, estimated (an average sans-serif
/// character is about 0.55 em wide; this errs on the wide side).
fn text_width(text: &str, px: f64) -> i32 {
    (text.chars().count() as f64 * px * 0.58).ceil() as i32
}

const INK: RGBColor = RGBColor(30, 30, 30);
const GREY: RGBColor = RGBColor(110, 110, 110);
const GRID: RGBColor = RGBColor(222, 222, 222);

/// A colour for series `index`, the same in every chart.
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

/// Writes a chart of one or more panels stacked vertically, sharing one
/// horizontal axis range, to `path` as SVG, [`WIDTH`] px wide. Values are
/// printed beside their marks for bars, and for dots when a panel has at
/// most two series; a legend is drawn when there is more than one series.
///
/// # Errors
///
/// If there is nothing to draw, bars are asked for on a log axis, or the
/// file cannot be written.
pub fn rows(path: &Path, chart: &Rows<'_>, panels: &[Panel]) -> anyhow::Result<()> {
    stacked(path, &[(chart, panels)])
}

/// Writes several [`rows`] charts to `path` as one SVG, [`WIDTH`] px wide,
/// one under the other, each with its own title, legend and horizontal
/// axis (so each may have its own unit and scale).
///
/// # Errors
///
/// As for [`rows`], for any of the charts, or if there is none.
pub fn stacked(path: &Path, charts: &[(&Rows<'_>, &[Panel])]) -> anyhow::Result<()> {
    if charts.is_empty() {
        bail!("{}: no chart to draw", path.display());
    }
    let mut heights = Vec::new();
    for &(chart, panels) in charts {
        heights.push(draw_rows(None, chart, panels)?);
    }
    let total: i32 = heights.iter().sum();
    let root = SVGBackend::new(path, (WIDTH, total as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut top = 0;
    for (&(chart, panels), &height) in charts.iter().zip(&heights) {
        let area = root.clone().shrink((0, top as u32), (WIDTH, height as u32));
        draw_rows(Some(&area), chart, panels)?;
        top += height;
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Lays out one [`rows`] chart and, given an area, draws it there; returns
/// its height in px.
fn draw_rows(
    area: Option<&DrawingArea<SVGBackend<'_>, Shift>>,
    chart: &Rows<'_>,
    panels: &[Panel],
) -> anyhow::Result<i32> {
    if chart.mark == Mark::Bar && chart.scale == Scale::Log10 {
        bail!("{}: bars on a log axis mislead; use dots", chart.title);
    }
    let all = panels
        .iter()
        .flat_map(|p| p.series.iter())
        .flat_map(|s| s.values.iter().flatten().copied());
    let (low, high) = chart
        .scale
        .axis_range(all)
        .ok_or_else(|| anyhow!("{}: no value to plot", chart.title))?;
    let series_count = panels.iter().map(|p| p.series.len()).max().unwrap_or(0);
    let printed = chart.mark == Mark::Bar || series_count <= 2;

    // Layout, in px from the top left.
    let label_width = panels
        .iter()
        .flat_map(|p| p.rows.iter())
        .map(|r| text_width(r, 13.0))
        .max()
        .unwrap_or(0)
        .clamp(80, 340);
    let plot_left = 12 + label_width + 10;
    let value_room = if printed { 64 } else { 0 };
    let plot_right = WIDTH as i32 - 20 - value_room;
    let row_height = (15 * series_count.max(1) as i32 + 10).max(28);
    let legend = legend_lines(panels);
    let mut y = 40 + 22 * legend.len() as i32;
    let mut tops = Vec::new();
    for panel in panels {
        let caption = if panel.title.is_empty() { 0 } else { 26 };
        tops.push((y + caption, caption > 0));
        y += caption + row_height * panel.rows.len() as i32 + 52;
    }
    let height = y + 4;
    let Some(root) = area else {
        return Ok(height);
    };
    let centre = (HPos::Center, VPos::Top);
    root.draw(&Text::new(
        chart.title.to_owned(),
        (WIDTH as i32 / 2, 12),
        text(17.0, &INK, centre),
    ))?;
    let legend_mark = |x: i32, y: i32, s: usize| -> anyhow::Result<()> {
        match chart.mark {
            Mark::Dot => root.draw(&Circle::new((x + 6, y), 5, colour(s).filled()))?,
            Mark::Bar => root.draw(&Rectangle::new(
                [(x, y - 5), (x + 12, y + 5)],
                colour(s).filled(),
            ))?,
        }
        Ok(())
    };
    for (line, entries) in legend.iter().enumerate() {
        let y = 44 + 22 * line as i32;
        for &(x, s, ref name) in entries {
            legend_mark(x, y, s)?;
            root.draw(&Text::new(
                name.clone(),
                (x + 18, y),
                text(13.0, &INK, (HPos::Left, VPos::Center)),
            ))?;
        }
    }
    let to_x = |position: f64| -> i32 {
        let share = (position - low) / (high - low);
        plot_left + (share * f64::from(plot_right - plot_left)).round() as i32
    };
    let ticks = chart.scale.ticks(low, high);
    for (panel, &(top, captioned)) in panels.iter().zip(&tops) {
        if captioned {
            root.draw(&Text::new(
                panel.title.clone(),
                (plot_left, top - 22),
                text(14.0, &INK, (HPos::Left, VPos::Top)),
            ))?;
        }
        let bottom = top + row_height * panel.rows.len() as i32;
        draw_axis(
            root,
            chart,
            (plot_left, plot_right, top, bottom),
            &ticks,
            &to_x,
        )?;
        for (r, label) in panel.rows.iter().enumerate() {
            let row_top = top + row_height * r as i32;
            let middle = row_top + row_height / 2;
            if r > 0 {
                root.draw(&PathElement::new(
                    [(12, row_top), (plot_right, row_top)],
                    GRID.stroke_width(1),
                ))?;
            }
            root.draw(&Text::new(
                label.clone(),
                (plot_left - 10, middle),
                text(13.0, &INK, (HPos::Right, VPos::Center)),
            ))?;
            let values: Vec<Option<f64>> = panel
                .series
                .iter()
                .map(|s| s.values.get(r).copied().flatten())
                .collect();
            let k = values.len().max(1) as i32;
            let slot = (row_height - 10) / k;
            let grey = (HPos::Left, VPos::Center);
            if values.iter().all(Option::is_none) {
                root.draw(&Text::new(
                    "n/a",
                    (plot_left + 8, middle),
                    text(13.0, &GREY, grey),
                ))?;
                continue;
            }
            for (s, value) in values.iter().enumerate() {
                let y = row_top + 5 + slot * s as i32 + slot / 2;
                let drawn = value.and_then(|v| chart.scale.to_axis(v).map(|p| (v, to_x(p))));
                let Some((value, x)) = drawn else {
                    root.draw(&Text::new(
                        "n/a",
                        (plot_left + 8, y),
                        text(12.0, &GREY, grey),
                    ))?;
                    continue;
                };
                let end = match chart.mark {
                    Mark::Dot => {
                        root.draw(&Circle::new((x, y), 5, colour(s).filled()))?;
                        x + 5
                    }
                    Mark::Bar => {
                        let half = (slot * 2 / 5).max(4);
                        root.draw(&Rectangle::new(
                            [(plot_left, y - half), (x, y + half)],
                            colour(s).filled(),
                        ))?;
                        x
                    }
                };
                if printed {
                    root.draw(&Text::new(
                        (chart.value)(value),
                        (end + 5, y),
                        text(12.0, &INK, (HPos::Left, VPos::Center)),
                    ))?;
                }
            }
        }
    }
    Ok(height)
}

/// The legend's entries, `(x, series, name)` per line, each line centred
/// and wrapped to the width; empty when no panel has more than one series.
fn legend_lines(panels: &[Panel]) -> Vec<Vec<(i32, usize, String)>> {
    let Some(panel) = panels.iter().max_by_key(|p| p.series.len()) else {
        return Vec::new();
    };
    if panel.series.len() < 2 {
        return Vec::new();
    }
    let room = WIDTH as i32 - 24;
    let mut lines: Vec<Vec<(i32, usize, String)>> = vec![Vec::new()];
    let mut x = 0;
    for (s, series) in panel.series.iter().enumerate() {
        let width = 18 + text_width(&series.name, 13.0);
        if x > 0 && x + width > room {
            lines.push(Vec::new());
            x = 0;
        }
        if let Some(line) = lines.last_mut() {
            line.push((x, s, series.name.clone()));
        }
        x += width + 24;
    }
    for line in &mut lines {
        let width = line
            .last()
            .map_or(0, |(x, _, name)| x + 18 + text_width(name, 13.0));
        let start = (WIDTH as i32 - width) / 2;
        for entry in line.iter_mut() {
            entry.0 += start;
        }
    }
    lines
}

/// The grid lines, tick labels, frame and axis name of one panel whose
/// plotting area is `(left, right, top, bottom)`.
fn draw_axis(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    chart: &Rows<'_>,
    (left, right, top, bottom): (i32, i32, i32, i32),
    ticks: &[f64],
    to_x: &dyn Fn(f64) -> i32,
) -> anyhow::Result<()> {
    for &tick in ticks {
        let x = to_x(tick);
        root.draw(&PathElement::new(
            [(x, top), (x, bottom + 4)],
            GRID.stroke_width(1),
        ))?;
        root.draw(&Text::new(
            tick_label(chart.scale, tick),
            (x, bottom + 8),
            text(12.0, &INK, (HPos::Center, VPos::Top)),
        ))?;
    }
    let axis = BLACK.mix(0.6).stroke_width(1);
    root.draw(&PathElement::new([(left, top), (left, bottom)], axis))?;
    root.draw(&PathElement::new([(left, bottom), (right, bottom)], axis))?;
    root.draw(&Text::new(
        match chart.scale {
            Scale::Linear => chart.axis.to_owned(),
            Scale::Log10 => format!("{} (log scale)", chart.axis),
        },
        ((left + right) / 2, bottom + 28),
        text(13.0, &INK, (HPos::Center, VPos::Top)),
    ))?;
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
    /// Its label, written at the top.
    pub label: String,
}

/// Writes a line chart to `path` as SVG, [`WIDTH`] px wide: `x_scale` on
/// the x axis, `y_scale` on the y axis, each line with point markers, the
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
    (x_scale, y_scale): (Scale, Scale),
) -> anyhow::Result<()> {
    let (low, high) = y_scale
        .axis_range(curves.iter().flat_map(|c| c.points.iter().map(|p| p.1)))
        .ok_or_else(|| anyhow!("{title}: no value to plot"))?;
    let (left, right) = x_scale
        .axis_range(
            curves
                .iter()
                .flat_map(|c| c.points.iter().map(|p| p.0))
                .chain(markers.iter().map(|m| m.x)),
        )
        .ok_or_else(|| anyhow!("{title}: no x value"))?;
    let to_x = |x: f64| x_scale.to_axis(x);
    let root = SVGBackend::new(path, (WIDTH, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart: ChartContext<'_, SVGBackend<'_>, Cartesian2d<RangedCoordf64, RangedCoordf64>> =
        ChartBuilder::on(&root)
            .caption(title, font(17.0))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(left..right, low..high)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .axis_desc_style(font(13.0))
        .x_labels(0)
        .y_labels(0)
        .disable_mesh()
        .draw()?;
    // Ticks and their labels, drawn here: plotters' own key points do not
    // fall on 2 and 5 times a decade.
    for x in x_scale.ticks(left, right) {
        chart.draw_series(LineSeries::new([(x, low), (x, high)], GRID.stroke_width(1)))?;
        let (px, py) = chart.backend_coord(&(x, low));
        root.draw(&Text::new(
            tick_label(x_scale, x),
            (px, py + 6),
            text(12.0, &INK, (HPos::Center, VPos::Top)),
        ))?;
    }
    for y in y_scale.ticks(low, high) {
        chart.draw_series(LineSeries::new(
            [(left, y), (right, y)],
            GRID.stroke_width(1),
        ))?;
        let (px, py) = chart.backend_coord(&(left, y));
        root.draw(&Text::new(
            tick_label(y_scale, y),
            (px - 6, py),
            text(12.0, &INK, (HPos::Right, VPos::Center)),
        ))?;
    }
    for marker in markers {
        let Some(x) = to_x(marker.x) else { continue };
        chart.draw_series(LineSeries::new([(x, low), (x, high)], GREY.stroke_width(1)))?;
        let offset = (right - left) * 0.01;
        chart.draw_series([Text::new(
            marker.label.clone(),
            (x + offset, low + (high - low) * 0.45),
            text(12.0, &GREY, (HPos::Left, VPos::Top)),
        )])?;
    }
    for (i, curve) in curves.iter().enumerate() {
        let points: Vec<(f64, f64)> = curve
            .points
            .iter()
            .filter_map(|&(x, y)| Some((to_x(x)?, y_scale.to_axis(y)?)))
            .collect();
        let stroke = if curve.reference {
            BLACK.mix(0.45).stroke_width(1)
        } else {
            colour(i).stroke_width(2)
        };
        chart
            .draw_series(LineSeries::new(points.clone(), stroke))?
            .label(curve.name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], stroke));
        if !curve.reference {
            let fill = colour(i).filled();
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, fill)))?;
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
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{
        lines, nice_step, rows, short, stacked, tick_label, Line, Mark, Marker, Panel, Rows, Scale,
        Series, WIDTH,
    };

    #[test]
    fn ranges_and_ticks() {
        assert_eq!(Scale::Linear.axis_range([0.9, 2.11]), Some((0.0, 2.5)));
        assert_eq!(Scale::Linear.axis_range([]), None);
        assert_eq!(Scale::Linear.axis_range([0.0]), Some((0.0, 1.0)));
        assert_eq!(
            Scale::Log10.axis_range([0.0, -1.0]),
            None,
            "nothing drawable"
        );
        assert_eq!(Scale::Log10.axis_range([1e4, 1e4]), Some((3.9, 4.4)));
        assert_eq!(Scale::Log10.ticks(3.9, 8.6), [4.0, 5.0, 6.0, 7.0, 8.0]);
        assert_eq!(Scale::Log10.ticks(1.2, 1.9).len(), 2, "20 and 50");
        assert_eq!(
            Scale::Linear.ticks(0.0, 2.5),
            [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
        );
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(6.9e6), 1e7);
        assert_eq!(nice_step(1.2), 2.0);
    }

    #[test]
    fn log_ticks_read_as_their_values() {
        let labels: Vec<String> = Scale::Log10
            .ticks(-0.4, 2.1)
            .into_iter()
            .map(|t| tick_label(Scale::Log10, t))
            .collect();
        assert_eq!(labels, ["0.5", "1", "2", "5", "10", "20", "50", "100"]);
        assert_eq!(tick_label(Scale::Log10, 6.0), "1M");
        assert_eq!(tick_label(Scale::Linear, 2.5e6), "2.5M");
    }

    #[test]
    fn scale_round_trips() {
        for v in [0.5, 3.0, 1e7] {
            let back = Scale::Log10.from_axis(Scale::Log10.to_axis(v).expect("positive"));
            assert!((back - v).abs() / v < 1e-12);
        }
        assert_eq!(Scale::Log10.to_axis(0.0), None);
        assert_eq!(Scale::Linear.to_axis(f64::NAN), None);
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short(1_000_000.0), "1M");
        assert_eq!(short(1_500.0), "1.5k");
        assert_eq!(short(0.25), "0.25");
        assert_eq!(short(0.001), "1.00e-3");
        assert_eq!(short(2.0e9), "2G");
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ptm-benches-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        dir.join(name)
    }

    /// The SVG's root width and its smallest font size.
    fn width_and_smallest_font(svg: &str) -> (f64, f64) {
        let number = |s: &str| -> f64 {
            let end = s.find('"').expect("a closing quote");
            s[..end].parse().expect("a number")
        };
        let width = number(&svg[svg.find("width=\"").expect("a width") + 7..]);
        let smallest = svg
            .match_indices("font-size=\"")
            .map(|(at, m)| number(&svg[at + m.len()..]))
            .fold(f64::INFINITY, f64::min);
        (width, smallest)
    }

    #[test]
    fn a_rows_chart_fits_and_says_n_a() {
        let path = temp("rows.svg");
        let panel = |title: &str| Panel {
            title: title.into(),
            rows: vec![
                "ptm ThreadPool".into(),
                "rayon spawn".into(),
                "a new thread per job".into(),
            ],
            series: vec![
                Series {
                    name: "median (p50)".into(),
                    values: vec![Some(5e3), Some(4e4), None],
                },
                Series {
                    name: "99th percentile (p99)".into(),
                    values: vec![Some(9e3), Some(8e4), None],
                },
            ],
        };
        let chart = Rows {
            title: "Latency",
            axis: "microseconds",
            scale: Scale::Log10,
            mark: Mark::Dot,
            value: short,
        };
        rows(&path, &chart, &[panel("unpinned"), panel("pinned")]).expect("drawing");
        let svg = std::fs::read_to_string(&path).expect("reading back");
        assert!(svg.starts_with("<svg"), "{}", &svg[..50.min(svg.len())]);
        for text in [
            "Latency",
            "unpinned",
            "a new thread per job",
            "99th percentile (p99)",
            "10k",
            "n/a",
            "40k",
            "log scale",
        ] {
            assert!(svg.contains(text), "no {text:?} in the SVG");
        }
        let (width, smallest) = width_and_smallest_font(&svg);
        assert_eq!(width, f64::from(WIDTH));
        assert!(smallest >= 12.0, "text of {smallest} px");

        let bars = Rows {
            mark: Mark::Bar,
            ..chart
        };
        let error = rows(&path, &bars, &[panel("x")]).expect_err("bars on a log axis");
        assert!(error.to_string().contains("log axis"), "{error}");
        let linear = Rows {
            scale: Scale::Linear,
            ..bars
        };
        rows(&path, &linear, &[panel("x")]).expect("bars on a linear axis");
        assert!(rows(&path, &linear, &[]).is_err(), "nothing to draw");
        std::fs::remove_file(&path).expect("cleaning up");
    }

    #[test]
    fn stacked_charts_keep_their_own_axes() {
        let path = temp("stacked.svg");
        let panel = |values: Vec<Option<f64>>| Panel {
            title: String::new(),
            rows: vec!["a thread".into(), "a process".into()],
            series: vec![Series {
                name: String::new(),
                values,
            }],
        };
        let times = Rows {
            title: "Start one",
            axis: "microseconds",
            scale: Scale::Log10,
            mark: Mark::Dot,
            value: short,
        };
        let memory = Rows {
            title: "Memory",
            axis: "KiB per unit",
            scale: Scale::Linear,
            mark: Mark::Bar,
            value: short,
        };
        let first = [panel(vec![Some(40.0), Some(700.0)])];
        let second = [panel(vec![Some(10.0), None])];
        stacked(&path, &[(&times, &first), (&memory, &second)]).expect("drawing");
        let svg = std::fs::read_to_string(&path).expect("reading back");
        for text in [
            "Start one",
            "microseconds (log scale)",
            "Memory",
            "KiB per unit",
            "n/a",
        ] {
            assert!(svg.contains(text), "no {text:?} in the SVG");
        }
        let (width, smallest) = width_and_smallest_font(&svg);
        assert!(
            width == f64::from(WIDTH) && smallest >= 12.0,
            "{width} {smallest}"
        );
        // One chart alone is what `rows` draws.
        rows(&path, &times, &first).expect("drawing one");
        let one = std::fs::read_to_string(&path).expect("reading back");
        stacked(&path, &[(&times, &first)]).expect("drawing one, stacked");
        assert_eq!(std::fs::read_to_string(&path).expect("reading back"), one);
        assert!(stacked(&path, &[]).is_err(), "nothing to draw");
        std::fs::remove_file(&path).expect("cleaning up");
    }

    #[test]
    fn a_line_chart_has_its_marker() {
        let path = temp("lines.svg");
        let curve = |name: &str, k: f64| Line {
            name: name.into(),
            points: (1..=10).map(|n| (f64::from(n), k * f64::from(n))).collect(),
            reference: false,
        };
        lines(
            &path,
            "Threads",
            ("threads", "ms"),
            &[curve("sleep", 1.0), curve("cpu", 20.0)],
            &[Marker {
                x: 2.0,
                label: "2 CPUs".into(),
            }],
            (Scale::Log10, Scale::Linear),
        )
        .expect("drawing");
        let svg = std::fs::read_to_string(&path).expect("reading back");
        for text in ["Threads", "2 CPUs", "sleep", "cpu", "threads"] {
            assert!(svg.contains(text), "no {text:?} in the SVG");
        }
        let (width, smallest) = width_and_smallest_font(&svg);
        assert!(
            width <= f64::from(WIDTH) && smallest >= 12.0,
            "{width} {smallest}"
        );
        std::fs::remove_file(&path).expect("cleaning up");
    }
}
