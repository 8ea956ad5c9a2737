//! Drawing, and only drawing: a [`Chart`] (lines, markers, axis titles) becomes an SVG string or
//! a PNG file through plotters. Axis ranges and ticks come from `scale`; lines arrive thinned (at
//! most [`MAX_DRAWN_POINTS`], by `downsample` when the chart is built); nothing here computes a
//! statistic. Text is laid out with a font embedded in
//! the binary (DejaVu Sans), so PNGs render the same on machines without fonts.

use std::path::Path;
use std::sync::Once;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::scale::{self, Scale};

/// Points per line drawn; longer curves are reduced with LTTB.
pub const MAX_DRAWN_POINTS: usize = 1500;

/// Run colours, by run index; the HTML table uses the same (Tableau 10).
pub const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (214, 39, 40),
    (44, 160, 44),
    (255, 127, 14),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// The colour of run `i` as `#rrggbb`.
pub fn hex(i: usize) -> String {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn color(i: usize) -> RGBColor {
    if i == usize::MAX {
        return RGBColor(110, 110, 110);
    }
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Legend text; empty for lines that should not appear in the legend.
    pub label: String,
    /// Run index, for the colour.
    pub color: usize,
    /// Points, sorted by x.
    pub points: Vec<(f64, f64)>,
    /// Drawn faint (raw values under a smoothed curve).
    pub faint: bool,
    /// Drawn as dots, not joined (one point per run on a trade-off chart).
    pub dots: bool,
}

/// A vertical marker.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Position on the x-axis.
    pub x: f64,
    /// Short text drawn at the top.
    pub label: String,
    /// Run index, for the colour; `usize::MAX` for a marker shared by all runs (grey).
    pub color: usize,
}

/// A chart to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Caption.
    pub title: String,
    /// Axis titles.
    pub x_label: String,
    pub y_label: String,
    /// Lines, drawn in order.
    pub lines: Vec<Line>,
    /// Vertical markers.
    pub rules: Vec<Rule>,
    /// A horizontal reference line (1.0 on a ratio chart).
    pub hline: Option<f64>,
    /// Size in pixels.
    pub width: u32,
    pub height: u32,
}

impl Chart {
    /// Whether there is anything to draw.
    pub fn is_empty(&self) -> bool {
        self.lines.iter().all(|l| l.points.is_empty())
    }

    /// The chart with every text (title, axis titles, legend and marker labels) as one line of
    /// printable characters: labels come from paths and logs, and an SVG with a control
    /// character in it is not well-formed XML.
    fn printable(&self) -> Chart {
        let p = |s: &str| super::text::one_line(s).into_owned();
        let mut printable = Chart {
            title: p(&self.title),
            x_label: p(&self.x_label),
            y_label: p(&self.y_label),
            lines: self
                .lines
                .iter()
                .map(|l| Line {
                    label: p(&l.label),
                    ..l.clone()
                })
                .collect(),
            rules: self
                .rules
                .iter()
                .map(|r| Rule {
                    label: p(&r.label),
                    ..r.clone()
                })
                .collect(),
            ..self.clone()
        };
        printable.note_hidden_lines();
        printable
    }

    /// Marks in the legend a line drawn over by a later one with the same points (two runs that
    /// logged the same values: a rerun, a copy of the baseline), which would otherwise not be
    /// seen at all: its label says which line it is under.
    fn note_hidden_lines(&mut self) {
        let under: Vec<Option<String>> = (0..self.lines.len())
            .map(|i| {
                let line = &self.lines[i];
                if line.label.is_empty() || line.points.is_empty() {
                    return None;
                }
                // The last one drawn over it is the one seen.
                self.lines[i + 1..]
                    .iter()
                    .rev()
                    .find(|l| {
                        !l.label.is_empty()
                            && !l.faint
                            && l.dots == line.dots
                            && l.points == line.points
                    })
                    .map(|l| l.label.clone())
            })
            .collect();
        for (line, over) in self.lines.iter_mut().zip(under) {
            if let Some(over) = over {
                line.label = format!("{} (under {over})", line.label);
            }
        }
    }

