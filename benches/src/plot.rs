//! SVG plots for `report`, drawn with plotters' SVG backend: grouped bar
//! charts ([`bars`]) and line charts ([`lines`]).
//!
//! No font files and no system packages are involved: without plotters'
//! `ttf` feature, text is laid out with a fixed per-character estimate and
//! written as SVG `<text>` elements, which the viewer renders in its own
//! sans-serif font.
//!
//! A logarithmic axis ([`Scale::Log10`]) is drawn as a linear axis over
//! `log10` of the values, with ticks labelled at whole decades.
//!
//! ```no_run
//! use ptm_benches::plot::{bars, BarPanel, Scale, Series};
//!
//! let panel = BarPanel {
//!     title: "2 workers".into(),
//!     groups: vec!["ptm".into(), "rayon".into()],
//!     series: vec![Series { name: "jobs/s".into(), values: vec![Some(2.6e7), Some(5.1e6)] }],
//! };
//! bars("pool.svg".as_ref(), "Pool dispatch", "jobs/s", &[panel], Scale::Log10)?;
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::path::Path;

use anyhow::{anyhow, Context};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// How values map onto the vertical axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// From zero, linearly.
    Linear,
    /// Logarithmically, in whole decades (values must be positive; others
    /// are not drawn).
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
    /// of `values` with room above the largest one for labels and a legend:
    /// from 0 to 1.3 times the maximum (linear), or from the decade at or
    /// below the minimum to a decade boundary at least one decade above the
    /// maximum (log).
    /// `None` if there is no drawable value.
    ///
    /// ```
    /// use ptm_benches::plot::Scale;
    ///
    /// assert_eq!(Scale::Linear.axis_range([2.0, 10.0]), Some((0.0, 13.0)));
    /// assert_eq!(Scale::Log10.axis_range([20.0, 3000.0]), Some((1.0, 5.0)));
    /// ```
    pub fn axis_range(self, values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
        let positions: Vec<f64> = values.into_iter().filter_map(|v| self.to_axis(v)).collect();
        let min = positions.iter().copied().reduce(f64::min)?;
        let max = positions.iter().copied().reduce(f64::max)?;
        match self {
            Scale::Linear => {
                let top = if max > 0.0 { max * 1.3 } else { 1.0 };
                Some((min.min(0.0), top))
            }
            Scale::Log10 => {
                let low = min.floor();
                // At least a decade of room above the top bar, for its label
                // and the legend.
                let high = (max + 1.0).ceil().max(low + 1.0);
                Some((low, high))
            }
        }
    }
}

/// `1_234_567.0` as "1.23M", `0.0123` as "0.0123": short labels for bars
/// and axes.
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

/// One named series of values, one per group (`None`: not measured).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend's text.
    pub name: String,
    /// One value per group of the panel, in the panel's group order.
    pub values: Vec<Option<f64>>,
}

/// One panel of a bar chart: groups side by side along the x axis, one bar
/// per series in each group.
#[derive(Debug, Clone, PartialEq)]
pub struct BarPanel {
    /// The panel's caption.
    pub title: String,
    /// The groups' labels, left to right.
    pub groups: Vec<String>,
    /// The series, each drawn in its own colour in every group.
    pub series: Vec<Series>,
}

/// A colour for series `index`, the same in every chart.
fn colour(index: usize) -> RGBColor {
    const COLOURS: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    COLOURS[index % COLOURS.len()]
}

/// Tick labels of an axis: values at whole decades on a log axis (others
/// blank), short numbers on a linear one.
fn tick_label(scale: Scale, position: f64) -> String {
    match scale {
        Scale::Linear => short(position),
        Scale::Log10 if (position - position.round()).abs() < 1e-9 => {
            short(scale.from_axis(position.round()))
        }
        Scale::Log10 => String::new(),
    }
}

