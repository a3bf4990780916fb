//! Process mode: each started service is a host process in its own process group, watched by
//! a supervisor task that reports the start outcome after the okay delay, restarts it on exit
//! with backoff (per `on-success`/`on-failure`), and stops it with SIGTERM then SIGKILL after
//! `kill-delay`.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use rustix::process::Signal;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, timeout, Instant};

use super::{exited_quickly, ServiceStatus};
use crate::files::owners::{OwnerRequest, UserDb};
use crate::files::paths::{clean_absolute, host_path};
use crate::plan::schema::{Service, ACTION_RESTART};
use crate::state::Shared;

/// How long a service must stay up for its start to count as successful.
const OKAY_DELAY: Duration = Duration::from_secs(1);
const DEFAULT_BACKOFF_DELAY: Duration = Duration::from_millis(500);
const DEFAULT_BACKOFF_FACTOR: f64 = 2.0;
const DEFAULT_BACKOFF_LIMIT: Duration = Duration::from_secs(30);
const DEFAULT_KILL_DELAY: Duration = Duration::from_secs(5);

#[derive(Debug)]
enum Control {
    Stop(oneshot::Sender<()>),
    Signal(Signal),
}

/// Handle to a running supervisor.
#[derive(Debug)]
pub struct Supervisor {
    control: mpsc::UnboundedSender<Control>,
}

impl Supervisor {
    pub fn signal(&self, signal: Signal) {
        // A closed channel means the supervisor already ended: nothing to signal.
        let _ = self.control.send(Control::Signal(signal));
    }
}

/// Starts the service's process unless it is already supervised; resolves after the okay
/// delay (or with the "exited quickly" error).
pub async fn start(shared: &Arc<Shared>, name: &str, service: Service) -> Result<(), String> {
    let (first_tx, first_rx) = oneshot::channel();
    {
        let mut state = shared.lock();
        let runtime = state.services.entry(name.to_owned()).or_default();
        if runtime.process.is_some() {
            return Ok(());
        }
        let (control, receiver) = mpsc::unbounded_channel();
        runtime.process = Some(Supervisor { control });
        tokio::spawn(supervise(Arc::clone(shared), name.to_owned(), service, first_tx, receiver));
    }
    first_rx.await.unwrap_or_else(|_| Err("service supervisor ended".to_owned()))
}

/// Stops the service's process (SIGTERM, then SIGKILL after `kill-delay`).
pub async fn stop(shared: &Arc<Shared>, name: &str) -> Result<(), String> {
    let supervisor = shared.lock().services.get_mut(name).and_then(|runtime| runtime.process.take());
    let Some(supervisor) = supervisor else {
        return Ok(());
    };
    let (done_tx, done_rx) = oneshot::channel();
    if supervisor.control.send(Control::Stop(done_tx)).is_ok() {
        // The supervisor ending without answering also means the process is gone.
        let _ = done_rx.await;
    }
    Ok(())
}

struct Backoff {
    initial: Duration,
    next: Duration,
    factor: f64,
    limit: Duration,
}

impl Backoff {
    fn new(service: &Service) -> Self {
        let initial = service.backoff_delay.map_or(DEFAULT_BACKOFF_DELAY, |d| d.0);
        Self {
            initial,
            next: initial,
            factor: service.backoff_factor.unwrap_or(DEFAULT_BACKOFF_FACTOR),
            limit: service.backoff_limit.map_or(DEFAULT_BACKOFF_LIMIT, |d| d.0),
        }
    }

    /// The delay before the next restart, given how long the last run lasted.
    fn delay(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= self.limit {
            self.next = self.initial;
        }
        let delay = self.next.min(self.limit);
        self.next = self.next.mul_f64(self.factor).min(self.limit);
        delay
    }
}

