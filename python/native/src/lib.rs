//! `fxsat._native`: the optimizer in-process for the Python package (`python/fxsat/api.py`
//! is its Python face). Every function takes and returns JSON text, works with the GIL
//! released, and turns a panic into `fxsat.FxsatInternalError` instead of unwinding into
//! Python. Bad input raises `fxsat.FxsatError` with the command line's one-line message.
//!
//! The work goes through [`fxsat::request`], as the command line's does: the same input and
//! options give the same bytes.

use fxsat::partition::PeakRule;
use fxsat::request::{OptimizeRequest, PartitionRequest, RuleSource};
use fxsat::research::RulesReportRequest;
use fxsat::Target;
use pyo3::prelude::*;
use serde_json::{json, Map, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// A failure on the Rust side: bad input (the message the CLI prints) or fxsat's own.
enum Failure {
    BadInput(String),
    Internal(String),
}

impl From<fxsat::Error> for Failure {
    fn from(e: fxsat::Error) -> Self {
        let msg = message(&e);
        if e.is_bad_input() {
            Failure::BadInput(msg)
        } else {
            Failure::Internal(msg)
        }
    }
}

/// The error and its causes, `: `-separated, skipping a cause whose text the message already
/// holds, on one line (as `fxsat` prints it after `fxsat: error: `).
fn message(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !msg.contains(&s) {
            msg.push_str(": ");
            msg.push_str(&s);
        }
        cause = c.source();
    }
    msg.replace('\n', "; ")
}

type Outcome<T> = Result<T, Failure>;

fn bad(msg: impl Into<String>) -> Failure {
    Failure::BadInput(msg.into())
}

/// Runs `work` without the GIL, a panic becoming an internal error.
fn run<T: Send>(py: Python<'_>, work: impl FnOnce() -> Outcome<T> + Send) -> PyResult<T> {
    let outcome = py.detach(|| {
        catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            Err(Failure::Internal(format!("internal error: {what}")))
        })
    });
    outcome.map_err(|f| raise(py, f))
}

/// The Python exception of a failure: `fxsat.errors.FxsatError` / `FxsatInternalError`.
fn raise(py: Python<'_>, f: Failure) -> PyErr {
    let (class, msg) = match f {
        Failure::BadInput(m) => ("FxsatError", m),
        Failure::Internal(m) => ("FxsatInternalError", m),
    };
    let made = py
        .import("fxsat.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1((msg.clone(),)));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(_) if class == "FxsatError" => pyo3::exceptions::PyValueError::new_err(msg),
        Err(_) => pyo3::exceptions::PyRuntimeError::new_err(msg),
    }
}

/// The options object.
fn parse_options(text: &str) -> Outcome<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Failure::Internal("options: not a JSON object".into())),
        Err(e) => Err(Failure::Internal(format!("options: {e}"))),
    }
}

/// Typed access to the options, with the option's name in errors.
struct Opts(Map<String, Value>);

