//! The `database` relation on real Synapse and real PostgreSQL 15: a passive postgresql-k8s
//! (`support::postgresql_provider`) answers from a throw-away [`PostgresServer`] on the
//! host's address on the test's pod network, which Synapse's pod reaches. Synapse's SQLite data is ported by the real `synapse_port_db` and served
//! from PostgreSQL afterwards; a rotated password restarts Synapse on the new one; a
//! database with the wrong collation, or credentials the server refuses, leave Synapse on
//! SQLite; a removed relation stops Synapse rather than start it on an empty SQLite.
//!
//! Every test's name starts with `database_`, so `tests/e2e/run database` runs them all.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use juju_sim::model::{ActionStatus, GrantTarget, SecretOwner};
use serde_json::{json, Value};
use test_support::{assert_hooks_succeeded, poll_until};

use crate::host;
use crate::http;
use crate::matrix::{self, user_id};
use crate::model::{load_with_pyyaml, loopback_config, E2e, Services};
use crate::support::postgres::{new_password, DatabaseUser, Locale, PostgresServer};
use crate::support::postgresql_provider::{PostgresqlK8s, POSTGRESQL_APP};
use crate::support::APP;

const UNIT: &str = "synapse/0";
/// The database the charm asks for: the application's name.
const DATABASE: &str = APP;
/// The role the charm asks for with it (`extra-user-roles`).
const EXTRA_USER_ROLES: &str = "SUPERUSER";
const SQLITE: &str = "/data/homeserver.db";
const CONFIG: &str = "/data/homeserver.yaml";
/// Hooks may port a database and restart Synapse on a loaded 2-core machine (the harness's
/// 120 s is for hooks that only configure).
const HOOK_TIMEOUT: Duration = Duration::from_secs(900);
/// The status prefix while `synapse_port_db` runs.
const PORTING: &str = "Porting the SQLite database to PostgreSQL: ";

/// Synapse in a model with a passive postgresql-k8s, backed by its own PostgreSQL server.
/// Dropped in this order: Synapse first, then the server.
struct Setup {
    e2e: E2e,
    postgresql: PostgresqlK8s,
    server: PostgresServer,
}

impl Setup {
    /// Makes the model and its pod network, starts a PostgreSQL server the pods reach;
    /// nothing is deployed yet.
    fn new() -> Self {
        let mut e2e = E2e::new();
        e2e.harness.sim.set_hook_timeout(HOOK_TIMEOUT);
        let (address, subnet) = e2e.host_on_network();
        let server = PostgresServer::start_for_pods(address.into(), &subnet);
        Self { e2e, postgresql: PostgresqlK8s::default(), server }
    }

    /// Synapse deployed, running on SQLite and answering.
    fn on_sqlite() -> Self {
        let mut setup = Self::new();
        // Synapse sleeps a second between batches of its background updates, so a fresh
        // server takes minutes to finish them before it can be ported; a tenth of that keeps
        // some pending at the port (the charm waits for them) without the wait.
        let mut config = loopback_config();
        config
            .push(("additional_homeserver_config", json!("background_updates:\n  sleep_duration_ms: 100\n")));
        setup.e2e.deploy(&[Services::Real], &config);
        setup.e2e.wait_for_synapse(UNIT);
        assert_eq!(setup.database()["name"], "sqlite3");
        setup
    }

    /// A fresh Synapse related to PostgreSQL before its container came up, so it first
    /// starts on PostgreSQL with no SQLite data: the relation id.
    fn on_postgresql() -> (Self, u32) {
        let mut setup = Self::new();
        setup.e2e.deploy_before_pebble(&loopback_config());
        setup.deploy_postgresql();
        let relation = setup.integrate();
        setup.answer(relation, Locale::C);
        setup.e2e.pebble_ready(UNIT);
        setup.e2e.wait_for_synapse(UNIT);
        let database = setup.database();
        assert_eq!(database["name"], "psycopg2", "{database}");
        assert_eq!(database["args"]["user"], format!("relation_id_{relation}"));
        assert!(!setup.exists(SQLITE), "Synapse made a SQLite database");
        setup.assert_active();
        (setup, relation)
    }

    /// `juju deploy postgresql-k8s` (passive, no hooks).
    fn deploy_postgresql(&mut self) {
        self.postgresql = PostgresqlK8s::deploy(&mut self.e2e.harness.sim, 1);
    }

