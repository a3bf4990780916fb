//! The standard event sequences Juju runs: deploy, scale, integrate, remove-relation, config
//! change, leadership change, upgrade, teardown. Each queues the hooks in Juju's order and
//! runs until the queue is quiet.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

use crate::charm::CharmMeta;
use crate::model::{app_of, Relation, RelationEnd, Role};

use super::apps::validate_config;
use super::{AppSpec, Event, HookRun, SimError, Simulator};

impl Simulator {
    /// Deploys an application: per unit `install` → [peer `relation-created`] →
    /// `leader-elected` | `leader-settings-changed` → `config-changed` → `start` →
    /// `<storage>-storage-attached`; then peers join each other; then `<container>-pebble-ready`.
    pub fn deploy(&mut self, spec: AppSpec) -> Result<Vec<HookRun>, SimError> {
        let name = spec.name.clone();
        let units = self.create_app(spec)?;
        let peers = self.create_peer_relations(&name)?;
        for unit in &units {
            self.queue_unit_setup(unit, &peers)?;
        }
        for relation in &peers {
            for unit in &units {
                for other in units.iter().filter(|other| *other != unit) {
                    self.queue_join(unit, *relation, other)?;
                }
            }
        }
        for unit in &units {
            self.queue_pebble_ready(unit)?;
        }
        self.run_until_quiet()
    }

    fn queue_unit_setup(&mut self, unit: &str, relations: &[u32]) -> Result<(), SimError> {
        self.queue(unit, Event::Install)?;
        for relation in relations {
            self.queue(unit, Event::RelationCreated { relation: *relation })?;
        }
        let leader = self.model.is_leader(unit);
        self.queue(unit, if leader { Event::LeaderElected } else { Event::LeaderSettingsChanged })?;
        self.queue(unit, Event::ConfigChanged)?;
        self.queue(unit, Event::Start)?;
        let storage: Vec<String> = self.unit(unit)?.storage.keys().cloned().collect();
        for storage in storage {
            self.queue(unit, Event::StorageAttached { storage })?;
        }
        Ok(())
    }

    fn queue_join(&mut self, unit: &str, relation: u32, remote: &str) -> Result<(), SimError> {
        self.queue(unit, Event::RelationJoined { relation, unit: remote.to_owned() })?;
        self.queue(unit, Event::RelationChanged { relation, unit: Some(remote.to_owned()) })
    }

    fn queue_pebble_ready(&mut self, unit: &str) -> Result<(), SimError> {
        let containers: Vec<String> = self.app(app_of(unit))?.meta.containers.iter().cloned().collect();
        for container in containers {
            self.queue(unit, Event::PebbleReady { container })?;
        }
        Ok(())
    }

    /// Scales up by one unit: it installs, sees `relation-created` for every relation, then
    /// joins; existing units see it join. Returns the new unit's name.
    pub fn add_unit(&mut self, app: &str) -> Result<(String, Vec<HookRun>), SimError> {
        let unit = self.create_unit(app)?;
        let address = self.unit(&unit)?.address.clone();
        let relations: Vec<u32> = self
            .model
            .relations
            .values()
            .filter(|relation| relation.involves(app) && !relation.dying)
            .map(|relation| relation.id)
            .collect();
        for id in &relations {
            if let Some(relation) = self.model.relation_mut(*id) {
                relation.enter_scope(&unit, &address);
            }
        }
        self.queue_unit_setup(&unit, &relations)?;
        for id in &relations {
            let relation = self.relation(*id)?;
            let remotes = relation.remote_units_in_scope(&unit);
            let remote_app_data = relation
                .remote_app(app)
                .and_then(|remote| relation.app_data.get(remote))
                .is_some_and(|bag| !bag.is_empty())
                && !relation.is_peer();
            for remote in remotes {
                self.queue_join(&unit, *id, &remote)?;
                self.queue_join(&remote, *id, &unit)?;
            }
            if remote_app_data {
                self.queue(&unit, Event::RelationChanged { relation: *id, unit: None })?;
            }
        }
        self.queue_pebble_ready(&unit)?;
        let runs = self.run_until_quiet()?;
        Ok((unit, runs))
    }