impl Opts {
    fn get(&self, k: &str) -> Option<&Value> {
        self.0.get(k).filter(|v| !v.is_null())
    }
    fn str(&self, k: &str) -> Outcome<Option<String>> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(bad(format!("{k}: expected a string, got {v}"))),
        }
    }
    fn strs(&self, k: &str) -> Outcome<Vec<String>> {
        match self.get(k) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad(format!("{k}: expected strings, got {v}")))
                })
                .collect(),
            Some(v) => Err(bad(format!("{k}: expected a list of strings, got {v}"))),
        }
    }
    fn f64(&self, k: &str, default: f64) -> Outcome<f64> {
        match self.get(k) {
            None => Ok(default),
            Some(Value::String(s)) if s == "inf" => Ok(f64::INFINITY),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| bad(format!("{k}: expected a number, got {v}"))),
        }
    }
    fn usize(&self, k: &str, default: usize) -> Outcome<usize> {
        match self.get(k) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .map(|n| n as usize)
                .ok_or_else(|| bad(format!("{k}: expected a non-negative integer, got {v}"))),
        }
    }
    fn bool(&self, k: &str) -> Outcome<bool> {
        match self.get(k) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(bad(format!("{k}: expected true or false, got {v}"))),
        }
    }
    fn target(&self) -> Outcome<Target> {
        match self.str("target")?.as_deref() {
            None | Some("cpu") => Ok(Target::Cpu),
            Some("cuda") => Ok(Target::Cuda),
            Some(t) => Err(bad(format!(
                "target: expected \"cpu\" or \"cuda\", got \"{t}\""
            ))),
        }
    }
    fn file(&self) -> Outcome<String> {
        Ok(self.str("file")?.unwrap_or_else(|| "<input>".into()))
    }
    fn rules(&self) -> Outcome<RuleSource> {
        Ok(RuleSource {
            dir: self.str("rules")?.map(PathBuf::from),
            extra: self
                .strs("extra_rules")?
                .into_iter()
                .map(PathBuf::from)
                .collect(),
        })
    }
    fn optimize(&self) -> Outcome<OptimizeRequest> {
        let d = OptimizeRequest::default();
        Ok(OptimizeRequest {
            target: self.target()?,
            device: self.str("device")?,
            rules: self.rules()?,
            assume: self.strs("assume")?,
            node_limit: self.usize("node_limit", d.node_limit)?,
            iter_limit: self.usize("iter_limit", d.iter_limit)?,
            time_limit: self.f64("time_limit", d.time_limit)?,
            trust_meta: self.bool("trust_meta")?,
            exact_random: self.bool("exact_random")?,
            whole: self.bool("whole")?,
            file: self.file()?,
            cache: self.str("cache_dir")?.map(PathBuf::from),
            extractor: match self.str("extractor")? {
                None => d.extractor,
                Some(e) => e
                    .parse()
                    .map_err(|m: String| bad(format!("extractor: {m}")))?,
            },
            // as the command line: 10 s per e-graph unless given; "inf" is none
            extract_time_limit: {
                let secs = self.f64("extract_time_limit", 10.0)?;
                let limit = fxsat::request::check_seconds("extract_time_limit", secs)?;
                (limit != std::time::Duration::MAX).then_some(limit)
            },
            dump_egraph: self.bool("dump_egraph")?,
            ..d
        })
    }
    fn rules_report(&self) -> Outcome<RulesReportRequest> {
        let d = RulesReportRequest::default();
        Ok(RulesReportRequest {
            target: self.target()?,
            device: self.str("device")?,
            rules: self.str("rules")?.map(PathBuf::from),
            assume: self.strs("assume")?,
            node_limit: self.usize("node_limit", d.node_limit)?,
            iter_limit: self.usize("iter_limit", d.iter_limit)?,
            time_limit: self.f64("time_limit", d.time_limit)?,
            whole: self.bool("whole")?,
        })
    }
    fn partition(&self) -> Outcome<PartitionRequest> {
        Ok(PartitionRequest {
            budget: self.f64("budget", 1.0)?,
            target: self.target()?,
            device: self.str("device")?,
            peak_rule: match self.str("peak_rule")?.as_deref() {
                None | Some("within-budget") => PeakRule::WithinBudget,
                Some("strict") => PeakRule::Strict,
                Some("off") => PeakRule::Off,
                Some(r) => {
                    return Err(bad(format!(
                        "peak_rule: expected within-budget, strict or off, got \"{r}\""
                    )))
                }
            },
        })
    }
}

fn read(graph: &str, file: &str) -> Outcome<fxsat::Graph> {
    Ok(fxsat::io::read_str(graph, file)?)
}

fn dump(v: &Value) -> Outcome<String> {
    serde_json::to_string(v).map_err(|e| Failure::Internal(format!("report: {e}")))
}

/// `optimize(graph_json, options_json) -> (graph_json, report_json)`.
#[pyfunction]
fn optimize(py: Python<'_>, graph: String, options: String) -> PyResult<(String, String)> {
    run(py, move || {
        let opts = Opts(parse_options(&options)?);
        let req = opts.optimize()?;
        let g = read(&graph, &req.file)?;
        let out = fxsat::request::optimize(&g, &req)?;
        Ok((out.graph, dump(&out.report)?))
    })
}

/// `dump_egraph(graph_json, options_json) -> egraphs_json`: the saturated e-graphs (one per
/// e-graph optimised: per region of a cut graph), a JSON list of egraph-serialize documents
/// (each what `fxsat optimize --dump-egraph` writes). Never from the cache.
#[pyfunction]
fn dump_egraph(py: Python<'_>, graph: String, options: String) -> PyResult<String> {
    run(py, move || {
        let opts = Opts(parse_options(&options)?);
        let req = OptimizeRequest {
            dump_egraph: true,
            ..opts.optimize()?
        };
        let g = read(&graph, &req.file)?;
        let out = fxsat::request::optimize(&g, &req)?;
        serde_json::to_string(&out.egraphs).map_err(|e| Failure::Internal(format!("dump: {e}")))
    })
}

