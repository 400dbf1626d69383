//! A small builder: a temp dir with a manifest and files, and the real binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

pub struct Job {
    pub dir: tempfile::TempDir,
    manifest: String,
}

impl Job {
    /// A temp dir holding `job.toml` with this text.
    pub fn new(toml: &str) -> Job {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("job.toml"), toml).expect("write manifest");
        Job {
            dir,
            manifest: "job.toml".into(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn manifest(&self) -> PathBuf {
        self.dir.path().join(&self.manifest)
    }

    /// Write a file below the job dir (parents created).
    pub fn file(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> &Job {
        let p = self.dir.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, contents).expect("write file");
        self
    }

    pub fn read(&self, rel: impl AsRef<Path>) -> String {
        std::fs::read_to_string(self.dir.path().join(rel)).unwrap_or_default()
    }

    /// `jobrun ARGS... job.toml`, run in the job dir.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = jobrun();
        c.current_dir(self.dir.path());
        c.env(TAG, self.tag());
        c.args(args);
        c.arg(&self.manifest);
        c
    }

    /// `jobrun ARGS... job.toml` as a process to spawn (for tests that signal
    /// it or read its output while it runs), in the job dir, tagged.
    pub fn process(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("jobrun"));
        c.current_dir(self.dir.path())
            .env(TAG, self.tag())
            .args(args)
            .arg(&self.manifest);
        c
    }

    /// A value unique to this job, set in jobrun's environment (so every
    /// process a unit starts inherits it) to find orphans afterwards.
    pub fn tag(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// Processes still alive that descend from this job's runs. A process
    /// jobrun has just sent SIGKILL may not have been scheduled to die yet on
    /// a loaded machine: look again for a few seconds before answering.
    pub fn orphans(&self) -> Vec<i32> {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            let left = self.orphans_now();
            if left.is_empty() || std::time::Instant::now() >= until {
                return left;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn orphans_now(&self) -> Vec<i32> {
        let needle = format!("{TAG}={}\0", self.tag());
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let environ = std::fs::read(e.path().join("environ")).unwrap_or_default();
            if environ
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
                && !alive(&[pid]).is_empty()
            {
                out.push(pid);
            }
        }
        out
    }

    /// Run `jobrun [args] job.toml`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run jobrun")
    }

    /// Run `jobrun SUB [args] job.toml`.
    pub fn sub(&self, sub: &str, args: &[&str]) -> Output {
        let mut c = jobrun();
        c.current_dir(self.dir.path())
            .env(TAG, self.tag())
            .arg(sub)
            .args(args)
            .arg(&self.manifest);
        c.output().expect("run jobrun")
    }
}

/// Is `script` (util-linux) here, to give jobrun a pseudo-terminal?
pub fn has_script() -> bool {
    let here = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok();
    if !here {
        eprintln!("skipped: no `script` (util-linux) for a pseudo-terminal");
    }
    here
}

/// The environment variable that marks a test job's processes.
pub const TAG: &str = "JOBRUN_TEST_TAG";

pub fn jobrun() -> Command {
    let mut c = Command::cargo_bin("jobrun").expect("binary");
    c.env_remove("GITHUB_ACTIONS").env("NO_COLOR", "1");
    c
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Lines of a file the units append to.
pub fn lines(path: impl AsRef<Path>) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Pids (from pid files the units wrote) that are still alive.
pub fn alive(pids: &[i32]) -> Vec<i32> {
    pids.iter()
        .copied()
        .filter(|p| {
            // A zombie is dead for our purposes.
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
            })
        })
        .collect()
}

/// Of `pids`, those still alive after up to 3 s: a process SIGKILLed a
/// moment ago may not have been scheduled to die yet on a loaded machine.
pub fn survivors(pids: &[i32]) -> Vec<i32> {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let left = alive(pids);
        if left.is_empty() || std::time::Instant::now() >= until {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Every integer in the files matching `dir/*.pid`.
pub fn pids_in(dir: &Path) -> Vec<i32> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().extension().is_some_and(|x| x == "pid") {
                for w in std::fs::read_to_string(e.path())
                    .unwrap_or_default()
                    .split_whitespace()
                {
                    if let Ok(p) = w.parse() {
                        out.push(p);
                    }
                }
            }
        }
    }
    out
}
