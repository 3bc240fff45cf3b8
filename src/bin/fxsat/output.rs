//! What the commands write: stdout text, and report files with their format and version.

use anyhow::Result;
use serde_json::Value;
use std::io::Write as _;

/// A report file: the report document ([`fxsat::request`]) with the input and output files
/// after its `format` and `version`.
pub struct ReportFile {
    /// The input file (optimize).
    pub input: Option<String>,
    /// The output file (optimize).
    pub output: Option<String>,
    /// The report document.
    pub report: Value,
}

impl ReportFile {
    /// Pretty JSON and a newline.
    pub fn text(&self) -> Result<String> {
        let mut doc = serde_json::Map::new();
        if let Value::Object(fields) = &self.report {
            for (k, v) in fields {
                doc.insert(k.clone(), v.clone());
                if k == "version" {
                    for (name, file) in [("input", &self.input), ("output", &self.output)] {
                        if let Some(f) = file {
                            doc.insert(name.into(), f.clone().into());
                        }
                    }
                }
            }
        }
        Ok(serde_json::to_string_pretty(&Value::Object(doc))? + "\n")
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
