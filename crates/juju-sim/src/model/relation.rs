//! Relations: their ends, databags, scope and each unit's view of the remote units.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::app_of;

/// The role an endpoint plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Provider,
    Requirer,
    Peer,
}

/// One side of a relation: an application's endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationEnd {
    pub app: String,
    pub endpoint: String,
    pub interface: String,
    pub role: Role,
}

/// Which databag: one unit's or one application's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bag {
    Unit(String),
    App(String),
}

/// A relation between two applications, or a peer relation of one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relation {
    pub id: u32,
    /// One end for a peer relation, two otherwise.
    pub ends: Vec<RelationEnd>,
    #[serde(default)]
    pub app_data: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub unit_data: BTreeMap<String, BTreeMap<String, String>>,
    /// Units currently in the relation's scope (from relation-created until relation-broken).
    #[serde(default)]
    pub scope: BTreeSet<String>,
    /// For each local unit, the remote units it has seen join and not yet depart.
    #[serde(default)]
    pub members: BTreeMap<String, BTreeSet<String>>,
    /// Set once `remove-relation` started: departed and broken hooks are on their way.
    #[serde(default)]
    pub dying: bool,
}

impl Relation {
    pub fn is_peer(&self) -> bool {
        self.ends.len() == 1
    }

    /// The end belonging to `app`.
    pub fn end_of(&self, app: &str) -> Option<&RelationEnd> {
        self.ends.iter().find(|end| end.app == app)
    }

    /// The application on the other side from `app` (itself for a peer relation).
    pub fn remote_app(&self, app: &str) -> Option<&str> {
        if self.is_peer() {
            return self.end_of(app).map(|end| end.app.as_str());
        }
        self.end_of(app)?;
        self.ends.iter().find(|end| end.app != app).map(|end| end.app.as_str())
    }

    /// The endpoint name `app` uses for this relation.
    pub fn endpoint_of(&self, app: &str) -> Option<&str> {
        self.end_of(app).map(|end| end.endpoint.as_str())
    }

    pub fn involves(&self, app: &str) -> bool {
        self.end_of(app).is_some()
    }

    /// `<endpoint>:<id>` as `relation-ids` prints it for `app`.
    pub fn fake_id(&self, app: &str) -> Option<String> {
        Some(format!("{}:{}", self.endpoint_of(app)?, self.id))
    }

    /// The relation key Juju shows (`a:db b:server`, sorted).
    pub fn key(&self) -> String {
        let mut names: Vec<String> =
            self.ends.iter().map(|end| format!("{}:{}", end.app, end.endpoint)).collect();
        names.sort();
        names.join(" ")
    }

    /// A unit's own-side settings or another unit's, empty when never written.
    pub fn bag(&self, bag: &Bag) -> Option<&BTreeMap<String, String>> {
        match bag {
            Bag::Unit(unit) => self.unit_data.get(unit),
            Bag::App(app) => self.app_data.get(app),
        }
    }

    pub(crate) fn bag_mut(&mut self, bag: &Bag) -> &mut BTreeMap<String, String> {
        match bag {
            Bag::Unit(unit) => self.unit_data.entry(unit.clone()).or_default(),
            Bag::App(app) => self.app_data.entry(app.clone()).or_default(),
        }
    }

    /// Remote units `unit` currently sees (what `relation-list` prints), sorted as Juju sorts.
    pub fn members_of(&self, unit: &str) -> Vec<String> {
        self.members.get(unit).map(|members| members.iter().cloned().collect()).unwrap_or_default()
    }

    /// Units in scope on the side opposite to `unit` (other peers for a peer relation).
    pub fn remote_units_in_scope(&self, unit: &str) -> Vec<String> {
        let Some(remote_app) = self.remote_app(app_of(unit)) else {
            return Vec::new();
        };
        self.scope
            .iter()
            .filter(|other| app_of(other) == remote_app && other.as_str() != unit)
            .cloned()
            .collect()
    }

    /// Enters `unit` into scope, filling the addresses Juju writes into every unit bag.
    pub(crate) fn enter_scope(&mut self, unit: &str, address: &str) {
        self.scope.insert(unit.to_owned());
        let bag = self.unit_data.entry(unit.to_owned()).or_default();
        bag.insert("private-address".to_owned(), address.to_owned());
        bag.insert("ingress-address".to_owned(), address.to_owned());
        bag.insert("egress-subnets".to_owned(), format!("{address}/32"));
        self.members.entry(unit.to_owned()).or_default();
    }

    pub(crate) fn leave_scope(&mut self, unit: &str) {
        self.scope.remove(unit);
        self.members.remove(unit);
    }
}
