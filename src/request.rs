//! Requests as the command line and the Python module (`fxsat._native`) make them: options
//! by name (a device name, a rules directory, extra rule files, assumption names, limits),
//! answered with the output graphs' FX-JSON text and a report document, through the
//! [result cache](crate::cache) when asked. Both front ends call these functions, so the same
//! input and options give the same bytes in both.
//!
//! A report document is the report file of `fxsat optimize --report` / `fxsat partition
//! --report` without its file names: `format`, `version`, `options`, the report's fields and,
//! from these functions, `cache` (`{"enabled", "dir", "key", "hit", "hits", "misses",
//! "seconds"}`).

use crate::cache::{Cache, Entry, KeyHasher};
use crate::error::{Error, Result};
use crate::ir::Graph;
use crate::partition::{PartitionOptions, PeakRule};
use crate::passes::RegionOptions;
use crate::pipeline::{Options, Report};
use crate::progress::Progress;
use crate::rules::{default_rules, load_dir, parse_rules, Rule, DEFAULT_RULES};
use crate::saturate::Limits;
use crate::target::Target;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Version of the report documents' format (`format`: `fxsat-optimize-report`,
/// `fxsat-partition-report`, `fxsat-train-report`): bumped when a field changes meaning or
/// goes.
pub const REPORT_VERSION: u32 = 1;

/// Where the rules come from.
#[derive(Debug, Clone, Default)]
pub struct RuleSource {
    /// A directory of `.rules` files replacing the compiled-in rules.
    pub dir: Option<PathBuf>,
    /// More `.rules` files, or directories of them, added to those.
    pub extra: Vec<PathBuf>,
}

impl RuleSource {
    /// The `.rules` files, in order: `(name, text)` (the compiled-in ones named
    /// `rules/NAME`).
    fn texts(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        match &self.dir {
            Some(d) => out.extend(read_rule_files(d, true)?),
            None => out.extend(
                DEFAULT_RULES
                    .iter()
                    .map(|(f, t)| (format!("rules/{f}"), t.to_string())),
            ),
        }
        for p in &self.extra {
            out.extend(read_rule_files(p, p.is_dir())?);
        }
        Ok(out)
    }

    /// The rules (`None`: exactly the compiled-in ones).
    pub fn load(&self) -> Result<Option<Vec<Rule>>> {
        if self.dir.is_none() && self.extra.is_empty() {
            return Ok(None);
        }
        let mut rules = match &self.dir {
            Some(d) => load_dir(d)?,
            None => default_rules()?,
        };
        for p in &self.extra {
            let mut names: std::collections::HashMap<String, String> = rules
                .iter()
                .map(|r| (r.name.clone(), r.origin.clone()))
                .collect();
            let more = if p.is_dir() {
                load_dir(p)?
            } else {
                let (name, text) = read_rule_files(p, false)?.remove(0);
                parse_rules(&name, &text)?
            };
            let mut errors = Vec::new();
            for r in &more {
                if let Some(prev) = names.insert(r.name.clone(), r.origin.clone()) {
                    errors.push(format!(
                        "{}: rule `{}` is already defined at {prev}",
                        r.origin, r.name
                    ));
                }
            }
            if !errors.is_empty() {
                return Err(Error::Rules(errors));
            }
            rules.extend(more);
        }
        Ok(Some(rules))
    }

    /// How a report names them (`None`: the compiled-in rules).
    fn describe(&self) -> Option<String> {
        if self.dir.is_none() && self.extra.is_empty() {
            return None;
        }
        let mut parts: Vec<String> = self.dir.iter().map(|d| d.display().to_string()).collect();
        if self.dir.is_none() {
            parts.push("the compiled-in rules".into());
        }
        parts.extend(self.extra.iter().map(|p| format!("+ {}", p.display())));
        Some(parts.join(" "))
    }
}

/// A file's `(name, text)`, or a directory's `.rules` files sorted by name.
fn read_rule_files(path: &Path, dir: bool) -> Result<Vec<(String, String)>> {
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map(|t| (p.display().to_string(), t))
            .map_err(|source| Error::Io {
                path: p.to_path_buf(),
                source,
            })
    };
    if !dir {
        return Ok(vec![read(path)?]);
    }
    let rd = std::fs::read_dir(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .collect();
    files.sort();
    files.iter().map(|p| read(p)).collect()
}

