//! Writing output files atomically: each file is written to a temporary file in its own
//! directory and renamed over the target only once every file of the set is written, so a
//! failed write (full disk, missing directory, an output that is a directory) leaves every
//! previous file as it was and no half-written one.
//!
//! A target that exists and is not a regular file (`/dev/null`, `/dev/full`, a pipe) cannot
//! be replaced: it is written in place.

use crate::error::{Error, Result};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_all(&[(path, bytes)])
}

/// Writes every `(path, bytes)` atomically, all or none: the temporary files are all written
/// first, then renamed; on failure they are removed and the targets keep their old bytes.
pub fn write_all(files: &[(&Path, &[u8])]) -> Result<()> {
    let mut staged: Vec<Staged> = Vec::with_capacity(files.len());
    for &(path, bytes) in files {
        match stage(path, bytes) {
            Ok(s) => staged.push(s),
            Err(e) => {
                discard(&staged);
                return Err(e);
            }
        }
    }
    for (k, s) in staged.iter().enumerate() {
        if let Staged::Temp { tmp, target, .. } = s {
            if let Err(source) = std::fs::rename(tmp, target) {
                discard(&staged[k..]);
                return Err(Error::Write {
                    path: s.path().to_path_buf(),
                    source,
                });
            }
        }
    }
    Ok(())
}

/// A file ready to be put in place.
enum Staged {
    /// Written to `tmp`, to be renamed to `target` (`path` resolved through symbolic links).
    Temp {
        path: PathBuf,
        tmp: PathBuf,
        target: PathBuf,
    },
    /// A device or pipe, already written in place.
    InPlace(PathBuf),
}

impl Staged {
    fn path(&self) -> &Path {
        match self {
            Staged::Temp { path, .. } | Staged::InPlace(path) => path,
        }
    }
}

fn discard(staged: &[Staged]) {
    for s in staged {
        if let Staged::Temp { tmp, .. } = s {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

fn write_err(path: &Path, source: std::io::Error) -> Error {
    Error::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn write_err_msg(path: &Path, kind: std::io::ErrorKind, msg: String) -> Error {
    write_err(path, std::io::Error::new(kind, msg))
}

/// A unique temporary name in `dir` for `name`.
fn temp_name(dir: &Path, name: &std::ffi::OsStr) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut n = std::ffi::OsString::from(".");
    n.push(name);
    n.push(format!(
        ".fxsat-tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    dir.join(n)
}

fn stage(path: &Path, bytes: &[u8]) -> Result<Staged> {
    let existing = std::fs::metadata(path).ok();
    if let Some(m) = &existing {
        if m.is_dir() {
            return Err(write_err_msg(
                path,
                std::io::ErrorKind::Other,
                "is a directory".into(),
            ));
        }
        if !m.is_file() {
            // A device or a pipe: nothing to replace, write in place.
            let mut f = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| write_err(path, e))?;
            f.write_all(bytes)
                .and_then(|()| f.flush())
                .map_err(|e| write_err(path, e))?;
            return Ok(Staged::InPlace(path.to_path_buf()));
        }
    }
    // Replace the file a symbolic link points to, not the link.
    let target = match &existing {
        Some(_) => std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        None => path.to_path_buf(),
    };
    let Some(name) = target.file_name() else {
        return Err(write_err_msg(
            path,
            std::io::ErrorKind::InvalidInput,
            "not a file name".into(),
        ));
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(write_err_msg(
            path,
            std::io::ErrorKind::NotFound,
            format!("directory `{}` does not exist", dir.display()),
        ));
    }
    let tmp = temp_name(&dir, name);
    let written = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.flush()?;
        f.sync_all()?;
        if let Some(m) = &existing {
            f.set_permissions(m.permissions())?;
        }
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_err(path, e));
    }
    Ok(Staged::Temp {
        path: path.to_path_buf(),
        tmp,
        target,
    })
}

/// The error of a failed write to standard output.
pub fn stdout_error(source: std::io::Error) -> Error {
    Error::Write {
        path: PathBuf::from("<stdout>"),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fxsat-atomic-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn all_or_none_keeps_old_files_when_one_target_fails() {
        let d = dir("all");
        let a = d.join("a.json");
        std::fs::write(&a, b"old").unwrap();
        let bad = d.join("missing").join("b.json");
        let err = write_all(&[(&a, b"new"), (&bad, b"new")]).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert_eq!(std::fs::read(&a).unwrap(), b"old");
        // no temporary left behind
        let left: Vec<_> = std::fs::read_dir(&d).unwrap().collect();
        assert_eq!(left.len(), 1, "{left:?}");
        write_all(&[(&a, b"new"), (&d.join("b.json"), b"b")]).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"new");
        assert_eq!(std::fs::read(d.join("b.json")).unwrap(), b"b");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_directory_target_is_an_error() {
        let d = dir("isdir");
        let err = write(&d, b"x").unwrap_err();
        assert!(matches!(err, Error::Write { .. }), "{err}");
        assert!(err.to_string().contains("is a directory"), "{err}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_device_is_a_write_error() {
        let err = write(Path::new("/dev/full"), b"x").unwrap_err();
        assert!(matches!(err, Error::Write { .. }), "{err}");
        assert!(Path::new("/dev/full").exists());
    }
}
