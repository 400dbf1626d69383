//! Starting one unit's process and waiting for it.
//!
//! Invariants: every unit is the leader of its own process group (so a timeout
//! or kill reaches its grandchildren too); units start through glibc's
//! `posix_spawn` (a vfork-style clone, never fork + exec, never code of ours
//! in the child); the leader is reaped only after the rest of its group is
//! killed, so the group id cannot have been reused by then.
//!
//! Why not std's `Command`: setting even one variable makes it copy jobrun's
//! whole environment into a map and a fresh C array on every spawn (two
//! thirds of jobrun's own CPU per unit in a profile), and it opens
//! `/dev/null`, duplicates the log twice and changes directory per unit.
//! Here the inherited environment is turned into C strings once per run and
//! each spawn only adds the unit's own variables; `/dev/null` is opened once;
//! the log is handed to the child as it is; the child changes directory only
//! when the unit's dir is not jobrun's.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::event::AttemptEnd;
use crate::plan::value::{display_bytes, display_path};

/// Resolves program names once per worker instead of searching PATH per unit
/// (xargs pays that search on every line).
#[derive(Default)]
pub struct ProgramCache {
    found: HashMap<(OsString, Option<OsString>), PathBuf>,
    /// Folders this worker has made for outputs (each is made once per run).
    made: std::collections::HashSet<PathBuf>,
}

impl ProgramCache {
    /// Make the folder an output goes in, unless this worker already has.
    pub fn make_parent(&mut self, output: &Path) -> std::io::Result<()> {
        let Some(parent) = output.parent() else {
            return Ok(());
        };
        if self.made.contains(parent) {
            return Ok(());
        }
        std::fs::create_dir_all(parent)?;
        self.made.insert(parent.to_owned());
        Ok(())
    }

    /// The path to execute for `program`, started in `dir`; `path_var` is the
    /// unit's PATH when the job sets one.
    pub fn resolve(&mut self, program: &OsStr, dir: &Path, path_var: Option<&OsStr>) -> PathBuf {
        let p = Path::new(program);
        if program.as_bytes().contains(&b'/') {
            // Relative to the unit's dir, where the user wrote it from.
            return if p.is_absolute() {
                p.to_path_buf()
            } else {
                dir.join(p)
            };
        }
        let key = (program.to_os_string(), path_var.map(OsStr::to_os_string));
        if let Some(hit) = self.found.get(&key) {
            return hit.clone();
        }
        let path = path_var
            .map(OsStr::to_os_string)
            .or_else(|| std::env::var_os("PATH"));
        let found = path.as_deref().and_then(|path| {
            std::env::split_paths(path)
                .map(|d| {
                    if d.as_os_str().is_empty() {
                        dir.join(p)
                    } else {
                        d.join(p)
                    }
                })
                .find(|c| is_executable(c))
        });
        match found {
            Some(f) => {
                self.found.insert(key, f.clone());
                f
            }
            // Not cached: it may appear later (a task may build it); the spawn
            // error then names the program.
            None => p.to_path_buf(),
        }
    }
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Everything needed to start one attempt.
pub struct Spawn<'a> {
    pub program: &'a Path,
    pub args: &'a [OsString],
    /// argv[0] as the user wrote it (for messages).
    pub shown: &'a OsStr,
    pub dir: &'a Path,
    pub env: &'a [(String, OsString)],
    pub log: &'a File,
    /// Send output through a pipe (returned) instead of straight to the log.
    pub capture: bool,
}

/// Why an attempt could not be started.
#[derive(Debug)]
pub enum StartError {
    /// The unit's own problem (command not found, bad dir, ...): it fails.
    Unit(AttemptEnd),
    /// jobrun is short of file descriptors or processes: the unit never ran.
    Shortage(io::Error),
}

/// A started unit's group leader, until it is reaped by [`wait`].
pub struct Proc {
    pid: libc::pid_t,
}

