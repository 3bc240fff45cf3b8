//! Reading the input graph of `fxsat optimize`: FX-JSON, or a `torch.export` program (`.pt2`)
//! converted by `python -m fxsat.exported FILE`, which prints FX-JSON on stdout (the
//! interpreter: `$FXSAT_PYTHON`, else `python3`; it needs torch and the fxsat package).

use anyhow::Result;
use fxsat::Error;
use std::path::Path;
use std::process::Command;

/// The graph in `path`.
pub fn read_graph(path: &Path) -> Result<fxsat::Graph> {
    if path.extension().map_or(true, |e| e != "pt2") {
        return Ok(fxsat::io::read_file(path)?);
    }
    let text = convert(path)?;
    Ok(fxsat::io::read_str(&text, &path.display().to_string())?)
}

/// The FX-JSON text of a `.pt2` file, or a one-line bad-input error saying why not.
fn convert(path: &Path) -> Result<String, Error> {
    let file = path.display().to_string();
    let bad = |msg: String| Error::Invalid(format!("{file}: {msg}"));
    if let Err(source) = std::fs::metadata(path) {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source,
        });
    }
    let python = std::env::var("FXSAT_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into());
    let out = Command::new(&python)
        .args(["-m", "fxsat.exported"])
        .arg(path)
        .output()
        .map_err(|e| {
            bad(format!(
                "a torch.export program needs Python to read it, and `{python}` does not run ({e}); set FXSAT_PYTHON to an interpreter with torch and fxsat installed"
            ))
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no message");
        let hint = if last.contains("No module named") {
            " (set FXSAT_PYTHON to an interpreter with torch and fxsat installed: pip install .)"
        } else {
            ""
        };
        return Err(bad(format!(
            "`{python} -m fxsat.exported` failed ({}): {last}{hint}",
            out.status
        )));
    }
    String::from_utf8(out.stdout).map_err(|e| bad(format!("the conversion printed no UTF-8: {e}")))
}
