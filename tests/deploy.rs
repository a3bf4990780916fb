//! Deploying, scaling and leadership through the simulated Juju, each unit with its own
//! simulated Pebble.

mod support;

use juju_sim::model::{Bag, PortRange};
use juju_sim::Event;
use pebble_sim::{FileKind, ServiceStatus};
use serde_json::json;
use support::{Harness, APP, CONTAINER, NO_OP_REQUESTS, SERVER_NAME, SYNAPSE_VERSION, VALIDATE};
use test_support::assert_hooks_succeeded;

const UNIT0: &str = "synapse/0";
const UNIT1: &str = "synapse/1";

/// Asserts the file exists with the given mode, owned by the synapse user and group.
fn assert_owned_file(harness: &Harness, unit: &str, path: &str, permissions: u32) {
    let meta = harness.pebble(unit).file_meta(path).unwrap_or_else(|| panic!("{path} missing on {unit}"));
    assert_eq!(meta.kind, FileKind::File, "{path}");
    assert_eq!(meta.permissions, permissions, "{path} has mode {:o}", meta.permissions);
    assert_eq!((meta.user_id, meta.group_id), (991, 991), "{path} owner");
}

#[test]
fn deploy_ends_active_with_secrets_files_layer_and_port() {
    let mut harness = Harness::new();
    assert_hooks_succeeded(&harness.deploy(1, &[("server_name", json!(SERVER_NAME))]));

    assert_eq!(harness.status(UNIT0), ("active".into(), String::new()));
    assert_eq!(harness.app_status(), ("active".into(), String::new()));
    let history = &harness.sim.unit(UNIT0).unwrap().status_history;
    assert!(
        history.iter().any(|s| s.status == "maintenance" && s.message == "Configuring Synapse"),
        "{history:?}"
    );

    // One application secret with everything, announced to the peers.
    let secret = harness.app_secret_content();
    let keys: Vec<&str> = secret.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["form-secret", "macaroon-secret-key", "registration-shared-secret", "server-name", "signing-key"]
    );
    assert!(secret["registration-shared-secret"].len() >= 50);
    let uri = harness.sim.model().secrets.values().next().unwrap().uri();
    let peers = harness.sim.relation_id(APP, APP).expect("peer relation");
    let bag = harness.sim.relation_data(peers, &Bag::App(APP.into())).unwrap();
    assert_eq!(bag.get("app-secrets-id"), Some(&uri));

    // The files, their owners and modes, and their content from the secret.
    assert_owned_file(&harness, UNIT0, "/data/homeserver.yaml", 0o600);
    assert_owned_file(&harness, UNIT0, "/data/example.com.signing.key", 0o600);
    let homeserver = harness.homeserver(UNIT0);
    let log_config_path = homeserver["log_config"].as_str().expect("log_config").to_string();
    assert!(log_config_path.starts_with("/data/log-"), "versioned: {log_config_path}");
    assert_owned_file(&harness, UNIT0, &log_config_path, 0o644);
    assert!(harness.pebble(UNIT0).file_meta("/data/homeserver.yaml.candidate").is_none());
    assert_eq!(homeserver["server_name"], SERVER_NAME);
    assert_eq!(homeserver["registration_shared_secret"], secret["registration-shared-secret"].as_str());
    assert_eq!(homeserver["macaroon_secret_key"], secret["macaroon-secret-key"].as_str());
    assert_eq!(homeserver["form_secret"], secret["form-secret"].as_str());
    assert_eq!(harness.read(UNIT0, "/data/example.com.signing.key"), format!("{}\n", secret["signing-key"]));
    let log_config: serde_json::Value = safe_yaml::from_str(&harness.read(UNIT0, &log_config_path)).unwrap();
    assert_eq!(log_config["root"]["handlers"], json!(["console"]));

    // The candidate was checked by Synapse's loader as the synapse user before use.
    let checks = harness.execs(UNIT0, &VALIDATE);
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].argv[3..], ["-c".to_string(), "/data/homeserver.yaml.candidate".to_string()]);
    assert_eq!((checks[0].user_id, checks[0].group_id), (Some(991), Some(991)));

    // The layer, the running service (started once) and the open port.
    let plan = harness.plan(UNIT0);
    let service = &plan.services["synapse"];
    assert_eq!(service.command.as_deref(), Some("/start.py"));
    assert_eq!(service.environment.get("SYNAPSE_SERVER_NAME").map(String::as_str), Some(SERVER_NAME));
    assert!(plan.checks.contains_key("synapse-alive") && plan.checks.contains_key("synapse-ready"));
    assert_eq!(harness.pebble(UNIT0).service_state("synapse"), Some(ServiceStatus::Active));
    assert_eq!(harness.pebble(UNIT0).service_starts("synapse"), 1);
    assert_eq!(harness.sim.ports(UNIT0).unwrap(), [PortRange::tcp(8008)]);
    let open_port_calls: usize = harness.sim.history().iter().map(|run| run.count("open-port")).sum();
    assert_eq!(open_port_calls, 1, "the port is opened once");

    // No secret value in any log, hook output or hook-tool argument.
    let mut seen: Vec<String> = harness.sim.logs(UNIT0).map(|record| record.message.clone()).collect();
    for run in harness.sim.history() {
        seen.extend([run.stdout.clone(), run.stderr.clone()]);
        seen.extend(run.calls.iter().map(|call| call.args.join(" ")));
    }
    for (key, value) in secret.iter().filter(|(key, _)| key.as_str() != "server-name") {
        let seed = value.rsplit(' ').next().unwrap_or(value);
        assert!(seen.iter().all(|text| !text.contains(seed)), "{key} leaked");
    }
}