/// One graph of a rules report: `{"path": P}` (a file, or a directory standing for its
/// graphs, as `fxsat rules-report` reads its arguments) or `{"name": N, "text": FX-JSON}`.
fn corpus(graphs: &str) -> Outcome<Vec<(String, fxsat::Graph)>> {
    let items: Vec<Value> = match serde_json::from_str(graphs) {
        Ok(Value::Array(a)) => a,
        Ok(_) => return Err(Failure::Internal("graphs: not a JSON list".into())),
        Err(e) => return Err(Failure::Internal(format!("graphs: {e}"))),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let field = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
        match (field("path"), field("name"), field("text")) {
            (Some(p), _, _) => {
                let mut files = Vec::new();
                fxsat::research::graph_files(std::path::Path::new(&p), &mut files)?;
                for f in files {
                    let g = fxsat::io::read_file(&f)?;
                    out.push((f.display().to_string(), g));
                }
            }
            (None, Some(name), Some(text)) => {
                let g = read(&text, &name)?;
                out.push((name, g));
            }
            _ => return Err(Failure::Internal(format!("graphs: bad item {item}"))),
        }
    }
    Ok(out)
}

/// `rules_report(graphs_json, options_json, progress) -> report_json`: the document of
/// `fxsat rules-report --json`. `progress` (a callable or None) is called with each run's
/// line; an exception it raises (or a pending interrupt) stops the report and is raised.
#[pyfunction]
#[pyo3(signature = (graphs, options, progress=None))]
fn rules_report(
    py: Python<'_>,
    graphs: String,
    options: String,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let mut raised: Option<PyErr> = None;
    let outcome = run(py, || {
        let opts = Opts(parse_options(&options)?);
        let req = opts.rules_report()?;
        let corpus = corpus(&graphs)?;
        let mut hear = |line: &str| -> fxsat::Result<()> {
            Python::attach(|py| {
                let r = py.check_signals().and_then(|()| match &progress {
                    Some(f) => f.call1(py, (line,)).map(drop),
                    None => Ok(()),
                });
                r.map_err(|e| {
                    raised = Some(e);
                    fxsat::Error::Internal("stopped by the progress callback".into())
                })
            })
        };
        let (_, doc) = fxsat::research::rules_report_doc(&corpus, &req, &mut hear)?;
        dump(&doc)
    });
    match raised {
        Some(e) => Err(e),
        None => outcome,
    }
}

/// `partition(joint_json, options_json) -> (fw_json, bw_json, report_json)`.
#[pyfunction]
fn partition(py: Python<'_>, graph: String, options: String) -> PyResult<(String, String, String)> {
    run(py, move || {
        let opts = Opts(parse_options(&options)?);
        let req = opts.partition()?;
        let g = read(&graph, &opts.file()?)?;
        let out = fxsat::request::partition(&g, &req)?;
        Ok((out.fw, out.bw, dump(&out.report)?))
    })
}

/// `optimize_and_partition(joint_json, options_json) -> (fw_json, bw_json, report_json)`.
#[pyfunction]
fn optimize_and_partition(
    py: Python<'_>,
    graph: String,
    options: String,
) -> PyResult<(String, String, String)> {
    run(py, move || {
        let opts = Opts(parse_options(&options)?);
        let req = opts.optimize()?;
        let part = opts.partition()?;
        let g = read(&graph, &req.file)?;
        let out = fxsat::request::optimize_and_partition(&g, &req, &part)?;
        Ok((out.fw, out.bw, dump(&out.report)?))
    })
}

