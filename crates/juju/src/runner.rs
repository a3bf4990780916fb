//! The boundary between typed hook-tool calls and whatever executes them.
//!
//! In a deployed charm [`ProcessRunner`] spawns the tools Juju puts on `PATH`; tests can plug in
//! any other [`ToolRunner`] (for example an in-process simulator) without touching charm logic.

use std::io::{self, Write};
use std::process::{Command, Stdio};

/// What a hook tool returned: its exit code and raw output streams.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ToolOutput {
    /// The exit code; -1 when a signal ended the process.
    pub code: i32,
    /// The signal that killed the process, if one did.
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Executes one hook-tool invocation.
///
/// `tool` is the command name (`relation-get`), `args` its arguments, and `stdin` the bytes to
/// feed it (only for tools given `--file -`). An `Err` means the tool could not be run at all;
/// a tool that ran and failed is an `Ok` with a non-zero `code`.
pub trait ToolRunner {
    fn run(&self, tool: &str, args: &[String], stdin: Option<&[u8]>) -> io::Result<ToolOutput>;
}

/// Runs hook tools as child processes found on `PATH`, inheriting the hook's environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessRunner;

impl ToolRunner for ProcessRunner {
    fn run(&self, tool: &str, args: &[String], stdin: Option<&[u8]>) -> io::Result<ToolOutput> {
        let mut command = Command::new(tool);
        command
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn()?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input)?;
        }
        let output = child.wait_with_output()?;
        use std::os::unix::process::ExitStatusExt as _;
        Ok(ToolOutput {
            code: output.status.code().unwrap_or(-1),
            signal: output.status.signal(),
            stdout: output.stdout,
            stderr: output.stderr,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::tools::HookTools;

    #[test]
    fn a_tool_killed_by_a_signal_says_which() {
        let tools = HookTools::new(super::ProcessRunner);
        let args = ["-c".to_string(), "kill -KILL $$".to_string()];
        let error = tools.run("sh", &args, None).unwrap_err();
        assert_eq!(error.to_string(), "`sh -c kill -KILL $$` was killed by signal 9 (SIGKILL)");
    }
}
