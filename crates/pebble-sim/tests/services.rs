//! Services (simulated mode), changes and signals.

mod common;

use common::Fixture;
use pebble_sim::{ServiceMode, ServiceStatus};
use serde_json::json;

const LAYER: &str = "services:\n  synapse: {override: replace, command: '/start.py run', startup: enabled}\n  worker: {override: replace, command: /worker, startup: disabled}\n";

#[test]
fn start_stop_restart_are_async_changes() {
    let fx = Fixture::start();
    let client = fx.client();
    client.sync(client.add_layer("base", LAYER, false));
    let listed = client.services();
    assert_eq!(listed[0]["name"], "synapse");
    assert_eq!(listed[0]["startup"], "enabled");
    assert_eq!(listed[0]["current"], "inactive");
    assert_eq!(listed[1]["startup"], "disabled");

    let change = client.services_action("start", &["worker"]);
    let done = client.wait_change(&change);
    assert_eq!(done["status"], "Done");
    assert_eq!(done["ready"], true);
    assert_eq!(done["kind"], "start");
    assert_eq!(done["summary"], r#"Start service "worker""#);
    assert!(done.get("err").is_none());
    assert_eq!(done["tasks"][0]["kind"], "start");
    assert_eq!(done["tasks"][0]["status"], "Done");
    assert_eq!(done["tasks"][0]["progress"], json!({"label": "", "done": 1, "total": 1}));
    assert!(done["spawn-time"].is_string() && done["ready-time"].is_string());
    assert_eq!(client.service_current("worker"), "active");
    assert!(client.services()[1]["current-since"].is_string());
    assert_eq!(fx.sim.service_state("worker"), Some(ServiceStatus::Active));

    // Starting a running service is a no-op.
    client.wait_change(&client.services_action("start", &["worker"]));
    assert_eq!(fx.sim.service_starts("worker"), 1);

    client.wait_change(&client.services_action("restart", &["worker"]));
    assert_eq!(fx.sim.service_starts("worker"), 2);
    assert_eq!(fx.sim.service_stops("worker"), 1);

    let stopped = client.wait_change(&client.services_action("stop", &["worker"]));
    assert_eq!(stopped["summary"], r#"Stop service "worker""#);
    assert_eq!(client.service_current("worker"), "inactive");
    assert_eq!(fx.sim.service_state("nope"), None);
}

#[test]
fn services_action_errors_match_pebble() {
    let fx = common::Api::start();
    let client = fx.client();
    let cases = [
        (json!({"action": "start", "services": []}), "must specify services for start action", None),
        (json!({"action": "stop"}), "must specify services for stop action", None),
        (json!({"action": "replan", "services": ["a"]}), "replan accepts no service names", None),
        (json!({"action": "dance", "services": ["a"]}), r#"invalid action "dance""#, None),
        (
            json!({"action": "start", "services": ["x"]}),
            r#"cannot start services: service "x" does not exist"#,
            None,
        ),
        (
            json!({"action": "stop", "services": ["x"]}),
            r#"cannot stop services: service "x" does not exist"#,
            None,
        ),
        (json!({"action": "autostart"}), "no default services", Some("no-default-services".to_owned())),
    ];
    for (body, message, kind) in cases {
        let got = client.error(client.post_json("/v1/services", &body));
        assert_eq!(got, (400, message.to_owned(), kind), "{body}");
    }
}

#[test]
fn replan_restarts_only_changed_services_and_stops_disabled_ones() {
    let fx = Fixture::start();
    let client = fx.client();
    client.sync(client.add_layer("base", LAYER, false));
    let first = client.wait_change(&client.services_action("replan", &[]));
    assert_eq!(first["kind"], "replan");
    assert_eq!(first["summary"], r#"Replan service "synapse""#);
    assert_eq!(fx.sim.service_starts("synapse"), 1);
    assert_eq!(client.service_current("synapse"), "active");
    assert_eq!(client.service_current("worker"), "inactive");

    // Unchanged plan: no restart.
    client.wait_change(&client.services_action("replan", &[]));
    client.sync(client.add_layer(
        "same",
        "services:\n  synapse: {override: merge, command: '/start.py run'}\n",
        false,
    ));
    client.wait_change(&client.services_action("replan", &[]));
    assert_eq!(fx.sim.service_starts("synapse"), 1);
    assert_eq!(fx.sim.service_stops("synapse"), 0);

    // Changed environment: exactly one restart.
    client.sync(client.add_layer(
        "env",
        "services:\n  synapse: {override: merge, environment: {K: v}}\n",
        false,
    ));
    client.wait_change(&client.services_action("replan", &[]));
    assert_eq!(fx.sim.service_starts("synapse"), 2);
    assert_eq!(fx.sim.service_stops("synapse"), 1);
    client.wait_change(&client.services_action("replan", &[]));
    assert_eq!(fx.sim.service_starts("synapse"), 2);

    // No longer enabled: stopped, not restarted.
    client.sync(client.add_layer(
        "off",
        "services:\n  synapse: {override: merge, startup: disabled}\n",
        false,
    ));
    client.wait_change(&client.services_action("replan", &[]));
    assert_eq!(client.service_current("synapse"), "inactive");
    assert_eq!(fx.sim.service_starts("synapse"), 2);
    let nothing = client.wait_change(&client.services_action("replan", &[]));
    assert_eq!(nothing["summary"], "Replan - no services");
    assert_eq!(nothing["status"], "Done");
}

#[test]
fn autostart_starts_enabled_services_in_dependency_order() {
    let fx = Fixture::start();
    let client = fx.client();
    let layer = "services:\n  web: {override: replace, command: /web, startup: enabled, requires: [db], after: [db]}\n  db: {override: replace, command: /db}\n";
    client.sync(client.add_layer("base", layer, false));
    let change = client.wait_change(&client.services_action("autostart", &[]));
    let summaries: Vec<&str> = change["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["summary"].as_str().expect("summary"))
        .collect();
    assert_eq!(summaries, [r#"Start service "db""#, r#"Start service "web""#]);
    assert_eq!(client.service_current("db"), "active");
}

#[test]
fn failing_start_reports_exited_quickly_and_backoff() {
    let fx = Fixture::with(|config| {
        config.services = ServiceMode::Simulated { failing_commands: vec!["/start.py".into()] };
    });
    let client = fx.client();
    client.sync(client.add_layer("base", LAYER, false));
    let change = client.wait_change(&client.services_action("replan", &[]));
    assert_eq!(change["status"], "Error");
    assert_eq!(
        change["err"],
        "cannot perform the following tasks:\n- Start service \"synapse\" (service start attempt: exited quickly with code 1, will restart)"
    );
    assert_eq!(change["tasks"][0]["status"], "Error");
    assert!(change["tasks"][0]["log"][0].as_str().expect("log").contains("ERROR service start attempt"));
    assert_eq!(client.service_current("synapse"), "backoff");

    fx.sim.set_start_failure("/start.py", false);
    client.wait_change(&client.services_action("restart", &["synapse"]));
    assert_eq!(client.service_current("synapse"), "active");
}

#[test]
fn changes_list_get_wait_timeout_and_abort() {
    let fx = Fixture::start();
    let client = fx.client();
    client.sync(client.add_layer("base", LAYER, false));
    let id = client.services_action("start", &["synapse"]);
    client.wait_change(&id);
    let got = client.sync(client.get(&format!("/v1/changes/{id}")));
    assert_eq!(got["id"], id.as_str());
    assert_eq!(client.sync(client.get("/v1/changes")), json!([]));
    let all = client.sync(client.get("/v1/changes?select=all"));
    assert_eq!(all.as_array().expect("list").len(), 1);
    assert_eq!(client.sync(client.get("/v1/changes?select=ready&for=synapse"))[0]["id"], id.as_str());
    assert_eq!(client.sync(client.get("/v1/changes?select=all&for=worker")), json!([]));
    assert_eq!(
        client.error(client.get("/v1/changes?select=some")),
        (400, "select should be one of: all,in-progress,ready".into(), None)
    );
    assert_eq!(
        client.error(client.get("/v1/changes/999")),
        (404, r#"cannot find change with id "999""#.into(), None)
    );
    assert_eq!(client.error(client.get("/v1/changes/999/wait")).0, 404);
    assert_eq!(
        client.error(client.post_json(&format!("/v1/changes/{id}"), &json!({"action": "abort"}))),
        (400, format!("cannot abort change {id} with nothing pending"), None)
    );

    // An exec waiting for its websockets stays pending: wait times out with 504, abort works.
    fx.sim.script_exec(pebble_sim::ExecRule::new(["true"]));
    let exec = client.post_json("/v1/exec", &json!({"command": ["true"], "split-stderr": true}));
    let pending = exec.json()["change"].as_str().expect("change").to_owned();
    let timed_out = client.get(&format!("/v1/changes/{pending}/wait?timeout=0.200s"));
    assert_eq!(timed_out.status, 504);
    assert_eq!(client.error(timed_out), (504, "timed out waiting for change after 200ms".into(), None));
    assert_eq!(client.sync(client.get("/v1/changes"))[0]["id"], pending.as_str());
    let (status, message, _) = client.error(client.get(&format!("/v1/changes/{pending}/wait?timeout=soon")));
    assert_eq!(status, 400);
    assert!(message.starts_with("invalid timeout: "), "{message}");
    client.sync(client.post_json(&format!("/v1/changes/{pending}"), &json!({"action": "abort"})));
    let aborted = client.wait_change(&pending);
    assert_eq!(aborted["ready"], true);
    assert_eq!(aborted["status"], "Undone");
}

#[test]
fn signals_need_services_and_running_ones() {
    let fx = Fixture::start();
    let client = fx.client();
    client.sync(client.add_layer("base", LAYER, false));
    assert_eq!(
        client.error(client.post_json("/v1/signals", &json!({"signal": "SIGHUP", "services": []}))),
        (400, "must specify one or more services".into(), None)
    );
    // Pebble answers 500 with every service's error, joined with "; ".
    let (status, message, _) = client.error(
        client.post_json("/v1/signals", &json!({"signal": "SIGHUP", "services": ["synapse", "worker"]})),
    );
    assert_eq!(
        (status, message.as_str()),
        (
            500,
            r#"cannot send signal to "synapse": service is not running; cannot send signal to "worker": service is not running"#
        )
    );
    client.wait_change(&client.services_action("start", &["synapse"]));
    let result =
        client.sync(client.post_json("/v1/signals", &json!({"signal": "SIGHUP", "services": ["synapse"]})));
    assert_eq!(result, json!(true));
    // Names as Go's unix.SignalNum knows them: "SIG" and upper case.
    for bad in ["HUP", "sighup", "SIGNOPE"] {
        let (status, message, _) =
            client.error(client.post_json("/v1/signals", &json!({"signal": bad, "services": ["synapse"]})));
        assert_eq!(
            (status, message),
            (500, format!(r#"cannot send signal to "synapse": invalid signal name {bad:?}"#))
        );
    }
}

/// One raw HTTP request on its own connection: what came back (empty when the connection
/// was dropped without an answer).
fn raw_request(socket: &std::path::Path, request: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).expect("connect");
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn an_injected_drop_handles_the_request_then_closes_its_connection_unanswered() {
    let fx = Fixture::start();
    let client = fx.client();
    fx.sim.drop_connection_at_request(2);
    let layer = format!(
        "POST /v1/layers HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        LAYER_JSON.len(),
        LAYER_JSON
    );
    let info = "GET /v1/system-info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert!(raw_request(fx.sim.socket(), info).starts_with("HTTP/1.1 200"), "request 1 is answered");
    assert!(fx.sim.connection_drop_pending());
    assert_eq!(raw_request(fx.sim.socket(), &layer), "", "request 2 is dropped unanswered");
    assert!(!fx.sim.connection_drop_pending());
    assert_eq!(client.services()[0]["name"], "synapse", "what it asked for was done");
    assert!(raw_request(fx.sim.socket(), info).starts_with("HTTP/1.1 200"), "later requests are answered");
}

const LAYER_JSON: &str = r#"{"action": "add", "label": "base", "format": "yaml", "layer": "services:\n  synapse:\n    override: replace\n    command: /bin/sleep 60\n"}"#;
