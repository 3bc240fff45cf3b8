//! Rewrite rules as data: the `.rules` syntax, its loader and the rules' applier.
//!
//! ```text
//! ;; two permutes compose into one
//! (rule permute-permute
//!   (permute (permute ?x ?p) ?q)
//!   (permute ?x (compose-perm ?p ?q)))
//! ```
//!
//! The left side is an egg pattern over canonical ops; the right side may call computed
//! attributes; `:if` lists named conditions (see [`cond`]). Every error in a file is
//! reported, each as `file:line:col: message`.
//!
//! ```
//! let rules = fxsat::rules::parse_rules(
//!     "t.rules",
//!     ";; identity permute\n(rule p-id (permute ?x ?p) ?x :if (identity-perm ?p))",
//! ).unwrap();
//! assert_eq!(rules[0].name, "p-id");
//! let err = fxsat::rules::parse_rules("t.rules", "(rule r (permute ?x) ?x :if (nope ?x))").unwrap_err();
//! assert!(err.to_string().contains("t.rules:1:10"), "{err}");
//! assert!(err.to_string().contains("t.rules:1:30"), "{err}");
//! ```

mod apply;
mod bias;
mod causal;
pub mod cond;
mod env_registry;
mod forms;
mod registry;
pub mod sexp;
mod training;

use crate::egraph::{param_list, Lang};
use crate::error::{Error, Result};
use crate::ops::table;
use egg::{ENodeOrVar, Id, Pattern, PatternAst, RecExpr, Var};
use sexp::{read_forms, Sexp, Span};
use std::path::Path;

pub(crate) use apply::multi_root;
pub use apply::{NodeCount, RuleApplier, RuleLog};
pub use env_registry::padded_length;

impl Rule {
    /// Whether the rule applies for `target` under the asserted assumptions.
    pub fn enabled(&self, target: crate::target::Target, assumed: &[String]) -> bool {
        self.target.map_or(true, |t| t == target) && self.assume.iter().all(|a| assumed.contains(a))
    }

    /// Every variable the rule's patterns bind.
    pub fn vars(&self) -> Vec<Var> {
        let mut vars = self.lhs.vars();
        for w in &self.with {
            for v in Pattern::new(w.clone()).vars() {
                if !vars.contains(&v) {
                    vars.push(v);
                }
            }
        }
        vars
    }
}

/// The right side of a rule.
#[derive(Debug, Clone)]
pub enum Rhs {
    /// A pattern variable.
    Var(Var),
    /// A leaf or call whose children are right sides.
    Node(Lang, Vec<Rhs>),
    /// A computed attribute applied to right sides.
    Compute(&'static cond::Computed, Vec<Rhs>),
}

impl Rhs {
    /// Whether the right side reads variable `v`.
    pub fn mentions(&self, v: Var) -> bool {
        match self {
            Rhs::Var(x) => *x == v,
            Rhs::Node(_, c) | Rhs::Compute(_, c) => c.iter().any(|r| r.mentions(v)),
        }
    }

    /// Whether the right side calls an op named one of `names`.
    pub fn calls_any(&self, names: &[&str]) -> bool {
        match self {
            Rhs::Var(_) => false,
            Rhs::Node(n, c) => {
                n.op().is_some_and(|o| names.contains(&o.name()))
                    || c.iter().any(|r| r.calls_any(names))
            }
            Rhs::Compute(_, c) => c.iter().any(|r| r.calls_any(names)),
        }
    }
}

/// An argument of a condition.
#[derive(Debug, Clone)]
pub enum CondArg {
    /// A pattern variable.
    Var(Var),
    /// A literal leaf.
    Lit(Lang),
}

/// A condition applied to arguments.
#[derive(Clone)]
pub struct Cond {
    /// The condition.
    pub cond: &'static cond::Condition,
    /// Its arguments.
    pub args: Vec<CondArg>,
}

impl std::fmt::Debug for Cond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({} {:?})", self.cond.name, self.args)
    }
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique name.
    pub name: String,
    /// The comment above it (its identity).
    pub doc: String,
    /// Left side: the class that receives the right side.
    pub lhs: Pattern<Lang>,
    /// More patterns that must match too (`:with PATTERN`), joined with the left side on
    /// their shared variables: a multi-pattern rule. They only bind variables.
    pub with: Vec<PatternAst<Lang>>,
    /// The only target the rule is for (`:target cpu|cuda`); `None`: every target.
    pub target: Option<crate::target::Target>,
    /// Assumptions about the inputs the rule relies on (`:assume NAME`): it only applies when
    /// the caller asserts all of them (`--assume NAME`).
    pub assume: Vec<String>,
    /// `:in-distribution ?r`: the two sides are equal in distribution over the uniform draws
    /// `?r` (a `rand` call the left side reads and the right side does not: the right side
    /// draws its own randomness, e.g. SDPA's `dropout_p`), not in value. Such rules apply by
    /// default and not under `--exact-random`; `check-rules` checks them on a coupling (the
    /// right side's random draws taken from `?r`'s values): see `src/check/mod.rs`.
    pub in_distribution: Option<egg::Var>,
    /// Right side.
    pub rhs: Rhs,
    /// Conditions, all of which must hold.
    pub conds: Vec<Cond>,
    /// `file:line` where it is defined.
    pub origin: String,
}