    /// Scales down by removing one unit (`juju remove-unit`). The unit runs `stop`, then for
    /// each relation `<ep>-relation-departed` once per remote unit it knows (with
    /// `JUJU_DEPARTING_UNIT` naming itself) and `<ep>-relation-broken` (not for peers), then
    /// `<s>-storage-detaching` and finally `remove`. The remaining units of every relation see
    /// it depart (`JUJU_REMOTE_UNIT` = `JUJU_DEPARTING_UNIT` = the leaving unit). A leader
    /// keeps leadership until its `remove` hook has run; then another unit is elected. Its
    /// unit-owned secrets go with it.
    pub fn remove_unit(&mut self, unit: &str) -> Result<Vec<HookRun>, SimError> {
        self.remove_units(&[unit])
    }

    /// Removes several units at once (`juju remove-unit a/0 a/1`, `juju scale-application`):
    /// all are dying before any hook runs, so two leaving units depart from each other once,
    /// each with itself as `JUJU_DEPARTING_UNIT`. Removing every unit keeps the application,
    /// its secrets and its relations' data for units added later.
    pub fn remove_units(&mut self, units: &[&str]) -> Result<Vec<HookRun>, SimError> {
        for unit in units {
            self.unit(unit)?;
        }
        for unit in units {
            self.unit_mut(unit)?.dying = true;
        }
        for unit in units {
            self.queue_teardown(unit, &BTreeSet::new())?;
        }
        self.run_until_quiet()
    }

    /// Whether `unit` (or its application) is being removed.
    fn leaving(&self, unit: &str) -> bool {
        self.model.unit(unit).is_some_and(|unit| unit.dying) || self.dying_apps.contains(app_of(unit))
    }

    /// The `relation-departed` event `unit` gets when `remote` leaves its view of the relation.
    /// As in Juju's uniter, `JUJU_DEPARTING_UNIT` is the local unit itself when it (or its
    /// application) is dying, and the remote unit otherwise.
    fn departed(&self, unit: &str, relation: u32, remote: &str) -> Event {
        let departing = if self.leaving(unit) { unit } else { remote };
        Event::RelationDeparted { relation, unit: remote.to_owned(), departing: departing.to_owned() }
    }

    /// Queues the teardown of `unit`, already marked dying; relations in `broken_for_all` are
    /// going away entirely (their other side is handled by the caller). Remote units that are
    /// leaving too depart from `unit` in their own teardown.
    fn queue_teardown(&mut self, unit: &str, broken_for_all: &BTreeSet<u32>) -> Result<(), SimError> {
        self.queue(unit, Event::Stop)?;
        let relations: Vec<Relation> = self.model.relations_of_unit(unit).cloned().collect();
        for relation in &relations {
            if !broken_for_all.contains(&relation.id) {
                for remote in relation.remote_units_in_scope(unit) {
                    if !self.leaving(&remote) {
                        let event = self.departed(&remote, relation.id, unit);
                        self.queue(&remote, event)?;
                    }
                }
            }
            for remote in relation.members_of(unit) {
                let event = self.departed(unit, relation.id, &remote);
                self.queue(unit, event)?;
            }
            if !relation.is_peer() {
                self.queue(unit, Event::RelationBroken { relation: relation.id })?;
            }
        }
        let storage: Vec<String> = self.unit(unit)?.storage.keys().cloned().collect();
        for storage in storage {
            self.queue(unit, Event::StorageDetaching { storage })?;
        }
        self.queue(unit, Event::Remove)
    }

    /// Removes an application (`juju remove-application`): its relations end on both sides
    /// (the other side departs from each of its units, then gets `relation-broken`) and every
    /// unit is torn down as in [`Simulator::remove_unit`]. Once its last unit is gone, the
    /// application and the secrets it and its units own are deleted.
    pub fn remove_app(&mut self, app: &str) -> Result<Vec<HookRun>, SimError> {
        let units: Vec<String> = self.app(app)?.unit_names().map(str::to_owned).collect();
        self.dying_apps.insert(app.to_owned());
        for unit in &units {
            self.unit_mut(unit)?.dying = true;
        }
        let relations: BTreeSet<u32> = self
            .model
            .relations
            .values()
            .filter(|relation| relation.involves(app) && !relation.is_peer())
            .map(|relation| relation.id)
            .collect();
        for id in &relations {
            let relation = self.relation(*id)?.clone();
            if let Some(rel) = self.model.relation_mut(*id) {
                rel.dying = true;
            }
            for unit in relation.scope.iter().filter(|unit| app_of(unit) != app) {
                for remote in relation.members_of(unit) {
                    let event = self.departed(unit, *id, &remote);
                    self.queue(unit, event)?;
                }
                self.queue(unit, Event::RelationBroken { relation: *id })?;
            }
        }
        if units.is_empty() {
            self.forget_app(app);
        }
        for unit in &units {
            self.queue_teardown(unit, &relations)?;
        }
        self.run_until_quiet()
    }