    /// Why the chart cannot be drawn, if it cannot: its values span a range whose width does not
    /// fit in a float (losses of 1e308 and −1e308), which has no pixel mapping. Such a chart is
    /// drawn as a note instead, and the report warns.
    pub fn undrawable(&self) -> Option<String> {
        let range = |vals: &mut dyn Iterator<Item = f64>| {
            vals.filter(|v| v.is_finite())
                .fold(None, |r: Option<(f64, f64)>, v| {
                    Some(r.map_or((v, v), |(a, b)| (a.min(v), b.max(v))))
                })
        };
        let pts = || self.lines.iter().flat_map(|l| l.points.iter());
        let x = range(&mut pts().map(|p| p.0).chain(self.rules.iter().map(|r| r.x)));
        let y = range(&mut pts().map(|p| p.1).chain(self.hline));
        for (axis, r) in [("x", x), ("y", y)] {
            if let Some((lo, hi)) = r {
                let pad = (hi - lo) * 0.1;
                if !scale::drawable(lo.min(0.0) - pad, hi + pad) {
                    return Some(format!(
                        "chart \"{}\" not drawn: its {axis} values span {} to {}, beyond what a chart can map",
                        self.title,
                        crate::model::format_number(lo),
                        crate::model::format_number(hi)
                    ));
                }
            }
        }
        None
    }
}

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
        // The font is compiled in and known to parse; a failure would only lose text.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

/// Renders a chart as a standalone SVG document.
pub fn svg(chart: &Chart) -> Result<String> {
    register_font();
    let mut out = String::new();
    {
        let root =
            SVGBackend::with_string(&mut out, (chart.width, chart.height)).into_drawing_area();
        draw(&root, chart, 1.0)?;
        root.present()
            .map_err(|e| anyhow!("drawing {}: {e}", chart.title))?;
    }
    Ok(out)
}

/// Several charts side by side under a one-line subtitle, drawn at `scale` (2 for a sharp PNG):
/// `--plot`'s picture for a chat or an issue.
pub fn panels_png(charts: &[Chart], subtitle: &str, path: &Path, scale: f64) -> Result<()> {
    register_font();
    let (w, h) = panel_size(charts, scale);
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    draw_panels(&root, charts, subtitle, scale)?;
    root.present()
        .map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}

/// [`panels_png`] as an SVG document.
pub fn panels_svg(charts: &[Chart], subtitle: &str) -> Result<String> {
    register_font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, panel_size(charts, 1.0)).into_drawing_area();
        draw_panels(&root, charts, subtitle, 1.0)?;
        root.present()
            .map_err(|e| anyhow!("drawing the plot: {e}"))?;
    }
    Ok(out)
}

/// Subtitle band height at scale 1.
const SUBTITLE: u32 = 30;

fn panel_size(charts: &[Chart], scale: f64) -> (u32, u32) {
    let w: u32 = charts.iter().map(|c| c.width).sum();
    let h = charts.iter().map(|c| c.height).max().unwrap_or(0) + SUBTITLE;
    (
        (f64::from(w.max(1)) * scale) as u32,
        (f64::from(h) * scale) as u32,
    )
}

fn draw_panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    charts: &[Chart],
    subtitle: &str,
    scale: f64,
) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing the plot: {e}");
    root.fill(&WHITE).map_err(err)?;
    let subtitle = super::text::one_line(subtitle);
    root.draw(&Text::new(
        subtitle.into_owned(),
        ((10.0 * scale) as i32, (8.0 * scale) as i32),
        ("sans-serif", 14.0 * scale).into_font(),
    ))
    .map_err(err)?;
    let (_, below) = root.split_vertically((f64::from(SUBTITLE) * scale) as u32);
    let areas = below.split_evenly((1, charts.len().max(1)));
    for (area, chart) in areas.iter().zip(charts) {
        draw(area, chart, scale)?;
    }
    Ok(())
}

