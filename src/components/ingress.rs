//! Being reached from outside: the `ingress` relations (traefik-k8s, ingress v2, up to two;
//! the `ingress-client` crate) and `nginx-route` (nginx-ingress-integrator; the
//! `nginx-route-client` crate), both to the pod's nginx on port 8080.
//!
//! - `ingress`: the leader publishes the model, the application and the port, every unit its
//!   pod FQDN and address; the provider's URL becomes the default `public_baseurl` (and so the
//!   `homeserver` matrix-auth requirers receive). A revoked URL falls back to the default, and
//!   the requirers are told.
//! - `nginx-route`: the leader publishes the service (the application's Kubernetes Service,
//!   port 8080) and hostname; with `delegate_server_name`, the server name too, so that
//!   `https://<server_name>/.well-known/matrix/…` reaches the pod's nginx, which answers it.
//!
//! No write when the bags already hold what this unit would write.

use std::net::IpAddr;

use ingress_client::{IngressRequest, IngressView};
use juju::{Databag, HookContext, HookTools, LogLevel, RelationHook, RelationId};
use nginx_route_client::NginxRouteRequest;

use crate::component::{ComponentPlan, Facts};
use crate::components::nginx::PORT;
use crate::deployment::Deployment;
use crate::state::StateError;

pub const NAME: &str = "ingress";
/// The relation endpoints (metadata.yaml).
pub const INGRESS_ENDPOINT: &str = "ingress";
pub const NGINX_ROUTE_ENDPOINT: &str = "nginx-route";

/// What the hook found.
#[derive(Debug, Default)]
pub struct IngressState {
    pub model: String,
    /// This unit's pod FQDN, the `host` it publishes.
    pub host: String,
    /// This unit's address on the `ingress` binding, when known.
    pub address: Option<IpAddr>,
    pub ingress: Vec<IngressRelation>,
    pub nginx_route: Option<OwnBags>,
}

/// One `ingress` relation.
#[derive(Debug)]
pub struct IngressRelation {
    pub bags: OwnBags,
    /// `None` while the provider application is not known.
    pub view: Option<IngressView>,
}

/// A relation and what this application has written to it so far.
#[derive(Debug)]
pub struct OwnBags {
    pub id: RelationId,
    /// The application bag, as the leader reads it.
    pub app: Option<Databag>,
    pub unit: Databag,
}

/// Nothing for endpoints goal-state lists no relation for; else per relation the provider's
/// answer and this application's own bags, and (with an `ingress` relation) the unit's
/// binding address (one `network-get`).
pub fn load(
    tools: &HookTools,
    context: &HookContext,
    deployment: &Deployment,
    leader: bool,
) -> Result<IngressState, StateError> {
    let mut state = IngressState {
        model: context.model_name.clone(),
        host: ingress_client::default_host(context),
        ..IngressState::default()
    };
    let broken = match &context.event {
        juju::Event::Relation(event) if event.hook == RelationHook::Broken => Some(&event.relation),
        _ => None,
    };
    let own_bags = |id: RelationId| -> Result<OwnBags, StateError> {
        let app = if leader { Some(tools.relation_get_app(&id, &context.app_name)?) } else { None };
        let unit = tools.relation_get_unit(&id, &context.unit_name)?;
        Ok(OwnBags { id, app, unit })
    };
    if deployment.related_endpoints.contains(INGRESS_ENDPOINT) {
        for id in tools.relation_ids(INGRESS_ENDPOINT)?.into_iter().filter(|id| Some(id) != broken) {
            let view = match tools.relation_remote_app(&id)? {
                Some(app) => Some(IngressView::read(tools, &id, &app).map_err(StateError::Ingress)?),
                None => None,
            };
            state.ingress.push(IngressRelation { bags: own_bags(id)?, view });
        }
        if !state.ingress.is_empty() {
            let info = tools.network_get(INGRESS_ENDPOINT, None)?;
            state.address = ingress_client::bind_address(&info);
        }
    }
    if deployment.related_endpoints.contains(NGINX_ROUTE_ENDPOINT) {
        if let Some(id) = tools.relation_ids(NGINX_ROUTE_ENDPOINT)?.into_iter().find(|id| Some(id) != broken)
        {
            state.nginx_route = Some(own_bags(id)?);
        }
    }
    Ok(state)
}

/// The URL the first `ingress` relation (by id) gives, if any answered.
pub fn url(state: &IngressState) -> Option<String> {
    state.ingress.iter().find_map(|relation| match &relation.view {
        Some(IngressView::Ready(url)) => Some(url.as_str().to_string()),
        _ => None,
    })
}

