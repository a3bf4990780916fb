//! An exec session: wait (at most 5 s) for the control/stdio[/stderr] websockets, run the
//! command (scripted answer or host process), pump stdin/stdout/stderr over the websockets
//! with `{"command":"end"}` markers, honour control signals and the timeout, and finish the
//! exec task with its exit code.
//!
//! Like Pebble, a host command's signals (control messages, the timeout's SIGKILL) reach the
//! command's own process only, and the task ends once the output is closed: a child that
//! outlives the command and holds its output keeps the change running (`sh -c "sleep 12"`
//! with a 500 ms timeout ends after 12 s, failed with the timeout error).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use rustix::process::Signal;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::session::{Channel, WebSocket};
use super::{Prepared, Program};
use crate::config::ExecRule;
use crate::files::fsops::Fs;
use crate::files::owners::UserDb;
use crate::files::paths::{clean_absolute, host_path};
use crate::state::Shared;

/// How long Pebble waits for the websockets before failing the exec.
const CONNECT_WINDOW: Duration = Duration::from_secs(5);
const END: &str = r#"{"command":"end"}"#;

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

struct Sockets {
    control: WebSocket,
    stdio: WebSocket,
    stderr: Option<WebSocket>,
}

/// How the command ended.
enum Outcome {
    Exited(i32),
    Failed(String),
    Aborted,
}

pub(super) async fn session(
    shared: Arc<Shared>,
    task_id: u64,
    prepared: Prepared,
    mut deliveries: mpsc::UnboundedReceiver<(Channel, WebSocket)>,
    abort: CancellationToken,
) {
    shared.update_changes(|c| c.set_doing(task_id));
    let stdin_log = Arc::new(Mutex::new(Vec::new()));
    let outcome = tokio::select! {
        sockets = connect(&mut deliveries, prepared.split_stderr) => match sockets {
            Some(sockets) => run(&shared, &prepared, sockets, &abort, &stdin_log).await,
            None => Outcome::Failed(format!(
                "exec {task_id}: timeout waiting for websocket connections: context deadline exceeded"
            )),
        },
        () = abort.cancelled() => Outcome::Aborted,
    };
    let stdin = std::mem::take(&mut *stdin_log.lock().unwrap_or_else(|p| p.into_inner()));
    {
        let mut state = shared.lock();
        state.exec_sessions.remove(&task_id);
        if let Some(record) = state.exec_log.get_mut(prepared.record_index) {
            record.stdin = stdin;
        }
    }
    shared.update_changes(|changes| match outcome {
        Outcome::Exited(code) => changes.set_done(task_id, exit_code(code)),
        Outcome::Failed(error) => changes.set_error(task_id, error, exit_code(-1)),
        Outcome::Aborted => changes.set_undone(task_id),
    });
}

fn exit_code(code: i32) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("exit-code".into(), json!(code));
    data
}

async fn connect(
    deliveries: &mut mpsc::UnboundedReceiver<(Channel, WebSocket)>,
    split_stderr: bool,
) -> Option<Sockets> {
    let deadline = Instant::now() + CONNECT_WINDOW;
    let (mut control, mut stdio, mut stderr) = (None, None, None);
    while control.is_none() || stdio.is_none() || (split_stderr && stderr.is_none()) {
        let (channel, socket) = timeout_at(deadline, deliveries.recv()).await.ok()??;
        match channel {
            Channel::Control => control = Some(socket),
            Channel::Stdio => stdio = Some(socket),
            Channel::Stderr => stderr = Some(socket),
        }
    }
    Some(Sockets { control: control?, stdio: stdio?, stderr })
}