#[test]
fn deploy_without_server_name_blocks_until_it_is_set() {
    let mut harness = Harness::new();
    assert_hooks_succeeded(&harness.deploy(1, &[]));
    assert_eq!(
        harness.status(UNIT0),
        (
            "blocked".into(),
            "invalid configuration: server_name: it is required; set it with juju config".into()
        )
    );
    assert_eq!(
        harness.app_status(),
        (
            "blocked".into(),
            "invalid configuration: server_name: it is required; set it with juju config".into()
        )
    );
    assert!(harness.sim.model().secrets.is_empty(), "no secrets before a server name");
    assert!(harness.pebble(UNIT0).file_meta("/data/homeserver.yaml").is_none());
    assert_eq!(harness.pebble(UNIT0).service_state("synapse"), None);

    assert_hooks_succeeded(&harness.configure(&[("server_name", json!(SERVER_NAME))]));
    assert_eq!(harness.status(UNIT0), ("active".into(), String::new()));
    assert_eq!(harness.app_secret_content()["server-name"], SERVER_NAME);
    assert_eq!(harness.pebble(UNIT0).service_starts("synapse"), 1);
}

#[test]
fn pebble_ready_before_config_changed_configures_once() {
    let mut harness = Harness::new();
    harness.start_pebble(UNIT0);
    harness
        .sim
        .add_app(juju_sim::AppSpec::charm(APP, harness.charm_dir()).config("server_name", json!(SERVER_NAME)))
        .unwrap();
    let ready = harness.sim.run_hook(UNIT0, Event::PebbleReady { container: CONTAINER.into() }).unwrap();
    assert_hooks_succeeded([&ready]);
    assert_eq!(harness.status(UNIT0), ("active".into(), String::new()));
    let before = harness.request_count(UNIT0);
    let changed = harness.sim.run_hook(UNIT0, Event::ConfigChanged).unwrap();
    assert_hooks_succeeded([&changed]);
    assert_eq!(harness.status(UNIT0), ("active".into(), String::new()));
    harness.assert_container_untouched(UNIT0, before, 1, NO_OP_REQUESTS);
    assert_eq!(harness.pebble(UNIT0).service_starts("synapse"), 1);
}

