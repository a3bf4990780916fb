//! State in, plan out: the database component.

use juju::{Bag, Effect, StatusKind};
use postgresql_client::Endpoint;
use secrecy::SecretString;

use super::*;
use crate::component::tests::facts;
use crate::deployment::Deployment;

fn credentials() -> DatabaseCredentials {
    let primary = Endpoint { host: "pg-primary.model.svc".into(), port: 5432 };
    DatabaseCredentials {
        primary: primary.clone(),
        endpoints: vec![primary],
        read_only_endpoints: Vec::new(),
        database: "synapse".into(),
        username: "relation_id_7".into(),
        password: SecretString::from("pg-password-123".to_string()),
        uris: None,
        read_only_uris: None,
        tls: None,
        version: Some("16.4".into()),
        user_secret: None,
        tls_secret: None,
    }
}

fn fit(tables: u64) -> Inspection {
    Inspection::Connected {
        pending_background_updates: 0,
        collate: "C".into(),
        ctype: "C".into(),
        tables,
        port_started: false,
        can_create: true,
        superuser: true,
    }
}

fn related(view: Option<DatabaseView>, first_use: Option<FirstUse>) -> Related {
    Related {
        id: RelationId::new(ENDPOINT, 7),
        provider_app: Some("postgresql-k8s".into()),
        own_bag: Some(juju::Databag::new()),
        view,
        first_use,
    }
}

fn ready(first_use: Option<FirstUse>) -> Related {
    related(Some(DatabaseView::Ready(Box::new(credentials()))), first_use)
}

fn first_use(inspection: Inspection, sqlite_exists: bool) -> Option<FirstUse> {
    Some(FirstUse { inspection, sqlite_exists, port_failed: None })
}

fn state(relation: Option<Related>, in_use: Option<InUse>) -> DatabaseState {
    DatabaseState { relation, in_use }
}

fn plan_of(state: &DatabaseState) -> ComponentPlan {
    plan(state, &facts(&Deployment::single(), "synapse/0", true))
}

/// A database relation whose PostgreSQL Synapse already uses (for other components' tests).
pub fn postgresql_in_use() -> DatabaseState {
    state(Some(ready(None)), on_postgresql())
}

fn on_postgresql() -> Option<InUse> {
    Some(InUse::Postgresql(Some(address_of(&credentials()))))
}

fn database_name(plan: &ComponentPlan) -> Option<&str> {
    plan.homeserver.0.get("database")?["name"].as_str()
}

fn recorded(plan: &ComponentPlan) -> Option<&str> {
    plan.service_environment
        .iter()
        .find(|(service, name, _)| *service == SERVICE && name == IN_USE_VARIABLE)
        .map(|(_, _, value)| value.as_str())
}

#[test]
fn without_the_relation_synapse_runs_on_sqlite_in_the_data_storage() {
    let plan = plan_of(&state(None, None));
    assert_eq!(
        plan.homeserver.0["database"],
        json!({"name": "sqlite3", "args": {"database": "/data/homeserver.db"}})
    );
    assert_eq!(recorded(&plan), Some("sqlite"));
    assert!(plan.statuses.is_empty() && plan.hold.is_none() && plan.effects.is_empty());
}

#[test]
fn a_removed_relation_never_falls_back_to_an_empty_sqlite_database() {
    let plan = plan_of(&state(None, on_postgresql()));
    assert_eq!(plan.hold, Some(Hold::Stop), "Synapse is stopped");
    assert_eq!(database_name(&plan), None, "no SQLite configuration is written");
    assert_eq!(plan.statuses[0].kind, StatusKind::Blocked);
    assert!(
        plan.statuses[0].message.contains("juju integrate synapse postgresql-k8s"),
        "{}",
        plan.statuses[0]
    );
    let after_pod_restart = plan_of(&state(None, Some(InUse::Postgresql(None))));
    assert_eq!(after_pod_restart.hold, Some(Hold::Stop));
}

#[test]
fn the_leader_asks_for_the_database_once_with_every_key_together() {
    let leader = plan_of(&state(Some(related(None, None)), Some(InUse::Sqlite)));
    let [Effect::RelationSet { relation, bag: Bag::App, data }] = &leader.effects[..] else {
        panic!("one relation-set expected: {:?}", leader.effects)
    };
    assert_eq!(*relation, RelationId::new(ENDPOINT, 7));
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(keys, ["database", "extra-user-roles", "requested-secrets"]);
    assert_eq!(data["database"], juju::effects::Value::Text("synapse".into()));
    assert_eq!(data["extra-user-roles"], juju::effects::Value::Text("SUPERUSER".into()));
    let follower = plan(
        &state(Some(related(None, None)), Some(InUse::Sqlite)),
        &facts(&Deployment::single(), "synapse/1", false),
    );
    assert!(follower.effects.is_empty(), "only the leader writes the application bag");
}