    /// `juju integrate synapse postgresql-k8s`: the relation id. The charm asks for the
    /// database with the SUPERUSER role.
    fn integrate(&mut self) -> u32 {
        let (relation, runs) = self.postgresql.integrate(&mut self.e2e.harness.sim, APP);
        assert_hooks_succeeded(&runs);
        let request = self.postgresql.request(&self.e2e.harness.sim, relation);
        assert_eq!(request.database.as_deref(), Some(DATABASE), "{:?}", request.bag);
        assert_eq!(request.extra_user_roles.as_deref(), Some(EXTRA_USER_ROLES), "{:?}", request.bag);
        relation
    }

    /// postgresql-k8s answers with a new database (or the existing one) and its user.
    fn answer(&mut self, relation: u32, locale: Locale) -> DatabaseUser {
        let answer = self.postgresql.answer(&mut self.e2e.harness.sim, &self.server, relation, locale);
        assert_hooks_succeeded(&answer.runs);
        for run in answer.runs.iter().filter(|run| run.unit == UNIT) {
            eprintln!("{} on {UNIT} took {:.1?}", run.hook, run.duration);
        }
        answer.user
    }

    /// homeserver.yaml's `database`, as Synapse's YAML loader reads it.
    fn database(&self) -> Value {
        load_with_pyyaml(&self.e2e.container_path(UNIT, CONFIG))["database"].clone()
    }

    fn read(&self, path: &str) -> String {
        self.e2e.harness.read(UNIT, path)
    }

    fn exists(&self, path: &str) -> bool {
        self.e2e.container_path(UNIT, path).exists()
    }

    fn status(&self) -> (String, String) {
        self.e2e.harness.status(UNIT)
    }

    fn assert_active(&self) {
        assert_eq!(
            self.status(),
            ("active".into(), String::new()),
            "the charm's warnings and errors:\n{}",
            self.e2e.charm_problems(UNIT)
        );
    }

    /// The unit's status is blocked, with a message containing every one of `parts`.
    fn assert_blocked_with(&self, parts: &[&str]) -> String {
        let (kind, message) = self.status();
        assert_eq!(kind, "blocked", "{message}\n{}", self.e2e.charm_problems(UNIT));
        for part in parts {
            assert!(message.contains(part), "{part:?} is not in the status {message:?}");
        }
        message
    }

    /// How many statuses the unit has shown so far.
    fn status_mark(&self) -> usize {
        self.e2e.harness.sim.unit(UNIT).expect("the unit").status_history.len()
    }

    /// The unit's statuses since `mark`, as `(status, message)`.
    fn statuses_since(&self, mark: usize) -> Vec<(String, String)> {
        let history = &self.e2e.harness.sim.unit(UNIT).expect("the unit").status_history;
        history[mark..].iter().map(|status| (status.status.clone(), status.message.clone())).collect()
    }

    /// The local users in PostgreSQL, read as the superuser.
    fn postgresql_users(&self) -> Vec<String> {
        let rows = self.server.query(DATABASE, "SELECT name FROM users ORDER BY name");
        rows.into_iter().map(|row| row[0].clone()).collect()
    }

    /// The tables in the `public` schema of the database, read as the superuser.
    fn postgresql_tables(&self) -> Vec<String> {
        let sql = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1";
        self.server.query(DATABASE, sql).into_iter().map(|row| row[0].clone()).collect()
    }

    /// Whether an event of `room` in PostgreSQL has `body`.
    fn postgresql_has_message(&self, room: &str, body: &str) -> bool {
        let sql = format!(
            "SELECT count(*) FROM event_json WHERE room_id = '{}' AND json::jsonb #>> '{{content,body}}' = '{}'",
            room.replace('\'', "''"),
            body.replace('\'', "''")
        );
        self.server.query(DATABASE, &sql)[0][0] != "0"
    }

    /// Nothing answers on port 8008 (within a few seconds: a killed Synapse lets go of it).
    fn assert_synapse_gone(&self) {
        let gone = poll_until(Duration::from_secs(30), Duration::from_millis(200), || {
            http::synapse("GET", "/health", None, None).is_err()
        });
        assert!(gone.is_some(), "Synapse still answers; its log:\n{}", self.e2e.synapse_log(UNIT));
        assert_ne!(
            self.e2e.pebble(UNIT).service_state("synapse"),
            Some(pebble_sim::ServiceStatus::Active),
            "the synapse service is active"
        );
    }
}