impl Proc {
    pub fn id(&self) -> u32 {
        self.pid as u32
    }
}

/// What every spawn shares, made once per run: jobrun's environment as
/// `KEY=VALUE` C strings, `/dev/null` for stdin, jobrun's own directory.
struct Shared {
    env: Vec<CString>,
    devnull: Option<OwnedFd>,
    cwd: Option<PathBuf>,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| Shared {
        env: std::env::vars_os()
            .filter_map(|(k, v)| {
                let mut kv = k.into_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                CString::new(kv).ok()
            })
            .collect(),
        devnull: File::open("/dev/null").ok().map(OwnedFd::from),
        cwd: std::env::current_dir().ok(),
    })
}

fn c_string(bytes: &[u8], what: &str) -> Result<CString, StartError> {
    CString::new(bytes).map_err(|_| {
        StartError::Unit(AttemptEnd::SpawnFailed(format!(
            "cannot start: {what} holds a NUL byte"
        )))
    })
}

/// The unit's environment: jobrun's, minus what the unit sets, plus the
/// unit's variables (the last of a repeated name wins, as with `Command`).
fn environment<'e>(
    base: &'e [CString],
    unit: &[(String, OsString)],
    own: &'e mut Vec<CString>,
) -> Result<Vec<*const libc::c_char>, StartError> {
    let set = |kv: &[u8]| {
        let key = &kv[..kv.iter().position(|&b| b == b'=').unwrap_or(kv.len())];
        unit.iter().any(|(k, _)| k.as_bytes() == key)
    };
    for (i, (k, v)) in unit.iter().enumerate() {
        if unit[i + 1..].iter().any(|(later, _)| later == k) {
            continue;
        }
        let mut kv = Vec::with_capacity(k.len() + 1 + v.len());
        kv.extend_from_slice(k.as_bytes());
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        own.push(c_string(&kv, &format!("the variable {k}"))?);
    }
    let mut envp: Vec<*const libc::c_char> = Vec::with_capacity(base.len() + own.len() + 1);
    envp.extend(
        base.iter()
            .filter(|kv| !set(kv.as_bytes()))
            .map(|kv| kv.as_ptr()),
    );
    envp.extend(own.iter().map(|kv| kv.as_ptr()));
    envp.push(std::ptr::null());
    Ok(envp)
}

/// Spawn attributes and file actions, destroyed on every path out.
struct Attrs {
    attr: libc::posix_spawnattr_t,
    actions: libc::posix_spawn_file_actions_t,
}

impl Attrs {
    fn new() -> io::Result<Attrs> {
        // SAFETY: both are plain C structs, initialised right here before any use.
        unsafe {
            let mut a: Attrs = std::mem::zeroed();
            check(libc::posix_spawnattr_init(&mut a.attr))?;
            if let Err(e) = check(libc::posix_spawn_file_actions_init(&mut a.actions)) {
                libc::posix_spawnattr_destroy(&mut a.attr);
                return Err(e);
            }
            Ok(a)
        }
    }
}

impl Drop for Attrs {
    fn drop(&mut self) {
        // SAFETY: both were initialised in `new`.
        unsafe {
            libc::posix_spawn_file_actions_destroy(&mut self.actions);
            libc::posix_spawnattr_destroy(&mut self.attr);
        }
    }
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(r))
    }
}

