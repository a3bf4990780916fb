//! The PostgreSQL test infrastructure itself: real PostgreSQL 15 servers
//! (`support::postgres`), reached with psycopg2 from the Synapse venv as Synapse would, and
//! the passive postgresql-k8s provider (`support::postgresql_provider`), whose bag and secrets
//! must read exactly as `shared/specs/integrations.md` §1 says. The requirer here is passive
//! too, writing the request as the Python library pinned by Synapse's charm does, so these
//! tests hold whatever the charm does.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use juju_sim::model::{Bag, GrantTarget, SecretOwner};
use juju_sim::{AppSpec, CharmMeta, Simulator};
use support::postgres::{DatabaseUser, Locale, PostgresServer, SUPERUSER};
use support::postgresql_provider::{
    python_json_list, request_entries, AnswerOptions, PostgresqlK8s, POSTGRESQL_APP, REQUESTED_SECRETS,
};
use test_support::PythonVenv;

/// The passive stand-in for the charm: the requirer application.
const REQUIRER: &str = "synapse";

fn synapse_python() -> PathBuf {
    PythonVenv::find("synapse").python().to_path_buf()
}

/// Runs `sql` as `user` with psycopg2, panicking on an error.
fn psycopg2(user: &DatabaseUser, sql: &str) -> Vec<Vec<Option<String>>> {
    user.query_with_psycopg2(&synapse_python(), sql)
        .unwrap_or_else(|error| panic!("psycopg2 as {} failed: {error}", user.username))
}

fn strings(rows: &[&[&str]]) -> Vec<Vec<Option<String>>> {
    rows.iter().map(|row| row.iter().map(|value| Some(value.to_string())).collect()).collect()
}

#[test]
fn databases_have_the_requested_locale_seen_through_psycopg2() {
    let server = PostgresServer::start();
    let c = server.create_database_like_postgresql_k8s(3, "synapse_c", Locale::C);
    let utf8 = server.create_database_like_postgresql_k8s(4, "synapse_utf8", Locale::EnUtf8);
    assert_eq!(c.username, "relation_id_3");
    assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", server.port()));
    assert_ne!(c.password, utf8.password);

    let locale = "SELECT datcollate, datctype FROM pg_database WHERE datname = current_database()";
    assert_eq!(psycopg2(&c, locale), strings(&[&["C", "C"]]));
    let name = Locale::EnUtf8.name();
    assert_ne!(name, "C");
    assert_eq!(psycopg2(&utf8, locale), strings(&[&[name, name]]));
    assert_eq!(server.locale_of("synapse_utf8"), (name.to_string(), name.to_string()));

    // As postgresql-k8s: the user owns its database (PostgreSQL 15), may create tables in
    // public, and only it (and the superuser) may connect.
    let owners = server.query(
        "postgres",
        "SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname LIKE 'synapse_%' ORDER BY 1",
    );
    assert_eq!(owners, [["synapse_c", "relation_id_3"], ["synapse_utf8", "relation_id_4"]]);
    psycopg2(&c, "CREATE TABLE users (name TEXT PRIMARY KEY)");
    psycopg2(&c, "INSERT INTO users VALUES ('@alice:example.com')");
    assert_eq!(server.query("synapse_c", "SELECT name FROM users"), [["@alice:example.com"]]);
    let intruder = DatabaseUser { database: "synapse_c".into(), ..utf8.clone() };
    let error =
        intruder.query_with_psycopg2(&synapse_python(), "SELECT 1").expect_err("no CONNECT for others");
    assert!(error.contains("permission denied for database"), "{error}");

    // Password authentication over TCP only on 127.0.0.1.
    let wrong = DatabaseUser { password: "wrong".into(), ..c.clone() };
    let error = wrong.query_with_psycopg2(&synapse_python(), "SELECT 1").expect_err("a wrong password fails");
    assert!(error.contains("password authentication failed"), "{error}");
    assert_eq!(server.query("postgres", "SHOW listen_addresses"), [["127.0.0.1"]]);
    assert_eq!(server.query("postgres", "SHOW password_encryption"), [["scram-sha-256"]]);
    let version = server.version();
    assert!(version.starts_with("15.") && version[3..].parse::<u32>().is_ok(), "{version}");
}

