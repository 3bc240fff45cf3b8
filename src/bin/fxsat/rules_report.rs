//! `fxsat rules-report`.

use crate::args::{at_least_one, check_assume, check_time_limit, regions, DeviceArgs};
use crate::output::{print, ReportFile};
use anyhow::Result;
use clap::Args;
use fxsat::request::REPORT_VERSION;
use fxsat::{Limits, Options};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Per rule, over a corpus of graphs: how often it fires, how much output cost it saves
/// (each graph it fired on optimised again without it), and the rules that never fire.
///
/// Prints a table (rules by applications, then the ones that never fired); progress on
/// stderr. A directory stands for its `*.forward.json` and `*.joint.json` graphs (also
/// gzipped), recursively.
#[derive(Args)]
pub struct RulesReportArgs {
    /// FX-JSON graphs, or directories of them.
    #[arg(required = true)]
    graphs: Vec<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
    /// Directory of .rules files replacing the compiled-in rules.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Write the report as JSON here too.
    #[arg(long, value_name = "OUT")]
    json: Option<PathBuf>,
    /// Most e-nodes during saturation.
    #[arg(long, default_value_t = 200_000)]
    node_limit: usize,
    /// Most saturation iterations.
    #[arg(long, default_value_t = 30)]
    iter_limit: usize,
    /// Time limit in seconds of each optimisation.
    #[arg(long, default_value_t = 10.0)]
    time_limit: f64,
    /// Assert a property of the inputs that some rules need (repeatable), as for optimize.
    #[arg(long, value_name = "NAME")]
    assume: Vec<String>,
    /// Optimise each graph as one e-graph even when it is large.
    #[arg(long)]
    whole: bool,
}

/// The options recorded in the JSON file.
#[derive(Serialize)]
struct Used {
    target: fxsat::Target,
    device: String,
    rules: Option<String>,
    node_limit: usize,
    iter_limit: usize,
    time_limit: f64,
    assume: Vec<String>,
    whole: bool,
}

/// The graph files under `p` (itself if a file), sorted.
fn graph_files(p: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if !p.is_dir() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(|e| fxsat::Error::Io {
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

impl RulesReportArgs {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        let time_limit = check_time_limit(self.time_limit)?;
        at_least_one("--node-limit", self.node_limit)?;
        at_least_one("--iter-limit", self.iter_limit)?;
        let mut files = Vec::new();
        for p in &self.graphs {
            graph_files(p, &mut files)?;
        }
        let mut graphs = Vec::with_capacity(files.len());
        for f in &files {
            graphs.push((f.display().to_string(), fxsat::io::read_file(f)?));
        }
        let rules = match &self.rules {
            Some(dir) => fxsat::rules::load_dir(dir)?,
            None => fxsat::rules::default_rules()?,
        };
        check_assume(&self.assume, &rules)?;
        let profile = self.device.profile()?;
        let opts = Options {
            target: self.device.target(),
            profile: Some(profile.clone()),
            rules: Some(rules),
            limits: Limits {
                nodes: self.node_limit,
                iterations: self.iter_limit,
                time: time_limit,
                ..Limits::default()
            },
            assume: self.assume.clone(),
            regions: regions(self.whole),
            ..Options::default()
        };
        let report = fxsat::research::rules_report(&graphs, &opts, &mut |line| {
            eprintln!("{line}");
        })?;
        if let Some(path) = &self.json {
            let used = Used {
                target: opts.target,
                device: profile.name.clone(),
                rules: self.rules.as_ref().map(|d| d.display().to_string()),
                node_limit: self.node_limit,
                iter_limit: self.iter_limit,
                time_limit: self.time_limit,
                assume: self.assume.clone(),
                whole: self.whole,
            };
            let mut doc = serde_json::Map::new();
            doc.insert("format".into(), "fxsat-rules-report".into());
            doc.insert("version".into(), REPORT_VERSION.into());
            doc.insert("options".into(), serde_json::to_value(&used)?);
            if let serde_json::Value::Object(fields) = serde_json::to_value(&report)? {
                doc.extend(fields);
            }
            let text = ReportFile {
                input: None,
                output: None,
                report: serde_json::Value::Object(doc),
            }
            .text()?;
            fxsat::io::atomic::write_all(&[(path.as_path(), text.as_bytes())])?;
        }
        print(&report.text())
    }
}
