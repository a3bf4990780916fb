//! The provider side against the simulated Juju: secrets, grants, databags, registrations.

mod sim;

use juju::{HookContext, HookTools, RelationId, ToolErrorKind};
use matrix_auth::protocol::*;
use matrix_auth::{
    encrypt_string, generate_key, Conflict, EventRelation, NotReady, ProviderContext, ProviderState,
    PublishOutcome, PublishReport, RegistrationOutcome, Rejection,
};
use secrecy::{ExposeSecret, SecretString};
use sim::{Model, HOMESERVER, SHARED};

fn state(tools: &HookTools, context: &HookContext) -> ProviderState {
    ProviderState::read(tools, ProviderContext::from_hook(context, ENDPOINT)).unwrap()
}

fn publish(model: &mut Model, homeserver: &str, shared: Option<&str>) -> (PublishOutcome, juju_sim::HookRun) {
    model.hook("synapse/0", |tools, context| {
        let shared = shared.map(SecretString::from);
        state(tools, context).publish(tools, homeserver, shared.as_ref()).unwrap()
    })
}

fn report(outcome: PublishOutcome) -> PublishReport {
    match outcome {
        PublishOutcome::Published(report) => report,
        PublishOutcome::NotLeader => panic!("published as leader"),
    }
}

fn outcomes(model: &mut Model, unit: &str) -> Vec<(u32, RegistrationOutcome)> {
    let (outcomes, _) = model.hook(unit, |tools, context| state(tools, context).registrations());
    outcomes.into_iter().map(|(relation, outcome)| (relation.id, outcome)).collect()
}

fn irc_registration(id: &str, as_token: &str, sender: &str) -> String {
    format!(
        "id: {id}\nhs_token: hs-{id}\nas_token: {as_token}\nurl: http://10.0.0.5:8090\nsender_localpart: {sender}\n\
         namespaces:\n  users:\n    - exclusive: true\n      regex: '@{sender}_.*:example\\.com'\n"
    )
}

/// The provider's Fernet key as stored in its secret.
fn provider_key(model: &Model) -> SecretString {
    let secret = model
        .sim
        .model()
        .secrets
        .values()
        .find(|s| s.label.as_deref() == Some(ENCRYPTION_KEY_LABEL))
        .unwrap();
    SecretString::from(secret.latest().unwrap().decoded()[ENCRYPTION_KEY_CONTENT].clone())
}

#[test]
fn first_publish_creates_grants_and_writes_full_uris() {
    let mut model = Model::new(2, &["irc", "maubot"]);
    let (outcome, run) = publish(&mut model, HOMESERVER, Some(SHARED));
    let report = report(outcome);
    assert_eq!(report.created, [SHARED_SECRET_LABEL, ENCRYPTION_KEY_LABEL]);
    assert_eq!(report.granted.len(), 4);
    assert_eq!(report.updated.len(), 2);
    assert_eq!(run.count("secret-add"), 2);

    let uuid = model.sim.model().uuid.clone();
    for requirer in ["irc", "maubot"] {
        let relation = model.relation(requirer);
        let bag = model.bag(relation, "synapse");
        assert_eq!(bag[HOMESERVER_KEY], HOMESERVER);
        for key in [SHARED_SECRET_ID_KEY, ENCRYPTION_KEY_SECRET_ID_KEY] {
            assert!(bag[key].starts_with(&format!("secret://{uuid}/")), "{key}: {}", bag[key]);
        }
        for secret in model.sim.model().secrets.values() {
            assert!(secret.grants.iter().any(|g| g.relation_id == relation), "granted to {requirer}");
        }
    }
    let shared =
        model.sim.model().secrets.values().find(|s| s.label.as_deref() == Some(SHARED_SECRET_LABEL)).unwrap();
    assert_eq!(shared.latest().unwrap().decoded()[SHARED_SECRET_CONTENT], SHARED);
    assert_eq!(provider_key(&model).expose_secret().len(), 44);
}

