//! Finding and opening a run's files: directory discovery, gzip, stdin, size limits, and the
//! errors that name the file (and line) that could not be read.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use encoding_rs_io::DecodeReaderBytesBuilder;
use flate2::read::MultiGzDecoder;

use super::crash;
use crate::model::SourceFile;

/// How many bytes of a file are looked at to decide its format.
const SNIFF_BYTES: usize = 64 * 1024;

/// The largest JSON/YAML document read whole. Text logs are streamed and have no such limit;
/// a structured file larger than this is not a log losscmp knows (a 1,000,000-entry
/// `trainer_state.json` is about 200 MB).
pub const MAX_DOCUMENT_BYTES: u64 = 2 << 30;

/// Why a run, or one of its files, could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The I/O error is said in the message, not chained as its source (`{:#}` would say it
    /// twice).
    #[error("{path}: cannot read: {error}")]
    Io { path: String, error: io::Error },
    #[error("{path}: no such file or directory")]
    Missing { path: String },
    #[error("{path}: the file is empty")]
    Empty { path: String },
    #[error("{path}: a binary file, not a training log")]
    Binary { path: String },
    #[error(
        "{path}: UTF-16 text can be read whole but not followed as it grows; have the trainer write UTF-8 (in PowerShell: `| Out-File -Encoding utf8`)"
    )]
    Utf16Growing { path: String },
    #[error(
        "{path}: a Git LFS pointer, not the log itself; run `git lfs pull` in its repository first"
    )]
    LfsPointer { path: String },
    #[error(
        "{path}: {count} of its files are Git LFS pointers, not the logs themselves; run `git lfs pull` in its repository first"
    )]
    LfsFolder { path: String, count: usize },
    #[error("{path}: {size} bytes is more than the {limit} bytes losscmp reads as one document")]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: String,
        line: usize,
        message: String,
    },
    /// `why`: what the reader warned of, which may say why (a `--columns` typo), or empty.
    #[error("{path}: read as {format}, but it holds no metric records or run settings{why}")]
    NothingUsable {
        path: String,
        format: &'static str,
        why: String,
    },
    #[error(
        "{path}: {count} metric records with epochs but no steps, and nothing gives them (steps per epoch, a logging interval); add --set {label}:steps_per_epoch=N (their epochs then give their steps, a resumed segment's too) or --set {label}:logging_steps=N (the n-th dict at step n × N: right for one uninterrupted run only), or pass the trainer_state.json"
    )]
    NoSteps {
        path: String,
        count: usize,
        label: String,
    },
    #[error(
        "{path}: no training metrics found; found: {looked}; a run needs metric records from a trainer_state.json, trainer_log.jsonl, captured stdout log or another log losscmp reads (docs/formats.md)"
    )]
    NoMetrics { path: String, looked: String },
}

/// Lists the files of a run worth sniffing. A file is itself; `-` is stdin; a directory gives
/// its regular files plus the most complete `checkpoint-*/trainer_state.json`.
pub fn discover(
    path: &Path,
    sources: &mut Vec<SourceFile>,
    warnings: &mut Vec<String>,
) -> Result<Vec<PathBuf>, IngestError> {
    let display = path.display().to_string();
    if path.as_os_str() == "-" {
        return Ok(vec![path.to_path_buf()]);
    }
    let meta = fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => IngestError::Missing {
            path: display.clone(),
        },
        _ => IngestError::Io {
            path: display.clone(),
            error: e,
        },
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    // A checkpoint folder is read with the run directory it sits in: its state, and the run's
    // configuration and logs (the batch facts are there, not in the checkpoint).
    if let Some(parent) = checkpoint_parent(path) {
        let mut files: Vec<PathBuf> = read_dir_sorted(path)?
            .into_iter()
            .filter(|f| f.is_file() && f.file_name().is_some_and(|n| n == "trainer_state.json"))
            .collect();
        for entry in read_dir_sorted(&parent)? {
            let name = entry
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if entry.is_file()
                && !name.starts_with('.')
                && name != "trainer_state.json"
                && looks_like_log_name(&name)
            {
                files.push(entry);
            }
        }
        warnings.push(format!(
            "{display}: a checkpoint folder; read with its run directory {} (its configuration and logs, which may go on past the checkpoint)",
            parent.display()
        ));
        return Ok(files);
    }
    if let Some(found) = trainer_folder(path, &display, warnings)? {
        return Ok(found);
    }
    let mut files = Vec::new();
    let mut checkpoints = Vec::new();
    for entry in read_dir_sorted(path)? {
        let name = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if entry.is_dir() {
            if let Some(n) = checkpoint_number(&name) {
                let state = entry.join("trainer_state.json");
                if state.is_file() {
                    checkpoints.push((n, state));
                }
            } else if let Some(found) = one_level_down(&entry, &name)? {
                warnings.push(format!(
                    "{display}: read {} from {}/, where its trainer writes {}",
                    plural(found.len(), "file"),
                    name,
                    match name.as_str() {
                        "runs" => "TensorBoard events (the HF Trainer's logging_dir)",
                        "wandb" => "W&B's newest run",
                        "lightning_logs" => "PyTorch Lightning's newest version_N",
                        _ => "its log",
                    }
                ));
                files.extend(found);
            }
            continue;
        }
        if entry.is_file() && looks_like_log_name(&name) {
            files.push(entry);
        }
    }
    // The top-level trainer_state.json is written last; a checkpoint's is a prefix of it. When
    // the top-level one is missing (crashed run), the newest checkpoint is the most complete.
    checkpoints.sort();
    let top_state = files
        .iter()
        .any(|f| f.file_name().is_some_and(|n| n == "trainer_state.json"));
    if let Some((step, newest)) = checkpoints.last() {
        if top_state {
            sources.push(SourceFile {
                path: newest.display().to_string(),
                format: None,
                note: format!(
                    "checkpoint state (step {step}); the top-level trainer_state.json is at least as complete"
                ),
            });
        } else {
            warnings.push(format!(
                "{display}: no top-level trainer_state.json; using the newest checkpoint's, {} (step {step})",
                newest.display()
            ));
            files.push(newest.clone());
        }
    }
    Ok(files)
}

