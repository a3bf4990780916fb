//! Envelopes, generic errors, system-info, plan and layers, availability. The tests on
//! [`Api`] also run against a real Pebble when `PEBBLE_REAL_BIN` names one.

mod common;

use common::{Api, Fixture};
use serde_json::json;

#[test]
fn system_info_is_a_sync_envelope_with_boot_id() {
    let fx = Api::start();
    let client = fx.client();
    let response = client.get("/v1/system-info");
    assert_eq!(response.header("content-type"), Some("application/json"));
    let result = client.sync(response);
    assert_eq!(result["boot-id"].as_str().expect("boot id").len(), 36);
    assert!(result["version"].as_str().expect("version").starts_with('v'));
    if fx.sim().is_some() {
        // The release whose behaviour is simulated.
        assert_eq!(result["version"], "v1.26.0");
        assert_eq!(result["version"], pebble_sim::PEBBLE_VERSION);
    }
}

#[test]
fn layers_accept_what_pebble_accepts() {
    let fx = Api::start();
    let client = fx.client();
    // Pebble does not check a service's startup value (only "enabled" starts it), lets
    // after/before name services that do not exist, and knows the newer fields.
    let layer = "services:\n  s: {override: replace, command: /bin/s, startup: sometimes, after: [ghost], before: [ghost], on-success: failure-shutdown, on-failure: success-shutdown}\nchecks:\n  c: {override: replace, startup: disabled, tcp: {port: 1}}\n";
    assert_eq!(client.sync(client.add_layer("l", layer, false)), json!(true));
    assert_eq!(client.services()[0]["startup"], "disabled");
    let nothing = client.wait_change(&client.services_action("replan", &[]));
    assert_eq!(nothing["summary"], "Replan - no services");
    let yaml = client.sync(client.get("/v1/plan?format=yaml"));
    assert!(yaml.as_str().expect("yaml").contains("        startup: sometimes\n"), "{yaml}");
}

#[test]
fn plan_yaml_is_written_like_pebble() {
    let fx = Api::start();
    let client = fx.client();
    // Values a YAML 1.1 reader (PyYAML, as ops uses) would take for booleans, numbers or
    // dates are quoted; indentation is 4 spaces; fields come in Pebble's order.
    let layer = r#"
services:
  synapse:
    override: replace
    command: /start.py run [ --flag ]
    startup: enabled
    environment:
      SYNAPSE_REPORT_STATS: "no"
      SYNAPSE_SERVER_NAME: example.com
      SYNAPSE_HTTP_PORT: "8008"
      SYNAPSE_DEBUG: "True"
      SYNAPSE_NOTE: "a: b"
      SYNAPSE_SINCE: "2024-01-01"
      EMPTY: ""
    user-id: 991
    kill-delay: 1m
    backoff-factor: 1.5
    on-check-failure: {synapse-ready: restart}
    after: [other]
  other: {override: replace, command: /other}
checks:
  synapse-ready:
    override: replace
    level: ready
    period: 10s
    threshold: 3
    http: {url: "http://localhost:8008/health"}
log-targets:
  loki:
    override: merge
    type: loki
    location: http://loki:3100/loki/api/v1/push
    services: [all]
    labels: {juju_unit: "synapse/0"}
"#;
    client.sync(client.add_layer("base", layer, false));
    let yaml = client.sync(client.get("/v1/plan?format=yaml"));
    let expected = r#"services:
    other:
        override: replace
        command: /other
    synapse:
        startup: enabled
        override: replace
        command: /start.py run [ --flag ]
        after:
            - other
        environment:
            EMPTY: ""
            SYNAPSE_DEBUG: "True"
            SYNAPSE_HTTP_PORT: "8008"
            SYNAPSE_NOTE: 'a: b'
            SYNAPSE_REPORT_STATS: "no"
            SYNAPSE_SERVER_NAME: example.com
            SYNAPSE_SINCE: "2024-01-01"
        user-id: 991
        on-check-failure:
            synapse-ready: restart
        backoff-factor: 1.5
        kill-delay: 1m0s
checks:
    synapse-ready:
        override: replace
        level: ready
        period: 10s
        threshold: 3
        http:
            url: http://localhost:8008/health
log-targets:
    loki:
        type: loki
        location: http://loki:3100/loki/api/v1/push
        services:
            - all
        override: merge
        labels:
            juju_unit: synapse/0
"#;
    assert_eq!(yaml.as_str().expect("yaml"), expected);
}