async fn run(
    shared: &Arc<Shared>,
    prepared: &Prepared,
    sockets: Sockets,
    abort: &CancellationToken,
    stdin_log: &Arc<Mutex<Vec<u8>>>,
) -> Outcome {
    if prepared.times_out {
        let (mut stdio_sink, _) = sockets.stdio.split();
        let (mut control_sink, _) = sockets.control.split();
        let mut stderr_sink = sockets.stderr.map(|socket| socket.split().0);
        // The output ends (no bytes) as it does once Pebble killed a command at its timeout.
        let _ = send_output(&mut stdio_sink, &[]).await;
        if let Some(stderr_sink) = stderr_sink.as_mut() {
            let _ = send_output(stderr_sink, &[]).await;
        }
        close_all(&mut [Some(&mut stdio_sink), stderr_sink.as_mut(), Some(&mut control_sink)]).await;
        let limit = prepared.timeout.unwrap_or_default();
        return Outcome::Failed(format!(
            "timed out after {}: context deadline exceeded",
            crate::duration::format(limit)
        ));
    }
    match &prepared.program {
        Program::Scripted(rule) => {
            if rule.changes_owner {
                change_owners(shared, &prepared.argv);
            }
            run_scripted(rule, sockets, stdin_log).await
        }
        Program::Host(program) => run_host(shared, program, prepared, sockets, abort, stdin_log).await,
    }
}

/// What a scripted `chown [options] UID:GID PATH…` does to the container's files (paths
/// that do not exist are left alone, as the real command reports them and goes on).
fn change_owners(shared: &Shared, argv: &[String]) {
    let mut operands = argv.iter().skip(1).filter(|arg| !arg.starts_with('-'));
    let Some((uid, gid)) = operands
        .next()
        .and_then(|owner| owner.split_once(':'))
        .and_then(|(uid, gid)| Some((uid.parse().ok()?, gid.parse().ok()?)))
    else {
        return;
    };
    let db = UserDb::load(&shared.root);
    let mut state = shared.lock();
    let mut fs = Fs { root: &shared.root, db: &db, index: &mut state.owners };
    for path in operands {
        let _ = fs.change_owner(path, uid, gid);
    }
}

async fn run_scripted(rule: &ExecRule, sockets: Sockets, stdin_log: &Arc<Mutex<Vec<u8>>>) -> Outcome {
    let (mut stdio_sink, stdio_stream) = sockets.stdio.split();
    if rule.read_stdin {
        pump_stdin(stdio_stream, None, Arc::clone(stdin_log)).await;
    }
    let mut stderr_sink = sockets.stderr.map(|socket| socket.split().0);
    // Sends are best effort: a client that went away just misses the output.
    match stderr_sink.as_mut() {
        Some(stderr_sink) => {
            let _ = send_output(&mut stdio_sink, &rule.stdout).await;
            let _ = send_output(stderr_sink, &rule.stderr).await;
        }
        None => {
            let mut combined = rule.stdout.clone();
            combined.extend_from_slice(&rule.stderr);
            let _ = send_output(&mut stdio_sink, &combined).await;
        }
    }
    let (mut control_sink, _) = sockets.control.split();
    close_all(&mut [Some(&mut stdio_sink), stderr_sink.as_mut(), Some(&mut control_sink)]).await;
    Outcome::Exited(rule.exit_code)
}

async fn send_output(sink: &mut Sink, data: &[u8]) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    if !data.is_empty() {
        sink.send(Message::Binary(data.to_vec().into())).await?;
    }
    sink.send(Message::Text(END.into())).await
}

async fn close_all(sinks: &mut [Option<&mut Sink>]) {
    for sink in sinks.iter_mut().flatten() {
        // The peer may already have closed; nothing more to do then.
        let _ = sink.close().await;
    }
}

