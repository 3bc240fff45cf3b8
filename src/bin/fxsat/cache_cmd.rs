//! `fxsat cache stats|clear`.

use crate::output::print;
use anyhow::Result;
use clap::{Args, Subcommand};
use fxsat::cache::{default_dir, Cache};
use std::path::PathBuf;

/// Inspect or empty the result cache (see docs/cli.md).
#[derive(Args)]
pub struct CacheCmd {
    #[command(subcommand)]
    action: CacheAction,
}

#[derive(Subcommand)]
enum CacheAction {
    /// Print the cache's directory, entries and bytes.
    Stats(CacheDir),
    /// Remove every entry.
    Clear(CacheDir),
}

#[derive(Args)]
struct CacheDir {
    /// The cache directory (default: $FXSAT_CACHE_DIR, else $XDG_CACHE_HOME/fxsat/results,
    /// else ~/.cache/fxsat/results).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

impl CacheDir {
    fn cache(&self) -> Result<Cache> {
        let dir = self.cache_dir.clone().or_else(default_dir).ok_or_else(|| {
            fxsat::Error::Invalid(
                "no cache directory: pass --cache-dir, or set FXSAT_CACHE_DIR or HOME".into(),
            )
        })?;
        Ok(Cache::new(dir))
    }
}

impl CacheCmd {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        match self.action {
            CacheAction::Stats(d) => {
                let c = d.cache()?;
                let s = c.stats()?;
                print(&format!(
                    "dir\t{}\nentries\t{}\nbytes\t{}\nbuild\t{}\n",
                    c.dir().display(),
                    s.entries,
                    s.bytes,
                    fxsat::cache::build_id()
                ))
            }
            CacheAction::Clear(d) => {
                let c = d.cache()?;
                let n = c.clear()?;
                print(&format!("{}: removed {n} entries\n", c.dir().display()))
            }
        }
    }
}