/// Registers `username` with the `register-user` action: the password it returns.
fn register(e2e: &mut E2e, username: &str) -> String {
    let record = e2e.run_action(UNIT, "register-user", json!({"username": username}));
    assert_eq!(record.status, ActionStatus::Completed, "register-user {username}: {:?}", record.message);
    record.results["user-password"].as_str().expect("a user-password result").to_string()
}

/// Runs `script` with the venv python as root (sqlite3 is in the standard library), the
/// database path as its argument: its stdout.
fn sqlite_script(path: &Path, script: &str) -> String {
    let output =
        Command::new(host::synapse_python()).args(["-c", script]).arg(path).output().expect("python runs");
    assert!(
        output.status.success(),
        "sqlite3 on {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8").trim().to_string()
}

/// The users in a SQLite database, opened read-only.
fn sqlite_users(path: &Path) -> Vec<String> {
    let script = "import json, sqlite3, sys\n\
                  db = sqlite3.connect(f'file:{sys.argv[1]}?mode=ro', uri=True)\n\
                  print(json.dumps([row[0] for row in db.execute('SELECT name FROM users ORDER BY name')]))";
    serde_json::from_str(&sqlite_script(path, script)).expect("a JSON list")
}

/// How many background updates Synapse has still to run on its SQLite database.
fn sqlite_pending_background_updates(path: &Path) -> u64 {
    let script = "import sqlite3, sys\n\
                  db = sqlite3.connect(f'file:{sys.argv[1]}?mode=ro', uri=True)\n\
                  print(db.execute('SELECT count(*) FROM background_updates').fetchone()[0])";
    sqlite_script(path, script).parse().expect("a count")
}

