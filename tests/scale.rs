//! State in, state out, on the simulated Juju and Pebble: the `redis` relation (a passive
//! redis-k8s publishing a real Redis), nginx's configuration and its check, and what more
//! than one unit gets without PostgreSQL. Scale-out with real workers is in
//! `tests/e2e/scale.rs`.

mod support;

use pebble_sim::ExecRule;
use serde_json::json;
use support::redis::RedisServer;
use support::redis_provider::RedisK8s;
use support::{Harness, APP, NGINX_CHECK, NO_OP_REQUESTS, SERVER_NAME};
use test_support::assert_hooks_succeeded;

const UNIT0: &str = "synapse/0";
const UNIT1: &str = "synapse/1";
const NGINX_CONFIG: &str = "/etc/nginx/synapse-k8s.conf";

fn deployed(units: u32) -> Harness {
    let mut harness = Harness::new();
    assert_hooks_succeeded(&harness.deploy(units, &[("server_name", json!(SERVER_NAME))]));
    harness
}

#[test]
fn a_ready_redis_becomes_homeserver_yaml_redis_and_restarts_synapse_once() {
    let mut harness = deployed(1);
    let server = RedisServer::start();
    let redis = RedisK8s::deploy(&mut harness.sim, 1);
    let (relation, runs) = redis.integrate(&mut harness.sim, APP);
    assert_hooks_succeeded(&runs);
    assert!(harness.homeserver(UNIT0).get("redis").is_none(), "nothing published yet");
    assert_eq!(
        harness.status(UNIT0),
        ("waiting".into(), "Waiting for Redis: redis-k8s/0 has published no address yet".into())
    );
    let starts = harness.pebble(UNIT0).service_starts("synapse");
    assert_hooks_succeeded(&redis.publish(&mut harness.sim, relation, &server));
    assert_eq!(
        harness.homeserver(UNIT0)["redis"],
        json!({"enabled": true, "host": "127.0.0.1", "port": server.port()})
    );
    assert_eq!(harness.status(UNIT0), ("active".into(), String::new()));
    assert_eq!(harness.pebble(UNIT0).service_starts("synapse"), starts + 1, "one restart for the new key");

    // The leader's `leader-host` wins over a unit's `hostname` (which may be a replica).
    assert_hooks_succeeded(&redis.set_unit(
        &mut harness.sim,
        relation,
        "redis-k8s/0",
        &[("hostname", "10.9.9.9")],
    ));
    assert_eq!(harness.homeserver(UNIT0)["redis"]["host"], "127.0.0.1");
    let before = harness.request_count(UNIT0);
    assert_hooks_succeeded(&harness.sim.update_status().unwrap());
    harness.assert_container_untouched(UNIT0, before, 1, NO_OP_REQUESTS);
}

#[test]
fn bad_redis_data_or_a_silent_redis_is_named_and_nothing_is_lost() {
    let mut harness = deployed(1);
    let mut server = RedisServer::start();
    let redis = RedisK8s::deploy(&mut harness.sim, 1);
    let (relation, runs) = redis.integrate(&mut harness.sim, APP);
    assert_hooks_succeeded(&runs);
    assert_hooks_succeeded(&redis.set_unit(
        &mut harness.sim,
        relation,
        "redis-k8s/0",
        &[("hostname", "not a host!"), ("port", "6379")],
    ));
    let (kind, message) = harness.status(UNIT0);
    assert_eq!(kind, "waiting");
    assert_eq!(message, "Waiting for Redis: hostname of redis-k8s/0 is malformed: \"not a host!\"");
    assert!(harness.homeserver(UNIT0).get("redis").is_none(), "no half-done configuration");

    assert_hooks_succeeded(&redis.publish(&mut harness.sim, relation, &server));
    assert_eq!(harness.status(UNIT0).0, "active");
    server.kill();
    assert_hooks_succeeded(&harness.sim.update_status().unwrap());
    let (kind, message) = harness.status(UNIT0);
    assert_eq!(kind, "blocked");
    assert!(
        message.starts_with(&format!("Redis at {} does not answer: ", server.endpoint()))
            && message.ends_with("; check the redis-k8s application"),
        "{message}"
    );
    assert!(harness.homeserver(UNIT0).get("redis").is_some(), "Synapse keeps its configuration and retries");
}