    /// Relates two endpoints (`app:endpoint`, or `app` when the match is unambiguous): every
    /// unit on both sides gets `relation-created`, then `relation-joined` + `relation-changed`
    /// for each remote unit, and `relation-changed` for remote application data already set.
    pub fn integrate(&mut self, a: &str, b: &str) -> Result<(u32, Vec<HookRun>), SimError> {
        let id = self.create_relation(a, b)?;
        let relation = self.relation(id)?.clone();
        // Side a's units first, then side b's.
        let units: Vec<String> = relation
            .ends
            .iter()
            .flat_map(|end| {
                relation.scope.iter().filter(|unit| app_of(unit) == end.app).cloned().collect::<Vec<_>>()
            })
            .collect();
        for unit in &units {
            self.queue(unit, Event::RelationCreated { relation: id })?;
        }
        for unit in &units {
            for remote in relation.remote_units_in_scope(unit) {
                self.queue_join(unit, id, &remote)?;
            }
            let remote_data = relation
                .remote_app(app_of(unit))
                .and_then(|remote| relation.app_data.get(remote))
                .is_some_and(|bag| !bag.is_empty());
            if remote_data {
                self.queue(unit, Event::RelationChanged { relation: id, unit: None })?;
            }
        }
        let runs = self.run_until_quiet()?;
        Ok((id, runs))
    }

    /// Adds a relation with every unit already joined, without running hooks
    /// (state-transition style). Returns its id.
    pub fn add_relation(&mut self, a: &str, b: &str) -> Result<u32, SimError> {
        let id = self.create_relation(a, b)?;
        let relation = self.relation(id)?.clone();
        let members: BTreeMap<String, BTreeSet<String>> = relation
            .scope
            .iter()
            .map(|unit| (unit.clone(), relation.remote_units_in_scope(unit).into_iter().collect()))
            .collect();
        if let Some(relation) = self.model.relation_mut(id) {
            relation.members = members;
        }
        Ok(id)
    }

    /// Resolves both endpoints, checks roles and interfaces, and creates the relation with all
    /// live units in scope.
    fn create_relation(&mut self, a: &str, b: &str) -> Result<u32, SimError> {
        let (end_a, end_b) = self.resolve_endpoints(a, b)?;
        let mut units = Vec::new();
        for end in [&end_a, &end_b] {
            for unit in &self.app(&end.app)?.units {
                if !unit.dying {
                    units.push((unit.name.clone(), unit.address.clone()));
                }
            }
        }
        let id = self.new_relation(vec![end_a, end_b]);
        let relation = self.model.relation_mut(id).ok_or(SimError::UnknownRelation(id))?;
        for (unit, address) in units {
            relation.enter_scope(&unit, &address);
        }
        Ok(id)
    }

    fn resolve_endpoints(&self, a: &str, b: &str) -> Result<(RelationEnd, RelationEnd), SimError> {
        let cannot = |reason: &str| SimError::CannotRelate(a.to_owned(), b.to_owned(), reason.to_owned());
        let candidates = |spec: &str| -> Result<Vec<RelationEnd>, SimError> {
            let (app, endpoint) = spec.split_once(':').unwrap_or((spec, ""));
            let meta: &CharmMeta = &self.app(app)?.meta;
            let mut ends = Vec::new();
            for (role, endpoints) in [(Role::Provider, &meta.provides), (Role::Requirer, &meta.requires)] {
                for (name, endpoint_meta) in endpoints {
                    if endpoint.is_empty() || name == endpoint {
                        ends.push(RelationEnd {
                            app: app.to_owned(),
                            endpoint: name.clone(),
                            interface: endpoint_meta.interface.clone(),
                            role,
                        });
                    }
                }
            }
            if ends.is_empty() && !endpoint.is_empty() {
                return Err(SimError::UnknownEndpoint { app: app.to_owned(), endpoint: endpoint.to_owned() });
            }
            Ok(ends)
        };
        let (left, right) = (candidates(a)?, candidates(b)?);
        if left.first().map(|end| &end.app) == right.first().map(|end| &end.app) && !left.is_empty() {
            return Err(cannot("an application cannot relate to itself"));
        }
        let mut matches = Vec::new();
        for l in &left {
            for r in &right {
                if l.interface == r.interface && l.role != r.role {
                    matches.push((l.clone(), r.clone()));
                }
            }
        }
        let (end_a, end_b) = match matches.len() {
            0 => return Err(cannot("no matching endpoints (same interface, provider and requirer)")),
            1 => matches.remove(0),
            _ => return Err(cannot("ambiguous: name the endpoints as app:endpoint")),
        };
        let exists = self.model.relations.values().any(|relation| {
            !relation.dying && relation.ends.contains(&end_a) && relation.ends.contains(&end_b)
        });
        if exists {
            return Err(cannot("relation already exists"));
        }
        Ok((end_a, end_b))
    }