/// `check_rules(options_json) -> report_json`: every rule checked numerically.
#[pyfunction]
fn check_rules(py: Python<'_>, options: String) -> PyResult<String> {
    run(py, move || {
        let opts = Opts(parse_options(&options)?);
        let rules = match opts.rules()?.load()? {
            Some(r) => r,
            None => fxsat::default_rules()?,
        };
        let copts = fxsat::CheckOptions {
            cases: opts.usize("instances", 100)?,
            seed: opts
                .get("seed")
                .map(|v| {
                    v.as_u64().ok_or_else(|| {
                        bad(format!("seed: expected a non-negative integer, got {v}"))
                    })
                })
                .transpose()?
                .unwrap_or(0),
        };
        if copts.cases == 0 {
            return Err(bad("--cases must be at least 1"));
        }
        let t0 = std::time::Instant::now();
        let checks = fxsat::check_rules(&rules, &copts);
        let rows: Vec<Value> = checks
            .iter()
            .map(|c| {
                json!({
                    "rule": c.rule,
                    "origin": c.origin,
                    "ok": c.ok(),
                    "untested": c.untested,
                    "cases": c.cases,
                    "max_error": c.max_error,
                    "refined": c.refined,
                    "coupled": c.coupled,
                    "failure": c.failure.as_ref().map(|f| json!({
                        "seed": f.seed,
                        "bindings": f.bindings,
                        "lhs": f.lhs,
                        "rhs": f.rhs,
                        "message": f.message,
                    })),
                    "line": c.to_string(),
                })
            })
            .collect();
        let report = json!({
            "rules": rows,
            "count": checks.len(),
            "failed": checks.iter().filter(|c| !c.ok()).count(),
            "untested": checks.iter().filter(|c| c.untested).count(),
            "cases": copts.cases,
            "seed": copts.seed,
            "seconds": t0.elapsed().as_secs_f64(),
        });
        dump(&report)
    })
}

/// fxsat's version and build (`0.1.0+<source hash>`).
#[pyfunction]
fn version() -> &'static str {
    fxsat::cache::build_id()
}

/// `rules_hash(rules_dir | None, extra_rules) -> 64 hex digits`.
#[pyfunction]
#[pyo3(signature = (rules=None, extra_rules=Vec::new()))]
fn rules_hash(py: Python<'_>, rules: Option<String>, extra_rules: Vec<String>) -> PyResult<String> {
    run(py, move || {
        let src = RuleSource {
            dir: rules.map(PathBuf::from),
            extra: extra_rules.into_iter().map(PathBuf::from).collect(),
        };
        Ok(fxsat::request::rules_hash(&src)?)
    })
}

/// The default cache directory (`None`: no HOME and no FXSAT_CACHE_DIR).
#[pyfunction]
fn default_cache_dir() -> Option<String> {
    fxsat::cache::default_dir().map(|d| d.display().to_string())
}

/// `cache_stats(dir) -> (entries, bytes)`.
#[pyfunction]
fn cache_stats(py: Python<'_>, dir: String) -> PyResult<(usize, u64)> {
    run(py, move || {
        let s = fxsat::cache::Cache::new(dir).stats()?;
        Ok((s.entries, s.bytes))
    })
}

/// `cache_clear(dir) -> entries removed`.
#[pyfunction]
fn cache_clear(py: Python<'_>, dir: String) -> PyResult<usize> {
    run(py, move || Ok(fxsat::cache::Cache::new(dir).clear()?))
}

/// fxsat's `log` records into Python's `logging` (logger `fxsat`): warnings and errors from
/// everywhere, info from fxsat itself (egg's chatter stays out).
struct PyLogger;

impl log::Log for PyLogger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn
            || (m.level() <= log::Level::Info && m.target().starts_with("fxsat"))
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let method = match record.level() {
            log::Level::Error => "error",
            log::Level::Warn => "warning",
            _ => "info",
        };
        let msg = record.args().to_string();
        Python::attach(|py| {
            let _ = py
                .import("logging")
                .and_then(|l| l.call_method1("getLogger", ("fxsat",)))
                .and_then(|lg| lg.call_method1(method, (msg,)));
        });
    }

    fn flush(&self) {}
}

static LOGGER: PyLogger = PyLogger;

/// Panics on the Rust side, for the test that a panic becomes `FxsatInternalError` (not a
/// crash, not a `PanicException`).
#[pyfunction]
fn _panic_for_tests(py: Python<'_>) -> PyResult<()> {
    run(py, || -> Outcome<()> {
        panic!("a panic raised on purpose")
    })
}

/// The module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // a logger set by another extension in the process stays
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    m.add_function(wrap_pyfunction!(optimize, m)?)?;
    m.add_function(wrap_pyfunction!(partition, m)?)?;
    m.add_function(wrap_pyfunction!(optimize_and_partition, m)?)?;
    m.add_function(wrap_pyfunction!(check_rules, m)?)?;
    m.add_function(wrap_pyfunction!(dump_egraph, m)?)?;
    m.add_function(wrap_pyfunction!(rules_report, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(rules_hash, m)?)?;
    m.add_function(wrap_pyfunction!(default_cache_dir, m)?)?;
    m.add_function(wrap_pyfunction!(cache_stats, m)?)?;
    m.add_function(wrap_pyfunction!(cache_clear, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    Ok(())
}
