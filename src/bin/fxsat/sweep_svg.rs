//! The budget sweep's plot (`partition --sweep`): an SVG of the curve
//! [`fxsat::partition::sweep`] computes.

use fxsat::partition::SweepPoint;

/// An SVG plot of a sweep: activation bytes and peak bytes (left axis, MB) and recompute
/// seconds (right axis, scaled) against the budget.
pub fn sweep_svg(name: &str, points: &[SweepPoint]) -> String {
    use std::fmt::Write;
    let (w, h, m) = (640.0, 400.0, 60.0);
    let max_b = points
        .iter()
        .map(|p| p.peak_bytes.max(p.activation_bytes))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let max_s = points
        .iter()
        .map(|p| p.recompute_seconds)
        .fold(0.0f64, f64::max)
        .max(1e-12);
    let x = |b: f64| m + b * (w - 2.0 * m);
    let y = |v: f64, max: f64| h - m - v / max * (h - 2.0 * m);
    let line = |f: &dyn Fn(&SweepPoint) -> f64, max: f64| {
        points
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.budget), y(f(p), max)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let esc = name.replace('&', "&amp;").replace('<', "&lt;");
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{m}" y="20">{esc}: budget sweep</text>
<line x1="{m}" y1="{b}" x2="{r}" y2="{b}" stroke="black"/>
<line x1="{m}" y1="{m}" x2="{m}" y2="{b}" stroke="black"/>
<text x="{cx}" y="{lb}">memory budget (0 … 1)</text>
<text x="4" y="{m}">{mb:.2} MB</text>
<text x="{r2}" y="{m}">{ms:.2e} s</text>
<polyline fill="none" stroke="steelblue" stroke-width="2" points="{act}"/>
<polyline fill="none" stroke="darkred" stroke-width="2" points="{peak}"/>
<polyline fill="none" stroke="green" stroke-width="2" stroke-dasharray="4" points="{rec}"/>
<text x="{lx}" y="40" fill="steelblue">activation bytes</text>
<text x="{lx}" y="55" fill="darkred">peak bytes</text>
<text x="{lx}" y="70" fill="green">recompute seconds</text>
</svg>
"##,
        b = h - m,
        r = w - m,
        cx = w / 2.0 - 60.0,
        lb = h - 20.0,
        mb = max_b / 1e6,
        r2 = w - m - 10.0,
        ms = max_s,
        act = line(&|p| p.activation_bytes as f64, max_b),
        peak = line(&|p| p.peak_bytes as f64, max_b),
        rec = line(&|p| p.recompute_seconds, max_s),
        lx = w - 200.0,
    );
    s
}
