//! Configuration options: their mapping into homeserver.yaml and the layer, invalid values,
//! the immutable server name, and the rule that a hook changing nothing touches nothing.

mod support;

use serde_json::{json, Value};
use support::{
    assert_no_model_writes, assert_no_repeated_calls, Harness, NO_OP_REQUESTS, SERVER_NAME, VALIDATE,
};
use test_support::assert_hooks_succeeded;

const UNIT: &str = "synapse/0";

fn deployed() -> Harness {
    let mut harness = Harness::new();
    assert_hooks_succeeded(&harness.deploy(1, &[("server_name", json!(SERVER_NAME))]));
    assert_eq!(harness.status(UNIT), ("active".into(), String::new()));
    harness
}

/// Runs `juju config` and asserts every hook succeeded.
fn configure(harness: &mut Harness, values: &[(&str, Value)]) {
    assert_hooks_succeeded(&harness.configure(values));
}

/// One row: an option, a value to set, where it lands (a JSON pointer into homeserver.yaml),
/// what is there by default (`Value::Null`: absent) and with the value set.
struct Mapping {
    option: &'static str,
    value: Value,
    pointer: &'static str,
    default: Value,
    expected: Value,
}

fn mappings() -> Vec<Mapping> {
    let row =
        |option, value, pointer, default, expected| Mapping { option, value, pointer, default, expected };
    vec![
        row(
            "public_baseurl",
            json!("https://matrix.example.com"),
            "/public_baseurl",
            json!("https://example.com"),
            json!("https://matrix.example.com"),
        ),
        row(
            "allow_public_rooms_over_federation",
            json!(true),
            "/allow_public_rooms_over_federation",
            json!(false),
            json!(true),
        ),
        row("block_non_admin_invites", json!(true), "/block_non_admin_invites", json!(false), json!(true)),
        row("enable_password_config", json!(false), "/password_config/enabled", json!(true), json!(false)),
        row("enable_room_list_search", json!(false), "/enable_room_list_search", json!(true), json!(false)),
        row(
            "federation_domain_whitelist",
            json!("matrix.org, example.org"),
            "/federation_domain_whitelist",
            Value::Null,
            json!(["matrix.org", "example.org"]),
        ),
        row(
            "ip_range_whitelist",
            json!("10.10.10.0/24,fd00::/8"),
            "/ip_range_whitelist",
            Value::Null,
            json!(["10.10.10.0/24", "fd00::/8"]),
        ),
        row(
            "invite_checker_blocklist_allowlist_url",
            json!("https://example.com/list.json"),
            "/modules",
            Value::Null,
            json!([{"module": "synapse_invite_checker.InviteChecker", "config": {"blocklist_allowlist_url": "https://example.com/list.json"}}]),
        ),
        row(
            "invite_checker_policy_rooms",
            json!("abc:example.com,!def:example.org"),
            "/modules",
            Value::Null,
            json!([{"module": "synapse_invite_checker.InviteChecker", "config": {"policy_room_ids": ["!abc:example.com", "!def:example.org"]}}]),
        ),
        row(
            "limit_remote_rooms_complexity",
            json!(1.5),
            "/limit_remote_rooms",
            Value::Null,
            json!({"enabled": true, "complexity": 1.5}),
        ),
        row("rc_joins_remote_burst_count", json!(3), "/rc_joins/remote/burst_count", json!(10), json!(3)),
        row("rc_joins_remote_per_second", json!(0.5), "/rc_joins/remote/per_second", json!(0.01), json!(0.5)),
        row("report_stats", json!(true), "/report_stats", json!(false), json!(true)),
        row(
            "publish_rooms_allowlist",
            json!("alice:example.com"),
            "/room_list_publication_rules",
            Value::Null,
            json!([
                {"user_id": "@alice:example.com", "alias": "*", "room_id": "*", "action": "allow"},
                {"user_id": "*", "alias": "*", "room_id": "*", "action": "deny"},
            ]),
        ),
        row(
            "trusted_key_servers",
            json!("matrix.org,example.org"),
            "/trusted_key_servers",
            json!([{"server_name": "matrix.org"}]),
            json!([{"server_name": "matrix.org"}, {"server_name": "example.org"}]),
        ),
    ]
}

fn at<'a>(document: &'a Value, pointer: &str) -> &'a Value {
    document.pointer(pointer).unwrap_or(&Value::Null)
}