async fn run_host(
    shared: &Arc<Shared>,
    program: &std::path::Path,
    prepared: &Prepared,
    sockets: Sockets,
    abort: &CancellationToken,
    stdin_log: &Arc<Mutex<Vec<u8>>>,
) -> Outcome {
    let working_dir = clean_absolute(&prepared.working_dir).unwrap_or_else(|| "/".to_owned());
    let host_dir = host_path(&shared.root, &working_dir);
    let mut command = Command::new(program);
    command
        .args(&prepared.argv[1..])
        .envs(host_environment(shared, prepared))
        .env("PEBBLE_SIM_ROOT", &shared.root)
        .current_dir(if host_dir.is_dir() { host_dir } else { shared.root.clone() })
        .stdin(std::process::Stdio::piped())
        // The process group is only for cleaning up at shutdown; signals go to the process.
        .process_group(0)
        .kill_on_drop(true);
    // Without split stderr, stdout and stderr share one pipe, so the order is the process's.
    let combined = if prepared.split_stderr {
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        None
    } else {
        match shared_pipe(&mut command) {
            Ok(reader) => Some(reader),
            Err(e) => return Outcome::Failed(format!("cannot create output pipe: {e}")),
        }
    };
    if let Some(owner) = &prepared.owner {
        command.uid(owner.uid).gid(owner.gid);
    }
    let (control_sink, control_stream) = sockets.control.split();
    let (stdio_sink, stdio_stream) = sockets.stdio.split();
    let spawned = command.spawn();
    // The command keeps the write end of a shared pipe: drop it, or the output never ends.
    drop(command);
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let (mut stdio_sink, mut control_sink) = (stdio_sink, control_sink);
            close_all(&mut [Some(&mut stdio_sink), Some(&mut control_sink)]).await;
            return Outcome::Failed(format!("cannot start command: {}", crate::files::error::go_text(&e)));
        }
    };
    let Some(pid) = child.id() else {
        return Outcome::Failed("cannot start command: process vanished".to_owned());
    };
    shared.lock().process_groups.insert(pid, prepared.argv[0].clone());

    let (stdio_tx, stdio_writer) = writer(stdio_sink);
    let stderr_writer = match sockets.stderr {
        Some(socket) => {
            let (tx, handle) = writer(socket.split().0);
            if let Some(stderr) = child.stderr.take() {
                tokio::spawn(pump_output(stderr, tx));
            }
            Some(handle)
        }
        None => None,
    };
    match (combined, child.stdout.take()) {
        (Some(reader), _) => drop(tokio::spawn(pump_output(reader, stdio_tx))),
        (None, Some(stdout)) => drop(tokio::spawn(pump_output(stdout, stdio_tx))),
        (None, None) => drop(stdio_tx),
    }
    let stdin_task = tokio::spawn(pump_stdin(stdio_stream, child.stdin.take(), Arc::clone(stdin_log)));
    let exited = CancellationToken::new();
    let control_task = tokio::spawn(pump_control(control_stream, control_sink, pid, exited.clone()));

    let waited = async {
        match prepared.timeout {
            Some(limit) => timeout(limit, child.wait()).await.ok(),
            None => Some(child.wait().await),
        }
    };
    let status = tokio::select! {
        status = waited => status,
        () = abort.cancelled() => None,
    };
    let outcome = match status {
        Some(status) => Outcome::Exited(status.map_or(-1, crate::signals::exit_code)),
        None => {
            // Like Go's exec.CommandContext: SIGKILL to the command's own process only.
            crate::signals::to_process(pid, Signal::KILL);
            // Reaping only fails if the child was already reaped.
            let _ = child.wait().await;
            match prepared.timeout.filter(|_| !abort.is_cancelled()) {
                Some(limit) => Outcome::Failed(format!(
                    "timed out after {}: context deadline exceeded",
                    crate::duration::format(limit)
                )),
                None => Outcome::Aborted,
            }
        }
    };
    // Pebble closes the control websocket once the command has exited...
    exited.cancel();
    let _ = control_task.await;
    // ...then waits for the output to end: until every process holding it has closed it.
    let mut sinks = Vec::new();
    for handle in std::iter::once(stdio_writer).chain(stderr_writer) {
        if let Ok(sink) = handle.await {
            sinks.push(sink);
        }
    }
    shared.lock().process_groups.remove(&pid);
    let mut to_close: Vec<Option<&mut Sink>> = sinks.iter_mut().map(Some).collect();
    close_all(&mut to_close).await;
    stdin_task.abort();
    outcome
}

