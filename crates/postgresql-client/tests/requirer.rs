//! The requirer against the simulated Juju, with a passive postgresql-k8s that publishes
//! and grants the way postgresql-k8s 14 and 16 do.

mod sim;

use juju::{Event as HookEvent, RelationHook, SecretUri};
use juju_sim::model::GrantTarget;
use juju_sim::Event;
use postgresql_client::{
    plan_request, DatabaseRequest, DatabaseView, Endpoint, EndpointError, FieldSource, NotReady, SecretGroup,
};
use secrecy::ExposeSecret;
use sim::{Model, CA, PRIMARY, PROVIDER, REPLICAS, REQUIRER};

fn changed(model: &Model) -> Event {
    Event::RelationChanged { relation: model.relation, unit: None }
}

fn view(model: &mut Model, unit: &str) -> DatabaseView {
    let relation = model.relation_id();
    let event = changed(model);
    model.hook(unit, event, |tools, _| DatabaseView::read(tools, &relation, PROVIDER).unwrap()).0
}

fn not_ready(model: &mut Model) -> NotReady {
    match view(model, "myapp/0") {
        DatabaseView::NotReady(reason) => reason,
        DatabaseView::Ready(credentials) => panic!("ready too early: {credentials:?}"),
    }
}

fn ready(model: &mut Model, unit: &str) -> Box<postgresql_client::DatabaseCredentials> {
    match view(model, unit) {
        DatabaseView::Ready(credentials) => credentials,
        DatabaseView::NotReady(reason) => panic!("not ready: {reason}"),
    }
}

/// The leader's part of a hook: plan the request against its own bag and carry it out.
fn leader_requests(model: &mut Model, event: Event) -> (usize, juju_sim::HookRun) {
    let relation = model.relation_id();
    let request = DatabaseRequest::new(REQUIRER).unwrap().with_extra_user_roles(["SUPERUSER"]).unwrap();
    model.hook("myapp/0", event, |tools, context| {
        assert!(tools.is_leader().unwrap());
        let own = tools.relation_get_app(&relation, &context.app_name).unwrap();
        let plan = plan_request(&relation, &own, &request);
        assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
        juju::effects::execute(tools, &plan.effects).unwrap()
    })
}

#[test]
fn the_request_is_written_once_in_relation_created_with_every_key_together() {
    let mut model = Model::new(2);
    let created = Event::RelationCreated { relation: model.relation };
    let (context_event, _) = model.hook("myapp/0", created.clone(), |_, context| context.event.clone());
    assert!(matches!(context_event, HookEvent::Relation(event) if event.hook == RelationHook::Created));

    let (effects, run) = leader_requests(&mut model, created);
    assert_eq!(effects, 1);
    let calls: Vec<_> = run.calls_to("relation-set").collect();
    assert_eq!(calls.len(), 1, "one relation-set carries every key");
    assert!(calls[0].args.contains(&"--app".to_string()));
    let sent: serde_json::Value = serde_json::from_str(calls[0].stdin.as_deref().unwrap()).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({
            "database": "myapp",
            "extra-user-roles": "SUPERUSER",
            "requested-secrets": "[\"username\",\"password\",\"tls\",\"tls-ca\",\"uris\",\"read-only-uris\",\"entity-name\",\"entity-password\"]",
        })
    );
    let published = model.bag(REQUIRER);
    let requested: Vec<String> = serde_json::from_str(&published["requested-secrets"]).unwrap();
    assert_eq!(requested[..5], ["username", "password", "tls", "tls-ca", "uris"]);

    // Later hooks find everything in place.
    let event = changed(&model);
    let (effects, run) = leader_requests(&mut model, event);
    assert_eq!((effects, run.count("relation-set")), (0, 0));
    assert_eq!(model.bag(REQUIRER), published);
}

