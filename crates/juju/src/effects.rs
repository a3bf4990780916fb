//! Juju changes as data: a charm plans [`Effect`]s without side effects, tests read them, and
//! [`execute`] carries them out in order through the hook tools.
//!
//! A secret created by the plan has no ID until `secret-add` runs, so later effects name it
//! by its label ([`SecretHandle::Added`], [`Value::AddedSecretId`]) and [`execute`] resolves
//! the label to the ID Juju returned.

use std::collections::BTreeMap;
use std::fmt;

use crate::context::RelationId;
use crate::error::HookToolError;
use crate::secrets::{NewSecret, SecretUri};
use crate::tools::{Bag, Databag, HookTools, Port};

/// One change to the model.
#[derive(Clone)]
pub enum Effect {
    /// `secret-add`; later effects refer to it by its label.
    SecretAdd(NewSecret),
    /// `secret-grant` to the application of `relation`.
    SecretGrant { secret: SecretHandle, relation: RelationId },
    /// `secret-revoke` from the application of `relation`; a secret or relation already
    /// gone counts as done.
    SecretRevoke { secret: SecretHandle, relation: RelationId },
    /// `secret-remove` (every revision); a secret already gone counts as done.
    SecretRemove { secret: SecretUri },
    /// `relation-set` of the given keys (an empty value deletes its key).
    RelationSet { relation: RelationId, bag: Bag, data: BTreeMap<String, Value> },
    /// `open-port`.
    OpenPort(Port),
    /// `state-set` of one key of the unit's controller-side store (what the charm keeps
    /// between hooks that is not the workload's: a check's outcome, say).
    StateSet { key: String, value: String },
}

/// A secret an effect acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretHandle {
    Existing(SecretUri),
    /// Created earlier in the same plan, under this label.
    Added(String),
}

/// A relation data value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    /// The ID of the secret the plan adds under `label`, in canonical form
    /// (`secret://<model_uuid>/<xid>`) when `model_uuid` is given.
    AddedSecretId {
        label: String,
        model_uuid: Option<String>,
    },
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Self::Text(text.to_string())
    }
}

impl fmt::Debug for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Effect {
    /// A relation-set of plain text values.
    pub fn relation_set(relation: RelationId, bag: Bag, data: Databag) -> Self {
        Self::RelationSet {
            relation,
            bag,
            data: data.into_iter().map(|(k, v)| (k, Value::Text(v))).collect(),
        }
    }

    /// One line for the log; secret content never appears.
    pub fn describe(&self) -> String {
        match self {
            Self::SecretAdd(secret) => format!(
                "secret-add {} (owner {}, keys {})",
                secret.label.as_deref().unwrap_or("(no label)"),
                secret.owner.as_arg(),
                secret.content.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            Self::SecretGrant { secret, relation } => format!("secret-grant {secret} to {relation}"),
            Self::SecretRevoke { secret, relation } => format!("secret-revoke {secret} from {relation}"),
            Self::SecretRemove { secret } => format!("secret-remove {secret}"),
            Self::RelationSet { relation, bag, data } => format!(
                "relation-set {relation} ({} bag): {}",
                match bag {
                    Bag::App => "application",
                    Bag::Unit => "unit",
                },
                data.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            Self::OpenPort(port) => format!("open-port {port:?}"),
            Self::StateSet { key, .. } => format!("state-set {key}"),
        }
    }
}

impl fmt::Display for SecretHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Existing(id) => write!(f, "{id}"),
            Self::Added(label) => write!(f, "{label:?}"),
        }
    }
}

/// An effect failed.
#[derive(Debug, thiserror::Error)]
pub enum EffectError {
    #[error("{effect} failed")]
    Tool {
        effect: String,
        #[source]
        source: HookToolError,
    },
    /// A plan referred to a secret it does not add first: a bug in the plan.
    #[error("{effect}: the plan adds no secret labelled {label:?} before it")]
    UnknownLabel { effect: String, label: String },
}

/// Carries out `effects` in order; stops at the first failure. Returns how many ran.
pub fn execute(tools: &HookTools, effects: &[Effect]) -> Result<usize, EffectError> {
    let mut added: BTreeMap<String, SecretUri> = BTreeMap::new();
    for effect in effects {
        let fail = |source| EffectError::Tool { effect: effect.describe(), source };
        let resolve = |handle: &SecretHandle| -> Result<SecretUri, EffectError> {
            match handle {
                SecretHandle::Existing(id) => Ok(id.clone()),
                SecretHandle::Added(label) => added.get(label).cloned().ok_or_else(|| {
                    EffectError::UnknownLabel { effect: effect.describe(), label: label.clone() }
                }),
            }
        };
        match effect {
            Effect::SecretAdd(secret) => {
                let id = tools.secret_add(secret).map_err(fail)?;
                if let Some(label) = &secret.label {
                    added.insert(label.clone(), id);
                }
            }
            Effect::SecretGrant { secret, relation } => {
                tools.secret_grant(&resolve(secret)?, relation, None).map_err(fail)?
            }
            Effect::SecretRevoke { secret, relation } => {
                tolerate_gone(tools.secret_revoke(&resolve(secret)?, relation, None)).map_err(fail)?
            }
            Effect::SecretRemove { secret } => {
                tolerate_gone(tools.secret_remove(secret, None)).map_err(fail)?
            }
            Effect::RelationSet { relation, bag, data } => {
                let mut resolved = Databag::new();
                for (key, value) in data {
                    let text = match value {
                        Value::Text(text) => text.clone(),
                        Value::AddedSecretId { label, model_uuid } => {
                            let id = resolve(&SecretHandle::Added(label.clone()))?;
                            match model_uuid {
                                Some(model) => id.canonical(model).to_string(),
                                None => id.to_string(),
                            }
                        }
                    };
                    resolved.insert(key.clone(), text);
                }
                tools.relation_set(relation, *bag, &resolved).map_err(fail)?
            }
            Effect::OpenPort(port) => tools.open_port(*port).map_err(fail)?,
            Effect::StateSet { key, value } => {
                tools.state_set(&BTreeMap::from([(key.clone(), value.clone())])).map_err(fail)?
            }
        }
    }
    Ok(effects.len())
}

/// A secret or relation that is already gone needs no revoke or removal.
fn tolerate_gone(result: Result<(), HookToolError>) -> Result<(), HookToolError> {
    match result {
        Err(error) if error.is_secret_not_found() || error.is_relation_not_found() => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::{SecretContent, SecretOwner};
    use secrecy::SecretString;

    #[test]
    fn descriptions_name_the_change_but_never_secret_content() {
        let add = Effect::SecretAdd(NewSecret {
            content: SecretContent::from([("key".to_string(), SecretString::from("s3cr3t".to_string()))]),
            label: Some("app-secrets".into()),
            owner: SecretOwner::Application,
            ..NewSecret::default()
        });
        assert_eq!(add.describe(), "secret-add app-secrets (owner application, keys key)");
        assert!(!format!("{add:?}").contains("s3cr3t"));
        let set = Effect::RelationSet {
            relation: RelationId::new("peers", 0),
            bag: Bag::App,
            data: BTreeMap::from([(
                "id".to_string(),
                Value::AddedSecretId { label: "app-secrets".into(), model_uuid: None },
            )]),
        };
        assert_eq!(set.describe(), "relation-set peers:0 (application bag): id");
    }
}
