//! The application's shape as Juju plans it (`goal-state`): how many units it will have,
//! whether this unit is on its way out, and which endpoints have live relations.

use std::collections::BTreeSet;

use juju::{Event, HookContext, HookToolError, HookTools, RelationHook};

/// The peer relation: the leader announces the application secrets' ID in its application
/// bag, and each other unit publishes its status in its unit bag.
pub const PEER_RELATION: &str = "synapse-peers";

/// What `goal-state` and the hook's environment say about the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// Units that are not dying, this one included.
    pub planned_units: usize,
    /// The other units that are not dying.
    pub other_units: Vec<String>,
    /// This unit is being removed: it acts for itself only, never for the application
    /// (no secret removed or revoked, no relation data rewritten, no file deleted).
    pub departing: bool,
    /// Endpoints with at least one live relation.
    pub related_endpoints: BTreeSet<String>,
}

impl Deployment {
    /// One `goal-state` call. A unit is departing when goal-state marks it `dying`, or when
    /// relation-departed names it as the departing unit.
    pub fn load(tools: &HookTools, context: &HookContext) -> Result<Self, HookToolError> {
        let goal = tools.goal_state()?;
        let unit = context.unit_name.as_str();
        let departing_in_event = matches!(
            &context.event,
            Event::Relation(event)
                if event.hook == RelationHook::Departed && event.departing_unit.as_deref() == Some(unit)
        );
        Ok(Self {
            planned_units: goal.planned_units().max(1),
            other_units: goal
                .units
                .iter()
                .filter(|(name, entry)| name.as_str() != unit && entry.status != "dying")
                .map(|(name, _)| name.clone())
                .collect(),
            departing: departing_in_event || goal.is_dying(unit),
            related_endpoints: goal.related_endpoints().map(str::to_string).collect(),
        })
    }

    /// A deployment of the unit `synapse/0` alone, with no relation (for tests).
    #[cfg(test)]
    pub fn single() -> Self {
        Self {
            planned_units: 1,
            other_units: Vec::new(),
            departing: false,
            related_endpoints: BTreeSet::new(),
        }
    }
}

/// The number of `app/7`; names without one sort last.
pub fn unit_number(unit: &str) -> u64 {
    unit.rsplit('/').next().and_then(|number| number.parse().ok()).unwrap_or(u64::MAX)
}
