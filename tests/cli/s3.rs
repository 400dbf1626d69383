//! The shipped S3 job (`jobs/s3-thumbnails.toml`) against a real S3 server:
//! s3s-fs, a Rust S3 server over a local folder, started here on loopback.
//! Uploads and downloads are counted on the server's side, from its request log.
//!
//! These tests need `s3s-fs` (or JOBRUN_S3_SERVER naming it), `curl` and the
//! AWS CLI. Without JOBRUN_TEST_S3=1 they are skipped with a message; with it
//! (`.ci/run` sets it) anything missing is a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Job, stderr, stdout};

const KEY_ID: &str = "jobrun-test";
const SECRET: &str = "jobrun-test-secret";
/// Objects in the bulk tests, as the issue asks.
const OBJECTS: usize = 2000;
/// No run of the job may hang the suite.
const LIMIT: Duration = Duration::from_secs(300);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn server_program() -> String {
    std::env::var("JOBRUN_S3_SERVER").unwrap_or_else(|_| "s3s-fs".into())
}

/// Whether the S3 tests can run; panics when they must (JOBRUN_TEST_S3=1)
/// and cannot.
fn wanted() -> bool {
    let required = std::env::var("JOBRUN_TEST_S3").is_ok_and(|v| v == "1");
    let works = |p: &str, a: &str| {
        StdCommand::new(p)
            .arg(a)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let missing: Vec<String> = [
        (server_program(), "--version"),
        ("curl".into(), "--version"),
        ("aws".into(), "--version"),
    ]
    .into_iter()
    .filter(|(p, a)| !works(p, a))
    .map(|(p, _)| p)
    .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        !required,
        "JOBRUN_TEST_S3=1 but these cannot run: {missing:?}"
    );
    eprintln!("skipped: {missing:?} not found (JOBRUN_TEST_S3=1 makes that a failure; docs/s3.md)");
    false
}

/// The example's image tool, built once for all tests, outside the checkout.
fn imgtool_target() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("s3-imgtool-target");
        let built = StdCommand::new("cargo")
            .args(["build", "--release", "--quiet", "--manifest-path"])
            .arg(repo().join("jobs/imgtool/Cargo.toml"))
            .arg("--target-dir")
            .arg(&dir)
            .status()
            .expect("run cargo");
        assert!(built.success(), "building jobs/imgtool failed");
        dir
    })
}