async fn supervise(
    shared: Arc<Shared>,
    name: String,
    service: Service,
    first: oneshot::Sender<Result<(), String>>,
    mut control: mpsc::UnboundedReceiver<Control>,
) {
    let mut first = Some(first);
    let mut backoff = Backoff::new(&service);
    let kill_delay = service.kill_delay.map_or(DEFAULT_KILL_DELAY, |d| d.0);
    loop {
        let (mut child, pid) = match spawn(&shared, &name, &service) {
            Ok(spawned) => spawned,
            Err(message) => {
                finish(&shared, &name, ServiceStatus::Error);
                if let Some(first) = first.take() {
                    let _ = first.send(Err(message));
                }
                return;
            }
        };
        let started = Instant::now();
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                () = sleep_until(started + OKAY_DELAY), if first.is_some() => {
                    if let Some(first) = first.take() {
                        let _ = first.send(Ok(()));
                    }
                }
                message = control.recv() => match message {
                    Some(Control::Signal(signal)) => crate::signals::to_process(pid, signal),
                    Some(Control::Stop(done)) => {
                        terminate(&mut child, pid, kill_delay).await;
                        stopped(&shared, &name, pid);
                        if let Some(first) = first.take() {
                            let _ = first.send(Err("service was stopped while starting".to_owned()));
                        }
                        let _ = done.send(());
                        return;
                    }
                    None => {
                        crate::signals::to_group(pid, Signal::KILL);
                        return;
                    }
                },
            }
        };
        shared.lock().process_groups.remove(&pid);
        let code = status.map_or(-1, crate::signals::exit_code);
        let restart = service.exit_action(code == 0) == ACTION_RESTART;
        if let Some(first) = first.take() {
            let _ = first.send(Err(exited_quickly(code, restart)));
        }
        if !restart {
            finish(&shared, &name, ServiceStatus::Error);
            return;
        }
        set_status(&shared, &name, ServiceStatus::Backoff);
        let wake = Instant::now() + backoff.delay(started.elapsed());
        loop {
            tokio::select! {
                () = sleep_until(wake) => break,
                message = control.recv() => match message {
                    Some(Control::Signal(_)) => {}
                    Some(Control::Stop(done)) => {
                        stopped(&shared, &name, pid);
                        let _ = done.send(());
                        return;
                    }
                    None => return,
                },
            }
        }
    }
}

/// Spawns the service command in a new process group; records the start.
fn spawn(shared: &Arc<Shared>, name: &str, service: &Service) -> Result<(Child, u32), String> {
    let argv = crate::command::service_argv(name, service.command.as_deref().unwrap_or_default())?;
    let owner = UserDb::load(&shared.root)
        .resolve(OwnerRequest {
            user_id: service.user_id,
            user: service.user.as_deref(),
            group_id: service.group_id,
            group: service.group.as_deref(),
        })
        .map_err(|e| format!("cannot look up user and group: {e}"))?;
    let working_dir =
        clean_absolute(service.working_dir.as_deref().unwrap_or("/")).unwrap_or_else(|| "/".to_owned());
    let mut command = Command::new(shared.map_command(&argv[0]));
    command
        .args(&argv[1..])
        .envs(&service.environment)
        .env("PEBBLE_SIM_ROOT", &shared.root)
        .current_dir(host_path(&shared.root, &working_dir))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(owner) = owner {
        command.uid(owner.uid).gid(owner.gid);
    }
    let mut child =
        command.spawn().map_err(|e| format!("cannot start service: {}", crate::files::error::go_text(&e)))?;
    let pid = child.id().ok_or("cannot start service: process vanished")?;
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(collect_output(Arc::clone(shared), name.to_owned(), stdout));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(collect_output(Arc::clone(shared), name.to_owned(), stderr));
    }
    let mut state = shared.lock();
    state.process_groups.insert(pid, name.to_owned());
    let runtime = state.services.entry(name.to_owned()).or_default();
    runtime.starts += 1;
    runtime.set(ServiceStatus::Active);
    runtime.started_config = Some(service.clone());
    Ok((child, pid))
}

async fn collect_output(shared: Arc<Shared>, name: String, stream: impl AsyncRead + Unpin) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut state = shared.lock();
        crate::logs::forward(&state, &name, &line);
        state.push_log(&name, line);
    }
}

/// SIGTERM to the group, SIGKILL after `kill_delay`, then reap.
async fn terminate(child: &mut Child, pid: u32, kill_delay: Duration) {
    crate::signals::to_group(pid, Signal::TERM);
    if timeout(kill_delay, child.wait()).await.is_err() {
        crate::signals::to_group(pid, Signal::KILL);
        // Reaping a killed child only fails if it was already reaped.
        let _ = child.wait().await;
    }
}

fn set_status(shared: &Shared, name: &str, status: ServiceStatus) {
    shared.lock().services.entry(name.to_owned()).or_default().set(status);
}

/// The process ended for good: no supervisor any more.
fn finish(shared: &Shared, name: &str, status: ServiceStatus) {
    let mut state = shared.lock();
    let runtime = state.services.entry(name.to_owned()).or_default();
    runtime.set(status);
    runtime.process = None;
    runtime.started_config = None;
}

fn stopped(shared: &Shared, name: &str, pid: u32) {
    let mut state = shared.lock();
    state.process_groups.remove(&pid);
    let runtime = state.services.entry(name.to_owned()).or_default();
    runtime.stops += 1;
    runtime.set(ServiceStatus::Inactive);
    runtime.started_config = None;
}
