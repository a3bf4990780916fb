//! Cost of hook-tool calls: spawning `juju-sim-tool` (as every charm does) in a small and a
//! large model, which should cost the same (the agent holds the model; a call sends only
//! itself), versus the in-process runner. Run with `cargo bench -p juju-sim --bench tool_calls`.

use std::time::{Duration, Instant};

use juju::ToolRunner as _;
use juju_sim::model::Bag;
use juju_sim::{AppSpec, CharmMeta, Event, Simulator};

const CALLS: u32 = 300;
/// Requirer applications of the large model.
const LARGE: usize = 100;

fn report(name: &str, total: Duration) -> f64 {
    let per_call = total.as_secs_f64() * 1e6 / f64::from(CALLS);
    println!("{name:<52} {per_call:>8.1} µs/call ({CALLS} calls)");
    per_call
}

/// A model with `requirers` related applications, each with some data, and the charm whose
/// dispatch makes [`CALLS`] `relation-get` calls.
fn model(charm: &std::path::Path, requirers: usize) -> (Simulator, u32) {
    let mut sim = Simulator::new().expect("simulator");
    let mut first = None;
    sim.add_app(AppSpec::charm("bench", charm)).expect("app");
    for n in 0..requirers {
        let name = format!("pg{n}");
        let meta = CharmMeta::from_yaml(&format!("name: {name}\nprovides:\n  db: {{interface: pg}}\n"))
            .expect("meta");
        sim.add_app(AppSpec::passive(&name, meta)).expect("requirer");
        let relation = sim.add_relation("bench", &name).expect("relation");
        first.get_or_insert(relation);
        let data = (0..10).map(|key| (format!("key-{key}"), "x".repeat(200))).collect();
        sim.set_relation_data(relation, Bag::App(name), data).expect("data");
    }
    (sim, first.expect("a relation"))
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("metadata.yaml"), "name: bench\nrequires:\n  db: {interface: pg}\n")
        .expect("metadata");
    let script = format!(
        "#!/bin/sh\n[ \"$JUJU_HOOK_NAME\" = update-status ] || exit 0\nr=$(relation-ids db | head -n1)\ni=0\nwhile [ $i -lt {CALLS} ]; do relation-get -r \"$r\" --format=json --app - pg0 >/dev/null; i=$((i+1)); done\n"
    );
    let dispatch = dir.path().join("dispatch");
    std::fs::write(&dispatch, script).expect("dispatch");
    let mut permissions = std::fs::metadata(&dispatch).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&dispatch, permissions).expect("chmod");

    let mut per_call = Vec::new();
    for requirers in [1, LARGE] {
        let (mut sim, first) = model(dir.path(), requirers);
        let run = sim.run_hook("bench/0", Event::UpdateStatus).expect("hook");
        assert_eq!(run.count("relation-get"), CALLS as usize, "{}", run.stderr);
        per_call.push(report(&format!("juju-sim-tool process, {requirers} related app(s)"), run.duration));
        if requirers == 1 {
            let runner = sim.in_process("bench/0", Event::UpdateStatus).expect("runner");
            let relation = format!("db:{first}");
            let args: Vec<String> =
                ["-r", &relation, "--format=json", "--app", "-", "pg0"].map(str::to_owned).to_vec();
            let started = Instant::now();
            for _ in 0..CALLS {
                let output = runner.run("relation-get", &args, None).expect("call");
                assert_eq!(output.code, 0, "{}", String::from_utf8_lossy(&output.stderr));
            }
            report("in-process runner", started.elapsed());
            sim.finish_in_process(runner, 0).expect("finish");
        }
    }
    println!("large / small model per call: {:.2}", per_call[1] / per_call[0]);
}