#[test]
fn config_changed_before_pebble_waits_then_pebble_ready_converges() {
    let mut harness = Harness::new();
    harness
        .sim
        .add_app(juju_sim::AppSpec::charm(APP, harness.charm_dir()).config("server_name", json!(SERVER_NAME)))
        .unwrap();
    let changed = harness.sim.run_hook(UNIT0, Event::ConfigChanged).unwrap();
    assert_hooks_succeeded([&changed]);
    assert_eq!(harness.status(UNIT0), ("waiting".into(), "Waiting for Synapse pebble".into()));
    // No secrets before the leader has seen /data: it may hold a server to adopt.
    assert!(harness.sim.model().secrets.is_empty());

    harness.start_pebble(UNIT0);
    let ready = harness.sim.run_hook(UNIT0, Event::PebbleReady { container: CONTAINER.into() }).unwrap();
    assert_hooks_succeeded([&ready]);
    assert_eq!(harness.status(UNIT0), ("active".into(), String::new()));
    assert_eq!(harness.pebble(UNIT0).service_starts("synapse"), 1);
    assert_eq!(harness.homeserver(UNIT0)["server_name"], SERVER_NAME);
}

/// The secret-bearing values of a unit's configuration and key file.
fn shared_values(harness: &Harness, unit: &str) -> Vec<String> {
    let homeserver = harness.homeserver(unit);
    let mut values: Vec<String> = ["registration_shared_secret", "macaroon_secret_key", "form_secret"]
        .iter()
        .map(|key| homeserver[key].as_str().expect("a string").to_string())
        .collect();
    values.push(harness.read(unit, "/data/example.com.signing.key"));
    values
}

const TWO_PLANNED: &str = "2 units planned: scale-out needs Redis (juju integrate synapse redis-k8s) and \
                           PostgreSQL (juju integrate synapse postgresql-k8s); only synapse/0 serves";

#[test]
fn scaling_out_blocks_every_unit_and_only_the_first_serves_until_scaled_back() {
    let mut harness = Harness::new();
    assert_hooks_succeeded(&harness.deploy(2, &[("server_name", json!(SERVER_NAME))]));
    for unit in [UNIT0, UNIT1] {
        assert_eq!(harness.status(unit), ("blocked".into(), TWO_PLANNED.into()), "{unit}");
    }
    assert_eq!(harness.app_status(), ("blocked".into(), TWO_PLANNED.into()));
    assert_eq!(harness.sim.model().secrets.len(), 1, "one set of secrets for the application");
    assert_eq!(harness.pebble(UNIT0).service_state("synapse"), Some(ServiceStatus::Active));
    assert_eq!(harness.pebble(UNIT1).service_starts("synapse"), 0, "a second server would split the data");
    assert!(harness.pebble(UNIT1).file_meta("/data/homeserver.yaml").is_none());
    let warnings = harness.logs(UNIT1, "WARNING");
    assert!(warnings.iter().any(|line| line.contains("synapse/0 serves alone")), "{warnings:?}");

    harness.start_pebble("synapse/2");
    let (unit, runs) = harness.sim.add_unit(APP).unwrap();
    assert_hooks_succeeded(&runs);
    assert_eq!(harness.status(&unit).0, "blocked");
    assert!(harness.status(&unit).1.starts_with("3 units planned"), "{:?}", harness.status(&unit));
    assert_eq!(harness.pebble(&unit).service_starts("synapse"), 0);

    assert_hooks_succeeded(&harness.sim.remove_unit(&unit).unwrap());
    assert_hooks_succeeded(&harness.sim.remove_unit(UNIT1).unwrap());
    assert_hooks_succeeded(&harness.sim.update_status().unwrap());
    assert_eq!(harness.status(UNIT0), ("active".into(), String::new()));
    assert_eq!(harness.app_status(), ("active".into(), String::new()));
    assert_eq!(harness.pebble(UNIT0).service_starts("synapse"), 1, "the serving unit never restarted");
}

#[test]
fn a_new_leader_keeps_the_secrets_and_the_serving_unit_restarts_nothing() {
    let mut harness = Harness::new();
    assert_hooks_succeeded(&harness.deploy(2, &[("server_name", json!(SERVER_NAME))]));
    let secret_before = harness.app_secret_content();
    let files_before = shared_values(&harness, UNIT0);
    let starts =
        |harness: &Harness| [UNIT0, UNIT1].map(|unit| harness.pebble(unit).service_starts("synapse"));
    assert_eq!(starts(&harness), [1, 0]);

    assert_hooks_succeeded(&harness.sim.set_leader(UNIT1).unwrap());
    assert_eq!(harness.app_secret_content(), secret_before);
    let secret = harness.sim.model().secrets.values().next().unwrap();
    assert_eq!(secret.latest_revision(), 1);
    assert_eq!(starts(&harness), [1, 0], "leadership does not move the server");
    assert_eq!(harness.app_status(), ("blocked".into(), TWO_PLANNED.into()));

    // The first unit leaves; the other one is alone and serves with the same secrets.
    assert_hooks_succeeded(&harness.sim.remove_unit(UNIT0).unwrap());
    assert_hooks_succeeded(&harness.configure(&[("report_stats", json!(true))]));
    assert_eq!(harness.app_secret_content(), secret_before);
    assert_eq!(shared_values(&harness, UNIT1), files_before);
    assert_eq!(harness.status(UNIT1), ("active".into(), String::new()));
}

