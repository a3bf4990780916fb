//! Process mode: services as real host processes.

mod common;

use std::path::Path;
use std::time::Instant;

use common::{Client, Fixture};
use pebble_sim::{ServiceMode, ServiceStatus};
use serde_json::json;
use test_support::{eventually, POLL, TIMEOUT};

fn process_fixture() -> Fixture {
    Fixture::with(|c| c.services = ServiceMode::Process)
}

fn pid_alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; its state letter is 'Z'.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.split(") ").nth(1).unwrap_or("").starts_with('Z'))
        .unwrap_or(false)
}

fn read_pid(path: &Path) -> u32 {
    eventually("pid file", TIMEOUT, POLL, || {
        std::fs::read_to_string(path).ok().and_then(|t| t.trim().parse().ok())
    })
}

fn log_lines(client: &Client, service: &str) -> Vec<String> {
    let response = client.get(&format!("/v1/logs?services={service}&n=-1"));
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/x-ndjson"));
    String::from_utf8_lossy(&response.body)
        .lines()
        .map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).expect("ndjson");
            assert_eq!(entry["service"], service);
            entry["message"].as_str().expect("message").trim_end().to_owned()
        })
        .collect()
}

#[test]
fn service_runs_with_env_working_dir_and_user_and_stops() {
    let fx = process_fixture();
    std::fs::create_dir(fx.root().join("work")).expect("mkdir");
    let client = fx.client();
    let layer = "services:\n  svc:\n    override: replace\n    command: /bin/sh -c 'echo $$ > pid; echo \"env=$FOO dir=$(basename $PWD) uid=$(id -u) gid=$(id -g)\"; exec sleep 60'\n    startup: enabled\n    environment: {FOO: bar}\n    working-dir: /work\n    user-id: 4242\n    group-id: 4243\n";
    client.sync(client.add_layer("base", layer, false));
    std::fs::set_permissions(fx.root().join("work"), std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    let started = Instant::now();
    let change = client.wait_change(&client.services_action("replan", &[]));
    assert_eq!(change["status"], "Done", "{change}");
    assert!(started.elapsed().as_millis() >= 900, "a start waits for the okay delay");
    assert_eq!(fx.sim.service_state("svc"), Some(ServiceStatus::Active));
    let pid = read_pid(&fx.root().join("work/pid"));
    assert!(pid_alive(pid));
    eventually("service output", TIMEOUT, POLL, || !log_lines(&client, "svc").is_empty());
    assert_eq!(log_lines(&client, "svc"), ["env=bar dir=work uid=4242 gid=4243"]);

    client.wait_change(&client.services_action("stop", &["svc"]));
    assert_eq!(client.service_current("svc"), "inactive");
    eventually("process gone", TIMEOUT, POLL, || !pid_alive(pid));
}

#[test]
fn exited_quickly_fails_the_start_and_restarts_with_backoff() {
    let fx = process_fixture();
    let client = fx.client();
    let layer = "services:\n  bad: {override: replace, command: /bin/sh -c 'exit 3', backoff-delay: 20ms, backoff-factor: 1.0}\n";
    client.sync(client.add_layer("base", layer, false));
    let change = client.wait_change(&client.services_action("start", &["bad"]));
    assert_eq!(
        change["err"],
        "cannot perform the following tasks:\n- Start service \"bad\" (service start attempt: exited quickly with code 3, will restart)"
    );
    eventually("automatic restarts", TIMEOUT, POLL, || fx.sim.service_starts("bad") >= 3);
    client.wait_change(&client.services_action("stop", &["bad"]));
    assert_eq!(client.service_current("bad"), "inactive");
    let starts = fx.sim.service_starts("bad");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(fx.sim.service_starts("bad"), starts, "no restarts after stop");
}

#[test]
fn on_failure_ignore_leaves_the_service_in_error() {
    let fx = process_fixture();
    let client = fx.client();
    let layer = "services:\n  once: {override: replace, command: /bin/sh -c 'exit 2', on-failure: ignore}\n";
    client.sync(client.add_layer("base", layer, false));
    let change = client.wait_change(&client.services_action("start", &["once"]));
    assert!(change["err"].as_str().expect("err").contains("exited quickly with code 2)"), "{change}");
    assert_eq!(client.service_current("once"), "error");
    assert_eq!(fx.sim.service_starts("once"), 1);
}

#[test]
fn stop_escalates_to_sigkill_after_kill_delay() {
    let fx = process_fixture();
    let client = fx.client();
    let layer = "services:\n  stubborn: {override: replace, command: /bin/sh -c \"trap '' TERM; echo $$ > pid; while true; do sleep 1; done\", kill-delay: 300ms}\n";
    client.sync(client.add_layer("base", layer, false));
    client.wait_change(&client.services_action("start", &["stubborn"]));
    let pid = read_pid(&fx.root().join("pid"));
    let started = Instant::now();
    let change = client.wait_change(&client.services_action("stop", &["stubborn"]));
    assert_eq!(change["status"], "Done");
    assert!(started.elapsed().as_millis() >= 300, "waited for the kill delay");
    eventually("process killed", TIMEOUT, POLL, || !pid_alive(pid));
}

#[test]
fn replan_restarts_the_process_only_when_changed_and_command_map_applies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("start.sh");
    std::fs::write(&script, "#!/bin/sh\necho $$ >> \"$PEBBLE_SIM_ROOT/pids\"\nexec sleep 60\n")
        .expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let fx = Fixture::with(|c| {
        c.services = ServiceMode::Process;
        c.command_map.insert("/start.py".into(), script.clone());
    });
    let client = fx.client();
    client.sync(client.add_layer(
        "base",
        "services:\n  synapse: {override: replace, command: /start.py, startup: enabled}\n",
        false,
    ));
    client.wait_change(&client.services_action("replan", &[]));
    let pids = || std::fs::read_to_string(fx.root().join("pids")).unwrap_or_default().lines().count();
    eventually("first pid", TIMEOUT, POLL, || pids() == 1);
    client.wait_change(&client.services_action("replan", &[]));
    assert_eq!(fx.sim.service_starts("synapse"), 1);
    client.sync(client.add_layer(
        "env",
        "services:\n  synapse: {override: merge, environment: {X: '1'}}\n",
        false,
    ));
    client.wait_change(&client.services_action("replan", &[]));
    eventually("second pid", TIMEOUT, POLL, || pids() == 2);
    assert_eq!(fx.sim.service_starts("synapse"), 2);
    assert_eq!(fx.sim.service_stops("synapse"), 1);
    let signalled =
        client.sync(client.post_json("/v1/signals", &json!({"signal": "SIGHUP", "services": ["synapse"]})));
    assert_eq!(signalled, json!(true));
    // SIGHUP ends `sleep`; the default on-success/on-failure is restart.
    eventually("restart after SIGHUP", TIMEOUT, POLL, || fx.sim.service_starts("synapse") >= 3);
}

