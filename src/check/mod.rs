//! Numerical validation of rules (`fxsat check-rules`): for every rule, random instances of
//! its left side that satisfy its conditions ([`gen`]), the right side built from the same
//! bindings, both evaluated by the [reference interpreter](crate::interp) and compared with
//! the per-dtype tolerance of [`crate::interp::tolerance`]. A right side whose shape or dtype
//! differs from the left side's (an unsound merge) is a failure too. Where the left side is
//! NaN the right side may be anything: a rewrite may define what the original left undefined
//! (fused attention gives zeros for a fully masked row where the decomposed softmax gives NaN).
//!
//! Rules marked `:in-distribution ?r` replace the uniform draws `?r` (a `rand` call) of their
//! left side by a kernel's own randomness (SDPA's `dropout_p`): the two sides are equal in
//! distribution, not in value, so no value comparison of independent draws can check them.
//! They are checked on a *coupling* instead: the right side's kernels take their random draws
//! from `?r`'s values ([`crate::interp::with_dropout_uniform`]: keep where `u > p`, which is
//! Bernoulli(1 - p) per element, as the kernels' masks are), and then the two sides must be
//! equal in value like any rule. That checks the scale `1/(1-p)`, the keep convention, and
//! that the forward and the backward of the right side use one mask (the real kernels'
//! backward regenerates it from the forward's philox seed and offset); the remaining
//! assumption is the kernels' contract that their mask is i.i.d. Bernoulli(1 - p) and
//! independent of everything else (`dropout-uniform` requires that of `?r` in the input
//! graph). The loader also refuses such a rule whose right side reads `?r`.
//!
//! Case `i` of a run with seed `S` uses seed `S + i`, so `--seed S+i --cases 1` reproduces it.
//! A failing case is shrunk before it is reported ([`shrink`]): the instance's random choices
//! are replayed simpler (smaller ranks and sizes, values 0 and ±1) while the rule still fails,
//! so the counterexample is a minimal one; shrinking is deterministic too.
//!
//! Each condition of a rule may carry its own generator ([`crate::rules::cond::Condition::gen`]):
//! the instance generator ([`gen`]) asks the conditions naming a variable first.
//!
//! ```
//! use fxsat::check::{check_rules, CheckOptions};
//! let rules = fxsat::rules::parse_rules(
//!     "t.rules",
//!     "(rule bad (permute (permute ?x ?p) ?q) (permute ?x (compose-perm ?q ?p)))",
//! ).unwrap();
//! let report = check_rules(&rules, &CheckOptions { cases: 50, seed: 0 });
//! let c = report[0].failure.as_ref().expect("composing in the wrong order is caught");
//! // shrunk: rank 3 (the smallest where two permutations need not commute), sizes <= 2
//! assert!(c.bindings.starts_with("?x = float32[") && c.lhs.contains("(list"), "{c:?}");
//! let x = &c.bindings[c.bindings.find('[').unwrap() + 1..c.bindings.find(']').unwrap()];
//! let dims: Vec<i64> = x.split(", ").map(|d| d.parse().unwrap()).collect();
//! assert!(dims.len() == 3 && dims.iter().all(|&d| d <= 2), "{c:?}");
//! ```

pub mod gen;
pub mod rng;
pub mod shrink;
pub mod term;

use crate::error::Result;
use crate::interp::{compare_rule, eval_term, Value};
use crate::ops::Meta;
use crate::rules::{default_rules, load_dir, Rhs, Rule};
use rng::{fnv, Rng};
use shrink::{Choice, Chooser};
use std::fmt;
use std::io::Write;
use std::path::Path;
use term::Term;

/// Options of a check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Cases per rule.
    pub cases: usize,
    /// Base seed; case `i` uses `seed + i`.
    pub seed: u64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            cases: 100,
            seed: 0,
        }
    }
}

/// Draws tried per case before giving up on it.
const ATTEMPTS: usize = 200;

/// A failing case.
#[derive(Debug, Clone)]
pub struct Counterexample {
    /// The seed that reproduces it with `--cases 1`.
    pub seed: u64,
    /// The variables' shapes and values.
    pub bindings: String,
    /// The left side's instance.
    pub lhs: String,
    /// The right side's instance.
    pub rhs: String,
    /// What went wrong.
    pub message: String,
}

