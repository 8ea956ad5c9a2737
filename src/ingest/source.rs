//! Finding and opening a run's files: directory discovery, gzip, stdin, size limits, and the
//! errors that name the file (and line) that could not be read.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

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
    #[error("{path}: cannot read: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: no such file or directory")]
    Missing { path: String },
    #[error("{path}: the file is empty")]
    Empty { path: String },
    #[error("{path}: a binary file, not a training log")]
    Binary { path: String },
    #[error(
        "{path}: a Git LFS pointer, not the log itself; run `git lfs pull` in its repository first"
    )]
    LfsPointer { path: String },
    #[error("{path}: {size} bytes is more than the {limit} bytes losscmp reads as one document")]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: String,
        line: usize,
        message: String,
    },
    #[error("{path}: read as {format}, but it holds no metric records or run settings")]
    NothingUsable { path: String, format: &'static str },
    #[error(
        "{path}: no training metrics found (looked at: {looked}); pass a trainer_state.json, trainer_log.jsonl or captured stdout log"
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
            source: e,
        },
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
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
            if let Some(n) = name
                .strip_prefix("checkpoint-")
                .and_then(|n| n.parse::<u64>().ok())
            {
                let state = entry.join("trainer_state.json");
                if state.is_file() {
                    checkpoints.push((n, state));
                }
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
                format: "skipped".into(),
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

fn read_dir_sorted(path: &Path) -> Result<Vec<PathBuf>, IngestError> {
    let err = |e| IngestError::Io {
        path: path.display().to_string(),
        source: e,
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(path).map_err(err)? {
        out.push(entry.map_err(err)?.path());
    }
    out.sort();
    Ok(out)
}

/// Names whose content is worth sniffing: everything but weights, tokenizers, images, archives
/// and code. Content decides the format; the name only keeps large binaries from being opened.
fn looks_like_log_name(name: &str) -> bool {
    const NOT_LOGS: [&str; 26] = [
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

/// Opens a file (or stdin) for streaming, decompressing gzip transparently.
pub fn open(path: &Path) -> Result<Box<dyn Read>, IngestError> {
    // A regular file is told from gzip by its first two bytes, not by filling the buffer.
    if let Some(file) = plain_file(path)? {
        return Ok(Box::new(BufReader::with_capacity(256 * 1024, file)));
    }
    let display = path.display().to_string();
    let file = File::open(path).map_err(|e| IngestError::Io {
        path: display,
        source: e,
    })?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let gz = {
        use std::io::BufRead;
        let buf = reader.fill_buf().unwrap_or(&[]);
        buf.starts_with(&[0x1f, 0x8b])
    };
    if gz {
        Ok(Box::new(BufReader::with_capacity(
            256 * 1024,
            MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(Box::new(reader))
    }
}

/// The first bytes of a file, decompressed, for sniffing. Stdin is buffered whole so it can be
/// sniffed and then read.
pub fn head(path: &Path) -> Result<Vec<u8>, IngestError> {
    if path.as_os_str() == "-" {
        return Ok(stdin_bytes()?.iter().take(SNIFF_BYTES).copied().collect());
    }
    let io = |e| IngestError::Io {
        path: path.display().to_string(),
        source: e,
    };
    let mut buf = Vec::with_capacity(SNIFF_BYTES);
    if let Some(file) = plain_file(path)? {
        // Only the bytes sniffed are read (`open`'s buffer would read 256 KiB of every file).
        file.take(SNIFF_BYTES as u64)
            .read_to_end(&mut buf)
            .map_err(io)?;
        return Ok(buf);
    }
    open(path)?
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut buf)
        .map_err(io)?;
    Ok(buf)
}

/// The file, opened, when it is a regular file that is not gzip-compressed; `None` for anything
/// else (compressed, a pipe), which [`open`] handles.
fn plain_file(path: &Path) -> Result<Option<File>, IngestError> {
    let err = |e| IngestError::Io {
        path: path.display().to_string(),
        source: e,
    };
    if !fs::metadata(path).map_err(err)?.is_file() {
        return Ok(None);
    }
    let mut file = File::open(path).map_err(err)?;
    let mut magic = [0u8; 2];
    let n = (&mut file).take(2).read(&mut magic).map_err(err)?;
    if n == 2 && magic == [0x1f, 0x8b] {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(0)).map_err(err)?;
    Ok(Some(file))
}

fn stdin_bytes() -> Result<&'static [u8], IngestError> {
    static STDIN: std::sync::OnceLock<Result<Vec<u8>, String>> = std::sync::OnceLock::new();
    let got = STDIN.get_or_init(|| {
        let mut buf = Vec::new();
        io::stdin()
            .lock()
            .take(MAX_DOCUMENT_BYTES)
            .read_to_end(&mut buf)
            .map(|_| buf)
            .map_err(|e| e.to_string())
    });
    got.as_deref().map_err(|e| IngestError::Io {
        path: "<stdin>".into(),
        source: io::Error::other(e.clone()),
    })
}

/// Reads a whole structured document as text (lossy UTF-8), refusing documents over
/// [`MAX_DOCUMENT_BYTES`].
pub fn read_to_string(path: &Path) -> Result<String, IngestError> {
    let display = path.display().to_string();
    if path.as_os_str() == "-" {
        return Ok(String::from_utf8_lossy(stdin_bytes()?).into_owned());
    }
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
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
    // A plain file straight into the buffer, not through `open`'s buffered reader (one copy
    // less).
    let reader: Box<dyn Read> = match plain_file(path)? {
        Some(file) => Box::new(file),
        None => open(path)?,
    };
    reader
        .take(MAX_DOCUMENT_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| IngestError::Io {
            path: display.clone(),
            source: e,
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

/// Opens stdin-or-file for streaming; stdin comes from the buffer `head` filled.
pub fn open_stream(path: &Path) -> Result<Box<dyn Read>, IngestError> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(stdin_bytes()?));
    }
    open(path)
}
