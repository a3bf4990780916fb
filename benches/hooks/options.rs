//! Command-line options (after `cargo bench --bench hooks --`).

use anyhow::{bail, Context as _};

/// Every event, by the name `--events` takes.
pub const EVENTS: [&str; 9] = [
    "install",
    "config-changed",
    "update-status",
    "relation-changed-1",
    "database-relation-changed",
    "relation-changed-10",
    "relation-changed-100",
    "peers-relation-changed-3",
    "peers-relation-changed-10",
];

const DEFAULT_REPS: usize = 10;
const QUICK_REPS: usize = 2;

pub const USAGE: &str = "options: --quick (2 repetitions) | --reps N (default 10) | --events a,b,... \
(install, config-changed, update-status, relation-changed-1, database-relation-changed, relation-changed-10, \
relation-changed-100, peers-relation-changed-3, peers-relation-changed-10) | \
--wrap-rust '<command prefix>' (runs the Rust charm under e.g. `perf stat -i -o /tmp/stat.$$`; for profiling, it \
changes the figures)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Measured repetitions per charm and event.
    pub reps: usize,
    /// The events to run, in the order of [`EVENTS`].
    pub events: Vec<&'static str>,
    /// A command prefix the Rust charm binary is run under.
    pub wrap_rust: Option<String>,
}

impl Options {
    /// Parses the arguments; `--bench`, which `cargo bench` adds, is ignored.
    pub fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Self> {
        let mut options = Options { reps: DEFAULT_REPS, events: EVENTS.to_vec(), wrap_rust: None };
        while let Some(arg) = args.next() {
            let mut value =
                |name: &str| args.next().with_context(|| format!("{name} needs a value\n{USAGE}"));
            match arg.as_str() {
                "--bench" => {}
                "--quick" => options.reps = QUICK_REPS,
                "--reps" => {
                    let text = value("--reps")?;
                    options.reps = text
                        .parse()
                        .ok()
                        .filter(|&reps| reps > 0)
                        .with_context(|| format!("--reps {text:?} is not a positive number"))?;
                }
                "--events" => {
                    let text = value("--events")?;
                    let wanted: Vec<&str> = text.split(',').map(str::trim).collect();
                    if let Some(unknown) = wanted.iter().find(|name| !EVENTS.contains(name)) {
                        bail!("unknown event {unknown:?}\n{USAGE}");
                    }
                    options.events = EVENTS.into_iter().filter(|name| wanted.contains(name)).collect();
                }
                "--wrap-rust" => options.wrap_rust = Some(value("--wrap-rust")?),
                other => bail!("unknown argument {other:?}\n{USAGE}"),
            }
        }
        Ok(options)
    }

    pub fn wants(&self, event: &str) -> bool {
        self.events.contains(&event)
    }
}
