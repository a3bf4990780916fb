//! The charm's database inspection script (`src/components/database/inspect.py`), run for
//! real: the Synapse venv's python and psycopg2 against a real PostgreSQL server, with the
//! connection settings on stdin as the charm sends them through Pebble exec.

mod support;

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use support::postgres::{DatabaseUser, Locale, PostgresServer};
use test_support::PythonVenv;

const SCRIPT: &str = include_str!("../src/components/database/inspect.py");

/// Runs the script with `settings` on stdin; its one line of JSON.
fn inspect(settings: Value) -> Value {
    let python = PythonVenv::find("synapse").python().to_path_buf();
    let mut child = Command::new(python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    child.stdin.take().unwrap().write_all(settings.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stdout)))
}

fn settings(user: &DatabaseUser, fix_locale: bool) -> Value {
    json!({"host": user.host, "port": user.port, "user": user.username, "password": user.password,
           "database": user.database, "sslmode": "prefer", "fix_locale": fix_locale})
}

#[test]
fn a_database_made_like_postgresql_k8s_is_seen_as_it_is() {
    let server = PostgresServer::start();
    let user = server.create_database_like_postgresql_k8s_with_roles(3, "synapse", Locale::C, "SUPERUSER");
    let report = inspect(settings(&user, false));
    assert_eq!(
        report,
        json!({"pending_background_updates": 0, "collate": "C", "ctype": "C", "tables": 0, "port_started": false, "can_create": true,
               "superuser": true, "fixed": false})
    );
    server.query("synapse", "CREATE TABLE port_from_sqlite3_to_postgres (table_name text); ALTER TABLE port_from_sqlite3_to_postgres OWNER TO relation_id_3");
    let report = inspect(settings(&user, false));
    assert_eq!((report["tables"].as_u64(), report["port_started"].as_bool()), (Some(1), Some(true)));
}

#[test]
fn an_empty_database_with_another_locale_is_switched_to_c_only_when_asked_and_allowed() {
    let server = PostgresServer::start();
    let user =
        server.create_database_like_postgresql_k8s_with_roles(4, "synapse", Locale::EnUtf8, "SUPERUSER");
    let name = Locale::EnUtf8.name();
    let report = inspect(settings(&user, false));
    assert_eq!((report["collate"].as_str(), report["fixed"].as_bool()), (Some(name), Some(false)));
    let report = inspect(settings(&user, true));
    assert_eq!(
        (report["collate"].as_str(), report["ctype"].as_str(), report["fixed"].as_bool()),
        (Some("C"), Some("C"), Some(true))
    );
    assert_eq!(server.locale_of("synapse"), ("C".to_string(), "C".to_string()), "the server agrees");

    let plain = server.create_database_like_postgresql_k8s(5, "other", Locale::EnUtf8);
    let report = inspect(settings(&plain, true));
    assert_eq!(
        (report["superuser"].as_bool(), report["fixed"].as_bool()),
        (Some(false), Some(false)),
        "no SUPERUSER, no change"
    );
    assert_eq!(report["collate"], name);
}

#[test]
fn refused_unreachable_and_missing_databases_are_problems_not_crashes() {
    let server = PostgresServer::start();
    let user = server.create_database_like_postgresql_k8s(6, "synapse", Locale::C);
    let mut wrong = settings(&user, false);
    wrong["password"] = json!("not-the-password");
    let report = inspect(wrong);
    assert_eq!(report["problem"], "refused", "{report}");
    assert!(!report.to_string().contains("not-the-password"));

    let mut missing = settings(&user, false);
    missing["database"] = json!("nowhere");
    assert_eq!(inspect(missing)["problem"], "missing");

    let mut unreachable = settings(&user, false);
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    unreachable["port"] = json!(free);
    assert_eq!(inspect(unreachable)["problem"], "unreachable");
}

#[test]
fn background_updates_left_on_sqlite_are_counted() {
    let server = PostgresServer::start();
    let user = server.create_database_like_postgresql_k8s(7, "synapse", Locale::C);
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("homeserver.db");
    let python = PythonVenv::find("synapse").python().to_path_buf();
    let made = Command::new(python)
        .args(["-c", "import sqlite3, sys\ndb = sqlite3.connect(sys.argv[1])\ndb.execute('CREATE TABLE background_updates (update_name TEXT)')\ndb.executemany('INSERT INTO background_updates VALUES (?)', [('a',), ('b',)])\ndb.commit()"])
        .arg(&sqlite)
        .status()
        .unwrap();
    assert!(made.success());
    let mut with_sqlite = settings(&user, false);
    with_sqlite["sqlite"] = json!(sqlite);
    assert_eq!(inspect(with_sqlite.clone())["pending_background_updates"], 2);
    let empty = dir.path().join("fresh.db");
    with_sqlite["sqlite"] = json!(empty);
    assert_eq!(inspect(with_sqlite)["pending_background_updates"], 0, "no table, nothing pending");
    assert_eq!(inspect(settings(&user, false))["pending_background_updates"], 0, "no SQLite at all");
}

#[test]
fn with_tls_the_server_is_verified_with_the_providers_ca() {
    let server = PostgresServer::start();
    let user = server.create_database_like_postgresql_k8s(8, "synapse", Locale::C);
    let ca = server.enable_tls();
    let mut verified = settings(&user, false);
    verified["sslmode"] = json!("verify-ca");
    verified["ca"] = json!(ca);
    let report = inspect(verified.clone());
    assert_eq!(report["collate"], "C", "{report}");

    // A CA that did not sign the server's certificate is refused.
    let other = PostgresServer::start();
    let mut wrong = verified;
    wrong["ca"] = json!(other.enable_tls());
    let report = inspect(wrong);
    assert!(report["problem"].is_string(), "{report}");
    assert!(report["detail"].as_str().unwrap().contains("certificate"), "{report}");
}
