//! The requirer side against the simulated Juju, with the provider of this crate.

mod sim;

use juju::{Event as HookEvent, RelationEvent, RelationHook, RelationId, ToolErrorKind};
use matrix_auth::protocol::*;
use matrix_auth::{
    publish_registration, ProviderContext, ProviderDataError, ProviderNotReady, ProviderState, ProviderView,
    PublishError, RegistrationOutcome, RegistrationPublish, RequirerEvent,
};
use secrecy::{ExposeSecret, SecretString};
use sim::{Model, HOMESERVER, SHARED};

const REGISTRATION: &str =
    "id: irc\nhs_token: hs\nas_token: as\nurl: http://10.0.0.5:8090\nsender_localpart: libera\n\
namespaces:\n  users:\n    - exclusive: true\n      regex: '@libera_.*:example\\.com'\n";

fn provider_publishes(model: &mut Model) {
    model.hook("synapse/0", |tools, context| {
        let state = ProviderState::read(tools, ProviderContext::from_hook(context, ENDPOINT)).unwrap();
        state.publish(tools, HOMESERVER, Some(&SecretString::from(SHARED))).unwrap();
    });
}

fn view(model: &mut Model, unit: &str) -> ProviderView {
    let relation = RelationId::new(ENDPOINT, model.relation("irc"));
    model.hook(unit, |tools, _| ProviderView::read(tools, &relation, "synapse").unwrap()).0
}

fn not_ready(view: ProviderView) -> ProviderNotReady {
    match view {
        ProviderView::NotReady(reason) => reason,
        ProviderView::Ready(info) => panic!("ready too early: {info:?}"),
    }
}

#[test]
fn incomplete_provider_data_is_not_ready_never_an_error() {
    let mut model = Model::new(1, &["irc"]);
    assert_eq!(not_ready(view(&mut model, "irc/0")), ProviderNotReady::EmptyBag);
    let relation = model.relation("irc");
    model.set_bag(relation, "synapse", &[(SHARED_SECRET_ID_KEY, "secret:coj8mulh8b41e8nv6p90")]);
    assert_eq!(
        not_ready(view(&mut model, "irc/0")),
        ProviderNotReady::Incomplete(ProviderDataError::MissingHomeserver)
    );
    model.set_bag(relation, "synapse", &[(SHARED_SECRET_ID_KEY, ""), (HOMESERVER_KEY, HOMESERVER)]);
    assert_eq!(not_ready(view(&mut model, "irc/0")), ProviderNotReady::NoSharedSecretId);
    model.set_bag(relation, "synapse", &[(SHARED_SECRET_ID_KEY, "secret:coj8mulh8b41e8nv6p90")]);
    assert_eq!(
        not_ready(view(&mut model, "irc/0")),
        ProviderNotReady::SharedSecretNotVisible(ToolErrorKind::SecretNotFound)
    );

    // A secret that exists but was never granted to the requirer.
    use juju_sim::model::SecretOwner;
    let content = [(SHARED_SECRET_CONTENT.to_string(), SHARED.to_string())].into();
    let uri = model.sim.add_secret(SecretOwner::Application("synapse".into()), content, None).unwrap();
    model.set_bag(relation, "synapse", &[(SHARED_SECRET_ID_KEY, &uri)]);
    let reason = not_ready(view(&mut model, "irc/0"));
    assert!(
        matches!(
            reason,
            ProviderNotReady::SharedSecretNotVisible(
                ToolErrorKind::PermissionDenied | ToolErrorKind::SecretNotFound
            )
        ),
        "{reason:?}"
    );
}

#[test]
fn unidirectional_requirers_get_homeserver_and_shared_secret() {
    let mut model = Model::new(1, &["irc"]);
    provider_publishes(&mut model);
    let ProviderView::Ready(info) = view(&mut model, "irc/0") else { panic!("not ready") };
    assert_eq!(info.homeserver, HOMESERVER);
    assert_eq!(info.shared_secret.expose_secret(), SHARED);
    assert!(info.encryption_key_secret_id.is_some());
    assert!(!format!("{info:?}").contains(SHARED), "the shared secret never shows in Debug");
}

