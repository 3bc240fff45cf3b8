//! Minimal counterexamples: the instance generator's random choices are recorded, and a
//! failing instance is shrunk by replaying simpler choices (as Hypothesis does on its choice
//! sequence): every index toward 0 (the first entry of a table: rank 0, size 1, float32, no
//! negative dims), every normal value toward 0 and ±1, every choice deleted (fewer dims
//! realign what follows). A replay that runs past its choices or meets a choice of another
//! kind takes the simplest one. A candidate is kept while the rule still fails on it, so the
//! counterexample reported is one no single simplification keeps failing: the smallest
//! shapes and simplest values. Everything is deterministic: a seed gives one failing draw and
//! one shrunk counterexample.

use super::rng::Rng;
use crate::rules::cond::Draw;

/// One recorded random choice.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// An index in `0..n`.
    Below(usize),
    /// A uniform number in `[0, 1)`.
    Uniform(f64),
    /// A standard normal sample.
    Normal(f64),
    /// The choices of a block (a tensor's values): replayed as a unit, so that a block that
    /// consumes fewer choices (a smaller tensor) leaves the choices after it in place.
    Block(Vec<Choice>),
}

/// Choices being replayed and recorded at one block depth.
#[derive(Debug, Clone, Default)]
struct Frame {
    replay: Vec<Choice>,
    next: usize,
    log: Vec<Choice>,
}

/// A source of choices: fresh from a seeded [`Rng`], or replayed; what it gives is recorded.
#[derive(Debug, Clone)]
pub struct Chooser {
    fresh: Option<Rng>,
    /// The root frame, then one per open block.
    frames: Vec<Frame>,
}

impl Chooser {
    /// Fresh choices from `rng` (the same values `rng` itself would give).
    pub fn fresh(rng: Rng) -> Chooser {
        Chooser {
            fresh: Some(rng),
            frames: vec![Frame::default()],
        }
    }

    /// The given choices, then the simplest ones.
    pub fn replay(choices: Vec<Choice>) -> Chooser {
        Chooser {
            fresh: None,
            frames: vec![Frame {
                replay: choices,
                ..Frame::default()
            }],
        }
    }

    fn top(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("the root frame")
    }

    /// Forgets what was recorded so far (a new draw starts).
    pub fn clear_log(&mut self) {
        self.frames.truncate(1);
        self.top().log.clear();
    }

    /// The choices given since the last [`Self::clear_log`].
    pub fn log(&self) -> &[Choice] {
        &self.frames[0].log
    }

    /// Opens a block (see [`Choice::Block`]).
    pub fn begin_block(&mut self) {
        let replay = match self.fresh {
            Some(_) => Vec::new(),
            None => match self.replayed() {
                Some(Choice::Block(v)) => v,
                _ => Vec::new(),
            },
        };
        self.frames.push(Frame {
            replay,
            ..Frame::default()
        });
    }

    /// Closes the innermost block.
    pub fn end_block(&mut self) {
        if self.frames.len() > 1 {
            let f = self.frames.pop().expect("a block");
            self.top().log.push(Choice::Block(f.log));
        }
    }

    fn replayed(&mut self) -> Option<Choice> {
        let f = self.top();
        let c = f.replay.get(f.next).cloned();
        f.next += 1;
        c
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        let v = match &mut self.fresh {
            Some(rng) => rng.below(n),
            None => match self.replayed() {
                Some(Choice::Below(v)) => v.min(n.max(1) - 1),
                _ => 0,
            },
        };
        self.top().log.push(Choice::Below(v));
        v
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        let u = match &mut self.fresh {
            Some(rng) => rng.unit(),
            None => match self.replayed() {
                Some(Choice::Uniform(u)) => u,
                _ => 0.0,
            },
        };
        self.top().log.push(Choice::Uniform(u));
        u
    }

    /// A standard normal sample.
    pub fn normal(&mut self) -> f64 {
        let x = match &mut self.fresh {
            Some(rng) => rng.normal(),
            None => match self.replayed() {
                Some(Choice::Normal(x)) => x,
                _ => 0.0,
            },
        };
        self.top().log.push(Choice::Normal(x));
        x
    }

    /// True with probability `p` (the [`Draw`] helper).
    pub fn chance(&mut self, p: f64) -> bool {
        (self as &mut dyn Draw).chance(p)
    }

    /// One of `items` (the [`Draw`] helper).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        (self as &mut dyn Draw).pick(items)
    }

    /// A random permutation of `0..n` (the [`Draw`] helper).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        (self as &mut dyn Draw).permutation(n)
    }
}

impl Draw for Chooser {
    fn below(&mut self, n: usize) -> usize {
        Chooser::below(self, n)
    }

