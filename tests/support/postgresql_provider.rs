//! A *passive* `postgresql-k8s` application for the simulated Juju, backed by a real
//! [`PostgresServer`]: it runs no hooks; the tests make its leader answer the `database`
//! relation the way postgresql-k8s (data_interfaces v0 provider) does, as
//! `shared/specs/integrations.md` §1 describes:
//!
//! - the real user `relation_id_<id>` and database are made on the server;
//! - with `requested-secrets` in the requirer's application bag, the requested fields go into
//!   Juju secrets owned by the PostgreSQL application, labelled `database.<id>.<group>.secret`
//!   and granted to the relation: `secret-user` (`username`, `password`, `uris`, and
//!   `read-only-uris` if requested) and `secret-tls` (`tls` = `False`, `tls-ca` = ""); fields
//!   not requested are written in the bag in clear;
//! - without `requested-secrets` (a relation older than secrets), everything is in the bag;
//! - `endpoints` and `read-only-endpoints` (the server's `host:port`), `database`, `version`
//!   (`15.x` of the real server) and the provider library's `data` snapshot of the request.
//!
//! Every write is one change of the PostgreSQL leader's bag, so the requirer sees one
//! `relation-changed` per unit. The functions return the hooks that ran without judging them.

use std::collections::BTreeMap;

use juju_sim::model::{Bag, GrantTarget, Secret, SecretOwner};
use juju_sim::{CharmMeta, HookRun, SimError, Simulator};

use super::passive_app;
use super::postgres::{new_password, DatabaseUser, Locale, PostgresServer};

/// The application name postgresql-k8s is usually deployed as.
pub const POSTGRESQL_APP: &str = "postgresql-k8s";
/// The endpoint on both sides (`database`, interface `postgresql_client`).
pub const ENDPOINT: &str = "database";
pub const INTERFACE: &str = "postgresql_client";
/// The fields data_interfaces puts in the `user` secret group.
pub const USER_FIELDS: [&str; 4] = ["username", "password", "uris", "read-only-uris"];
/// The fields data_interfaces puts in the `tls` secret group.
pub const TLS_FIELDS: [&str; 2] = ["tls", "tls-ca"];
/// What Synapse's pinned data_interfaces (0/39) asks for in `requested-secrets`.
pub const REQUESTED_SECRETS: [&str; 5] = ["username", "password", "tls", "tls-ca", "uris"];

/// The requirer's request, from its application bag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseRequest {
    pub database: Option<String>,
    pub extra_user_roles: Option<String>,
    /// The `requested-secrets` list; `None` when absent (plain mode).
    pub requested_secrets: Option<Vec<String>>,
    /// The whole bag, as the provider library snapshots it in `data`.
    pub bag: BTreeMap<String, String>,
}

/// How [`PostgresqlK8s::answer_with`] answers.
#[derive(Debug, Clone)]
pub struct AnswerOptions {
    /// Collation and character classification of a new database.
    pub locale: Locale,
    /// Credentials in the bag even if the requirer asked for secrets (a relation that
    /// started before secrets existed keeps this mode).
    pub plain: bool,
    /// Secret URIs in the bag as `secret://<model-uuid>/<id>` rather than `secret:<id>`.
    pub long_secret_uris: bool,
}

impl Default for AnswerOptions {
    fn default() -> Self {
        Self { locale: Locale::C, plain: false, long_secret_uris: false }
    }
}

/// What an answer made.
#[derive(Debug)]
pub struct Answer {
    /// The user and database made on the server.
    pub user: DatabaseUser,
    /// The URI of `secret-user` (secret mode), as written in the bag.
    pub user_secret: Option<String>,
    /// The URI of `secret-tls` (secret mode), as written in the bag.
    pub tls_secret: Option<String>,
    /// The hooks the bag write ran (the requirer's `relation-changed`).
    pub runs: Vec<HookRun>,
}

/// A passive postgresql-k8s application in a simulated model.
#[derive(Debug, Clone)]
pub struct PostgresqlK8s {
    pub app: String,
}

impl Default for PostgresqlK8s {
    fn default() -> Self {
        Self::named(POSTGRESQL_APP)
    }
}

