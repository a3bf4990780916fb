//! Creating applications, units (with their own charm directories) and relations.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::charm::CharmMeta;
use crate::model::{
    app_of, is_valid_app_name, Application, Relation, RelationEnd, Role, StatusInfo, StorageAttachment, Unit,
};

use super::{AppSpec, SimError, Simulator};

impl Simulator {
    /// Adds an application and its units without running any hook (state-transition style:
    /// it is as if it had been deployed and settled). Peer relations are created with every
    /// unit joined. Use [`Simulator::deploy`] to run the deploy hooks instead.
    pub fn add_app(&mut self, spec: AppSpec) -> Result<(), SimError> {
        let name = spec.name.clone();
        let units = self.create_app(spec)?;
        for relation in self.create_peer_relations(&name)? {
            for unit in &units {
                let others: BTreeSet<String> = units.iter().filter(|other| *other != unit).cloned().collect();
                if let Some(relation) = self.model.relation_mut(relation) {
                    relation.members.insert(unit.clone(), others);
                }
            }
        }
        Ok(())
    }

    /// Creates the application and its units (no relations, no hooks).
    pub(super) fn create_app(&mut self, spec: AppSpec) -> Result<Vec<String>, SimError> {
        if !is_valid_app_name(&spec.name) {
            return Err(SimError::InvalidAppName(spec.name));
        }
        if self.model.app(&spec.name).is_some() {
            return Err(SimError::DuplicateApp(spec.name));
        }
        let charm_dir = match &spec.charm_dir {
            Some(dir) => {
                Some(fs::canonicalize(dir).map_err(|e| SimError::io("open charm directory", dir, e))?)
            }
            None => None,
        };
        let meta = match (&charm_dir, spec.metadata) {
            (Some(dir), _) => CharmMeta::load(dir)?,
            (None, Some(meta)) => meta,
            (None, None) => CharmMeta::default(),
        };
        let index = u32::try_from(self.model.applications.len()).unwrap_or(u32::MAX);
        let mut app = Application {
            name: spec.name.clone(),
            charm_dir,
            meta,
            config: BTreeMap::new(),
            units: Vec::new(),
            leader: None,
            status: StatusInfo::new("unknown", ""),
            status_history: Vec::new(),
            leader_settings: BTreeMap::new(),
            next_unit: 0,
            trusted: spec.trusted,
            resources: spec.resources,
            index,
            unit_env: spec.unit_env,
        };
        app.config = validate_config(&app, &spec.config)?;
        self.model.applications.insert(spec.name.clone(), app);
        // Addresses and environment given to units of an earlier application of that name
        // are void.
        self.future_addresses.retain(|unit, _| app_of(unit) != spec.name);
        self.future_env.retain(|unit, _| app_of(unit) != spec.name);
        for (number, address) in spec.unit_addresses {
            self.future_addresses.insert(format!("{}/{number}", spec.name), address);
        }
        let mut units = Vec::new();
        for _ in 0..spec.units {
            units.push(self.create_unit(&spec.name)?);
        }
        Ok(units)
    }

    /// Creates a unit (status, address, storage, its own charm directory); the first unit of
    /// a leaderless application becomes leader.
    pub(super) fn create_unit(&mut self, app_name: &str) -> Result<String, SimError> {
        let app = self.model.app_mut(app_name).ok_or_else(|| SimError::UnknownApp(app_name.to_owned()))?;
        let number = app.next_unit;
        app.next_unit += 1;
        let name = format!("{app_name}/{number}");
        let storage = app
            .meta
            .storage
            .iter()
            .map(|(storage, meta)| {
                let id = format!("{storage}/{number}");
                let location = meta
                    .location
                    .clone()
                    .unwrap_or_else(|| format!("/var/lib/juju/storage/{storage}/{number}"));
                (id, StorageAttachment { kind: meta.kind.clone(), location })
            })
            .collect();
        let unit = Unit {
            name: name.clone(),
            status: StatusInfo::new("waiting", "installing agent"),
            status_history: Vec::new(),
            workload_version: String::new(),
            state: BTreeMap::new(),
            opened_ports: BTreeMap::new(),
            address: match self.future_addresses.remove(&name) {
                Some(address) => address.to_string(),
                None => format!("10.1.{}.{}", app.index % 250, 10 + number % 240),
            },
            env: {
                let mut env = app.unit_env.clone();
                env.extend(self.future_env.remove(&name).unwrap_or_default());
                env
            },
            storage,
            dying: false,
        };
        app.units.push(unit);
        if app.leader.is_none() {
            app.leader = Some(name.clone());
        }
        let charm_dir = app.charm_dir.clone();
        if let Some(source) = charm_dir {
            self.shadow_charm_dir(&name, &source)?;
        }
        Ok(name)
    }