pub fn spawn(s: &Spawn<'_>) -> Result<(Proc, Option<OwnedFd>), StartError> {
    let fail = |what: &str, e: io::Error| {
        if super::limits::is_shortage(&e) {
            StartError::Shortage(e)
        } else {
            StartError::Unit(AttemptEnd::SpawnFailed(format!("{what}: {e}")))
        }
    };
    let shared = shared();
    let (out, reader): (RawFd, Option<(OwnedFd, OwnedFd)>) = if s.capture {
        let (r, w) = pipe().map_err(|e| fail("cannot create a pipe", e))?;
        (w.as_raw_fd(), Some((r, w)))
    } else {
        (s.log.as_raw_fd(), None)
    };
    let program = c_string(s.program.as_os_str().as_bytes(), "the program's path")?;
    let mut argv_c = Vec::with_capacity(s.args.len() + 1);
    // argv[0] is the path run, as std's `Command` gives it.
    argv_c.push(program.clone());
    for a in s.args {
        argv_c.push(c_string(a.as_bytes(), "an argument")?);
    }
    let mut argv: Vec<*const libc::c_char> = argv_c.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut own = Vec::new();
    let envp = environment(&shared.env, s.env, &mut own)?;
    let dir = match &shared.cwd {
        Some(cwd) if cwd == s.dir => None,
        _ => Some(c_string(
            s.dir.as_os_str().as_bytes(),
            "the working directory",
        )?),
    };

    let mut a = Attrs::new().map_err(|e| fail("cannot prepare the spawn", e))?;
    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer handed over (paths, argv, envp and their
    // strings) lives until posix_spawn returns; the descriptors are open.
    let spawned = unsafe {
        let mut prepare = || -> io::Result<()> {
            // The unit leads a process group of its own; it starts with no
            // signal blocked and SIGPIPE back to its default (Rust ignores it).
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            let mut pipe_default: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut pipe_default);
            libc::sigaddset(&mut pipe_default, libc::SIGPIPE);
            let flags = libc::POSIX_SPAWN_SETPGROUP
                | libc::POSIX_SPAWN_SETSIGMASK
                | libc::POSIX_SPAWN_SETSIGDEF;
            check(libc::posix_spawnattr_setflags(
                &mut a.attr,
                flags as libc::c_short,
            ))?;
            check(libc::posix_spawnattr_setpgroup(&mut a.attr, 0))?;
            check(libc::posix_spawnattr_setsigmask(&mut a.attr, &none))?;
            check(libc::posix_spawnattr_setsigdefault(
                &mut a.attr,
                &pipe_default,
            ))?;
            match &shared.devnull {
                Some(null) => check(libc::posix_spawn_file_actions_adddup2(
                    &mut a.actions,
                    null.as_raw_fd(),
                    0,
                ))?,
                None => check(libc::posix_spawn_file_actions_addopen(
                    &mut a.actions,
                    0,
                    c"/dev/null".as_ptr(),
                    libc::O_RDONLY,
                    0,
                ))?,
            }
            check(libc::posix_spawn_file_actions_adddup2(
                &mut a.actions,
                out,
                1,
            ))?;
            check(libc::posix_spawn_file_actions_adddup2(
                &mut a.actions,
                out,
                2,
            ))?;
            if let Some(d) = &dir {
                check(libc::posix_spawn_file_actions_addchdir_np(
                    &mut a.actions,
                    d.as_ptr(),
                ))?;
            }
            Ok(())
        };
        match prepare() {
            // Every descriptor handed over is open, so glibc's EBADF here
            // means one is numbered above the descriptor limit (lowered
            // since it was opened): the same shortage as EMFILE.
            Err(e) if e.raw_os_error() == Some(libc::EBADF) => {
                Err(io::Error::from_raw_os_error(libc::EMFILE))
            }
            Err(e) => Err(e),
            Ok(()) => check(libc::posix_spawn(
                &mut pid,
                program.as_ptr(),
                &a.actions,
                &a.attr,
                argv.as_ptr() as *const *mut libc::c_char,
                envp.as_ptr() as *const *mut libc::c_char,
            )),
        }
    };
    spawned.map_err(|e| {
        if super::limits::is_shortage(&e) {
            StartError::Shortage(e)
        } else {
            StartError::Unit(AttemptEnd::SpawnFailed(spawn_message(s, &e)))
        }
    })?;
    // The pipe's write end is the child's now; jobrun's copy closes here, so
    // EOF can arrive.
    Ok((Proc { pid }, reader.map(|(r, _w)| r)))
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both are fresh, open descriptors owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Has the group leader exited? (Checked without reaping it.)
fn leader_exited(pid: libc::pid_t) -> bool {
    // SAFETY: a zeroed siginfo_t is a valid out-parameter for waitid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: plain syscall on our own child.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT | libc::WNOHANG,
        )
    };
    // SAFETY: si_pid is valid to read after a successful waitid.
    r == 0 && unsafe { info.si_pid() } != 0
}

