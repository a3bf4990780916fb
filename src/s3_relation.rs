//! What the `media` and `backup` components read of their S3 relation, the same way: the
//! relation (not the one being broken), the leader's own bags (for the bucket request), the
//! provider's settings, and for usable settings whether the bucket answers.

use juju::{Databag, Event, HookContext, HookTools, RelationHook, RelationId};
use s3_client::S3View;

use crate::deployment::Deployment;
use crate::s3_tool::BucketCheck;
use crate::state::StateError;

/// One S3 relation as this hook sees it.
#[derive(Debug)]
pub struct S3Relation {
    pub id: RelationId,
    /// This application's bag and the leader's unit bag, as the leader reads them.
    pub own: Option<(Databag, Databag)>,
    pub view: S3View,
    /// For usable settings when Pebble answers: whether the bucket does.
    pub check: Option<Box<BucketCheck>>,
}

/// Nothing when goal-state lists no relation on `endpoint`; else `relation-ids`, the
/// leader's own bags, the provider's data (see [`S3View::read`]) and, for usable settings,
/// the bucket check kept under `check_key` (see [`BucketCheck::load`]; a failed one is
/// checked again on `update-status`).
pub fn load(
    tools: &HookTools,
    context: &HookContext,
    deployment: &Deployment,
    pebble: &pebble::Client,
    (endpoint, check_key): (&str, &'static str),
    leader: bool,
    reachable: bool,
) -> Result<Option<S3Relation>, StateError> {
    if !deployment.related_endpoints.contains(endpoint) {
        return Ok(None);
    }
    let broken = match &context.event {
        Event::Relation(event) if event.hook == RelationHook::Broken => Some(&event.relation),
        _ => None,
    };
    let Some(id) = tools.relation_ids(endpoint)?.into_iter().find(|id| Some(id) != broken) else {
        return Ok(None);
    };
    let own = match leader {
        true => Some((
            tools.relation_get_app(&id, &context.app_name)?,
            tools.relation_get_unit(&id, &context.unit_name)?,
        )),
        false => None,
    };
    let provider = tools.relation_remote_app(&id)?;
    let view = S3View::read(tools, &id, provider.as_deref(), &context.app_name).map_err(StateError::S3)?;
    let check = match (&view, reachable) {
        (S3View::Ready(settings), true) => {
            let recheck = matches!(context.event, Event::UpdateStatus);
            BucketCheck::load(tools, pebble, check_key, settings, recheck)?.ok().map(Box::new)
        }
        _ => None,
    };
    Ok(Some(S3Relation { id, own, view, check }))
}