/// The outcome for one rule.
#[derive(Debug, Clone)]
pub struct RuleCheck {
    /// The rule's name.
    pub rule: String,
    /// Where it is defined.
    pub origin: String,
    /// Cases run (instances evaluated and compared).
    pub cases: usize,
    /// Largest error `|rhs - lhs| / (1 + |lhs|)` over all cases.
    pub max_error: f64,
    /// Elements where the left side was NaN and the right side a number (accepted: see the
    /// module docs), over all cases.
    pub refined: usize,
    /// The first failure, if any.
    pub failure: Option<Counterexample>,
    /// `:in-distribution`: checked on a coupling of the random draws (see the module docs).
    pub coupled: bool,
    /// No valid instance of the left side was drawn, so nothing was compared: the rule is
    /// neither confirmed nor refuted (the generator's limit, not a counterexample).
    pub untested: bool,
}

impl RuleCheck {
    /// True when no case failed: the rule passed, or is [`RuleCheck::untested`].
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }
}

impl fmt::Display for RuleCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = if !self.ok() {
            "FAIL"
        } else if self.untested {
            "----"
        } else {
            "ok  "
        };
        write!(
            f,
            "{status} {:<28} {:>4} cases  max error {:.3e}  ({})",
            self.rule, self.cases, self.max_error, self.origin
        )?;
        if self.coupled {
            write!(
                f,
                "  [in distribution: checked on a coupling of the dropout draws]"
            )?;
        }
        if self.refined > 0 {
            write!(
                f,
                "  [{} NaN of the left side defined by the right]",
                self.refined
            )?;
        }
        if self.untested {
            write!(
                f,
                "  [untested: no valid instance of the left side in {ATTEMPTS} draws per case]"
            )?;
        }
        if let Some(c) = &self.failure {
            write!(
                f,
                "\n     rule `{}`: {}\n     inputs: {}\n     lhs: {}\n     rhs: {}\n     reproduce: fxsat check-rules --seed {} --cases 1",
                self.rule, c.message, c.bindings, c.lhs, c.rhs, c.seed
            )?;
        }
        Ok(())
    }
}

/// Builds the right side of `rule` for an instance; `Err(None)` when a computed attribute
/// does not exist for it (the rule does not apply), `Err(Some(msg))` on a rule bug.
fn rhs_term(rule: &Rule, inst: &gen::Instance) -> std::result::Result<Term, Option<String>> {
    fn go(
        r: &Rhs,
        inst: &gen::Instance,
        inputs: &[Meta],
        out: &mut Term,
    ) -> std::result::Result<egg::Id, Option<String>> {
        Ok(match r {
            Rhs::Var(v) => out.append(&inst.vars[v], inputs),
            Rhs::Node(n, children) => {
                let ids = children
                    .iter()
                    .map(|c| go(c, inst, inputs, out))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let node = match n {
                    crate::egraph::Lang::Call(op, _) => crate::egraph::Lang::Call(*op, ids.into()),
                    leaf => leaf.clone(),
                };
                out.push(node, inputs)
            }
            Rhs::Compute(c, args) => {
                let ids = args
                    .iter()
                    .map(|a| go(a, inst, inputs, out))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let metas: Vec<&Meta> = ids.iter().map(|&i| &out.metas[usize::from(i)]).collect();
                let facts: Vec<crate::egraph::Facts> = args
                    .iter()
                    .map(|a| match a {
                        Rhs::Var(v) => gen::term_facts(&inst.vars[v], &inst.facts),
                        _ => crate::egraph::Facts::default(),
                    })
                    .collect();
                let alignment = gen::check_alignment();
                let env = crate::rules::cond::Env {
                    alignment: &alignment,
                    facts: &facts,
                    target: inst.target,
                };
                let value = (c.eval)(&env, &metas).ok_or(None)?;
                out.push_arg(&value, inputs)
            }
        })
    }
    let mut t = Term::default();
    go(&rule.rhs, inst, &inst.input_metas(), &mut t)?;
    Ok(t)
}