/// Has our child `pid` exited (not yet reaped)? A unit that ended on its
/// own just before a kill or a deadline keeps its own outcome.
pub fn has_exited(pid: libc::pid_t) -> bool {
    pid > 0 && leader_exited(pid)
}

/// Has any child of this process exited without being reaped yet?
pub fn exited_child() -> Option<Exited> {
    // SAFETY: a zeroed siginfo_t is a valid out-parameter for waitid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: plain syscall; WNOWAIT leaves every child as it is.
    let r = unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOWAIT | libc::WNOHANG,
        )
    };
    // SAFETY: si_pid and si_status are valid to read after a successful waitid.
    if r != 0 || unsafe { info.si_pid() } == 0 {
        return None;
    }
    // SAFETY: as above.
    let status = unsafe { info.si_status() };
    Some(if info.si_code == libc::CLD_EXITED && status == 0 {
        Exited::Clean
    } else {
        Exited::Otherwise
    })
}

/// How an unreaped child ended (see [`exited_child`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exited {
    /// Status 0.
    Clean,
    /// Any other status or a signal: possibly the failure that stops the run.
    Otherwise,
}

/// Copy a unit's captured output to its log and hand out whole lines, until
/// the pipe closes. When the leader exits while others in its group still
/// hold the pipe, the group is killed so this never hangs.
/// Returns the first error writing the log; the pipe is drained regardless,
/// so the unit never blocks on a full disk.
pub fn pump(
    child: &Proc,
    reader: OwnedFd,
    log: &mut File,
    mut on_line: impl FnMut(&[u8]),
) -> Option<io::Error> {
    let pid = child.id() as libc::pid_t;
    let mut pipe = File::from(reader);
    let mut buf = vec![0u8; 64 * 1024];
    let mut partial: Vec<u8> = Vec::new();
    let mut log_error = None;
    let mut checked = std::time::Instant::now();
    loop {
        let mut pfd = libc::pollfd {
            fd: pipe.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, 100) };
        // Idle or not (a chatty background process never lets the pipe go
        // idle), the unit ends when its leader does, as without capture.
        if ready == 0 || checked.elapsed() >= std::time::Duration::from_millis(100) {
            checked = std::time::Instant::now();
            if leader_exited(pid) {
                kill_group(pid, libc::SIGKILL);
            }
        }
        if ready == 0 {
            continue;
        }
        if ready < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        let n = match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let chunk = &buf[..n];
        if log_error.is_none()
            && let Err(e) = log.write_all(chunk)
        {
            log_error = Some(e);
        }
        split_lines(&mut partial, chunk, &mut on_line);
    }
    if !partial.is_empty() {
        on_line(&partial);
    }
    log_error
}

