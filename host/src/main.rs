//! The `twgate` binary: parse, run, map the result to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    match twgate::commands::run(twgate::cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::from(141),
        Err(e) => {
            eprintln!("twgate: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A reader that went away (`twgate pull | head`) is not an error worth a message.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}
