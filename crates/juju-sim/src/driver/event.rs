//! Events the simulator can fire, their hook names, and the kind-specific environment Juju
//! sets for them.

use serde::{Deserialize, Serialize};

use crate::model::{app_of, Model};

/// A hook event for one unit. Relation events name the relation by id; the hook name comes
/// from the unit's own endpoint for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    Install,
    Start,
    Stop,
    Remove,
    ConfigChanged,
    UpgradeCharm,
    UpdateStatus,
    LeaderElected,
    LeaderSettingsChanged,
    RelationCreated {
        relation: u32,
    },
    RelationJoined {
        relation: u32,
        unit: String,
    },
    /// `unit` is the remote unit whose bag changed, `None` for an application-bag change.
    RelationChanged {
        relation: u32,
        unit: Option<String>,
    },
    RelationDeparted {
        relation: u32,
        unit: String,
        departing: String,
    },
    RelationBroken {
        relation: u32,
    },
    PebbleReady {
        container: String,
    },
    PebbleCustomNotice {
        container: String,
        notice_id: String,
        key: String,
    },
    PebbleCheckFailed {
        container: String,
        check: String,
    },
    PebbleCheckRecovered {
        container: String,
        check: String,
    },
    SecretChanged {
        id: String,
    },
    SecretRotate {
        id: String,
    },
    SecretExpired {
        id: String,
        revision: u32,
    },
    SecretRemove {
        id: String,
        revision: u32,
    },
    StorageAttached {
        storage: String,
    },
    StorageDetaching {
        storage: String,
    },
}

impl Event {
    /// The relation this event is about.
    pub fn relation(&self) -> Option<u32> {
        match self {
            Event::RelationCreated { relation }
            | Event::RelationJoined { relation, .. }
            | Event::RelationChanged { relation, .. }
            | Event::RelationDeparted { relation, .. }
            | Event::RelationBroken { relation } => Some(*relation),
            _ => None,
        }
    }

    /// The hook name for `unit`, or `None` if the relation is unknown to it.
    pub fn hook_name(&self, model: &Model, unit: &str) -> Option<String> {
        let relation_hook = |relation: &u32, suffix: &str| {
            let endpoint = model.relation(*relation)?.endpoint_of(app_of(unit))?;
            Some(format!("{endpoint}-relation-{suffix}"))
        };
        let storage_name = |storage: &str| storage.split('/').next().unwrap_or(storage).to_owned();
        Some(match self {
            Event::Install => "install".to_owned(),
            Event::Start => "start".to_owned(),
            Event::Stop => "stop".to_owned(),
            Event::Remove => "remove".to_owned(),
            Event::ConfigChanged => "config-changed".to_owned(),
            Event::UpgradeCharm => "upgrade-charm".to_owned(),
            Event::UpdateStatus => "update-status".to_owned(),
            Event::LeaderElected => "leader-elected".to_owned(),
            Event::LeaderSettingsChanged => "leader-settings-changed".to_owned(),
            Event::RelationCreated { relation } => return relation_hook(relation, "created"),
            Event::RelationJoined { relation, .. } => return relation_hook(relation, "joined"),
            Event::RelationChanged { relation, .. } => return relation_hook(relation, "changed"),
            Event::RelationDeparted { relation, .. } => return relation_hook(relation, "departed"),
            Event::RelationBroken { relation } => return relation_hook(relation, "broken"),
            Event::PebbleReady { container } => format!("{container}-pebble-ready"),
            Event::PebbleCustomNotice { container, .. } => {
                format!("{container}-pebble-custom-notice")
            }
            Event::PebbleCheckFailed { container, .. } => {
                format!("{container}-pebble-check-failed")
            }
            Event::PebbleCheckRecovered { container, .. } => {
                format!("{container}-pebble-check-recovered")
            }
            Event::SecretChanged { .. } => "secret-changed".to_owned(),
            Event::SecretRotate { .. } => "secret-rotate".to_owned(),
            Event::SecretExpired { .. } => "secret-expired".to_owned(),
            Event::SecretRemove { .. } => "secret-remove".to_owned(),
            Event::StorageAttached { storage } => {
                format!("{}-storage-attached", storage_name(storage))
            }
            Event::StorageDetaching { storage } => {
                format!("{}-storage-detaching", storage_name(storage))
            }
        })
    }

