//! The `database` relation through the simulated Juju, with a passive postgresql-k8s backed
//! by a real PostgreSQL server: the request, Synapse on PostgreSQL, the port from SQLite,
//! its failure, rotation, removal and bad provider data. Synapse's container is the
//! simulated Pebble, whose scripted answers stand for the inspection script and
//! `synapse_port_db` (`tests/database_inspection.rs` runs the script for real, the e2e suite
//! runs the whole port with real Synapse).

mod support;

use pebble_sim::{ExecRule, ServiceStatus};
use serde_json::{json, Value};
use support::inspection::{self, fit, INSPECT_SCRIPT};
use support::postgres::{Locale, PostgresServer};
use support::postgresql_provider::PostgresqlK8s;
use support::{Harness, APP, SERVER_NAME};
use test_support::assert_hooks_succeeded;

const UNIT: &str = "synapse/0";
/// Scripts the inspection to print `report`.
fn inspection_reports(harness: &Harness, report: &str) {
    inspection::script(harness.pebble(UNIT), report);
}

fn port_exits(harness: &Harness, code: i32, output: &str) {
    harness
        .pebble(UNIT)
        .script_exec(ExecRule::new(["synapse_port_db"]).exit_code(code).stdout(output.to_string()));
}

/// The inspections run: `python3 -c` with the script that imports psycopg2.
fn inspections(harness: &Harness) -> Vec<pebble_sim::ExecRecord> {
    let is_inspection =
        |exec: &pebble_sim::ExecRecord| exec.argv.get(2).map(String::as_str) == Some(INSPECT_SCRIPT);
    harness.pebble(UNIT).exec_log().into_iter().filter(is_inspection).collect()
}

fn execs_of(harness: &Harness, program: &str) -> usize {
    harness
        .pebble(UNIT)
        .exec_log()
        .iter()
        .filter(|exec| exec.argv.first().map(String::as_str) == Some(program))
        .count()
}

struct Setup {
    harness: Harness,
    server: PostgresServer,
    postgresql: PostgresqlK8s,
}

/// Synapse deployed on SQLite (a `homeserver.db` in `/data`, as a running server leaves),
/// with postgresql-k8s deployed but not related.
fn deployed_on_sqlite() -> Setup {
    let mut harness = Harness::new();
    assert_hooks_succeeded(&harness.deploy(1, &[("server_name", json!(SERVER_NAME))]));
    std::fs::write(harness.container_path(UNIT, "/data/homeserver.db"), b"SQLite format 3\0").unwrap();
    let postgresql = PostgresqlK8s::deploy(&mut harness.sim, 1);
    Setup { harness, server: PostgresServer::start(), postgresql }
}

impl Setup {
    fn integrate(&mut self) -> u32 {
        let (relation, runs) = self.postgresql.integrate(&mut self.harness.sim, APP);
        assert_hooks_succeeded(&runs);
        relation
    }

    fn answer(&mut self, relation: u32) -> support::postgresql_provider::Answer {
        let answer = self.postgresql.answer(&mut self.harness.sim, &self.server, relation, Locale::C);
        assert_hooks_succeeded(&answer.runs);
        answer
    }

    fn database(&self) -> Value {
        self.harness.homeserver(UNIT)["database"].clone()
    }
}

#[test]
fn database_the_leader_asks_in_relation_created_with_every_key_together() {
    let mut setup = deployed_on_sqlite();
    let (relation, runs) = setup.postgresql.integrate(&mut setup.harness.sim, APP);
    assert_hooks_succeeded(&runs);
    let request = setup.postgresql.request(&setup.harness.sim, relation);
    assert_eq!(request.database.as_deref(), Some(APP));
    assert_eq!(request.extra_user_roles.as_deref(), Some("SUPERUSER"));
    let requested = request.requested_secrets.expect("requested-secrets, or the password travels in clear");
    assert!(["username", "password", "tls", "tls-ca", "uris"]
        .iter()
        .all(|field| requested.iter().any(|r| r == field)));
    let target = format!("database:{relation}");
    let writes: Vec<&str> = runs
        .iter()
        .filter(|run| {
            run.unit == UNIT && run.calls_to("relation-set").any(|call| call.args.contains(&target))
        })
        .map(|run| run.hook.as_str())
        .collect();
    assert_eq!(writes, ["database-relation-created"], "one write, in relation-created");
    assert_eq!(setup.database()["name"], "sqlite3", "nothing changes before PostgreSQL answers");
    let (kind, message) = setup.harness.status(UNIT);
    assert_eq!(kind, "waiting");
    assert!(message.starts_with("database: waiting for PostgreSQL"), "{message}");
}

