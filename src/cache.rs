//! The persistent result cache: a result of [`request`](crate::request) (the output graphs'
//! bytes and the report) stored under a key that hashes everything the result depends on —
//! the canonical input graph, the rules' text, the options and fxsat's [build](build_id) — so
//! that a second process asking the same thing skips saturation.
//!
//! Layout: `DIR/<first two hex digits>/<key>.json`, one JSON file per entry
//! (`{"format": "fxsat-cache-entry", "version": 1, "key": …, "outputs": {…}, "report": {…}}`).
//! Entries are written atomically (a temporary file in the same directory, then a rename:
//! [`crate::io::atomic`]), so several processes may fill the same key at once: each rename
//! puts a whole entry in place and a reader sees one whole entry or none. An entry that does
//! not parse, or whose key is not its file's, is ignored (logged) and overwritten by the next
//! result.
//!
//! The directory: the caller's, else `$FXSAT_CACHE_DIR`, else `$XDG_CACHE_HOME/fxsat/results`,
//! else `~/.cache/fxsat/results` ([`default_dir`]).

use crate::error::{Error, Result};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// fxsat's version and a hash of the sources it was built from (`0.1.0+1a2b3c4d5e6f`): two
/// builds that may give different results have different ids.
pub fn build_id() -> &'static str {
    concat!(env!("CARGO_PKG_VERSION"), "+", env!("FXSAT_SOURCE_HASH"))
}

/// Format of the entry files; bumped when their layout changes.
const ENTRY_VERSION: u64 = 1;

/// The default directory: `$FXSAT_CACHE_DIR`, else `$XDG_CACHE_HOME/fxsat/results`, else
/// `~/.cache/fxsat/results` (`None` when none of these variables is set).
pub fn default_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(d) = var("FXSAT_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = var("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("fxsat").join("results"));
    }
    var("HOME").map(|h| {
        PathBuf::from(h)
            .join(".cache")
            .join("fxsat")
            .join("results")
    })
}

/// A key under construction: SHA-256 over length-prefixed parts, so that no two lists of
/// parts hash alike by concatenation.
#[derive(Clone)]
pub struct KeyHasher(Sha256);

impl Default for KeyHasher {
    fn default() -> Self {
        let mut h = KeyHasher(Sha256::new());
        h.part("fxsat-cache");
        h.part(build_id());
        h
    }
}

impl KeyHasher {
    /// A hasher without the build id (for [`rules_hash`](crate::request::rules_hash)).
    pub fn bare() -> Self {
        KeyHasher(Sha256::new())
    }

    /// Adds one part.
    pub fn part(&mut self, bytes: impl AsRef<[u8]>) -> &mut Self {
        let b = bytes.as_ref();
        self.0.update((b.len() as u64).to_le_bytes());
        self.0.update(b);
        self
    }

    /// The key: 64 lowercase hex digits.
    pub fn finish(self) -> String {
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// A cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// A stored result: output texts by name (`graph`, or `fw` and `bw`) and the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The output graphs' FX-JSON text, by name.
    pub outputs: Map<String, Value>,
    /// The report of the run that computed them.
    pub report: Value,
}

/// What `fxsat cache stats` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries.
    pub entries: usize,
    /// Their bytes.
    pub bytes: u64,
}

impl Cache {
    /// The cache in `dir` (created when the first entry is written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Cache { dir: dir.into() }
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.json"))
    }

    /// The entry of `key`, if one is stored and whole. A file that cannot be read or parsed,
    /// or that holds another key, is logged and ignored.
    pub fn get(&self, key: &str) -> Option<Entry> {
        let path = self.path(key);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                log::warn!("cache: {}: ignored: {e}", path.display());
                return None;
            }
        };
        match parse_entry(&text, key) {
            Ok(entry) => Some(entry),
            Err(msg) => {
                log::warn!("cache: {}: corrupt entry ignored: {msg}", path.display());
                None
            }
        }
    }

    /// Stores `entry` under `key`, atomically (several writers of one key are safe: the last
    /// rename wins, each puts a whole entry in place).
    pub fn put(&self, key: &str, entry: &Entry) -> Result<()> {
        let path = self.path(key);
        let sub = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(sub).map_err(|source| Error::Write {
            path: sub.to_path_buf(),
            source,
        })?;
        let mut doc = Map::new();
        doc.insert("format".into(), "fxsat-cache-entry".into());
        doc.insert("version".into(), ENTRY_VERSION.into());
        doc.insert("key".into(), key.into());
        doc.insert("outputs".into(), Value::Object(entry.outputs.clone()));
        doc.insert("report".into(), entry.report.clone());
        let text = serde_json::to_string(&Value::Object(doc))
            .map_err(|e| Error::Internal(format!("cache entry: {e}")))?;
        crate::io::atomic::write(&path, text.as_bytes())
    }

    /// The entries and their bytes (a missing directory is an empty cache).
    pub fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        for p in self.files()? {
            if is_entry(&p) {
                s.entries += 1;
                s.bytes += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            }
        }
        Ok(s)
    }

    /// Removes every entry (and temporary file left by a killed writer); returns how many
    /// entries went. Other files in the directory are left alone.
    pub fn clear(&self) -> Result<usize> {
        let mut n = 0;
        for p in self.files()? {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let temp = name.starts_with('.') && name.contains(".json.fxsat-tmp.");
            if is_entry(&p) || temp {
                std::fs::remove_file(&p).map_err(|source| Error::Write {
                    path: p.clone(),
                    source,
                })?;
                n += is_entry(&p) as usize;
            }
        }
        for sub in self.subdirs()? {
            // only empty ones go
            let _ = std::fs::remove_dir(sub);
        }
        Ok(n)
    }

    /// The two-hex-digit subdirectories.
    fn subdirs(&self) -> Result<Vec<PathBuf>> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(Error::Io {
                    path: self.dir.clone(),
                    source,
                })
            }
        };
        let mut out: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.is_dir()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.len() == 2 && n.bytes().all(|b| b.is_ascii_hexdigit()))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// The files of the subdirectories.
    fn files(&self) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for sub in self.subdirs()? {
            let rd = std::fs::read_dir(&sub).map_err(|source| Error::Io {
                path: sub.clone(),
                source,
            })?;
            out.extend(rd.filter_map(|e| e.ok()).map(|e| e.path()));
        }
        out.sort();
        Ok(out)
    }
}

