//! `juju-sim-tool`: every simulated hook tool in one binary, selected by the name it is run
//! as (`relation-get`, `secret-add`, ...) or, for debugging, by its first argument. Like
//! Juju's tools it sends the call to the agent at `JUJU_AGENT_SOCKET_ADDRESS` for the hook
//! `JUJU_CONTEXT_ID`, prints the answer and exits with the tool's code. An injected
//! `KillHook` fault then kills the hook process (its parent).

use std::io::{self, Read as _, Write as _};
use std::path::Path;
use std::process::ExitCode;

use juju_sim::agent::{self, Request};
use juju_sim::context::{AGENT_SOCKET_ENV, CONTEXT_ID_ENV};

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().collect();
    let invoked = args
        .first()
        .map(|arg0| {
            Path::new(arg0)
                .file_name()
                .map_or_else(|| arg0.clone(), |name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let tool = if invoked == "juju-sim-tool" {
        if args.len() < 2 {
            return fail("usage: juju-sim-tool <tool> [args...]");
        }
        args.remove(1)
    } else {
        invoked
    };
    let (Ok(context), Some(socket)) = (std::env::var(CONTEXT_ID_ENV), std::env::var_os(AGENT_SOCKET_ENV))
    else {
        return fail(&format!("{CONTEXT_ID_ENV} not set"));
    };
    let request = Request { context, tool, args: args.split_off(1) };
    let mut stdin = || {
        let mut bytes = Vec::new();
        io::stdin().read_to_end(&mut bytes)?;
        Ok(bytes)
    };
    let socket = Path::new(&socket);
    let reply = match agent::call(socket, &request, &mut stdin) {
        Ok(reply) => reply,
        // What Juju's tools say when the agent is not there.
        Err(error) => return fail(&format!("cannot reach the unit agent at {}: {error}", socket.display())),
    };
    let _ = io::stdout().write_all(&reply.output.stdout);
    let _ = io::stderr().write_all(&reply.output.stderr);
    if let Some(record) = &reply.usage {
        // For benchmarks only: a failure to record must not change the tool's outcome.
        let _ = juju_sim::usage::record_tool_usage(record);
    }
    if reply.kill_hook {
        // The injected fault: the hook process dies right after this call.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &std::os::unix::process::parent_id().to_string()])
            .status();
    }
    ExitCode::from(u8::try_from(reply.output.code).unwrap_or(1))
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(io::stderr(), "ERROR {message}");
    ExitCode::from(1)
}
