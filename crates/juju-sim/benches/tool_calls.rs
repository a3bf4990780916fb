//! Cost of hook-tool calls: spawning `juju-sim-tool` (as every charm does) versus the
//! in-process runner. Run with `cargo bench -p juju-sim --bench tool_calls`.

use std::time::{Duration, Instant};

use juju::ToolRunner as _;
use juju_sim::{AppSpec, CharmMeta, Event, Simulator};

const CALLS: u32 = 300;

fn report(name: &str, total: Duration) {
    println!("{name:<40} {:>8.1} µs/call ({CALLS} calls)", total.as_secs_f64() * 1e6 / f64::from(CALLS));
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("metadata.yaml"), "name: bench\nrequires:\n  db: {interface: pg}\n")
        .expect("metadata");
    let script = format!(
        "#!/bin/sh\ni=0\nwhile [ $i -lt {CALLS} ]; do relation-get -r db:0 --format=json - pg/0 >/dev/null; i=$((i+1)); done\n"
    );
    let dispatch = dir.path().join("dispatch");
    std::fs::write(&dispatch, script).expect("dispatch");
    let mut permissions = std::fs::metadata(&dispatch).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&dispatch, permissions).expect("chmod");

    let mut sim = Simulator::new().expect("simulator");
    sim.add_app(AppSpec::charm("bench", dir.path())).expect("app");
    let meta = CharmMeta::from_yaml("name: pg\nprovides:\n  db: {interface: pg}\n").expect("meta");
    sim.add_app(AppSpec::passive("pg", meta)).expect("pg");
    sim.add_relation("bench", "pg").expect("relation");

    let run = sim.run_hook("bench/0", Event::UpdateStatus).expect("hook");
    assert_eq!(run.count("relation-get"), CALLS as usize);
    report("juju-sim-tool process (relation-get)", run.duration);

    let runner = sim.in_process("bench/0", Event::UpdateStatus).expect("runner");
    let args: Vec<String> = ["-r", "db:0", "--format=json", "-", "pg/0"].map(str::to_owned).to_vec();
    let started = Instant::now();
    for _ in 0..CALLS {
        let output = runner.run("relation-get", &args, None).expect("call");
        assert_eq!(output.code, 0);
    }
    report("in-process runner (relation-get)", started.elapsed());
    sim.finish_in_process(runner, 0).expect("finish");
}
