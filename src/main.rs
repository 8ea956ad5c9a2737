//! `losscmp`: parse the command line, run the pipeline, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;
use losscmp::cli::Cli;
use losscmp::config::Config;
use losscmp::exit::ExitStatus;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                ExitStatus::Error.code()
            } else {
                0
            });
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
