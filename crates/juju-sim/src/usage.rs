//! Resource usage of hooks, for benchmarks: CPU time and peak memory of a hook's process
//! tree (`wait4`), and of its hook-tool processes, each measured by the tool itself.
//!
//! Linux folds every descendant a process waited for into that process's `wait4` figures: a
//! hook's CPU time includes its hook tools'. To tell the charm's share apart, each
//! `juju-sim-tool` appends its own figures to the hook's usage record when it is done (CPU time from
//! `getrusage`, peak RSS from `VmHWM`), and the driver sums them up after the hook.
//!
//! Peak RSS needs care: `ru_maxrss` of a process started by `fork`/`vfork` and `exec` starts
//! at its parent's RSS, so a hook's `wait4` figure is at least the simulator's own size. The
//! charm's own figures are therefore taken by the tools: each reads the peak RSS (`VmHWM`) and
//! the CPU clock of the process that called it (the charm, when the charm runs its tools
//! directly), which are exact up to the charm's last tool call.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

/// CPU time and peak resident memory of a process (with the descendants it waited for).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceUsage {
    pub user: Duration,
    pub system: Duration,
    /// Peak resident set size in KiB (`ru_maxrss`: for a hook, at least the RSS of the process
    /// that started it; see the module documentation).
    pub max_rss_kib: u64,
}

impl ResourceUsage {
    /// User plus system time.
    pub fn cpu(&self) -> Duration {
        self.user + self.system
    }

    /// This process's own usage so far.
    pub fn of_self() -> io::Result<Self> {
        // SAFETY: an all-zero rusage is a valid value; getrusage only writes into it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: RUSAGE_SELF with a valid pointer to an owned rusage.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self::from_rusage(&usage))
    }

    fn from_rusage(usage: &libc::rusage) -> Self {
        Self {
            user: duration(usage.ru_utime),
            system: duration(usage.ru_stime),
            max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        }
    }
}

fn duration(time: libc::timeval) -> Duration {
    let seconds = u64::try_from(time.tv_sec).unwrap_or(0);
    let micros = u32::try_from(time.tv_usec).unwrap_or(0);
    Duration::from_secs(seconds) + Duration::from_micros(u64::from(micros))
}

/// What the hook-tool processes of one hook used, as each measured itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ToolsUsage {
    /// How many tool processes reported.
    pub processes: u32,
    /// CPU time summed over the processes.
    pub user: Duration,
    pub system: Duration,
    /// The largest peak RSS of any one tool process, in KiB.
    pub max_rss_kib: u64,
    /// The highest peak RSS (`VmHWM`) of a process that called a tool, as the tools saw it,
    /// in KiB: the charm's peak up to its last tool call.
    pub max_caller_rss_kib: u64,
    /// The most CPU time (its own threads, not its children) a process that called a tool had
    /// used, as the tools saw it: the charm's up to its last tool call.
    pub max_caller_cpu: Duration,
}

impl ToolsUsage {
    pub fn cpu(&self) -> Duration {
        self.user + self.system
    }

    fn add(&mut self, usage: ResourceUsage, caller: Caller) {
        self.processes += 1;
        self.user += usage.user;
        self.system += usage.system;
        self.max_rss_kib = self.max_rss_kib.max(usage.max_rss_kib);
        self.max_caller_rss_kib = self.max_caller_rss_kib.max(caller.rss_kib);
        self.max_caller_cpu = self.max_caller_cpu.max(caller.cpu);
    }
}

/// What a tool saw of the process that called it.
#[derive(Debug, Clone, Copy, Default)]
struct Caller {
    rss_kib: u64,
    cpu: Duration,
}

impl Caller {
    /// The parent process's figures; zero when it is gone already (a tool run in the
    /// background), which is no error.
    fn current() -> Self {
        let pid = std::os::unix::process::parent_id();
        Self {
            rss_kib: peak_rss_kib(&format!("/proc/{pid}/status")).unwrap_or(0),
            cpu: process_cpu(pid).unwrap_or_default(),
        }
    }
}