#[test]
fn database_sqlite_data_is_ported_and_survives() {
    let mut setup = Setup::on_sqlite();
    let alice_password = register(&mut setup.e2e, "alice");
    let bob_password = register(&mut setup.e2e, "bob");
    let alice = matrix::login_device("alice", &alice_password, "ALICELAPTOP", "Alice's laptop");
    let bob = matrix::login("bob", &bob_password).expect("bob logs in");
    matrix::set_displayname(&alice, "alice", "Alice Liddell");
    let room = matrix::create_room(&alice, "Down the rabbit hole");
    matrix::join(&bob, &room);
    for (token, txn, body) in [
        (&alice, "m1", "Would you tell me, please, which way I ought to go from here?"),
        (&bob, "m2", "That depends a good deal on where you want to get to."),
        (&alice, "m3", "I don't much care where."),
    ] {
        matrix::send_text(token, &room, txn, body);
    }
    let history = matrix::messages(&bob, &room);
    let texts = matrix::texts(&history);
    assert_eq!(texts.len(), 3, "{history:?}");
    let alice_devices = matrix::devices(&alice);
    assert!(alice_devices.contains(&("ALICELAPTOP".into(), "Alice's laptop".into())), "{alice_devices:?}");

    // A fresh server still has background updates to run on SQLite, which synapse_port_db
    // refuses: the charm waits for them (Synapse keeps serving on SQLite) and ports at a
    // later hook.
    let sqlite = setup.e2e.container_path(UNIT, SQLITE);
    let pending = sqlite_pending_background_updates(&sqlite);
    eprintln!("background updates pending on SQLite: {pending}");
    let sqlite_users_before = sqlite_users(&sqlite);
    assert!(
        [user_id("alice"), user_id("bob")].iter().all(|user| sqlite_users_before.contains(user)),
        "{sqlite_users_before:?}"
    );

    let starts = setup.e2e.synapse_starts(UNIT);
    setup.deploy_postgresql();
    let relation = setup.integrate();
    let (kind, message) = setup.status();
    assert_eq!(kind, "waiting", "{message}");
    assert_eq!(setup.database()["name"], "sqlite3", "nothing changes before PostgreSQL answers");
    let mark = setup.status_mark();
    let user = setup.answer(relation, Locale::C);
    let waiting = std::time::Instant::now();
    while setup.database()["name"] == "sqlite3" {
        let (kind, message) = setup.status();
        assert_eq!(kind, "waiting", "{message}\n{}", setup.e2e.charm_problems(UNIT));
        assert!(message.contains("background updates on SQLite"), "{message}");
        assert!(matrix::whoami(&alice).is_ok(), "Synapse keeps serving on SQLite meanwhile");
        assert!(waiting.elapsed() < Duration::from_secs(300), "the port never started: {message}");
        std::thread::sleep(Duration::from_secs(2));
        assert_hooks_succeeded(&setup.e2e.harness.sim.update_status().expect("update-status runs"));
    }
    eprintln!(
        "ported {:.1?} after the answer ({pending} background updates were pending)",
        waiting.elapsed()
    );

    let statuses = setup.statuses_since(mark);
    let porting: Vec<&(String, String)> =
        statuses.iter().filter(|(_, message)| message.starts_with(PORTING)).collect();
    eprintln!("statuses while porting: {porting:#?}");
    assert!(
        porting.iter().any(|(kind, _)| kind == "maintenance"),
        "no porting status in {statuses:#?}\nthe charm's warnings and errors:\n{}",
        setup.e2e.charm_problems(UNIT)
    );
    assert!(
        !setup.exists("/data/.charm-port-failed"),
        "a failure was recorded: {}",
        setup.read("/data/.charm-port-failed")
    );
    setup.assert_active();
    assert_eq!(setup.e2e.synapse_starts(UNIT), starts + 1, "stopped for the port, started once");
    let database = setup.database();
    assert_eq!(database["name"], "psycopg2", "{database}");
    assert_eq!(database["args"]["database"], DATABASE);
    assert_eq!(database["args"]["user"], user.username);
    assert_eq!(database["args"]["password"], user.password);
    assert_eq!(
        (&database["args"]["host"], &database["args"]["port"]),
        (&json!(user.host), &json!(user.port))
    );
    assert!(!setup.exists("/data/homeserver.yaml.candidate"), "the candidate is left behind");

    // The data is in PostgreSQL, ported by synapse_port_db (whose bookkeeping is there).
    let users = setup.postgresql_users();
    assert!(users.contains(&user_id("alice")) && users.contains(&user_id("bob")), "{users:?}");
    let tables = setup.postgresql_tables();
    assert!(
        tables.iter().any(|table| table == "port_from_sqlite3"),
        "not ported by synapse_port_db: {tables:?}"
    );
    for (_, body) in &texts {
        assert!(setup.postgresql_has_message(&room, body), "{body:?} is not in PostgreSQL");
    }
    let sqlite_after_port = fs::read(&sqlite).expect("/data/homeserver.db is still there");

    // Synapse serves the same users, sessions, devices, room and messages from PostgreSQL.
    setup.e2e.wait_for_synapse(UNIT);
    assert_eq!(matrix::whoami(&alice), Ok(user_id("alice")), "alice's session survives");
    let alice_again = matrix::login("alice", &alice_password).expect("alice logs in with her password");
    let bob_again = matrix::login("bob", &bob_password).expect("bob logs in with his password");
    assert_eq!(matrix::whoami(&bob_again), Ok(user_id("bob")));
    assert_eq!(matrix::messages(&bob_again, &room).len(), history.len(), "the same history");
    assert_eq!(matrix::texts(&matrix::messages(&bob_again, &room)), texts);
    let member = matrix::messages(&alice_again, &room)
        .into_iter()
        .find(|event| event["type"] == "m.room.member" && event["state_key"] == user_id("alice"))
        .expect("alice's membership");
    assert_eq!(member["content"]["displayname"], "Alice Liddell", "{member}");
    assert_eq!(matrix::displayname(&bob_again, "alice").as_deref(), Some("Alice Liddell"));
    let devices = matrix::devices(&alice_again);
    assert!(devices.contains(&("ALICELAPTOP".into(), "Alice's laptop".into())), "{devices:?}");

    // New data goes to PostgreSQL; the SQLite file is left as the port left it.
    let after = "Curiouser and curiouser!";
    matrix::send_text(&alice_again, &room, "m4", after);
    assert!(setup.postgresql_has_message(&room, after), "a new message is not in PostgreSQL");
    let sqlite_now = fs::read(&sqlite).expect("/data/homeserver.db is still there");
    assert!(sqlite_now == sqlite_after_port, "Synapse on PostgreSQL changed /data/homeserver.db");
    assert_eq!(sqlite_users(&sqlite), sqlite_users_before, "the SQLite data is intact");
    assert!(!sqlite_users(&sqlite).is_empty());

    // Settled: another hook neither ports nor restarts.
    assert_hooks_succeeded(&setup.e2e.harness.sim.update_status().expect("update-status runs"));
    assert_eq!(setup.e2e.synapse_starts(UNIT), starts + 1);
    setup.assert_active();
}