#[test]
fn the_publication_is_planned_as_data_without_any_write() {
    use juju::effects::Value;
    use juju::{Effect, SecretHandle};
    let mut model = Model::new(1, &["irc"]);
    let (plan, run) = model.hook("synapse/0", |tools, context| {
        let key = || SecretString::from(generate_key().expose_secret().to_string());
        state(tools, context)
            .plan_publish(HOMESERVER, Some(&SecretString::from(SHARED)), key)
            .expect("leader")
    });
    for tool in ["secret-add", "secret-grant", "relation-set"] {
        assert_eq!(run.count(tool), 0, "planning ran {tool}");
    }
    let relation = RelationId::new(ENDPOINT, model.relation("irc"));
    let added = |label: &str| SecretHandle::Added(label.to_string());
    assert!(
        matches!(&plan.effects[0], Effect::SecretAdd(new) if new.label.as_deref() == Some(SHARED_SECRET_LABEL))
    );
    assert!(
        matches!(&plan.effects[1], Effect::SecretAdd(new) if new.label.as_deref() == Some(ENCRYPTION_KEY_LABEL))
    );
    assert!(
        matches!(&plan.effects[2], Effect::SecretGrant { secret, relation: to } if *secret == added(SHARED_SECRET_LABEL) && *to == relation)
    );
    assert!(
        matches!(&plan.effects[3], Effect::SecretGrant { secret, .. } if *secret == added(ENCRYPTION_KEY_LABEL))
    );
    let Effect::RelationSet { data, .. } = &plan.effects[4] else { panic!("{:?}", plan.effects) };
    assert_eq!(data[HOMESERVER_KEY], Value::Text(HOMESERVER.into()));
    assert!(
        matches!(&data[SHARED_SECRET_ID_KEY], Value::AddedSecretId { label, model_uuid: Some(_) } if label == SHARED_SECRET_LABEL)
    );
    assert_eq!(plan.effects.len(), 5);
    assert_eq!(plan.report.created, [SHARED_SECRET_LABEL, ENCRYPTION_KEY_LABEL]);

    // Executed, it is what publishing does.
    let (executed, _) =
        model.hook("synapse/0", |tools, _| juju::effects::execute(tools, &plan.effects).unwrap());
    assert_eq!(executed, 5);
    let bag = model.bag(relation.id, "synapse");
    let uuid = model.sim.model().uuid.clone();
    assert!(bag[SHARED_SECRET_ID_KEY].starts_with(&format!("secret://{uuid}/")), "{bag:?}");
}

#[test]
fn publishing_again_changes_nothing_and_calls_little() {
    let mut model = Model::new(1, &["irc", "maubot"]);
    publish(&mut model, HOMESERVER, Some(SHARED));
    let key_before = provider_key(&model);
    // A different shared value must not touch the existing secret.
    let (outcome, run) = publish(&mut model, HOMESERVER, Some("another-value"));
    assert_eq!(report(outcome), PublishReport::default());
    for tool in ["secret-add", "secret-set", "secret-grant", "relation-set"] {
        assert_eq!(run.count(tool), 0, "{tool}");
    }
    // The key is read beside the relations' bags, before they tell whether a token needs it.
    assert_eq!(run.count("secret-get"), 1, "only the key");
    assert_eq!(run.count("secret-info-get"), 2, "one per label");
    assert_eq!(provider_key(&model).expose_secret(), key_before.expose_secret());
    let revisions: Vec<usize> = model.sim.model().secrets.values().map(|s| s.revisions.len()).collect();
    assert_eq!(revisions, [1, 1]);
}

#[test]
fn a_changed_homeserver_is_the_only_key_written() {
    let mut model = Model::new(1, &["irc"]);
    publish(&mut model, HOMESERVER, Some(SHARED));
    let (outcome, run) = publish(&mut model, "https://new.example.com", Some(SHARED));
    assert_eq!(report(outcome).updated.len(), 1);
    let call = run.calls_to("relation-set").next().unwrap();
    let sent: serde_json::Value = serde_json::from_str(call.stdin.as_deref().unwrap()).unwrap();
    assert_eq!(sent, serde_json::json!({"homeserver": "https://new.example.com"}));
    assert_eq!(model.bag(model.relation("irc"), "synapse")[HOMESERVER_KEY], "https://new.example.com");
}

#[test]
fn without_a_shared_secret_nothing_is_created() {
    let mut model = Model::new(1, &["irc"]);
    let report = report(publish(&mut model, HOMESERVER, None).0);
    assert!(report.waiting_for_shared_secret);
    assert!(report.created.is_empty() && report.granted.is_empty());
    assert!(model.sim.model().secrets.is_empty());
    let bag = model.bag(model.relation("irc"), "synapse");
    assert_eq!(bag.get(HOMESERVER_KEY).map(String::as_str), Some(HOMESERVER));
    assert!(!bag.contains_key(SHARED_SECRET_ID_KEY));
}

