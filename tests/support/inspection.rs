//! Synapse's database inspection as the state-transition tests script it: the charm runs
//! `src/components/database/inspect.py` with `python3 -c` in Synapse's container, which the
//! simulated Pebble answers (`tests/database_inspection.rs` runs the script for real).

use pebble_sim::{ExecRule, PebbleSim};
use serde_json::json;

/// The charm's database inspection script, as it runs it.
pub const INSPECT_SCRIPT: &str = include_str!("../../src/components/database/inspect.py");

/// What the script prints for a database in C that Synapse can use, with `tables` tables.
pub fn fit(tables: u32) -> String {
    json!({"collate": "C", "ctype": "C", "tables": tables, "port_started": false, "can_create": true,
           "superuser": true, "fixed": false})
    .to_string()
}

/// Makes the inspection in `pebble`'s container print `report`. Only the inspection: the
/// charm's other `python3 -c` (Synapse's version) stays unanswered.
pub fn script(pebble: &PebbleSim, report: &str) {
    pebble.script_exec(
        ExecRule::new(["python3", "-c", INSPECT_SCRIPT]).read_stdin().stdout(format!("{report}\n")),
    );
}