#[test]
fn bridge_registration_reaches_the_provider_and_is_sent_once() {
    let mut model = Model::new(2, &["irc"]);
    provider_publishes(&mut model);
    let relation = RelationId::new(ENDPOINT, model.relation("irc"));
    let text = SecretString::from(REGISTRATION);
    let send = |model: &mut Model, text: &SecretString| {
        let relation = relation.clone();
        model.hook("irc/0", move |tools, context| {
            let ProviderView::Ready(info) = ProviderView::read(tools, &relation, "synapse").unwrap() else {
                panic!()
            };
            publish_registration(tools, &relation, &context.app_name, &info, text).unwrap()
        })
    };
    let (outcome, _) = send(&mut model, &text);
    assert_eq!(outcome, RegistrationPublish::Written);
    let token = model.bag(relation.id, "irc")[REGISTRATION_KEY].clone();
    assert!(token.starts_with("gAAAAA"));
    assert!(!token.contains("libera"), "the databag holds ciphertext only");

    let (outcome, run) = send(&mut model, &text);
    assert_eq!(outcome, RegistrationPublish::Unchanged);
    assert_eq!(run.count("relation-set"), 0);
    assert_eq!(model.bag(relation.id, "irc")[REGISTRATION_KEY], token, "the token is not re-sent");

    // Every Synapse unit reads it back.
    for unit in ["synapse/0", "synapse/1"] {
        let (outcomes, _) = model.hook(unit, |tools, context| {
            ProviderState::read(tools, ProviderContext::from_hook(context, ENDPOINT)).unwrap().registrations()
        });
        let [(_, RegistrationOutcome::Accepted(registration))] = outcomes.as_slice() else {
            panic!("{outcomes:?}")
        };
        assert_eq!(registration.source().expose_secret(), REGISTRATION);
    }

    let changed = SecretString::from(REGISTRATION.replace("as_token: as", "as_token: rotated"));
    assert_eq!(send(&mut model, &changed).0, RegistrationPublish::Written);
}

#[test]
fn only_valid_registrations_are_sent_and_only_by_the_leader() {
    let mut model = Model::new(1, &["irc"]);
    provider_publishes(&mut model);
    model.sim.add_unit("irc").unwrap();
    let relation = RelationId::new(ENDPOINT, model.relation("irc"));
    let (outcome, run) = model.hook("irc/1", |tools, context| {
        let ProviderView::Ready(info) = ProviderView::read(tools, &relation, "synapse").unwrap() else {
            panic!()
        };
        publish_registration(tools, &relation, &context.app_name, &info, &SecretString::from(REGISTRATION))
            .unwrap()
    });
    assert_eq!(outcome, RegistrationPublish::NotLeader);
    assert_eq!(run.count("relation-set"), 0);

    let (error, _) = model.hook("irc/0", |tools, context| {
        let ProviderView::Ready(info) = ProviderView::read(tools, &relation, "synapse").unwrap() else {
            panic!()
        };
        publish_registration(tools, &relation, &context.app_name, &info, &SecretString::from("id: ["))
            .unwrap_err()
    });
    assert!(matches!(error, PublishError::InvalidRegistration(_)), "{error:?}");
}

#[test]
fn a_v0_provider_takes_no_registration() {
    let mut model = Model::new(1, &["irc"]);
    provider_publishes(&mut model);
    let relation = model.relation("irc");
    model.set_bag(relation, "synapse", &[(ENCRYPTION_KEY_SECRET_ID_KEY, "")]);
    let relation = RelationId::new(ENDPOINT, relation);
    let (outcome, _) = model.hook("irc/0", |tools, context| {
        let ProviderView::Ready(info) = ProviderView::read(tools, &relation, "synapse").unwrap() else {
            panic!()
        };
        publish_registration(tools, &relation, &context.app_name, &info, &SecretString::from(REGISTRATION))
            .unwrap()
    });
    assert_eq!(outcome, RegistrationPublish::NoEncryptionKey);
}

#[test]
fn relation_changed_becomes_a_request_processed_event() {
    let mut model = Model::new(1, &["irc"]);
    let relation = RelationId::new(ENDPOINT, model.relation("irc"));
    let event = HookEvent::Relation(RelationEvent {
        hook: RelationHook::Changed,
        relation: relation.clone(),
        remote_app: Some("synapse".into()),
        remote_unit: None,
        departing_unit: None,
    });
    let (before, _) =
        model.hook("irc/0", |tools, _| RequirerEvent::from_event(tools, &event, ENDPOINT).unwrap());
    assert!(
        matches!(before, Some(RequirerEvent::NotReady { reason: ProviderNotReady::EmptyBag, .. })),
        "{before:?}"
    );
    provider_publishes(&mut model);
    let (after, _) =
        model.hook("irc/0", |tools, _| RequirerEvent::from_event(tools, &event, ENDPOINT).unwrap());
    let Some(RequirerEvent::RequestProcessed { relation: got, provider }) = after else {
        panic!("{after:?}")
    };
    assert_eq!((got, provider.homeserver.as_str()), (relation, HOMESERVER));
    let (other, _) = model
        .hook("irc/0", |tools, _| RequirerEvent::from_event(tools, &HookEvent::Start, ENDPOINT).unwrap());
    assert!(other.is_none());
}