#[test]
fn non_leaders_do_not_publish_but_still_read_registrations() {
    let mut model = Model::new(2, &["irc"]);
    publish(&mut model, HOMESERVER, Some(SHARED));
    let (outcome, run) = model.hook("synapse/1", |tools, context| {
        state(tools, context).publish(tools, HOMESERVER, Some(&SecretString::from(SHARED))).unwrap()
    });
    assert_eq!(outcome, PublishOutcome::NotLeader);
    assert_eq!(run.count("relation-set") + run.count("secret-add") + run.count("secret-info-get"), 0);

    let token = encrypt_string(&provider_key(&model), &irc_registration("irc", "as-1", "libera")).unwrap();
    let relation = model.relation("irc");
    model.set_bag(relation, "irc", &[(REGISTRATION_KEY, &token)]);
    let (outcomes, run) = model.hook("synapse/1", |tools, context| state(tools, context).registrations());
    let [(_, RegistrationOutcome::Accepted(registration))] = outcomes.as_slice() else {
        panic!("{outcomes:?}")
    };
    assert_eq!(registration.id(), "irc");
    assert_eq!(registration.source().expose_secret(), irc_registration("irc", "as-1", "libera"));
    assert_eq!(run.count("secret-get"), 1, "the key is read once, by label");
}

#[test]
fn bad_remote_input_is_an_outcome_not_an_error() {
    let mut model = Model::new(1, &["garbage", "wrongkey", "badyaml", "first", "dupe", "quiet"]);
    publish(&mut model, HOMESERVER, Some(SHARED));
    let key = provider_key(&model);
    let other_key = generate_key();
    let inputs = [
        ("garbage", "not-a-token".to_string()),
        ("wrongkey", encrypt_string(&other_key, &irc_registration("w", "as-w", "w")).unwrap()),
        ("badyaml", encrypt_string(&key, "id: [").unwrap()),
        ("first", encrypt_string(&key, &irc_registration("same", "as-1", "one")).unwrap()),
        ("dupe", encrypt_string(&key, &irc_registration("same", "as-2", "two")).unwrap()),
    ];
    for (app, token) in &inputs {
        let relation = model.relation(app);
        model.set_bag(relation, app, &[(REGISTRATION_KEY, token)]);
    }
    let first = model.relation("first");
    let by_app = |model: &Model, outcomes: &[(u32, RegistrationOutcome)], app: &str| {
        outcomes.iter().find(|(id, _)| *id == model.relation(app)).map(|(_, o)| o.clone()).unwrap()
    };
    let outcomes = outcomes(&mut model, "synapse/0");
    assert!(matches!(
        by_app(&model, &outcomes, "garbage"),
        RegistrationOutcome::Rejected(Rejection::Undecryptable)
    ));
    assert!(matches!(
        by_app(&model, &outcomes, "wrongkey"),
        RegistrationOutcome::Rejected(Rejection::Undecryptable)
    ));
    assert!(matches!(
        by_app(&model, &outcomes, "badyaml"),
        RegistrationOutcome::Rejected(Rejection::Invalid(_))
    ));
    assert!(matches!(by_app(&model, &outcomes, "first"), RegistrationOutcome::Accepted(_)));
    let dupe = by_app(&model, &outcomes, "dupe");
    let RegistrationOutcome::Rejected(Rejection::Conflict { conflict, with }) = &dupe else {
        panic!("{dupe:?}")
    };
    assert_eq!((conflict, with.id), (&Conflict::DuplicateId, first));
    assert_eq!(dupe_reason(&dupe), format!("duplicate id (with relation {first})"));
    assert!(matches!(
        by_app(&model, &outcomes, "quiet"),
        RegistrationOutcome::NotReady(NotReady::NoRegistration)
    ));
}