    /// `juju remove-relation`: every unit departs from each remote unit it knows, then gets
    /// `relation-broken` once. The relation (and its secret grants) goes when all are done.
    pub fn remove_relation(&mut self, id: u32) -> Result<Vec<HookRun>, SimError> {
        let relation = self.relation(id)?.clone();
        if relation.is_peer() {
            return Err(SimError::PeerRelation(id));
        }
        if let Some(relation) = self.model.relation_mut(id) {
            relation.dying = true;
        }
        for unit in &relation.scope {
            for remote in relation.members_of(unit) {
                let event = self.departed(unit, id, &remote);
                self.queue(unit, event)?;
            }
        }
        for unit in &relation.scope {
            self.queue(unit, Event::RelationBroken { relation: id })?;
        }
        self.cleanup_relation(id);
        self.run_until_quiet()
    }

    /// `juju config`: sets (or with null, resets) options, then `config-changed` everywhere.
    pub fn set_config(
        &mut self,
        app: &str,
        values: BTreeMap<String, Value>,
    ) -> Result<Vec<HookRun>, SimError> {
        let config = validate_config(self.app(app)?, &values)?;
        let application = self.model.app_mut(app).ok_or_else(|| SimError::UnknownApp(app.to_owned()))?;
        application.config = config;
        let units: Vec<String> = application.unit_names().map(str::to_owned).collect();
        for unit in units {
            self.queue(&unit, Event::ConfigChanged)?;
        }
        self.run_until_quiet()
    }

    /// Moves leadership: `leader-elected` on the new leader, `leader-settings-changed` on the
    /// others.
    pub fn set_leader(&mut self, unit: &str) -> Result<Vec<HookRun>, SimError> {
        self.unit(unit)?;
        let app = app_of(unit).to_owned();
        if let Some(application) = self.model.app_mut(&app) {
            application.leader = Some(unit.to_owned());
        }
        self.queue_leadership(&app, unit)?;
        self.run_until_quiet()
    }

    /// `juju refresh`: optionally switches to a new charm directory (re-reading metadata),
    /// then `upgrade-charm` → `config-changed` → `<container>-pebble-ready` on every unit.
    pub fn upgrade(&mut self, app: &str, charm_dir: Option<PathBuf>) -> Result<Vec<HookRun>, SimError> {
        if let Some(dir) = charm_dir {
            let dir =
                std::fs::canonicalize(&dir).map_err(|e| SimError::io("open charm directory", &dir, e))?;
            let meta = CharmMeta::load(&dir)?;
            let application = self.model.app_mut(app).ok_or_else(|| SimError::UnknownApp(app.to_owned()))?;
            application.meta = meta;
            application.charm_dir = Some(dir.clone());
            let units: Vec<String> = application.unit_names().map(str::to_owned).collect();
            for unit in units {
                self.shadow_charm_dir(&unit, &dir)?;
            }
        }
        let units: Vec<String> = self.app(app)?.unit_names().map(str::to_owned).collect();
        for unit in &units {
            self.queue(unit, Event::UpgradeCharm)?;
            self.queue(unit, Event::ConfigChanged)?;
            self.queue_pebble_ready(unit)?;
        }
        self.run_until_quiet()
    }

    /// Fires `update-status` on every unit of every charm application.
    pub fn update_status(&mut self) -> Result<Vec<HookRun>, SimError> {
        let units: Vec<String> = self
            .model
            .applications
            .values()
            .flat_map(|app| app.unit_names().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        for unit in units {
            self.queue(&unit, Event::UpdateStatus)?;
        }
        self.run_until_quiet()
    }

    /// Queues an event for a unit and runs until quiet.
    pub fn fire(&mut self, unit: &str, event: Event) -> Result<Vec<HookRun>, SimError> {
        self.queue(unit, event)?;
        self.run_until_quiet()
    }
}