#[test]
fn a_data_dir_set_up_by_another_charm_blocks_and_is_left_untouched() {
    let mut harness = Harness::new();
    harness.start_pebble(UNIT0);
    // Another server's keys, without the homeserver.yaml the charm could adopt it from
    // (tests/adoption.rs adopts the upstream charm's).
    let upstream = [
        ("/data/example.com.signing.key", "ed25519 a_up12 c2lnbmluZy1rZXktb2YtdGhlLXVwc3RyZWFtLWNoYXJt\n"),
        ("/data/example.com.macaroon.key", "upstream-macaroon\n"),
    ];
    for (path, content) in upstream {
        std::fs::write(harness.container_path(UNIT0, path), content).expect("upstream file");
    }
    assert_hooks_succeeded(&harness.deploy_without_pebble(1, &[("server_name", json!(SERVER_NAME))]));
    let (kind, message) = harness.status(UNIT0);
    assert_eq!(kind, "blocked");
    assert_eq!(
        message,
        "/data holds a Synapse this charm did not set up (example.com.macaroon.key, example.com.signing.key) but \
         no readable homeserver.yaml to adopt it from; nothing was changed"
    );
    assert_eq!(harness.app_status(), (kind, message));
    for (path, content) in upstream {
        assert_eq!(harness.read(UNIT0, path), content, "{path} was changed");
    }
    assert!(harness.pebble(UNIT0).file_meta("/data/.synapse-k8s-charm").is_none());
    assert!(harness.sim.model().secrets.is_empty(), "no new server identity was generated");
    assert_eq!(harness.pebble(UNIT0).service_state("synapse"), None, "nothing runs on that data");
    let errors = harness.logs(UNIT0, "ERROR");
    assert!(errors.iter().any(|line| line.contains("so it cannot adopt that server")), "{errors:?}");
}

#[test]
fn the_charm_marks_its_own_data_dir_and_a_restarted_pod_keeps_serving_it() {
    let mut harness = Harness::new();
    assert_hooks_succeeded(&harness.deploy(1, &[("server_name", json!(SERVER_NAME))]));
    assert!(harness.pebble(UNIT0).file_meta("/data/.synapse-k8s-charm").is_some());
    let homeserver = harness.read(UNIT0, "/data/homeserver.yaml");
    assert!(homeserver.starts_with("# Written by the synapse-k8s charm"), "{homeserver}");
    // A new pod: an empty plan over the same /data.
    harness.pebble(UNIT0).restart_container();
    assert_hooks_succeeded(&[harness
        .sim
        .run_hook(UNIT0, Event::PebbleReady { container: CONTAINER.into() })
        .unwrap()]);
    assert_eq!(harness.status(UNIT0), ("active".into(), String::new()));
    assert_eq!(harness.read(UNIT0, "/data/homeserver.yaml"), homeserver);
}

