//! `losscmp`: parse the command line, run the pipeline, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;
use losscmp::cli::Cli;
use losscmp::config::Config;
use losscmp::exit::ExitStatus;

fn main() -> ExitCode {
    return_large_blocks();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version as clap prints them; a usage error in one line, as every
        // other error (clap's own adds a usage block and tips).
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(0);
        }
        Err(e) => {
            eprintln!("losscmp: error: {}", usage_error(&e));
            return ExitCode::from(ExitStatus::Error.code());
        }
    };
    let status = match Config::from_cli(cli).and_then(|config| losscmp::run(&config)) {
        Ok(status) => status,
        Err(err) if losscmp::is_broken_pipe(&err) => ExitStatus::Success,
        Err(err) => {
            let message = format!("{err:#}");
            eprintln!(
                "losscmp: error: {}",
                losscmp::report::text::printable(&message)
            );
            ExitStatus::Error
        }
    };
    ExitCode::from(status.code())
}

/// clap's message for a usage error in one line: its lines up to the usage block, without
/// clap's `error: ` and its tips (which suggest `-- -1` for a negative value), and where to
/// look.
fn usage_error(e: &clap::Error) -> String {
    let text = e.to_string();
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:"))
        .filter(|l| {
            !l.is_empty() && !l.starts_with("tip:") && !l.starts_with("For more information")
        })
        .collect();
    let message = parts.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    format!("{message} (losscmp --help lists the options)")
}

/// Every block of 1 MiB or more is mapped on its own and unmapped when freed. glibc's default
/// raises that threshold as large blocks are freed (up to 32 MiB), after which the reading
/// stage's columns and buffers, once freed, stay in its heap: the peak then holds both them
/// and the next stages' curves. Measured on the 304 MB dense log: 140 → 107 MB at the peak.
///
/// A fixed threshold leaves the heap's trim threshold at its 128 KiB default (glibc raises it
/// with the dynamic one, to twice it): every file's read buffers (a few hundred KiB), freed at
/// the top of a thread's heap, were handed back to the kernel and faulted in again, zeroed, for
/// the next file. It is set to twice the mapping threshold, as glibc's own adjustment would:
/// on the 100 bench runs 34 k → 10 k page faults, for a few MB more at the peak.
fn return_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 2 << 20);
    }
}