/// Writes a grouped bar chart of one or more panels side by side, sharing
/// one vertical axis range, to `path` as SVG.
///
/// # Errors
///
/// If there is nothing to draw or the file cannot be written.
pub fn bars(
    path: &Path,
    title: &str,
    y_label: &str,
    panels: &[BarPanel],
    scale: Scale,
) -> anyhow::Result<()> {
    let all = panels
        .iter()
        .flat_map(|p| p.series.iter())
        .flat_map(|s| s.values.iter().flatten().copied());
    let (low, high) = scale
        .axis_range(all)
        .ok_or_else(|| anyhow!("{title}: no value to plot"))?;
    // Room for every bar, and for every group's label under its bars.
    let content = panels
        .iter()
        .map(|p| (p.groups.len() * p.series.len().max(1) * 30).max(p.groups.len() * 120))
        .max()
        .unwrap_or(120);
    let panel_width = (content as u32 + 160).clamp(480, 1400);
    let width = panel_width * panels.len().max(1) as u32;
    let root = SVGBackend::new(path, (width, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 20))?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for (area, panel) in areas.iter().zip(panels) {
        draw_bar_panel(area, panel, y_label, scale, (low, high))?;
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn draw_bar_panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    panel: &BarPanel,
    y_label: &str,
    scale: Scale,
    (low, high): (f64, f64),
) -> anyhow::Result<()> {
    let groups = panel.groups.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5f64..groups as f64 - 0.5, low..high)?;
    let group_label = |x: &f64| {
        let index = x.round();
        if (x - index).abs() < 1e-9 && index >= 0.0 {
            panel
                .groups
                .get(index as usize)
                .cloned()
                .unwrap_or_default()
        } else {
            String::new()
        }
    };
    let y_ticks = match scale {
        Scale::Log10 => (high - low).round() as usize + 1,
        Scale::Linear => 8,
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(groups)
        .x_label_formatter(&group_label)
        .x_label_style(("sans-serif", 12))
        .y_labels(y_ticks)
        .y_label_formatter(&|y: &f64| tick_label(scale, *y))
        .y_desc(y_label)
        .draw()?;

    let series_count = panel.series.len().max(1);
    let slot = 0.8 / series_count as f64;
    let label_bars = panel.groups.len() * series_count <= 32;
    for (s, series) in panel.series.iter().enumerate() {
        let fill = colour(s);
        let mut rects = Vec::new();
        let mut labels = Vec::new();
        for (g, value) in series.values.iter().enumerate().take(panel.groups.len()) {
            let Some(value) = *value else { continue };
            let Some(top) = scale.to_axis(value) else {
                continue;
            };
            let x0 = g as f64 - 0.4 + s as f64 * slot;
            let x1 = x0 + slot * 0.9;
            rects.push(Rectangle::new([(x0, low), (x1, top)], fill.filled()));
            if label_bars {
                let style = TextStyle::from(("sans-serif", 10).into_font())
                    .pos(Pos::new(HPos::Center, VPos::Bottom));
                labels.push(Text::new(short(value), ((x0 + x1) / 2.0, top), style));
            }
        }
        chart
            .draw_series(rects)?
            .label(series.name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], fill.filled()));
        chart.draw_series(labels)?;
    }
    if panel.series.len() > 1 || panel.series.iter().any(|s| !s.name.is_empty()) {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()?;
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
    /// A reference curve: drawn thin and grey-toned, without markers.
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

/// Writes a line chart to `path` as SVG: `x_scale` on the x axis (a log x
/// axis starts at 1), `y_scale` on the y axis, each line with point
/// markers, and optional vertical markers.
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
    let max_x = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .chain(markers.iter().map(|m| m.x))
        .fold(1.0f64, f64::max);
    // The x axis in axis positions: from 0 (linear) or from 1 = 10^0 (log).
    let (left, right) = match x_scale {
        Scale::Linear => (0.0, max_x * 1.03),
        Scale::Log10 => (0.0, max_x.log10() * 1.03 + 0.02),
    };
    let to_x = |x: f64| x_scale.to_axis(x);
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart: ChartContext<'_, SVGBackend<'_>, Cartesian2d<RangedCoordf64, RangedCoordf64>> =
        ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(left..right, low..high)?;
    let ticks = |scale: Scale, low: f64, high: f64| match scale {
        Scale::Log10 => (high - low).round() as usize * 2 + 1,
        Scale::Linear => 10,
    };
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_labels(ticks(x_scale, left, right.floor()))
        .y_labels(ticks(y_scale, low, high))
        .y_label_formatter(&|y: &f64| tick_label(y_scale, *y))
        .x_label_formatter(&|x: &f64| tick_label(x_scale, *x))
        .draw()?;
    for marker in markers {
        let Some(x) = to_x(marker.x) else { continue };
        let grey = RGBColor(90, 90, 90);
        chart.draw_series(LineSeries::new([(x, low), (x, high)], grey.stroke_width(1)))?;
        let style = TextStyle::from(("sans-serif", 12).into_font())
            .color(&grey)
            .pos(Pos::new(HPos::Left, VPos::Top));
        let offset = (right - left) * 0.01;
        chart.draw_series([Text::new(
            marker.label.clone(),
            (x + offset, high - (high - low) * 0.02),
            style,
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
        let legend_style = stroke;
        chart
            .draw_series(LineSeries::new(points.clone(), stroke))?
            .label(curve.name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], legend_style));
        if !curve.reference {
            let fill = colour(i).filled();
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, fill)))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{bars, lines, short, tick_label, BarPanel, Line, Marker, Scale, Series};

    #[test]
    fn log_ranges_are_whole_decades_with_room() {
        assert_eq!(Scale::Log10.axis_range([1e6, 2.6e7]), Some((6.0, 9.0)));
        assert_eq!(Scale::Log10.axis_range([5.0]), Some((0.0, 2.0)));
        assert_eq!(
            Scale::Log10.axis_range([0.0, -1.0]),
            None,
            "nothing drawable"
        );
        assert_eq!(Scale::Linear.axis_range([]), None);
        assert_eq!(Scale::Linear.axis_range([0.0]), Some((0.0, 1.0)));
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

    #[test]
    fn log_ticks_only_at_decades() {
        assert_eq!(tick_label(Scale::Log10, 3.0), "1k");
        assert_eq!(tick_label(Scale::Log10, 3.5), "");
        assert_eq!(tick_label(Scale::Linear, 2.5), "2.5");
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ptm-benches-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        dir.join(name)
    }

    #[test]
    fn a_bar_chart_is_an_svg_with_its_labels() {
        let path = temp("bars.svg");
        let panel = |title: &str| BarPanel {
            title: title.into(),
            groups: vec!["ptm".into(), "rayon-spawn".into(), "book".into()],
            series: vec![
                Series {
                    name: "p50".into(),
                    values: vec![Some(5e3), Some(4e4), None],
                },
                Series {
                    name: "p99".into(),
                    values: vec![Some(9e3), Some(8e4), Some(1e5)],
                },
            ],
        };
        bars(
            &path,
            "Latency",
            "ns",
            &[panel("unpinned"), panel("pinned")],
            Scale::Log10,
        )
        .expect("drawing");
        let svg = std::fs::read_to_string(&path).expect("reading back");
        assert!(svg.starts_with("<svg"), "{}", &svg[..50.min(svg.len())]);
        for text in ["Latency", "unpinned", "rayon-spawn", "p99", "10k"] {
            assert!(svg.contains(text), "no {text:?} in the SVG");
        }
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
        assert!(bars(&path, "empty", "x", &[], Scale::Linear).is_err());
        std::fs::remove_file(&path).expect("cleaning up");
    }
}