#[test]
fn database_ports_sqlite_then_runs_on_postgresql_with_the_password_only_in_homeserver_yaml() {
    let mut setup = deployed_on_sqlite();
    inspection_reports(&setup.harness, &fit(0));
    port_exits(
        &setup.harness,
        0,
        "Setting up...\nusers: 100% (3/3)\nevents: 50% (1/2)\nevents: 100% (2/2)\nDone\n",
    );
    let starts = setup.harness.pebble(UNIT).service_starts("synapse");
    let relation = setup.integrate();
    let answer = setup.answer(relation);

    let database = setup.database();
    assert_eq!(database["name"], "psycopg2");
    assert_eq!(database["args"]["user"], answer.user.username);
    assert_eq!(database["args"]["password"], answer.user.password);
    assert_eq!(database["args"]["port"], setup.server.port());
    assert_eq!(execs_of(&setup.harness, "synapse_port_db"), 1);
    let port = setup
        .harness
        .pebble(UNIT)
        .exec_log()
        .into_iter()
        .find(|exec| exec.argv[0] == "synapse_port_db")
        .unwrap();
    assert_eq!(
        port.argv,
        [
            "synapse_port_db",
            "--sqlite-database",
            "/data/homeserver.db",
            "--postgres-config",
            "/data/homeserver.yaml.candidate"
        ]
    );
    let history = &setup.harness.sim.unit(UNIT).unwrap().status_history;
    assert!(
        history.iter().any(|s| s.status == "maintenance"
            && s.message.starts_with("Porting the SQLite database to PostgreSQL: ")),
        "{history:?}"
    );
    assert_eq!(
        setup.harness.pebble(UNIT).service_starts("synapse"),
        starts + 1,
        "stopped for the port, started once"
    );
    assert_eq!(setup.harness.status(UNIT), ("active".into(), String::new()));
    assert!(
        setup.harness.container_path(UNIT, "/data/homeserver.db").exists(),
        "the SQLite file is left as it was"
    );

    // The password is nowhere but homeserver.yaml (and the inspection's stdin).
    let plan = serde_json::to_string(&setup.harness.plan(UNIT)).unwrap();
    assert!(!plan.contains(&answer.user.password), "the Pebble plan holds the password");
    assert!(plan.contains(&format!("postgresql://{}@", answer.user.username)), "{plan}");
    let logs: Vec<String> = setup.harness.sim.logs(UNIT).map(|record| record.message.clone()).collect();
    assert!(logs.iter().all(|line| !line.contains(&answer.user.password)), "a log line holds the password");
    for exec in setup.harness.pebble(UNIT).exec_log() {
        assert!(exec.argv.iter().all(|arg| !arg.contains(&answer.user.password)), "argv holds the password");
    }
    let inspection = inspections(&setup.harness).remove(0);
    assert!(String::from_utf8_lossy(&inspection.stdin).contains(&answer.user.password), "stdin carries it");

    // Settled: nothing is inspected, ported or restarted again.
    let (inspected, starts) =
        (inspections(&setup.harness).len(), setup.harness.pebble(UNIT).service_starts("synapse"));
    assert_hooks_succeeded(&setup.harness.sim.update_status().unwrap());
    assert_eq!(inspections(&setup.harness).len(), inspected);
    assert_eq!(setup.harness.pebble(UNIT).service_starts("synapse"), starts);
}

