//! The `matrix-snapshot` binary: parse arguments, run the library, turn the result into an exit
//! code (0 ok, 1 "no" answers such as differences, 2 errors).

use std::process::ExitCode;

mod cli;

/// mimalloc rather than glibc's malloc: loading a store or a manifest allocates millions of
/// strings from two threads, and glibc spent a quarter of a store load growing its per-thread
/// arenas (page faults, `mprotect`) and freeing.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        // `| head` closed stdout: ending quietly is the answer the reader asked for.
        Err(err) if err.is::<cli::StdoutClosed>() => ExitCode::SUCCESS,
        Err(err) => {
            cli::report_error(&err);
            ExitCode::from(2)
        }
    }
}