impl PostgresqlK8s {
    pub fn named(app: &str) -> Self {
        Self { app: app.to_string() }
    }

    /// The provider's metadata.
    pub fn metadata(&self) -> CharmMeta {
        passive_app::metadata(&self.app, ENDPOINT, INTERFACE)
    }

    /// Adds the application with `units` units (the first leads); no hook runs.
    pub fn deploy(sim: &mut Simulator, units: u32) -> Self {
        let provider = Self::default();
        provider.add_to(sim, units);
        provider
    }

    /// Adds this application to `sim` with `units` units; no hook runs.
    pub fn add_to(&self, sim: &mut Simulator, units: u32) {
        passive_app::add(sim, &self.app, ENDPOINT, INTERFACE, units);
    }

    /// `juju integrate <requirer>:<endpoint> <app>:<endpoint>`: the relation id and the hooks
    /// that ran.
    pub fn integrate(&self, sim: &mut Simulator, requirer: &str) -> (u32, Vec<HookRun>) {
        passive_app::integrate(sim, requirer, &self.app, ENDPOINT)
    }

    /// The other application of `relation`.
    pub fn requirer(&self, sim: &Simulator, relation: u32) -> String {
        let relation = sim.relation(relation).expect("relation exists");
        relation
            .remote_app(&self.app)
            .unwrap_or_else(|| panic!("{} is not in the relation", self.app))
            .to_string()
    }

    /// The request in the requirer's application bag.
    pub fn request(&self, sim: &Simulator, relation: u32) -> DatabaseRequest {
        let requirer = self.requirer(sim, relation);
        let bag = sim.relation_data(relation, &Bag::App(requirer)).expect("relation exists");
        let requested_secrets = bag.get("requested-secrets").map(|list| {
            serde_json::from_str(list).unwrap_or_else(|error| panic!("requested-secrets {list:?}: {error}"))
        });
        DatabaseRequest {
            database: bag.get("database").cloned(),
            extra_user_roles: bag.get("extra-user-roles").cloned(),
            requested_secrets,
            bag,
        }
    }

    /// Answers the request on `relation` with a new database of `locale`, in secrets if the
    /// requirer asked for them. Panics if the requirer has not asked for a database yet
    /// (postgresql-k8s writes nothing but endpoints before that).
    pub fn answer(
        &self,
        sim: &mut Simulator,
        server: &PostgresServer,
        relation: u32,
        locale: Locale,
    ) -> Answer {
        self.answer_with(sim, server, relation, &AnswerOptions { locale, ..AnswerOptions::default() })
    }

    /// [`PostgresqlK8s::answer`] with every field in the bag, as for a relation that started
    /// before secrets existed.
    pub fn answer_plain(
        &self,
        sim: &mut Simulator,
        server: &PostgresServer,
        relation: u32,
        locale: Locale,
    ) -> Answer {
        self.answer_with(
            sim,
            server,
            relation,
            &AnswerOptions { locale, plain: true, ..AnswerOptions::default() },
        )
    }

    /// Makes the user and database the requirer asked for on `server` (with its
    /// `extra-user-roles`) and publishes them as postgresql-k8s does.
    pub fn answer_with(
        &self,
        sim: &mut Simulator,
        server: &PostgresServer,
        relation: u32,
        options: &AnswerOptions,
    ) -> Answer {
        let (mut answer, runs) = self.try_answer_with(sim, server, relation, options);
        answer.runs = runs.expect("bag written");
        answer
    }