/// Is the file system holding the log folder `dir` out of space? Units write
/// their logs there directly, so a full disk shows only here. One `statvfs`
/// per unit; only when it shows no block free for unprivileged users (root
/// may have a reserve, ext4 keeps one even from root) is the disk asked
/// directly, by reserving one block past the end of `log`.
pub fn out_of_space(dir: &std::ffi::CStr, log: &std::path::Path) -> bool {
    // SAFETY: a zeroed statvfs is a valid out-parameter.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `dir` is NUL-terminated; `s` is valid for writes.
    if unsafe { libc::statvfs(dir.as_ptr(), &mut s) } != 0 || s.f_blocks == 0 || s.f_bavail > 0 {
        return false;
    }
    let f = match std::fs::OpenOptions::new().append(true).open(log) {
        Ok(f) => f,
        // Out of descriptors says nothing about the disk.
        Err(e) => return !super::limits::is_shortage(&e),
    };
    let Ok(len) = f.metadata().map(|m| m.len()) else {
        return false;
    };
    // SAFETY: plain syscall on a file we opened.
    let r = unsafe {
        libc::fallocate(
            f.as_raw_fd(),
            libc::FALLOC_FL_KEEP_SIZE,
            len as libc::off_t,
            4096,
        )
    };
    if r != 0 {
        return io::Error::last_os_error().raw_os_error() == Some(libc::ENOSPC);
    }
    // Give the block back: truncating to the same length frees what lies past it.
    let _ = f.set_len(len);
    false
}

/// Longest line handed out; longer lines go out in pieces of this size.
/// Lines wait in the run's event channel (up to 4096 of them) while the
/// terminal is slow, so this caps what a unit printing without newlines can
/// pile up in memory: 4096 x 4 KiB = 16 MiB (at 64 KiB it was 256 MiB and more).
const MAX_LINE: usize = 4 * 1024;

/// Append `chunk` to the unfinished line in `partial`, handing out every
/// complete line (without its newline) and every full `MAX_LINE` piece.
fn split_lines(partial: &mut Vec<u8>, mut chunk: &[u8], on_line: &mut impl FnMut(&[u8])) {
    while !chunk.is_empty() {
        let room = MAX_LINE - partial.len();
        let window = &chunk[..room.min(chunk.len())];
        if let Some(nl) = window.iter().position(|&b| b == b'\n') {
            partial.extend_from_slice(&window[..nl]);
            on_line(partial);
            partial.clear();
            chunk = &chunk[nl + 1..];
        } else {
            partial.extend_from_slice(window);
            chunk = &chunk[window.len()..];
            if partial.len() == MAX_LINE {
                on_line(partial);
                partial.clear();
            }
        }
    }
}

fn spawn_message(s: &Spawn<'_>, e: &io::Error) -> String {
    let shown = display_bytes(s.shown.as_bytes());
    if !s.dir.is_dir() {
        return format!(
            "cannot start `{shown}`: working directory `{}` does not exist",
            display_path(s.dir)
        );
    }
    // Only a path names a directory: a bare name was searched in PATH.
    if s.shown.as_bytes().contains(&b'/') && s.program.is_dir() {
        return format!("cannot start `{shown}`: it is a directory");
    }
    match (e.kind(), e.raw_os_error()) {
        (io::ErrorKind::NotFound, _) => format!("cannot start `{shown}`: command not found"),
        (io::ErrorKind::PermissionDenied, _) => format!(
            "cannot start `{shown}`: permission denied (is it executable? `chmod +x` it, \
             or run it through an interpreter)"
        ),
        (_, Some(libc::ENOEXEC)) => format!(
            "cannot start `{shown}`: not a program the system can run (a script needs a \
             `#!` first line, e.g. `#!/bin/sh`)"
        ),
        _ => format!("cannot start `{shown}`: {e}"),
    }
}

/// Wait for the group leader to exit, call `on_exit` while it is still a
/// zombie, kill whatever it left behind in its group, then reap it.
pub fn wait(child: &mut Proc, on_exit: impl FnOnce()) -> AttemptEnd {
    let pid = child.id() as libc::pid_t;
    loop {
        // SAFETY: a zeroed siginfo_t is a valid out-parameter for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // WNOWAIT leaves the leader a zombie, which keeps its pid (= the group id) reserved.
        // SAFETY: plain syscall on our own child.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            break;
        }
    }
    on_exit();
    kill_group(pid, libc::SIGKILL);
    let mut status = 0;
    loop {
        // SAFETY: plain syscall on our own child, reaping it.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return AttemptEnd::SpawnFailed(format!("cannot wait for the process: {e}"));
        }
    }
    if libc::WIFEXITED(status) {
        AttemptEnd::Exited(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        AttemptEnd::Signaled(libc::WTERMSIG(status))
    } else {
        AttemptEnd::SpawnFailed("unknown wait status".into())
    }
}

