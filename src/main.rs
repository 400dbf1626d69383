use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
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
