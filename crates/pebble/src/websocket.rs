//! The exec websockets: the upgrade over the unix socket, and a single-threaded pump that
//! feeds stdin to `stdio` while collecting `stdio` (stdout) and `stderr` output, waiting in
//! `poll(2)` so neither direction can block the other.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Instant;

use tungstenite::handshake::HandshakeError;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

use crate::client::Client;
use crate::envelope::Envelope;
use crate::error::{protocol, Error, Result};
use crate::http::path_segment;

/// The text message ending a stream in either direction.
const END: &str = r#"{"command":"end"}"#;
/// Largest stdin chunk sent in one binary message.
const STDIN_CHUNK: usize = 64 * 1024;

pub(crate) type Socket = WebSocket<UnixStream>;

impl Client {
    /// Opens the websocket `id` (`control`, `stdio` or `stderr`) of the exec task `task_id`.
    pub(crate) fn connect_websocket(&self, task_id: &str, id: &str) -> Result<Socket> {
        self.count_request();
        let stream = UnixStream::connect(self.socket()).map_err(|source| self.connect_error(source))?;
        let path = format!("/v1/tasks/{}/websocket/{id}", path_segment(task_id));
        let describe = format!("GET {path} (websocket)");
        let transport = |source| io_error(&describe, source);
        stream
            .set_read_timeout(Some(self.timeout()))
            .and_then(|()| stream.set_write_timeout(Some(self.timeout())))
            .map_err(transport)?;
        match tungstenite::client(format!("ws://localhost{path}"), stream) {
            Ok((socket, _)) => Ok(socket),
            Err(HandshakeError::Interrupted(_)) => Err(transport(io::ErrorKind::TimedOut.into())),
            Err(HandshakeError::Failure(tungstenite::Error::Io(source))) => Err(transport(source)),
            // Pebble closed the connection before answering the upgrade: it went away.
            Err(HandshakeError::Failure(
                tungstenite::Error::ConnectionClosed
                | tungstenite::Error::AlreadyClosed
                | tungstenite::Error::Protocol(tungstenite::error::ProtocolError::HandshakeIncomplete),
            )) => Err(transport(io::ErrorKind::UnexpectedEof.into())),
            Err(HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                Err(upgrade_refused(&describe, &response))
            }
            Err(HandshakeError::Failure(other)) => Err(protocol(&describe, other)),
        }
    }
}

/// The error for an upgrade answered with something other than 101: Pebble's JSON error
/// envelope, or a generic API error when the body holds none.
fn upgrade_refused(describe: &str, response: &tungstenite::http::Response<Option<Vec<u8>>>) -> Error {
    let status = response.status();
    let reason = status.canonical_reason().unwrap_or_default();
    let body = response.body().as_deref().unwrap_or_default();
    match Envelope::decode_parts(describe, status.as_u16(), reason, body) {
        Err(err @ Error::Api { .. }) => err,
        _ => Error::Api {
            status_code: status.as_u16(),
            status: reason.to_owned(),
            message: format!("websocket upgrade refused for {describe}"),
            kind: None,
        },
    }
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

struct Output {
    socket: Socket,
    data: Vec<u8>,
    done: bool,
}

impl Output {
    fn new(socket: Socket) -> Output {
        Output { socket, data: Vec::new(), done: false }
    }

    /// Reads every message available without blocking, handing each chunk to `sink` as it
    /// arrives; true if anything arrived.
    fn drain(
        &mut self,
        stream: Stream,
        sink: &mut dyn FnMut(Stream, &[u8]),
    ) -> Result<bool, tungstenite::Error> {
        let mut progress = false;
        while !self.done {
            match self.socket.read() {
                Ok(Message::Binary(bytes)) => {
                    sink(stream, &bytes);
                    self.data.extend_from_slice(&bytes)
                }
                Ok(Message::Text(text)) => self.done = is_end(&text),
                Ok(Message::Close(_)) => self.done = true,
                Ok(_) => {}
                Err(tungstenite::Error::Io(err)) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(tungstenite::Error::Io(err)) if is_peer_gone(&err) => self.done = true,
                Err(
                    tungstenite::Error::ConnectionClosed
                    | tungstenite::Error::AlreadyClosed
                    | tungstenite::Error::Protocol(
                        tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                    ),
                ) => self.done = true,
                Err(err) => return Err(err),
            }
            progress = true;
        }
        Ok(progress)
    }
}

/// Whether `err` means the other end closed the connection.
fn is_peer_gone(err: &io::Error) -> bool {
    matches!(err.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset)
}

fn is_end(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text).is_ok_and(|message| message["command"] == "end")
}

/// Standard input being sent: chunks, then the end message, each flushed before the next.
struct Input<'a> {
    chunks: std::slice::Chunks<'a, u8>,
    end_queued: bool,
    flushed: bool,
}

impl Input<'_> {
    fn finished(&self) -> bool {
        self.end_queued && self.flushed
    }

    /// Stops sending: the command no longer takes input.
    fn abandon(&mut self) {
        self.chunks = [].chunks(1);
        self.end_queued = true;
        self.flushed = true;
    }

    /// Sends as much as the socket takes without blocking; true if anything was sent.
    fn advance(&mut self, socket: &mut Socket) -> Result<bool, tungstenite::Error> {
        let mut progress = false;
        loop {
            if !self.flushed {
                match socket.flush() {
                    Ok(()) => self.flushed = true,
                    Err(tungstenite::Error::Io(err)) if err.kind() == io::ErrorKind::WouldBlock => {
                        return Ok(progress)
                    }
                    Err(err) => return Err(err),
                }
                progress = true;
            }
            let message = match self.chunks.next() {
                Some(chunk) => Message::binary(chunk.to_vec()),
                None if !self.end_queued => {
                    self.end_queued = true;
                    Message::text(END)
                }
                None => return Ok(progress),
            };
            self.flushed = false;
            match socket.write(message) {
                Ok(()) => {}
                // The frame is buffered; the flush above finishes sending it.
                Err(tungstenite::Error::Io(err)) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err),
            }
        }
    }
}

