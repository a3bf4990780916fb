//! The application's shape (`goal-state`, see [`Deployment`]): a unit on its way out acts for
//! itself only, and while more units are planned than the charm can serve, only the serving
//! unit runs Synapse. Both are said in the status and the log.

use juju::LogLevel;

use crate::component::{ComponentPlan, Facts};
use crate::deployment::Deployment;
use crate::status;

pub const NAME: &str = "scale";

pub fn plan(facts: &Facts) -> ComponentPlan {
    let Deployment { planned_units, serving_unit, departing, .. } = facts.deployment;
    let mut plan = ComponentPlan::default();
    if *planned_units > 1 {
        plan.statuses.push(status::scale_out_unsupported(*planned_units, serving_unit, facts.app));
        let role = if facts.serves() {
            "this unit keeps serving alone".to_string()
        } else {
            format!("this unit does not run Synapse, {serving_unit} does")
        };
        plan.log(
            LogLevel::Warning,
            format!(
                "{planned_units} units are planned, but this charm cannot run Synapse on more than one unit yet \
                 (scale-out needs PostgreSQL and Redis): {role}. Run `juju scale-application {} 1`",
                facts.app
            ),
        );
    }
    if *departing {
        plan.statuses.push(status::departing());
        plan.log(
            LogLevel::Info,
            "this unit is being removed: it leaves the application's secrets, relation data and files to the units \
             that remain",
        );
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::tests::facts;
    use juju::StatusKind;

    #[test]
    fn more_units_than_the_charm_can_serve_block_everyone_and_name_the_server() {
        let mut deployment = Deployment::single();
        deployment.planned_units = 3;
        let plan = plan(&facts(&deployment, "synapse/0", true));
        assert_eq!(plan.statuses.len(), 1);
        assert_eq!(
            plan.statuses[0].message,
            "3 units planned, but scale-out needs PostgreSQL and Redis, not supported yet: only synapse/0 serves; \
             run juju scale-application synapse 1"
        );
        assert!(plan.diagnostics[0].1.contains("this unit keeps serving alone"));
        let follower = super::plan(&facts(&deployment, "synapse/1", false));
        assert!(follower.diagnostics[0].1.contains("this unit does not run Synapse, synapse/0 does"));
    }

    #[test]
    fn a_leaving_unit_says_so() {
        let mut deployment = Deployment::single();
        deployment.departing = true;
        let plan = plan(&facts(&deployment, "synapse/0", true));
        assert_eq!(plan.statuses, [status::departing()]);
        assert_eq!(plan.statuses[0].kind, StatusKind::Maintenance);
        assert!(super::plan(&facts(&Deployment::single(), "synapse/0", true)).statuses.is_empty());
    }
}
