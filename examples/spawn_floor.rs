//! The floor for spawning processes: `spawn_floor N [THREADS] [PROGRAM [ARG...]]`
//! runs PROGRAM (default `/bin/true`) N times on THREADS threads (default 2)
//! with `std::process::Command` (posix_spawn), waiting for each, and nothing else.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let program = args.next().unwrap_or_else(|| "/bin/true".into());
    let program_args: Vec<String> = args.collect();
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let ok = Command::new(&program)
                        .args(&program_args)
                        .stdin(Stdio::null())
                        .status()
                        .is_ok_and(|st| st.success());
                    if !ok {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let failed = failed.into_inner();
    if failed > 0 {
        eprintln!("{failed} of {n} runs failed");
        std::process::exit(1);
    }
}
