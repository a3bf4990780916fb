//! What the pod tests share: the root policy, a real HTTP server in a pod, probes.

use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pod_sim::Pod;
use test_support::{eventually, POLL, TIMEOUT};

/// The interpreter for servers and probes: the system's, which every user may run.
pub const PYTHON: &str = "/usr/bin/python3";

/// Whether pods can be made here. If not: a panic naming why when `CI` is set (CI fails, it
/// never skips), else a loud `SKIP` line saying that `what` is not tested, and `false`.
#[track_caller]
pub fn pods_available(what: &str) -> bool {
    let Some(why) = pod_sim::unavailable() else {
        assert!(Path::new(PYTHON).exists(), "{PYTHON} is missing: install python3");
        return true;
    };
    if std::env::var_os("CI").is_some() {
        panic!("{why}\n(CI is set, so {what} is not skipped)");
    }
    // Straight to stderr, past the test harness's capture of `eprintln!`.
    let _ = writeln!(std::io::stderr(), "\n!!!!!!!! SKIP: {what} NOT tested: {why} !!!!!!!!\n");
    false
}

/// The port the pods' servers listen on: the same in every pod, as no host port is used.
pub const PORT: u16 = 8080;

/// A real HTTP server (`python3 -m http.server`) in a pod, on the pod's address; killed on
/// drop (its pod's teardown would kill it too).
pub struct Server {
    child: Child,
    _root: tempfile::TempDir,
}

impl Server {
    /// Starts serving a directory whose index is the pod's hostname on `<pod address>:8080`
    /// and waits until the pod itself gets an answer.
    pub fn start(pod: &Pod) -> Server {
        let root = tempfile::tempdir().expect("a directory to serve");
        fs::write(root.path().join("index.html"), pod.hostname()).expect("write index.html");
        let child = pod
            .command(PYTHON)
            .args(["-m", "http.server", "--bind", &pod.address().to_string(), &PORT.to_string()])
            .current_dir(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server in the pod");
        let server = Server { child, _root: root };
        let url = format!("http://{}:{PORT}/", pod.address());
        eventually(&format!("the server of {} to answer", pod.hostname()), TIMEOUT, POLL, || {
            fetch(pod, &url).is_ok()
        });
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a GET of `url` from inside `pod` answers (urllib, so names resolve through the
/// pod's `/etc/hosts`), or why it failed.
pub fn fetch(pod: &Pod, url: &str) -> Result<String, String> {
    get(pod.command(PYTHON), url)
}

/// What a GET of `url` from the host answers, or why it failed.
pub fn fetch_from_host(url: &str) -> Result<String, String> {
    get(Command::new(PYTHON), url)
}

fn get(mut python: Command, url: &str) -> Result<String, String> {
    // Straight to the server, whatever proxy the environment names.
    let script = "import sys, urllib.request\n\
                  opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))\n\
                  print(opener.open(sys.argv[1], timeout=5).read().decode(), end='')";
    let output = python.args(["-c", script, url]).output().expect("run python3");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Whether process `pid` is gone (or a zombie, which runs nothing any more).
pub fn gone(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_or(true, |stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')))
}

/// Whether no object of network `name` is left: bridge, veths, namespaces, `/etc/netns`.
pub fn nothing_left_of(name: &str) -> Result<(), String> {
    let ours = |object: &str| {
        object.strip_prefix(name).is_some_and(|rest| rest.is_empty() || rest.starts_with(['v', '-']))
    };
    let mut left = Vec::new();
    for dir in ["/sys/class/net", "/run/netns", "/etc/netns"] {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            let object = entry.file_name().to_string_lossy().into_owned();
            if ours(&object) {
                left.push(format!("{dir}/{object}"));
            }
        }
    }
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!("left over: {left:?}"))
    }
}

/// Polls `done` for a few seconds (teardown of killed processes is asynchronous).
pub fn soon(what: &str, done: impl FnMut() -> bool) {
    eventually(what, Duration::from_secs(10), POLL, done);
}