fn dupe_reason(outcome: &RegistrationOutcome) -> String {
    match outcome {
        RegistrationOutcome::Rejected(rejection) => rejection.to_string(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn tokens_before_the_key_exists_are_not_ready() {
    let mut model = Model::new(1, &["irc"]);
    let relation = model.relation("irc");
    model.set_bag(relation, "irc", &[(REGISTRATION_KEY, "gAAAAAB-early")]);
    let outcomes = outcomes(&mut model, "synapse/0");
    assert!(
        matches!(outcomes[0].1, RegistrationOutcome::NotReady(NotReady::EncryptionKeyMissing)),
        "{outcomes:?}"
    );
}

#[test]
fn v0_requirers_are_read_from_their_own_secret_where_granted() {
    use juju_sim::model::{GrantTarget, SecretOwner};
    let mut model = Model::new(1, &["legacy"]);
    let relation = model.relation("legacy");
    let content =
        [(V0_REGISTRATION_CONTENT.to_string(), irc_registration("legacy", "as-l", "legacy"))].into();
    let uri = model
        .sim
        .add_secret(SecretOwner::Application("legacy".into()), content, Some("app-registration".into()))
        .unwrap();
    model.set_bag(relation, "legacy", &[(V0_REGISTRATION_SECRET_ID_KEY, &uri)]);

    let outcomes_before = outcomes(&mut model, "synapse/0");
    let RegistrationOutcome::NotReady(NotReady::V0SecretNotVisible(kind)) = &outcomes_before[0].1 else {
        panic!("{outcomes_before:?}")
    };
    assert!(matches!(kind, ToolErrorKind::PermissionDenied | ToolErrorKind::SecretNotFound), "{kind:?}");

    model.sim.grant_secret(&uri, relation, GrantTarget::Application("synapse".into())).unwrap();
    let outcomes = outcomes(&mut model, "synapse/0");
    let RegistrationOutcome::Accepted(registration) = &outcomes[0].1 else { panic!("{outcomes:?}") };
    assert_eq!(registration.id(), "legacy");
}

/// Runs a hook of the leader as the `relation-broken` of the requirer `app`'s relation.
fn broken_hook(model: &mut Model, app: &str) -> (ProviderState, PublishOutcome, juju_sim::HookRun) {
    let relation = RelationId::new(ENDPOINT, model.relation(app));
    let ((state, outcome), run) = model.hook("synapse/0", |tools, context| {
        let mut provider_context = ProviderContext::from_hook(context, ENDPOINT);
        // In relation-broken Juju may still list the relation: the context names it broken.
        provider_context.event =
            Some(EventRelation { id: relation, remote_app: Some(app.to_string()), broken: true });
        let state = ProviderState::read(tools, provider_context).unwrap();
        let outcome = state.publish(tools, HOMESERVER, Some(&SecretString::from(SHARED))).unwrap();
        (state, outcome)
    });
    (state, outcome, run)
}

#[test]
fn a_broken_relation_loses_its_grants_and_the_others_keep_theirs() {
    let mut model = Model::new(1, &["irc", "maubot"]);
    publish(&mut model, HOMESERVER, Some(SHARED));
    let (irc, maubot) = (model.relation("irc"), model.relation("maubot"));
    let (state, outcome, run) = broken_hook(&mut model, "irc");
    let ids: Vec<u32> = state.relations().iter().map(|relation| relation.id.id).collect();
    assert_eq!(ids, [maubot], "the broken relation is not served");
    let irc_id = RelationId::new(ENDPOINT, irc);
    let first = report(outcome);
    assert_eq!(first.revoked, [(irc_id.clone(), SHARED_SECRET_LABEL), (irc_id, ENCRYPTION_KEY_LABEL)]);
    assert!(first.granted.is_empty() && first.removed.is_empty());
    assert_eq!(run.count("secret-revoke"), 2);
    for secret in model.sim.model().secrets.values() {
        assert!(!secret.grants.iter().any(|g| g.relation_id == irc), "irc keeps a grant");
        assert!(secret.grants.iter().any(|g| g.relation_id == maubot), "maubot lost a grant");
    }
    // Once revoked, the same hook again finds nothing to withdraw.
    let (_, outcome, run) = broken_hook(&mut model, "irc");
    assert_eq!(report(outcome).revoked, []);
    assert_eq!(run.count("secret-revoke"), 0);
}

#[test]
fn a_broken_relation_without_a_remote_application_is_left_to_juju() {
    let mut model = Model::new(1, &["irc", "maubot"]);
    publish(&mut model, HOMESERVER, Some(SHARED));
    let irc = RelationId::new(ENDPOINT, model.relation("irc"));
    let (outcome, run) = model.hook("synapse/0", |tools, context| {
        let mut provider_context = ProviderContext::from_hook(context, ENDPOINT);
        provider_context.event = Some(EventRelation { id: irc, remote_app: None, broken: true });
        let state = ProviderState::read(tools, provider_context).unwrap();
        state.publish(tools, HOMESERVER, Some(&SecretString::from(SHARED))).unwrap()
    });
    assert_eq!(report(outcome), PublishReport::default(), "nothing to withdraw it could name");
    assert_eq!(run.count("secret-revoke"), 0);
}

#[test]
fn secrets_go_when_the_last_relation_is_broken() {
    let mut model = Model::new(1, &["irc"]);
    publish(&mut model, HOMESERVER, Some(SHARED));
    let (state, outcome, run) = broken_hook(&mut model, "irc");
    assert!(state.relations().is_empty());
    let report = report(outcome);
    assert_eq!(report.removed, [SHARED_SECRET_LABEL, ENCRYPTION_KEY_LABEL]);
    assert!(report.revoked.is_empty(), "removing a secret withdraws its grants");
    assert_eq!(run.count("secret-revoke"), 0);
    assert!(model.sim.model().secrets.is_empty());
}

#[test]
fn a_leader_without_relations_reads_and_writes_no_secret() {
    let mut model = Model::new(1, &[]);
    let (outcome, run) = publish(&mut model, HOMESERVER, Some(SHARED));
    assert_eq!(report(outcome), PublishReport::default());
    for tool in ["secret-info-get", "secret-get", "secret-add", "secret-remove"] {
        assert_eq!(run.count(tool), 0, "{tool}");
    }
}