/// A hash of the rules' text (file names and contents; the compiled-in rules' when no
/// directory is given): 64 hex digits. Equal hashes, equal rules.
pub fn rules_hash(rules: &RuleSource) -> Result<String> {
    let mut h = KeyHasher::bare();
    h.part("fxsat-rules");
    for (name, text) in rules.texts()? {
        h.part(name).part(text);
    }
    Ok(h.finish())
}

/// Options of [`optimize`] and [`optimize_and_partition`], as the command line names them.
#[derive(Debug, Clone)]
pub struct OptimizeRequest {
    /// Target device.
    pub target: Target,
    /// Cost-model profile: a built-in name or a JSON file (`None`: the target's).
    pub device: Option<String>,
    /// Rules.
    pub rules: RuleSource,
    /// Assumptions asserted (each must be one some rule uses).
    pub assume: Vec<String>,
    /// Most e-nodes.
    pub node_limit: usize,
    /// Most iterations.
    pub iter_limit: usize,
    /// Time limit in seconds (positive; infinite: none).
    pub time_limit: f64,
    /// When the time limit started (`None`: at the call), e.g. before the input was read.
    pub start: Option<Instant>,
    /// Keep recorded vals that contradict shape rules.
    pub trust_meta: bool,
    /// No in-distribution rule.
    pub exact_random: bool,
    /// Optimise as one e-graph whatever the size.
    pub whole: bool,
    /// The input's name in error messages.
    pub file: String,
    /// Progress of saturation and extraction.
    pub progress: Progress,
    /// The result cache's directory (`None`: no cache).
    pub cache: Option<PathBuf>,
    /// Which extractor runs.
    pub extractor: crate::extract::Extractor,
    /// Time limit of the exact extractor, per e-graph (`None`: none).
    pub extract_time_limit: Option<Duration>,
    /// Keep the saturated e-graphs ([`OptimizeResult::egraphs`]); such a call bypasses the
    /// cache, which stores no e-graph.
    pub dump_egraph: bool,
}

impl Default for OptimizeRequest {
    fn default() -> Self {
        OptimizeRequest {
            target: Target::Cpu,
            device: None,
            rules: RuleSource::default(),
            assume: Vec::new(),
            node_limit: 200_000,
            iter_limit: 30,
            time_limit: 10.0,
            start: None,
            trust_meta: false,
            exact_random: false,
            whole: false,
            file: "<input>".into(),
            progress: Progress::default(),
            cache: None,
            extractor: crate::extract::Extractor::default(),
            extract_time_limit: None,
            dump_egraph: false,
        }
    }
}

/// Options of [`partition`] (and the partition of [`optimize_and_partition`]).
#[derive(Debug, Clone)]
pub struct PartitionRequest {
    /// Memory budget in [0, 1].
    pub budget: f64,
    /// Target device.
    pub target: Target,
    /// Cost-model profile (`None`: the target's).
    pub device: Option<String>,
    /// How budgets below 1 treat peak memory.
    pub peak_rule: PeakRule,
}

impl Default for PartitionRequest {
    fn default() -> Self {
        PartitionRequest {
            budget: 1.0,
            target: Target::Cpu,
            device: None,
            peak_rule: PeakRule::WithinBudget,
        }
    }
}

