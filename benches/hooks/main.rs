//! Hook cost of the Synapse charm against a Python `ops` reference doing the same
//! matrix_auth provider, `database` and `redis` requirer and scale-out work
//! (`tests/python/reference_provider`), both run by the simulated Juju (juju-sim) against a
//! simulated Pebble (pebble-sim) per unit, alternately, in one process.
//!
//! `cargo bench --bench hooks` runs everything (about 5 minutes on 2 cores, and several more
//! to scale out the models of the peer events, hook by hook); add `-- --quick` for a smoke
//! run with 2 repetitions (see [`options::USAGE`] for the rest). Prints Markdown:
//! per event the median wall and CPU time, the charm's peak RSS, hook-tool calls by tool,
//! Pebble requests, writes and restarts, each with the Rust/Python ratio; for the scaled-out
//! models (3 and 10 units, with redis-k8s and PostgreSQL) also the Synapse process restarts
//! of one scale step; the targets; the packed charm's size.

mod charms;
mod model;
mod options;
mod pack;
// The tests' real Redis (Debian's redis-server), for the scaled-out events.
#[allow(dead_code)]
#[path = "../../tests/support/redis.rs"]
mod redis;
mod report;
mod sample;
mod scenarios;

use crate::charms::Charms;
use crate::options::Options;

/// Related requirer applications of the models the relation events run in.
const RELATION_COUNTS: [usize; 3] = [1, 10, 100];
/// Units of the scaled-out models the peer relation event runs in.
const UNIT_COUNTS: [usize; 2] = [3, 10];

fn main() -> anyhow::Result<()> {
    let options = Options::parse(std::env::args().skip(1))?;
    eprintln!("hook benchmark: {} repetitions per charm and event", options.reps);
    let charms = Charms::prepare(options.wrap_rust.as_deref())?;
    let reps = options.reps;
    let mut events = Vec::new();
    if options.wants("install") {
        events.push(scenarios::install(&charms, reps)?);
    }
    for relations in RELATION_COUNTS {
        let relation_changed = format!("relation-changed-{relations}");
        let on_this_model: Vec<&str> = match relations {
            1 => vec!["config-changed", "update-status", &relation_changed, scenarios::DATABASE_CHANGED],
            _ => vec![&relation_changed],
        };
        if !on_this_model.iter().any(|event| options.wants(event)) {
            continue;
        }
        let mut models = scenarios::settled_models(&charms, relations)?;
        if options.wants("config-changed") && relations == 1 {
            events.push(scenarios::config_changed(&mut models, reps)?);
        }
        if options.wants("update-status") && relations == 1 {
            events.push(scenarios::update_status(&mut models, reps)?);
        }
        if options.wants(&relation_changed) {
            events.push(scenarios::relation_changed(&mut models, reps)?);
        }
        // Last on its model: the database relation it adds would change the figures above.
        if options.wants(scenarios::DATABASE_CHANGED) && relations == 1 {
            events.push(scenarios::database_changed(&mut models, reps)?);
        }
    }
    for units in UNIT_COUNTS {
        if options.wants(&format!("peers-relation-changed-{units}")) {
            events.push(scenarios::peers_changed(&charms, units, reps)?);
        }
    }
    let packed = pack::packed_size()?;
    report::print(&events, &packed, reps);
    Ok(())
}
