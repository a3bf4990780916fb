//! Running commands in the container: `POST /v1/exec`, the `control`/`stdio`/`stderr`
//! websockets, then the exec change, whose task holds the exit code.
//!
//! Pebble kills only the command's own process at the request's timeout, and its change
//! ends only once the output is closed: a child that outlives the command and holds the
//! output (`sh -c "...; sleep 600"`) keeps the change running. So the client stops reading
//! the output [`EXEC_OUTPUT_GRACE`] after the timeout and reports the change's timeout error
//! ([`Error::Change`]) without waiting for it.

use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::duration::{go_duration, go_duration_string};
use crate::error::{Error, Result};
use crate::layer::Environment;
use crate::websocket::{self, Collected, Stream};

/// Most bytes of standard error kept in [`Error::Exec`].
const STDERR_TAIL: usize = 4096;
/// How long after an exec's timeout the client stops waiting for its output: by then Pebble
/// has killed the command, so open output means a child of it holds the output.
pub const EXEC_OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// A command to run with [`Client::exec`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    /// The argv; `command[0]` is looked up in `PATH` before anything runs.
    pub command: Vec<String>,
    /// Inherit environment, user, group and working directory from this service.
    pub service_context: Option<String>,
    pub environment: Environment,
    pub working_dir: Option<String>,
    /// Kill the command after this long. The output is awaited up to [`EXEC_OUTPUT_GRACE`]
    /// longer (see the module documentation); without a timeout, indefinitely.
    pub timeout: Option<Duration>,
    pub user_id: Option<u32>,
    pub user: Option<String>,
    pub group_id: Option<u32>,
    pub group: Option<String>,
    /// Standard input; without it the command reads end-of-file at once.
    pub stdin: Option<Vec<u8>>,
}

impl ExecRequest {
    /// A request to run `command` with default settings.
    pub fn new<I, S>(command: I) -> ExecRequest
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ExecRequest { command: command.into_iter().map(Into::into).collect(), ..ExecRequest::default() }
    }
}

impl fmt::Debug for ExecRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecRequest")
            .field("command", &self.command)
            .field("service_context", &self.service_context)
            .field("environment", &self.environment)
            .field("working_dir", &self.working_dir)
            .field("timeout", &self.timeout)
            .field("user_id", &self.user_id)
            .field("user", &self.user)
            .field("group_id", &self.group_id)
            .field("group", &self.group)
            .field("stdin", &self.stdin.as_ref().map(|stdin| ByteCount(stdin.len())))
            .finish()
    }
}

/// A finished command. `Debug` shows only the output sizes: output may hold secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// The exit code; -1 when Pebble does not know it.
    pub exit_code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    /// Whether the command exited with 0.
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }

    /// Standard output, decoded lossily as UTF-8.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error, decoded lossily as UTF-8.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

impl fmt::Debug for ExecOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecOutput")
            .field("exit_code", &self.exit_code)
            .field("stdout", &ByteCount(self.stdout.len()))
            .field("stderr", &ByteCount(self.stderr.len()))
            .finish()
    }
}

struct ByteCount(usize);

impl fmt::Debug for ByteCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct ExecBody<'a> {
    command: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    service_context: Option<&'a str>,
    environment: &'a Environment,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_dir: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a str>,
    terminal: bool,
    interactive: bool,
    split_stderr: bool,
    width: u16,
    height: u16,
}

impl<'a> ExecBody<'a> {
    fn new(request: &'a ExecRequest) -> ExecBody<'a> {
        ExecBody {
            command: &request.command,
            service_context: request.service_context.as_deref(),
            environment: &request.environment,
            working_dir: request.working_dir.as_deref(),
            timeout: request.timeout.map(go_duration),
            user_id: request.user_id,
            user: request.user.as_deref(),
            group_id: request.group_id,
            group: request.group.as_deref(),
            terminal: false,
            interactive: false,
            split_stderr: true,
            width: 0,
            height: 0,
        }
    }
}

#[derive(Deserialize)]
struct ExecStarted {
    #[serde(rename = "task-id")]
    task_id: String,
}

impl Client {
    /// Runs a command and returns its output and exit code, whatever the code. Fails with
    /// [`Error::Change`] when the exec change fails, e.g. on the request's timeout.
    pub fn exec(&self, request: &ExecRequest) -> Result<ExecOutput> {
        self.exec_with_output(request, &mut |_, _| {})
    }

    /// Like [`Client::exec`], handing each complete line of output (stdout or stderr, as it
    /// arrives, without its newline) to `on_line`: progress of a long command.
    pub fn exec_with_progress(
        &self,
        request: &ExecRequest,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<ExecOutput> {
        let mut pending: [Vec<u8>; 2] = Default::default();
        let output = self.exec_with_output(request, &mut |stream, chunk| {
            let pending = &mut pending[stream as usize];
            pending.extend_from_slice(chunk);
            while let Some(end) = pending.iter().position(|byte| *byte == b'\n' || *byte == b'\r') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line[..line.len() - 1]);
                if !line.trim().is_empty() {
                    on_line(&line);
                }
            }
        })?;
        Ok(output)
    }