/// The default rules, compiled in: `(file name, text)`.
pub const DEFAULT_RULES: &[(&str, &str)] = &[
    (
        "attention.rules",
        include_str!("../../rules/attention.rules"),
    ),
    (
        "attention_train.rules",
        include_str!("../../rules/attention_train.rules"),
    ),
    ("bias.rules", include_str!("../../rules/bias.rules")),
    ("causal.rules", include_str!("../../rules/causal.rules")),
    ("forms.rules", include_str!("../../rules/forms.rules")),
    ("index.rules", include_str!("../../rules/index.rules")),
    ("pad.rules", include_str!("../../rules/pad.rules")),
    ("scale.rules", include_str!("../../rules/scale.rules")),
    ("views.rules", include_str!("../../rules/views.rules")),
];

/// Parses the default rules.
pub fn default_rules() -> Result<Vec<Rule>> {
    let mut all = Vec::new();
    let mut errors = Vec::new();
    for (file, text) in DEFAULT_RULES {
        let (r, e) = parse_file(&format!("rules/{file}"), text);
        all.extend(r);
        errors.extend(e);
    }
    finish(all, errors)
}

/// Loads every `*.rules` file of a directory (sorted by name).
pub fn load_dir(dir: &Path) -> Result<Vec<Rule>> {
    let rd = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<_> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::Rules(vec![format!(
            "{}: no .rules files in this directory",
            dir.display()
        )]));
    }
    let mut all = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|source| Error::Io {
            path: f.clone(),
            source,
        })?;
        let (r, e) = parse_file(&f.display().to_string(), &text);
        all.extend(r);
        errors.extend(e);
    }
    finish(all, errors)
}

fn finish(all: Vec<Rule>, mut errors: Vec<String>) -> Result<Vec<Rule>> {
    let mut seen = std::collections::HashMap::new();
    for r in &all {
        if let Some(prev) = seen.insert(r.name.clone(), r.origin.clone()) {
            errors.push(format!(
                "{}: rule `{}` is already defined at {prev}",
                r.origin, r.name
            ));
        }
    }
    if errors.is_empty() {
        Ok(all)
    } else {
        Err(Error::Rules(errors))
    }
}

/// Parses one rule file; every error is reported (duplicate names included).
pub fn parse_rules(file: &str, text: &str) -> Result<Vec<Rule>> {
    let (rules, errors) = parse_file(file, text);
    finish(rules, errors)
}

/// The rules of a file that parsed, and the errors of those that did not. The good rules of
/// a file with errors are kept so that duplicate names against them are reported too.
fn parse_file(file: &str, text: &str) -> (Vec<Rule>, Vec<String>) {
    let forms = match read_forms(text) {
        Ok(forms) => forms,
        Err((s, m)) => {
            return (
                Vec::new(),
                vec![format!("{file}:{}:{}: {m}", s.line, s.col)],
            )
        }
    };
    let mut p = Parser {
        file,
        errors: Vec::new(),
    };
    let mut rules = Vec::new();
    for f in forms {
        if let Some(r) = p.rule(&f.sexp, f.comment) {
            rules.push(r);
        }
    }
    (rules, p.errors)
}

struct Parser<'a> {
    file: &'a str,
    errors: Vec<String>,
}

