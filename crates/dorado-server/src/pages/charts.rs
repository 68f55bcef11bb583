//! Trend charts as inline SVG, drawn on the server: no script, no font
//! files, and a `<title>` per bucket so hovering shows the exact figure.
//! Colours come from the stylesheet through class names (the page's CSP
//! allows no inline styles).

use std::fmt::Write;

const W: f64 = 320.0;
const H: f64 = 120.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 6.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 18.0;

/// One bucket's figure; `None` where nothing was measured.
pub struct Point {
    /// The bucket, in full (`Week of 4 Mar 2024`), for the hover title.
    pub label: String,
    /// The bucket, short (`4 Mar`), under the axis.
    pub short: String,
    pub value: Option<f64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Bars,
    Line,
}

/// The chart, or `None` when no bucket has a figure (the page then says
/// what to do instead of drawing an empty frame).
pub fn draw(
    title: &str,
    points: &[Point],
    style: Style,
    show: impl Fn(f64) -> String,
) -> Option<String> {
    let max = points
        .iter()
        .filter_map(|p| p.value)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))?;
    let top = nice(max);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let n = points.len().max(1) as f64;
    let slot = pw / n;
    let x = |i: usize| LEFT + slot * (i as f64 + 0.5);
    let y = |v: f64| TOP + ph - (v / top) * ph;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{title}">"#
    );
    for (frac, label) in [(0.0, show(0.0)), (0.5, show(top / 2.0)), (1.0, show(top))] {
        let gy = y(top * frac);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{gy:.1}" y2="{gy:.1}"/><text class="axis" x="{}" y="{:.1}" text-anchor="end">{label}</text>"#,
            W - RIGHT,
            LEFT - 4.0,
            gy + 3.0
        );
    }
    match style {
        Style::Bars => {
            let bw = (slot * 0.7).max(1.0);
            for (i, p) in points.iter().enumerate() {
                if let Some(v) = p.value {
                    let (top_y, h) = (y(v), (v / top) * ph);
                    let _ = write!(
                        svg,
                        r#"<rect class="bar" x="{:.1}" y="{top_y:.1}" width="{bw:.1}" height="{:.1}"/>"#,
                        x(i) - bw / 2.0,
                        h.max(if v > 0.0 { 1.0 } else { 0.0 })
                    );
                }
            }
        }
        Style::Line => {
            let mut path = String::new();
            let mut pen_down = false;
            for (i, p) in points.iter().enumerate() {
                match p.value {
                    Some(v) => {
                        let _ = write!(
                            path,
                            "{}{:.1},{:.1} ",
                            if pen_down { "L" } else { "M" },
                            x(i),
                            y(v)
                        );
                        pen_down = true;
                    }
                    None => pen_down = false,
                }
            }
            let _ = write!(svg, r#"<path class="line" d="{}"/>"#, path.trim_end());
            for (i, p) in points.iter().enumerate() {
                if let Some(v) = p.value {
                    let _ = write!(
                        svg,
                        r#"<circle class="dot" cx="{:.1}" cy="{:.1}" r="2.2"/>"#,
                        x(i),
                        y(v)
                    );
                }
            }
        }
    }
    // Hover targets: a full-height strip per bucket, with its exact figure.
    for (i, p) in points.iter().enumerate() {
        let figure = p.value.map_or_else(|| "no data".to_owned(), &show);
        let _ = write!(
            svg,
            r#"<rect class="hit" x="{:.1}" y="{TOP}" width="{slot:.1}" height="{ph:.1}"><title>{}: {figure}</title></rect>"#,
            LEFT + slot * i as f64,
            p.label
        );
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = write!(
            svg,
            r#"<text class="axis" x="{LEFT}" y="{}">{}</text>"#,
            H - 4.0,
            first.short
        );
        if points.len() > 1 {
            let _ = write!(
                svg,
                r#"<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>"#,
                W - RIGHT,
                H - 4.0,
                last.short
            );
        }
    }
    svg.push_str("</svg>");
    Some(svg)
}

/// The smallest 1, 2 or 5 times a power of ten that is at least `v`.
fn nice(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * power)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: Option<f64>) -> Point {
        Point {
            label: "w".into(),
            short: "w".into(),
            value: v,
        }
    }

    #[test]
    fn no_figure_no_chart() {
        assert!(draw("t", &[p(None), p(None)], Style::Line, |v| v.to_string()).is_none());
    }

    #[test]
    fn a_chart_has_a_title_per_bucket() {
        let svg = draw("t", &[p(Some(3.0)), p(None)], Style::Bars, |v| {
            format!("{v}")
        })
        .unwrap();
        assert_eq!(svg.matches("<title>").count(), 2);
        assert!(svg.contains("w: no data"));
        assert_eq!(nice(3.0), 5.0);
        assert_eq!(nice(0.12), 0.2);
    }
}
