//! The database as a component: SQLite in `/data` until the `database` relation with
//! postgresql-k8s (interface `postgresql_client`, through the `postgresql-client` crate)
//! brings PostgreSQL, then PostgreSQL for good.
//!
//! - The leader asks for a database named after the application, with the `SUPERUSER`
//!   role as upstream does (a relation's roles cannot change later, and it lets the charm
//!   give an *empty* database the `C` collation Synapse requires).
//! - Before Synapse uses a database, the charm connects to it from Synapse's container with
//!   Synapse's own driver ([`INSPECT_SCRIPT`]): a database it cannot reach, that refuses the
//!   credentials, that lacks privileges or has a non-`C` collation with data in it is named
//!   in the status and not used.
//! - A deployment that has been running on SQLite is ported with `synapse_port_db` (unless
//!   `port_sqlite_data` is false); if the port fails, Synapse keeps running on SQLite and
//!   the failure is recorded, so it is not retried at every hook.
//! - Once on PostgreSQL, a removed relation never falls back to an empty SQLite database:
//!   Synapse is stopped and the status says where the data is.
//!
//! The password is only in homeserver.yaml (mode 0600) and on the inspection's stdin;
//! the service's environment records which database Synapse uses, without it.

use juju::{HookContext, HookTools, LogLevel, RelationHook, RelationId};
use postgresql_client::{plan_request, DatabaseCredentials, DatabaseRequest, DatabaseView, Tls};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use crate::component::{ComponentPlan, ContainerStep, Facts, Hold, OwnedFiles, PlannedFile};
use crate::components::synapse::Workload;
use crate::data_dir::DataDir;
use crate::deployment::Deployment;
use crate::layer::AppliedService;
use crate::state::StateError;
use crate::status;
use crate::workload::{
    versioned_path, ContainerFile, CONFIG_PATH, DATA_DIR, SERVICE, SYNAPSE_GID, SYNAPSE_UID,
};

pub const NAME: &str = "database";
/// The relation endpoint (metadata.yaml).
pub const ENDPOINT: &str = "database";
/// The `synapse` service's environment variable naming the database it runs with:
/// `sqlite`, or `postgresql://<user>@<host>:<port>/<database>` (no password).
pub const IN_USE_VARIABLE: &str = "CHARM_DATABASE";
/// The role requested with the database, as upstream does.
const EXTRA_USER_ROLES: &str = "SUPERUSER";
/// Synapse's SQLite database.
pub const SQLITE_PATH: &str = "/data/homeserver.db";
/// Where a failed port is recorded (the database it was for, then the reason).
pub const PORT_FAILED_PATH: &str = "/data/.charm-port-failed";
/// The provider's CA files the charm writes.
pub const CA_FILES: OwnedFiles = OwnedFiles { dir: DATA_DIR, pattern: "postgresql-ca-*.pem" };
/// Connects with Synapse's driver and reports what the charm must know of the database.
pub const INSPECT_SCRIPT: &str = include_str!("inspect.py");

/// What the hook found.
#[derive(Debug, Default)]
pub struct DatabaseState {
    pub relation: Option<Related>,
    /// The database Synapse's running configuration uses, when known.
    pub in_use: Option<InUse>,
}

/// The database of the running configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InUse {
    Sqlite,
    /// With the database's address (`postgresql://user@host:port/db`), when recorded.
    Postgresql(Option<String>),
}

/// The live `database` relation.
#[derive(Debug)]
pub struct Related {
    pub id: RelationId,
    pub provider_app: Option<String>,
    /// This application's bag, as the leader reads it.
    pub own_bag: Option<juju::Databag>,
    /// `None` while the provider application is not known.
    pub view: Option<DatabaseView>,
    /// Read only when the credentials are ready and Synapse does not use them yet.
    pub first_use: Option<FirstUse>,
}

/// What is known of a database before Synapse first uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstUse {
    pub inspection: Inspection,
    /// Whether `/data` holds the SQLite database to port.
    pub sqlite_exists: bool,
    /// A port of SQLite into this database that failed earlier: the reason.
    pub port_failed: Option<String>,
}

