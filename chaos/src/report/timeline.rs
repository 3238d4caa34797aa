//! The timeline picture: each operation a dot at (completion time, latency), log
//! latency scale, coloured by outcome (ok green, fail orange, info red), with the
//! fault windows shaded and named. Plain SVG, no dependencies.

use crate::failpoint::Window;
use crate::history::{self, Event, Record};

const W: f64 = 1200.0;
const H: f64 = 420.0;
const LEFT: f64 = 60.0;
const BOTTOM: f64 = 30.0;
const TOP: f64 = 34.0;
/// Latency axis: 0.1 ms to 60 s, log scale.
const LAT_MIN_MS: f64 = 0.1;
const LAT_MAX_MS: f64 = 60_000.0;

fn y_of(ms: f64) -> f64 {
    let span = (LAT_MAX_MS / LAT_MIN_MS).log10();
    let frac = (ms.clamp(LAT_MIN_MS, LAT_MAX_MS) / LAT_MIN_MS).log10() / span;
    H - BOTTOM - frac * (H - BOTTOM - TOP)
}

pub fn svg(records: &[Record], windows: &[Window]) -> String {
    let ops = history::operations(records).unwrap_or_default();
    let end_ns = records.last().map_or(1, |r| r.time_ns.max(1));
    let x_of = |ns: u64| LEFT + (ns as f64 / end_ns as f64) * (W - LEFT - 10.0);
    let mut s = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{W}' height='{H}' font-family='sans-serif' font-size='11'>\
         <rect width='100%' height='100%' fill='white'/>"
    );
    for (i, w) in windows.iter().enumerate() {
        let (a, b) = (x_of(w.start_ns), x_of(w.end_ns));
        // Labels alternate between two rows so that neighbours do not overlap.
        let row = if i % 2 == 0 { TOP - 20.0 } else { TOP - 6.0 };
        s.push_str(&format!(
            "<rect x='{a:.1}' y='{TOP}' width='{:.1}' height='{:.1}' fill='#fbe3e3'/>\
             <text x='{a:.1}' y='{row:.1}' fill='#a33' font-size='10'>{}</text>",
            (b - a).max(1.0),
            H - BOTTOM - TOP,
            w.nemesis
        ));
    }
    for (ms, label) in [
        (1.0, "1 ms"),
        (10.0, "10 ms"),
        (100.0, "100 ms"),
        (1000.0, "1 s"),
        (10_000.0, "10 s"),
    ] {
        let y = y_of(ms);
        s.push_str(&format!(
            "<line x1='{LEFT}' x2='{W}' y1='{y:.1}' y2='{y:.1}' stroke='#ddd'/>\
             <text x='4' y='{:.1}'>{label}</text>",
            y + 4.0
        ));
    }
    for op in &ops {
        let Some((event, done_ns)) = &op.completion else {
            continue;
        };
        let colour = match event {
            Event::Ok { .. } => "#2a2",
            Event::Fail { .. } => "#e80",
            Event::Info { .. } => "#d00",
            Event::Invoke => continue,
        };
        let ms = done_ns.saturating_sub(op.invoke_ns) as f64 / 1e6;
        s.push_str(&format!(
            "<circle cx='{:.1}' cy='{:.1}' r='1.6' fill='{colour}' fill-opacity='0.6'/>",
            x_of(*done_ns),
            y_of(ms)
        ));
    }
    let secs = end_ns as f64 / 1e9;
    s.push_str(&format!(
        "<text x='{LEFT}' y='{:.1}'>0 s</text><text x='{:.1}' y='{:.1}' text-anchor='end'>{secs:.0} s</text>\
         <text x='{:.1}' y='{:.1}' text-anchor='middle'>time; dots: latency of each operation (green ok, orange fail, red info); shaded: faults</text></svg>",
        H - 8.0,
        W - 10.0,
        H - 8.0,
        W / 2.0,
        H - 8.0
    ));
    s
}