/// Renders a chart to a PNG file.
pub fn png(chart: &Chart, path: &Path) -> Result<()> {
    register_font();
    let root = BitMapBackend::new(path, (chart.width, chart.height)).into_drawing_area();
    draw(&root, chart, 1.0)?;
    root.present()
        .map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    Ok(())
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart, k: f64) -> Result<()> {
    let chart = &chart.printable();
    // Sizes in pixels at scale 1; a PNG is drawn at 2× by default.
    let px = |v: f64| (v * k).round() as u32;
    let pt = |v: f64| v * k;
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing {}: {e}", chart.title);
    root.fill(&WHITE).map_err(err)?;
    if let Some(why) = chart.undrawable() {
        root.draw(&Text::new(
            why,
            (px(12.0) as i32, px(24.0) as i32),
            ("sans-serif", pt(13.0)).into_font(),
        ))
        .map_err(err)?;
        return Ok(());
    }
    let xs = chart
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0));
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let xscale = if x0.is_finite() {
        scale::linear(x0.min(0.0), x1, 6)
    } else {
        scale::linear(0.0, 1.0, 6)
    };
    let ys = chart
        .lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .chain(chart.hline);
    let yscale = scale::for_values(ys, 6);
    // The legend has its own column right of the plotting area, so it never covers a curve.
    let labelled: Vec<&Line> = chart.lines.iter().filter(|l| !l.label.is_empty()).collect();
    let (plot_area, legend_area) = if labelled.is_empty() {
        (root.clone(), None)
    } else {
        let (w, _) = root.dim_in_pixel();
        let longest = labelled
            .iter()
            .map(|l| l.label.chars().count())
            .max()
            .unwrap_or(0);
        // About 6.6 px per character at size 11, the line sample and the gaps; at most a third.
        let want = (longest as f64 * 6.6 + 42.0) * k;
        let legend_w = (want.round() as u32).min(w / 3);
        let (left, right) = root.split_horizontally(w.saturating_sub(legend_w));
        (left, Some(right))
    };
    // Ticks from `scale` alone: plotters draws the mesh and labels at exactly those positions.
    let xticks: Vec<f64> = xscale.ticks.iter().map(|t| t.0).collect();
    let yticks: Vec<f64> = yscale.ticks.iter().map(|t| t.0).collect();
    let mut ctx = ChartBuilder::on(&plot_area)
        .margin(px(12.0))
        .caption(&chart.title, ("sans-serif", pt(17.0)).into_font())
        .x_label_area_size(px(42.0))
        .y_label_area_size(px(62.0))
        .build_cartesian_2d(
            Ticked::new(xscale.min, xscale.max, xticks),
            Ticked::new(yscale.min, yscale.max, yticks),
        )
        .map_err(err)?;
    let xfmt = |v: &f64| tick_label(&xscale, *v);
    let yfmt = |v: &f64| tick_label(&yscale, *v);
    ctx.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .x_labels(xscale.ticks.len())
        .y_labels(yscale.ticks.len())
        .x_label_formatter(&xfmt)
        .y_label_formatter(&yfmt)
        .label_style(("sans-serif", pt(12.0)))
        .axis_desc_style(("sans-serif", pt(13.0)))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(err)?;
    if let Some(h) = chart.hline.and_then(|h| yscale.pos(h)) {
        ctx.draw_series(DashedLineSeries::new(
            vec![(xscale.min, h), (xscale.max, h)],
            6,
            4,
            BLACK.mix(0.5).stroke_width(1),
        ))
        .map_err(err)?;
    }
    // Marker labels that would be printed over another label of the same row, or past the
    // plotting area's right edge, are dropped; their dashed lines stay.
    let plot_w = f64::from(plot_area.dim_in_pixel().0).max(1.0);
    let span = (xscale.max - xscale.min).max(f64::MIN_POSITIVE);
    let mut last_label_end: Vec<(usize, f64)> = Vec::new();
    for r in &chart.rules {
        let style = color(r.color).mix(0.55).stroke_width(px(1.0));
        ctx.draw_series(DashedLineSeries::new(
            vec![(r.x, yscale.min), (r.x, yscale.max)],
            3,
            3,
            style,
        ))
        .map_err(err)?;
        if r.label.is_empty() {
            continue;
        }
        // Labels of different runs' markers are staggered so that close ones stay readable.
        let row = if r.color == usize::MAX {
            0
        } else {
            r.color % 4 + 1
        };
        // About 6.3 px per character at size 10 (DejaVu Sans), in x units.
        let width = r.label.chars().count() as f64 * 6.3 * k / plot_w * span;
        let end = r.x + width;
        let collides = last_label_end.iter().any(|&(rw, e)| rw == row && r.x < e);
        let off_the_edge = end > xscale.max + span * 0.02;
        if collides || off_the_edge {
            continue;
        }
        last_label_end.push((row, end));
        let top = yscale.max - (yscale.max - yscale.min) * (0.02 + 0.055 * row as f64);
        ctx.draw_series(std::iter::once(Text::new(
            r.label.clone(),
            (r.x + span * 0.004, top),
            ("sans-serif", pt(10.0))
                .into_font()
                .color(&color(r.color).mix(0.8)),
        )))
        .map_err(err)?;
    }
    for line in &chart.lines {
        // Lines come thinned by whoever built the chart (the view's curves through
        // `downsample`, once); drawing never thins again.
        let pts: Vec<(f64, f64)> = line
            .points
            .iter()
            .copied()
            .filter_map(|(x, y)| Some((x, yscale.pos(y)?)))
            .collect();
        let c = color(line.color);
        let style = if line.faint {
            c.mix(0.25).stroke_width(px(1.0))
        } else {
            c.stroke_width(px(2.0))
        };
        if line.dots {
            ctx.draw_series(pts.into_iter().map(|p| Circle::new(p, px(5.0), c.filled())))
                .map_err(err)?;
        } else {
            ctx.draw_series(LineSeries::new(pts, style)).map_err(err)?;
        }
    }
    if let Some(area) = legend_area {
        // One row per labelled line: its sample (a dot for a dots series) and its label.
        let top = px(44.0) as i32;
        let row_h = px(18.0) as i32;
        let x0 = px(6.0) as i32;
        for (n, line) in labelled.iter().enumerate() {
            let y = top + n as i32 * row_h;
            let c = color(line.color);
            let sample = if line.faint { c.mix(0.35) } else { c.to_rgba() };
            if line.dots {
                area.draw(&Circle::new((x0 + px(9.0) as i32, y), px(4.0), c.filled()))
                    .map_err(err)?;
            } else {
                area.draw(&PathElement::new(
                    vec![(x0, y), (x0 + px(18.0) as i32, y)],
                    sample.stroke_width(px(2.0)),
                ))
                .map_err(err)?;
            }
            area.draw(&Text::new(
                line.label.clone(),
                (x0 + px(24.0) as i32, y - px(6.0) as i32),
                ("sans-serif", pt(11.0)).into_font(),
            ))
            .map_err(err)?;
        }
    }
    Ok(())
}