#[test]
fn nginx_is_the_entry_point_and_a_rejected_configuration_keeps_the_running_one() {
    let mut harness = deployed(1);
    let config = harness.read(UNIT0, NGINX_CONFIG);
    assert!(
        config.contains("listen 8080;") && config.contains("proxy_pass http://127.0.0.1:8008;"),
        "{config}"
    );
    let pebble = harness.pebble(UNIT0);
    assert_eq!(pebble.service_starts("synapse-nginx"), 1);
    let checks: Vec<_> =
        pebble.exec_log().into_iter().filter(|record| record.argv[0] == NGINX_CHECK[0]).collect();
    assert_eq!(checks.len(), 1);
    assert_eq!(
        checks[0].argv,
        ["/usr/sbin/nginx", "-t", "-q", "-c", "/etc/nginx/synapse-k8s.conf.candidate"]
    );

    // A second unit without Redis or PostgreSQL: the first unit's nginx is unchanged, the
    // second's sends everything to the first and it runs no Synapse.
    harness.start_pebble(UNIT1);
    pebble_reject_nginx(&harness, UNIT1);
    let (unit, runs) = harness.sim.add_unit(APP).unwrap();
    assert_eq!(unit, UNIT1);
    assert_hooks_succeeded(&runs);
    // Blocked, first for what scale-out lacks; the log names nginx's reason.
    assert_eq!(harness.status(UNIT1).0, "blocked");
    let errors = harness.logs(UNIT1, "ERROR");
    assert!(
        errors.iter().any(|line| line.contains("synapse-nginx rejects its new configuration /etc/nginx/synapse-k8s.conf, the running one is kept: exit code 1: nginx: [emerg] host not found")),
        "{errors:?}"
    );
    assert!(harness.pebble(UNIT1).file_meta(NGINX_CONFIG).is_none(), "the rejected file is not used");
    assert!(harness.pebble(UNIT1).file_meta("/etc/nginx/synapse-k8s.conf.candidate").is_none());
    assert_eq!(harness.pebble(UNIT1).service_starts("synapse"), 0);
    assert_eq!(harness.read(UNIT0, NGINX_CONFIG), config, "the main's nginx is unchanged");

    // Once nginx accepts it, the second unit's nginx starts and sends everything to the main.
    harness.pebble(UNIT1).script_exec(ExecRule::new(NGINX_CHECK));
    assert_hooks_succeeded(&harness.sim.update_status().unwrap());
    let routes = harness.read(UNIT1, NGINX_CONFIG);
    assert!(routes.contains("proxy_pass http://synapse-0.synapse-endpoints:8008;"), "{routes}");
    assert_eq!(harness.pebble(UNIT1).service_starts("synapse-nginx"), 1);
    let (kind, message) = harness.status(UNIT1);
    assert_eq!(kind, "blocked");
    assert!(message.contains("scale-out needs Redis") && message.contains("PostgreSQL"), "{message}");
}

/// Makes `unit`'s nginx check fail as nginx does on a bad file.
fn pebble_reject_nginx(harness: &Harness, unit: &str) {
    harness.pebble(unit).script_exec(
        ExecRule::new(NGINX_CHECK)
            .exit_code(1)
            .stderr("nginx: [emerg] host not found in upstream \"synapse-0.synapse-endpoints:8008\"\n"),
    );
}

#[test]
fn an_nginx_configuration_nginx_rejects_is_named_in_the_status_and_synapse_still_runs() {
    let mut harness = Harness::new();
    harness.start_pebble(UNIT0);
    pebble_reject_nginx(&harness, UNIT0);
    assert_hooks_succeeded(&harness.deploy_without_pebble(1, &[("server_name", json!(SERVER_NAME))]));
    let (kind, message) = harness.status(UNIT0);
    assert_eq!(kind, "blocked");
    assert_eq!(
        message,
        "synapse-nginx rejects its new configuration (the running one is kept): exit code 1: nginx: [emerg] host \
         not found in upstream \"synapse-0.synapse-endpoints:8008\""
    );
    assert_eq!(harness.pebble(UNIT0).service_starts("synapse"), 1, "Synapse runs regardless");
    assert!(harness.pebble(UNIT0).file_meta(NGINX_CONFIG).is_none());
    assert!(harness.pebble(UNIT0).service_state("synapse-nginx").is_none(), "no nginx without its file");
}
