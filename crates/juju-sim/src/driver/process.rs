//! Runs a hook executable in its own process group with a clean environment, captures its
//! output, and kills the whole group if it outlives its timeout.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::usage::{wait_with_usage, ResourceUsage};

/// What a finished (or killed) hook process left behind.
#[derive(Debug)]
pub(crate) struct Finished {
    /// The exit code; `-<signal>` if a signal ended it.
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub timed_out: bool,
    pub duration: Duration,
    /// CPU time and peak RSS of the hook process and the descendants it waited for.
    pub usage: ResourceUsage,
}

/// Runs `program` in `dir` with exactly `env` and waits at most `timeout`.
pub(crate) fn run(
    program: &Path,
    dir: &Path,
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> io::Result<Finished> {
    let started = Instant::now();
    let mut child = Command::new(program)
        .current_dir(dir)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let group = child.id() as libc::pid_t;
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    let (sender, receiver) = mpsc::channel();
    // `wait4` rather than `Child::wait`, for the resource usage; `child` is not waited again.
    let waiter = thread::spawn(move || {
        let result = wait_with_usage(group);
        let _ = sender.send(());
        result
    });
    let timed_out = receiver.recv_timeout(timeout).is_err();
    if timed_out {
        kill_group(group);
    }
    let (status, usage): (ExitStatus, ResourceUsage) =
        waiter.join().map_err(|_| io::Error::other("hook waiter thread panicked"))??;
    // Background processes left by the hook may keep the pipes open: give them until the
    // deadline, then end the group.
    let remaining = timeout.saturating_sub(started.elapsed());
    let stdout_bytes = collect(&stdout, remaining, group);
    let stderr_bytes = collect(&stderr, timeout.saturating_sub(started.elapsed()), group);
    let code = status.code().unwrap_or_else(|| -status.signal().unwrap_or(0));
    Ok(Finished {
        code,
        stdout: stdout_bytes,
        stderr: stderr_bytes,
        timed_out,
        duration: started.elapsed(),
        usage,
    })
}

type Pipe = mpsc::Receiver<Vec<u8>>;

fn reader(pipe: Option<impl Read + Send + 'static>) -> Pipe {
    let (sender, receiver) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = sender.send(bytes);
        });
    } else {
        let _ = sender.send(Vec::new());
    }
    receiver
}

fn collect(pipe: &Pipe, wait: Duration, group: libc::pid_t) -> Vec<u8> {
    match pipe.recv_timeout(wait) {
        Ok(bytes) => bytes,
        Err(_) => {
            kill_group(group);
            pipe.recv().unwrap_or_default()
        }
    }
}

fn kill_group(group: libc::pid_t) {
    // SAFETY: sends SIGKILL to the process group the hook was started in; no memory involved.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}