#[test]
fn every_unit_reads_the_credentials_from_the_granted_secrets() {
    let mut model = Model::new(2);
    let published = model.provider_answers("pw-0123456789");
    for unit in ["myapp/0", "myapp/1"] {
        let credentials = ready(&mut model, unit);
        assert_eq!(credentials.primary, PRIMARY.parse::<Endpoint>().unwrap());
        assert_eq!(credentials.primary.port, 5432);
        assert_eq!(credentials.endpoints, std::slice::from_ref(&credentials.primary));
        assert_eq!(credentials.read_only_endpoints, [REPLICAS.parse::<Endpoint>().unwrap()]);
        assert_eq!(credentials.database, REQUIRER);
        assert_eq!(credentials.username, format!("relation_id_{}", model.relation));
        assert_eq!(credentials.password.expose_secret(), "pw-0123456789");
        assert!(credentials.uris.as_ref().unwrap().expose_secret().contains("pw-0123456789"));
        assert!(credentials.read_only_uris.is_none());
        assert_eq!(credentials.tls.as_ref().and_then(|tls| tls.ca.as_deref()), Some(CA));
        assert_eq!(credentials.version.as_deref(), Some("16.9"));
        assert!(!format!("{credentials:?}").contains("pw-0123456789"), "Debug shows no password");
        let secrets: Vec<String> =
            credentials.secrets().iter().map(|s| s.expose_secret().to_string()).collect();
        assert_eq!(secrets.len(), 2);
        assert!(secrets.iter().all(|secret| secret.contains("pw-0123456789")));

        let uuid = model.sim.model().uuid.clone();
        let user = SecretUri::parse(&published.user).unwrap();
        assert!(credentials.uses_secret(&user.canonical(&uuid)), "compared by xid");
        assert!(credentials.uses_secret(&SecretUri::parse(&published.tls).unwrap()));
        assert!(!credentials.uses_secret(&SecretUri::parse("secret:coj8mulh8b41e8nv6p90").unwrap()));
    }
}

#[test]
fn a_new_revision_of_the_user_secret_is_read_at_once() {
    let mut model = Model::new(1);
    let published = model.provider_answers("first-password");
    assert_eq!(ready(&mut model, "myapp/0").password.expose_secret(), "first-password");

    let username = format!("relation_id_{}", model.relation);
    let content = [("username", username.as_str()), ("password", "second-password")];
    let content = content.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    model.sim.update_secret(&published.user, content).unwrap();

    let relation = model.relation_id();
    let event = Event::SecretChanged { id: model.sim.secret(&published.user).unwrap().id.clone() };
    let (view, run) =
        model.hook("myapp/0", event, |tools, _| DatabaseView::read(tools, &relation, PROVIDER).unwrap());
    let DatabaseView::Ready(credentials) = view else { panic!("{view:?}") };
    assert_eq!(credentials.password.expose_secret(), "second-password");
    assert!(credentials.uris.is_none(), "the new revision has no uris");
    assert!(run.calls_to("secret-get").all(|call| call.args.contains(&"--refresh".to_string())));
    let consumer = &model.sim.secret(&published.user).unwrap().consumers["myapp/0"];
    assert_eq!(consumer.revision, 2, "the unit now tracks the latest revision");
}

#[test]
fn providers_answering_without_secrets_put_credentials_in_the_bag() {
    let mut model = Model::new(1);
    model.provider_sets(&[
        ("endpoints", "10.1.2.3:5432,10.1.2.4:5432"),
        ("username", "relation_id_0"),
        ("password", "plain-password"),
        ("database", REQUIRER),
        ("tls", "False"),
        ("tls-ca", ""),
    ]);
    let credentials = ready(&mut model, "myapp/0");
    assert_eq!(credentials.primary.to_string(), "10.1.2.3:5432");
    assert_eq!(credentials.endpoints.len(), 2);
    assert!(credentials.read_only_endpoints.is_empty());
    assert_eq!(credentials.password.expose_secret(), "plain-password");
    assert!(credentials.tls.is_none() && credentials.version.is_none());
    assert!(credentials.user_secret.is_none() && credentials.tls_secret.is_none());

    model.provider_sets(&[("password", "")]);
    assert_eq!(
        not_ready(&mut model),
        NotReady::FieldMissing { field: "password", source: FieldSource::Databag }
    );
}

