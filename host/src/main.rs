//! The `twgate` binary: parse, run, map the result to an exit code.

use std::process::ExitCode;
use twgate::commands::Exit;

fn main() -> ExitCode {
    limit_malloc_arenas();
    quiet_panics_while_ending();
    match twgate::commands::run(twgate::cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of stdout went away (`twgate list | head -1`): it has what it wanted.
        Err(e) if twgate::stdout::closed(&e) => ExitCode::SUCCESS,
        // PostgreSQL asks restore_command for files that may well not exist (the next
        // timeline's history, the segment after the last): a notice, silent with --quiet.
        Err(e) if matches!(e.downcast_ref(), Some(Exit::NotInArchive { .. })) => {
            twgate::ui::info(&format!("{e:#}"));
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("twgate: error: {e:#}");
            match e.downcast_ref::<Exit>() {
                Some(exit) => ExitCode::from(exit.code()),
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// A thread left blocked in a plugin's host call when the command ended (interrupted by a
/// signal) panics when the runtime it waits on shuts down; the command has already said
/// what happened, and the process is exiting, so that panic is not printed.
fn quiet_panics_while_ending() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !twgate::commands::ending() {
            default(info);
        }
    }));
}

/// glibc gives each busy thread its own malloc arena and keeps freed chunks in it; with a
/// thread per pipeline stage that multiplies peak RSS under CPU contention. Two arenas keep
/// memory flat at no measurable cost: the stages exchange a few large buffers, not many
/// small ones. (Two whatever the core count: the buffers, not the threads, are the load.)
///
/// Those buffers (512 KiB chunks, outputs up to 1 MiB) come and go all the time. With
/// glibc's sliding thresholds they would be mapped and unmapped, or trimmed off the heap
/// and faulted back in, zeroed by the kernel each time; fixed thresholds keep them in the
/// heap. Measurements: docs/performance.md.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 32 << 20);
    }
}
