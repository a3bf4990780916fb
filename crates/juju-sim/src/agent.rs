//! The unit agent's end of the hook tools, as in Juju: one unix socket per simulation,
//! `JUJU_AGENT_SOCKET_ADDRESS` in the hook environment, and the running hook's context held in
//! memory. Each `juju-sim-tool` process sends its call over the socket and prints the answer,
//! so a call costs the same whatever the size of the model.
//!
//! The wire format is frames: a big-endian `u32` length, then that many bytes.
//!
//! 1. The tool sends a JSON [`Request`].
//! 2. The agent answers with a JSON [`Header`]. [`Header::Stdin`] asks for the tool's standard
//!    input (only tools that read it ask): the tool sends it as one frame and reads the next
//!    header.
//! 3. [`Header::Done`] is followed by two frames, the tool's stdout and stderr.
//!
//! Calls are answered one at a time, in the order they arrive, against the one context the
//! driver [`Agent::begin`]s and [`Agent::finish`]es around each hook; a call for any other
//! context (a tool a finished hook left running, say) fails as Juju's do.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use juju::ToolOutput;
use serde::{Deserialize, Serialize};

use crate::context::{HookContext, ToolFaultKind};

/// The largest frame either side accepts (a tool's stdin or output).
const MAX_FRAME: usize = 64 << 20;
/// How long the agent waits for a tool that went quiet mid-call before giving up on it.
const STALLED_TOOL: Duration = Duration::from_secs(60);

/// A tool's call: which hook it belongs to, which tool, its arguments.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    pub context: String,
    pub tool: String,
    pub args: Vec<String>,
}

/// What the agent says back.
#[derive(Debug, Serialize, Deserialize)]
pub enum Header {
    /// Send the tool's standard input as the next frame.
    Stdin,
    /// The call is answered: stdout and stderr follow.
    Done {
        code: i32,
        /// The injected [`ToolFaultKind::KillHook`] fault: the tool kills the hook after
        /// printing its answer.
        kill_hook: bool,
        /// Where the tool appends its own resource usage (see [`crate::usage`]).
        usage: Option<PathBuf>,
    },
}

/// A tool's answer as the tool process receives it.
#[derive(Debug)]
pub struct Reply {
    pub output: ToolOutput,
    pub kill_hook: bool,
    pub usage: Option<PathBuf>,
}

/// Sends one call to the agent at `socket` and waits for its answer; `stdin` is read only if
/// the tool asks for it.
pub fn call(
    socket: &Path,
    request: &Request,
    stdin: &mut dyn FnMut() -> io::Result<Vec<u8>>,
) -> io::Result<Reply> {
    let mut stream = UnixStream::connect(socket)?;
    write_frame(&mut stream, &serde_json::to_vec(request)?)?;
    loop {
        let header: Header = serde_json::from_slice(&read_frame(&mut stream)?)?;
        match header {
            Header::Stdin => write_frame(&mut stream, &stdin()?)?,
            Header::Done { code, kill_hook, usage } => {
                let stdout = read_frame(&mut stream)?;
                let stderr = read_frame(&mut stream)?;
                let output = ToolOutput { code, stdout, stderr, signal: None };
                return Ok(Reply { output, kill_hook, usage });
            }
        }
    }
}

/// The running hook: its context and where its tools record their usage.
#[derive(Debug)]
struct Running {
    context: HookContext,
    usage: PathBuf,
}

type Slot = Arc<Mutex<Option<Running>>>;

/// The agent: a listening socket and the thread that answers it, until dropped.
#[derive(Debug)]
pub(crate) struct Agent {
    socket: PathBuf,
    running: Slot,
    stopping: Arc<AtomicBool>,
    /// The listening socket, shut down on drop to wake the accepting thread.
    listener: UnixListener,
    accepting: Option<JoinHandle<()>>,
}

impl Agent {
    /// Listens on `socket` (a path that does not exist yet).
    pub(crate) fn start(socket: PathBuf) -> io::Result<Agent> {
        let listener = UnixListener::bind(&socket)?;
        let running: Slot = Arc::default();
        let stopping = Arc::new(AtomicBool::new(false));
        let accepting = {
            let (listener, running, stopping) = (listener.try_clone()?, running.clone(), stopping.clone());
            std::thread::Builder::new()
                .name("juju-sim-agent".into())
                .spawn(move || accept(&listener, &running, &stopping))?
        };
        Ok(Agent { socket, running, stopping, listener, accepting: Some(accepting) })
    }

    /// The socket's path, for `JUJU_AGENT_SOCKET_ADDRESS`.
    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }

    /// Answers calls for `context` from now on; tools record their usage in `usage`.
    pub(crate) fn begin(&self, context: HookContext, usage: PathBuf) {
        *lock(&self.running) = Some(Running { context, usage });
    }

    /// Stops answering for the running hook and hands back its context. A call in progress
    /// is finished first (it holds the lock).
    pub(crate) fn finish(&self) -> Option<HookContext> {
        lock(&self.running).take().map(|running| running.context)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // SAFETY: shuts down a socket this value owns (no memory involved); the blocked
        // `accept` then returns and the thread sees it is to stop.
        unsafe {
            libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR);
        }
        if let Some(thread) = self.accepting.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// A poisoned lock still holds a consistent context: `invoke` only makes whole assignments.
fn lock(running: &Slot) -> MutexGuard<'_, Option<Running>> {
    running.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn accept(listener: &UnixListener, running: &Slot, stopping: &AtomicBool) {
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        // A failed accept (a caller that gave up) costs only that connection.
        let Ok(stream) = stream else { continue };
        let running = running.clone();
        // A tool that dies mid-call only ends its own connection.
        let _ = std::thread::Builder::new().name("juju-sim-tool-call".into()).spawn(move || {
            let _ = answer(&stream, &running);
        });
    }
}