    fn exec_with_output(
        &self,
        request: &ExecRequest,
        sink: &mut dyn FnMut(Stream, &[u8]),
    ) -> Result<ExecOutput> {
        let describe = "POST /v1/exec";
        let envelope = self.post_envelope("/v1/exec", &ExecBody::new(request))?;
        let change_id = envelope
            .change
            .clone()
            .ok_or_else(|| crate::error::protocol(describe, "expected an async response"))?;
        let started: ExecStarted = envelope.into_result(describe)?;
        // Pebble starts the command once stdio and stderr are connected.
        let connect = |id| self.connect_websocket(&started.task_id, id);
        let connected =
            connect("control").and_then(|control| Ok([control, connect("stdio")?, connect("stderr")?]));
        let [control, stdio, stderr] = match connected {
            Ok(sockets) => sockets,
            Err(err) => return Err(self.explain_connect_failure(&change_id, err)),
        };
        let what = format!("output of exec change {change_id}");
        let deadline = request.timeout.map(|timeout| Instant::now() + timeout + EXEC_OUTPUT_GRACE);
        let stdin = request.stdin.as_deref().unwrap_or_default();
        let (Collected { stdout, stderr, ended }, streams) =
            websocket::pump(&what, stdio, stderr, stdin, deadline, sink)?;
        if let (false, Some(timeout)) = (ended, request.timeout) {
            for socket in streams.into_iter().chain([control]) {
                websocket::close(socket);
            }
            return Err(self.timed_out(&change_id, &request.command, timeout));
        }
        let wait = request.timeout.map_or(self.change_timeout(), |timeout| timeout + Duration::from_secs(1));
        let change = self.wait_change(&change_id, wait);
        for socket in streams.into_iter().chain([control]) {
            websocket::close(socket);
        }
        let change = change?.into_result()?;
        let exit_code = change
            .tasks
            .first()
            .and_then(|task| task.data.as_ref()?.get("exit-code")?.as_i64())
            .unwrap_or(-1);
        Ok(ExecOutput { exit_code, stdout, stderr })
    }

    /// Like [`Client::exec`], but a non-zero exit code is an [`Error::Exec`].
    pub fn exec_checked(&self, request: &ExecRequest) -> Result<ExecOutput> {
        let output = self.exec(request)?;
        if output.success() {
            return Ok(output);
        }
        let tail_start = output.stderr.len().saturating_sub(STDERR_TAIL);
        Err(Error::Exec {
            command: request.command.clone(),
            exit_code: output.exit_code,
            stderr: String::from_utf8_lossy(&output.stderr[tail_start..]).into_owned(),
        })
    }

    /// The error of an exec whose output outlived its timeout: the change's own error if it
    /// has one by now, else the error Pebble will give it once the output closes.
    fn timed_out(&self, change_id: &str, command: &[String], timeout: Duration) -> Error {
        let change = match self.change(change_id) {
            Ok(change) => change,
            Err(err) => return err,
        };
        if change.ready {
            let what = format!("output of exec change {change_id}");
            return change.into_result().err().unwrap_or(Error::Timeout { what });
        }
        let summary = change.tasks.first().map_or_else(
            || format!("exec command {:?}", command.first().map_or("", String::as_str)),
            |task| task.summary.clone(),
        );
        let err = format!(
            "cannot perform the following tasks:\n- {summary} (timed out after {}: context deadline exceeded)",
            go_duration_string(timeout)
        );
        Error::Change { change_id: change_id.to_owned(), err, change: Box::new(change) }
    }

    /// The streams of exec change `change_id` could not be connected (`err`): Pebble then
    /// fails the change. A lost connection stays a connection error (the command never ran
    /// as asked; retrying is the caller's choice), else the change's error says why.
    fn explain_connect_failure(&self, change_id: &str, err: Error) -> Error {
        if err.is_connection_error() {
            return err;
        }
        match self.wait_change(change_id, self.change_timeout()) {
            Ok(change) => change.into_result().err().unwrap_or(err),
            Err(_) => err,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_bodies_follow_the_api() {
        let request = ExecRequest {
            environment: [("A", "1")].into_iter().collect(),
            timeout: Some(Duration::from_millis(2500)),
            user_id: Some(991),
            stdin: Some(b"secret".to_vec()),
            ..ExecRequest::new(["/bin/sh", "-c", "cat"])
        };
        assert_eq!(
            serde_json::to_value(ExecBody::new(&request)).unwrap(),
            serde_json::json!({
                "command": ["/bin/sh", "-c", "cat"], "environment": {"A": "1"},
                "timeout": "2.500s", "user-id": 991, "terminal": false, "interactive": false,
                "split-stderr": true, "width": 0, "height": 0
            })
        );
    }

    #[test]
    fn debug_output_hides_data() {
        let request = ExecRequest {
            stdin: Some(b"hunter2".to_vec()),
            environment: [("TOKEN", "hunter2")].into_iter().collect(),
            ..ExecRequest::new(["cat"])
        };
        let debug = format!("{request:?}");
        assert!(debug.contains("<7 bytes>") && debug.contains("TOKEN"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        let output = ExecOutput { exit_code: 0, stdout: b"hunter2".to_vec(), stderr: Vec::new() };
        assert_eq!(
            format!("{output:?}"),
            "ExecOutput { exit_code: 0, stdout: <7 bytes>, stderr: <0 bytes> }"
        );
    }
}