/// The CPU time the threads of process `pid` have used, from its CPU-time clock.
fn process_cpu(pid: u32) -> io::Result<Duration> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    let mut clock: libc::clockid_t = 0;
    // SAFETY: writes the clock id into an owned integer.
    let rc = unsafe { libc::clock_getcpuclockid(pid, &mut clock) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    let mut time = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: reads a valid clock into an owned timespec.
    if unsafe { libc::clock_gettime(clock, &mut time) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let seconds = u64::try_from(time.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(time.tv_nsec).unwrap_or(0);
    Ok(Duration::new(seconds, nanos))
}

/// Appends this process's usage to the hook's record, the file the agent named (called by
/// `juju-sim-tool` at its end). One short line in one `write` to an append-only file, so
/// concurrent tools do not interleave.
pub fn record_tool_usage(record: &Path) -> io::Result<()> {
    let usage = ResourceUsage::of_self()?;
    let own = peak_rss_kib("/proc/self/status")?;
    let caller = Caller::current();
    let line = format!(
        "{} {} {own} {} {}\n",
        usage.user.as_micros(),
        usage.system.as_micros(),
        caller.rss_kib,
        caller.cpu.as_micros()
    );
    let mut file = OpenOptions::new().create(true).append(true).open(record)?;
    file.write_all(line.as_bytes())
}

/// The peak RSS of a process's current program image (`VmHWM` of its `/proc/<pid>/status`),
/// KiB. `getrusage` would not do: a process started by `fork` or `vfork` keeps its parent's
/// memory in `ru_maxrss` after `exec`.
fn peak_rss_kib(status_path: &str) -> io::Result<u64> {
    let status = fs::read_to_string(status_path)?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .ok_or_else(|| io::Error::other("no VmHWM in /proc/self/status"))
}

/// Reads and deletes the tools' record of a hook; no record means no tool ran. Lines that do
/// not parse (a tool killed mid-write) are skipped.
pub(crate) fn take_tools_usage(record: &Path) -> ToolsUsage {
    let text = fs::read_to_string(record).unwrap_or_default();
    let _ = fs::remove_file(record);
    let mut total = ToolsUsage::default();
    for line in text.lines() {
        let fields: Vec<u64> = line.split(' ').filter_map(|field| field.parse().ok()).collect();
        if let [user, system, max_rss_kib, caller_rss_kib, caller_cpu] = fields[..] {
            let usage = ResourceUsage {
                user: Duration::from_micros(user),
                system: Duration::from_micros(system),
                max_rss_kib,
            };
            total.add(usage, Caller { rss_kib: caller_rss_kib, cpu: Duration::from_micros(caller_cpu) });
        }
    }
    total
}

/// Waits for the child `pid` to end and returns its exit status and resource usage.
pub(crate) fn wait_with_usage(pid: libc::pid_t) -> io::Result<(ExitStatus, ResourceUsage)> {
    loop {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value; wait4 only writes into it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: waits for our own child with valid pointers to owned values.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == pid {
            return Ok((ExitStatus::from_raw(status), ResourceUsage::from_rusage(&usage)));
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_records_add_up_and_are_consumed() {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("1.usage");
        assert_eq!(take_tools_usage(&record), ToolsUsage::default());
        record_tool_usage(&record).unwrap();
        record_tool_usage(&record).unwrap();
        let mut file = OpenOptions::new().append(true).open(&record).unwrap();
        file.write_all(b"garbage line\n1500 500 4096 8192 3000000\n").unwrap();
        let total = take_tools_usage(&record);
        assert_eq!(total.processes, 3);
        assert!(total.max_rss_kib >= 4096);
        // The callers were the test runner, then the line above.
        assert!(total.max_caller_rss_kib >= 8192);
        assert!(total.max_caller_cpu >= Duration::from_secs(3));
        assert!(total.cpu() >= Duration::from_micros(2000));
        assert!(!record.exists(), "the record is consumed");
    }
}