#[test]
fn until_postgresql_answers_synapse_stays_where_it_is() {
    let not_ready =
        || related(Some(DatabaseView::NotReady(postgresql_client::NotReady::CredentialsMissing)), None);
    let on_sqlite = plan_of(&state(Some(not_ready()), Some(InUse::Sqlite)));
    assert_eq!(database_name(&on_sqlite), Some("sqlite3"));
    assert_eq!(on_sqlite.statuses[0].kind, StatusKind::Waiting);
    assert!(on_sqlite.statuses[0].message.contains("Synapse runs on SQLite meanwhile"));
    let on_pg = plan_of(&state(Some(not_ready()), on_postgresql()));
    assert_eq!(
        on_pg.hold,
        Some(Hold::Keep),
        "a rotated password not propagated yet keeps the running configuration"
    );
    assert_eq!(database_name(&on_pg), None);
}

#[test]
fn postgresql_in_use_is_configured_with_the_password_only_in_homeserver_yaml() {
    let plan = plan_of(&state(Some(ready(None)), on_postgresql()));
    let database = &plan.homeserver.0["database"];
    assert_eq!(database["name"], "psycopg2");
    assert_eq!(database["args"]["password"], "pg-password-123");
    assert_eq!(database["args"]["host"], "pg-primary.model.svc");
    assert_eq!(database["args"]["port"], 5432);
    assert_eq!(database["args"]["user"], "relation_id_7");
    let recorded = recorded(&plan).unwrap();
    assert_eq!(recorded, "postgresql://relation_id_7@pg-primary.model.svc:5432/synapse");
    assert!(!recorded.contains("pg-password"), "the service's environment is in the Pebble plan");
    assert!(plan.secrets.iter().any(|secret| secret.expose_secret() == "pg-password-123"), "redacted");
    assert!(plan.steps.is_empty() && plan.statuses.is_empty());
}

#[test]
fn a_deployment_on_sqlite_is_ported_into_an_empty_database() {
    let plan = plan_of(&state(Some(ready(first_use(fit(0), true))), Some(InUse::Sqlite)));
    assert!(
        matches!(&plan.steps[..], [ContainerStep::PortSqlite { sqlite: SQLITE_PATH, failure_marker: PORT_FAILED_PATH, failure_note }]
        if *failure_note == address_of(&credentials()))
    );
    assert_eq!(database_name(&plan), Some("psycopg2"));

    let fresh = plan_of(&state(Some(ready(first_use(fit(0), false))), None));
    assert!(fresh.steps.is_empty(), "nothing to port on a fresh deployment");
    assert_eq!(database_name(&fresh), Some("psycopg2"));
}

#[test]
fn with_port_sqlite_data_off_synapse_starts_on_the_empty_database() {
    let config = crate::config::for_tests(json!({"port_sqlite_data": false}));
    let deployment = Deployment::single();
    let mut facts = facts(&deployment, "synapse/0", true);
    facts.config = Some(&config);
    let plan = plan(&state(Some(ready(first_use(fit(0), true))), Some(InUse::Sqlite)), &facts);
    assert!(plan.steps.is_empty());
    assert_eq!(database_name(&plan), Some("psycopg2"));
    assert!(plan
        .diagnostics
        .iter()
        .any(|(level, line)| *level == LogLevel::Warning && line.contains("stays as it is")));
}

#[test]
fn an_interrupted_port_resumes_but_a_foreign_database_with_tables_is_not_mixed_in() {
    let resumed = Inspection::Connected {
        pending_background_updates: 0,
        collate: "C".into(),
        ctype: "C".into(),
        tables: 40,
        port_started: true,
        can_create: true,
        superuser: true,
    };
    let plan = plan_of(&state(Some(ready(first_use(resumed, true))), Some(InUse::Sqlite)));
    assert!(matches!(&plan.steps[..], [ContainerStep::PortSqlite { .. }]));
    let other = plan_of(&state(Some(ready(first_use(fit(12), true))), Some(InUse::Sqlite)));
    assert!(other.steps.is_empty());
    assert_eq!(database_name(&other), Some("sqlite3"), "Synapse keeps running on SQLite");
    assert_eq!(other.statuses[0].kind, StatusKind::Blocked);
    assert!(other.statuses[0].message.contains("already has tables"));
}

#[test]
fn the_locale_is_fixed_only_on_an_empty_database_with_the_superuser_role() {
    let locale = |tables, superuser| Inspection::Connected {
        pending_background_updates: 0,
        collate: "en_US.UTF-8".into(),
        ctype: "en_US.UTF-8".into(),
        tables,
        port_started: false,
        can_create: true,
        superuser,
    };
    let fixed = plan_of(&state(Some(ready(first_use(locale(0, true), false))), None));
    assert!(matches!(&fixed.steps[..], [ContainerStep::FixDatabaseLocale { script: INSPECT_SCRIPT, .. }]));
    assert_eq!(database_name(&fixed), Some("psycopg2"));
    for (tables, superuser) in [(3, true), (0, false)] {
        let blocked =
            plan_of(&state(Some(ready(first_use(locale(tables, superuser), false))), Some(InUse::Sqlite)));
        assert!(blocked.steps.is_empty());
        assert_eq!(database_name(&blocked), Some("sqlite3"));
        assert_eq!(
            blocked.statuses[0].message,
            "database: synapse has collation en_US.UTF-8 and ctype en_US.UTF-8, Synapse needs C; recreate it with \
             LC_COLLATE 'C' LC_CTYPE 'C'"
        );
    }
}