    fn unit(&mut self) -> f64 {
        Chooser::unit(self)
    }
}

/// Simpler versions of choice `c` to try, simplest first.
fn simpler(c: &Choice) -> Vec<Choice> {
    match *c {
        Choice::Below(0) => Vec::new(),
        Choice::Below(v) => {
            let mut out = vec![Choice::Below(0)];
            if v > 2 {
                out.push(Choice::Below(v / 2));
            }
            if v > 1 {
                out.push(Choice::Below(v - 1));
            }
            out
        }
        Choice::Uniform(0.0) => Vec::new(),
        Choice::Uniform(_) => vec![Choice::Uniform(0.0)],
        Choice::Normal(0.0) => Vec::new(),
        Choice::Normal(x) => {
            let mut out = vec![Choice::Normal(0.0)];
            if x.abs() != 1.0 {
                out.push(Choice::Normal(x.signum()));
            }
            out
        }
        Choice::Block(_) if weight(c) == 0.0 => Vec::new(),
        // All simplest (zeros), all signs (±1), each value simpler on its own.
        Choice::Block(ref v) => vec![
            Choice::Block(Vec::new()),
            Choice::Block(
                v.iter()
                    .map(|c| simpler(c).pop().unwrap_or(c.clone()))
                    .collect(),
            ),
        ],
    }
}

/// How complex a choice is: 0 is the simplest.
fn weight(c: &Choice) -> f64 {
    match *c {
        Choice::Below(v) => v as f64,
        Choice::Uniform(u) => u,
        Choice::Block(ref v) => v.iter().map(weight).sum(),
        Choice::Normal(0.0) => 0.0,
        Choice::Normal(x) if x.abs() == 1.0 => 1.0,
        Choice::Normal(x) => 2.0 + x.abs(),
    }
}

/// Shorter, or as long and smaller choice by choice (the first difference decides): the
/// order shrinking descends, so it ends.
fn simpler_than(a: &[Choice], b: &[Choice]) -> bool {
    if a.len() != b.len() {
        return a.len() < b.len();
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| weight(x).total_cmp(&weight(y)))
        .find(|o| o.is_ne())
        .is_some_and(|o| o.is_lt())
}

/// Shrinks `choices` (on which `fails` holds): returns the simplest choices found on which
/// `fails` still holds, with what `fails` returned for them. `fails` replays the choices it
/// is given and returns its result and the choices the replay actually used, or `None` when
/// the replay does not fail. At most `budget` replays.
pub fn shrink<T>(
    mut choices: Vec<Choice>,
    mut best: T,
    budget: usize,
    mut fails: impl FnMut(Vec<Choice>) -> Option<(T, Vec<Choice>)>,
) -> (Vec<Choice>, T) {
    let mut left = budget;
    let mut improved = true;
    while improved && left > 0 {
        improved = false;
        // Deletions first: fewer choices, then simpler ones.
        let mut i = 0;
        while i < choices.len() && left > 0 {
            let mut cand = choices.clone();
            cand.remove(i);
            left -= 1;
            match fails(cand) {
                Some((t, used)) if simpler_than(&used, &choices) => {
                    best = t;
                    choices = used;
                    improved = true;
                }
                _ => i += 1,
            }
        }
        let mut i = 0;
        while i < choices.len() && left > 0 {
            for c in simpler(&choices[i]) {
                if left == 0 {
                    break;
                }
                let mut cand = choices.clone();
                cand[i] = c;
                left -= 1;
                if let Some((t, used)) = fails(cand).filter(|(_, u)| simpler_than(u, &choices)) {
                    best = t;
                    choices = used;
                    improved = true;
                    break;
                }
            }
            i += 1;
        }
    }
    (choices, best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_choices_are_the_rngs() {
        let (mut a, mut b) = (Rng::new(7), Chooser::fresh(Rng::new(7)));
        assert_eq!(a.below(10), b.below(10));
        assert_eq!(a.unit(), b.unit());
        assert_eq!(a.normal(), b.normal());
        assert_eq!(b.log().len(), 3);
    }

    #[test]
    fn shrinks_toward_the_smallest_failing_choice() {
        // Fails when the first index is at least 3: shrinks to exactly 3.
        let fails = |c: Vec<Choice>| {
            let mut ch = Chooser::replay(c);
            let v = ch.below(100);
            ch.normal();
            (v >= 3).then(|| (v, ch.log().to_vec()))
        };
        let start = vec![Choice::Below(97), Choice::Normal(0.3)];
        let (choices, v) = shrink(start, 97, 1000, fails);
        assert_eq!(v, 3);
        assert_eq!(choices, vec![Choice::Below(3), Choice::Normal(0.0)]);
    }
}