/// A linear axis whose ticks are exactly the scale's: plotters draws the mesh and asks for
/// labels at these positions only, so one tick generator (`scale`) decides them.
struct Ticked {
    range: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(lo: f64, hi: f64, ticks: Vec<f64>) -> Ticked {
        Ticked {
            range: (lo..hi).into(),
            ticks,
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.range.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.range()
    }
}

/// The label of a tick: the scale's own (plotters is given the scale's tick positions as its
/// key points, so every label it asks for is one of them); the value in the same compact form
/// otherwise.
fn tick_label(s: &Scale, v: f64) -> String {
    match s.ticks.iter().find(|t| t.0 == v) {
        Some(t) => t.1.clone(),
        None => scale::compact(if s.log { 10f64.powf(v) } else { v }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> Chart {
        Chart {
            title: "loss vs samples".into(),
            x_label: "samples seen".into(),
            y_label: "loss".into(),
            lines: vec![
                Line {
                    label: "a".into(),
                    color: 0,
                    points: vec![(0.0, 8.0), (100.0, 0.01), (200.0, 0.001)],
                    faint: false,
                    dots: false,
                },
                Line {
                    label: "b <x>".into(),
                    color: 1,
                    points: vec![(0.0, 8.0), (200.0, 0.5)],
                    faint: false,
                    dots: false,
                },
            ],
            rules: vec![Rule {
                x: 50.0,
                label: "epoch 1".into(),
                color: 0,
            }],
            hline: None,
            width: 640,
            height: 320,
        }
    }

    #[test]
    fn svg_has_lines_legend_and_escaped_text() {
        let s = svg(&chart()).expect("draws");
        assert!(s.starts_with("<svg"));
        assert!(s.matches("<polyline").count() >= 2, "one polyline per run");
        assert!(s.contains("b &lt;x&gt;"), "legend text is escaped");
        assert!(!s.contains("b <x>"));
        let texts: Vec<&str> = s
            .split("<text")
            .skip(1)
            .map(|t| {
                t.split('>')
                    .nth(1)
                    .unwrap_or("")
                    .split('<')
                    .next()
                    .unwrap_or("")
            })
            .collect();
        assert!(s.contains("0.001"), "log axis labels: {texts:?}");
    }

    #[test]
    fn overflowing_ranges_are_a_note_not_a_hang() {
        // Issue 13: losses of 1e308 and -1e308 used to loop forever in the tick generator.
        let mut c = chart();
        c.lines[0].points = vec![(0.0, 1e308), (1.0, -1e308)];
        assert!(c.undrawable().is_some());
        let s = svg(&c).expect("draws a note");
        assert!(s.contains("not drawn"));
        assert!(chart().undrawable().is_none());
    }

    #[test]
    fn control_characters_never_reach_the_svg() {
        let mut c = chart();
        c.lines[0].label = "run\u{1b}[2J".into();
        c.title = "t\u{7}".into();
        let s = svg(&c).expect("draws");
        assert!(
            !s.chars()
                .any(|ch| ch.is_control() && ch != '\n' && ch != '\t' && ch != '\r')
        );
        assert!(s.contains("run\\u{1b}[2J"));
    }

    #[test]
    fn a_line_under_an_identical_one_says_so_in_the_legend() {
        let mut c = chart();
        c.lines[1].points = c.lines[0].points.clone();
        let s = svg(&c).expect("draws");
        assert!(s.contains("a (under b &lt;x&gt;)"), "{s}");
        assert!(!s.contains("b &lt;x&gt; (under"));
        // Lines that differ anywhere are both seen: no note.
        let s = svg(&chart()).expect("draws");
        assert!(!s.contains("(under"));
    }

    #[test]
    fn png_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("c.png");
        png(&chart(), &p).expect("draws");
        let bytes = std::fs::read(&p).expect("written");
        assert!(bytes.starts_with(b"\x89PNG"));
    }
}
