//! `fxsat rules-report`.

use crate::args::{at_least_one, check_time_limit, DeviceArgs};
use crate::output::{print, ReportFile};
use anyhow::Result;
use clap::Args;
use fxsat::research::RulesReportRequest;
use std::path::PathBuf;

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

impl RulesReportArgs {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        check_time_limit(self.time_limit)?;
        at_least_one("--node-limit", self.node_limit)?;
        at_least_one("--iter-limit", self.iter_limit)?;
        let mut files = Vec::new();
        for p in &self.graphs {
            fxsat::research::graph_files(p, &mut files)?;
        }
        let mut graphs = Vec::with_capacity(files.len());
        for f in &files {
            graphs.push((f.display().to_string(), fxsat::io::read_file(f)?));
        }
        let req = RulesReportRequest {
            target: self.device.target(),
            device: self.device.device.clone(),
            rules: self.rules.clone(),
            assume: self.assume.clone(),
            node_limit: self.node_limit,
            iter_limit: self.iter_limit,
            time_limit: self.time_limit,
            whole: self.whole,
        };
        let (report, doc) = fxsat::research::rules_report_doc(&graphs, &req, &mut |line| {
            eprintln!("{line}");
            Ok(())
        })?;
        if let Some(path) = &self.json {
            let text = ReportFile {
                input: None,
                output: None,
                report: doc,
            }
            .text()?;
            fxsat::io::atomic::write_all(&[(path.as_path(), text.as_bytes())])?;
        }
        print(&report.text())
    }
}