#[test]
fn database_a_failed_port_goes_back_to_sqlite_says_why_and_is_retried_by_the_action() {
    let mut setup = deployed_on_sqlite();
    inspection_reports(&setup.harness, &fit(0));
    port_exits(
        &setup.harness,
        5,
        "Setting up...\nusers: 10% (1/10)\nException: duplicate key value violates unique constraint\n",
    );
    let sqlite_config = setup.harness.read(UNIT, "/data/homeserver.yaml");
    let relation = setup.integrate();
    setup.answer(relation);

    assert_eq!(
        setup.harness.read(UNIT, "/data/homeserver.yaml"),
        sqlite_config,
        "the SQLite configuration is kept"
    );
    assert_eq!(
        setup.harness.pebble(UNIT).service_state("synapse"),
        Some(ServiceStatus::Active),
        "and runs again"
    );
    let (kind, message) = setup.harness.status(UNIT);
    assert_eq!(kind, "blocked");
    assert!(message.contains("porting") && message.contains("duplicate key value"), "{message}");

    // Not retried at every hook.
    assert_hooks_succeeded(&setup.harness.sim.update_status().unwrap());
    assert_eq!(execs_of(&setup.harness, "synapse_port_db"), 1);
    let (kind, message) = setup.harness.status(UNIT);
    assert_eq!(kind, "blocked");
    assert!(message.contains("retry-database-port"), "{message}");

    // Fixed, the action ports again.
    port_exits(&setup.harness, 0, "Done\n");
    let result = setup.harness.sim.run_action(UNIT, "retry-database-port", Default::default()).unwrap();
    assert!(result.run.succeeded(), "{:?}", result.record);
    assert_eq!(result.record.status, juju_sim::model::ActionStatus::Completed, "{:?}", result.record);
    assert_eq!(execs_of(&setup.harness, "synapse_port_db"), 2);
    assert_eq!(setup.database()["name"], "psycopg2");
}

#[test]
fn database_the_port_waits_for_background_updates_on_sqlite_and_follows_at_a_later_hook() {
    let mut setup = deployed_on_sqlite();
    let busy = json!({"pending_background_updates": 12, "collate": "C", "ctype": "C", "tables": 0,
                      "port_started": false, "can_create": true, "superuser": true, "fixed": false});
    inspection_reports(&setup.harness, &busy.to_string());
    port_exits(&setup.harness, 0, "Done\n");
    let relation = setup.integrate();
    setup.answer(relation);
    assert_eq!(setup.database()["name"], "sqlite3");
    assert_eq!(execs_of(&setup.harness, "synapse_port_db"), 0, "synapse_port_db would refuse");
    assert_eq!(setup.harness.pebble(UNIT).service_state("synapse"), Some(ServiceStatus::Active));
    let (kind, message) = setup.harness.status(UNIT);
    assert_eq!(kind, "waiting");
    assert!(message.contains("12 background updates"), "{message}");

    inspection_reports(&setup.harness, &fit(0));
    assert_hooks_succeeded(&setup.harness.sim.update_status().unwrap());
    assert_eq!(execs_of(&setup.harness, "synapse_port_db"), 1);
    assert_eq!(setup.database()["name"], "psycopg2");
}

#[test]
fn database_with_the_wrong_locale_and_data_is_refused_and_synapse_stays_on_sqlite() {
    let mut setup = deployed_on_sqlite();
    let report = json!({"collate": "en_US.UTF-8", "ctype": "en_US.UTF-8", "tables": 4, "port_started": false,
                        "can_create": true, "superuser": true, "fixed": false});
    inspection_reports(&setup.harness, &report.to_string());
    let relation = setup.integrate();
    setup.answer(relation);
    assert_eq!(setup.database()["name"], "sqlite3");
    assert_eq!(execs_of(&setup.harness, "synapse_port_db"), 0);
    let (kind, message) = setup.harness.status(UNIT);
    assert_eq!(kind, "blocked");
    assert!(message.contains("collation en_US.UTF-8") && message.contains("needs C"), "{message}");
}

#[test]
fn database_credentials_the_server_refuses_leave_everything_as_it_was() {
    let mut setup = deployed_on_sqlite();
    inspection_reports(
        &setup.harness,
        r#"{"problem": "refused", "detail": "FATAL:  password authentication failed"}"#,
    );
    let before = setup.harness.read(UNIT, "/data/homeserver.yaml");
    let relation = setup.integrate();
    setup.answer(relation);
    assert_eq!(setup.harness.read(UNIT, "/data/homeserver.yaml"), before);
    let (kind, message) = setup.harness.status(UNIT);
    assert_eq!(kind, "blocked");
    assert!(message.contains("refuses the credentials"), "{message}");
}

