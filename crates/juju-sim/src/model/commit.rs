//! Buffered hook changes and how they apply to the model when a hook succeeds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Bag, GrantTarget, Model, PortRange, RotatePolicy, Secret, SecretContent, SecretGrant};

/// One transactional change a hook tool recorded; applied in order only if the hook exits 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum Change {
    /// `relation-set`: `None` deletes the key.
    RelationSet {
        relation: u32,
        bag: Bag,
        settings: BTreeMap<String, Option<String>>,
    },
    StateSet {
        key: String,
        value: String,
    },
    StateDelete {
        key: String,
    },
    OpenPort {
        endpoint: String,
        range: PortRange,
    },
    ClosePort {
        endpoint: String,
        range: PortRange,
    },
    SecretCreate {
        secret: Box<Secret>,
    },
    /// `secret-set`: new content and/or metadata.
    SecretUpdate {
        id: String,
        content: Option<SecretContent>,
        label: Option<String>,
        description: Option<String>,
        expiry: Option<String>,
        rotate: Option<RotatePolicy>,
        next_rotation: Option<String>,
    },
    SecretGrant {
        id: String,
        relation: u32,
        target: GrantTarget,
    },
    SecretRevoke {
        id: String,
        target: GrantTarget,
    },
    SecretRemove {
        id: String,
        revision: Option<u32>,
    },
}

impl Change {
    /// Applies the change as `unit`'s hook commit would.
    pub fn apply(&self, model: &mut Model, unit: &str) {
        match self {
            Change::RelationSet { relation, bag, settings } => {
                if let Some(relation) = model.relation_mut(*relation) {
                    let data = relation.bag_mut(bag);
                    for (key, value) in settings {
                        match value {
                            Some(value) => {
                                data.insert(key.clone(), value.clone());
                            }
                            None => {
                                data.remove(key);
                            }
                        }
                    }
                }
            }
            Change::StateSet { key, value } => {
                if let Some(unit) = model.unit_mut(unit) {
                    unit.state.insert(key.clone(), value.clone());
                }
            }
            Change::StateDelete { key } => {
                if let Some(unit) = model.unit_mut(unit) {
                    unit.state.remove(key);
                }
            }
            Change::OpenPort { endpoint, range } => {
                if let Some(unit) = model.unit_mut(unit) {
                    unit.opened_ports.entry(endpoint.clone()).or_default().insert(*range);
                }
            }
            Change::ClosePort { endpoint, range } => {
                if let Some(unit) = model.unit_mut(unit) {
                    if let Some(ranges) = unit.opened_ports.get_mut(endpoint) {
                        ranges.remove(range);
                        if ranges.is_empty() {
                            unit.opened_ports.remove(endpoint);
                        }
                    }
                }
            }
            Change::SecretCreate { secret } => {
                model.secrets.insert(secret.id.clone(), (**secret).clone());
            }
            Change::SecretUpdate { id, content, label, description, expiry, rotate, next_rotation } => {
                if let Some(secret) = model.secrets.get_mut(id) {
                    if let Some(content) = content {
                        secret.push_revision(content.clone());
                    }
                    if label.is_some() {
                        secret.label.clone_from(label);
                    }
                    if description.is_some() {
                        secret.description.clone_from(description);
                    }
                    if expiry.is_some() {
                        secret.expiry.clone_from(expiry);
                    }
                    if rotate.is_some() {
                        secret.rotate = *rotate;
                        secret.next_rotation.clone_from(next_rotation);
                    }
                }
            }
            Change::SecretGrant { id, relation, target } => {
                if let Some(secret) = model.secrets.get_mut(id) {
                    let grant = SecretGrant { relation_id: *relation, target: target.clone() };
                    if !secret.grants.contains(&grant) {
                        secret.grants.push(grant);
                    }
                }
            }
            Change::SecretRevoke { id, target } => {
                if let Some(secret) = model.secrets.get_mut(id) {
                    secret.grants.retain(|grant| &grant.target != target);
                }
            }
            Change::SecretRemove { id, revision } => match revision {
                None => {
                    model.secrets.remove(id);
                }
                Some(number) => {
                    if let Some(secret) = model.secrets.get_mut(id) {
                        secret.revisions.retain(|r| r.revision != *number);
                        if secret.revisions.is_empty() {
                            model.secrets.remove(id);
                        }
                    }
                }
            },
        }
    }
}