/// Send `sig` to a whole process group. A group that is gone is not an error.
pub fn kill_group(pgid: libc::pid_t, sig: i32) {
    if pgid > 0 {
        // SAFETY: plain syscall; a negative pid addresses the group.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

/// How many logs of a unit are kept: its latest run's and the runs' before.
pub const KEPT_LOGS: u32 = 3;

/// The log of the `back`-th run of a unit before its latest (0: the latest).
pub fn older_log(path: &Path, back: u32) -> PathBuf {
    if back == 0 {
        return path.to_owned();
    }
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{back}"));
    PathBuf::from(name)
}

/// Before a unit's first attempt truncates its log, keep the earlier runs'
/// logs (`x.log` → `x.log.1` → `x.log.2`, the oldest dropped): a rerun must
/// not erase the failure it is rerunning. Best effort: a log that cannot be
/// moved is overwritten as before. Two renames of absent files cost ~2 µs.
pub fn rotate_log(path: &Path) {
    for back in (1..KEPT_LOGS).rev() {
        let _ = std::fs::rename(older_log(path, back - 1), older_log(path, back));
    }
}

/// A file name for a unit's log that is safe for any unit id: bytes outside a
/// conservative set are %-escaped, and very long ids keep a hash suffix so two
/// ids never share a log.
pub fn log_file_name(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 4);
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"._-=,+[]@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.len() > 200 {
        let mut cut = 180;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str(&format!(
            "~{:016x}",
            xxhash_rust::xxh64::xxh64(id.as_bytes(), 0)
        ));
    }
    out.push_str(".log");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_names_are_safe_and_distinct() {
        assert_eq!(log_file_name("build"), "build.log");
        assert_eq!(
            log_file_name("t[file=a b/c.jpg]"),
            "t[file=a%20b%2Fc.jpg].log"
        );
        assert_eq!(log_file_name("t[f=..]"), "t[f=..].log");
        let long_a = format!("t[f={}a]", "x".repeat(300));
        let long_b = format!("t[f={}b]", "x".repeat(300));
        assert_ne!(log_file_name(&long_a), log_file_name(&long_b));
        assert!(log_file_name(&long_a).len() < 255);
    }

    #[test]
    fn long_lines_are_cut_into_pieces() {
        let mut got: Vec<Vec<u8>> = Vec::new();
        let mut partial = Vec::new();
        let mut on_line = |l: &[u8]| got.push(l.to_vec());
        split_lines(&mut partial, b"a\nbc", &mut on_line);
        split_lines(&mut partial, b"d\n\n", &mut on_line);
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        split_lines(&mut partial, &long, &mut on_line);
        split_lines(&mut partial, b"\ny", &mut on_line);
        assert_eq!(partial, b"y");
        let lens: Vec<usize> = got.iter().map(Vec::len).collect();
        assert_eq!(lens, [1, 3, 0, MAX_LINE, MAX_LINE, 10]);
        assert_eq!(got[1], b"bcd");
    }

    #[test]
    fn resolves_once_and_relative_to_dir() {
        let mut c = ProgramCache::default();
        let sh = c.resolve(OsStr::new("sh"), Path::new("/"), None);
        assert!(sh.is_absolute(), "{sh:?}");
        assert_eq!(
            c.resolve(OsStr::new("./x"), Path::new("/d"), None),
            Path::new("/d/./x")
        );
        assert_eq!(
            c.resolve(OsStr::new("no-such-prog-xyz"), Path::new("/"), None),
            Path::new("no-such-prog-xyz")
        );
    }
}
