//! Research tools above the pipeline: the rules report (which rules fire on a corpus, what
//! each is worth, which never fire). The e-graph dump and the extractors are in
//! [`crate::extract`] (`serialize`, `exact`).

use crate::error::Result;
use crate::ir::Graph;
use crate::pipeline::{optimize, Options};
use crate::rules::Rule;
use serde::Serialize;

/// One rule's figures over a corpus.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleFigures {
    /// The rule's name.
    pub name: String,
    /// Where it comes from (file and line).
    pub origin: String,
    /// Enabled for the run's target and assumptions (a disabled rule is not run).
    pub enabled: bool,
    /// Applications over the corpus (egg's per-iteration counts, summed).
    pub applications: usize,
    /// Graphs it applied on.
    pub graphs_fired: usize,
    /// Total output cost (cost-model seconds) with the rule removed minus with all rules,
    /// over the graphs it fired on (positive: the rule saves that much; 0 when it never
    /// fires: removing it changes nothing).
    pub cost_change: f64,
    /// `cost_change` relative to the corpus's total output cost.
    pub cost_change_relative: f64,
    /// Graphs whose output cost changed (by more than 1e-12 relative) without it.
    pub graphs_changed: usize,
    /// Graphs that failed to optimise without it (counted in no cost).
    pub graphs_failed: usize,
}

/// The rules report of a corpus.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RulesReport {
    /// The graphs optimised (their names).
    pub graphs: Vec<String>,
    /// Graphs that failed with all rules, and why (left out of everything else).
    pub failed: Vec<(String, String)>,
    /// Total output cost with all rules (cost-model seconds).
    pub total_cost: f64,
    /// Per rule, in the rule set's order.
    pub rules: Vec<RuleFigures>,
    /// Enabled rules that fired on no graph: prune them, or add a fixture that needs them.
    pub never_fired: Vec<String>,
    /// Rules not enabled for the target and assumptions of the run.
    pub disabled: Vec<String>,
}

/// The rules report of `graphs` (name, graph) under `opts` (its rules, or the compiled-in
/// ones): every graph optimised with all rules, then once more without each rule that fired
/// on it. `progress` hears a line per run.
pub fn rules_report(
    graphs: &[(String, Graph)],
    opts: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<RulesReport> {
    let all: Vec<Rule> = opts.all_rules()?;
    let enabled: Vec<bool> = all
        .iter()
        .map(|r| r.enabled(opts.target, &opts.assume))
        .collect();
    let with_rules = |rules: Vec<Rule>| Options {
        rules: Some(rules),
        ..opts.clone()
    };
    let base_opts = with_rules(all.clone());
    // 1. all rules
    let mut base: Vec<(usize, f64, indexmap::IndexMap<String, usize>)> = Vec::new();
    let mut names = Vec::new();
    let mut failed = Vec::new();
    for (k, (name, g)) in graphs.iter().enumerate() {
        progress(&format!("[{}/{}] {name}: all rules", k + 1, graphs.len()));
        let named = Options {
            file: name.clone(),
            ..base_opts.clone()
        };
        match optimize(g, &named) {
            Ok(o) => {
                base.push((k, o.report.cost.after, o.report.rules));
                names.push(name.clone());
            }
            Err(e) => failed.push((name.clone(), e.to_string())),
        }
    }
    let total_cost: f64 = base.iter().map(|b| b.1).sum();
    // 2. without each rule that fired, on the graphs it fired on
    let mut figures = Vec::with_capacity(all.len());
    let fired_runs: usize = all
        .iter()
        .map(|r| {
            base.iter()
                .filter(|b| b.2.get(&r.name).is_some_and(|&n| n > 0))
                .count()
        })
        .sum();
    let mut run = 0;
    for (i, rule) in all.iter().enumerate() {
        let mut f = RuleFigures {
            name: rule.name.clone(),
            origin: rule.origin.clone(),
            enabled: enabled[i],
            applications: 0,
            graphs_fired: 0,
            cost_change: 0.0,
            cost_change_relative: 0.0,
            graphs_changed: 0,
            graphs_failed: 0,
        };
        let without = with_rules(
            all.iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, r)| r.clone())
                .collect(),
        );
        for (k, cost, apps) in &base {
            let n = apps.get(&rule.name).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            f.applications += n;
            f.graphs_fired += 1;
            run += 1;
            let name = &graphs[*k].0;
            progress(&format!(
                "[{run}/{fired_runs}] {name}: without {}",
                rule.name
            ));
            let named = Options {
                file: name.clone(),
                ..without.clone()
            };
            match optimize(&graphs[*k].1, &named) {
                Ok(o) => {
                    let d = o.report.cost.after - cost;
                    if d.abs() > 1e-12 * cost.abs().max(1e-30) {
                        f.graphs_changed += 1;
                    }
                    f.cost_change += d;
                }
                Err(e) => {
                    log::warn!("{name} without rule {}: {e}", rule.name);
                    f.graphs_failed += 1;
                }
            }
        }
        if total_cost > 0.0 {
            f.cost_change_relative = f.cost_change / total_cost;
        }
        figures.push(f);
    }
    let never_fired = figures
        .iter()
        .filter(|f| f.enabled && f.applications == 0)
        .map(|f| f.name.clone())
        .collect();
    let disabled = figures
        .iter()
        .filter(|f| !f.enabled)
        .map(|f| f.name.clone())
        .collect();
    Ok(RulesReport {
        graphs: names,
        failed,
        total_cost,
        rules: figures,
        never_fired,
        disabled,
    })
}

impl RulesReport {
    /// A text table: rules by applications (most first), then the ones that never fired.
    pub fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} graphs ({} failed), total cost {:.6e} s with all rules",
            self.graphs.len(),
            self.failed.len(),
            self.total_cost
        );
        let _ = writeln!(
            s,
            "{:<44} {:>8} {:>7} {:>13} {:>9} {:>8}",
            "rule", "applied", "graphs", "removed: Δs", "Δ %", "changed"
        );
        let mut rows: Vec<&RuleFigures> =
            self.rules.iter().filter(|f| f.applications > 0).collect();
        rows.sort_by(|a, b| {
            b.applications
                .cmp(&a.applications)
                .then(a.name.cmp(&b.name))
        });
        for f in rows {
            let _ = writeln!(
                s,
                "{:<44} {:>8} {:>7} {:>13.4e} {:>8.3}% {:>8}",
                f.name,
                f.applications,
                f.graphs_fired,
                f.cost_change,
                100.0 * f.cost_change_relative,
                f.graphs_changed
            );
        }
        let _ = writeln!(
            s,
            "never fired ({}): {}",
            self.never_fired.len(),
            self.never_fired.join(", ")
        );
        if !self.disabled.is_empty() {
            let _ = writeln!(
                s,
                "not enabled for this target/assumptions ({}): {}",
                self.disabled.len(),
                self.disabled.join(", ")
            );
        }
        s
    }
}