#[test]
fn every_option_maps_into_homeserver_yaml() {
    let mut harness = deployed();
    let defaults = harness.homeserver(UNIT);
    for mapping in mappings() {
        assert_eq!(at(&defaults, mapping.pointer), &mapping.default, "default of {}", mapping.option);
        configure(&mut harness, &[(mapping.option, mapping.value.clone())]);
        assert_eq!(harness.status(UNIT), ("active".into(), String::new()), "{}", mapping.option);
        let document = harness.homeserver(UNIT);
        assert_eq!(
            at(&document, mapping.pointer),
            &mapping.expected,
            "{} = {}",
            mapping.option,
            mapping.value
        );
        configure(&mut harness, &[(mapping.option, Value::Null)]);
        assert_eq!(harness.homeserver(UNIT), defaults, "resetting {} restores the defaults", mapping.option);
    }
}

#[test]
fn layer_options_map_into_the_plan() {
    let mut harness = Harness::new();
    harness.sim.set_env("JUJU_CHARM_HTTP_PROXY", "http://proxy.internal:3128");
    harness.sim.set_env("JUJU_CHARM_HTTPS_PROXY", "http://proxy.internal:3129");
    harness.deploy(1, &[("server_name", json!(SERVER_NAME))]);
    let plan = harness.plan(UNIT);
    let environment = &plan.services["synapse"].environment;
    assert_eq!(environment.get("SYNAPSE_REPORT_STATS").map(String::as_str), Some("no"));
    for (name, value) in [
        ("HTTP_PROXY", "http://proxy.internal:3128"),
        ("http_proxy", "http://proxy.internal:3128"),
        ("HTTPS_PROXY", "http://proxy.internal:3129"),
        ("https_proxy", "http://proxy.internal:3129"),
    ] {
        assert_eq!(environment.get(name).map(String::as_str), Some(value), "{name}");
    }
    let alive = &plan.checks["synapse-alive"];
    assert_eq!((alive.threshold, alive.tcp.as_ref().and_then(|tcp| tcp.port)), (Some(5), Some(8008)));
    assert_eq!(
        plan.checks["synapse-ready"].http.as_ref().map(|http| http.url.as_str()),
        Some("http://localhost:8008/health")
    );

    configure(
        &mut harness,
        &[("experimental_alive_check", json!("1m,3,10s")), ("report_stats", json!(true))],
    );
    let plan = harness.plan(UNIT);
    let alive = &plan.checks["synapse-alive"];
    assert_eq!(alive.threshold, Some(3));
    // Pebble reports durations in Go's format.
    assert_eq!((alive.period.as_deref(), alive.timeout.as_deref()), (Some("1m0s"), Some("10s")));
    assert_eq!(
        plan.services["synapse"].environment.get("SYNAPSE_REPORT_STATS").map(String::as_str),
        Some("yes")
    );
}

#[test]
fn accepted_options_without_effect_change_nothing_and_say_so() {
    let mut harness = deployed();
    let homeserver = harness.read(UNIT, "/data/homeserver.yaml");
    configure(
        &mut harness,
        &[
            ("enable_mjolnir", json!(true)),
            // Without the smtp relation and without more units, these change nothing either.
            ("notif_from", json!("Matrix <noreply@example.com>")),
            ("workers_ignore_list", json!("worker1,worker2")),
            ("backup_passphrase", json!("correct horse battery staple")),
        ],
    );
    // The passphrase only matters to the backup actions.
    assert_eq!(harness.status(UNIT), ("active".into(), "no effect yet: enable_mjolnir option".into()));
    assert_eq!(harness.read(UNIT, "/data/homeserver.yaml"), homeserver);
    let warnings = harness.logs(UNIT, "WARNING");
    assert!(warnings.iter().any(|line| line.contains("enable_mjolnir")), "no warning about it: {warnings:?}");
    let everything: Vec<String> = harness.sim.logs(UNIT).map(|record| record.message.clone()).collect();
    assert!(everything.iter().all(|line| !line.contains("battery staple")), "the passphrase leaked");

    // E-mail notifications need the smtp relation: the status says which.
    configure(&mut harness, &[("enable_email_notifs", json!(true))]);
    assert_eq!(
        harness.status(UNIT),
        (
            "blocked".into(),
            "enable_email_notifs needs the smtp relation: juju integrate synapse smtp-integrator".into()
        )
    );
    assert_eq!(harness.read(UNIT, "/data/homeserver.yaml"), homeserver);
}