/// Synapse's own check of a PostgreSQL database (its `PostgresEngine.check_database`, which
/// Synapse runs at start and `synapse_port_db` before porting), as `user`: `Ok` or its error.
fn synapse_database_check(user: &DatabaseUser) -> Result<(), String> {
    const SCRIPT: &str = r#"
import os, psycopg2
from synapse.storage.engines import create_engine
args = {"host": os.environ["TEST_DB_HOST"], "port": int(os.environ["TEST_DB_PORT"]),
        "user": os.environ["TEST_DB_USER"], "password": os.environ["TEST_DB_PASSWORD"],
        "dbname": os.environ["TEST_DB_NAME"]}
engine = create_engine({"name": "psycopg2", "args": args})
connection = psycopg2.connect(**args)
try:
    engine.check_database(connection)
finally:
    connection.close()
"#;
    let output = std::process::Command::new(synapse_python())
        .args(["-c", SCRIPT])
        .env("TEST_DB_HOST", &user.host)
        .env("TEST_DB_PORT", user.port.to_string())
        .env("TEST_DB_USER", &user.username)
        .env("TEST_DB_PASSWORD", &user.password)
        .env("TEST_DB_NAME", &user.database)
        .output()
        .expect("run the Synapse venv's python");
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn synapse_takes_the_c_database_and_refuses_the_other_locale() {
    let server = PostgresServer::start();
    let c = server.create_database_like_postgresql_k8s(1, "synapse_c", Locale::C);
    let utf8 = server.create_database_like_postgresql_k8s(2, "synapse_utf8", Locale::EnUtf8);
    synapse_database_check(&c).unwrap_or_else(|error| panic!("Synapse refuses the C database: {error}"));
    let error = synapse_database_check(&utf8).expect_err("Synapse refuses a database that is not C");
    assert!(error.contains("IncorrectDatabaseSetup") && error.contains("incorrect collation"), "{error}");
}

#[test]
fn passwords_change_and_users_go_as_on_postgresql_k8s() {
    let server = PostgresServer::start();
    let user = server.create_database_like_postgresql_k8s_with_roles(7, "synapse", Locale::C, "SUPERUSER");
    assert_eq!(
        server.query("postgres", "SELECT rolsuper FROM pg_roles WHERE rolname = 'relation_id_7'"),
        [["t"]]
    );
    psycopg2(&user, "CREATE TABLE events (id SERIAL PRIMARY KEY, body TEXT)");
    psycopg2(&user, "INSERT INTO events (body) VALUES ('one')");
    psycopg2(&user, "CREATE VIEW bodies AS SELECT body FROM events");
    psycopg2(
        &user,
        "CREATE FUNCTION count_events() RETURNS BIGINT LANGUAGE sql AS 'SELECT count(*) FROM events'",
    );

    server.set_password(&user.username, "new-Password'1");
    let error =
        server.login_error(&user.username, &user.password, "synapse").expect("the old password fails");
    assert!(error.contains("password authentication failed"), "{error}");
    let rotated = DatabaseUser { password: "new-Password'1".into(), ..user.clone() };
    assert_eq!(psycopg2(&rotated, "SELECT body FROM events"), strings(&[&["one"]]));

    // relation-broken: the user goes, the database and its data stay with the superuser.
    server.drop_user_like_postgresql_k8s(&user.username);
    assert!(!server.role_exists(&user.username));
    let owner = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'synapse'";
    assert_eq!(server.query("postgres", owner), [[SUPERUSER]]);
    assert_eq!(server.query("synapse", "SELECT body FROM events"), [["one"]]);

    // A new relation gets the existing database, its tables and sequences handed over.
    let again = server.create_database_like_postgresql_k8s(8, "synapse", Locale::EnUtf8);
    assert_eq!(server.query("postgres", owner), [["relation_id_8"]]);
    assert_eq!(
        server.locale_of("synapse"),
        ("C".to_string(), "C".to_string()),
        "the database is kept as it was"
    );
    psycopg2(&again, "INSERT INTO events (body) VALUES ('two')");
    let owners = "SELECT tableowner FROM pg_tables WHERE tablename = 'events' UNION ALL \
                  SELECT viewowner FROM pg_views WHERE viewname = 'bodies' UNION ALL \
                  SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'count_events'";
    assert_eq!(server.query("synapse", owners), [["relation_id_8"], ["relation_id_8"], ["relation_id_8"]]);
    assert_eq!(psycopg2(&again, "SELECT count_events()"), strings(&[&["2"]]));
    assert_eq!(
        psycopg2(&again, "SELECT id, body FROM events ORDER BY id"),
        strings(&[&["1", "one"], &["2", "two"]])
    );
}

#[test]
fn servers_run_side_by_side_and_leave_nothing_behind() {
    let first = PostgresServer::start();
    let second = PostgresServer::start();
    assert_ne!(first.port(), second.port());
    assert_ne!(first.data_dir(), second.data_dir());
    first.create_database_like_postgresql_k8s(1, "synapse", Locale::C);
    second.create_database_like_postgresql_k8s(1, "synapse", Locale::C);
    let (dir, port) = (first.data_dir(), first.port());
    drop(first);
    assert!(!dir.exists(), "{} is left behind", dir.display());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the server still listens on {port}");
    assert_eq!(second.query("synapse", "SELECT current_user"), [[SUPERUSER]]);
}

/// A model with a passive requirer (`synapse`, endpoint `database`) and a passive
/// postgresql-k8s, related: the simulator, the provider and the relation id.
fn model(requirer: &str) -> (Simulator, PostgresqlK8s, u32) {
    let mut sim = Simulator::new().expect("juju-sim starts");
    let meta = CharmMeta::from_yaml(&format!(
        "name: {requirer}\nrequires:\n  database:\n    interface: postgresql_client\n    limit: 1\n"
    ))
    .expect("requirer metadata");
    sim.add_app(AppSpec::passive(requirer, meta).units(2)).expect("requirer added");
    let provider = PostgresqlK8s::deploy(&mut sim, 1);
    let (relation, runs) = provider.integrate(&mut sim, requirer);
    assert!(runs.is_empty(), "passive applications run no hooks: {runs:?}");
    (sim, provider, relation)
}

/// The requirer leader's request, as data_interfaces writes it in `relation-created`.
fn send_request(sim: &mut Simulator, relation: u32, entries: Vec<(String, String)>) {
    sim.set_relation_data(relation, Bag::App(REQUIRER.into()), entries.into_iter().collect())
        .expect("request");
}

fn keys(map: &BTreeMap<String, String>) -> Vec<&str> {
    map.keys().map(String::as_str).collect()
}

#[test]
fn provider_answers_in_secrets_as_postgresql_k8s_does() {
    let server = PostgresServer::start();
    let (mut sim, provider, relation) = model(REQUIRER);
    send_request(&mut sim, relation, request_entries("synapse", "SUPERUSER"));
    assert_eq!(
        provider.request(&sim, relation).requested_secrets,
        Some(REQUESTED_SECRETS.iter().map(|field| field.to_string()).collect())
    );
    let answer = provider.answer(&mut sim, &server, relation, Locale::EnUtf8);
    assert!(answer.runs.is_empty(), "{:?}", answer.runs);

    let bag = provider.bag(&sim, relation);
    assert_eq!(
        keys(&bag),
        ["data", "database", "endpoints", "read-only-endpoints", "secret-tls", "secret-user", "version"]
    );
    let endpoint = format!("127.0.0.1:{}", server.port());
    assert_eq!(bag["endpoints"], endpoint);
    assert_eq!(bag["read-only-endpoints"], endpoint);
    assert_eq!(bag["database"], "synapse");
    assert_eq!(bag["version"], server.version());
    assert!(bag["version"].starts_with("15."), "{}", bag["version"]);
    let request = format!(
        "{{\"database\": \"synapse\", \"extra-user-roles\": \"SUPERUSER\", \"requested-secrets\": {}}}",
        serde_json::to_string(&python_json_list(&REQUESTED_SECRETS)).unwrap()
    );
    assert_eq!(bag["data"], request);
    assert_eq!(Some(&bag["secret-user"]), answer.user_secret.as_ref());
    assert_eq!(Some(&bag["secret-tls"]), answer.tls_secret.as_ref());

    for (group, key) in [("user", "secret-user"), ("tls", "secret-tls")] {
        let secret = sim.secret(&bag[key]).expect("the bag's secret exists");
        assert!(bag[key].starts_with("secret:") && !bag[key].starts_with("secret://"), "{}", bag[key]);
        assert_eq!(secret.owner, SecretOwner::Application(POSTGRESQL_APP.into()));
        assert_eq!(secret.label.as_deref(), Some(format!("database.{relation}.{group}.secret").as_str()));
        assert_eq!(secret.revisions.len(), 1);
        let grants: Vec<_> =
            secret.grants.iter().map(|grant| (grant.relation_id, grant.target.clone())).collect();
        assert_eq!(grants, [(relation, GrantTarget::Application(REQUIRER.into()))]);
        assert!(secret.can_view("synapse/0") && secret.can_view("synapse/1"));
    }
    let user = provider.secret_content(&sim, relation, "user");
    assert_eq!(keys(&user), ["password", "uris", "username"]);
    assert_eq!(user["username"], format!("relation_id_{relation}"));
    assert_eq!(user["password"], answer.user.password);
    assert_eq!(
        user["uris"],
        format!("postgresql://relation_id_{relation}:{}@{endpoint}/synapse", user["password"])
    );
    let tls = provider.secret_content(&sim, relation, "tls");
    assert_eq!(tls, BTreeMap::from([("tls".into(), "False".into()), ("tls-ca".into(), String::new())]));

    // The credentials are real: psycopg2 connects with them, to the database with the locale
    // asked for, as a superuser (the extra user role).
    let sql = "SELECT current_user, datcollate, rolsuper FROM pg_database, pg_roles \
               WHERE datname = current_database() AND rolname = current_user";
    let name = Locale::EnUtf8.name();
    assert_eq!(psycopg2(&answer.user, sql), strings(&[&[&user["username"], name, "True"]]));
}

#[test]
fn provider_answers_in_the_bag_without_requested_secrets() {
    let server = PostgresServer::start();
    let (mut sim, provider, relation) = model(REQUIRER);
    send_request(&mut sim, relation, vec![("database".into(), "synapse".into())]);
    let answer = provider.answer(&mut sim, &server, relation, Locale::C);
    assert_eq!((answer.user_secret, answer.tls_secret), (None, None));
    assert!(sim.model().secrets.is_empty(), "no secret in plain mode");
    let bag = provider.bag(&sim, relation);
    assert_eq!(
        keys(&bag),
        [
            "data",
            "database",
            "endpoints",
            "password",
            "read-only-endpoints",
            "tls",
            "uris",
            "username",
            "version"
        ]
    );
    assert_eq!(bag["username"], format!("relation_id_{relation}"));
    assert_eq!(bag["password"], answer.user.password);
    assert_eq!(bag["uris"], answer.user.uri());
    assert_eq!(bag["tls"], "False");
    assert_eq!(bag["data"], "{\"database\": \"synapse\"}");
    assert_eq!(psycopg2(&answer.user, "SELECT current_database()"), strings(&[&["synapse"]]));

    // Rotation in plain mode: the bag, and the server, change.
    let (password, _) = provider.rotate_password(&mut sim, &server, relation);
    let bag = provider.bag(&sim, relation);
    assert_eq!(bag["password"], password);
    assert_eq!(bag["uris"], DatabaseUser { password: password.clone(), ..answer.user.clone() }.uri());
    assert!(server.login_error(&answer.user.username, &answer.user.password, "synapse").is_some());
    assert_eq!(server.login_error(&answer.user.username, &password, "synapse"), None);
}

#[test]
fn provider_answers_plainly_an_old_relation_that_asks_for_secrets() {
    let server = PostgresServer::start();
    let (mut sim, provider, relation) = model(REQUIRER);
    send_request(&mut sim, relation, request_entries("synapse", ""));
    let answer = provider.answer_plain(&mut sim, &server, relation, Locale::C);
    assert!(answer.user_secret.is_none() && sim.model().secrets.is_empty());
    let bag = provider.bag(&sim, relation);
    assert_eq!(bag["password"], answer.user.password);
    assert!(!bag.contains_key("secret-user"));
}

#[test]
fn provider_rotates_the_secret_and_removes_the_user() {
    let server = PostgresServer::start();
    let (mut sim, provider, relation) = model(REQUIRER);
    send_request(&mut sim, relation, request_entries("synapse", ""));
    let options = AnswerOptions { long_secret_uris: true, ..AnswerOptions::default() };
    let answer = provider.answer_with(&mut sim, &server, relation, &options);
    let uri = answer.user_secret.expect("secret mode");
    assert_eq!(
        uri,
        format!("secret://{}/{}", sim.model().uuid, provider.secret(&sim, relation, "user").unwrap().id)
    );

    let (password, _) = provider.rotate_password(&mut sim, &server, relation);
    let secret = sim.secret(&uri).expect("secret-user");
    assert_eq!(secret.latest_revision(), 2);
    let content = secret.latest().unwrap().decoded();
    assert_eq!(content["password"], password);
    let rotated = DatabaseUser { password: password.clone(), ..answer.user.clone() };
    assert_eq!(content["uris"], rotated.uri());
    assert_eq!(secret.revision(1).unwrap().decoded()["password"], answer.user.password);
    assert!(server.login_error(&answer.user.username, &answer.user.password, "synapse").is_some());
    assert_eq!(psycopg2(&rotated, "SELECT current_user"), strings(&[&[&answer.user.username]]));

    provider.remove(&mut sim, &server, relation);
    assert!(sim.relation(relation).is_err(), "the relation is gone");
    assert!(!server.role_exists(&answer.user.username));
    assert!(server.query("postgres", "SELECT 1 FROM pg_database WHERE datname = 'synapse'").len() == 1);
}