/// Elements where `want` is NaN and `got` is not.
fn refined(got: &Value, want: &Value) -> usize {
    match (got, want) {
        (Value::Tensor(a), Value::Tensor(b)) => a
            .data
            .iter()
            .zip(&b.data)
            .filter(|(x, y)| y.is_nan() && !x.is_nan())
            .count(),
        (Value::Tuple(a), Value::Tuple(b)) => a.iter().zip(b).map(|(x, y)| refined(x, y)).sum(),
        _ => 0,
    }
}

/// What one case gave: largest error and refined elements.
type CaseResult = std::result::Result<Option<(f64, usize)>, Counterexample>;

/// The verdict on one drawn instance.
enum Verdict {
    /// Nothing to compare (a computed attribute does not exist for it, or the left side
    /// cannot be evaluated): draw another.
    Skip,
    /// Both sides agree: largest error and refined elements.
    Pass(f64, usize),
    /// A counterexample.
    Fail(Counterexample),
}

/// Replays shrinking may spend on one failing case.
const SHRINK_BUDGET: usize = 400;

/// One case: `Ok(Some(..))` when it ran, `Ok(None)` when no valid instance was drawn,
/// `Err` on a failure, shrunk to a minimal counterexample (see [`shrink`]).
fn run_case(rule: &Rule, seed: u64) -> CaseResult {
    let rng = Rng::new(fnv(&rule.name) ^ seed.wrapping_mul(0xA24B_AED4_963E_E407));
    let mut chooser = Chooser::fresh(rng);
    for _ in 0..ATTEMPTS {
        chooser.clear_log();
        let inst = match gen::instance(rule, &mut chooser) {
            Ok(inst) => inst,
            Err(why) => {
                log::debug!("{}: draw rejected: {why}", rule.name);
                continue;
            }
        };
        match judge(rule, &inst, seed) {
            Verdict::Skip => continue,
            Verdict::Pass(e, n) => return Ok(Some((e, n))),
            Verdict::Fail(c) => {
                let replay = |choices: Vec<Choice>| {
                    let mut ch = Chooser::replay(choices);
                    let inst = gen::instance(rule, &mut ch).ok()?;
                    match judge(rule, &inst, seed) {
                        Verdict::Fail(c) => Some((c, ch.log().to_vec())),
                        _ => None,
                    }
                };
                let (_, small) = shrink::shrink(chooser.log().to_vec(), c, SHRINK_BUDGET, replay);
                return Err(small);
            }
        }
    }
    Ok(None)
}

/// Builds the right side of an instance, evaluates both sides and compares them.
fn judge(rule: &Rule, inst: &gen::Instance, seed: u64) -> Verdict {
    let rhs = match rhs_term(rule, inst) {
        Ok(t) => t,
        Err(None) => return Verdict::Skip,
        Err(Some(m)) => return Verdict::Fail(fail(seed, inst, "?".into(), m)),
    };
    let bad = |m: String| {
        Verdict::Fail(Counterexample {
            seed,
            bindings: inst.describe(),
            lhs: inst.lhs.expr.to_string(),
            rhs: rhs.expr.to_string(),
            message: m,
        })
    };
    let (lm, rm) = (inst.lhs.meta(), rhs.meta());
    if let Meta::Invalid(why) = rm {
        return bad(format!("the right side is ill-typed: {why}"));
    }
    if !lm.same_as(rm) {
        return bad(format!(
            "unsound merge: the left side is {lm} but the right side is {rm}"
        ));
    }
    // the neutral attention ops evaluate as the drawn target's kernels compute them
    let on_target = |e: &egg::RecExpr<crate::egraph::Lang>, inputs: &[Value]| {
        crate::interp::with_kernel_target(Some(inst.target), || eval_term(e, inputs))
    };
    let Ok(want) = on_target(&inst.lhs.expr, &inst.inputs) else {
        return Verdict::Skip;
    };
    // `:in-distribution ?r`: the right side's kernels draw from `?r`'s values (a coupling).
    let draws = match rule.in_distribution {
        Some(r) => match inst.vars.get(&r).map(|t| eval_term(&t.expr, &inst.inputs)) {
            Some(Ok(Value::Tensor(u))) => Some(u),
            _ => return bad(format!("`:in-distribution {r}`: {r} is not a tensor")),
        },
        None => None,
    };
    let got =
        match crate::interp::with_dropout_uniform(draws, || on_target(&rhs.expr, &inst.inputs)) {
            Ok(v) => v,
            Err(e) => return bad(format!("the right side cannot be evaluated: {e}")),
        };
    let wide: Vec<Value> = inst
        .inputs
        .iter()
        .map(|v| match v {
            Value::Tensor(t) if t.dtype.is_float() => Value::Tensor(t.cast(crate::ir::DType::F64)),
            other => other.clone(),
        })
        .collect();
    let exact = on_target(&inst.lhs.expr, &wide)
        .ok()
        .or_else(|| on_target(&widened_dtypes(&inst.lhs.expr), &wide).ok());
    match compare_rule(&got, &want, exact.as_ref()) {
        Ok(e) => Verdict::Pass(e, refined(&got, &want)),
        Err(e) => bad(format!("values differ: {e}")),
    }
}