#[test]
fn dropping_the_simulator_kills_service_processes() {
    let fx = process_fixture();
    let client = fx.client();
    client.sync(client.add_layer(
        "base",
        "services:\n  s: {override: replace, command: /bin/sh -c 'echo $$ > pid; exec sleep 60'}\n",
        false,
    ));
    client.wait_change(&client.services_action("start", &["s"]));
    let pid = read_pid(&fx.root().join("pid"));
    let Fixture { sim, dir } = fx;
    drop(sim);
    eventually("process killed on drop", TIMEOUT, POLL, || !pid_alive(pid));
    drop(dir);
}

#[test]
fn failing_check_restarts_services_that_ask_for_it() {
    let fx = process_fixture();
    let client = fx.client();
    let service =
        "services:\n  web: {override: replace, command: /bin/sleep 60, on-check-failure: {up: restart}}\n";
    client.sync(client.add_layer("service", service, false));
    let started = client.wait_change(&client.services_action("start", &["web"]));
    assert_eq!(started["status"], "Done");
    assert_eq!(fx.sim.service_starts("web"), 1);
    // Port 1 on localhost refuses connections: the check fails on every probe.
    let check =
        "checks:\n  up: {override: replace, period: 50ms, threshold: 2, tcp: {host: 127.0.0.1, port: 1}}\n";
    client.sync(client.add_layer("check", check, false));
    eventually("restart after the check went down", TIMEOUT, POLL, || fx.sim.service_starts("web") >= 2);
    assert_eq!(fx.sim.service_stops("web"), 1);
    let check = client.sync(client.get("/v1/checks?names=up"))[0].clone();
    assert_eq!(check["status"], "down");
    let change = client.sync(client.get("/v1/changes?select=all"));
    let perform = change
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["kind"] == "perform-check")
        .expect("perform-check change")
        .clone();
    assert_eq!(perform["status"], "Error");
    assert!(perform["err"].as_str().expect("err").contains("cannot connect to 127.0.0.1:1"), "{perform}");
}
