//! What jobrun needs of the system's limits, and telling its own shortage
//! apart from a unit's failure.
//!
//! Starting a unit holds file descriptors in jobrun for a moment: its log,
//! two copies of it for the child's stdout and stderr, and `/dev/null` for
//! its stdin (with `output = "line"`, a pipe's two ends and a copy instead of
//! the copies; the log and the pipe's read end stay open while the unit
//! runs). Otherwise a running unit holds none. So a low `ulimit -n` limits
//! how many units may be *starting* at once, and in line mode how many may
//! run. `fit` sizes that at start; a shortage that still happens (another
//! process filled the system's file table) stops the run as jobrun's own
//! problem, never as a failure of the unit, which did not run.

use std::io;

use crate::error::Error;

/// Descriptors one unit holds while it starts (see the module docs).
const PER_START: u64 = 4;
/// The same with `output = "line"`, most of it held while the unit runs.
const PER_LINE_UNIT: u64 = 5;
/// Descriptors jobrun may open besides its units (signal pipe, reading a
/// log's tail for the report, an input file being hashed).
const SPARE: u64 = 16;

/// How the run fits the file descriptor limit.
#[derive(Debug, PartialEq, Eq)]
pub struct FdFit {
    pub workers: usize,
    /// At most this many units start at once (None: no bound needed).
    pub start_slots: Option<usize>,
    /// For the user: the run is smaller than asked.
    pub note: Option<String>,
}

/// Fit `workers` units (at most that many running at once) to the file
/// descriptor limit: raise the soft limit as far as the run needs (never
/// past the hard limit, and not at all when it is enough: units inherit
/// it), then bound starts, or in line mode workers, by what is left.
/// A limit too low to start even one unit is an error.
pub fn fit(workers: usize, line_output: bool) -> Result<FdFit, Error> {
    let Some((soft, hard)) = nofile() else {
        return Ok(unbounded(workers));
    };
    let open = open_fds();
    let per = if line_output {
        PER_LINE_UNIT
    } else {
        PER_START
    };
    let need = open + SPARE + workers as u64 * per;
    let mut limit = soft;
    if limit < need {
        let want = need.min(hard);
        if want > limit && set_nofile(want, hard) {
            limit = want;
        }
    }
    Ok(plan(workers, line_output, open, limit, per)?.unwrap_or_else(|| unbounded(workers)))
}

fn unbounded(workers: usize) -> FdFit {
    FdFit {
        workers,
        start_slots: None,
        note: None,
    }
}

/// The bounds for a limit of `limit` with `open` descriptors open; None
/// when every worker fits.
fn plan(
    workers: usize,
    line_output: bool,
    open: u64,
    limit: u64,
    per: u64,
) -> Result<Option<FdFit>, Error> {
    let need = open + SPARE + workers as u64 * per;
    if limit >= need {
        return Ok(None);
    }
    let room = (limit.saturating_sub(open + SPARE) / per) as usize;
    if room == 0 {
        return Err(Error::io(
            format!(
                "the file descriptor limit ({limit}, `ulimit -n`) leaves jobrun no room to \
                 start a unit; raise it, e.g. `ulimit -n {}`",
                need.max(1024)
            ),
            io::Error::from_raw_os_error(libc::EMFILE),
        ));
    }
    if !line_output {
        // Running units hold none: bound only the starts.
        return Ok(Some(FdFit {
            workers,
            start_slots: Some(room),
            note: None,
        }));
    }
    Ok(Some(FdFit {
        workers: room,
        start_slots: None,
        note: Some(format!(
            "-j {workers} with `output = \"line\"` needs about {need} file descriptors, \
             the limit is {limit}: running at most {room} units at once; raise it with \
             `ulimit -n {need}`"
        )),
    }))
}

/// Is this error jobrun (or the machine) running short, rather than
/// anything about the unit being started?
pub fn is_shortage(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::EAGAIN | libc::ENOMEM)
    )
}

/// jobrun's own error for a shortage while starting unit `id`, saying what
/// to do.
pub fn shortage(id: &str, e: io::Error) -> Error {
    let what = match e.raw_os_error() {
        Some(libc::EMFILE) => {
            let limit = nofile().map_or_else(|| "?".to_owned(), |(soft, _)| soft.to_string());
            format!(
                "jobrun ran out of file descriptors (its limit is {limit}) starting `{id}`; \
                 raise the limit with `ulimit -n`, or run fewer units at once (-j)"
            )
        }
        Some(libc::ENFILE) => format!(
            "the system ran out of file descriptors starting `{id}`; run fewer units at \
             once (-j)"
        ),
        Some(libc::EAGAIN) => format!(
            "cannot start another process for `{id}` (the process limit, `ulimit -u`, or \
             the cgroup's pids.max); run fewer units at once (-j)"
        ),
        _ => format!("out of memory starting `{id}`; run fewer units at once (-j)"),
    };
    Error::io(what, e)
}

/// The soft and hard RLIMIT_NOFILE; None when unlimited or unknown.
fn nofile() -> Option<(u64, u64)> {
    // SAFETY: a zeroed rlimit is a valid out-parameter.
    let mut r: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: plain syscall with a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0
        || r.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    Some((r.rlim_cur, r.rlim_max))
}

fn set_nofile(soft: u64, hard: u64) -> bool {
    let r = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: plain syscall with a valid pointer.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) == 0 }
}

/// Descriptors open now (the listing's own excluded).
fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .or_else(|_| std::fs::read_dir("/dev/fd"))
        .map_or(SPARE, |rd| rd.count().saturating_sub(1) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_that_fits_bounds_nothing() {
        assert_eq!(plan(100, false, 10, 1024, PER_START).unwrap(), None);
        assert_eq!(plan(100, true, 10, 1024, PER_LINE_UNIT).unwrap(), None);
    }

    #[test]
    fn a_low_limit_bounds_starts_or_in_line_mode_workers() {
        // 64 - 10 open - 16 spare = 38 left: 9 starts of 4, 7 line units of 5.
        let fit = plan(500, false, 10, 64, PER_START).unwrap().unwrap();
        assert_eq!(
            (fit.workers, fit.start_slots, fit.note),
            (500, Some(9), None)
        );
        let fit = plan(500, true, 10, 64, PER_LINE_UNIT).unwrap().unwrap();
        assert_eq!((fit.workers, fit.start_slots), (7, None));
        let note = fit.note.unwrap();
        assert!(note.contains("needs about 2526 file descriptors"), "{note}");
        assert!(note.contains("the limit is 64"), "{note}");
        assert!(note.contains("at most 7 units at once"), "{note}");
    }

    #[test]
    fn no_room_for_one_unit_is_an_error() {
        let e = plan(4, false, 10, 20, PER_START).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains("`ulimit -n"), "{e}");
    }

    #[test]
    fn shortages_are_told_from_unit_errors() {
        for code in [libc::EMFILE, libc::ENFILE, libc::EAGAIN, libc::ENOMEM] {
            assert!(is_shortage(&io::Error::from_raw_os_error(code)));
        }
        for code in [libc::ENOENT, libc::EACCES, libc::ENOEXEC, libc::E2BIG] {
            assert!(!is_shortage(&io::Error::from_raw_os_error(code)));
        }
        let e = shortage("t[i=1]", io::Error::from_raw_os_error(libc::EMFILE));
        let text = e.to_string();
        assert!(text.contains("ran out of file descriptors"), "{text}");
        assert!(
            text.contains("`t[i=1]`") && text.contains("ulimit -n"),
            "{text}"
        );
    }
}