/// The inspection's report ([`INSPECT_SCRIPT`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Inspection {
    Connected {
        /// Synapse's background updates not finished on SQLite (`synapse_port_db` refuses
        /// to port before they are); 0 without SQLite.
        #[serde(default)]
        pending_background_updates: u64,
        collate: String,
        ctype: String,
        tables: u64,
        port_started: bool,
        can_create: bool,
        superuser: bool,
    },
    Problem {
        problem: String,
        detail: String,
    },
}

/// The relation (one `relation-ids` when goal-state lists the endpoint as related; with it,
/// the provider's and, on the leader, the own
/// application bag and the user secret), the database in use from the applied plan (or,
/// after a pod restart, from homeserver.yaml on disk), and, while a ready database is not in
/// use yet, the inspection through Pebble and the SQLite file.
pub fn load(
    tools: &HookTools,
    context: &HookContext,
    pebble: &pebble::Client,
    leader: bool,
    workload: &Workload,
    deployment: &Deployment,
) -> Result<DatabaseState, StateError> {
    let in_use = in_use(pebble, workload);
    if !deployment.related_endpoints.contains(ENDPOINT) {
        // goal-state already said there is no such relation: no need to ask.
        return Ok(DatabaseState { relation: None, in_use });
    }
    let broken = match &context.event {
        juju::Event::Relation(event) if event.hook == RelationHook::Broken => Some(&event.relation),
        _ => None,
    };
    let Some(id) = tools.relation_ids(ENDPOINT)?.into_iter().find(|id| Some(id) != broken) else {
        return Ok(DatabaseState { relation: None, in_use });
    };
    let provider_app = tools.relation_remote_app(&id)?;
    let own_bag = if leader { Some(tools.relation_get_app(&id, &context.app_name)?) } else { None };
    let view = match &provider_app {
        Some(app) => Some(DatabaseView::read(tools, &id, app).map_err(StateError::Database)?),
        None => None,
    };
    let first_use = match (&view, &in_use, workload) {
        (Some(DatabaseView::Ready(credentials)), in_use, Workload::Reachable { .. }) if !matches!(in_use, Some(InUse::Postgresql(Some(address))) if *address == address_of(credentials)) => {
            Some(inspect(pebble, credentials).map_err(StateError::Pebble)?)
        }
        _ => None,
    };
    Ok(DatabaseState { relation: Some(Related { id, provider_app, own_bag, view, first_use }), in_use })
}

/// From the applied plan; with no plan of the charm's but its data directory, from the
/// homeserver.yaml it wrote; over a server the charm adopts, from that server's
/// homeserver.yaml (no `database` is SQLite, Synapse's default).
fn in_use(pebble: &pebble::Client, workload: &Workload) -> Option<InUse> {
    let Workload::Reachable { applied, data_dir, .. } = workload else { return None };
    let recorded =
        applied.get(SERVICE).and_then(|service: &AppliedService| service.environment.get(IN_USE_VARIABLE));
    if let Some(value) = recorded {
        return Some(if value == "sqlite" { InUse::Sqlite } else { InUse::Postgresql(Some(value.clone())) });
    }
    let name = match data_dir {
        DataDir::Upstream(upstream) => upstream.homeserver.database.clone(),
        DataDir::Ours => {
            let text = String::from_utf8(pebble.pull(CONFIG_PATH).ok()?).ok()?;
            let document: serde_json::Value = safe_yaml::from_str(&text).ok()?;
            Some(document["database"]["name"].as_str()?.to_string())
        }
        _ => return None,
    };
    match name.as_deref() {
        Some("psycopg2") => Some(InUse::Postgresql(None)),
        _ => Some(InUse::Sqlite),
    }
}