impl Parser<'_> {
    fn err(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.errors
            .push(format!("{}:{}:{}: {msg}", self.file, span.line, span.col));
    }

    fn rule(&mut self, s: &Sexp, doc: String) -> Option<Rule> {
        let (items, span) = match s {
            Sexp::List(items, span) => (items, *span),
            Sexp::Atom(a, span) => {
                self.err(*span, format!("expected `(rule ...)`, found `{a}`"));
                return None;
            }
        };
        match items.first() {
            Some(Sexp::Atom(k, _)) if k == "rule" => {}
            _ => {
                self.err(span, "expected `(rule NAME LHS RHS [:if COND...])`");
                return None;
            }
        }
        let name = match items.get(1) {
            Some(Sexp::Atom(n, _)) if !n.starts_with(['?', ':']) => n.clone(),
            Some(other) => {
                self.err(other.span(), "a rule needs a name");
                return None;
            }
            None => {
                self.err(span, "a rule needs a name, a left side and a right side");
                return None;
            }
        };
        if items.len() < 4 {
            self.err(
                span,
                format!("rule `{name}` needs a left side and a right side"),
            );
            return None;
        }
        let errors_before = self.errors.len();
        let mut ast = RecExpr::default();
        let mut vars = Vec::new();
        self.lhs(&items[2], &mut ast, &mut vars);
        // Options first: `:with` patterns bind variables that the right side and the
        // conditions may use.
        let mut with = Vec::new();
        let mut target = None;
        let mut assume = Vec::new();
        let mut in_distribution = None;
        let mut cond_forms = Vec::new();
        let mut i = 4;
        while i < items.len() {
            match &items[i] {
                Sexp::Atom(k, _) if k == ":if" => {}
                Sexp::Atom(k, sp) if k == ":assume" => match items.get(i + 1) {
                    Some(Sexp::Atom(a, _)) if !a.starts_with(['?', ':']) => {
                        assume.push(a.clone());
                        i += 1;
                    }
                    _ => self.err(*sp, "`:assume` needs an assumption's name"),
                },
                Sexp::Atom(k, sp) if k == ":in-distribution" => match items.get(i + 1) {
                    Some(Sexp::Atom(a, asp)) if a.starts_with('?') => {
                        match a.parse::<egg::Var>() {
                            Ok(v) => in_distribution = Some((v, *asp)),
                            Err(e) => self.err(*asp, format!("bad variable `{a}`: {e}")),
                        }
                        i += 1;
                    }
                    _ => self.err(
                        *sp,
                        "`:in-distribution` needs the variable of the uniform draws the left side reads",
                    ),
                },
                Sexp::Atom(k, sp) if k == ":with" || k == ":target" => match items.get(i + 1) {
                    Some(arg) if k == ":with" => {
                        let bound = vars.clone();
                        let mut w = RecExpr::default();
                        self.lhs(arg, &mut w, &mut vars);
                        if matches!(arg, Sexp::Atom(..)) {
                            self.err(arg.span(), "a `:with` pattern must be a call");
                        } else if !Pattern::new(w.clone()).vars().iter().any(|v| bound.contains(v))
                        {
                            self.err(
                                arg.span(),
                                "a `:with` pattern must share a variable with the patterns before it",
                            );
                        }
                        with.push(w);
                        i += 1;
                    }
                    Some(Sexp::Atom(t, tsp)) => {
                        match t.as_str() {
                            "cpu" => target = Some(crate::target::Target::Cpu),
                            "cuda" => target = Some(crate::target::Target::Cuda),
                            _ => self.err(*tsp, format!("unknown target `{t}` (cpu or cuda)")),
                        }
                        i += 1;
                    }
                    _ => self.err(*sp, format!("`{k}` needs an argument")),
                },
                Sexp::Atom(k, sp) => self.err(
                    *sp,
                    format!("unknown rule option `{k}` (expected `:if`, `:with`, `:target`, `:assume` or `:in-distribution`)"),
                ),
                other => cond_forms.push(other),
            }
            i += 1;
        }
        let rhs = self.rhs(&items[3], &vars);
        if let Some((v, vsp)) = in_distribution {
            if !vars.contains(&v) {
                self.err(
                    vsp,
                    format!("`:in-distribution {v}`: the left side binds no `{v}`"),
                );
            } else if rhs.as_ref().is_some_and(|r| r.mentions(v)) {
                self.err(
                    vsp,
                    format!("`:in-distribution {v}`: the right side must not read `{v}` (it draws its own randomness)"),
                );
            }
        }
        let conds: Vec<Cond> = cond_forms
            .into_iter()
            .filter_map(|c| self.cond(c, &vars))
            .collect();
        if matches!(items[2], Sexp::Atom(ref a, _) if a.starts_with('?')) {
            self.err(items[2].span(), "the left side must not be a bare variable");
        }
        if self.errors.len() > errors_before {
            return None;
        }
        Some(Rule {
            name,
            doc,
            lhs: Pattern::new(ast),
            with,
            target,
            assume,
            in_distribution: in_distribution.map(|(v, _)| v),
            rhs: rhs?,
            conds,
            origin: format!("{}:{}", self.file, span.line),
        })
    }

    fn lhs(&mut self, s: &Sexp, ast: &mut PatternAst<Lang>, vars: &mut Vec<Var>) -> Id {
        match s {
            Sexp::Atom(a, span) if a.starts_with('?') => match a.parse::<Var>() {
                Ok(v) => {
                    if !vars.contains(&v) {
                        vars.push(v);
                    }
                    ast.add(ENodeOrVar::Var(v))
                }
                Err(e) => {
                    self.err(*span, format!("bad variable `{a}`: {e}"));
                    ast.add(ENodeOrVar::ENode(Lang::Int(0)))
                }
            },
            Sexp::Atom(a, span) => match self.node(a, *span, 0) {
                Some(n) => ast.add(ENodeOrVar::ENode(n)),
                None => ast.add(ENodeOrVar::ENode(Lang::Int(0))),
            },
            Sexp::List(items, span) => {
                let Some(Sexp::Atom(op, op_span)) = items.first() else {
                    self.err(*span, "expected an op name after `(`");
                    return ast.add(ENodeOrVar::ENode(Lang::Int(0)));
                };
                let children: Vec<Id> = items[1..].iter().map(|c| self.lhs(c, ast, vars)).collect();
                match self.node(op, *op_span, children.len()) {
                    Some(Lang::Call(o, _)) => {
                        ast.add(ENodeOrVar::ENode(Lang::Call(o, children.into())))
                    }
                    Some(_) => {
                        self.err(*op_span, format!("`{op}` is a literal, not an op"));
                        ast.add(ENodeOrVar::ENode(Lang::Int(0)))
                    }
                    None => ast.add(ENodeOrVar::ENode(Lang::Int(0))),
                }
            }
        }
    }

    /// Parses an op or literal with `n` children.
    fn node(&mut self, op: &str, span: Span, n: usize) -> Option<Lang> {
        use egg::FromOp;
        match Lang::from_op(op, vec![Id::from(0usize); n]) {
            Ok(l) => Some(l),
            Err(e) => {
                if let Some(o) = table().by_name(op) {
                    self.err(
                        span,
                        format!(
                            "`{op}` takes {} arguments ({}), got {n}",
                            o.def().params.len(),
                            param_list(o)
                        ),
                    );
                } else {
                    self.err(span, e);
                }
                None
            }
        }
    }

    fn rhs(&mut self, s: &Sexp, vars: &[Var]) -> Option<Rhs> {
        match s {
            Sexp::Atom(a, span) if a.starts_with('?') => match a.parse::<Var>() {
                Ok(v) if vars.contains(&v) => Some(Rhs::Var(v)),
                _ => {
                    self.err(
                        *span,
                        format!("variable `{a}` is not bound by the left side"),
                    );
                    None
                }
            },
            Sexp::Atom(a, span) => self.node(a, *span, 0).map(|n| Rhs::Node(n, Vec::new())),
            Sexp::List(items, span) => {
                let Some(Sexp::Atom(op, op_span)) = items.first() else {
                    self.err(*span, "expected an op name after `(`");
                    return None;
                };
                let children: Vec<Option<Rhs>> =
                    items[1..].iter().map(|c| self.rhs(c, vars)).collect();
                let children: Option<Vec<Rhs>> = children.into_iter().collect();
                if let Some(c) = cond::computed(op) {
                    if c.arity != items.len() - 1 {
                        self.err(
                            *op_span,
                            format!(
                                "computed attribute `{op}` takes {} arguments, got {}",
                                c.arity,
                                items.len() - 1
                            ),
                        );
                        return None;
                    }
                    return Some(Rhs::Compute(c, children?));
                }
                let n = self.node(op, *op_span, items.len() - 1)?;
                Some(Rhs::Node(n, children?))
            }
        }
    }

    fn cond(&mut self, s: &Sexp, vars: &[Var]) -> Option<Cond> {
        let (items, span) = match s {
            Sexp::List(items, span) if !items.is_empty() => (items, *span),
            other => {
                self.err(other.span(), "a condition is `(name args...)`");
                return None;
            }
        };
        let Sexp::Atom(name, name_span) = &items[0] else {
            self.err(span, "a condition is `(name args...)`");
            return None;
        };
        let Some(cond) = cond::condition(name) else {
            self.err(*name_span, format!("unknown condition `{name}`"));
            return None;
        };
        if let Some(n) = cond.arity {
            if n != items.len() - 1 {
                self.err(
                    *name_span,
                    format!(
                        "condition `{name}` takes {n} arguments, got {}",
                        items.len() - 1
                    ),
                );
                return None;
            }
        }
        let mut args = Vec::new();
        for a in &items[1..] {
            match a {
                Sexp::Atom(v, sp) if v.starts_with('?') => match v.parse::<Var>() {
                    Ok(var) if vars.contains(&var) => args.push(CondArg::Var(var)),
                    _ => {
                        self.err(*sp, format!("variable `{v}` is not bound by the left side"));
                        return None;
                    }
                },
                Sexp::Atom(lit, sp) => args.push(CondArg::Lit(self.node(lit, *sp, 0)?)),
                other => {
                    self.err(
                        other.span(),
                        "condition arguments are variables or literals",
                    );
                    return None;
                }
            }
        }
        Some(Cond { cond, args })
    }
}