#[test]
fn database_password_rotation_reconnects_without_loss() {
    let (mut setup, relation) = Setup::on_postgresql();
    let password = register(&mut setup.e2e, "carol");
    let carol = matrix::login("carol", &password).expect("carol logs in");
    let room = matrix::create_room(&carol, "Before the rotation");
    let before = "Written before the password changed";
    matrix::send_text(&carol, &room, "r1", before);
    let old_password = setup.database()["args"]["password"].as_str().expect("a password").to_string();
    let username = format!("relation_id_{relation}");
    let starts = setup.e2e.synapse_starts(UNIT);

    let (new_password, runs) =
        setup.postgresql.rotate_password(&mut setup.e2e.harness.sim, &setup.server, relation);
    assert_hooks_succeeded(&runs);
    assert!(runs.iter().any(|run| run.unit == UNIT && run.hook == "secret-changed"), "no secret-changed");
    let refused =
        setup.server.login_error(&username, &old_password, DATABASE).expect("the old password is refused");
    assert!(refused.contains("password authentication failed"), "{refused}");
    let database = setup.database();
    assert_eq!(database["args"]["password"], new_password.as_str(), "homeserver.yaml has the new password");
    assert_eq!(database["args"]["user"], username.as_str());
    assert_eq!(setup.e2e.synapse_starts(UNIT), starts + 1, "one restart with the new password");

    setup.e2e.wait_for_synapse(UNIT);
    setup.assert_active();
    assert_eq!(matrix::whoami(&carol), Ok(user_id("carol")), "her session survives");
    let carol_again = matrix::login("carol", &password).expect("carol logs in after the rotation");
    assert_eq!(
        matrix::texts(&matrix::messages(&carol_again, &room)),
        [(user_id("carol"), before.to_string())],
        "the room's history survives"
    );
    let after = "Written after the password changed";
    matrix::send_text(&carol_again, &room, "r2", after);
    assert!(setup.postgresql_has_message(&room, after), "Synapse writes to PostgreSQL");
    assert!(setup.postgresql_users().contains(&user_id("carol")));
    // Every connection Synapse opens now uses the new password: none was refused.
    let log = setup.e2e.synapse_log(UNIT);
    assert!(!log.contains("password authentication failed"), "Synapse used an old password:\n{log}");
}

#[test]
fn database_wrong_locale_is_blocked_with_its_message() {
    let mut setup = Setup::on_sqlite();
    let password = register(&mut setup.e2e, "dave");
    // A database left from an earlier life, with the cluster's default UTF-8 locale and a
    // table: the charm must not change its collation.
    let locale = Locale::EnUtf8.name();
    assert_ne!(locale, "C");
    setup.server.query(
        "postgres",
        &format!(
            "CREATE DATABASE {DATABASE} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE '{locale}' LC_CTYPE '{locale}'"
        ),
    );
    setup.server.query(DATABASE, "CREATE TABLE leftover (id INTEGER PRIMARY KEY, note TEXT)");
    setup.server.query(DATABASE, "INSERT INTO leftover VALUES (1, 'from an earlier life')");
    let config = setup.read(CONFIG);
    let starts = setup.e2e.synapse_starts(UNIT);

    setup.deploy_postgresql();
    let relation = setup.integrate();
    setup.answer(relation, Locale::EnUtf8);

    let message = setup.assert_blocked_with(&[
        DATABASE,
        &format!("collation {locale}"),
        &format!("ctype {locale}"),
        "Synapse needs C",
    ]);
    eprintln!("status: {message}");
    assert_eq!(setup.read(CONFIG), config, "homeserver.yaml is unchanged");
    assert_eq!(setup.database()["name"], "sqlite3");
    assert_eq!(setup.e2e.synapse_starts(UNIT), starts, "Synapse was not restarted");
    assert_eq!(
        setup.server.locale_of(DATABASE),
        (locale.to_string(), locale.to_string()),
        "the collation is kept"
    );
    assert_eq!(setup.postgresql_tables(), ["leftover"], "nothing was ported");
    assert!(!setup.exists("/data/.charm-port-failed"));

    // Synapse keeps serving from SQLite.
    setup.e2e.wait_for_synapse(UNIT);
    let dave = matrix::login("dave", &password).expect("dave logs in");
    assert_eq!(matrix::whoami(&dave), Ok(user_id("dave")));
    assert!(sqlite_users(&setup.e2e.container_path(UNIT, SQLITE)).contains(&user_id("dave")));
    // And says so again at the next hook.
    assert_hooks_succeeded(&setup.e2e.harness.sim.update_status().expect("update-status runs"));
    setup.assert_blocked_with(&[&format!("collation {locale}")]);
    assert_eq!(setup.e2e.synapse_starts(UNIT), starts);
}