/// Inspects the database from Synapse's container, and looks for the SQLite file and a
/// recorded failed port.
fn inspect(pebble: &pebble::Client, credentials: &DatabaseCredentials) -> pebble::Result<FirstUse> {
    let sqlite_exists = match pebble.list_files(SQLITE_PATH, None, true) {
        Ok(found) => !found.is_empty(),
        Err(error) if error.is_not_found() => false,
        Err(error) => return Err(error),
    };
    let mut settings = connection_settings(credentials, false);
    if sqlite_exists {
        settings["sqlite"] = json!(SQLITE_PATH);
    }
    let request = pebble::ExecRequest {
        stdin: Some(serde_json::to_vec(&settings).expect("JSON values always serialise")),
        timeout: Some(std::time::Duration::from_secs(60)),
        user_id: Some(SYNAPSE_UID),
        group_id: Some(SYNAPSE_GID),
        ..pebble::ExecRequest::new(["python3", "-c", INSPECT_SCRIPT])
    };
    let inspection = match pebble.exec(&request) {
        Ok(output) => serde_json::from_slice(&output.stdout).unwrap_or_else(|_| Inspection::Problem {
            problem: "inspection".into(),
            detail: last_line(&output.stderr_text()),
        }),
        Err(pebble::Error::Api { message, .. } | pebble::Error::Change { err: message, .. }) => {
            Inspection::Problem { problem: "inspection".into(), detail: message }
        }
        Err(error) => return Err(error),
    };
    // A failed port matters only while there is SQLite data to port.
    let port_failed = if sqlite_exists { failed_port(pebble, credentials)? } else { None };
    Ok(FirstUse { inspection, sqlite_exists, port_failed })
}

/// The reason of an earlier port into the database of `credentials` that failed.
fn failed_port(pebble: &pebble::Client, credentials: &DatabaseCredentials) -> pebble::Result<Option<String>> {
    match pebble.pull(PORT_FAILED_PATH) {
        Ok(record) => {
            let record = String::from_utf8_lossy(&record).into_owned();
            let mut lines = record.lines();
            let same_database = lines.next() == Some(address_of(credentials).as_str());
            Ok(same_database.then(|| lines.collect::<Vec<_>>().join(" ")))
        }
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(error),
    }
}

fn last_line(text: &str) -> String {
    text.lines().rev().map(str::trim).find(|line| !line.is_empty()).unwrap_or("no output").to_string()
}

/// `postgresql://<user>@<host>:<port>/<database>`: which database, without the password.
pub fn address_of(credentials: &DatabaseCredentials) -> String {
    let primary = &credentials.primary;
    format!("postgresql://{}@{}/{}", credentials.username, primary, credentials.database)
}

/// The inspection's input: the connection settings, password included.
fn connection_settings(credentials: &DatabaseCredentials, fix_locale: bool) -> serde_json::Value {
    json!({
        "host": credentials.primary.host,
        "port": credentials.primary.port,
        "user": credentials.username,
        "password": credentials.password.expose_secret(),
        "database": credentials.database,
        "sslmode": sslmode(credentials),
        "ca": credentials.tls.as_ref().and_then(|tls| tls.ca.clone()),
        "fix_locale": fix_locale,
    })
}

/// homeserver.yaml's `database` for SQLite.
fn sqlite() -> serde_json::Value {
    json!({"name": "sqlite3", "args": {"database": SQLITE_PATH}})
}

/// libpq's `sslmode`: the server verified with the provider's CA when it sent one, TLS
/// without verification when it says TLS but sent no CA, and TLS if offered otherwise.
fn sslmode(credentials: &DatabaseCredentials) -> &'static str {
    match &credentials.tls {
        Some(Tls { ca: Some(_) }) => "verify-ca",
        Some(Tls { ca: None }) => "require",
        None => "prefer",
    }
}

/// The provider's CA as a file Synapse reads, when TLS is on with a CA.
fn ca_file(credentials: &DatabaseCredentials) -> Option<PlannedFile> {
    let ca = credentials.tls.as_ref()?.ca.as_ref()?;
    Some(PlannedFile {
        file: ContainerFile::public(
            versioned_path(DATA_DIR, "postgresql-ca", "pem", ca.as_bytes()),
            ca.as_bytes(),
        ),
        services: &[SERVICE],
        appservice_of: None,
    })
}

