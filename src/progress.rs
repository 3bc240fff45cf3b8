//! Progress of long phases (saturation, extraction), reported to a hook the caller installs.
//!
//! The library itself prints nothing: [`Progress::default`] ignores every event. The `fxsat`
//! binary installs a hook that draws a bar on stderr when stderr is a terminal and a phase
//! runs for more than a second.
//!
//! ```
//! use fxsat::progress::{Phase, Progress};
//! use std::sync::{Arc, Mutex};
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let s = seen.clone();
//! let p = Progress::new(move |e| s.lock().unwrap().push((e.phase, e.done, e.finished)));
//! p.step(Phase::Saturate, 1, 30, "1000 e-nodes");
//! p.finish(Phase::Saturate);
//! assert_eq!(seen.lock().unwrap().len(), 2);
//! ```

use std::fmt;
use std::sync::Arc;

/// A phase that reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Equality saturation: one step per iteration.
    Saturate,
    /// Extraction: steps over the e-classes of a pass.
    Extract,
}

impl Phase {
    /// Lower-case name (`saturate`, `extract`).
    pub fn name(self) -> &'static str {
        match self {
            Phase::Saturate => "saturate",
            Phase::Extract => "extract",
        }
    }
}

/// One progress report.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// The phase.
    pub phase: Phase,
    /// Steps done.
    pub done: usize,
    /// Steps in all (an upper bound: saturation may stop before its iteration limit).
    pub total: usize,
    /// What the step is about (e-graph size, pass name).
    pub detail: &'a str,
    /// The phase is over (the last event of the phase).
    pub finished: bool,
}

type Hook = dyn Fn(&Event<'_>) + Send + Sync;

/// Where progress goes: nowhere by default, or to a hook.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<Hook>>);

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(hook)"
        } else {
            "Progress(none)"
        })
    }
}

impl Progress {
    /// Reports every event to `hook`.
    pub fn new(hook: impl Fn(&Event<'_>) + Send + Sync + 'static) -> Self {
        Progress(Some(Arc::new(hook)))
    }

    /// Whether a hook is installed (callers may skip building details when not).
    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Reports `done` of `total` steps of `phase`.
    pub fn step(&self, phase: Phase, done: usize, total: usize, detail: &str) {
        if let Some(h) = &self.0 {
            h(&Event {
                phase,
                done,
                total,
                detail,
                finished: false,
            });
        }
    }

    /// Reports the end of `phase`.
    pub fn finish(&self, phase: Phase) {
        if let Some(h) = &self.0 {
            h(&Event {
                phase,
                done: 0,
                total: 0,
                detail: "",
                finished: true,
            });
        }
    }
}