/// `<64 hex digits>.json`.
fn is_entry(p: &Path) -> bool {
    let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    name.strip_suffix(".json")
        .is_some_and(|k| k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn parse_entry(text: &str, key: &str) -> std::result::Result<Entry, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let field = |name: &str| v.get(name).ok_or_else(|| format!("no field `{name}`"));
    if field("format")? != "fxsat-cache-entry" {
        return Err("field `format` is not fxsat-cache-entry".into());
    }
    if field("version")?.as_u64() != Some(ENTRY_VERSION) {
        return Err(format!("field `version` is not {ENTRY_VERSION}"));
    }
    if field("key")?.as_str() != Some(key) {
        return Err("field `key` is not the file's key".into());
    }
    let outputs = field("outputs")?
        .as_object()
        .filter(|o| !o.is_empty() && o.values().all(Value::is_string))
        .ok_or("field `outputs` is not an object of texts")?
        .clone();
    let report = field("report")?.clone();
    if !report.is_object() {
        return Err("field `report` is not an object".into());
    }
    Ok(Entry { outputs, report })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fxsat-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn entry(text: &str) -> Entry {
        let mut outputs = Map::new();
        outputs.insert("graph".into(), text.into());
        Entry {
            outputs,
            report: serde_json::json!({"nodes": {"before": 3}}),
        }
    }

    fn key(s: &str) -> String {
        let mut h = KeyHasher::default();
        h.part(s);
        h.finish()
    }

    #[test]
    fn keys_hash_parts_apart() {
        let mut a = KeyHasher::default();
        a.part("ab").part("c");
        let mut b = KeyHasher::default();
        b.part("a").part("bc");
        let (a, b) = (a.finish(), b.finish());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(key("x"), key("x"));
    }

    #[test]
    fn put_get_stats_clear() {
        let c = Cache::new(dir("roundtrip"));
        let k = key("g");
        assert_eq!(c.get(&k), None);
        assert_eq!(c.stats().unwrap(), Stats::default());
        c.put(&k, &entry("text")).unwrap();
        assert_eq!(c.get(&k), Some(entry("text")));
        // another key's file is not this key's entry
        let k2 = key("h");
        std::fs::create_dir_all(c.path(&k2).parent().unwrap()).unwrap();
        std::fs::copy(c.path(&k), c.path(&k2)).unwrap();
        assert_eq!(c.get(&k2), None);
        let s = c.stats().unwrap();
        assert_eq!(s.entries, 2);
        assert!(s.bytes > 20, "{s:?}");
        assert_eq!(c.clear().unwrap(), 2);
        assert_eq!(c.stats().unwrap().entries, 0);
        assert_eq!(c.get(&k), None);
        let _ = std::fs::remove_dir_all(c.dir());
    }

    #[test]
    fn corrupt_entries_are_ignored_and_overwritten() {
        let c = Cache::new(dir("corrupt"));
        let k = key("g");
        c.put(&k, &entry("text")).unwrap();
        let full = std::fs::read_to_string(c.path(&k)).unwrap();
        for bad in [&full[..full.len() / 2], "", "[]", "{\"format\": 1}"] {
            std::fs::write(c.path(&k), bad).unwrap();
            assert_eq!(c.get(&k), None, "{bad}");
        }
        c.put(&k, &entry("again")).unwrap();
        assert_eq!(c.get(&k), Some(entry("again")));
        let _ = std::fs::remove_dir_all(c.dir());
    }

    #[test]
    fn many_writers_of_one_key() {
        let c = Cache::new(dir("writers"));
        let k = key("same");
        let texts: Vec<String> = (0..8).map(|i| format!("{i}").repeat(50_000)).collect();
        std::thread::scope(|s| {
            for t in &texts {
                let (c, k, texts) = (&c, &k, &texts);
                s.spawn(move || {
                    for _ in 0..5 {
                        c.put(k, &entry(t)).unwrap();
                        // a reader sees one whole entry, never a torn one
                        let got = c.get(k).expect("an entry is in place");
                        assert!(texts.contains(&got.outputs["graph"].as_str().unwrap().into()));
                    }
                });
            }
        });
        assert_eq!(c.stats().unwrap().entries, 1);
        // no temporary file left behind
        let files = c.files().unwrap();
        assert_eq!(files.len(), 1, "{files:?}");
        let _ = std::fs::remove_dir_all(c.dir());
    }
}