/// A local S3 server over a folder, with buckets `photos` and `thumbs`.
struct Server {
    root: PathBuf,
    log: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Server {
    fn new(dir: &Path) -> Server {
        let root = dir.join("s3-data");
        for bucket in ["photos", "thumbs"] {
            fs::create_dir_all(root.join(bucket)).unwrap();
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = Server {
            root,
            log: dir.join("s3-server.log"),
            port,
            child: None,
        };
        s.up();
        s
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Start it (again, on the same port) and wait until it answers.
    fn up(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = StdCommand::new(server_program())
            .env("RUST_LOG", "s3s::service=debug")
            .env("NO_COLOR", "1")
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", KEY_ID, "--secret-key", SECRET])
            .arg(&self.root)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the S3 server");
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < until,
                "the S3 server did not start: {}",
                fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stop it at once, as a crash or a lost network would.
    fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Requests of `method` per object key of `bucket`, from the server's log.
    fn requests(&self, method: &str, bucket: &str) -> BTreeMap<String, usize> {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let needle = format!("req: Request {{ method: {method}, uri: /{bucket}/");
        let mut counts = BTreeMap::new();
        for line in text.lines() {
            if let Some((_, rest)) = line.split_once(&needle) {
                let key = rest.split([',', '?']).next().unwrap_or_default();
                *counts.entry(key.to_owned()).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Objects now stored in `bucket` (the folder s3s-fs keeps them in).
    fn stored(&self, bucket: &str) -> usize {
        fs::read_dir(self.root.join(bucket)).map_or(0, |d| d.count())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.down();
    }
}

/// The shipped job in a temp dir, next to a server holding `n` pictures.
struct S3Job {
    job: Job,
    server: Server,
}

impl S3Job {
    fn new(keys: &[String]) -> S3Job {
        let toml = fs::read_to_string(repo().join("jobs/s3-thumbnails.toml")).unwrap();
        let job = Job::new(&toml);
        let client = job.path().join("s3/s3");
        fs::create_dir_all(client.parent().unwrap()).unwrap();
        fs::copy(repo().join("jobs/s3/s3"), &client).unwrap();
        fs::set_permissions(&client, fs::Permissions::from_mode(0o755)).unwrap();
        // The image tool, built once: its source read in place, its target shared.
        symlink(repo().join("jobs/imgtool"), job.path().join("imgtool")).unwrap();
        fs::create_dir_all(job.path().join(".jobrun")).unwrap();
        symlink(imgtool_target(), job.path().join(".jobrun/imgtool-target")).unwrap();
        let server = Server::new(job.path());
        let samples = seed_pictures(job.path());
        for (i, key) in keys.iter().enumerate() {
            let to = server.root.join("photos").join(key);
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::copy(&samples[i % samples.len()], to).unwrap();
        }
        S3Job { job, server }
    }

    /// `jobrun` on the job, with the server's endpoint and keys in its
    /// environment; `curl` sends the objects unless `aws` is asked for.
    fn process(&self, client: &str, args: &[&str]) -> StdCommand {
        let mut c = self.job.process(args);
        c.env("S3_ENDPOINT", self.server.endpoint())
            .env("S3_CLIENT", client)
            .env("AWS_ACCESS_KEY_ID", KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .args(["--var", "size=16", "--events", "events.jsonl", "-q"]);
        c
    }

    /// A run as a process, its output captured for `wait_output`.
    fn spawn(&self, client: &str) -> Child {
        self.process(client, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn run(&self, client: &str) -> std::process::Output {
        wait_output(self.spawn(client))
    }

    fn events(&self) -> Vec<Value> {
        // A run killed mid-write leaves a torn last line: skip it.
        self.job
            .read("events.jsonl")
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

fn wait_output(child: Child) -> std::process::Output {
    let pid = child.id() as i32;
    let watchdog = std::thread::spawn(move || {
        let until = Instant::now() + LIMIT;
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(200));
            if unsafe { libc::kill(pid, 0) } != 0 {
                return;
            }
        }
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let out = child.wait_with_output().unwrap();
    let _ = watchdog.join();
    out
}

/// Small JPEGs made from the example's pictures, so that thumbnails are cheap.
fn seed_pictures(dir: &Path) -> Vec<PathBuf> {
    let tool = imgtool_target().join("release/imgtool");
    let mut out = Vec::new();
    let mut samples: Vec<PathBuf> = fs::read_dir(repo().join("jobs/images"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    samples.sort();
    for (i, s) in samples.iter().enumerate() {
        let to = dir.join(format!("seed/{i}.jpg"));
        let ok = StdCommand::new(&tool)
            .arg("thumb")
            .arg(s)
            .arg(&to)
            .arg("32")
            .status()
            .unwrap();
        assert!(ok.success());
        out.push(to);
    }
    out
}

fn numbered(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("p{i:04}.jpg")).collect()
}

fn thumb_of(key: &str) -> String {
    format!("{}-16.png", key.strip_suffix(".jpg").unwrap())
}

/// Wait until the server stores `n` objects in `bucket`, or the run ends.
fn wait_for_uploads(s: &S3Job, child: &mut Child, n: usize) {
    let until = Instant::now() + LIMIT;
    while s.server.stored("thumbs") < n {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before {n} uploads"
        );
        assert!(Instant::now() < until, "no {n} uploads in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The key of a unit id such as `upload[key=p0001.jpg]`.
fn key_of(id: &str) -> String {
    id.split_once("[key=")
        .unwrap()
        .1
        .trim_end_matches(']')
        .to_owned()
}

/// Most units of each task that ran at once, by the events.
fn peak_per_task(events: &[Value]) -> BTreeMap<String, usize> {
    let mut task_of = BTreeMap::new();
    let mut now: BTreeMap<String, usize> = BTreeMap::new();
    let mut peak: BTreeMap<String, usize> = BTreeMap::new();
    let mut both = (0usize, 0usize);
    for e in events {
        let id = e["id"].as_str().unwrap_or_default().to_owned();
        match e["event"].as_str() {
            Some("unit_started") => {
                let task = e["task"].as_str().unwrap().to_owned();
                task_of.insert(id, task.clone());
                let n = now.entry(task.clone()).or_default();
                *n += 1;
                let p = peak.entry(task.clone()).or_default();
                *p = (*p).max(*n);
                if task == "download" || task == "upload" {
                    both.0 += 1;
                    both.1 = both.1.max(both.0);
                }
            }
            Some("unit_finished" | "attempt_failed") => {
                if let Some(task) = task_of.remove(&id) {
                    *now.get_mut(&task).unwrap() -= 1;
                    if task == "download" || task == "upload" {
                        both.0 -= 1;
                    }
                }
            }
            _ => {}
        }
    }
    peak.insert("network".into(), both.1);
    peak
}

/// Keys whose `task` unit has an `ok` record in the journal: done, by
/// what a rerun goes by.
fn recorded_ok(s: &S3Job, task: &str) -> BTreeSet<String> {
    let prefix = format!("{task}[");
    s.job
        .read(".jobrun/s3-thumbnails.journal")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["outcome"] == "ok")
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .filter(|id| id.starts_with(&prefix))
        .map(|id| key_of(&id))
        .collect()
}

/// Every key reached the server as a thumbnail. A key sent more than once
/// was not recorded done when the first run was cut short (it was in
/// flight), and there are at most as many of those as transfers run at once.
fn assert_uploaded_once(s: &S3Job, keys: &[String], done_before: &BTreeSet<String>) {
    let puts = s.server.requests("PUT", "thumbs");
    let mut again = Vec::new();
    for key in keys {
        let n = puts.get(&thumb_of(key)).copied().unwrap_or(0);
        assert!(n >= 1, "{key} was never uploaded");
        if n > 1 {
            assert!(
                !done_before.contains(key),
                "{key} was uploaded {n} times, though done before the rerun"
            );
            again.push(key);
        }
    }
    assert!(
        again.len() <= 32,
        "{} uploaded again: {again:?}",
        again.len()
    );
    assert_eq!(
        s.server.stored("thumbs"),
        keys.len() + 1,
        "every thumbnail and index.html"
    );
}

#[test]
fn the_job_with_the_aws_cli_makes_every_thumbnail_and_reruns_nothing() {
    if !wanted() {
        return;
    }
    let keys: Vec<String> = [
        "beach.jpg",
        "red sunset.jpg",
        "2024/march/night.JPG",
        "notes.txt",
    ]
    .map(String::from)
    .into();
    let s = S3Job::new(&keys);
    let out = s.run("aws");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let puts = s.server.requests("PUT", "thumbs");
    // The text object is not a picture: listed, then left out.
    assert_eq!(
        puts.keys().cloned().collect::<Vec<_>>(),
        [
            "2024/march/night-16.png",
            "beach-16.png",
            "index.html",
            "red%20sunset-16.png"
        ]
    );
    let index = fs::read_to_string(s.server.root.join("thumbs/index.html")).unwrap();
    assert!(index.contains("src=\"2024/march/night-16.png\""), "{index}");
    assert!(index.contains("src=\"red%20sunset-16.png\""), "{index}");
    assert!(s.job.read("out/s3/keys.txt").lines().eq([
        "2024/march/night.JPG",
        "beach.jpg",
        "red sunset.jpg"
    ]));

    // A rerun finds everything done: no request for any object.
    let again = s.run("aws");
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(s.server.requests("PUT", "thumbs"), puts);
    assert_eq!(
        s.server.requests("GET", "photos").values().sum::<usize>(),
        3
    );
}

#[test]
fn sigkill_mid_way_then_rerun_uploads_every_object_once() {
    if !wanted() {
        return;
    }
    let keys = numbered(OBJECTS);
    let s = S3Job::new(&keys);
    let mut child = s.spawn("curl");
    wait_for_uploads(&s, &mut child, OBJECTS / 3);
    child.kill().unwrap();
    child.wait().unwrap();
    // The units' own processes outlive jobrun; let them end before the rerun.
    assert!(s.job.orphans().is_empty());
    let uploaded = recorded_ok(&s, "upload");
    let downloaded = recorded_ok(&s, "download");
    let first = s.events();
    let before = s.server.stored("thumbs");
    assert!(before < OBJECTS, "the kill came after the last upload");

    let out = s.run("curl");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_uploaded_once(&s, &keys, &uploaded);
    let gets = s.server.requests("GET", "photos");
    assert_eq!(gets.len(), OBJECTS);
    let twice: Vec<_> = gets
        .iter()
        .filter(|&(_, &n)| n > 1)
        .map(|(k, _)| k)
        .collect();
    assert!(twice.iter().all(|k| !downloaded.contains(*k)), "{twice:?}");
    assert!(twice.len() <= 32, "{twice:?}");

    // Each stage stayed within its pools in both runs: 32 transfers, a
    // thumbnail per CPU.
    let cpus = std::thread::available_parallelism().unwrap().get();
    for events in [first, s.events()] {
        let peaks = peak_per_task(&events);
        assert!(peaks["network"] <= 32, "{peaks:?}");
        assert!(
            peaks.get("thumbnail").is_none_or(|&n| n <= cpus),
            "{peaks:?}"
        );
        assert!(peaks["upload"] > 1, "uploads never overlapped: {peaks:?}");
    }
}

#[test]
fn a_server_down_for_seconds_is_ridden_out_by_retries() {
    if !wanted() {
        return;
    }
    let keys = numbered(OBJECTS);
    let mut s = S3Job::new(&keys);
    let mut child = s.spawn("curl");
    wait_for_uploads(&s, &mut child, OBJECTS / 4);
    s.server.down();
    std::thread::sleep(Duration::from_secs(4));
    s.server.up();
    let out = wait_output(child);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_uploaded_once(&s, &keys, &BTreeSet::new());

    // Attempts failed while it was down, and waited longer each time.
    let events = s.events();
    let failed: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "attempt_failed")
        .collect();
    assert!(
        !failed.is_empty(),
        "no attempt failed while the server was down"
    );
    let delay = |attempt: u64| {
        failed
            .iter()
            .filter(|e| e["attempt"] == attempt)
            .map(|e| e["retry_in_s"].as_f64().unwrap())
            .next()
    };
    assert_eq!(delay(1), Some(1.0));
    assert_eq!(delay(2), Some(2.0), "a second failure waits twice as long");
}

#[test]
fn a_server_gone_for_good_aborts_and_a_later_run_finishes_the_rest() {
    if !wanted() {
        return;
    }
    let keys = numbered(OBJECTS);
    let mut s = S3Job::new(&keys);
    let mut child = s.spawn("curl");
    wait_for_uploads(&s, &mut child, OBJECTS / 4);
    s.server.down();
    let out = wait_output(child);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let first = s.events();
    let at = first
        .iter()
        .position(|e| e["event"] == "cancelling")
        .expect("an abort");
    assert_eq!(first[at]["reason"], "failure_abort", "{}", first[at]);
    // Nothing new starts after the abort: only units a worker had already
    // taken (their start is reported after the abort's) may follow it.
    let late = first[at..]
        .iter()
        .filter(|e| e["event"] == "unit_started")
        .count();
    assert!(late <= 64, "{late} units started after the abort");
    let finished = first
        .iter()
        .filter(|e| e["event"] == "unit_finished")
        .count();
    let cancelled = first
        .iter()
        .filter(|e| e["event"] == "unit_finished" && e["outcome"] == "cancelled")
        .count();
    assert!(
        cancelled > 0 || finished < 3 * OBJECTS,
        "the abort left nothing undone"
    );
    let uploaded = recorded_ok(&s, "upload");
    assert!(uploaded.len() < OBJECTS);

    s.server.up();
    let again = s.run("curl");
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_uploaded_once(&s, &keys, &uploaded);
}