fn fail(seed: u64, inst: &gen::Instance, rhs: String, message: String) -> Counterexample {
    Counterexample {
        seed,
        bindings: inst.describe(),
        lhs: inst.lhs.expr.to_string(),
        rhs,
        message,
    }
}

/// Checks one rule.
pub fn check_rule(rule: &Rule, opts: &CheckOptions) -> RuleCheck {
    let mut out = RuleCheck {
        rule: rule.name.clone(),
        origin: rule.origin.clone(),
        cases: 0,
        max_error: 0.0,
        refined: 0,
        failure: None,
        coupled: rule.in_distribution.is_some(),
        untested: false,
    };
    for i in 0..opts.cases {
        let seed = opts.seed.wrapping_add(i as u64);
        match run_case(rule, seed) {
            Ok(Some((e, n))) => {
                out.cases += 1;
                out.max_error = out.max_error.max(e);
                out.refined += n;
            }
            Ok(None) => {}
            Err(c) => {
                out.failure = Some(c);
                return out;
            }
        }
    }
    out.untested = out.cases == 0 && opts.cases > 0;
    out
}

/// Checks every rule.
pub fn check_rules(rules: &[Rule], opts: &CheckOptions) -> Vec<RuleCheck> {
    rules.iter().map(|r| check_rule(r, opts)).collect()
}

/// `fxsat check-rules`: loads the rules (`dir`, or the default ones), checks each, writes
/// one line per rule (and the counterexample of a failure) to `out`. Returns the number of
/// failing rules; an untested rule (no instance drawn) is counted apart and does not fail.
pub fn check_rules_command(
    dir: Option<&Path>,
    opts: &CheckOptions,
    out: &mut dyn Write,
) -> Result<usize> {
    let rules = match dir {
        Some(d) => load_dir(d)?,
        None => default_rules()?,
    };
    let t0 = std::time::Instant::now();
    let (mut failed, mut untested) = (0, 0);
    for r in &rules {
        let c = check_rule(r, opts);
        failed += !c.ok() as usize;
        untested += c.untested as usize;
        let mut text = c.to_string();
        if let Some(d) = dir {
            let with_dir = format!("fxsat check-rules --rules {} --seed", d.display());
            text = text.replace("fxsat check-rules --seed", &with_dir);
        }
        let _ = writeln!(out, "{text}");
    }
    let _ = writeln!(
        out,
        "{} rules, {} failed, {} untested; {} cases per rule, seed {}; {:.2} s",
        rules.len(),
        failed,
        untested,
        opts.cases,
        opts.seed,
        t0.elapsed().as_secs_f64()
    );
    Ok(failed)
}

/// `expr` with its float dtype literals made float64: the exact evaluation of a left side that
/// names a dtype (a 0-d fill `scalar_tensor(-inf, float16)`) on float64 inputs, where the
/// literal would otherwise make the term ill-typed. Tried only when the term as it is fails.
fn widened_dtypes(expr: &egg::RecExpr<crate::egraph::Lang>) -> egg::RecExpr<crate::egraph::Lang> {
    use crate::egraph::Lang;
    let nodes: Vec<Lang> = expr
        .as_ref()
        .iter()
        .map(|n| match n {
            Lang::Dtype(d) if d.is_float() => Lang::Dtype(crate::ir::DType::F64),
            other => other.clone(),
        })
        .collect();
    egg::RecExpr::from(nodes)
}