#[test]
fn database_removed_stops_synapse() {
    let (mut setup, relation) = Setup::on_postgresql();
    let password = register(&mut setup.e2e, "erin");
    matrix::login("erin", &password).expect("erin logs in");
    let config = setup.read(CONFIG);

    let runs = setup.postgresql.remove(&mut setup.e2e.harness.sim, &setup.server, relation);
    assert_hooks_succeeded(&runs);

    let message = setup.assert_blocked_with(&[
        "the data is in PostgreSQL",
        "Synapse is stopped",
        &format!("juju integrate {APP} {POSTGRESQL_APP}"),
    ]);
    eprintln!("status: {message}");
    setup.assert_synapse_gone();
    assert_eq!(setup.read(CONFIG), config, "homeserver.yaml is not rewritten to SQLite");
    assert_eq!(setup.database()["name"], "psycopg2");
    assert!(!setup.exists(SQLITE), "an empty SQLite database was made");
    assert!(setup.postgresql_users().contains(&user_id("erin")), "the data stays in PostgreSQL");

    // It stays so.
    assert_hooks_succeeded(&setup.e2e.harness.sim.update_status().expect("update-status runs"));
    setup.assert_blocked_with(&["the data is in PostgreSQL"]);
    setup.assert_synapse_gone();
    assert!(!setup.exists(SQLITE));
}

#[test]
fn database_refused_credentials_change_nothing() {
    let mut setup = Setup::on_sqlite();
    let password = register(&mut setup.e2e, "frank");
    setup.deploy_postgresql();
    let relation = setup.integrate();
    let config = setup.read(CONFIG);
    let starts = setup.e2e.synapse_starts(UNIT);

    // postgresql-k8s makes the user and the database, but publishes a password the server
    // does not know (in its user secret, granted to the relation, as it publishes any).
    let user = setup.server.create_database_like_postgresql_k8s_with_roles(
        relation,
        DATABASE,
        Locale::C,
        EXTRA_USER_ROLES,
    );
    let wrong = DatabaseUser { password: new_password(), ..user.clone() };
    assert!(setup.server.login_error(&wrong.username, &wrong.password, DATABASE).is_some());
    let sim = &mut setup.e2e.harness.sim;
    let content = [
        ("username".to_string(), wrong.username.clone()),
        ("password".to_string(), wrong.password.clone()),
        ("uris".to_string(), wrong.uri()),
    ]
    .into();
    let label = setup.postgresql.secret_label(relation, "user");
    let secret = sim
        .add_secret(SecretOwner::Application(POSTGRESQL_APP.into()), content, Some(label))
        .expect("secret added");
    sim.grant_secret(&secret, relation, GrantTarget::Application(APP.into())).expect("secret granted");
    let (endpoint, version) = (user.endpoint(), setup.server.version());
    let runs = setup.postgresql.set_bag(
        sim,
        relation,
        &[
            ("secret-user", secret.as_str()),
            ("endpoints", endpoint.as_str()),
            ("read-only-endpoints", endpoint.as_str()),
            ("database", DATABASE),
            ("version", version.as_str()),
        ],
    );
    assert_hooks_succeeded(&runs);

    let message =
        setup.assert_blocked_with(&["refuses the credentials", &endpoint, "password authentication failed"]);
    eprintln!("status: {message}");
    assert!(!message.contains(&wrong.password), "the status shows the password");
    assert_eq!(setup.read(CONFIG), config, "homeserver.yaml is unchanged");
    assert_eq!(setup.database()["name"], "sqlite3");
    assert_eq!(setup.e2e.synapse_starts(UNIT), starts, "Synapse was not restarted");
    assert!(setup.postgresql_tables().is_empty(), "something was written to PostgreSQL");
    assert!(!setup.exists("/data/.charm-port-failed"));

    // Synapse keeps serving from SQLite.
    setup.e2e.wait_for_synapse(UNIT);
    let frank = matrix::login("frank", &password).expect("frank logs in");
    assert_eq!(matrix::whoami(&frank), Ok(user_id("frank")));
    assert!(sqlite_users(&setup.e2e.container_path(UNIT, SQLITE)).contains(&user_id("frank")));
}