/// homeserver.yaml's `database` for PostgreSQL; `ca` is the CA file's path, if any.
fn postgresql(credentials: &DatabaseCredentials, ca: Option<&str>) -> serde_json::Value {
    let mut args = json!({
        "user": credentials.username,
        "password": credentials.password.expose_secret(),
        "database": credentials.database,
        "host": credentials.primary.host,
        "port": credentials.primary.port,
        "cp_min": 5,
        "cp_max": 10,
        "keepalives_idle": 10,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    });
    args["sslmode"] = json!(sslmode(credentials));
    if let Some(ca) = ca {
        args["sslrootcert"] = json!(ca);
    }
    json!({"name": "psycopg2", "args": args})
}

/// Whether `plan` (this component's) has Synapse use PostgreSQL.
pub fn uses_postgresql(plan: &ComponentPlan) -> bool {
    plan.homeserver.0.get("database").and_then(|database| database["name"].as_str()) == Some("psycopg2")
}

/// The component's plan.
pub fn plan(state: &DatabaseState, facts: &Facts) -> ComponentPlan {
    let mut plan = ComponentPlan::default();
    let Some(relation) = &state.relation else {
        if matches!(state.in_use, Some(InUse::Postgresql(_))) {
            plan.statuses.push(status::database_relation_gone(facts.app));
            plan.log(
                LogLevel::Error,
                "the database relation is gone, but Synapse's data is in PostgreSQL: Synapse is stopped rather than \
                 started on an empty SQLite database. Integrate postgresql-k8s again",
            );
            plan.hold = Some(Hold::Stop);
        } else {
            use_sqlite(&mut plan);
        }
        return plan;
    };
    if facts.speaks_for_app() {
        request(&mut plan, relation, facts.app);
    }
    let on_postgresql = matches!(state.in_use, Some(InUse::Postgresql(_)));
    let credentials = match &relation.view {
        Some(DatabaseView::Ready(credentials)) => credentials,
        other => {
            let reason = match other {
                Some(DatabaseView::NotReady(reason)) => reason.to_string(),
                _ => "the provider application is not known yet".to_string(),
            };
            plan.log(
                LogLevel::Info,
                format!("database: {} ({}) is not ready: {reason}", relation.id, provider(relation)),
            );
            plan.statuses.push(status::database_not_ready(&reason, on_postgresql));
            if on_postgresql {
                plan.hold = Some(Hold::Keep);
            } else {
                use_sqlite(&mut plan);
            }
            return plan;
        }
    };
    plan.secrets = credentials.secrets();
    let Some(first_use) = &relation.first_use else {
        use_postgresql(&mut plan, credentials);
        return plan;
    };
    let keep = |plan: &mut ComponentPlan, status: juju::Status, line: String| {
        plan.log(LogLevel::Error, format!("database: {line}"));
        plan.statuses.push(status);
        if on_postgresql {
            plan.hold = Some(Hold::Keep);
        } else {
            use_sqlite(plan);
        }
    };
    let address = address_of(credentials);
    match &first_use.inspection {
        Inspection::Problem { problem, detail } => {
            let line = format!("{address} cannot be used ({problem}): {detail}");
            keep(
                &mut plan,
                status::database_unusable(problem, detail, &credentials.primary.to_string()),
                line,
            );
        }
        Inspection::Connected { can_create: false, .. } => {
            let line = format!("{address}: the user may not create tables in schema public");
            keep(&mut plan, status::database_no_privileges(&credentials.username), line);
        }
        Inspection::Connected { collate, ctype, tables, superuser, .. }
            if (collate != "C" || ctype != "C") && (*tables > 0 || !superuser) =>
        {
            let line = format!(
                "{address} has collation {collate} and ctype {ctype}; Synapse needs C, and the charm changes it only \
                 on an empty database with the SUPERUSER role"
            );
            keep(&mut plan, status::database_wrong_locale(&credentials.database, collate, ctype), line);
        }
        Inspection::Connected { .. } if first_use.port_failed.is_some() && !on_postgresql => {
            let reason = first_use.port_failed.clone().unwrap_or_default();
            keep(
                &mut plan,
                status::database_port_failed(&reason),
                format!("the port to {address} failed: {reason}"),
            );
        }
        Inspection::Connected {
            collate, ctype, tables, port_started, pending_background_updates, ..
        } => {
            if collate != "C" || ctype != "C" {
                plan.steps.push(ContainerStep::FixDatabaseLocale {
                    script: INSPECT_SCRIPT,
                    input: serde_json::to_vec(&connection_settings(credentials, true))
                        .expect("JSON values always serialise"),
                });
            }
            let port = first_use.sqlite_exists
                && !on_postgresql
                && facts.config.is_some_and(|config| config.port_sqlite_data);
            if port && *tables > 0 && !port_started {
                let line = format!(
                    "{address} already holds tables, and /data holds the SQLite database: not mixing them"
                );
                keep(&mut plan, status::database_not_empty(&credentials.database), line);
                plan.steps.clear();
                return plan;
            }
            if port && *pending_background_updates > 0 {
                let pending = *pending_background_updates;
                plan.log(
                    LogLevel::Info,
                    format!("database: waiting for {pending} background updates on SQLite before porting to {address}"),
                );
                plan.statuses.push(status::database_background_updates(pending));
                plan.steps.clear();
                use_sqlite(&mut plan);
                return plan;
            }
            if port {
                plan.log(
                    LogLevel::Info,
                    format!("database: Synapse's SQLite data will be ported to {address}"),
                );
                plan.steps.push(ContainerStep::PortSqlite {
                    sqlite: SQLITE_PATH,
                    failure_marker: PORT_FAILED_PATH,
                    failure_note: address.clone(),
                });
            } else if first_use.sqlite_exists && !on_postgresql {
                plan.log(
                    LogLevel::Warning,
                    format!(
                        "database: starting on the empty {address} as port_sqlite_data is false; {SQLITE_PATH} stays as \
                         it is"
                    ),
                );
            }
            use_postgresql(&mut plan, credentials);
        }
    }
    plan
}