/// A time limit in seconds: positive; huge or infinite is no limit (`Duration::MAX`).
pub fn check_time_limit(secs: f64) -> Result<Duration> {
    if secs.is_nan() || secs <= 0.0 {
        return Err(Error::Invalid(format!(
            "--time-limit must be a positive number of seconds, got {secs}"
        )));
    }
    Ok(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

/// A memory budget in [0, 1].
pub fn check_budget(b: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&b) {
        return Err(Error::Invalid(format!(
            "--budget must be in [0, 1], got {b}"
        )));
    }
    Ok(b)
}

/// Every assumption names one some rule uses.
pub fn check_assume(assume: &[String], rules: &[Rule]) -> Result<()> {
    let mut known: Vec<String> = rules
        .iter()
        .flat_map(|r| r.assume.iter().cloned())
        .collect();
    if let Some(a) = assume.iter().find(|a| !known.contains(a)) {
        known.sort();
        known.dedup();
        return Err(Error::Invalid(format!(
            "--assume {a}: no rule uses this assumption (known: {})",
            known.join(", ")
        )));
    }
    Ok(())
}

/// The pipeline's options of a request, checked; and whether the rules are the compiled-in
/// ones.
fn options(req: &OptimizeRequest, t0: Instant) -> Result<(Options, bool)> {
    let time_limit = check_time_limit(req.time_limit)?;
    for (name, n) in [
        ("--node-limit", req.node_limit),
        ("--iter-limit", req.iter_limit),
    ] {
        if n == 0 {
            return Err(Error::Invalid(format!("{name} must be at least 1")));
        }
    }
    let profile = req.target.profile(req.device.as_deref())?;
    let rules = req.rules.load()?;
    match &rules {
        Some(r) => check_assume(&req.assume, r)?,
        None => check_assume(&req.assume, &default_rules()?)?,
    }
    let builtin = rules.is_none();
    Ok((
        Options {
            target: req.target,
            profile: Some(profile),
            rules,
            limits: Limits {
                nodes: req.node_limit,
                iterations: req.iter_limit,
                // the limit holds from the start
                time: time_limit.saturating_sub(req.start.unwrap_or(t0).elapsed()),
                ..Limits::default()
            },
            trust_meta: req.trust_meta,
            assume: req.assume.clone(),
            exact_random: req.exact_random,
            file: req.file.clone(),
            progress: req.progress.clone(),
            regions: if req.whole {
                RegionOptions::off()
            } else {
                RegionOptions::default()
            },
            extract: crate::extract::ExtractOptions {
                extractor: req.extractor,
                exact_time_limit: req.extract_time_limit,
                ..crate::extract::ExtractOptions::default()
            },
            dump_egraph: req.dump_egraph,
        },
        builtin,
    ))
}

/// The partition's options of a request, checked.
fn partition_options(req: &PartitionRequest) -> Result<PartitionOptions> {
    Ok(PartitionOptions {
        budget: check_budget(req.budget)?,
        target: req.target,
        profile: Some(req.target.profile(req.device.as_deref())?),
        peak_rule: req.peak_rule,
        ..PartitionOptions::default()
    })
}

fn peak_rule_name(r: PeakRule) -> &'static str {
    match r {
        PeakRule::WithinBudget => "within-budget",
        PeakRule::Strict => "strict",
        PeakRule::Off => "off",
    }
}

/// A report document: `format`, `version`, `options`, then the report's own fields.
fn report_doc(format: &str, options: Value, report: Value) -> Value {
    let mut doc = Map::new();
    doc.insert("format".into(), format.into());
    doc.insert("version".into(), REPORT_VERSION.into());
    doc.insert("options".into(), options);
    match report {
        Value::Object(fields) => doc.extend(fields),
        other => {
            doc.insert("report".into(), other);
        }
    }
    Value::Object(doc)
}

fn to_value(x: &impl serde::Serialize) -> Result<Value> {
    serde_json::to_value(x).map_err(|e| Error::Internal(format!("report: {e}")))
}

/// The optimize report document of a run.
fn optimize_report(req: &OptimizeRequest, opts: &Options, report: &Report) -> Result<Value> {
    let mut used = opts.used();
    // as asked: the options' limit is what was left when the pipeline started
    used.time_limit = check_time_limit(req.time_limit)
        .ok()
        .filter(|d| *d != Duration::MAX)
        .map(|d| d.as_secs_f64());
    used.rules = req.rules.describe();
    Ok(report_doc(
        "fxsat-optimize-report",
        to_value(&used)?,
        to_value(report)?,
    ))
}

/// The partition report document.
fn partition_report(
    req: &PartitionRequest,
    opts: &PartitionOptions,
    report: &crate::partition::PartitionReport,
) -> Value {
    let device = opts
        .profile
        .as_ref()
        .map_or(req.target.default_profile(), |p| &p.name);
    let options = serde_json::json!({
        "target": req.target.name(),
        "device": device,
        "budget": opts.budget,
        "peak_rule": peak_rule_name(opts.peak_rule),
        "sweep": false,
    });
    report_doc("fxsat-partition-report", options, report.to_json())
}

/// An optimised graph: its FX-JSON text and the report document.
#[derive(Debug, Clone)]
pub struct OptimizeResult {
    /// The output graph, FX-JSON text.
    pub graph: String,
    /// The report document (with `cache`).
    pub report: Value,
    /// The saturated e-graphs, serialized, one per e-graph optimised (with
    /// [`OptimizeRequest::dump_egraph`]; empty otherwise).
    pub egraphs: Vec<egraph_serialize::EGraph>,
}

/// A partitioned graph: forward and backward FX-JSON text and the report document.
#[derive(Debug, Clone)]
pub struct PartitionResult {
    /// The forward graph.
    pub fw: String,
    /// The backward graph.
    pub bw: String,
    /// The report document.
    pub report: Value,
}