/// Synapse on PostgreSQL through a relation.
fn on_postgresql() -> (Setup, u32) {
    let mut setup = deployed_on_sqlite();
    std::fs::remove_file(setup.harness.container_path(UNIT, "/data/homeserver.db")).unwrap();
    inspection_reports(&setup.harness, &fit(0));
    let relation = setup.integrate();
    setup.answer(relation);
    assert_eq!(setup.database()["name"], "psycopg2");
    assert_eq!(execs_of(&setup.harness, "synapse_port_db"), 0, "nothing to port");
    (setup, relation)
}

#[test]
fn database_a_rotated_password_is_followed_with_one_restart() {
    let (mut setup, relation) = on_postgresql();
    let starts = setup.harness.pebble(UNIT).service_starts("synapse");
    let (_, runs) = setup.postgresql.rotate_password(&mut setup.harness.sim, &setup.server, relation);
    assert_hooks_succeeded(&runs);
    assert!(runs.iter().any(|run| run.unit == UNIT && run.hook == "secret-changed"), "{runs:?}");
    let password = setup.database()["args"]["password"].as_str().unwrap().to_string();
    let secret = setup.postgresql.secret_content(&setup.harness.sim, relation, "user");
    assert_eq!(password, secret["password"]);
    assert_eq!(setup.harness.pebble(UNIT).service_starts("synapse"), starts + 1);
    assert_eq!(inspections(&setup.harness).len(), 1, "the same database is not inspected again");
}

#[test]
fn database_removed_stops_synapse_rather_than_start_it_on_empty_sqlite() {
    let (mut setup, relation) = on_postgresql();
    let config = setup.harness.read(UNIT, "/data/homeserver.yaml");
    let runs = setup.postgresql.remove(&mut setup.harness.sim, &setup.server, relation);
    assert_hooks_succeeded(&runs);
    assert_eq!(setup.harness.read(UNIT, "/data/homeserver.yaml"), config, "no SQLite configuration written");
    assert_ne!(setup.harness.pebble(UNIT).service_state("synapse"), Some(ServiceStatus::Active));
    let (kind, message) = setup.harness.status(UNIT);
    assert_eq!(kind, "blocked");
    assert!(
        message.contains("the data is in PostgreSQL")
            && message.contains("juju integrate synapse postgresql-k8s")
    );
    // It stays so.
    assert_hooks_succeeded(&setup.harness.sim.update_status().unwrap());
    assert_ne!(setup.harness.pebble(UNIT).service_state("synapse"), Some(ServiceStatus::Active));
}

#[test]
fn database_bad_provider_data_is_named_and_the_running_configuration_kept() {
    let (mut setup, relation) = on_postgresql();
    let config = setup.harness.read(UNIT, "/data/homeserver.yaml");
    for (entries, expected) in [
        (vec![("endpoints", "not-an-endpoint")], "malformed endpoints"),
        (vec![("endpoints", "")], "no endpoints"),
        (vec![("secret-user", "not a secret id")], "not a secret URI"),
    ] {
        let saved = setup.postgresql.bag(&setup.harness.sim, relation);
        assert_hooks_succeeded(&setup.postgresql.set_bag(&mut setup.harness.sim, relation, &entries));
        let (kind, message) = setup.harness.status(UNIT);
        assert_eq!(kind, "waiting", "{entries:?}");
        assert!(
            message.contains(expected) && message.contains("keeps its running configuration"),
            "{message}"
        );
        assert_eq!(setup.harness.read(UNIT, "/data/homeserver.yaml"), config);
        let restore: Vec<(&str, &str)> = entries
            .iter()
            .map(|(key, _)| (*key, saved.get(*key).map(String::as_str).unwrap_or("")))
            .collect();
        assert_hooks_succeeded(&setup.postgresql.set_bag(&mut setup.harness.sim, relation, &restore));
        assert_eq!(setup.harness.status(UNIT), ("active".into(), String::new()), "{entries:?} restored");
    }
}