#[test]
fn synapses_version_is_read_once_per_container() {
    let mut harness = Harness::new();
    harness.start_pebble(UNIT0).script_exec(pebble_sim::ExecRule::new(SYNAPSE_VERSION).stdout("1.141.0\n"));
    let runs = harness.deploy_without_pebble(1, &[("server_name", json!(SERVER_NAME))]);
    assert_hooks_succeeded(&runs);
    let reads = |harness: &Harness| harness.execs(UNIT0, &SYNAPSE_VERSION).len();
    let shown = |harness: &Harness| harness.sim.model().unit(UNIT0).unwrap().workload_version.clone();
    assert_eq!((reads(&harness), shown(&harness)), (1, "1.141.0".to_string()));

    // A change Synapse restarts for does not start Python again to read the same version.
    assert_hooks_succeeded(&harness.configure(&[("block_non_admin_invites", json!(true))]));
    assert_eq!(harness.homeserver(UNIT0)["block_non_admin_invites"], json!(true));
    assert_eq!(reads(&harness), 1);

    // A new container (a new image, say) has an empty /tmp: the version is read again.
    harness.pebble(UNIT0).script_exec(pebble_sim::ExecRule::new(SYNAPSE_VERSION).stdout("1.142.1\n"));
    harness.pebble(UNIT0).restart_container();
    assert_hooks_succeeded(&[harness
        .sim
        .run_hook(UNIT0, Event::PebbleReady { container: CONTAINER.into() })
        .unwrap()]);
    assert_eq!((reads(&harness), shown(&harness)), (2, "1.142.1".to_string()));
}

#[test]
fn secrets_juju_discarded_after_synapse_started_are_taken_back_from_the_container() {
    let mut harness = Harness::new();
    assert_hooks_succeeded(&harness.deploy(1, &[("server_name", json!(SERVER_NAME))]));
    let running = shared_values(&harness, UNIT0);
    let starts = harness.pebble(UNIT0).service_starts("synapse");
    // As when the first configuring hook failed after Synapse started: Juju rolled back the
    // secret it had added, while the container kept what the hook wrote.
    harness.sim.model_mut().secrets.clear();

    assert_hooks_succeeded(&harness.sim.update_status().unwrap());
    assert_eq!(harness.status(UNIT0), ("active".into(), String::new()));
    assert_eq!(shared_values(&harness, UNIT0), running, "the server kept its identity");
    let content = harness.app_secret_content();
    assert_eq!(content["signing-key"].trim(), running[3].trim());
    assert_eq!(content["registration-shared-secret"], running[0]);
    assert_eq!(harness.pebble(UNIT0).service_starts("synapse"), starts, "no restart");
    let warnings = harness.logs(UNIT0, "WARNING");
    assert!(warnings.iter().any(|line| line.contains("already runs with")), "{warnings:?}");
}

#[test]
fn refreshing_to_a_newer_build_regenerates_and_restarts_nothing() {
    let mut harness = Harness::new();
    assert_hooks_succeeded(&harness.deploy(1, &[("server_name", json!(SERVER_NAME))]));
    let secrets = harness.app_secret_content();
    let revisions: Vec<u32> =
        harness.sim.model().secrets.values().map(|secret| secret.latest_revision()).collect();
    let before = harness.request_count(UNIT0);
    assert_hooks_succeeded(&harness.sim.upgrade(APP, None).unwrap());
    assert_eq!(harness.app_secret_content(), secrets, "nothing regenerated");
    let after: Vec<u32> =
        harness.sim.model().secrets.values().map(|secret| secret.latest_revision()).collect();
    assert_eq!(after, revisions, "no new secret revision");
    assert_eq!(harness.writes_since(UNIT0, before), Vec::<String>::new(), "nothing written in the container");
    assert_eq!(harness.pebble(UNIT0).service_starts("synapse"), 1, "no restart");
    assert_eq!(harness.status(UNIT0), ("active".into(), String::new()));
}

#[test]
fn the_secret_file_check_finds_a_secret_in_a_file_others_can_read() {
    let mut harness = Harness::new();
    assert_hooks_succeeded(&harness.deploy(1, &[("server_name", json!(SERVER_NAME))]));
    let unit = "synapse/0";
    let secret = harness
        .sim
        .model()
        .secrets
        .values()
        .flat_map(|secret| {
            secret.latest().map(|revision| revision.decoded()).unwrap_or_default().into_values()
        })
        .find(|value| value.len() >= 16)
        .expect("the application secrets exist");
    let client = pebble::Client::new(harness.socket(unit));
    let readable = pebble::PushOptions {
        permissions: Some(0o644),
        user_id: Some(991),
        group_id: Some(991),
        ..Default::default()
    };
    client.push("/data/copy", secret.as_bytes(), &readable).expect("push");
    let check = || support::leaks::assert_secret_files_private(&harness.sim, APP, [harness.pebble(unit)]);
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).is_err(), "0644 passed the check");
    client.remove_path("/data/copy", false).expect("remove");
    check();
}
