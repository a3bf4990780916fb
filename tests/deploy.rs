//! The deploy sequence through the simulated Juju and Pebble.

mod support;

use serde_json::json;
use support::{Harness, SERVER_NAME};

#[test]
fn deploy_ends_active_with_the_files_in_place() {
    let mut harness = Harness::new();
    let runs = harness.deploy(1, &[("server_name", json!(SERVER_NAME))]);
    for run in &runs {
        assert!(run.succeeded(), "{} failed: {}", run.hook, run.stderr);
    }
    assert_eq!(harness.status("synapse/0"), ("active".into(), String::new()));
}