/// The cache's part of a call: where, which key, hit or not.
struct CacheCall {
    cache: Cache,
    key: String,
    t0: Instant,
}

impl CacheCall {
    fn open(dir: &Option<PathBuf>, key: impl FnOnce() -> Result<String>) -> Result<Option<Self>> {
        let Some(dir) = dir else {
            return Ok(None);
        };
        let t0 = Instant::now();
        Ok(Some(CacheCall {
            cache: Cache::new(dir),
            key: key()?,
            t0,
        }))
    }

    fn section(&self, hit: bool) -> Value {
        serde_json::json!({
            "enabled": true,
            "dir": self.cache.dir().display().to_string(),
            "key": self.key,
            "hit": hit,
            "hits": hit as usize,
            "misses": !hit as usize,
            "seconds": self.t0.elapsed().as_secs_f64(),
        })
    }

    /// Stores a result; a failure to store is logged, not an error (the result stands).
    fn store(&self, outputs: &[(&str, &str)], report: &Value) {
        let entry = Entry {
            outputs: outputs
                .iter()
                .map(|(k, v)| (k.to_string(), Value::from(*v)))
                .collect(),
            report: report.clone(),
        };
        if let Err(e) = self.cache.put(&self.key, &entry) {
            log::warn!("cache: result not stored: {e}");
        }
    }
}

fn no_cache() -> Value {
    serde_json::json!({"enabled": false, "hits": 0, "misses": 0})
}

fn with_cache(mut report: Value, section: Value) -> Value {
    if let Value::Object(m) = &mut report {
        m.insert("cache".into(), section);
    }
    report
}

/// The key of an optimisation (and, with `part`, its partition).
fn optimize_key(
    graph: &Graph,
    req: &OptimizeRequest,
    part: Option<&PartitionRequest>,
) -> Result<String> {
    let mut h = KeyHasher::default();
    h.part(if part.is_some() { "train" } else { "optimize" });
    h.part(crate::io::write_string(graph));
    h.part(rules_hash(&req.rules)?);
    let profile = req.target.profile(req.device.as_deref())?;
    let mut assume = req.assume.clone();
    assume.sort();
    assume.dedup();
    h.part(format!(
        "target={} profile={profile:?} assume={assume:?} nodes={} iterations={} time={:?} trust_meta={} exact_random={} whole={}",
        req.target.name(),
        req.node_limit,
        req.iter_limit,
        check_time_limit(req.time_limit)?,
        req.trust_meta,
        req.exact_random,
        req.whole
    ));
    // the default extractor adds nothing: keys made before the choice existed stay valid
    if req.extractor != crate::extract::Extractor::default() {
        h.part(format!(
            "extractor={:?} extract_time_limit={:?}",
            req.extractor, req.extract_time_limit
        ));
    }
    if let Some(p) = part {
        let profile = p.target.profile(p.device.as_deref())?;
        h.part(format!(
            "budget={:?} target={} profile={profile:?} peak_rule={}",
            p.budget,
            p.target.name(),
            peak_rule_name(p.peak_rule)
        ));
    }
    Ok(h.finish())
}

/// A compiled-in rule that is unsound is fxsat's own failure.
fn own_failure(e: Error, builtin_rules: bool) -> Error {
    match e {
        Error::UnsoundMerge { .. } if builtin_rules => Error::Internal(e.to_string()),
        e => e,
    }
}

/// `fxsat optimize`: the optimised graph's text and the report, from the cache when it
/// holds this request's result.
pub fn optimize(graph: &Graph, req: &OptimizeRequest) -> Result<OptimizeResult> {
    let t0 = Instant::now();
    let (opts, builtin) = options(req, t0)?;
    // a dump needs the e-graphs, which the cache does not keep
    let cache_dir = if req.dump_egraph { &None } else { &req.cache };
    let cache = CacheCall::open(cache_dir, || optimize_key(graph, req, None))?;
    if let Some(c) = &cache {
        if let Some(hit) = c.cache.get(&c.key) {
            if let Some(Value::String(text)) = hit.outputs.get("graph") {
                log::info!("{}: cache hit {}", req.file, c.key);
                return Ok(OptimizeResult {
                    graph: text.clone(),
                    report: with_cache(hit.report, c.section(true)),
                    egraphs: Vec::new(),
                });
            }
        }
    }
    let mut out = crate::pipeline::optimize(graph, &opts).map_err(|e| own_failure(e, builtin))?;
    let t_export = Instant::now();
    let text = crate::io::write_string(&out.graph);
    out.report.seconds.export = t_export.elapsed().as_secs_f64();
    out.report.seconds.total = t0.elapsed().as_secs_f64();
    let report = optimize_report(req, &opts, &out.report)?;
    let section = match &cache {
        Some(c) => {
            c.store(&[("graph", &text)], &report);
            c.section(false)
        }
        None => no_cache(),
    };
    Ok(OptimizeResult {
        graph: text,
        report: with_cache(report, section),
        egraphs: std::mem::take(&mut out.egraphs),
    })
}

