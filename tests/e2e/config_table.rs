//! Every configuration option, in combinations chosen to trip YAML 1.1 readers (`on`, `no`,
//! `null`, `0012`, `1e3`, `12:30`, `2024-01-01`, `1:2:3:4:5:6:7:8`), rendered by the charm:
//! Synapse's own configuration loader (`python3 -m synapse.config`, which the charm runs
//! through Pebble) accepts each homeserver.yaml, and real PyYAML reads back exactly the
//! intended values and types.

use serde_json::{json, Value};

use crate::model::{load_with_pyyaml, E2e, Services};

const UNIT: &str = "synapse/0";

/// One combination: the options, what homeserver.yaml must hold (a subset, compared with
/// types), the keys it must not have, and the Synapse service's environment and alive check
/// (period, threshold, timeout, as Pebble's plan writes them).
struct Case {
    name: &'static str,
    options: Value,
    expected: Value,
    absent: &'static [&'static str],
    report_stats: &'static str,
    alive_check: (&'static str, u32, &'static str),
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "defaults",
            options: json!({"server_name": "example.com"}),
            expected: json!({
                "server_name": "example.com",
                "public_baseurl": "https://example.com",
                "signing_key_path": "/data/example.com.signing.key",
                "allow_public_rooms_over_federation": false,
                "block_non_admin_invites": false,
                "enable_room_list_search": true,
                "password_config": {"enabled": true},
                "report_stats": false,
                "rc_joins": {"remote": {"per_second": 0.01, "burst_count": 10}},
                "trusted_key_servers": [{"server_name": "matrix.org"}],
            }),
            absent: &[
                "federation_domain_whitelist",
                "ip_range_whitelist",
                "limit_remote_rooms",
                "room_list_publication_rules",
                "modules",
                "email",
            ],
            report_stats: "no",
            alive_check: ("2m0s", 5, "20s"),
        },
        Case {
            name: "every option set, with YAML 1.1 look-alikes",
            options: json!({
                "server_name": "on",
                "public_baseurl": "https://yes:8448/no/",
                "allow_public_rooms_over_federation": true,
                "block_non_admin_invites": true,
                "enable_room_list_search": false,
                "enable_password_config": false,
                "report_stats": true,
                "federation_domain_whitelist": "yes, off,null,true,1e3,0x1f,012,2024-01-01,12:30",
                "ip_range_whitelist": "1:2:3:4:5:6:7:8,10.0.0.0/8,::1",
                "trusted_key_servers": "yes.no,on.off",
                "publish_rooms_allowlist": "yes:on,@null:no",
                "limit_remote_rooms_complexity": 0.5,
                "rc_joins_remote_per_second": 1.5,
                "rc_joins_remote_burst_count": 0,
                "experimental_alive_check": "1m,3,10s",
                "backup_passphrase": "yes",
                "enable_mjolnir": true,
                // Synapse's YAML 1.1 reader gives the operator's keys their meaning.
                "additional_homeserver_config": "enable_search: no\nmax_upload_size: 100M\nrequire_auth_for_profile_requests: yes\n",
                "notif_from": "no@on.example",
                "workers_ignore_list": "worker1,worker2",
            }),
            expected: json!({
                "server_name": "on",
                "public_baseurl": "https://yes:8448/no/",
                "signing_key_path": "/data/on.signing.key",
                "allow_public_rooms_over_federation": true,
                "block_non_admin_invites": true,
                "enable_room_list_search": false,
                "password_config": {"enabled": false},
                "report_stats": true,
                "federation_domain_whitelist":
                    ["yes", "off", "null", "true", "1e3", "0x1f", "012", "2024-01-01", "12:30"],
                "ip_range_whitelist": ["1:2:3:4:5:6:7:8", "10.0.0.0/8", "::1"],
                "trusted_key_servers": [{"server_name": "yes.no"}, {"server_name": "on.off"}],
                "room_list_publication_rules": [
                    {"user_id": "@yes:on", "alias": "*", "room_id": "*", "action": "allow"},
                    {"user_id": "@null:no", "alias": "*", "room_id": "*", "action": "allow"},
                    {"user_id": "*", "alias": "*", "room_id": "*", "action": "deny"},
                ],
                "limit_remote_rooms": {"enabled": true, "complexity": 0.5},
                "rc_joins": {"remote": {"per_second": 1.5, "burst_count": 0}},
                "enable_search": false,
                "max_upload_size": "100M",
                "require_auth_for_profile_requests": true,
            }),
            // E-mail needs the smtp integration, Mjolnir and workers are not run, the backup
            // passphrase is for backup actions: none of them reaches homeserver.yaml.
            absent: &["email", "modules", "backup_passphrase", "notif_from", "instance_map"],
            report_stats: "yes",
            alive_check: ("1m0s", 3, "10s"),
        },
        Case {
            name: "a server name YAML 1.1 reads as an octal number",
            options: json!({"server_name": "0012", "rc_joins_remote_per_second": 0, "limit_remote_rooms_complexity": 1e3}),
            expected: json!({
                "server_name": "0012",
                "public_baseurl": "https://0012",
                "signing_key_path": "/data/0012.signing.key",
                "rc_joins": {"remote": {"per_second": 0.0, "burst_count": 10}},
                "limit_remote_rooms": {"enabled": true, "complexity": 1000.0},
            }),
            absent: &["federation_domain_whitelist"],
            report_stats: "no",
            alive_check: ("2m0s", 5, "20s"),
        },
    ]
}

