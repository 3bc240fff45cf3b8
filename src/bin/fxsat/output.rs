//! What the commands write: stdout text, and report files with their format and version.

use anyhow::Result;
use serde::Serialize;
use std::io::Write as _;

/// Version of the report files' format (`format`: `fxsat-optimize-report`,
/// `fxsat-partition-report`): bumped when a field changes meaning or goes.
pub const REPORT_VERSION: u32 = 1;

/// A report file: its format, its version, the options used, and the report's own fields.
#[derive(Serialize)]
pub struct ReportFile<'a, O: Serialize, R: Serialize> {
    /// `fxsat-optimize-report` or `fxsat-partition-report`.
    pub format: &'static str,
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// The input file (optimize).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// The output file (optimize).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The options of the run.
    pub options: O,
    /// The report.
    #[serde(flatten)]
    pub report: &'a R,
}

impl<O: Serialize, R: Serialize> ReportFile<'_, O, R> {
    /// Pretty JSON and a newline.
    pub fn text(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }
}

/// Writes `text` to stdout; a failure is an output error.
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(fxsat::io::atomic::stdout_error)?;
    Ok(())
}

/// A writer that remembers its first error (for library code that ignores write errors).
pub struct Checked<W> {
    /// Where the bytes go.
    pub inner: W,
    /// The first error.
    pub error: Option<std::io::Error>,
}

impl<W: std::io::Write> std::io::Write for Checked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| {
            self.error
                .get_or_insert_with(|| std::io::Error::new(e.kind(), e.to_string()));
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().inspect_err(|e| {
            self.error
                .get_or_insert_with(|| std::io::Error::new(e.kind(), e.to_string()));
        })
    }
}
