//! The application status: on the leader, the most severe status of all units, so a unit
//! that is blocked or waiting is never hidden behind an active leader. Every other unit
//! publishes its status in its peer relation bag when it changes, which wakes the leader up
//! (peer relation-changed) to recompute it.

use std::collections::BTreeMap;

use juju::{Bag, Databag, Effect, HookContext, HookToolError, HookTools, RelationId, Status};

use crate::deployment::{Deployment, PEER_RELATION};

/// Peer unit bag key holding the unit's last status (`kind: message`).
pub const STATUS_KEY: &str = "workload-status";

/// What the hook knows of the other units' statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerStatuses {
    /// No other unit is planned: nothing to gather or publish.
    Alone,
    /// Leader: the other planned units' statuses as Juju recorded them.
    Others(BTreeMap<String, Status>),
    /// Any other unit: the status it last published, and where.
    Published { relation: RelationId, last: Option<String> },
}

impl PeerStatuses {
    /// Leader: one `status-get --application`; other units: the peer relation and their own
    /// bag (two calls). Nothing while this unit is alone or leaving.
    pub fn load(
        tools: &HookTools,
        context: &HookContext,
        leader: bool,
        deployment: &Deployment,
    ) -> Result<Self, HookToolError> {
        if deployment.other_units.is_empty() || deployment.departing {
            return Ok(Self::Alone);
        }
        if leader {
            let statuses = tools.application_status_get()?;
            let others = statuses
                .units
                .into_iter()
                .filter(|(unit, _)| deployment.other_units.contains(unit))
                .collect();
            return Ok(Self::Others(others));
        }
        let Some(relation) = tools.relation_ids(PEER_RELATION)?.into_iter().next() else {
            return Ok(Self::Alone);
        };
        let own = tools.relation_get_unit(&relation, &context.unit_name)?;
        Ok(Self::Published { last: own.get(STATUS_KEY).cloned(), relation })
    }

    /// The application status for a leader whose own status is `own`: the most severe of all
    /// units (this unit first among equals, then the others by name); another unit's
    /// message is prefixed with its name.
    pub fn application_status(&self, own: &Status) -> Status {
        let mut chosen = own.clone();
        if let Self::Others(others) = self {
            for (unit, status) in others {
                if status.kind.severity() > chosen.kind.severity() {
                    let message = if status.message.is_empty() {
                        unit.clone()
                    } else {
                        format!("{unit}: {}", status.message)
                    };
                    chosen = Status::new(status.kind, message);
                }
            }
        }
        chosen
    }

    /// For a unit other than the leader: the peer bag write that publishes `own`, when it
    /// differs from what was last published.
    pub fn publication(&self, own: &Status) -> Option<Effect> {
        let Self::Published { relation, last } = self else { return None };
        let text = own.to_string();
        (last.as_deref() != Some(text.as_str())).then(|| {
            Effect::relation_set(relation.clone(), Bag::Unit, Databag::from([(STATUS_KEY.to_string(), text)]))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn others(entries: &[(&str, Status)]) -> PeerStatuses {
        PeerStatuses::Others(
            entries.iter().map(|(unit, status)| (unit.to_string(), status.clone())).collect(),
        )
    }

    #[test]
    fn the_most_severe_unit_status_becomes_the_application_status() {
        let own = Status::active("");
        assert_eq!(PeerStatuses::Alone.application_status(&own), own);
        let peers = others(&[
            ("synapse/1", Status::waiting("Waiting for Synapse")),
            ("synapse/2", Status::active("")),
        ]);
        assert_eq!(peers.application_status(&own), Status::waiting("synapse/1: Waiting for Synapse"));
        let blocked = Status::blocked("invalid configuration: server_name: it is required");
        assert_eq!(peers.application_status(&blocked), blocked, "the leader wins among equals and above");
        let two_blocked = others(&[("synapse/1", Status::blocked("a")), ("synapse/2", Status::blocked("b"))]);
        assert_eq!(two_blocked.application_status(&own), Status::blocked("synapse/1: a"), "first by name");
    }

    #[test]
    fn a_unit_publishes_its_status_only_when_it_changed() {
        let relation = RelationId::new(PEER_RELATION, 0);
        let fresh = PeerStatuses::Published { relation: relation.clone(), last: None };
        let status = Status::waiting("Waiting for Synapse");
        let Some(Effect::RelationSet { relation: target, bag: Bag::Unit, data }) = fresh.publication(&status)
        else {
            panic!("first publication expected")
        };
        assert_eq!(target, relation);
        assert_eq!(data[STATUS_KEY], juju::effects::Value::Text("waiting: Waiting for Synapse".into()));
        let same = PeerStatuses::Published { relation, last: Some("waiting: Waiting for Synapse".into()) };
        assert!(same.publication(&status).is_none());
        assert!(PeerStatuses::Alone.publication(&status).is_none());
    }
}