pub fn plan(state: &IngressState, facts: &Facts) -> ComponentPlan {
    let mut plan = ComponentPlan::default();
    if !facts.may_write {
        return plan;
    }
    for relation in &state.ingress {
        if facts.speaks_for_app() {
            let request =
                IngressRequest::new(&state.model, facts.app, PORT).expect("a model, an app and port 8080");
            let own = relation.bags.app.clone().unwrap_or_default();
            plan.effects.extend(ingress_client::plan_app(&relation.bags.id, &own, &request));
        }
        plan.effects.extend(ingress_client::plan_unit(
            &relation.bags.id,
            &relation.bags.unit,
            &state.host,
            state.address,
        ));
        match &relation.view {
            Some(IngressView::Ready(url)) => {
                plan.log(LogLevel::Debug, format!("ingress: {} gives {}", relation.bags.id, url.as_str()))
            }
            Some(IngressView::NotReady(reason)) => plan.log(
                LogLevel::Info,
                format!("ingress: {} has no URL for Synapse: {reason}", relation.bags.id),
            ),
            None => {}
        }
    }
    if let (Some(bags), true) = (&state.nginx_route, facts.speaks_for_app()) {
        let mut request = NginxRouteRequest::new(&state.model, facts.app, facts.app, PORT);
        if let Some(config) = facts.config {
            if config.delegate_server_name {
                request.additional_hostnames = Some(config.server_name.clone());
            }
        }
        let own = bags.app.clone().unwrap_or_default();
        plan.effects.extend(nginx_route_client::plan_app(&bags.id, &own, &request));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::tests::facts;
    use ingress_client::IngressUrl;
    use juju::Effect;

    fn bags(endpoint: &str, id: u32, app: Databag, unit: Databag) -> OwnBags {
        OwnBags { id: RelationId::new(endpoint, id), app: Some(app), unit }
    }

    fn state(view: Option<IngressView>) -> IngressState {
        IngressState {
            model: "matrix".into(),
            host: "synapse-0.synapse-endpoints.matrix.svc.cluster.local".into(),
            address: Some("10.1.0.7".parse().unwrap()),
            ingress: vec![IngressRelation {
                bags: bags(INGRESS_ENDPOINT, 3, Databag::new(), Databag::new()),
                view,
            }],
            nginx_route: None,
        }
    }

    fn written(effects: &[Effect]) -> Vec<(String, Databag)> {
        effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::RelationSet { bag, data, .. } => Some((
                    format!("{bag:?}"),
                    data.iter()
                        .map(|(key, value)| match value {
                            juju::effects::Value::Text(text) => (key.clone(), text.clone()),
                            other => panic!("not text: {other:?}"),
                        })
                        .collect(),
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_leader_publishes_the_request_and_every_unit_its_host_all_json() {
        let deployment = Deployment::single();
        let planned = plan(&state(None), &facts(&deployment, "synapse/0", true));
        let writes = written(&planned.effects);
        assert_eq!(writes.len(), 2, "{writes:?}");
        assert_eq!(writes[0].1["model"], "\"matrix\"");
        assert_eq!(writes[0].1["name"], "\"synapse\"");
        assert_eq!(writes[0].1["port"], "8080");
        assert_eq!(writes[1].1["host"], "\"synapse-0.synapse-endpoints.matrix.svc.cluster.local\"");
        assert_eq!(writes[1].1["ip"], "\"10.1.0.7\"");
        let follower = plan(&state(None), &facts(&deployment, "synapse/0", false));
        assert_eq!(written(&follower.effects).len(), 1, "only its unit bag");
    }

    #[test]
    fn nothing_is_written_when_the_bags_hold_it_already_and_the_url_is_read() {
        let deployment = Deployment::single();
        let facts = facts(&deployment, "synapse/0", true);
        let first = plan(&state(None), &facts);
        let mut settled =
            state(Some(IngressView::Ready(IngressUrl::parse("https://matrix.example.com/m-s").unwrap())));
        let writes = written(&first.effects);
        settled.ingress[0].bags.app = Some(writes[0].1.clone());
        settled.ingress[0].bags.unit = writes[1].1.clone();
        assert!(plan(&settled, &facts).effects.is_empty(), "a no-op hook writes nothing");
        assert_eq!(url(&settled).as_deref(), Some("https://matrix.example.com/m-s"));
        assert_eq!(url(&state(None)), None);
    }

    #[test]
    fn nginx_route_names_the_service_and_delegates_the_server_name_on_request() {
        let deployment = Deployment::single();
        let mut state = state(None);
        state.ingress.clear();
        state.nginx_route = Some(bags(NGINX_ROUTE_ENDPOINT, 5, Databag::new(), Databag::new()));
        let writes = written(&plan(&state, &facts(&deployment, "synapse/0", true)).effects);
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].1["service-hostname"], "synapse");
        assert_eq!(writes[0].1["service-name"], "synapse");
        assert_eq!(writes[0].1["service-port"], "8080");
        assert_eq!(writes[0].1["service-namespace"], "matrix");
        assert!(!writes[0].1.contains_key("additional-hostnames"));
        let config = crate::config::for_tests(serde_json::json!({"delegate_server_name": true}));
        let mut facts = facts(&deployment, "synapse/0", true);
        facts.config = Some(&config);
        let writes = written(&plan(&state, &facts).effects);
        assert_eq!(writes[0].1["additional-hostnames"], "example.com");
    }
}