#[test]
fn unknown_endpoints_and_methods_get_generic_errors() {
    let fx = Api::start();
    let client = fx.client();
    assert_eq!(client.error(client.get("/v1/nope")), (404, "invalid API endpoint requested".into(), None));
    let put = client.raw("PUT", "/v1/system-info", &[], b"").expect("request");
    assert_eq!(client.error(put), (405, r#"method "PUT" not allowed"#.into(), None));
    let bad =
        client.raw("POST", "/v1/layers", &[("Content-Type", "application/json")], b"{nope").expect("request");
    let (status, message, _) = client.error(bad);
    assert_eq!(status, 400);
    assert!(message.starts_with("cannot decode request body: "), "{message}");
    let bad =
        client.raw("POST", "/v1/services", &[("Content-Type", "application/json")], b"[").expect("request");
    let (_, message, _) = client.error(bad);
    assert!(message.starts_with("cannot decode data from request body: "), "{message}");
}

#[test]
fn plan_requires_yaml_format_and_starts_empty() {
    let fx = Api::start();
    let client = fx.client();
    assert_eq!(
        client.error(client.get("/v1/plan?format=json")),
        (400, r#"invalid format "json""#.into(), None)
    );
    assert_eq!(client.sync(client.get("/v1/plan?format=yaml")), json!("{}\n"));
}

#[test]
fn layer_errors_match_pebble() {
    let fx = Api::start();
    let client = fx.client();
    let ok = "services:\n  s: {override: replace, command: /bin/s}\n";
    let cases = [
        (
            json!({"action": "remove", "label": "l", "format": "yaml", "layer": ok}),
            r#"invalid action "remove""#,
        ),
        (json!({"action": "add", "label": "", "format": "yaml", "layer": ok}), "label must be set"),
        (json!({"action": "add", "label": "l", "format": "json", "layer": ok}), r#"invalid format "json""#),
        (
            json!({"action": "add", "label": "pebble-x", "format": "yaml", "layer": ok}),
            r#"cannot parse layer YAML: cannot use reserved label prefix "pebble-""#,
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "services:\n  s: {command: x}\n"}),
            r#"layer "l" must define "override" for service "s""#,
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "services:\n  s: {override: bad, command: x}\n"}),
            r#"layer "l" has invalid "override" value for service "s""#,
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "services:\n  s: {override: replace}\n"}),
            r#"plan must define "command" for service "s""#,
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "checks:\n  c: {override: replace, level: deep, tcp: {port: 1}}\n"}),
            r#"cannot parse layer YAML: plan check "c" level must be "alive" or "ready""#,
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "checks:\n  c: {override: replace, startup: later, tcp: {port: 1}}\n"}),
            r#"cannot parse layer YAML: plan check "c" startup must be "enabled" or "disabled""#,
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "services:\n  s: {override: replace, command: x, on-success: success-shutdown}\n"}),
            r#"cannot parse layer YAML: plan service "s" on-success action "success-shutdown" invalid"#,
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "services:\n  s: {override: replace, command: x, on-check-failure: {c: reboot}}\n"}),
            r#"cannot parse layer YAML: plan service "s" on-check-failure action "reboot" invalid"#,
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "services:\n  s: {override: replace, command: x, backoff-factor: 0.5}\n"}),
            r#"cannot parse layer YAML: plan service "s" backoff-factor must be 1.0 or greater, not 0.5"#,
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "services:\n  s: {override: replace, command: 'x ] y'}\n"}),
            r#"cannot parse layer YAML: plan service "s" command invalid: cannot parse service "s" command: cannot have ] outside of [ ... ] group"#,
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "checks:\n  c: {override: replace, tcp: {}}\n"}),
            r#"plan must set "port" for tcp check "c""#,
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "checks:\n  c: {override: replace, exec: {command: x, service-context: nope}}\n"}),
            r#"plan check "c" service context specifies non-existent service "nope""#,
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "log-targets:\n  t: {override: replace, type: splunk, location: 'http://x'}\n"}),
            r#"cannot parse layer YAML: log target "t" has unsupported type "splunk", must be "loki" or "opentelemetry""#,
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "log-targets:\n  t: {override: replace, type: loki, location: 'http://x', labels: {pebble_x: y}}\n"}),
            r#"cannot parse layer YAML: log target "t": label "pebble_x" uses reserved prefix "pebble_""#,
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "log-targets:\n  t: {type: loki, location: 'http://x'}\n"}),
            r#"layer "l" must define "override" for log target "t""#,
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "log-targets:\n  t: {override: replace, location: 'http://x'}\n"}),
            r#"plan must define "type" ("loki" or "opentelemetry") for log target "t""#,
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "log-targets:\n  t: {override: replace, type: loki}\n"}),
            r#"plan must define "location" for log target "t""#,
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "log-targets:\n  t: {override: replace, type: loki, location: 'http://x', services: [-nope]}\n"}),
            r#"log target "t" specifies unknown service "nope""#,
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "checks:\n  c: {override: replace}\n"}),
            r#"plan must specify one of "http", "tcp", or "exec" for check "c""#,
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "services:\n  a: {override: replace, command: a, after: [b]}\n  b: {override: replace, command: b, after: [a]}\n"}),
            "services in before/after loop: a, b",
        ),
        (
            json!({"action": "add", "label": "l", "format": "yaml", "layer": "services:\n  a: {override: replace, command: a, requires: [x]}\n"}),
            r#"service "x" does not exist"#,
        ),
    ];
    for (body, expected) in cases {
        let (status, message, kind) = client.error(client.post_json("/v1/layers", &body));
        assert_eq!((status, message.as_str(), kind), (400, expected, None), "{body}");
    }
    let (_, message, _) = client.error(client.add_layer("l", "services: [", false));
    assert!(message.starts_with(r#"cannot parse layer YAML: cannot parse layer "l": "#), "{message}");
    let (_, message, _) = client.error(client.add_layer(
        "l",
        "services:\n  s: {override: replace, command: x, bogus: 1}\n",
        false,
    ));
    assert!(message.starts_with(r#"cannot parse layer YAML: cannot parse layer "l""#), "{message}");
    assert!(message.contains("bogus"), "{message}");
    // Nothing of the failed layers got in.
    assert_eq!(client.sync(client.get("/v1/plan?format=yaml")), json!("{}\n"));
}

#[test]
fn layers_append_combine_and_merge_into_the_plan() {
    let fx = Api::start();
    let client = fx.client();
    let base = "summary: base\nservices:\n  synapse:\n    override: replace\n    command: /start.py\n    startup: enabled\n    environment: {A: '1', B: '2'}\n    after: [other]\n  other: {override: replace, command: /other}\nchecks:\n  ready: {override: replace, level: ready, http: {url: 'http://localhost:8008/health'}}\n";
    assert_eq!(client.sync(client.add_layer("base", base, false)), json!(true));
    let (status, message, _) = client.error(client.add_layer("base", base, false));
    assert_eq!((status, message.as_str()), (400, r#"layer "base" already exists"#));

    let top = "services:\n  synapse:\n    override: merge\n    command: /start.py run\n    environment: {B: '3', C: '4'}\n    after: [third]\n  third: {override: replace, command: /third}\n";
    client.sync(client.add_layer("top", top, false));
    let combined = "services:\n  other: {override: merge, environment: {X: 'y'}}\n";
    client.sync(client.add_layer("top", combined, true));

    let yaml = client.sync(client.get("/v1/plan?format=yaml"));
    let plan: serde_json::Value =
        serde_norway::from_str(yaml.as_str().expect("yaml text")).expect("plan YAML");
    let synapse = &plan["services"]["synapse"];
    assert_eq!(synapse["command"], "/start.py run");
    assert_eq!(synapse["startup"], "enabled");
    assert_eq!(synapse["environment"], json!({"A": "1", "B": "3", "C": "4"}));
    assert_eq!(synapse["after"], json!(["other", "third"]));
    assert_eq!(plan["services"]["other"]["environment"], json!({"X": "y"}));
    assert_eq!(plan["services"]["other"]["command"], "/other");
    assert_eq!(plan["checks"]["ready"]["level"], "ready");
    assert!(plan.get("summary").is_none());

    // override: replace drops everything the lower layers had.
    client.sync(client.add_layer(
        "last",
        "services:\n  synapse: {override: replace, command: /new}\n",
        false,
    ));
    let yaml = client.sync(client.get("/v1/plan?format=yaml"));
    let plan: serde_json::Value =
        serde_norway::from_str(yaml.as_str().expect("yaml text")).expect("plan YAML");
    assert_eq!(plan["services"]["synapse"], json!({"override": "replace", "command": "/new"}));
}

#[test]
fn requests_are_recorded_and_served_by_the_sim_endpoint() {
    let fx = Fixture::start();
    let client = fx.client();
    client.get("/v1/system-info");
    client.get("/v1/nope?x=1");
    let records = fx.sim.requests();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].method, "GET");
    assert_eq!(records[0].path, "/v1/system-info");
    assert_eq!(records[0].status, 200);
    assert_eq!(records[1].path, "/v1/nope?x=1");
    assert_eq!(records[1].status, 404);
    let listed = client.sync(client.get("/v1/x-sim/requests"));
    assert_eq!(listed[1], json!({"method": "GET", "path": "/v1/nope?x=1", "status": 404}));
    assert_eq!(listed.as_array().expect("list").len(), 2);
}

#[test]
fn unavailable_socket_refuses_and_comes_back_with_state() {
    let fx = Fixture::start();
    let client = fx.client();
    client.sync(client.add_layer("l", "services:\n  s: {override: replace, command: /s}\n", false));
    fx.sim.set_available(false).expect("goes down");
    assert!(!fx.sim.socket().exists());
    assert!(client.raw("GET", "/v1/system-info", &[], b"").is_err());
    fx.sim.set_available(true).expect("comes back");
    let yaml = client.sync(client.get("/v1/plan?format=yaml"));
    assert!(yaml.as_str().expect("yaml").contains("/s"));
}

#[test]
fn restart_container_forgets_plan_and_changes_and_tmp_but_keeps_other_files() {
    let fx = Fixture::start();
    let client = fx.client();
    let boot_before = client.sync(client.get("/v1/system-info"))["boot-id"].clone();
    client.sync(client.add_layer(
        "l",
        "services:\n  s: {override: replace, command: /s, startup: enabled}\n",
        false,
    ));
    let change = client.services_action("replan", &[]);
    client.wait_change(&change);
    std::fs::write(fx.root().join("kept"), b"x").expect("write");
    std::fs::create_dir_all(fx.root().join("tmp/dir")).expect("mkdir");
    std::fs::write(fx.root().join("tmp/record"), b"x").expect("write");
    fx.sim.restart_container();
    assert_eq!(client.sync(client.get("/v1/plan?format=yaml")), json!("{}\n"));
    assert_eq!(client.sync(client.get("/v1/services")), json!([]));
    let (status, _, _) = client.error(client.get(&format!("/v1/changes/{change}")));
    assert_eq!(status, 404);
    assert_ne!(client.sync(client.get("/v1/system-info"))["boot-id"], boot_before);
    assert!(fx.root().join("kept").exists());
    let tmp: Vec<_> = std::fs::read_dir(fx.root().join("tmp")).expect("/tmp stays a directory").collect();
    assert!(tmp.is_empty(), "a new container starts with an empty /tmp: {tmp:?}");
}

#[test]
fn stop_removes_the_socket_and_drop_is_clean() {
    let fx = Fixture::start();
    let socket = fx.sim.socket().to_path_buf();
    assert!(socket.exists());
    fx.sim.stop();
    assert!(!socket.exists());
}

#[test]
fn start_rejects_a_missing_root() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = pebble_sim::SimConfig::new(dir.path().join("s.sock"), dir.path().join("missing"));
    let error = pebble_sim::PebbleSim::start(config).expect_err("must fail");
    assert!(matches!(error, pebble_sim::SimError::RootNotADirectory { .. }));
}
