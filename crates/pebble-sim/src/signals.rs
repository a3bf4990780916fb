//! Signal names (`SIGTERM`) and delivery to the process groups the simulator spawned.

use rustix::process::{kill_process_group, Pid, Signal};

const NAMES: [(&str, Signal); 13] = [
    ("SIGHUP", Signal::HUP),
    ("SIGINT", Signal::INT),
    ("SIGQUIT", Signal::QUIT),
    ("SIGKILL", Signal::KILL),
    ("SIGUSR1", Signal::USR1),
    ("SIGUSR2", Signal::USR2),
    ("SIGPIPE", Signal::PIPE),
    ("SIGALRM", Signal::ALARM),
    ("SIGTERM", Signal::TERM),
    ("SIGCONT", Signal::CONT),
    ("SIGSTOP", Signal::STOP),
    ("SIGTSTP", Signal::TSTP),
    ("SIGWINCH", Signal::WINCH),
];

/// Parses `SIGTERM` (or `TERM`).
pub fn parse(name: &str) -> Option<Signal> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    NAMES.iter().find(|(n, _)| *n == full).map(|(_, s)| *s)
}

/// Sends `signal` to the process group led by `pid`; a group already gone is not an error.
pub fn to_group(pid: u32, signal: Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        // ESRCH (already exited) is the only expected failure.
        let _ = kill_process_group(pid, signal);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_names() {
        assert_eq!(super::parse("SIGHUP"), Some(rustix::process::Signal::HUP));
        assert_eq!(super::parse("term"), Some(rustix::process::Signal::TERM));
        assert_eq!(super::parse("SIGNOPE"), None);
    }
}