#[test]
fn each_missing_or_malformed_piece_is_its_own_not_ready_reason() {
    let mut model = Model::new(1);
    assert_eq!(not_ready(&mut model), NotReady::EndpointsMissing);

    // Before the request is processed the provider may only publish endpoints.
    model.provider_sets(&[("endpoints", PRIMARY), ("read-only-endpoints", REPLICAS)]);
    assert_eq!(not_ready(&mut model), NotReady::CredentialsMissing);

    model.provider_sets(&[("endpoints", "fd00::1:5432")]);
    assert_eq!(
        not_ready(&mut model),
        NotReady::EndpointsMalformed {
            key: "endpoints",
            error: EndpointError::InvalidHost("fd00::1:5432".into())
        }
    );
    model.provider_sets(&[("endpoints", PRIMARY), ("read-only-endpoints", "replicas:0")]);
    assert!(matches!(not_ready(&mut model), NotReady::EndpointsMalformed { key: "read-only-endpoints", .. }));
    model.provider_sets(&[("read-only-endpoints", REPLICAS)]);

    model.provider_sets(&[("secret-user", "relation_id_0:password")]);
    assert!(matches!(not_ready(&mut model), NotReady::SecretIdMalformed { group: SecretGroup::User, .. }));

    model.provider_sets(&[("secret-user", "secret:coj8mulh8b41e8nv6p90")]);
    assert_eq!(not_ready(&mut model), NotReady::DatabaseMissing);
    model.provider_sets(&[("database", REQUIRER)]);
    assert_eq!(not_ready(&mut model), NotReady::SecretNotFound { group: SecretGroup::User });

    let user = model.provider_secret("user", &[("username", "relation_id_0")]);
    model.provider_sets(&[("secret-user", &user)]);
    assert_eq!(not_ready(&mut model), NotReady::SecretNotGranted { group: SecretGroup::User });
    model.grant(&user);
    assert_eq!(
        not_ready(&mut model),
        NotReady::FieldMissing { field: "password", source: FieldSource::Secret(SecretGroup::User) }
    );
    let content = [("username", "relation_id_0"), ("password", "pw")];
    model
        .sim
        .update_secret(&user, content.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
        .unwrap();

    let tls = model.provider_secret("tls", &[("tls", "yes")]);
    model.provider_sets(&[("secret-tls", &tls)]);
    assert_eq!(not_ready(&mut model), NotReady::SecretNotGranted { group: SecretGroup::Tls });
    model.grant(&tls);
    assert_eq!(
        not_ready(&mut model),
        NotReady::TlsFlagMalformed { value: "yes".into(), source: FieldSource::Secret(SecretGroup::Tls) }
    );
    model.sim.update_secret(&tls, [("tls".to_string(), "False".to_string())].into()).unwrap();
    assert!(ready(&mut model, "myapp/0").tls.is_none());

    // Revoking a grant takes the credentials away again.
    model.sim.revoke_secret(&user, &GrantTarget::Application(REQUIRER.into())).unwrap();
    assert_eq!(not_ready(&mut model), NotReady::SecretNotGranted { group: SecretGroup::User });
}

#[test]
fn canonical_secret_uris_are_accepted() {
    let mut model = Model::new(1);
    let published = model.provider_answers("pw");
    let uuid = model.sim.model().uuid.clone();
    let canonical = SecretUri::parse(&published.user).unwrap().canonical(&uuid).to_string();
    assert!(canonical.starts_with("secret://"));
    model.provider_sets(&[("secret-user", &canonical)]);
    assert_eq!(ready(&mut model, "myapp/0").user_secret.unwrap().as_str(), canonical);
}

#[test]
fn a_relation_that_is_gone_is_not_ready() {
    let mut model = Model::new(1);
    let gone = juju::RelationId::new("database", 99);
    let (view, _) = model
        .hook("myapp/0", Event::UpdateStatus, |tools, _| DatabaseView::read(tools, &gone, PROVIDER).unwrap());
    assert!(matches!(view, DatabaseView::NotReady(NotReady::RelationGone)), "{view:?}");
}