#[test]
fn synapse_loads_every_rendered_configuration_with_the_intended_values() {
    for case in cases() {
        let mut e2e = E2e::new();
        let options: Vec<(&str, Value)> =
            case.options.as_object().expect("options").iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        e2e.deploy(&[Services::Simulated], &options);
        // Active; options accepted without effect yet are named in the message.
        let (kind, message) = e2e.harness.status(UNIT);
        assert!(
            kind == "active" && (message.is_empty() || message.starts_with("no effect yet: ")),
            "{}: Synapse's loader rejected the configuration ({kind}: {message}):\n{}",
            case.name,
            e2e.charm_problems(UNIT)
        );
        let checks = e2e
            .pebble(UNIT)
            .exec_log()
            .iter()
            .filter(|exec| exec.argv.starts_with(&["python3".into(), "-m".into(), "synapse.config".into()]))
            .count();
        assert!(checks >= 1, "{}: the configuration was not checked", case.name);

        let document = load_with_pyyaml(&e2e.container_path(UNIT, "/data/homeserver.yaml"));
        for (key, value) in case.expected.as_object().expect("expected values") {
            assert_eq!(&document[key], value, "{}: {key} as PyYAML reads it", case.name);
        }
        for key in case.absent {
            assert!(document.get(key).is_none(), "{}: {key} rendered: {}", case.name, document[key]);
        }
        let plan = e2e.pebble_client(UNIT).plan().expect("the plan");
        let environment = &plan.services["synapse"].environment;
        assert_eq!(environment["SYNAPSE_REPORT_STATS"], case.report_stats, "{}", case.name);
        assert_eq!(
            environment["SYNAPSE_SERVER_NAME"],
            case.expected["server_name"].as_str().unwrap_or_default()
        );
        let alive = &plan.checks["synapse-alive"];
        assert_eq!(
            (alive.period.as_deref(), alive.threshold, alive.timeout.as_deref()),
            (Some(case.alive_check.0), Some(case.alive_check.1), Some(case.alive_check.2)),
            "{}",
            case.name
        );
    }
}

/// The invite checker options configure `synapse_invite_checker.InviteChecker`, a module of
/// the upstream image that is not on PyPI in a compatible form: Synapse's loader parses the
/// whole configuration and then fails only because it cannot import the module, and the
/// charm keeps Synapse's running configuration and says so.
#[test]
fn the_invite_checker_options_reach_synapses_module_loader() {
    let mut e2e = E2e::new();
    e2e.deploy(
        &[Services::Simulated],
        &[
            ("server_name", json!("example.com")),
            ("invite_checker_blocklist_allowlist_url", json!("https://example.com/lists/on.json")),
            ("invite_checker_policy_rooms", json!("yes:example.com,!no:example.com")),
        ],
    );
    let (kind, message) = e2e.harness.status(UNIT);
    assert_eq!(kind, "blocked");
    assert!(
        message.starts_with("Synapse rejects the new configuration, the running one is kept: "),
        "{message}"
    );
    assert!(message.contains("synapse_invite_checker"), "the loader's last line names the module: {message}");
    let problems = e2e.charm_problems(UNIT);
    assert!(problems.contains("No module named 'synapse_invite_checker'"), "{problems}");
    assert!(
        !e2e.container_path(UNIT, "/data/homeserver.yaml").exists(),
        "a rejected configuration was installed"
    );
}
