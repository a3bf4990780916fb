//! Hook cost of the Synapse charm against a Python `ops` reference doing the same
//! matrix_auth provider work (`tests/python/reference_provider`), both run by the simulated
//! Juju (juju-sim) against a simulated Pebble (pebble-sim), alternately, in one process.
//!
//! `cargo bench --bench hooks` (or `scripts/bench`); add `-- --quick` for a smoke run with
//! two repetitions, or `-- --reps N`. Prints Markdown: per event the median wall and CPU
//! time, the charm's peak RSS, hook-tool calls by tool, Pebble requests, writes and
//! restarts, each with the Rust/Python ratio; the targets; the packed charm's size.

mod charms;
mod model;
mod pack;
mod report;
mod sample;
mod scenarios;

use anyhow::{bail, Context as _};

use crate::charms::Charms;

/// Repetitions per charm and event.
const DEFAULT_REPS: usize = 10;
const QUICK_REPS: usize = 2;
/// Related requirer applications for the relation-changed events.
const RELATION_COUNTS: [usize; 3] = [1, 10, 100];

fn main() -> anyhow::Result<()> {
    let reps = repetitions(std::env::args().skip(1))?;
    eprintln!("hook benchmark: {reps} repetitions per charm and event");
    let charms = Charms::prepare()?;
    let mut events = vec![];
    if std::env::var("BENCH_ONLY100").is_err() {
        events.push(scenarios::install(&charms, reps)?);
    }
    for relations in RELATION_COUNTS {
        if std::env::var("BENCH_ONLY100").is_ok() && relations != 100 {
            continue;
        }
        let mut models = scenarios::settled_models(&charms, relations)?;
        if relations == 1 {
            events.push(scenarios::config_changed(&mut models, reps)?);
            events.push(scenarios::update_status(&mut models, reps)?);
        }
        events.push(scenarios::relation_changed(&mut models, reps)?);
    }
    let packed = pack::packed_size()?;
    report::print(&events, &packed, reps);
    Ok(())
}

/// `--quick`, `--reps N`; `--bench` (added by `cargo bench`) is ignored.
fn repetitions(mut args: impl Iterator<Item = String>) -> anyhow::Result<usize> {
    let mut reps = DEFAULT_REPS;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => {}
            "--quick" => reps = QUICK_REPS,
            "--reps" => {
                let value = args.next().context("--reps needs a number")?;
                reps = value.parse().with_context(|| format!("--reps {value:?} is not a number"))?;
                if reps == 0 {
                    bail!("--reps must be at least 1");
                }
            }
            other => bail!("unknown argument {other:?} (expected --quick or --reps N)"),
        }
    }
    Ok(reps)
}