/// The Unix time a TensorBoard events file was opened at, from its name.
fn events_time(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix("events.out.tfevents.")?
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// Files trainers write one level below the output directory: build-nanogpt's and torchtune's
/// `log/` or `logs/`, the HF Trainer's default `logging_dir` `runs/<date>_<host>/` (TensorBoard
/// events), and W&B's `wandb/` (the newest `run-*` or `offline-run-*` folder: its `files/` and
/// its `.wandb` run file). `None` for any other folder.
fn one_level_down(dir: &Path, name: &str) -> Result<Option<Vec<PathBuf>>, IngestError> {
    let found = match name {
        "log" | "logs" => log_files(dir)?,
        "lightning_logs" => {
            // PyTorch Lightning's loggers write `version_<N>/`: the highest N is the newest.
            let newest = read_dir_sorted(dir)?
                .into_iter()
                .filter(|p| p.is_dir())
                .filter_map(|p| {
                    let n = p
                        .file_name()?
                        .to_string_lossy()
                        .strip_prefix("version_")?
                        .parse::<u64>()
                        .ok()?;
                    Some((n, p))
                })
                .max();
            match newest {
                Some((_, v)) => log_files(&v)?,
                None => Vec::new(),
            }
        }
        "runs" => {
            let mut out = Vec::new();
            for sub in read_dir_sorted(dir)?.into_iter().filter(|p| p.is_dir()) {
                out.extend(log_files(&sub)?.into_iter().filter(|f| {
                    f.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("events.out.tfevents"))
                }));
            }
            // Each `trainer.train()` in one output directory (a notebook run again) writes a
            // session of its own: the newest first, so that its end-of-training summary is the
            // one the run's facts take (the checkpoints and state are the newest session's). By
            // the Unix time in the file's name (`events.out.tfevents.<time>.<host>.<pid>.<n>`),
            // not the folder's (`Apr23_03-04-15_…`, a month name).
            out.sort_by_key(|f| std::cmp::Reverse(events_time(f)));
            out
        }
        "wandb" => match newest_wandb_run(dir)? {
            Some(run) => wandb_run(&run)?,
            None => Vec::new(),
        },
        _ => return Ok(None),
    };
    Ok((!found.is_empty()).then_some(found))
}

/// Folders a trainer writes its logs into inside an output directory that are read as from the
/// output directory when given as the RUN ([`trainer_folder`]), and named by it.
pub const TRAINER_FOLDERS: [&str; 3] = ["wandb", "runs", "lightning_logs"];

/// Whether a folder's name is a W&B run's (`run-<time>-<id>`, `offline-run-…`, or the
/// `latest-run` link W&B keeps to the newest).
pub fn wandb_run_name(name: &str) -> bool {
    name.starts_with("run-") || name.starts_with("offline-run-") || name == "latest-run"
}

/// The newest W&B run folder in `wandb/`: run folders are named by start time, so the last in
/// order (the `latest-run` link is not counted: it names one of them).
fn newest_wandb_run(dir: &Path) -> Result<Option<PathBuf>, IngestError> {
    Ok(read_dir_sorted(dir)?.into_iter().rev().find(|p| {
        p.is_dir()
            && p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n != "latest-run" && wandb_run_name(&n)
            })
    }))
}