#[test]
fn invalid_values_block_naming_the_options_and_change_nothing() {
    let mut harness = deployed();
    let homeserver = harness.read(UNIT, "/data/homeserver.yaml");
    let digest = harness.applied_digest(UNIT);
    let before = harness.request_count(UNIT);
    configure(
        &mut harness,
        &[
            ("ip_range_whitelist", json!("10.0.0.0/8,not-a-range")),
            ("publish_rooms_allowlist", json!("Alice:example.com")),
            ("experimental_alive_check", json!("2m,5")),
        ],
    );
    assert_eq!(
        harness.status(UNIT),
        (
            "blocked".into(),
            "invalid configuration: ip_range_whitelist: the entry \"not-a-range\" is not an IP address or CIDR range \
             (+2 more, see juju debug-log)"
                .into()
        )
    );
    harness.assert_container_untouched(UNIT, before, 1, NO_OP_REQUESTS);
    let errors = harness.logs(UNIT, "ERROR");
    for option in ["ip_range_whitelist", "experimental_alive_check", "publish_rooms_allowlist"] {
        assert!(
            errors.iter().any(|line| line.starts_with(&format!("invalid configuration: {option}: "))),
            "no reason logged for {option}: {errors:?}"
        );
    }
    assert_eq!(harness.read(UNIT, "/data/homeserver.yaml"), homeserver);
    assert_eq!(harness.applied_digest(UNIT), digest);
    assert_eq!(harness.pebble(UNIT).service_starts("synapse"), 1);

    configure(
        &mut harness,
        &[
            ("ip_range_whitelist", json!("10.0.0.0/8")),
            ("publish_rooms_allowlist", Value::Null),
            ("experimental_alive_check", Value::Null),
        ],
    );
    assert_eq!(harness.status(UNIT), ("active".into(), String::new()));
    assert_eq!(harness.homeserver(UNIT)["ip_range_whitelist"], json!(["10.0.0.0/8"]));
    assert_eq!(harness.pebble(UNIT).service_starts("synapse"), 2);
}

#[test]
fn server_name_cannot_change() {
    let mut harness = deployed();
    let homeserver = harness.read(UNIT, "/data/homeserver.yaml");
    let before = harness.request_count(UNIT);
    configure(&mut harness, &[("server_name", json!("other.example.com"))]);
    assert_eq!(
        harness.status(UNIT),
        ("blocked".into(), "The server_name modification is not allowed, please check the logs".into())
    );
    harness.assert_container_untouched(UNIT, before, 1, NO_OP_REQUESTS);
    assert_eq!(harness.read(UNIT, "/data/homeserver.yaml"), homeserver);
    assert!(harness.pebble(UNIT).file_meta("/data/other.example.com.signing.key").is_none());
    let errors = harness.logs(UNIT, "ERROR");
    assert!(
        errors.iter().any(|line| line.contains("other.example.com") && line.contains(SERVER_NAME)),
        "{errors:?}"
    );
    assert_eq!(harness.app_secret_content()["server-name"], SERVER_NAME);

    configure(&mut harness, &[("server_name", json!(SERVER_NAME))]);
    assert_eq!(harness.status(UNIT), ("active".into(), String::new()));
    assert_eq!(harness.pebble(UNIT).service_starts("synapse"), 1, "reverting restarts nothing");
}

#[test]
fn a_hook_that_changes_nothing_pushes_and_restarts_nothing() {
    let mut harness = deployed();
    let before = harness.request_count(UNIT);
    let marks = harness.status_marks();
    let mut runs = harness.sim.update_status().unwrap();
    runs.extend(harness.configure(&[("server_name", json!(SERVER_NAME))]));
    assert_hooks_succeeded(&runs);
    harness.assert_container_untouched(UNIT, before, 2, NO_OP_REQUESTS);
    assert_eq!(harness.pebble(UNIT).service_starts("synapse"), 1);
    assert_no_model_writes(&runs);
    harness.assert_statuses_kept(&marks);
    assert_no_repeated_calls(&runs);
}

#[test]
fn a_real_change_restarts_synapse_exactly_once() {
    let mut harness = deployed();
    let digest = harness.applied_digest(UNIT);
    configure(&mut harness, &[("block_non_admin_invites", json!(true))]);
    assert_eq!(harness.pebble(UNIT).service_starts("synapse"), 2);
    assert_eq!(harness.pebble(UNIT).service_stops("synapse"), 1);
    assert_ne!(harness.applied_digest(UNIT), digest);
    assert_eq!(harness.homeserver(UNIT)["block_non_admin_invites"], true);
    // Settled: the next hook leaves it alone.
    harness.sim.update_status().unwrap();
    assert_eq!(harness.pebble(UNIT).service_starts("synapse"), 2);
}