    /// [`PostgresqlK8s::answer_with`] when the requirer's hooks may fail: the answer (with no
    /// `runs`) and what publishing it made the requirer do.
    pub fn try_answer_with(
        &self,
        sim: &mut Simulator,
        server: &PostgresServer,
        relation: u32,
        options: &AnswerOptions,
    ) -> (Answer, Result<Vec<HookRun>, SimError>) {
        let request = self.request(sim, relation);
        let database = request.database.clone().unwrap_or_else(|| {
            panic!("the requirer has not asked for a database on relation {relation}: {:?}", request.bag)
        });
        let user = server.create_database_like_postgresql_k8s_with_roles(
            relation,
            &database,
            options.locale,
            request.extra_user_roles.as_deref().unwrap_or_default(),
        );
        let requested: Vec<String> =
            if options.plain { Vec::new() } else { request.requested_secrets.clone().unwrap_or_default() };
        let is_requested = |field: &str| requested.iter().any(|name| name == field);

        let mut fields: Vec<(&str, String)> = vec![
            ("username", user.username.clone()),
            ("password", user.password.clone()),
            ("uris", user.uri()),
        ];
        if is_requested("read-only-uris") {
            fields.push(("read-only-uris", user.uri()));
        }
        fields.push(("tls", "False".to_string()));
        fields.push(("tls-ca", String::new()));

        let requirer = self.requirer(sim, relation);
        let mut bag = BTreeMap::new();
        let mut secrets = BTreeMap::new();
        for (group, members) in [("user", &USER_FIELDS[..]), ("tls", &TLS_FIELDS[..])] {
            let content: BTreeMap<String, String> = fields
                .iter()
                .filter(|(field, _)| members.contains(field) && is_requested(field))
                .map(|(field, value)| (field.to_string(), value.clone()))
                .collect();
            if content.is_empty() {
                continue;
            }
            let uri = sim
                .add_secret(
                    SecretOwner::Application(self.app.clone()),
                    content,
                    Some(self.secret_label(relation, group)),
                )
                .expect("secret added");
            sim.grant_secret(&uri, relation, GrantTarget::Application(requirer.clone()))
                .expect("secret granted");
            let uri = if options.long_secret_uris { long_uri(sim, &uri) } else { uri };
            bag.insert(format!("secret-{group}"), uri.clone());
            secrets.insert(group, uri);
        }
        for (field, value) in &fields {
            if !is_requested(field) {
                // An empty value is no key at all in a databag.
                bag.insert(field.to_string(), value.clone());
            }
        }
        bag.insert("endpoints".into(), user.endpoint());
        bag.insert("read-only-endpoints".into(), user.endpoint());
        bag.insert("database".into(), database);
        bag.insert("version".into(), server.version());
        bag.insert("data".into(), snapshot(&request.bag));
        let runs = sim.set_relation_data(relation, Bag::App(self.app.clone()), bag);
        let answer = Answer {
            user,
            user_secret: secrets.remove("user"),
            tls_secret: secrets.remove("tls"),
            runs: Vec::new(),
        };
        (answer, runs)
    }

    /// Gives the relation's user a new random password: the real `ALTER ROLE` first, then a
    /// new revision of `secret-user` (secret mode, which runs `secret-changed` on the
    /// requirer's units that track the secret) or new `password` and `uris` in the bag (plain
    /// mode). Returns the new password and the hooks that ran.
    pub fn rotate_password(
        &self,
        sim: &mut Simulator,
        server: &PostgresServer,
        relation: u32,
    ) -> (String, Vec<HookRun>) {
        let password = new_password();
        let runs = self.rotate_password_to(sim, server, relation, &password);
        (password, runs)
    }

    /// [`PostgresqlK8s::rotate_password`] to `password`.
    pub fn rotate_password_to(
        &self,
        sim: &mut Simulator,
        server: &PostgresServer,
        relation: u32,
        password: &str,
    ) -> Vec<HookRun> {
        let username = format!("relation_id_{relation}");
        server.set_password(&username, password);
        let bag = self.bag(sim, relation);
        let new_uri = |uri: &str| {
            let old = uri.split_once('@').map(|(_, rest)| rest).unwrap_or_else(|| panic!("a URI: {uri}"));
            format!("postgresql://{username}:{password}@{old}")
        };
        match bag.get("secret-user") {
            Some(uri) => {
                let mut content =
                    sim.secret(uri).expect("secret-user exists").latest().expect("a revision").decoded();
                content.insert("password".into(), password.to_string());
                for field in ["uris", "read-only-uris"] {
                    if let Some(uri) = content.get(field) {
                        let uri = new_uri(uri);
                        content.insert(field.into(), uri);
                    }
                }
                let uri = uri.clone();
                sim.update_secret(&uri, content).expect("secret updated")
            }
            None => {
                let mut entries = BTreeMap::from([("password".to_string(), password.to_string())]);
                for field in ["uris", "read-only-uris"] {
                    if let Some(uri) = bag.get(field) {
                        entries.insert(field.into(), new_uri(uri));
                    }
                }
                sim.set_relation_data(relation, Bag::App(self.app.clone()), entries).expect("bag written")
            }
        }
    }