/// `fxsat partition`: forward and backward text and the report (never cached: the
/// partitioner is fast).
pub fn partition(graph: &Graph, req: &PartitionRequest) -> Result<PartitionResult> {
    let t0 = Instant::now();
    let popts = partition_options(req)?;
    let mut p = crate::partition::partition(graph, &popts)?;
    p.report.timings.total = t0.elapsed().as_secs_f64();
    let report = partition_report(req, &popts, &p.report);
    Ok(PartitionResult {
        fw: crate::io::write_string(&p.fw),
        bw: crate::io::write_string(&p.bw),
        report: with_cache(report, no_cache()),
    })
}

/// `fxsat optimize` then `fxsat partition` of its output (the same bytes), in one call: the
/// report document (`fxsat-train-report`) holds both reports (`optimize`, `partition`) and
/// `cache`. The graph must be a joint graph.
pub fn optimize_and_partition(
    graph: &Graph,
    req: &OptimizeRequest,
    part: &PartitionRequest,
) -> Result<PartitionResult> {
    let t0 = Instant::now();
    let (opts, builtin) = options(req, t0)?;
    let popts = partition_options(part)?;
    // the budget and the graph's kind, before any cache lookup or work
    crate::partition::check_input(graph, &popts)?;
    let cache = CacheCall::open(&req.cache, || optimize_key(graph, req, Some(part)))?;
    let train_doc = |optimize: Value, partition: Value| {
        let mut m = Map::new();
        m.insert("format".into(), "fxsat-train-report".into());
        m.insert("version".into(), REPORT_VERSION.into());
        m.insert("optimize".into(), optimize);
        m.insert("partition".into(), partition);
        Value::Object(m)
    };
    if let Some(c) = &cache {
        if let Some(hit) = c.cache.get(&c.key) {
            if let (Some(Value::String(fw)), Some(Value::String(bw))) =
                (hit.outputs.get("fw"), hit.outputs.get("bw"))
            {
                log::info!("{}: cache hit {}", req.file, c.key);
                return Ok(PartitionResult {
                    fw: fw.clone(),
                    bw: bw.clone(),
                    report: with_cache(hit.report, c.section(true)),
                });
            }
        }
    }
    let mut optimized =
        crate::pipeline::optimize(graph, &opts).map_err(|e| own_failure(e, builtin))?;
    let text = crate::io::write_string(&optimized.graph);
    optimized.report.seconds.total = t0.elapsed().as_secs_f64();
    // the partition reads the optimised graph back, as `fxsat partition` reads the file
    // `fxsat optimize` wrote: the same bytes out
    let t1 = Instant::now();
    let reread = crate::io::read_str(&text, &req.file)?;
    let mut p = crate::partition::partition(&reread, &popts)?;
    p.report.timings.total = t1.elapsed().as_secs_f64();
    let fw = crate::io::write_string(&p.fw);
    let bw = crate::io::write_string(&p.bw);
    let report = train_doc(
        optimize_report(req, &opts, &optimized.report)?,
        partition_report(part, &popts, &p.report),
    );
    let section = match &cache {
        Some(c) => {
            c.store(&[("fw", &fw), ("bw", &bw)], &report);
            c.section(false)
        }
        None => no_cache(),
    };
    Ok(PartitionResult {
        fw,
        bw,
        report: with_cache(report, section),
    })
}

/// A time limit in seconds named `name` in errors (`--extract-time-limit`): positive; huge or
/// infinite is no limit (`Duration::MAX`).
pub fn check_seconds(name: &str, secs: f64) -> Result<Duration> {
    if secs.is_nan() || secs <= 0.0 {
        return Err(Error::Invalid(format!(
            "{name} must be a positive number of seconds, got {secs}"
        )));
    }
    Ok(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}
