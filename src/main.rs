use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    // glibc gives each new thread its own malloc arena (up to 8 per CPU), a
    // few hundred KB each once touched: at -j 1000 that was ~5 MB. Workers
    // allocate little and rarely, so two arenas cost no measurable contention.
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets a tunable; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let cli = jobrun::cli::Cli::parse_args(std::env::args_os());
    match jobrun::run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        // Output piped into `head` and closed: stop quietly, like other Unix tools.
        Err(jobrun::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            // A closed stderr must not turn an error into a panic.
            let _ = writeln!(std::io::stderr(), "{e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