    /// `juju remove-relation`, then what postgresql-k8s's leader does on `relation-broken`:
    /// drop `relation_id_<id>` (the database and its data stay, owned by the superuser).
    pub fn remove(&self, sim: &mut Simulator, server: &PostgresServer, relation: u32) -> Vec<HookRun> {
        let runs = sim.remove_relation(relation).expect("remove-relation runs");
        server.drop_user_like_postgresql_k8s(&format!("relation_id_{relation}"));
        runs
    }

    /// Writes the PostgreSQL leader's bag as it would (`""` deletes a key) and returns the
    /// hooks that ran, for answers the functions above do not give.
    pub fn set_bag(&self, sim: &mut Simulator, relation: u32, entries: &[(&str, &str)]) -> Vec<HookRun> {
        let data = entries.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect();
        sim.set_relation_data(relation, Bag::App(self.app.clone()), data).expect("bag written")
    }

    /// The PostgreSQL application's bag on `relation`.
    pub fn bag(&self, sim: &Simulator, relation: u32) -> BTreeMap<String, String> {
        sim.relation_data(relation, &Bag::App(self.app.clone())).expect("relation exists")
    }

    /// The owner label of a group's secret: `database.<relation id>.<group>.secret`.
    pub fn secret_label(&self, relation: u32, group: &str) -> String {
        format!("{ENDPOINT}.{relation}.{group}.secret")
    }

    /// The secret of `group` (`user`, `tls`) made for `relation`, if any.
    pub fn secret<'a>(&self, sim: &'a Simulator, relation: u32, group: &str) -> Option<&'a Secret> {
        let label = self.secret_label(relation, group);
        sim.model().secrets.values().find(|secret| {
            secret.label.as_deref() == Some(label.as_str())
                && secret.owner == SecretOwner::Application(self.app.clone())
        })
    }

    /// The latest content of the secret of `group` made for `relation`.
    pub fn secret_content(&self, sim: &Simulator, relation: u32, group: &str) -> BTreeMap<String, String> {
        let secret =
            self.secret(sim, relation, group).unwrap_or_else(|| panic!("no {group} secret for {relation}"));
        secret.latest().expect("a revision").decoded()
    }
}

/// The request a requirer with data_interfaces 0/39 (Synapse's pin) writes in
/// `relation-created`: `requested-secrets`, `database` and `extra-user-roles`, for tests whose
/// requirer is passive too.
pub fn request_entries(database: &str, extra_user_roles: &str) -> Vec<(String, String)> {
    let requested = python_json_list(&REQUESTED_SECRETS);
    let mut entries =
        vec![("requested-secrets".to_string(), requested), ("database".to_string(), database.to_string())];
    if !extra_user_roles.is_empty() {
        entries.push(("extra-user-roles".to_string(), extra_user_roles.to_string()));
    }
    entries
}

/// A list of strings as Python's `json.dumps` writes it: `["a", "b"]`.
pub fn python_json_list(items: &[&str]) -> String {
    let items: Vec<String> =
        items.iter().map(|item| serde_json::to_string(item).expect("a JSON string")).collect();
    format!("[{}]", items.join(", "))
}

/// `secret://<model uuid>/<id>` for `secret:<id>`.
pub fn long_uri(sim: &Simulator, uri: &str) -> String {
    let id = uri.rsplit(['/', ':']).next().expect("an id");
    format!("secret://{}/{id}", sim.model().uuid)
}

/// The provider library's `data` snapshot of the requirer's bag: Python's `json.dumps` of it.
fn snapshot(bag: &BTreeMap<String, String>) -> String {
    let json = |text: &str| serde_json::to_string(text).expect("a JSON string");
    let entries: Vec<String> = bag
        .iter()
        .filter(|(key, _)| key.as_str() != "data")
        .map(|(key, value)| format!("{}: {}", json(key), json(value)))
        .collect();
    format!("{{{}}}", entries.join(", "))
}
