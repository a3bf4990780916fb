//! Checks (simulated and probed), health, and notices.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use common::Fixture;
use pebble_sim::{CheckMode, ServiceMode};
use serde_json::json;
use test_support::{eventually, POLL, TIMEOUT};

#[test]
fn simulated_checks_follow_their_services() {
    let fx = Fixture::start();
    let client = fx.client();
    let layer = "services:\n  synapse: {override: replace, command: /start.py, on-check-failure: {ready: restart}}\n  other: {override: replace, command: /other}\nchecks:\n  ready: {override: replace, level: ready, threshold: 5, http: {url: 'http://localhost:8008/health'}}\n  alive: {override: replace, level: alive, exec: {command: /bin/true, service-context: other}}\n";
    client.sync(client.add_layer("base", layer, false));
    let checks = client.sync(client.get("/v1/checks"));
    assert_eq!(checks[0]["name"], "alive");
    let mut ready = checks[1].clone();
    let change_id = ready["change-id"].as_str().expect("change id").to_owned();
    ready.as_object_mut().expect("object").remove("change-id");
    assert_eq!(
        ready,
        json!({"name": "ready", "level": "ready", "startup": "enabled", "status": "down", "successes": 0, "failures": 5, "threshold": 5})
    );
    // Down: the perform-check change failed and a recover-check change is running.
    let recover = client.sync(client.get(&format!("/v1/changes/{change_id}")));
    assert_eq!(recover["kind"], "recover-check");
    assert_eq!(recover["status"], "Doing");
    assert_eq!(recover["summary"], r#"Recover HTTP check "ready""#);
    assert_eq!(client.get("/v1/health").status, 502);

    client.wait_change(&client.services_action("start", &["synapse"]));
    let ready = client.sync(client.get("/v1/checks?names=ready"));
    assert_eq!(ready[0]["status"], "up");
    assert!(ready[0].get("failures").is_none());
    let perform = client
        .sync(client.get(&format!("/v1/changes/{}", ready[0]["change-id"].as_str().expect("change id"))));
    assert_eq!((&perform["kind"], &perform["ready"]), (&json!("perform-check"), &json!(false)));
    assert_eq!(client.sync(client.get("/v1/checks?level=alive"))[0]["status"], "down");
    let health = client.get("/v1/health?level=ready&names=ready");
    assert_eq!(health.status, 200);
    assert_eq!(client.sync(health), json!({"healthy": true}));
    let unhealthy = client.get("/v1/health?level=alive");
    assert_eq!(unhealthy.status, 502);
    let body = unhealthy.json();
    assert_eq!((body["type"].as_str(), body["status"].as_str()), (Some("sync"), Some("Bad Gateway")));
    assert_eq!(body["result"], json!({"healthy": false}));

    client.wait_change(&client.services_action("start", &["other"]));
    assert_eq!(client.get("/v1/health").status, 200);
    client.wait_change(&client.services_action("stop", &["synapse"]));
    assert_eq!(client.sync(client.get("/v1/checks?names=ready"))[0]["status"], "down");
}

#[test]
fn checks_start_stop_refresh_and_errors() {
    let fx = Fixture::start();
    let client = fx.client();
    let layer = "services:\n  s: {override: replace, command: /s}\nchecks:\n  c: {override: replace, tcp: {port: 1}}\n  d: {override: replace, startup: disabled, tcp: {port: 1}}\n";
    client.sync(client.add_layer("base", layer, false));
    assert_eq!(client.sync(client.get("/v1/checks?names=d"))[0]["status"], "inactive");
    assert_eq!(client.sync(client.get("/v1/checks?names=d"))[0]["startup"], "disabled");
    let started =
        client.sync(client.post_json("/v1/checks", &json!({"action": "start", "checks": ["c", "d"]})));
    assert_eq!(started, json!({"changed": ["d"]}));
    let stopped = client.sync(client.post_json("/v1/checks", &json!({"action": "stop", "checks": ["c"]})));
    assert_eq!(stopped, json!({"changed": ["c"]}));
    // Nothing to change: Pebble's empty Go slice is `null`, not `[]`.
    let again = client.sync(client.post_json("/v1/checks", &json!({"action": "stop", "checks": ["c"]})));
    assert_eq!(again, json!({"changed": null}));
    let again = client.sync(client.post_json("/v1/checks", &json!({"action": "start", "checks": ["d"]})));
    assert_eq!(again, json!({"changed": null}));
    let c = client.sync(client.get("/v1/checks?names=c"));
    assert_eq!(c[0]["status"], "inactive");
    assert!(c[0].get("change-id").is_none());

    assert_eq!(
        client.error(client.get("/v1/checks?level=deep")),
        (400, r#"level must be "alive" or "ready""#.into(), None)
    );
    assert_eq!(
        client.error(client.post_json("/v1/checks", &json!({"action": "start", "checks": []}))),
        (400, "must specify checks for start action".into(), None)
    );
    assert_eq!(
        client.error(client.post_json("/v1/checks", &json!({"action": "stop", "checks": ["x"]}))),
        (400, r#"cannot stop checks: check "x" does not exist"#.into(), None)
    );
    assert_eq!(
        client.error(client.post_json("/v1/checks/refresh", &json!({"name": "x"}))),
        (404, r#"cannot find check "x""#.into(), None)
    );
    let refreshed = client.sync(client.post_json("/v1/checks/refresh", &json!({"name": "d"})));
    assert_eq!(refreshed["info"]["name"], "d");
    assert_eq!(refreshed["error"], r#"service "s" is not active"#);
}

/// An HTTP server answering every request with the current status code.
fn http_server(status: Arc<AtomicU16>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer);
            let code = status.load(Ordering::SeqCst);
            let _ = stream.write_all(
                format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
            );
        }
    });
    port
}

#[test]
fn process_mode_probes_http_and_tcp_checks() {
    let fx = Fixture::with(|c| c.services = ServiceMode::Process);
    let client = fx.client();
    let status = Arc::new(AtomicU16::new(200));
    let http_port = http_server(Arc::clone(&status));
    let tcp = TcpListener::bind("127.0.0.1:0").expect("bind");
    let tcp_port = tcp.local_addr().expect("addr").port();
    let layer = format!(
        "checks:\n  web: {{override: replace, level: ready, period: 50ms, timeout: 1s, threshold: 2, http: {{url: 'http://127.0.0.1:{http_port}/health'}}}}\n  port: {{override: replace, level: alive, period: 50ms, threshold: 2, tcp: {{host: 127.0.0.1, port: {tcp_port}}}}}\n"
    );
    client.sync(client.add_layer("checks", &layer, false));
    let check = |name: &str| client.sync(client.get(&format!("/v1/checks?names={name}")))[0].clone();
    eventually("http check successes", TIMEOUT, POLL, || {
        check("web")["successes"].as_u64().unwrap_or(0) >= 2
    });
    eventually("tcp check successes", TIMEOUT, POLL, || {
        check("port")["successes"].as_u64().unwrap_or(0) >= 2
    });
    assert_eq!(check("web")["status"], "up");
    assert_eq!(client.get("/v1/health").status, 200);

    status.store(500, Ordering::SeqCst);
    eventually("http check down", TIMEOUT, POLL, || check("web")["status"] == "down");
    assert!(check("web")["failures"].as_u64().unwrap_or(0) >= 2);
    assert_eq!(client.get("/v1/health?level=ready").status, 502);
    assert_eq!(client.get("/v1/health?level=alive").status, 200);

    drop(tcp);
    eventually("tcp check down", TIMEOUT, POLL, || check("port")["status"] == "down");
    status.store(200, Ordering::SeqCst);
    eventually("http check up again", TIMEOUT, POLL, || check("web")["status"] == "up");
    let refreshed = client.sync(client.post_json("/v1/checks/refresh", &json!({"name": "port"})));
    assert!(refreshed["error"].as_str().expect("error").contains("cannot connect"), "{refreshed}");
}

#[test]
fn probing_checks_with_simulated_services_finds_nobody_listening() {
    // As in Pebble, a tcp check on a port nobody listens on goes down, whatever the services
    // say (CheckMode::Auto, the default, would follow the services instead).
    let fx = Fixture::with(|c| c.checks = CheckMode::Probe);
    let client = fx.client();
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let layer = format!(
        "services:\n  web: {{override: replace, command: /web, startup: enabled}}\nchecks:\n  up: {{override: replace, period: 50ms, threshold: 2, tcp: {{host: 127.0.0.1, port: {port}}}}}\n"
    );
    client.sync(client.add_layer("base", &layer, false));
    client.wait_change(&client.services_action("replan", &[]));
    assert_eq!(client.service_current("web"), "active");
    let check = || client.sync(client.get("/v1/checks?names=up"))[0].clone();
    eventually("the check to go down", TIMEOUT, POLL, || check()["status"] == "down");
    assert!(check()["failures"].as_u64().unwrap_or(0) >= 2);
    let refreshed = client.sync(client.post_json("/v1/checks/refresh", &json!({"name": "up"})));
    assert!(refreshed["error"].as_str().expect("error").contains("cannot connect"), "{refreshed}");
}

#[test]
fn default_check_mode_follows_simulated_services_and_probes_processes() {
    // The documented assumption of CheckMode::Auto with simulated services: a check on a port
    // nobody listens on is up while its service is active.
    let fx = Fixture::start();
    let client = fx.client();
    let layer = "services:\n  web: {override: replace, command: /web, startup: enabled}\nchecks:\n  up: {override: replace, period: 50ms, threshold: 1, tcp: {host: 127.0.0.1, port: 1}}\n";
    client.sync(client.add_layer("base", layer, false));
    client.wait_change(&client.services_action("replan", &[]));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(client.sync(client.get("/v1/checks?names=up"))[0]["status"], "up");
}

#[test]
fn every_change_has_a_change_update_notice() {
    let fx = Fixture::start();
    fx.sim.script_exec(pebble_sim::ExecRule::new(["true"]));
    let client = fx.client();
    client.sync(client.add_layer(
        "base",
        "services:\n  s: {override: replace, command: /s, startup: enabled}\n",
        false,
    ));
    let replan = client.services_action("replan", &[]);
    client.wait_change(&replan);
    let exec = client.post_json("/v1/exec", &json!({"command": ["true"], "split-stderr": true}));
    let exec = exec.json()["change"].as_str().expect("change").to_owned();
    let notices = client.sync(client.get("/v1/notices?types=change-update"));
    let by_key = |key: &str| {
        notices.as_array().expect("list").iter().find(|n| n["key"] == key).cloned().expect("notice")
    };
    let replanned = by_key(&replan);
    assert_eq!(replanned["type"], "change-update");
    assert_eq!(replanned["user-id"], serde_json::Value::Null, "public notice");
    assert_eq!(replanned["last-data"], json!({"kind": "replan"}));
    // Created, then doing, then done.
    assert!(replanned["occurrences"].as_u64().expect("occurrences") >= 2, "{replanned}");
    assert_eq!(by_key(&exec)["last-data"], json!({"kind": "exec"}));
    // A custom notice filter does not see them; the notice is found by id too.
    assert_eq!(client.sync(client.get("/v1/notices?types=custom")), json!([]));
    let id = replanned["id"].as_str().expect("id");
    assert_eq!(client.sync(client.get(&format!("/v1/notices/{id}")))["key"], replan.as_str());
}

#[test]
fn notices_add_get_list_and_errors() {
    let fx = common::Api::start();
    let client = fx.client();
    let add = |body: serde_json::Value| client.post_json("/v1/notices", &body);
    let id = client.sync(add(
        json!({"action": "add", "type": "custom", "key": "example.com/backup", "data": {"k": "v"}}),
    ))["id"]
        .clone();
    let again = client.sync(add(json!({"action": "add", "type": "custom", "key": "example.com/backup"})))
        ["id"]
        .clone();
    assert_eq!(id, again);
    let notice = client.sync(client.get(&format!("/v1/notices/{}", id.as_str().expect("id"))));
    assert_eq!(notice["type"], "custom");
    assert_eq!(notice["key"], "example.com/backup");
    assert_eq!(notice["occurrences"], 2);
    assert_eq!(notice["user-id"], 0);
    assert!(notice["first-occurred"].is_string() && notice["last-repeated"].is_string());

    client.sync(add(json!({"action": "add", "type": "custom", "key": "example.com/other"})));
    assert_eq!(client.sync(client.get("/v1/notices")).as_array().expect("list").len(), 2);
    assert_eq!(client.sync(client.get("/v1/notices?keys=example.com/other"))[0]["key"], "example.com/other");
    assert_eq!(client.sync(client.get("/v1/notices?types=warning")), json!([]));
    assert_eq!(
        client.sync(client.get("/v1/notices?types=custom&users=all")).as_array().expect("list").len(),
        2
    );

    assert_eq!(
        client.error(client.get("/v1/notices/99")),
        (404, r#"cannot find notice with ID "99""#.into(), None)
    );
    assert_eq!(
        client.error(add(json!({"action": "add", "type": "custom", "key": "Bad"}))),
        (400, r#"invalid key "Bad" (must be in "example.com/path" format)"#.into(), None)
    );
    assert_eq!(
        client.error(add(json!({"action": "add", "type": "warning", "key": "example.com/x"}))),
        (400, r#"invalid type "warning" (can only add "custom" notices)"#.into(), None)
    );
    assert_eq!(
        client.error(add(json!({"action": "remove"}))),
        (400, r#"invalid action "remove""#.into(), None)
    );
}

#[test]
fn notices_long_poll_until_a_match_or_timeout() {
    let fx = common::Api::start();
    let client = fx.client();
    assert_eq!(client.sync(client.get("/v1/notices?timeout=100ms")), json!([]));
    let waiter = {
        let client = client.clone();
        std::thread::spawn(move || client.sync(client.get("/v1/notices?keys=example.com/late&timeout=30s")))
    };
    // Give the waiter time to be parked in the server. This only makes the long-poll path
    // likely; the assertions hold either way (nothing is observable to poll on instead).
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!waiter.is_finished(), "the waiter must still be waiting");
    client.sync(
        client.post_json(
            "/v1/notices",
            &json!({"action": "add", "type": "custom", "key": "example.com/early"}),
        ),
    );
    client.sync(
        client
            .post_json("/v1/notices", &json!({"action": "add", "type": "custom", "key": "example.com/late"})),
    );
    let found = waiter.join().expect("waiter");
    assert_eq!(found[0]["key"], "example.com/late");
    assert_eq!(found.as_array().expect("list").len(), 1);
}
