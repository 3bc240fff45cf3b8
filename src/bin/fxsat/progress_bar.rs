//! A progress bar on stderr for the library's long phases: drawn only when stderr is a
//! terminal and a phase has run for more than a second; erased when the phase ends.

use fxsat::progress::{Event, Phase, Progress};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Show nothing before a phase has run this long (`FXSAT_PROGRESS_AFTER`, seconds, overrides).
const DELAY: Duration = Duration::from_secs(1);
/// Redraw at most this often.
const EVERY: Duration = Duration::from_millis(100);
const WIDTH: usize = 30;

struct State {
    phase: Option<Phase>,
    start: Instant,
    last_draw: Option<Instant>,
}

/// A [`Progress`] hook that draws on stderr, or a silent one when stderr is not a terminal.
pub fn stderr_bar() -> Progress {
    if !std::io::stderr().is_terminal() {
        return Progress::default();
    }
    let delay = std::env::var("FXSAT_PROGRESS_AFTER")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s >= 0.0)
        // huge or infinite: never draw
        .map_or(DELAY, |s| {
            Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
        });
    let state = Mutex::new(State {
        phase: None,
        start: Instant::now(),
        last_draw: None,
    });
    Progress::new(move |e: &Event<'_>| {
        let Ok(mut s) = state.lock() else { return };
        let now = Instant::now();
        if e.finished {
            if s.last_draw.is_some() {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K");
                let _ = err.flush();
            }
            s.phase = None;
            s.last_draw = None;
            return;
        }
        if s.phase != Some(e.phase) {
            s.phase = Some(e.phase);
            s.start = now;
            s.last_draw = None;
        }
        if now.duration_since(s.start) < delay
            || s.last_draw.is_some_and(|t| now.duration_since(t) < EVERY)
        {
            return;
        }
        s.last_draw = Some(now);
        let frac = if e.total > 0 {
            (e.done as f64 / e.total as f64).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let filled = (frac * WIDTH as f64).round() as usize;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{:>8} [{}{}] {}/{} {:.1}s {}",
            e.phase.name(),
            "#".repeat(filled),
            "-".repeat(WIDTH - filled),
            e.done,
            e.total,
            now.duration_since(s.start).as_secs_f64(),
            e.detail
        );
        let _ = err.flush();
    })
}