/// What a host process gets: the simulator's environment (standing for the daemon's), then
/// the exec's; the simulator's `PATH` stays unless the request or service context set one
/// (so host tools are found), and `HOME` is mapped under the container root.
fn host_environment(shared: &Shared, prepared: &Prepared) -> Vec<(String, String)> {
    prepared
        .environment
        .iter()
        .filter(|(name, _)| prepared.path_requested || name.as_str() != "PATH")
        .map(|(name, value)| {
            let value = match (name.as_str(), clean_absolute(value)) {
                ("HOME", Some(home)) => host_path(&shared.root, &home).to_string_lossy().into_owned(),
                _ => value.clone(),
            };
            (name.clone(), value)
        })
        .collect()
}

/// Gives stdout and stderr of `command` the write end of one pipe; returns the read end.
fn shared_pipe(command: &mut Command) -> std::io::Result<tokio::net::unix::pipe::Receiver> {
    let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let second = writer.try_clone()?;
    command.stdout(std::process::Stdio::from(writer)).stderr(std::process::Stdio::from(second));
    tokio::net::unix::pipe::Receiver::from_owned_fd(reader)
}

/// Forwards chunks to the socket, then the end marker; gives the sink back for closing.
fn writer(mut sink: Sink) -> (mpsc::Sender<Vec<u8>>, JoinHandle<Sink>) {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(16);
    let handle = tokio::spawn(async move {
        let mut open = true;
        while let Some(chunk) = rx.recv().await {
            open = open && sink.send(Message::Binary(chunk.into())).await.is_ok();
        }
        if open {
            // Best effort, like the data frames.
            let _ = sink.send(Message::Text(END.into())).await;
        }
        sink
    });
    (tx, handle)
}

async fn pump_output(mut stream: impl AsyncRead + Unpin, tx: mpsc::Sender<Vec<u8>>) {
    let mut buffer = vec![0u8; 16 * 1024];
    while let Ok(n) = stream.read(&mut buffer).await {
        if n == 0 || tx.send(buffer[..n].to_vec()).await.is_err() {
            return;
        }
    }
}

/// stdin: binary frames are data, `{"command":"end"}` (or a close) is EOF.
async fn pump_stdin(mut stream: Stream, mut stdin: Option<ChildStdin>, log: Arc<Mutex<Vec<u8>>>) {
    while let Some(Ok(message)) = stream.next().await {
        match message {
            Message::Binary(data) => {
                log.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(&data);
                if let Some(pipe) = stdin.as_mut() {
                    if pipe.write_all(&data).await.is_err() {
                        stdin = None;
                    }
                }
            }
            Message::Text(text) if command_of(text.as_str()).as_deref() == Some("end") => return,
            Message::Close(_) => return,
            _ => {}
        }
    }
}

/// control: `signal` messages go to the process; an abnormal close kills it. Closed (with a
/// close frame) once the process has exited.
async fn pump_control(mut stream: Stream, mut sink: Sink, pid: u32, exited: CancellationToken) {
    loop {
        let message = tokio::select! {
            () = exited.cancelled() => break,
            message = stream.next() => message,
        };
        match message {
            Some(Ok(Message::Text(text))) => {
                if let Some(signal) = signal_of(text.as_str()) {
                    crate::signals::to_process(pid, signal);
                }
            }
            Some(Ok(Message::Close(_))) => break,
            Some(Ok(_)) => {}
            None | Some(Err(_)) => {
                if !exited.is_cancelled() {
                    crate::signals::to_process(pid, Signal::KILL);
                }
                break;
            }
        }
    }
    exited.cancelled().await;
    // The peer may already have closed; nothing more to do then.
    let _ = sink.close().await;
}

fn command_of(text: &str) -> Option<String> {
    let value: Value = serde_json::from_str(text).ok()?;
    value.get("command")?.as_str().map(str::to_owned)
}

fn signal_of(text: &str) -> Option<Signal> {
    let value: Value = serde_json::from_str(text).ok()?;
    if value.get("command")?.as_str()? != "signal" {
        return None;
    }
    crate::signals::parse(value.get("signal")?.get("name")?.as_str()?)
}
