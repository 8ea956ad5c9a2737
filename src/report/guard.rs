//! Inputs are read-only: before anything is written, every output path is checked against every
//! file a run was read from (or looked at: a skipped checkpoint state is the user's data too).
//! (`--dataset` only ever adds new files.) A path that resolves to one of them — the same file
//! by device and inode (hard links, symlinks, `./` and `../` spellings), or the same canonical
//! path — is refused with exit 2, naming the run and the file. Two outputs to one file are
//! refused too, and so is an output that cannot be written (a directory, a folder that does not
//! exist or takes no new file): every output is checked before any is written.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::config::{Config, Output};
use crate::model::Run;

/// The identity of an existing file: device and inode where the platform has them, else the
/// canonical path.
#[derive(Debug, PartialEq, Eq)]
struct Identity {
    inode: Option<(u64, u64)>,
    canonical: Option<PathBuf>,
}

impl Identity {
    /// The identity of `path`, or `None` when nothing is there (a new file is never an input).
    /// The canonical path is looked up only where there is no inode (it costs a system call
    /// per directory of the path, for every input).
    fn of(path: &Path) -> Option<Identity> {
        let meta = std::fs::metadata(path).ok()?;
        let inode = inode(&meta);
        Some(Identity {
            inode,
            canonical: inode.is_none().then(|| path.canonicalize().ok()).flatten(),
        })
    }

    fn same(&self, other: &Identity) -> bool {
        match (self.inode, other.inode) {
            (Some(a), Some(b)) => a == b,
            _ => self.canonical.is_some() && self.canonical == other.canonical,
        }
    }
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// Whether two paths of files that do not exist yet name the same file: the same name in the
/// same (canonical) directory.
fn same_new(a: &Path, b: &Path) -> bool {
    let dir = |p: &Path| {
        p.parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .canonicalize()
            .ok()
    };
    a == b || (a.file_name() == b.file_name() && dir(a).is_some() && dir(a) == dir(b))
}

/// Every output file of a configuration, with the flag that names it.
pub fn outputs(config: &Config) -> Vec<(&'static str, &Path)> {
    fn file(o: &Option<Output>) -> Option<&Path> {
        match o {
            Some(Output::File(p)) => Some(p),
            _ => None,
        }
    }
    [
        ("--out", config.out.as_deref()),
        ("--plot", config.plot.as_deref()),
        ("--json", file(&config.json)),
        ("--markdown", file(&config.markdown)),
        ("--csv", file(&config.csv)),
        ("--parquet", file(&config.parquet)),
        ("--junit", file(&config.junit)),
    ]
    .into_iter()
    .filter_map(|(flag, p)| Some((flag, p?)))
    .collect()
}

/// Refuses any output that would overwrite an input, or another output.
pub fn check(runs: &[Run], config: &Config) -> Result<()> {
    let outs = outputs(config);
    if outs.is_empty() {
        return Ok(());
    }
    let inputs: Vec<(&Run, &str, Identity)> = runs
        .iter()
        .flat_map(|r| r.sources.iter().map(move |s| (r, s.path.as_str())))
        .filter(|(_, p)| *p != "-")
        .filter_map(|(r, p)| Some((r, p, Identity::of(Path::new(p))?)))
        .collect();
    let mut seen: Vec<(&str, &Path, Identity)> = Vec::new();
    let mut new: Vec<(&str, &Path)> = Vec::new();
    for (flag, path) in outs {
        let Some(id) = Identity::of(path) else {
            // Nothing there yet: not an input. Two outputs may still name the same new file.
            if let Some((other, _)) = new.iter().find(|(_, p)| same_new(p, path)) {
                bail!(
                    "{flag} {} and {other} {}: two outputs to one file; give each its own",
                    path.display(),
                    path.display()
                );
            }
            new.push((flag, path));
            continue;
        };
        if let Some((run, input, _)) = inputs.iter().find(|(_, _, i)| i.same(&id)) {
            bail!(
                "{flag} {}: that is {input}, an input of run {}; losscmp never writes over the logs it reads — choose another path",
                path.display(),
                run.label
            );
        }
        if let Some((other, ..)) = seen.iter().find(|(_, _, i)| i.same(&id)) {
            bail!(
                "{flag} {} and {other}: two outputs to one file; give each its own",
                path.display()
            );
        }
        seen.push((flag, path, id));
    }
    // Every output can be written before any is: a nightly job is never left with some files
    // new and others stale.
    for (flag, path) in outputs(config) {
        writable(flag, path)?;
    }
    Ok(())
}

/// Whether `path` can be written as an output: not a directory, and a file can be made beside it
/// (where it is written first, then renamed over it). A device or a FIFO is written in place.
fn writable(flag: &str, path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!(
            "{flag} {}: that is a directory; give a file path",
            path.display()
        );
    }
    if super::special(path) {
        return Ok(());
    }
    let dir = super::folder_of(path);
    if !dir.is_dir() {
        bail!(
            "{flag} {}: cannot write there: {} is not a directory that exists",
            path.display(),
            dir.display()
        );
    }
    tempfile::Builder::new()
        .prefix(".losscmp-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| {
            anyhow::anyhow!(
                "{flag} {}: cannot write there: {} ({})",
                path.display(),
                e.kind(),
                dir.display()
            )
        })
}
