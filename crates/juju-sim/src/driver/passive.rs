//! Changing the model from outside any hook: what passive applications (or the operator) do.
//! Writes queue the events Juju would fire and run them.

use std::collections::BTreeMap;

use crate::model::{
    Bag, GrantTarget, RotatePolicy, Secret, SecretGrant, SecretOwner, SecretRevision, SecretUri,
};

use super::{Event, HookRun, SimError, Simulator};

impl Simulator {
    /// Applies `change` to the model and queues the follow-up events it causes.
    fn change_externally<R>(
        &mut self,
        change: impl FnOnce(&mut Self) -> Result<R, SimError>,
    ) -> Result<R, SimError> {
        let before = self.model.clone();
        let result = change(self)?;
        self.queue_followups(&before, None, false);
        Ok(result)
    }

    /// Writes a databag as its owner would (an empty value deletes the key), then runs the
    /// `relation-changed` hooks this causes on the other side.
    pub fn set_relation_data(
        &mut self,
        relation: u32,
        bag: Bag,
        data: BTreeMap<String, String>,
    ) -> Result<Vec<HookRun>, SimError> {
        self.change_externally(|sim| {
            let relation = sim.model.relation_mut(relation).ok_or(SimError::UnknownRelation(relation))?;
            let target = relation.bag_mut(&bag);
            for (key, value) in data {
                if value.is_empty() {
                    target.remove(&key);
                } else {
                    target.insert(key, value);
                }
            }
            Ok(())
        })?;
        self.run_until_quiet()
    }

    /// Creates a secret owned by an application or unit (typically a passive one) with one
    /// revision of plain-text `content`. Returns its URI (`secret:<id>`).
    pub fn add_secret(
        &mut self,
        owner: SecretOwner,
        content: BTreeMap<String, String>,
        label: Option<String>,
    ) -> Result<String, SimError> {
        if content.is_empty() {
            return Err(SimError::InvalidSecret("empty secret value".to_owned()));
        }
        let id = SecretUri::generate().id;
        let secret = Secret {
            id: id.clone(),
            owner,
            label,
            description: None,
            expiry: None,
            rotate: None::<RotatePolicy>,
            next_rotation: None,
            revisions: vec![SecretRevision {
                revision: 1,
                content: crate::model::SecretContent::encode(&content),
                obsolete: false,
            }],
            grants: Vec::new(),
            consumers: BTreeMap::new(),
        };
        self.model.secrets.insert(id.clone(), secret);
        Ok(format!("secret:{id}"))
    }

    fn secret_id(&self, uri: &str) -> Result<String, SimError> {
        Ok(self.secret(uri)?.id.clone())
    }

    /// Grants view access within a relation, as the owner's `secret-grant` would.
    pub fn grant_secret(&mut self, uri: &str, relation: u32, target: GrantTarget) -> Result<(), SimError> {
        let id = self.secret_id(uri)?;
        self.relation(relation)?;
        if let Some(secret) = self.model.secrets.get_mut(&id) {
            let grant = SecretGrant { relation_id: relation, target };
            if !secret.grants.contains(&grant) {
                secret.grants.push(grant);
            }
        }
        Ok(())
    }

    /// Revokes a grant, as the owner's `secret-revoke` would.
    pub fn revoke_secret(&mut self, uri: &str, target: &GrantTarget) -> Result<(), SimError> {
        let id = self.secret_id(uri)?;
        if let Some(secret) = self.model.secrets.get_mut(&id) {
            secret.grants.retain(|grant| &grant.target != target);
        }
        Ok(())
    }

    /// Publishes a new revision (unless the content is unchanged), then runs `secret-changed`
    /// on consumers tracking an older revision.
    pub fn update_secret(
        &mut self,
        uri: &str,
        content: BTreeMap<String, String>,
    ) -> Result<Vec<HookRun>, SimError> {
        let id = self.secret_id(uri)?;
        self.change_externally(|sim| {
            if let Some(secret) = sim.model.secrets.get_mut(&id) {
                secret.push_revision(crate::model::SecretContent::encode(&content));
            }
            Ok(())
        })?;
        self.run_until_quiet()
    }

    /// Deletes a secret with all its revisions.
    pub fn remove_secret(&mut self, uri: &str) -> Result<(), SimError> {
        let id = self.secret_id(uri)?;
        self.model.secrets.remove(&id);
        Ok(())
    }

    fn secret_owner_unit(&self, uri: &str) -> Result<(String, String), SimError> {
        let secret = self.secret(uri)?;
        let unit = match &secret.owner {
            SecretOwner::Unit(unit) => Some(unit.clone()),
            SecretOwner::Application(app) => self.app(app)?.leader.clone(),
        };
        let unit = unit.ok_or_else(|| SimError::InvalidSecret(format!("secret {uri} has no owner unit")))?;
        Ok((unit, secret.id.clone()))
    }

    /// Fires `secret-rotate` on the owner (the leader for application-owned secrets).
    pub fn trigger_secret_rotate(&mut self, uri: &str) -> Result<Vec<HookRun>, SimError> {
        let (unit, id) = self.secret_owner_unit(uri)?;
        self.fire(&unit, Event::SecretRotate { id })
    }

    /// Fires `secret-expired` for a revision on the owner.
    pub fn trigger_secret_expired(&mut self, uri: &str, revision: u32) -> Result<Vec<HookRun>, SimError> {
        let (unit, id) = self.secret_owner_unit(uri)?;
        self.fire(&unit, Event::SecretExpired { id, revision })
    }
}
