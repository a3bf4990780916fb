//! Signal names (`SIGTERM`, as Go's `unix.SignalNum` knows them) and delivery to the
//! processes the simulator spawned.

use rustix::process::{kill_process, kill_process_group, Pid, Signal};

const NAMES: [(&str, Signal); 31] = [
    ("SIGABRT", Signal::ABORT),
    ("SIGALRM", Signal::ALARM),
    ("SIGBUS", Signal::BUS),
    ("SIGCHLD", Signal::CHILD),
    ("SIGCONT", Signal::CONT),
    ("SIGFPE", Signal::FPE),
    ("SIGHUP", Signal::HUP),
    ("SIGILL", Signal::ILL),
    ("SIGINT", Signal::INT),
    ("SIGIO", Signal::IO),
    ("SIGIOT", Signal::ABORT),
    ("SIGKILL", Signal::KILL),
    ("SIGPIPE", Signal::PIPE),
    ("SIGPOLL", Signal::IO),
    ("SIGPROF", Signal::PROF),
    ("SIGPWR", Signal::POWER),
    ("SIGQUIT", Signal::QUIT),
    ("SIGSEGV", Signal::SEGV),
    ("SIGSTKFLT", Signal::STKFLT),
    ("SIGSTOP", Signal::STOP),
    ("SIGSYS", Signal::SYS),
    ("SIGTERM", Signal::TERM),
    ("SIGTRAP", Signal::TRAP),
    ("SIGTSTP", Signal::TSTP),
    ("SIGTTIN", Signal::TTIN),
    ("SIGTTOU", Signal::TTOU),
    ("SIGURG", Signal::URG),
    ("SIGUSR1", Signal::USR1),
    ("SIGUSR2", Signal::USR2),
    ("SIGVTALRM", Signal::VTALARM),
    ("SIGWINCH", Signal::WINCH),
];

/// Parses a signal name like Pebble does: exactly `SIGTERM`, not `TERM` or `sigterm`.
pub fn parse(name: &str) -> Option<Signal> {
    NAMES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Sends `signal` to the process group led by `pid`; a group already gone is not an error.
pub fn to_group(pid: u32, signal: Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        // ESRCH (already exited) is the only expected failure.
        let _ = kill_process_group(pid, signal);
    }
}

/// Sends `signal` to the process `pid` alone (its children keep running), as Pebble signals
/// services and exec commands; a process already gone is not an error.
pub fn to_process(pid: u32, signal: Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        // ESRCH (already exited) is the only expected failure.
        let _ = kill_process(pid, signal);
    }
}

/// The exit code Pebble reports for a process: its status, or 128 + the signal that killed
/// it (137 for SIGKILL).
pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().or_else(|| status.signal().map(|signal| 128 + signal)).unwrap_or(-1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_names_like_go() {
        assert_eq!(super::parse("SIGHUP"), Some(rustix::process::Signal::HUP));
        assert_eq!(super::parse("SIGPWR"), Some(rustix::process::Signal::POWER));
        assert_eq!(super::parse("TERM"), None);
        assert_eq!(super::parse("sigterm"), None);
        assert_eq!(super::parse("SIGNOPE"), None);
    }
}