    /// Each unit gets its own charm directory (as Juju copies the charm per unit): a directory
    /// of symlinks to the charm's top-level entries, so files a charm writes at its top level
    /// (such as ops' `.unit-state.db`) stay per unit.
    pub(super) fn shadow_charm_dir(&self, unit: &str, source: &Path) -> Result<(), SimError> {
        let dir = self.unit_charm_dir(unit);
        if dir.exists() {
            for entry in fs::read_dir(&dir).map_err(|e| SimError::io("read", &dir, e))? {
                let entry = entry.map_err(|e| SimError::io("read", &dir, e))?;
                let path = entry.path();
                let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
                if is_link {
                    fs::remove_file(&path).map_err(|e| SimError::io("remove", &path, e))?;
                }
            }
        }
        fs::create_dir_all(&dir).map_err(|e| SimError::io("create", &dir, e))?;
        for entry in fs::read_dir(source).map_err(|e| SimError::io("read", source, e))? {
            let entry = entry.map_err(|e| SimError::io("read", source, e))?;
            let link = dir.join(entry.file_name());
            if link.exists() {
                continue;
            }
            std::os::unix::fs::symlink(entry.path(), &link).map_err(|e| SimError::io("create", &link, e))?;
        }
        Ok(())
    }

    /// The charm directory hooks of `unit` run in.
    pub fn unit_charm_dir(&self, unit: &str) -> PathBuf {
        self.work.path().join("units").join(unit.replace('/', "-")).join("charm")
    }

    /// Creates the application's peer relations (all units in scope, nobody joined yet).
    pub(super) fn create_peer_relations(&mut self, app: &str) -> Result<Vec<u32>, SimError> {
        let application = self.app(app)?;
        let peers: Vec<(String, String)> = application
            .meta
            .peers
            .iter()
            .map(|(name, meta)| (name.clone(), meta.interface.clone()))
            .collect();
        let units: Vec<(String, String)> =
            application.units.iter().map(|unit| (unit.name.clone(), unit.address.clone())).collect();
        let mut ids = Vec::new();
        for (endpoint, interface) in peers {
            let id = self.new_relation(vec![RelationEnd {
                app: app.to_owned(),
                endpoint,
                interface,
                role: Role::Peer,
            }]);
            let relation = self.model.relation_mut(id).ok_or(SimError::UnknownRelation(id))?;
            for (unit, address) in &units {
                relation.enter_scope(unit, address);
            }
            ids.push(id);
        }
        Ok(ids)
    }

    pub(super) fn new_relation(&mut self, ends: Vec<RelationEnd>) -> u32 {
        let id = self.model.next_relation_id;
        self.model.next_relation_id += 1;
        self.model.relations.insert(
            id,
            Relation {
                id,
                ends,
                app_data: BTreeMap::new(),
                unit_data: BTreeMap::new(),
                scope: BTreeSet::new(),
                members: BTreeMap::new(),
                dying: false,
            },
        );
        id
    }

    pub(super) fn has_charm(&self, unit_or_app: &str) -> bool {
        self.model.app(app_of(unit_or_app)).is_some_and(|app| app.charm_dir.is_some())
    }
}

/// Validates config values against the application's options.
pub(super) fn validate_config(
    app: &Application,
    values: &BTreeMap<String, Value>,
) -> Result<BTreeMap<String, Value>, SimError> {
    let mut config = app.config.clone();
    for (key, value) in values {
        let option = app.meta.config.get(key).ok_or_else(|| SimError::InvalidConfig {
            app: app.name.clone(),
            message: format!("unknown option {key:?}"),
        })?;
        let value = option
            .coerce(key, value)
            .map_err(|message| SimError::InvalidConfig { app: app.name.clone(), message })?;
        if value.is_null() {
            config.remove(key);
        } else {
            config.insert(key.clone(), value);
        }
    }
    Ok(config)
}
