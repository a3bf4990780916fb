//! `juju-sim-tool`: every simulated hook tool in one binary, selected by the name it is run
//! as (`relation-get`, `secret-add`, ...) or, for debugging, by its first argument. It finds
//! the hook context through `JUJU_AGENT_SOCKET_ADDRESS` (the context file) and
//! `JUJU_CONTEXT_ID`, updates it under an exclusive lock and exits with the tool's code. An
//! injected [`ToolFaultKind::KillHook`] fault then kills the hook process (its parent).

use std::io::{self, Read as _, Write as _};
use std::path::Path;
use std::process::ExitCode;

use juju_sim::context::{ContextFile, ToolFaultKind, CONTEXT_ID_ENV, CONTEXT_PATH_ENV};

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
    let (Ok(id), Some(path)) = (std::env::var(CONTEXT_ID_ENV), std::env::var_os(CONTEXT_PATH_ENV)) else {
        return fail(&format!("{CONTEXT_ID_ENV} not set"));
    };
    let file = ContextFile::open(Path::new(&path));
    let mut stdin = || {
        let mut bytes = Vec::new();
        io::stdin().read_to_end(&mut bytes)?;
        Ok(bytes)
    };
    let result = file.update(|context| {
        (context.id == id).then(|| {
            let kill = context.fault_now() == Some(ToolFaultKind::KillHook);
            (context.invoke(&tool, &args[1..], &mut stdin), kill)
        })
    });
    let (output, kill) = match result {
        Ok(Some(outcome)) => outcome,
        Ok(None) | Err(_) => return fail(&format!("bad request: unknown context {id:?}")),
    };
    let _ = io::stdout().write_all(&output.stdout);
    let _ = io::stderr().write_all(&output.stderr);
    // For benchmarks only: a failure to record must not change the tool's outcome.
    let _ = juju_sim::usage::record_tool_usage(Path::new(&path));
    if kill {
        // The injected fault: the hook process dies right after this call.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &std::os::unix::process::parent_id().to_string()])
            .status();
    }
    ExitCode::from(u8::try_from(output.code).unwrap_or(1))
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(io::stderr(), "ERROR {message}");
    ExitCode::from(1)
}
