//! Research tools above the pipeline: the rules report (which rules fire on a corpus, what
//! each is worth, which never fire), with its request and document ([`rules_report_doc`]:
//! the command line's and the Python module's one entry). The e-graph dump and the extractors are in
//! [`crate::extract`] (`serialize`, `exact`).

use crate::error::{Error, Result};
use crate::ir::Graph;
use crate::passes::RegionOptions;
use crate::pipeline::{optimize, Options};
use crate::request::{check_assume, check_time_limit, OptimizeRequest, REPORT_VERSION};
use crate::rules::{default_rules, load_dir, Rule};
use crate::saturate::Limits;
use crate::target::Target;
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The graph files a path stands for, appended to `out`: a file itself; a directory its
/// `*.forward.json` and `*.joint.json` files (also gzipped), recursively, sorted by name
/// (`fxsat rules-report`'s arguments).
pub fn graph_files(p: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if !p.is_dir() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(|e| Error::Io {
            path: p.to_path_buf(),
            source: e,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        let name = e
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if e.is_dir() {
            graph_files(&e, out)?;
        } else if [".forward.json", ".joint.json"]
            .iter()
            .any(|s| name.ends_with(s) || name.ends_with(&format!("{s}.gz")))
        {
            out.push(e);
        }
    }
    Ok(())
}

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
    rules_report_until(graphs, opts, &mut |line| {
        progress(line);
        Ok(())
    })
}

/// [`rules_report`] whose `progress` may stop the run: its error, returned before the next
/// run starts, is the call's (the Python module's progress callback, an interrupt).
pub fn rules_report_until(
    graphs: &[(String, Graph)],
    opts: &Options,
    progress: &mut dyn FnMut(&str) -> Result<()>,
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
        progress(&format!("[{}/{}] {name}: all rules", k + 1, graphs.len()))?;
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
            ))?;
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

/// Options of [`rules_report_doc`], as `fxsat rules-report` names them.
#[derive(Debug, Clone)]
pub struct RulesReportRequest {
    /// Target device.
    pub target: Target,
    /// Cost-model profile: a built-in name or a JSON file (`None`: the target's).
    pub device: Option<String>,
    /// A directory of `.rules` files replacing the compiled-in rules.
    pub rules: Option<PathBuf>,
    /// Assumptions asserted (each must be one some rule uses).
    pub assume: Vec<String>,
    /// Most e-nodes, per optimisation.
    pub node_limit: usize,
    /// Most iterations, per optimisation.
    pub iter_limit: usize,
    /// Time limit in seconds of each optimisation (positive; infinite: none).
    pub time_limit: f64,
    /// Optimise each graph as one e-graph whatever the size.
    pub whole: bool,
}

impl Default for RulesReportRequest {
    fn default() -> Self {
        let d = OptimizeRequest::default();
        RulesReportRequest {
            target: d.target,
            device: None,
            rules: None,
            assume: Vec::new(),
            node_limit: d.node_limit,
            iter_limit: d.iter_limit,
            time_limit: d.time_limit,
            whole: false,
        }
    }
}

/// The options a rules report records.
#[derive(serde::Serialize)]
struct RulesReportUsed<'a> {
    target: Target,
    device: &'a str,
    rules: Option<String>,
    node_limit: usize,
    iter_limit: usize,
    time_limit: f64,
    assume: &'a [String],
    whole: bool,
}

/// `fxsat rules-report` (and the Python module's `rules_report`): the [`rules_report`] of
/// `graphs` (name, graph) under the request's options, and its document (`format`
/// `fxsat-rules-report`, `version`, `options`, then the report's fields: what `--json`
/// writes). `progress` hears a line per run and may stop the run with an error.
pub fn rules_report_doc(
    graphs: &[(String, Graph)],
    req: &RulesReportRequest,
    progress: &mut dyn FnMut(&str) -> Result<()>,
) -> Result<(RulesReport, Value)> {
    let time_limit = check_time_limit(req.time_limit)?;
    for (name, n) in [
        ("--node-limit", req.node_limit),
        ("--iter-limit", req.iter_limit),
    ] {
        if n == 0 {
            return Err(Error::Invalid(format!("{name} must be at least 1")));
        }
    }
    let rules = match &req.rules {
        Some(dir) => load_dir(dir)?,
        None => default_rules()?,
    };
    check_assume(&req.assume, &rules)?;
    let profile = req.target.profile(req.device.as_deref())?;
    let opts = Options {
        target: req.target,
        profile: Some(profile.clone()),
        rules: Some(rules),
        limits: Limits {
            nodes: req.node_limit,
            iterations: req.iter_limit,
            time: time_limit,
            ..Limits::default()
        },
        assume: req.assume.clone(),
        regions: if req.whole {
            RegionOptions::off()
        } else {
            RegionOptions::default()
        },
        ..Options::default()
    };
    let report = rules_report_until(graphs, &opts, progress)?;
    let used = RulesReportUsed {
        target: req.target,
        device: &profile.name,
        rules: req.rules.as_ref().map(|d| d.display().to_string()),
        node_limit: req.node_limit,
        iter_limit: req.iter_limit,
        time_limit: req.time_limit,
        assume: &req.assume,
        whole: req.whole,
    };
    let mut doc = Map::new();
    doc.insert("format".into(), "fxsat-rules-report".into());
    doc.insert("version".into(), REPORT_VERSION.into());
    doc.insert("options".into(), json(&used)?);
    if let Value::Object(fields) = json(&report)? {
        doc.extend(fields);
    }
    Ok((report, Value::Object(doc)))
}

fn json(x: &impl Serialize) -> Result<Value> {
    serde_json::to_value(x).map_err(|e| Error::Internal(format!("report: {e}")))
}