fn provider(relation: &Related) -> &str {
    relation.provider_app.as_deref().unwrap_or("unknown application")
}

/// The leader's request, once; a published value that differs is kept and logged.
fn request(plan: &mut ComponentPlan, relation: &Related, app: &str) {
    let request = DatabaseRequest::new(app)
        .and_then(|request| request.with_extra_user_roles([EXTRA_USER_ROLES]))
        .expect("an application name is a valid database name, and the role is fixed");
    let own = relation.own_bag.clone().unwrap_or_default();
    let requested = plan_request(&relation.id, &own, &request);
    for conflict in &requested.conflicts {
        plan.log(LogLevel::Warning, format!("database: {conflict}"));
    }
    if !requested.effects.is_empty() {
        plan.log(LogLevel::Info, format!("database: asking {} for the database {app:?}", provider(relation)));
    }
    plan.effects.extend(requested.effects);
}

fn use_sqlite(plan: &mut ComponentPlan) {
    plan.homeserver.set("database", sqlite());
    plan.service_environment.push((SERVICE, IN_USE_VARIABLE.into(), "sqlite".into()));
}

fn use_postgresql(plan: &mut ComponentPlan, credentials: &DatabaseCredentials) {
    let ca = ca_file(credentials);
    plan.homeserver.set("database", postgresql(credentials, ca.as_ref().map(|ca| ca.file.path.as_str())));
    plan.files.extend(ca);
    plan.owned_files.push(CA_FILES);
    plan.service_environment.push((SERVICE, IN_USE_VARIABLE.into(), address_of(credentials)));
}

#[cfg(test)]
pub mod tests;