#[test]
fn a_database_that_cannot_be_used_is_named_and_synapse_stays_on_sqlite() {
    let problem =
        |problem: &str| Inspection::Problem { problem: problem.into(), detail: "FATAL: nope".into() };
    for (kind, expected) in [
        ("refused", StatusKind::Blocked),
        ("unreachable", StatusKind::Waiting),
        ("driver", StatusKind::Blocked),
    ] {
        let plan = plan_of(&state(Some(ready(first_use(problem(kind), true))), Some(InUse::Sqlite)));
        assert_eq!(plan.statuses[0].kind, expected, "{kind}");
        if kind != "driver" {
            assert!(plan.statuses[0].message.contains("pg-primary.model.svc:5432"), "{}", plan.statuses[0]);
        }
        assert_eq!(database_name(&plan), Some("sqlite3"), "{kind}");
        assert!(plan.steps.is_empty());
    }
    let no_create = Inspection::Connected {
        pending_background_updates: 0,
        collate: "C".into(),
        ctype: "C".into(),
        tables: 0,
        port_started: false,
        can_create: false,
        superuser: false,
    };
    let plan = plan_of(&state(Some(ready(first_use(no_create, false))), Some(InUse::Sqlite)));
    assert!(plan.statuses[0].message.contains("relation_id_7 may not create tables"));
}

#[test]
fn a_failed_port_is_not_retried_at_every_hook() {
    let failed = Some(FirstUse { inspection: fit(3), sqlite_exists: true, port_failed: Some("boom".into()) });
    let plan = plan_of(&state(Some(ready(failed)), Some(InUse::Sqlite)));
    assert!(plan.steps.is_empty());
    assert_eq!(database_name(&plan), Some("sqlite3"));
    assert!(plan.statuses[0].message.contains("porting SQLite to PostgreSQL failed"));
}

#[test]
fn the_inspection_report_reads_both_shapes() {
    let connected: Inspection = serde_json::from_str(
        r#"{"collate": "C", "ctype": "C", "tables": 0, "port_started": false, "can_create": true, "superuser": true, "fixed": false}"#,
    )
    .unwrap();
    assert_eq!(connected, fit(0));
    let problem: Inspection = serde_json::from_str(r#"{"problem": "refused", "detail": "FATAL"}"#).unwrap();
    assert_eq!(problem, Inspection::Problem { problem: "refused".into(), detail: "FATAL".into() });
}

#[test]
fn with_tls_the_server_is_verified_with_the_providers_ca() {
    let mut with_ca = credentials();
    with_ca.tls = Some(postgresql_client::Tls { ca: Some("-----BEGIN CERTIFICATE-----\nMIIB\n".into()) });
    let relation = related(Some(DatabaseView::Ready(Box::new(with_ca))), None);
    let plan = plan_of(&state(Some(relation), on_postgresql()));
    let args = &plan.homeserver.0["database"]["args"];
    assert_eq!(args["sslmode"], "verify-ca");
    let ca = args["sslrootcert"].as_str().unwrap();
    assert!(ca.starts_with("/data/postgresql-ca-") && ca.ends_with(".pem"), "{ca}");
    assert_eq!(plan.files[0].file.path, ca);
    assert!(plan.files[0].file.content.starts_with(b"-----BEGIN CERTIFICATE-----"));
    assert!(plan.owned_files.contains(&CA_FILES), "an old CA is removed");

    let mut without_ca = credentials();
    without_ca.tls = Some(postgresql_client::Tls { ca: None });
    let relation = related(Some(DatabaseView::Ready(Box::new(without_ca))), None);
    let plan = plan_of(&state(Some(relation), on_postgresql()));
    assert_eq!(plan.homeserver.0["database"]["args"]["sslmode"], "require");
    assert!(plan.files.is_empty());
    let plain = plan_of(&state(Some(ready(None)), on_postgresql()));
    assert_eq!(plain.homeserver.0["database"]["args"]["sslmode"], "prefer");
}

#[test]
fn the_port_waits_for_synapses_background_updates_on_sqlite() {
    let mut inspection = fit(0);
    if let Inspection::Connected { pending_background_updates, .. } = &mut inspection {
        *pending_background_updates = 54;
    }
    let busy = first_use(inspection, true);
    let plan = plan_of(&state(Some(ready(busy)), Some(InUse::Sqlite)));
    assert!(plan.steps.is_empty(), "synapse_port_db would refuse");
    assert_eq!(database_name(&plan), Some("sqlite3"), "Synapse keeps running to finish them");
    assert_eq!(plan.statuses[0].kind, StatusKind::Waiting);
    assert!(plan.statuses[0].message.contains("54 background updates"), "{}", plan.statuses[0]);
}