/// A W&B run folder's files: its `.wandb` run file and what `files/` holds.
fn wandb_run(run: &Path) -> Result<Vec<PathBuf>, IngestError> {
    let mut out: Vec<PathBuf> = log_files(run)?
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "wandb"))
        .collect();
    let files = run.join("files");
    if files.is_dir() {
        out.extend(log_files(&files)?);
    }
    Ok(out)
}

/// The files of `dir` a run's logs may be among: not hidden, not named as weights, images,
/// code or prose.
fn log_files(dir: &Path) -> Result<Vec<PathBuf>, IngestError> {
    Ok(read_dir_sorted(dir)?
        .into_iter()
        .filter(|f| {
            f.is_file()
                && f.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .is_some_and(|n| !n.starts_with('.') && looks_like_log_name(&n))
        })
        .collect())
}

/// A folder a trainer writes inside an output directory, given as the RUN itself: W&B's
/// `wandb/` (its newest run is read, as from the output directory), a W&B run folder
/// (`wandb/run-…/`, `wandb/latest-run`: its `files/` and run file), the HF Trainer's `runs/`
/// (its TensorBoard sessions) or Lightning's `lightning_logs/`. `None` for any other folder,
/// and for one of these names that holds none of what the trainer writes there.
fn trainer_folder(
    path: &Path,
    display: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<Vec<PathBuf>>, IngestError> {
    // `.` or `wandb/latest-run/..` name their folder only once resolved.
    let own = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| {
            let full = path.canonicalize().ok()?;
            Some(full.file_name()?.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    if wandb_run_name(&own) {
        let found = wandb_run(path)?;
        return Ok((!found.is_empty()).then_some(found));
    }
    if own == "wandb" {
        let Some(run) = newest_wandb_run(path)? else {
            return Ok(None);
        };
        let found = wandb_run(&run)?;
        if found.is_empty() {
            return Ok(None);
        }
        let name = run.file_name().map(|n| n.to_string_lossy().into_owned());
        warnings.push(format!(
            "{display}: W&B's folder; read its newest run, {} (pass another run-* folder to read that one)",
            name.unwrap_or_default()
        ));
        return Ok(Some(found));
    }
    if TRAINER_FOLDERS.contains(&own.as_str()) {
        return one_level_down(path, &own);
    }
    Ok(None)
}

/// `n` and `word`, plural unless `n` is 1: "1 record", "208 records".
pub(super) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

pub use crate::model::checkpoint_number;

/// The run directory a `checkpoint-N` folder sits in, when the folder holds a trainer state and
/// the parent holds files of its own.
pub fn checkpoint_parent(path: &Path) -> Option<PathBuf> {
    let full = path.canonicalize().ok()?;
    checkpoint_number(full.file_name()?.to_str()?)?;
    if !full.join("trainer_state.json").is_file() {
        return None;
    }
    let parent = full.parent()?;
    let has_files = fs::read_dir(parent).ok()?.any(|e| {
        e.ok()
            .is_some_and(|e| e.file_type().is_ok_and(|t| t.is_file()))
    });
    // Shown as the user wrote it (`run` for `run/checkpoint-48`), not as an absolute path.
    has_files.then(|| {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| path.join(".."), Path::to_path_buf)
    })
}

fn read_dir_sorted(path: &Path) -> Result<Vec<PathBuf>, IngestError> {
    let err = |e| IngestError::Io {
        path: path.display().to_string(),
        error: e,
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(path).map_err(err)? {
        out.push(entry.map_err(err)?.path());
    }
    out.sort();
    Ok(out)
}

/// What a directory in which no file was read holds, for the error that says so: "no files",
/// or the files passed over by their names (`reshaping-log.md`: prose, not opened), five at
/// most.
pub(super) fn passed_over(path: &Path) -> String {
    let entries = read_dir_sorted(path).unwrap_or_default();
    let named = |dir: bool| -> Vec<String> {
        entries
            .iter()
            .filter(|p| p.is_dir() == dir)
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect()
    };
    let names = named(false);
    if names.is_empty() {
        // Only folders (a tracker's mlruns/, runs/ or wandb/ beside each other): say which.
        let folders = named(true);
        return if folders.is_empty() {
            "no files".into()
        } else {
            format!(
                "no files, only the folders {} (a run among them is read when passed as the RUN itself)",
                folders.join(", ")
            )
        };
    }
    let shown = names.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    let more = names.len().saturating_sub(5);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!(
        "no file losscmp opens ({shown}{more} passed over by name: weights, images, code, prose; a log among them is read when passed as the RUN itself)"
    )
}

/// Names whose content is worth sniffing: everything but weights, tokenizers, images, archives
/// and code. Content decides the format; the name only keeps large binaries from being opened.
fn looks_like_log_name(name: &str) -> bool {
    const NOT_LOGS: [&str; 30] = [
        "safetensors",
        "bin",
        "pt",
        "pth",
        "ckpt",
        "gguf",
        "onnx",
        "h5",
        "npy",
        "npz",
        "arrow",
        "parquet",
        "msgpack",
        "png",
        "jpg",
        "jpeg",
        "gif",
        "svg",
        "pdf",
        "zip",
        "tar",
        "model",
        "jinja",
        "py",
        "sh",
        "md",
        // losscmp's own reports, written beside the runs they describe.
        "html",
        "htm",
        "css",
        "js",
    ];
    const NOT_LOG_FILES: [&str; 8] = [
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "adapter_config.json",
        "generation_config.json",
        "vocab.json",
        "merges.txt",
        "config.json",
    ];
    let base = name.strip_suffix(".gz").unwrap_or(name);
    let ext = base.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    !ext.is_some_and(|e| NOT_LOGS.contains(&e.as_str()))
        && !NOT_LOG_FILES.contains(&base)
        && !base.ends_with(".index.json")
}

/// Opens a regular file for streaming, decompressing gzip transparently.
pub fn open(path: &Path) -> Result<Box<dyn Read + Send>, IngestError> {
    let raw = open_blocks(path)?;
    Ok(Box::new(BufReader::with_capacity(256 * 1024, raw)))
}

/// [`open`] for a reader that asks for large blocks itself: a plain file unbuffered (a buffer
/// would copy every byte once more), gzip decompressed, text with a byte-order mark as UTF-8.
pub fn open_blocks(path: &Path) -> Result<Box<dyn Read + Send>, IngestError> {
    // A regular file is told from gzip by its first bytes, not by filling the buffer.
    if let Some(file) = plain_file(path)? {
        return Ok(Box::new(file));
    }
    let io = |e| IngestError::Io {
        path: path.display().to_string(),
        error: e,
    };
    let mut file = BufReader::with_capacity(256 * 1024, File::open(path).map_err(io)?);
    let gz = {
        use std::io::BufRead;
        file.fill_buf().map_err(io)?.starts_with(&GZIP)
    };
    Ok(if gz {
        as_utf8(Box::new(MultiGzDecoder::new(file)))
    } else {
        as_utf8(Box::new(file))
    })
}

/// gzip's magic bytes.
const GZIP: [u8; 2] = [0x1f, 0x8b];

/// Whether a file's first bytes are UTF-16's byte-order mark (either byte order).
fn utf16(first: &[u8]) -> bool {
    first.starts_with(&[0xff, 0xfe]) || first.starts_with(&[0xfe, 0xff])
}

/// Whether a file whose first bytes are `first` is read as it is: not gzip, and no byte-order
/// mark (UTF-8's, or UTF-16's) to drop or transcode.
fn plain_bytes(first: &[u8]) -> bool {
    !(first.starts_with(&GZIP) || first.starts_with(&[0xef, 0xbb, 0xbf]) || utf16(first))
}

/// `reader` as UTF-8: text that starts with a UTF-16 byte-order mark transcoded as it streams,
/// a UTF-8 byte-order mark dropped; anything else passed through as it is.
fn as_utf8(reader: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
    Box::new(
        DecodeReaderBytesBuilder::new()
            .strip_bom(true)
            .build(reader),
    )
}

/// Up to the first three bytes of `file`, read from where it is.
fn first_bytes(file: &mut File) -> io::Result<([u8; 3], usize)> {
    let mut first = [0u8; 3];
    let n = file.take(3).read(&mut first)?;
    // A short first read of a regular file is its end.
    Ok((first, n))
}

/// A file a reader may cut in parts: a regular, uncompressed file of at least `min` bytes (and
/// two), opened, with its length. None for anything else (a pipe, stdin, gzip, text with a
/// byte-order mark, a small file).
pub fn splittable(path: &Path, min: u64) -> io::Result<Option<(File, u64)>> {
    if path.as_os_str() == "-" {
        return Ok(None);
    }
    let meta = fs::metadata(path)?;
    if !meta.is_file() || meta.len() < min.max(2) {
        return Ok(None);
    }
    let mut file = File::open(path)?;
    let (first, n) = first_bytes(&mut file)?;
    // Compressed or transcoded text is read in one stream.
    Ok(plain_bytes(&first[..n]).then_some((file, meta.len())))
}

/// The file, opened, when it is a regular file that is not gzip-compressed; `None` for anything
/// else (compressed, a pipe), which [`open`] handles.
fn plain_file(path: &Path) -> Result<Option<File>, IngestError> {
    let err = |e| IngestError::Io {
        path: path.display().to_string(),
        error: e,
    };
    if !fs::metadata(path).map_err(err)?.is_file() {
        return Ok(None);
    }
    let mut file = File::open(path).map_err(err)?;
    let (first, n) = first_bytes(&mut file).map_err(err)?;
    if !plain_bytes(&first[..n]) {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(0)).map_err(err)?;
    Ok(Some(file))
}

/// Reads a whole structured document as text (lossy UTF-8), refusing documents over
/// [`MAX_DOCUMENT_BYTES`].
pub fn read_to_string(path: &Path) -> Result<String, IngestError> {
    let display = path.display().to_string();
    let size = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size > MAX_DOCUMENT_BYTES {
        return Err(IngestError::TooLarge {
            path: display,
            size,
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    // The size of an uncompressed file, so the buffer is not regrown and copied; a compressed
    // one grows as it decompresses.
    let buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
    // A plain file straight into the buffer, not through `open`'s buffered reader (one copy
    // less).
    let reader: Box<dyn Read> = match plain_file(path)? {
        Some(file) => Box::new(file),
        None => open(path)?,
    };
    read_document(reader, buf, display)
}

/// Reads `reader` to its end into `buf` as text (lossy UTF-8), refusing more than
/// [`MAX_DOCUMENT_BYTES`].
fn read_document(
    reader: impl Read,
    mut buf: Vec<u8>,
    display: String,
) -> Result<String, IngestError> {
    reader
        .take(MAX_DOCUMENT_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| IngestError::Io {
            path: display.clone(),
            error: e,
        })?;
    if buf.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(IngestError::TooLarge {
            path: display,
            size: buf.len() as u64,
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    Ok(match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// One input file as the readers see it, opened once. A plain regular file stays open after its
/// head is sniffed, and a reader goes on from there (the head handed back first); a file is
/// opened again by path as often as a reader needs (a large log read in two halves, a gzip
/// file decompressed). Anything else (stdin, a FIFO, a character device) can be read only once,
/// so its sniffed head is kept and handed back in front of the rest of the stream.
pub enum Input {
    /// A regular file (gzip-compressed or not).
    File {
        path: PathBuf,
        /// The head read for sniffing: of a plain file, its first bytes as they are.
        head: Vec<u8>,
        /// A plain file, open just after its head, until a reader takes it.
        rest: Option<File>,
        /// Of a compressed file: what its reader saw of its end as it decompressed it.
        kept: Option<Kept>,
    },
    /// A stream: the (decompressed) head already read, then the rest, until taken.
    Stream {
        /// The name shown in messages.
        display: String,
        head: Vec<u8>,
        rest: Option<Box<dyn Read + Send>>,
        /// What its reader saw of its end as it read it.
        kept: Option<Kept>,
    },
}

impl Input {
    /// Opens `path` (`-` for stdin) and reads its first [`SNIFF_BYTES`] bytes, decompressed,
    /// for sniffing ([`Input::head`]).
    pub fn open(path: &Path) -> Result<Input, IngestError> {
        let display = path.display().to_string();
        let io = |e| IngestError::Io {
            path: display.clone(),
            error: e,
        };
        let raw: Box<dyn Read + Send> = if path.as_os_str() == "-" {
            Box::new(io::stdin())
        } else {
            let meta = fs::metadata(path).map_err(io)?;
            if meta.is_file() {
                // Only the bytes sniffed are read (`open`'s buffer would read 256 KiB of every
                // file). A plain file is kept open where the head ends; a compressed one is
                // opened again by its reader.
                let mut head = Vec::with_capacity(SNIFF_BYTES);
                let (rest, kept) = match plain_file(path)? {
                    Some(mut file) => {
                        (&mut file)
                            .take(SNIFF_BYTES as u64)
                            .read_to_end(&mut head)
                            .map_err(io)?;
                        (Some(file), None)
                    }
                    // A compressed file is read again only from its start: what its reader
                    // sees of its end is kept.
                    None => {
                        let kept = Kept::default();
                        Keeping::head(open(path)?, &kept)
                            .take(SNIFF_BYTES as u64)
                            .read_to_end(&mut head)
                            .map_err(io)?;
                        (None, Some(kept))
                    }
                };
                return Ok(Input::File {
                    path: path.to_path_buf(),
                    head,
                    rest,
                    kept,
                });
            }
            Box::new(File::open(path).map_err(io)?)
        };
        // A stream is read once; its first two bytes tell gzip, and the first of its text a
        // byte-order mark.
        let mut reader = BufReader::with_capacity(SNIFF_BYTES, raw);
        let gz = {
            use std::io::BufRead;
            reader.fill_buf().map_err(io)?.starts_with(&GZIP)
        };
        let rest: Box<dyn Read + Send> = if gz {
            Box::new(MultiGzDecoder::new(reader))
        } else {
            Box::new(reader)
        };
        Input::stream(display, as_utf8(rest))
    }

    /// A stream whose first [`SNIFF_BYTES`] are read now for sniffing and handed back in front
    /// of the rest.
    fn stream(display: String, mut rest: Box<dyn Read + Send>) -> Result<Input, IngestError> {
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        let kept = Kept::default();
        Keeping::head(&mut rest, &kept)
            .take(SNIFF_BYTES as u64)
            .read_to_end(&mut head)
            .map_err(|e| IngestError::Io {
                path: display.clone(),
                error: e,
            })?;
        Ok(Input::Stream {
            display,
            head,
            rest: Some(rest),
            kept: Some(kept),
        })
    }

    /// Bytes `from..to` of a plain file, as a stream with its head sniffed: what `--follow` has
    /// seen complete of a growing file.
    pub fn range(path: &Path, from: u64, to: u64) -> Result<Input, IngestError> {
        let display = path.display().to_string();
        let io = |e| IngestError::Io {
            path: display.clone(),
            error: e,
        };
        let mut file = File::open(path).map_err(io)?;
        if from == 0 {
            // The first read: a byte-order mark is read as a whole read reads it.
            return Input::stream(display, as_utf8(Box::new(file.take(to))));
        }
        // UTF-16 cannot be taken up mid-file by byte offsets as it grows.
        let (first, n) = first_bytes(&mut file).map_err(io)?;
        if utf16(&first[..n]) {
            return Err(IngestError::Utf16Growing { path: display });
        }
        file.seek(SeekFrom::Start(from)).map_err(io)?;
        Input::stream(display, Box::new(file.take(to.saturating_sub(from))))
    }

    /// The first bytes (decompressed), for sniffing.
    pub fn head(&self) -> &[u8] {
        match self {
            Input::File { head, .. } | Input::Stream { head, .. } => head,
        }
    }

    /// The path of a regular file, which a reader may open again (or seek in).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Input::File { path, .. } => Some(path),
            Input::Stream { .. } => None,
        }
    }

    fn display(&self) -> String {
        match self {
            Input::File { path, .. } => path.display().to_string(),
            Input::Stream { display, .. } => display.clone(),
        }
    }

    /// A plain file's head and the open file after it, when not yet taken.
    fn take_plain(&mut self) -> Option<(Vec<u8>, File)> {
        match self {
            Input::File { head, rest, .. } => Some((std::mem::take(head), rest.take()?)),
            Input::Stream { .. } => None,
        }
    }

    /// Has the reader that reads this input keep its last [`crash::TAIL`] bytes as it reads
    /// them, when the input cannot be read again for them: a compressed file, stdin, a pipe
    /// (a plain file's end is read again by seeking, [`crash::at_end`]).
    pub fn keep_tail(&self) {
        if let Some(Ok(mut end)) = self.kept().as_ref().map(|k| k.lock()) {
            end.keep_tail = true;
        }
    }

    /// What the reader of a compressed file or a stream saw of its end ([`Ending`]); `None`
    /// for a plain file.
    pub fn kept(&self) -> Option<Kept> {
        match self {
            Input::File { kept, .. } | Input::Stream { kept, .. } => kept.as_ref().map(Arc::clone),
        }
    }

    /// `reader`, watched by what this input keeps of its end, if anything.
    fn keeping(&self, reader: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
        match self.kept() {
            Some(end) => Box::new(Keeping::new(reader, &end, true)),
            None => reader,
        }
    }

    /// The whole content as a stream, decompressed. A stream can be taken only once.
    pub fn reader(&mut self) -> Result<Box<dyn Read + Send>, IngestError> {
        if let Some((head, rest)) = self.take_plain() {
            let rest = BufReader::with_capacity(256 * 1024, rest);
            return Ok(Box::new(io::Cursor::new(head).chain(rest)));
        }
        let reader: Box<dyn Read + Send> = match self {
            Input::File { path, .. } => open(path)?,
            Input::Stream {
                display,
                head,
                rest,
                ..
            } => {
                let rest = rest.take().ok_or_else(|| IngestError::Io {
                    path: display.clone(),
                    error: io::Error::other("a stream can be read only once"),
                })?;
                Box::new(io::Cursor::new(std::mem::take(head)).chain(rest))
            }
        };
        Ok(self.keeping(reader))
    }

    /// [`Input::reader`] for a reader that asks for large blocks itself ([`open_blocks`]).
    pub fn blocks(&mut self) -> Result<Box<dyn Read + Send>, IngestError> {
        if let Some((head, rest)) = self.take_plain() {
            return Ok(Box::new(io::Cursor::new(head).chain(rest)));
        }
        match self {
            Input::File { path, .. } => {
                let reader = open_blocks(path)?;
                Ok(self.keeping(reader))
            }
            Input::Stream { .. } => self.reader(),
        }
    }

    /// The whole content as text (lossy UTF-8), refusing documents over
    /// [`MAX_DOCUMENT_BYTES`].
    pub fn text(&mut self) -> Result<String, IngestError> {
        let display = self.display();
        if let Some((mut head, rest)) = self.take_plain() {
            let size = rest.metadata().map(|m| m.len()).unwrap_or(0);
            if size > MAX_DOCUMENT_BYTES {
                return Err(IngestError::TooLarge {
                    path: display,
                    size,
                    limit: MAX_DOCUMENT_BYTES,
                });
            }
            // The rest read after the head, into one buffer of the file's size.
            let size = usize::try_from(size).unwrap_or(0);
            head.reserve(size.saturating_sub(head.len()).saturating_add(1));
            return read_document(rest, head, display);
        }
        // A compressed file or a stream, read through what watches its end.
        read_document(self.reader()?, Vec::new(), display)
    }
}

/// What the reader of an input that cannot be read again (a compressed file, a stream) saw
/// of its end, shared with that reader.
pub type Kept = Arc<Mutex<Ending>>;

/// The end of what was read: when asked for ([`Input::keep_tail`]), at most 2 ×
/// [`crash::TAIL`] bytes, at least the last [`crash::TAIL`] (or all) of them, and the count of
/// the lines before them; and why the stream stopped short, when it did.
#[derive(Debug, Default)]
pub struct Ending {
    keep_tail: bool,
    pub bytes: Vec<u8>,
    pub lines_before: u64,
    /// The decompressor's complaint where the stream stopped before its end (a file cut short
    /// or still being written, damaged data): what came before it was read.
    pub cut: Option<String>,
}

impl Ending {
    fn push(&mut self, read: &[u8]) {
        if !self.keep_tail {
            return;
        }
        let lines = |b: &[u8]| memchr::memchr_iter(b'\n', b).count() as u64;
        // A read of a whole tail or more replaces what was kept: only its end is copied.
        if read.len() >= crash::TAIL {
            let (gone, end) = read.split_at(read.len() - crash::TAIL);
            self.lines_before += lines(&self.bytes) + lines(gone);
            self.bytes.clear();
            self.bytes.extend_from_slice(end);
            return;
        }
        self.bytes.extend_from_slice(read);
        if self.bytes.len() > 2 * crash::TAIL {
            let cut = self.bytes.len() - crash::TAIL;
            self.lines_before += lines(&self.bytes[..cut]);
            self.bytes.drain(..cut);
        }
    }
}

/// A reader that keeps the end of what it reads in an [`Ending`], and ends where its
/// decompressor finds the stream cut short or damaged, saying so there: a partial log is read
/// as far as it goes.
struct Keeping<R> {
    inner: R,
    end: Kept,
    /// Whether what is read is the input's from its start, whose end is kept; not for the head
    /// read for sniffing, which the reader reads again.
    tail: bool,
    /// Whether any byte was read: a stream that stops before its first is not a log cut short
    /// but one that cannot be read (a damaged header), and its error stands.
    any: bool,
}

impl<R> Keeping<R> {
    /// `inner` watched by `end`, keeping what it reads there when `tail`.
    fn new(inner: R, end: &Kept, tail: bool) -> Self {
        Keeping {
            inner,
            end: Arc::clone(end),
            tail,
            any: false,
        }
    }

    /// The reader of a head for sniffing: it only stops short where the stream does.
    fn head(inner: R, end: &Kept) -> Self {
        Keeping::new(inner, end, false)
    }
}

impl<R: Read> Read for Keeping<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) if self.any && stops_short(&e) => {
                if let Ok(mut end) = self.end.lock() {
                    end.cut.get_or_insert_with(|| e.to_string());
                }
                return Ok(0);
            }
            Err(e) => return Err(e),
        };
        self.any |= n > 0;
        if self.tail {
            if let Ok(mut end) = self.end.lock() {
                end.push(&buf[..n]);
            }
        }
        Ok(n)
    }
}

/// Whether a read failed because the stream stopped short or holds damaged data (what a
/// decompressor says of a cut or corrupt file), not because it could not be read.
fn stops_short(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput
    )
}

/// Whether sniffed bytes are a binary file rather than text: a NUL byte before the first
/// complete line. A text log whose tail is zero bytes (a writer that died mid-write) is still
/// text: its readers keep the lines before the damage and warn about the rest.
pub fn looks_binary(head: &[u8]) -> bool {
    match memchr::memchr(0, head) {
        None => false,
        Some(nul) => memchr::memchr(b'\n', &head[..nul]).is_none(),
    }
}

/// Where a text holds NUL bytes (the zero-filled tail of a crashed writer, or a damaged block):
/// the 1-based line and the byte offset of the first, and how many lines hold any. `None` when
/// there are none.
pub fn nul_damage(bytes: &[u8]) -> Option<NulDamage> {
    let first = memchr::memchr(0, bytes)?;
    let line = memchr::memchr_iter(b'\n', &bytes[..first]).count() + 1;
    let mut lines = 0;
    let mut at = first;
    while let Some(p) = memchr::memchr(0, &bytes[at..]) {
        let nul = at + p;
        lines += 1;
        match memchr::memchr(b'\n', &bytes[nul..]) {
            Some(nl) => at = nul + nl + 1,
            None => break,
        }
    }
    Some(NulDamage {
        line,
        offset: first,
        lines,
    })
}

/// NUL bytes found in a text file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NulDamage {
    /// The 1-based line of the first.
    pub line: usize,
    /// The byte offset of the first.
    pub offset: usize,
    /// How many lines hold any.
    pub lines: usize,
}

impl NulDamage {
    /// The warning for it.
    pub fn warning(&self) -> String {
        format!(
            "NUL bytes from line {} (byte {}) on, in {} line{} (the zero-filled tail of a writer that died?); those lines were skipped, everything before them was read",
            self.line,
            self.offset,
            self.lines,
            if self.lines == 1 { "" } else { "s" }
        )
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    /// A `runs/` folder of several `trainer.train()` sessions: the newest session's events file
    /// first, by the time in its name, whatever its folder's name sorts as.
    #[test]
    fn the_newest_tensorboard_session_comes_first() {
        let dir = tempfile::tempdir().expect("temp dir");
        let runs = dir.path().join("runs");
        for (folder, file) in [
            (
                "Apr23_00-25-21_host",
                "events.out.tfevents.1713831921.host.2933.3",
            ),
            (
                "Apr23_03-04-15_host",
                "events.out.tfevents.1713841455.host.2933.8",
            ),
            (
                "Dec31_23-59-59_host",
                "events.out.tfevents.1703980799.host.1.0",
            ),
        ] {
            std::fs::create_dir_all(runs.join(folder)).expect("mkdir");
            std::fs::write(runs.join(folder).join(file), b"x").expect("write");
        }
        let found = super::one_level_down(&runs, "runs")
            .expect("reads")
            .expect("files");
        let names: Vec<String> = found
            .iter()
            .map(|f| f.file_name().expect("name").to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "events.out.tfevents.1713841455.host.2933.8",
                "events.out.tfevents.1713831921.host.2933.3",
                "events.out.tfevents.1703980799.host.1.0",
            ]
        );
    }

    /// Whatever the sizes of the reads, the kept end is the text's last bytes (at least
    /// `crash::TAIL` of them, or all), and the lines counted before it are the text's before it.
    #[test]
    fn the_kept_end_is_the_end_with_its_lines_before() {
        let text: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("line {i} {}\n", "x".repeat(i % 13)).into_bytes())
            .collect();
        for step in [1, 7, 4096, 32_767, 32_768, 65_537, text.len()] {
            let tail = super::Kept::default();
            tail.lock().expect("lock").keep_tail = true;
            let mut reader = super::Keeping::new(crate::ingest::Trickle(&text, step), &tail, true);
            let mut all = Vec::new();
            reader.read_to_end(&mut all).expect("reads");
            assert_eq!(all, text);
            let tail = tail.lock().expect("lock");
            let from = text.len() - tail.bytes.len();
            assert!(tail.bytes.len() >= super::crash::TAIL, "{step}");
            assert_eq!(&text[from..], &tail.bytes[..], "{step}");
            let lines = text[..from].iter().filter(|&&b| b == b'\n').count() as u64;
            assert_eq!(tail.lines_before, lines, "{step}");
        }
    }

    /// An unreadable file's error, printed with its causes as `main` prints errors, says the
    /// operating system's reason once.
    #[test]
    fn an_io_error_is_said_once() {
        let e = anyhow::Error::from(super::IngestError::Io {
            path: "run/p.jsonl".into(),
            error: std::io::Error::from_raw_os_error(13),
        })
        .context("cannot read run \"p\"");
        let text = format!("{e:#}");
        assert_eq!(text.matches("os error 13").count(), 1, "{text}");
        assert!(text.starts_with("cannot read run \"p\": run/p.jsonl: cannot read: "));
    }
}
