//! Small server-rendered SVG charts (no script, no CDN): a bar per time slot, the latest on the
//! right, scaled to the largest value, each bar titled with its value for a hover. Only numbers
//! and this module's own text reach the markup.

use std::fmt::Write;

const WIDTH: f64 = 360.0;
const HEIGHT: f64 = 64.0;

/// An SVG document, ready to be placed in a page as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Svg(pub String);

impl std::fmt::Display for Svg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `12`, `3.5`, `0.0042`: short, and exact enough to read.
fn number(value: f64) -> String {
    if value == value.trunc() && value.abs() < 1e9 {
        format!("{}", value as i64)
    } else if value.abs() >= 10.0 {
        format!("{value:.0}")
    } else if value.abs() >= 0.1 {
        format!("{value:.2}")
    } else {
        format!("{value:.4}")
    }
}

/// Bars for `values` (oldest first; `None`: no data in that slot, drawn as a gap), `label`
/// naming the chart for screen readers, `unit` after each value in its title.
pub fn bars(label: &str, values: &[Option<f64>], unit: &str) -> Svg {
    let max = values.iter().flatten().fold(0.0_f64, |max, v| max.max(*v));
    let slot = WIDTH / values.len().max(1) as f64;
    let mut svg = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        svg,
        r#"<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg"><title>{}</title><line x1="0" y1="{HEIGHT}" x2="{WIDTH}" y2="{HEIGHT}" class="axis"/>"#,
        escape(label)
    );
    for (i, value) in values.iter().enumerate() {
        let Some(value) = value else { continue };
        let height = if max > 0.0 {
            (value / max * (HEIGHT - 2.0)).max(1.0)
        } else {
            1.0
        };
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{}{}</title></rect>"#,
            i as f64 * slot + 0.5,
            HEIGHT - height,
            (slot - 1.0).max(0.5),
            height,
            number(*value),
            escape(unit)
        );
    }
    svg.push_str("</svg>");
    Svg(svg)
}

/// The five characters that could end an attribute or open a tag.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_value_is_a_bar_scaled_to_the_largest_and_a_gap_is_no_bar() {
        let svg = bars(
            "Fulfilled per minute",
            &[Some(1.0), None, Some(4.0)],
            " orders",
        )
        .0;
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("<title>4 orders</title>"));
        assert!(
            svg.contains(r#"height="62.0""#),
            "the largest fills the chart: {svg}"
        );
        assert!(svg.contains("<title>Fulfilled per minute</title>"));
    }

    #[test]
    fn text_is_escaped_and_numbers_are_short() {
        let svg = bars("<b>", &[Some(0.00042)], " s").0;
        assert!(svg.contains("&lt;b&gt;"));
        assert!(svg.contains("0.0004 s"));
        assert_eq!(number(2.5), "2.50");
        assert_eq!(number(120.0), "120");
    }
}