#[test]
fn a_rejected_configuration_keeps_the_running_one() {
    let mut harness = deployed();
    let homeserver = harness.read(UNIT, "/data/homeserver.yaml");
    let digest = harness.applied_digest(UNIT);
    // Longer argv prefixes win over the harness's passing rule. The loader's message quotes a
    // secret, which must not reach the log.
    let form_secret = harness.app_secret_content()["form-secret"].clone();
    let check = VALIDATE.iter().chain(&["-c"]).copied();
    harness.pebble(UNIT).script_exec(
        pebble_sim::ExecRule::new(check.clone())
            .exit_code(1)
            .stderr(format!("Error in configuration at 'limit_remote_rooms': boom near {form_secret}\n")),
    );
    configure(&mut harness, &[("limit_remote_rooms_complexity", json!(3.0))]);
    assert_eq!(
        harness.status(UNIT),
        (
            "blocked".into(),
            "Synapse rejects the new configuration, the running one is kept: exit code 1: Error in configuration at \
             'limit_remote_rooms': boom near <redacted>"
                .into()
        )
    );
    assert_eq!(harness.read(UNIT, "/data/homeserver.yaml"), homeserver);
    assert!(harness.pebble(UNIT).file_meta("/data/homeserver.yaml.candidate").is_none());
    assert_eq!(harness.applied_digest(UNIT), digest);
    assert_eq!(harness.pebble(UNIT).service_starts("synapse"), 1);
    let errors = harness.logs(UNIT, "ERROR");
    assert!(
        errors.iter().any(|line| line.contains("limit_remote_rooms': boom near <redacted>")),
        "{errors:?}"
    );
    assert!(errors.iter().all(|line| !line.contains(&form_secret)), "a secret reached the log");

    // Later hooks do not ask the loader again about the same candidate, and write nothing.
    let checks = |harness: &Harness| harness.execs(UNIT, &VALIDATE).len();
    let (checked, before) = (checks(&harness), harness.request_count(UNIT));
    assert_hooks_succeeded(&harness.sim.update_status().unwrap());
    assert_eq!(checks(&harness), checked, "the rejected candidate was checked again");
    assert_eq!(harness.writes_since(UNIT, before), Vec::<String>::new());
    assert_eq!(harness.status(UNIT).0, "blocked", "the status stays");

    // Once Synapse accepts it (a fixed image: a new container, without the record), the
    // next hook applies it.
    harness
        .pebble(UNIT)
        .script_exec(pebble_sim::ExecRule::new(check.chain(["/data/homeserver.yaml.candidate"])));
    harness.pebble(UNIT).restart_container();
    harness.sim.update_status().unwrap();
    assert_eq!(harness.status(UNIT), ("active".into(), String::new()));
    assert_eq!(harness.homeserver(UNIT)["limit_remote_rooms"]["complexity"], 3.0);
    assert_eq!(harness.pebble(UNIT).service_starts("synapse"), 1, "started once in the new container");
}

#[test]
fn additional_homeserver_config_adds_free_keys_and_refuses_managed_ones() {
    let mut harness = deployed();
    configure(
        &mut harness,
        &[(
            "additional_homeserver_config",
            json!("url_preview_enabled: true\nurl_preview_ip_range_blacklist: ['10.0.0.0/8']\nmax_upload_size: 100M\n"),
        )],
    );
    assert_eq!(harness.status(UNIT), ("active".into(), String::new()));
    let homeserver = harness.homeserver(UNIT);
    assert_eq!(homeserver["url_preview_enabled"], true);
    assert_eq!(homeserver["url_preview_ip_range_blacklist"], json!(["10.0.0.0/8"]));
    assert_eq!(homeserver["max_upload_size"], "100M", "the charm's fixed default, overridden");
    let applied = harness.read(UNIT, "/data/homeserver.yaml");

    // Keys the charm manages: refused by name, the running configuration kept whole.
    configure(
        &mut harness,
        &[(
            "additional_homeserver_config",
            json!("database: {name: sqlite3}\nserver_name: other.org\nmax_upload_size: 1G\n"),
        )],
    );
    assert_eq!(
        harness.status(UNIT),
        (
            "blocked".into(),
            "additional_homeserver_config sets keys the charm manages: database, server_name; the running \
             configuration is kept"
                .into()
        )
    );
    assert_eq!(harness.read(UNIT, "/data/homeserver.yaml"), applied);

    // Not YAML, or not a mapping: an invalid option, nothing changed.
    configure(&mut harness, &[("additional_homeserver_config", json!("url_preview_enabled: [true"))]);
    let (kind, message) = harness.status(UNIT);
    assert_eq!(kind, "blocked");
    assert!(
        message.starts_with("invalid configuration: additional_homeserver_config: it is not valid YAML"),
        "{message}"
    );
    configure(&mut harness, &[("additional_homeserver_config", json!("- a list"))]);
    assert!(harness.status(UNIT).1.contains("it is not a YAML mapping"), "{:?}", harness.status(UNIT));
    assert_eq!(harness.read(UNIT, "/data/homeserver.yaml"), applied);
    assert_eq!(harness.pebble(UNIT).service_starts("synapse"), 2, "one restart, for the accepted keys");
}