/// Answers one connection's call.
fn answer(mut stream: &UnixStream, running: &Slot) -> io::Result<()> {
    stream.set_read_timeout(Some(STALLED_TOOL))?;
    let request: Request = serde_json::from_slice(&read_frame(&mut stream)?)?;
    let mut guard = lock(running);
    let Some(running) = guard.as_mut().filter(|running| running.context.id == request.context) else {
        drop(guard);
        let message = format!("ERROR bad request: unknown context {:?}\n", request.context);
        return send_done(stream, 1, false, None, &[], message.as_bytes());
    };
    let kill_hook = running.context.fault_now() == Some(ToolFaultKind::KillHook);
    let mut stdin = || {
        write_frame(&mut stream, &serde_json::to_vec(&Header::Stdin)?)?;
        read_frame(&mut stream)
    };
    let output = running.context.invoke(&request.tool, &request.args, &mut stdin);
    let usage = running.usage.clone();
    drop(guard);
    send_done(stream, output.code, kill_hook, Some(usage), &output.stdout, &output.stderr)
}

fn send_done(
    mut stream: &UnixStream,
    code: i32,
    kill_hook: bool,
    usage: Option<PathBuf>,
    stdout: &[u8],
    stderr: &[u8],
) -> io::Result<()> {
    write_frame(&mut stream, &serde_json::to_vec(&Header::Done { code, kill_hook, usage })?)?;
    write_frame(&mut stream, stdout)?;
    write_frame(&mut stream, stderr)
}

fn write_frame(stream: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    let length = u32::try_from(bytes.len()).map_err(io::Error::other)?;
    stream.write_all(&length.to_be_bytes())?;
    stream.write_all(bytes)
}

fn read_frame(stream: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut length = [0; 4];
    stream.read_exact(&mut length)?;
    let length = u32::from_be_bytes(length) as usize;
    if length > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("a frame of {length} bytes")));
    }
    let mut bytes = vec![0; length];
    stream.read_exact(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::HookInfo;
    use crate::model::Model;

    fn context(id: &str) -> HookContext {
        HookContext {
            id: id.to_owned(),
            unit: "app/0".to_owned(),
            hook: HookInfo::default(),
            model: Model::new("agent-test"),
            pending: Vec::new(),
            logs: Vec::new(),
            calls: Vec::new(),
            fault: None,
        }
    }

    fn request(context: &str, tool: &str, args: &[&str]) -> Request {
        Request {
            context: context.to_owned(),
            tool: tool.to_owned(),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        }
    }

    #[test]
    fn calls_reach_the_running_context_only_and_stdin_is_read_on_demand() {
        let dir = tempfile::tempdir().unwrap();
        let agent = Agent::start(dir.path().join("agent.sock")).unwrap();
        let usage = dir.path().join("1.usage");
        agent.begin(context("app/0-install-1"), usage.clone());

        let asked = std::cell::Cell::new(0);
        let mut stdin = || {
            asked.set(asked.get() + 1);
            Ok(b"{\"key\": \"value\"}".to_vec())
        };
        let set = request("app/0-install-1", "state-set", &["--file", "-"]);
        let reply = call(agent.socket(), &set, &mut stdin).unwrap();
        assert_eq!((reply.output.code, reply.kill_hook, reply.usage), (0, false, Some(usage)));
        let reply =
            call(agent.socket(), &request("app/0-install-1", "juju-log", &["hello"]), &mut stdin).unwrap();
        assert_eq!(reply.output.code, 0, "{reply:?}");
        assert_eq!(asked.get(), 1, "only state-set read stdin");

        let reply = call(agent.socket(), &request("app/0-other-2", "is-leader", &[]), &mut stdin).unwrap();
        assert_eq!(reply.output.code, 1);
        assert_eq!(
            String::from_utf8_lossy(&reply.output.stderr),
            "ERROR bad request: unknown context \"app/0-other-2\"\n"
        );
        let finished = agent.finish().unwrap();
        assert_eq!(finished.calls.len(), 2, "the unknown context's call is not the hook's");
        assert_eq!(finished.calls[0].stdin.as_deref(), Some("{\"key\": \"value\"}"));
        assert_eq!(finished.logs.iter().map(|log| log.message.as_str()).collect::<Vec<_>>(), ["hello"]);
        let reply = call(agent.socket(), &request("app/0-install-1", "is-leader", &[]), &mut stdin).unwrap();
        assert_eq!(reply.output.code, 1, "a finished hook's context is gone");
    }

    #[test]
    fn a_dropped_agent_removes_its_socket_and_a_garbled_call_harms_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let agent = Agent::start(socket.clone()).unwrap();
        agent.begin(context("app/0-install-1"), dir.path().join("1.usage"));
        let mut garbled = UnixStream::connect(&socket).unwrap();
        garbled.write_all(&u32::MAX.to_be_bytes()).unwrap();
        let mut nothing = Vec::new();
        garbled.read_to_end(&mut nothing).unwrap();
        assert!(nothing.is_empty(), "an oversized frame is refused without an answer");
        let reply =
            call(&socket, &request("app/0-install-1", "juju-log", &["still here"]), &mut || Ok(Vec::new()))
                .unwrap();
        assert_eq!(reply.output.code, 0);
        // A simulator's work directory, the socket's, may go first.
        std::fs::remove_file(&socket).unwrap();
        drop(agent);
        assert!(UnixStream::connect(&socket).is_err());
    }
}
