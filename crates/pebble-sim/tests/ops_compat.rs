//! The real `ops.pebble.Client` (Python, `scripts/python-env ops|ops2`) against the simulator.

mod common;

use std::path::Path;
use std::process::Command;

use common::Fixture;
use pebble_sim::{ExecMode, ExecRule};
use test_support::PythonVenv;

#[test]
fn ops_3_pebble_client_works_against_the_simulator() {
    run_ops_client("ops");
}

#[test]
fn ops_2_pebble_client_works_against_the_simulator() {
    run_ops_client("ops2");
}

fn run_ops_client(profile: &str) {
    let fx = Fixture::with(|c| c.exec = ExecMode::Host);
    fx.sim.script_exec(
        ExecRule::new(["/usr/bin/scripted"]).stdout("scripted-out\n").stderr("scripted-err\n").read_stdin(),
    );
    fx.sim.script_exec(ExecRule::new(["/usr/bin/fails"]).exit_code(2).stdout("failed\n"));
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(PythonVenv::find(profile).python())
        .arg(manifest.join("tests/ops_client.py"))
        .arg(fx.sim.socket())
        .arg(fx.root())
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "ops client failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("all good"));
    let stdin = fx
        .sim
        .exec_log()
        .into_iter()
        .find(|r| r.argv == ["/usr/bin/scripted", "arg"])
        .expect("scripted exec recorded")
        .stdin;
    assert_eq!(stdin, b"input");
}