    /// The kind-specific environment variables (relation, secret, workload, storage).
    pub fn env(&self, model: &Model, unit: &str) -> Vec<(&'static str, String)> {
        let mut env = Vec::new();
        if let Some(id) = self.relation() {
            let relation = model.relation(id);
            let app = app_of(unit);
            let endpoint = relation.and_then(|r| r.endpoint_of(app)).unwrap_or_default().to_owned();
            let remote_app = relation.and_then(|r| r.remote_app(app)).unwrap_or_default().to_owned();
            let remote_unit = match self {
                Event::RelationJoined { unit, .. } | Event::RelationDeparted { unit, .. } => unit.clone(),
                Event::RelationChanged { unit, .. } => unit.clone().unwrap_or_default(),
                _ => String::new(),
            };
            env.push(("JUJU_RELATION", endpoint.clone()));
            env.push(("JUJU_RELATION_ID", format!("{endpoint}:{id}")));
            env.push(("JUJU_REMOTE_APP", remote_app));
            env.push(("JUJU_REMOTE_UNIT", remote_unit));
            if let Event::RelationDeparted { departing, .. } = self {
                env.push(("JUJU_DEPARTING_UNIT", departing.clone()));
            }
        }
        match self {
            Event::PebbleReady { container }
            | Event::PebbleCheckFailed { container, .. }
            | Event::PebbleCheckRecovered { container, .. }
            | Event::PebbleCustomNotice { container, .. } => {
                env.push(("JUJU_WORKLOAD_NAME", container.clone()));
            }
            _ => {}
        }
        match self {
            Event::PebbleCustomNotice { notice_id, key, .. } => {
                env.push(("JUJU_NOTICE_ID", notice_id.clone()));
                env.push(("JUJU_NOTICE_TYPE", "custom".to_owned()));
                env.push(("JUJU_NOTICE_KEY", key.clone()));
            }
            Event::PebbleCheckFailed { check, .. } | Event::PebbleCheckRecovered { check, .. } => {
                env.push(("JUJU_PEBBLE_CHECK_NAME", check.clone()));
            }
            Event::SecretChanged { id }
            | Event::SecretRotate { id }
            | Event::SecretExpired { id, .. }
            | Event::SecretRemove { id, .. } => {
                let secret = model.secret(id);
                let label = secret
                    .and_then(|secret| {
                        if secret.owner.includes(unit) {
                            secret.label.clone()
                        } else {
                            secret.consumers.get(unit).and_then(|c| c.label.clone())
                        }
                    })
                    .unwrap_or_default();
                env.push(("JUJU_SECRET_ID", format!("secret:{id}")));
                env.push(("JUJU_SECRET_LABEL", label));
                if let Event::SecretExpired { revision, .. } | Event::SecretRemove { revision, .. } = self {
                    env.push(("JUJU_SECRET_REVISION", revision.to_string()));
                }
            }
            Event::StorageAttached { storage } | Event::StorageDetaching { storage } => {
                let attachment = model.unit(unit).and_then(|unit| unit.storage.get(storage).cloned());
                env.push(("JUJU_STORAGE_ID", storage.clone()));
                env.push((
                    "JUJU_STORAGE_LOCATION",
                    attachment.as_ref().map(|a| a.location.clone()).unwrap_or_default(),
                ));
                env.push(("JUJU_STORAGE_KIND", attachment.map(|a| a.kind).unwrap_or_default()));
            }
            _ => {}
        }
        env
    }
}
