//! Special files: a FIFO or a device given as the manifest is refused at
//! once, never read. Every run here has a deadline, so a regression fails
//! instead of hanging the test suite.

use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

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