/// Collected output of a command.
pub(crate) struct Collected {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Whether both streams ended (else `deadline` passed first).
    pub ended: bool,
}

/// Sends `stdin` on `stdio` and collects stdout and stderr until both have ended or
/// `deadline` passes (then `ended` is false); `what` names the command in errors.
pub(crate) fn pump(
    what: &str,
    stdio: Socket,
    stderr: Socket,
    stdin: &[u8],
    deadline: Option<Instant>,
    sink: &mut dyn FnMut(Stream, &[u8]),
) -> Result<(Collected, [Socket; 2])> {
    let fail = |err: tungstenite::Error| match err {
        tungstenite::Error::Io(source) => io_error(what, source),
        other => protocol(what, other),
    };
    let mut stdout = Output::new(stdio);
    let mut stderr = Output::new(stderr);
    for output in [&stdout, &stderr] {
        output.socket.get_ref().set_nonblocking(true).map_err(|source| io_error(what, source))?;
    }
    let mut input = Input { chunks: stdin.chunks(STDIN_CHUNK), end_queued: false, flushed: true };
    loop {
        let mut progress = false;
        if !input.finished() && !stdout.done {
            match input.advance(&mut stdout.socket) {
                Ok(sent) => progress |= sent,
                // The command exited without reading all of its input; its output still counts.
                Err(tungstenite::Error::Io(err)) if is_peer_gone(&err) => {
                    input.abandon();
                    progress = true;
                }
                Err(err) => return Err(fail(err)),
            }
        }
        progress |= stdout.drain(Stream::Stdout, sink).map_err(fail)?;
        progress |= stderr.drain(Stream::Stderr, sink).map_err(fail)?;
        if stdout.done && stderr.done {
            break;
        }
        if !progress {
            let wants_write = !input.flushed && !stdout.done;
            match wait_ready(&stdout, wants_write, &stderr, deadline) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::TimedOut => break,
                Err(source) => return Err(io_error(what, source)),
            }
        }
    }
    for output in [&stdout, &stderr] {
        output.socket.get_ref().set_nonblocking(false).map_err(|source| io_error(what, source))?;
    }
    let collected = Collected {
        stdout: std::mem::take(&mut stdout.data),
        stderr: std::mem::take(&mut stderr.data),
        ended: stdout.done && stderr.done,
    };
    Ok((collected, [stdout.socket, stderr.socket]))
}

/// Blocks until one of the sockets can make progress; fails with `TimedOut` at `deadline`.
fn wait_ready(
    stdout: &Output,
    wants_write: bool,
    stderr: &Output,
    deadline: Option<Instant>,
) -> io::Result<()> {
    // A socket with nothing to wait for gets fd -1, which poll(2) ignores: a hung-up socket
    // would otherwise report POLLHUP at once, forever.
    let poll_fd = |output: &Output, write: bool| {
        let mut events = 0;
        if !output.done {
            events |= libc::POLLIN;
        }
        if write {
            events |= libc::POLLOUT;
        }
        libc::pollfd {
            fd: if events == 0 { -1 } else { output.socket.get_ref().as_raw_fd() },
            events,
            revents: 0,
        }
    };
    let mut fds = [poll_fd(stdout, wants_write), poll_fd(stderr, false)];
    loop {
        let timeout_ms = match deadline {
            None => -1,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                // Round up so that a sub-millisecond remainder does not spin.
                i32::try_from(left.as_millis() + 1).unwrap_or(i32::MAX)
            }
        };
        // SAFETY: `fds` is a valid array of initialized pollfd of the given length.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        match ready {
            -1 => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
            0 => {}
            _ => return Ok(()),
        }
    }
}

fn io_error(what: &str, source: io::Error) -> Error {
    if crate::transport::is_timeout(&source) {
        Error::Timeout { what: what.to_owned() }
    } else {
        Error::Transport { request: what.to_owned(), source }
    }
}

/// Closes `socket` with a normal close frame, best effort: the command has finished.
pub(crate) fn close(mut socket: Socket) {
    let _ = socket.close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use pebble_sim::{PebbleSim, SimConfig};

    #[test]
    fn refused_upgrades_carry_pebble_errors() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("pebble.socket");
        let sim = PebbleSim::start(SimConfig::new(&socket, dir.path())).unwrap();
        let client = Client::new(&socket);
        match client.connect_websocket("999", "stdio") {
            Err(Error::Api { status_code: 404, message, .. }) => {
                assert_eq!(message, r#"cannot find task "999""#)
            }
            Err(other) => panic!("expected a 404, got {other:?}"),
            Ok(_) => panic!("expected a 404, got a websocket"),
        }
        assert_eq!(client.request_count(), 1);
        sim.stop();
    }

    #[test]
    fn recognizes_end_messages() {
        assert!(is_end(END));
        assert!(is_end(r#"{ "command" : "end" }"#));
        assert!(!is_end(r#"{"command":"signal"}"#));
        assert!(!is_end("end"));
    }
}
