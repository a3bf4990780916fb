//! One measured hook ([`Sample`]) and the figures over all repetitions ([`Summary`]).

use std::collections::BTreeMap;
use std::time::Duration;

use juju_sim::HookRun;

/// Hook tools that write a secret (create, change, grant or take away).
pub const SECRET_WRITES: [&str; 5] =
    ["secret-add", "secret-set", "secret-grant", "secret-revoke", "secret-remove"];

/// What one hook cost and did.
#[derive(Debug, Clone)]
pub struct Sample {
    /// From starting the charm process to its exit (the simulator's own measurement).
    pub wall: Duration,
    /// User + system time of the hook process and every process it waited for.
    pub cpu: Duration,
    /// The part of `cpu` spent in hook-tool processes (each measured itself).
    pub tools_cpu: Duration,
    /// The charm process's own CPU time as its hook tools saw it: exact up to its last tool
    /// call, which comes right before it exits.
    pub charm_cpu: Duration,
    /// The charm process's peak RSS (`VmHWM`) as its hook tools saw it, KiB: exact up to its
    /// last tool call, which comes right before it exits.
    pub charm_rss_kib: u64,
    /// Largest peak RSS of one hook-tool process, KiB.
    pub tools_rss_kib: u64,
    /// Hook-tool calls by tool.
    pub calls: BTreeMap<String, usize>,
    /// Pebble requests by kind (`METHOD /path`, with the files `action`).
    pub pebble: BTreeMap<String, usize>,
    /// Container files created, changed or removed.
    pub files_written: usize,
    /// Times Pebble started Synapse (the `synapse` service) on the unit.
    pub restarts: u32,
    /// Times Pebble started the unit's other services (federation sender, nginx).
    pub other_starts: u32,
}

impl Sample {
    pub fn new(
        run: &HookRun,
        pebble: BTreeMap<String, usize>,
        files_written: usize,
        restarts: u32,
        other_starts: u32,
    ) -> Self {
        let mut calls = BTreeMap::new();
        for call in &run.calls {
            *calls.entry(call.tool.clone()).or_insert(0) += 1;
        }
        Self {
            wall: run.duration,
            cpu: run.usage.cpu(),
            tools_cpu: run.tools_usage.cpu(),
            charm_cpu: run.tools_usage.max_caller_cpu,
            charm_rss_kib: run.tools_usage.max_caller_rss_kib,
            tools_rss_kib: run.tools_usage.max_rss_kib,
            calls,
            pebble,
            files_written,
            restarts,
            other_starts,
        }
    }

    pub fn total_calls(&self) -> usize {
        self.calls.values().sum()
    }

    pub fn count(&self, tool: &str) -> usize {
        self.calls.get(tool).copied().unwrap_or(0)
    }

    pub fn secret_writes(&self) -> usize {
        SECRET_WRITES.iter().map(|tool| self.count(tool)).sum()
    }
}

/// The figures of one charm for one event over every repetition.
#[derive(Debug, Clone)]
pub struct Summary {
    pub samples: Vec<Sample>,
}

impl Summary {
    pub fn wall(&self) -> Duration {
        median(self.samples.iter().map(|sample| sample.wall))
    }

    pub fn cpu(&self) -> Duration {
        median(self.samples.iter().map(|sample| sample.cpu))
    }

    pub fn tools_cpu(&self) -> Duration {
        median(self.samples.iter().map(|sample| sample.tools_cpu))
    }

    pub fn charm_cpu(&self) -> Duration {
        median(self.samples.iter().map(|sample| sample.charm_cpu))
    }

    /// The charm's highest peak RSS in any repetition, KiB.
    pub fn charm_rss_kib(&self) -> u64 {
        self.samples.iter().map(|sample| sample.charm_rss_kib).max().unwrap_or(0)
    }

    pub fn tools_rss_kib(&self) -> u64 {
        self.samples.iter().map(|sample| sample.tools_rss_kib).max().unwrap_or(0)
    }

    /// A count that should be the same in every repetition: its range.
    pub fn range(&self, count: impl Fn(&Sample) -> usize) -> Range {
        let values: Vec<usize> = self.samples.iter().map(count).collect();
        Range {
            min: values.iter().copied().min().unwrap_or(0),
            max: values.iter().copied().max().unwrap_or(0),
        }
    }

    /// Every tool called in any repetition.
    pub fn tools(&self) -> impl Iterator<Item = &str> {
        let mut names: Vec<&str> =
            self.samples.iter().flat_map(|sample| sample.calls.keys().map(String::as_str)).collect();
        names.sort_unstable();
        names.dedup();
        names.into_iter()
    }

    /// Every kind of Pebble request made in any repetition.
    pub fn pebble_kinds(&self) -> impl Iterator<Item = &str> {
        let mut kinds: Vec<&str> =
            self.samples.iter().flat_map(|sample| sample.pebble.keys().map(String::as_str)).collect();
        kinds.sort_unstable();
        kinds.dedup();
        kinds.into_iter()
    }
}

/// The lowest and highest value of a count over the repetitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: usize,
    pub max: usize,
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}–{}", self.min, self.max)
        }
    }
}

fn median(values: impl Iterator<Item = Duration>) -> Duration {
    let mut values: Vec<Duration> = values.collect();
    values.sort_unstable();
    match values.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2,
    }
}
