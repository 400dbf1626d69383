//! Special files: a FIFO or a device among a unit's inputs or given as the
//! manifest is refused at once, never read; a huge input never holds up a
//! signal. Every run here has a deadline, so a regression fails instead of
//! hanging the test suite.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use indoc::indoc;

use crate::support::{Job, jobrun};

/// Far more than any of these needs, far less than a hang.
const DEADLINE: Duration = Duration::from_secs(20);

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Wait for `child` until `within`; kill it and fail past that.
fn wait_within(child: &mut Child, within: Duration) -> ExitStatus {
    let until = Instant::now() + within;
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return st;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("jobrun still running after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run `jobrun ARGS job.toml` with a deadline: (status, stdout, stderr).
fn run_within(job: &Job, args: &[&str]) -> (ExitStatus, String, String) {
    let mut child = job
        .process(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn jobrun");
    let status = wait_within(&mut child, DEADLINE);
    let out = child.wait_with_output().expect("output");
    (
        status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Has `pid` a handler for `sig` (so a signal now is jobrun's to handle)?
fn catches(pid: u32, sig: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .is_some_and(|m| m & (1 << (sig - 1)) != 0)
}

const PIPELINE: &str = indoc! {r#"
    [[task]]
    name = "t"
    run = ["touch", "ran"]
    inputs = ["INPUT"]
    [[task]]
    name = "after"
    needs = ["t"]
    run = ["touch", "after-ran"]
"#};

#[test]
fn a_fifo_input_fails_its_unit_at_once() {
    let job = Job::new(&PIPELINE.replace("INPUT", "p.fifo"));
    mkfifo(&job.path().join("p.fifo"));
    let (status, _, err) = run_within(&job, &[]);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("input `p.fifo` is a FIFO, not a regular file"),
        "{err}"
    );
    assert!(!job.path().join("ran").exists(), "the command never runs");
    assert!(!job.path().join("after-ran").exists(), "dependents skip");
    assert!(err.contains("1 failed, 1 skipped"), "{err}");
    let log = job.read(".jobrun/logs/job/t.log");
    assert!(log.contains("is a FIFO"), "{log}");

    let (status, out, err) = run_within(&job, &["plan", "--why"]);
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(
        out.contains("t  fails: input `p.fifo` is a FIFO, not a regular file"),
        "{out}"
    );
    assert!(
        out.contains("after  skipped: depends on t, which fails"),
        "{out}"
    );

    let (status, _, err) = run_within(&job, &["--dry-run"]);
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(
        err.contains("0 of 2 selected units would run, 1 would fail on their inputs"),
        "{err}"
    );
}

#[test]
fn a_device_input_fails_its_unit_at_once() {
    let job = Job::new(&PIPELINE.replace("INPUT", "/dev/zero"));
    let (status, _, err) = run_within(&job, &[]);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("input `/dev/zero` is a character device, not a regular file"),
        "{err}"
    );
    assert!(!job.path().join("ran").exists());
    let (status, out, _) = run_within(&job, &["plan", "--why"]);
    assert_eq!(status.code(), Some(0));
    assert!(
        out.contains("fails: input `/dev/zero` is a character device"),
        "{out}"
    );
}

/// A directory is no input either: hashed as missing, it would never change.
#[test]
fn a_directory_input_fails_its_unit() {
    let job = Job::new(&PIPELINE.replace("INPUT", "d"));
    std::fs::create_dir(job.path().join("d")).expect("mkdir");
    let (status, _, err) = run_within(&job, &[]);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("input `d` is a directory"), "{err}");
}

/// A regular file of 20 GB (sparse: zeros, fast to read, but tens of
/// seconds to hash): SIGTERM stops jobrun in the middle of hashing it.
fn huge_input_job() -> Job {
    let job = Job::new(&PIPELINE.replace("INPUT", "huge.bin"));
    let f = std::fs::File::create(job.path().join("huge.bin")).expect("create");
    f.set_len(20 << 30).expect("a sparse 20 GB file");
    job
}

#[test]
fn sigterm_while_hashing_a_huge_input_stops_the_run() {
    let job = huge_input_job();
    let mut child = job
        .process(&[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn jobrun");
    let pid = child.id();
    let until = Instant::now() + DEADLINE;
    while !catches(pid, libc::SIGTERM) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Well into the hash, which takes far longer than this.
    std::thread::sleep(Duration::from_millis(500));
    let signalled = Instant::now();
    // SAFETY: a plain kill of our own child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    let status = wait_within(&mut child, DEADLINE);
    let took = signalled.elapsed();
    let out = child.wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(143), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(err.contains("cancelled"), "{err}");
    assert!(!job.path().join("ran").exists());
}

/// `plan --why` installs no handler: SIGINT ends it at once, as for any
/// command that writes nothing.
#[test]
fn sigint_while_plan_why_hashes_a_huge_input_ends_it() {
    let job = huge_input_job();
    let mut cmd = job.process(&["plan", "--why"]);
    // A test run started in the background may have SIGINT ignored, which
    // jobrun inherits (as under nohup): give it the default.
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn jobrun");
    std::thread::sleep(Duration::from_millis(1000));
    let signalled = Instant::now();
    // SAFETY: a plain kill of our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = wait_within(&mut child, DEADLINE);
    assert!(
        status.signal() == Some(libc::SIGINT) || status.code() == Some(130),
        "{status:?}"
    );
    assert!(signalled.elapsed() < Duration::from_secs(10));
}

fn check_within(dir: &Path, manifest: &str) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("jobrun"))
        .current_dir(dir)
        .args(["check", manifest])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn jobrun");
    let status = wait_within(&mut child, DEADLINE);
    let out = child.wait_with_output().expect("output");
    assert!(out.stdout.is_empty());
    (
        status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_refuses_a_device() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, err) = check_within(dir.path(), "/dev/zero");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(
            "cannot read manifest `/dev/zero`: it is a character device, not a regular file"
        ),
        "{err}"
    );
}

#[test]
fn check_refuses_a_fifo_with_no_writer() {
    let dir = tempfile::tempdir().expect("temp dir");
    mkfifo(&dir.path().join("job.toml"));
    let (code, err) = check_within(dir.path(), "job.toml");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("`job.toml`: it is a FIFO, not a regular file"),
        "{err}"
    );
}

#[test]
fn a_manifest_over_16_mib_is_refused() {
    let mut text = String::from("[[task]]\nname = \"t\"\nrun = [\"true\"]\n");
    let filler = format!("#{}\n", ".".repeat(1022));
    while text.len() <= 16 << 20 {
        text.push_str(&filler);
    }
    let job = Job::new(&text);
    let out = jobrun()
        .current_dir(job.path())
        .args(["check", "job.toml"])
        .output()
        .expect("run jobrun");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`job.toml`: it is larger than 16 MiB"),
        "{err}"
    );
}
