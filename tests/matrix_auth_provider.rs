//! The `matrix-auth` provider's side of the model: what the Synapse leader publishes, the two
//! secrets and their grants, and how they follow the relations' lifecycle (relation without
//! units, departing units, removal, a new relation, leadership, configuration changes, an
//! offer alias, v0 requirers), with passive requirers whose data the tests write.

mod support;

use std::collections::BTreeMap;

use juju_sim::model::{GrantTarget, SecretOwner};
use juju_sim::Event;
use matrix_auth::protocol::*;
use serde_json::{json, Value};
use support::passive_requirers::*;
use support::requirers::registration_path;
use support::{assert_no_model_writes, assert_no_repeated_calls, Harness, APP, NO_OP_REQUESTS, SERVER_NAME};
use test_support::assert_hooks_succeeded;

/// Writes to Synapse's own bag of `relation`, as the JSON bodies sent.
fn bag_writes(runs: &[juju_sim::HookRun], relation: u32) -> Vec<Value> {
    let target = format!("matrix-auth:{relation}");
    runs.iter()
        .filter(|run| run.unit.starts_with("synapse/"))
        .flat_map(|run| run.calls_to("relation-set"))
        .filter(|call| call.args.contains(&target))
        .map(|call| serde_json::from_str(call.stdin.as_deref().expect("a body")).expect("JSON body"))
        .collect()
}

/// The URI form Synapse must publish for its secret `label`.
fn full_uri(model: &ProviderModel, label: &str) -> String {
    let uuid = &model.harness.sim.model().uuid;
    format!("secret://{uuid}/{}", model.secret(label).expect("the secret exists").id)
}

#[test]
fn integrating_publishes_the_homeserver_and_two_secrets_granted_once() {
    let mut model = ProviderModel::new(1);
    let starts = model.starts(UNIT0);
    model.add_requirer("irc", 1);
    let (relation, runs) = model.integrate("irc");

    let bag = model.provider_bag(relation);
    let expected = BTreeMap::from([
        (HOMESERVER_KEY.to_string(), HOMESERVER.to_string()),
        (SHARED_SECRET_ID_KEY.to_string(), full_uri(&model, SHARED_SECRET_LABEL)),
        (ENCRYPTION_KEY_SECRET_ID_KEY.to_string(), full_uri(&model, ENCRYPTION_KEY_LABEL)),
    ]);
    assert_eq!(bag, expected);
    let homeserver_yaml = model.harness.homeserver(UNIT0);
    assert_eq!(
        model.secret_content(SHARED_SECRET_LABEL),
        BTreeMap::from([(
            SHARED_SECRET_CONTENT.to_string(),
            homeserver_yaml["registration_shared_secret"].as_str().unwrap().to_string()
        )]),
        "the shared secret is the one Synapse runs with"
    );
    let key = model.secret_content(ENCRYPTION_KEY_LABEL);
    assert_eq!(key.keys().collect::<Vec<_>>(), [ENCRYPTION_KEY_CONTENT]);
    assert!(key[ENCRYPTION_KEY_CONTENT].len() == 44 && key[ENCRYPTION_KEY_CONTENT].ends_with('='));
    for label in [SHARED_SECRET_LABEL, ENCRYPTION_KEY_LABEL] {
        assert_eq!(model.grants(label), [(relation, "application-irc".to_string())], "{label}");
        assert_eq!(model.secret(label).unwrap().latest_revision(), 1);
    }
    // Created, granted and written exactly once over the whole integration.
    assert_eq!(calls(&runs, APP, "secret-add"), 2);
    assert_eq!(calls(&runs, APP, "secret-grant"), 2);
    assert_eq!(bag_writes(&runs, relation).len(), 1);
    // Nothing for Synapse to load yet.
    assert_eq!(model.status(UNIT0), active());
    assert_eq!(model.starts(UNIT0), starts);
    assert!(model.config_files(UNIT0).is_empty() && model.registration_files(UNIT0).is_empty());
}

#[test]
fn a_relation_without_units_is_served_from_relation_created() {
    let mut model = ProviderModel::new(1);
    model.add_requirer("irc", 0);
    let (relation, runs) = model.integrate("irc");
    let hooks: Vec<&str> = runs.iter().map(|run| run.hook.as_str()).collect();
    assert_eq!(hooks, ["matrix-auth-relation-created"], "no unit, so no joined or changed");
    assert_eq!(model.provider_bag(relation)[HOMESERVER_KEY], HOMESERVER);
    assert_eq!(model.grants(ENCRYPTION_KEY_LABEL), [(relation, "application-irc".to_string())]);
    assert_eq!(model.status(UNIT0), active());

    // The first unit joins: everything is already in place.
    let (_, runs) = model.harness.sim.add_unit("irc").expect("scale up");
    assert_hooks_succeeded(&runs);
    assert!(runs.iter().any(|run| run.hook == "matrix-auth-relation-joined" && run.unit == UNIT0));
    for tool in ["secret-add", "secret-grant"] {
        assert_eq!(calls(&runs, APP, tool), 0, "{tool}");
    }
    assert_eq!(matrix_auth_writes(&runs), 0);
}

#[test]
fn a_departing_requirer_unit_leaves_the_registration_in_place() {
    let mut model = ProviderModel::new(1);
    model.add_requirer("irc", 2);
    let (relation, _) = model.integrate("irc");
    let text = registration("irc", "as-irc", "libera_");
    model.send(relation, "irc", &text);
    let starts = model.starts(UNIT0);

    let runs = model.harness.sim.remove_unit("irc/1").expect("scale down");
    assert_hooks_succeeded(&runs);
    assert!(runs.iter().any(|run| run.hook == "matrix-auth-relation-departed" && run.unit == UNIT0));
    model.assert_file(UNIT0, relation, &text);
    assert_eq!(model.config_files(UNIT0), [registration_path(relation)]);
    assert_eq!(model.starts(UNIT0), starts);
    assert_eq!(model.grants(SHARED_SECRET_LABEL), [(relation, "application-irc".to_string())]);
}

#[test]
fn removing_the_last_relation_cleans_everything_up_and_a_new_one_starts_afresh() {
    let mut model = ProviderModel::new(1);
    let relation = model.relate("irc");
    let text = registration("irc", "as-irc", "libera_");
    model.send(relation, "irc", &text);
    let old_key = model.secret_content(ENCRYPTION_KEY_LABEL);
    let old_ids = model.provider_bag(relation);
    let starts = model.starts(UNIT0);

    let runs = model.harness.sim.remove_relation(relation).expect("remove-relation runs");
    assert_hooks_succeeded(&runs);
    assert!(runs.iter().any(|run| run.hook == "matrix-auth-relation-broken" && run.unit == UNIT0));
    assert_eq!(model.file(UNIT0, relation), None, "the registration file is gone");
    assert!(model.registration_files(UNIT0).is_empty());
    assert!(model.config_files(UNIT0).is_empty(), "homeserver.yaml no longer lists it");
    assert_eq!(model.starts(UNIT0), starts + 1, "Synapse restarted without the bridge");
    for label in [SHARED_SECRET_LABEL, ENCRYPTION_KEY_LABEL] {
        assert!(model.secret(label).is_none(), "{label} outlived the last relation");
    }
    assert_eq!(calls(&runs, APP, "secret-remove"), 2);
    assert_eq!(model.status(UNIT0), active());

    // The next relation gets new secrets and its registration is served again.
    let (again, runs) = model.integrate("irc");
    assert_ne!(again, relation);
    assert_eq!(calls(&runs, APP, "secret-add"), 2);
    assert_ne!(model.secret_content(ENCRYPTION_KEY_LABEL), old_key, "a new key");
    let bag = model.provider_bag(again);
    assert_ne!(bag[ENCRYPTION_KEY_SECRET_ID_KEY], old_ids[ENCRYPTION_KEY_SECRET_ID_KEY]);
    assert_eq!(bag[ENCRYPTION_KEY_SECRET_ID_KEY], full_uri(&model, ENCRYPTION_KEY_LABEL));
    model.send(again, "irc", &text);
    model.assert_file(UNIT0, again, &text);
    assert_eq!(model.config_files(UNIT0), [registration_path(again)]);
    assert_eq!(model.starts(UNIT0), starts + 2);
}

#[test]
fn removing_one_relation_revokes_its_grants_and_keeps_the_other() {
    let mut model = ProviderModel::new(1);
    let irc = model.relate("irc");
    let tg = model.relate("tg");
    let (irc_text, tg_text) = (registration("irc", "as-irc", "libera_"), registration("tg", "as-tg", "tg_"));
    model.send(irc, "irc", &irc_text);
    model.send(tg, "tg", &tg_text);
    let key = model.secret_content(ENCRYPTION_KEY_LABEL);
    let tg_bag = model.provider_bag(tg);
    let starts = model.starts(UNIT0);

    let runs = model.harness.sim.remove_relation(irc).expect("remove-relation runs");
    assert_hooks_succeeded(&runs);
    assert_eq!(calls(&runs, APP, "secret-revoke"), 2, "both grants withdrawn in relation-broken");
    for label in [SHARED_SECRET_LABEL, ENCRYPTION_KEY_LABEL] {
        assert_eq!(model.grants(label), [(tg, "application-tg".to_string())], "{label}");
    }
    assert_eq!(model.secret_content(ENCRYPTION_KEY_LABEL), key, "the key is kept");
    assert_eq!(model.provider_bag(tg), tg_bag);
    assert_eq!(model.file(UNIT0, irc), None);
    model.assert_file(UNIT0, tg, &tg_text);
    assert_eq!(model.config_files(UNIT0), [registration_path(tg)]);
    assert_eq!(model.starts(UNIT0), starts + 1);
    assert_eq!(model.status(UNIT0), active());
}

/// Relation-set calls of `runs` on a `matrix-auth` relation (the peer relation is not one).
fn matrix_auth_writes(runs: &[juju_sim::HookRun]) -> usize {
    runs.iter()
        .flat_map(|run| run.calls_to("relation-set"))
        .filter(|call| call.args.iter().any(|arg| arg.starts_with("matrix-auth:")))
        .count()
}

#[test]
fn a_non_leader_never_writes_the_application_bag_or_secrets_and_does_not_serve() {
    let mut model = ProviderModel::new(2);
    let relation = model.relate("irc");
    let text = registration("irc", "as-irc", "libera_");
    model.send(relation, "irc", &text);
    model.assert_file(UNIT0, relation, &text);
    assert_eq!(model.config_files(UNIT0), [registration_path(relation)]);
    // Two units are refused until scale-out exists: only synapse/0 runs Synapse.
    assert_eq!(model.file(UNIT1, relation), None);
    for unit in [UNIT0, UNIT1] {
        assert_eq!(model.status(unit).0, "blocked", "{unit}");
    }
    let history = model.harness.sim.history().to_vec();
    let non_leader: Vec<_> = history.iter().filter(|run| run.unit == UNIT1).cloned().collect();
    assert!(non_leader.iter().any(|run| run.hook == "matrix-auth-relation-changed"));
    assert_eq!(matrix_auth_writes(&non_leader), 0, "{UNIT1} wrote matrix-auth data");
    for tool in
        ["secret-add", "secret-set", "secret-grant", "secret-revoke", "secret-remove", "secret-info-get"]
    {
        assert_eq!(calls(&non_leader, APP, tool), 0, "{UNIT1} called {tool}");
    }
    // It reads the key by label, once per hook that needs it.
    let changed = non_leader.iter().rev().find(|run| run.hook == "matrix-auth-relation-changed").unwrap();
    let key_reads =
        changed.calls_to("secret-get").filter(|call| call.args.contains(&ENCRYPTION_KEY_LABEL.to_string()));
    assert_eq!(key_reads.count(), 1);
}

#[test]
fn a_new_leader_reuses_the_secrets_and_changes_nothing() {
    let mut model = ProviderModel::new(2);
    let relation = model.relate("irc");
    let text = registration("irc", "as-irc", "libera_");
    model.send(relation, "irc", &text);
    let bag = model.provider_bag(relation);
    let contents = [SHARED_SECRET_LABEL, ENCRYPTION_KEY_LABEL].map(|label| model.secret_content(label));
    let starts = [UNIT0, UNIT1].map(|unit| model.starts(unit));

    let mut runs = model.harness.sim.set_leader(UNIT1).expect("leader change");
    runs.extend(model.update_status());
    assert_hooks_succeeded(&runs);
    assert!(runs.iter().any(|run| run.unit == UNIT1 && run.hook == "leader-elected"));
    for tool in ["secret-add", "secret-set", "secret-grant", "secret-revoke", "secret-remove"] {
        assert_eq!(calls(&runs, APP, tool), 0, "{tool}");
    }
    assert_eq!(matrix_auth_writes(&runs), 0);
    // The new leader found what was published in the record the old one kept in the peer
    // relation: it needed to look at neither secret nor at its own bag.
    let new_leader: Vec<_> = runs.iter().filter(|run| run.unit == UNIT1).collect();
    assert!(new_leader.iter().all(|run| run.count("secret-info-get") == 0));
    let own_bag_reads = new_leader
        .iter()
        .flat_map(|run| run.calls_to("relation-get"))
        .filter(|call| {
            call.args.contains(&format!("matrix-auth:{relation}")) && call.args.contains(&APP.to_string())
        })
        .count();
    assert_eq!(own_bag_reads, 0);
    assert_eq!(model.provider_bag(relation), bag);
    assert_eq!(
        [SHARED_SECRET_LABEL, ENCRYPTION_KEY_LABEL].map(|label| model.secret_content(label)),
        contents
    );
    assert_eq!([UNIT0, UNIT1].map(|unit| model.starts(unit)), starts);
    model.assert_file(UNIT0, relation, &text);

    // The new leader serves a new relation with the same secrets.
    let tg = model.relate("tg");
    assert_eq!(model.provider_bag(tg)[ENCRYPTION_KEY_SECRET_ID_KEY], bag[ENCRYPTION_KEY_SECRET_ID_KEY]);
    assert_eq!(model.grants(ENCRYPTION_KEY_LABEL).len(), 2);
}

#[test]
fn the_key_and_shared_secret_are_never_rewritten() {
    let mut model = ProviderModel::new(1);
    let relation = model.relate("irc");
    let contents = [SHARED_SECRET_LABEL, ENCRYPTION_KEY_LABEL].map(|label| model.secret_content(label));
    let mut runs = model.harness.configure(&[("report_stats", json!(true))]);
    runs.extend(model.harness.sim.upgrade(APP, None).expect("upgrade runs"));
    runs.extend(model.update_status());
    runs.extend(model.harness.sim.fire(UNIT0, Event::RelationChanged { relation, unit: None }).unwrap());
    assert_hooks_succeeded(&runs);
    assert_eq!(calls(&runs, APP, "secret-set") + calls(&runs, APP, "secret-add"), 0);
    for (label, content) in [SHARED_SECRET_LABEL, ENCRYPTION_KEY_LABEL].iter().zip(&contents) {
        let secret = model.secret(label).unwrap();
        assert_eq!(secret.latest_revision(), 1, "{label}");
        assert_eq!(&model.secret_content(label), content, "{label}");
    }
}

#[test]
fn a_changed_public_baseurl_is_republished_alone() {
    let mut model = ProviderModel::new(1);
    let relation = model.relate("irc");
    let before = model.provider_bag(relation);
    let runs = model.harness.configure(&[("public_baseurl", json!("https://matrix.example.com"))]);
    assert_hooks_succeeded(&runs);
    assert_eq!(bag_writes(&runs, relation), [json!({"homeserver": "https://matrix.example.com"})]);
    let after = model.provider_bag(relation);
    assert_eq!(after[HOMESERVER_KEY], "https://matrix.example.com");
    assert_eq!(after[SHARED_SECRET_ID_KEY], before[SHARED_SECRET_ID_KEY]);
    assert_eq!(after[ENCRYPTION_KEY_SECRET_ID_KEY], before[ENCRYPTION_KEY_SECRET_ID_KEY]);
}

#[test]
fn nothing_is_published_before_synapse_has_its_shared_secret() {
    let mut harness = Harness::new();
    assert_hooks_succeeded(&harness.deploy(1, &[]));
    let mut model = ProviderModel { harness };
    let relation = model.relate("irc");
    assert!(model.provider_bag(relation).is_empty());
    assert!(model.secret(SHARED_SECRET_LABEL).is_none() && model.secret(ENCRYPTION_KEY_LABEL).is_none());
    assert_eq!(
        model.status(UNIT0),
        blocked("invalid configuration: server_name: it is required; set it with juju config")
    );

    assert_hooks_succeeded(&model.harness.configure(&[("server_name", json!(SERVER_NAME))]));
    assert_eq!(model.provider_bag(relation)[HOMESERVER_KEY], HOMESERVER);
    assert_eq!(model.grants(SHARED_SECRET_LABEL), [(relation, "application-irc".to_string())]);
    assert_eq!(model.status(UNIT0), active());
}

#[test]
fn an_offer_alias_is_served_and_named_by_its_alias() {
    // Across models Synapse knows the consuming application by the name of its remote proxy.
    const ALIAS: &str = "remote-9f3c2b1a7d";
    let mut model = ProviderModel::new(1);
    let relation = model.relate(ALIAS);
    for label in [SHARED_SECRET_LABEL, ENCRYPTION_KEY_LABEL] {
        assert_eq!(model.grants(label), [(relation, format!("application-{ALIAS}"))]);
    }
    let text = registration("irc", "as-irc", "libera_");
    model.send(relation, ALIAS, &text);
    model.assert_file(UNIT0, relation, &text);

    model.send_token(relation, ALIAS, "gAAAAA-not-a-token");
    assert_eq!(
        model.status(UNIT0),
        blocked(&format!(
            "matrix-auth: registration from {ALIAS} rejected: registration does not decrypt with the provider's key"
        ))
    );
}

#[test]
fn the_same_hook_twice_changes_nothing_the_second_time() {
    let mut model = ProviderModel::new(1);
    let relation = model.relate("irc");
    model.send(relation, "irc", &registration("irc", "as-irc", "libera_"));
    let event = Event::RelationChanged { relation, unit: None };
    let first = model.harness.sim.run_hook(UNIT0, event.clone()).expect("hook runs");
    let requests = model.harness.request_count(UNIT0);
    let starts = model.starts(UNIT0);
    let marks = model.harness.status_marks();
    let second = model.harness.sim.run_hook(UNIT0, event).expect("hook runs");
    assert_hooks_succeeded([&first, &second]);

    assert_no_model_writes([&second]);
    model.harness.assert_statuses_kept(&marks);
    model.harness.assert_container_untouched(UNIT0, requests, 1, NO_OP_REQUESTS);
    assert_eq!(model.starts(UNIT0), starts);
    // Each secret (by label) and each bag is read once per hook, however many parts need it.
    assert_no_repeated_calls([&first, &second]);
}

#[test]
fn a_v0_requirer_gets_homeserver_and_shared_secret_and_is_read_once_granted() {
    let mut model = ProviderModel::new(1);
    let relation = model.relate("legacy");
    let bag = model.provider_bag(relation);
    assert_eq!(bag[HOMESERVER_KEY], HOMESERVER);
    assert_eq!(bag[SHARED_SECRET_ID_KEY], full_uri(&model, SHARED_SECRET_LABEL));
    assert_eq!(model.grants(SHARED_SECRET_LABEL), [(relation, "application-legacy".to_string())]);

    // A v0 requirer's registration lives in its own secret, referenced by full URI.
    let text = registration("legacy", "as-legacy", "legacy_");
    let content = BTreeMap::from([(V0_REGISTRATION_CONTENT.to_string(), text.clone())]);
    let uri = model
        .harness
        .sim
        .add_secret(SecretOwner::Application("legacy".into()), content, Some("app-registration".into()))
        .expect("secret added");
    let full = format!("secret://{}/{}", model.harness.sim.model().uuid, uri.trim_start_matches("secret:"));
    model.set_bag(relation, "legacy", &[(V0_REGISTRATION_SECRET_ID_KEY, &full)]);
    assert_eq!(model.file(UNIT0, relation), None, "not granted yet");
    // Juju answers "permission denied" for as long as the requirer does not grant it: the
    // operator must see which requirer is cut off.
    assert_eq!(
        model.status(UNIT0),
        blocked("matrix-auth: the registration secret of legacy is not granted to synapse; re-grant it from legacy or re-integrate")
    );
    let warnings = model.harness.logs(UNIT0, "WARNING");
    assert!(
        warnings.iter().any(|line| line.contains("legacy") && line.contains("not granted")),
        "{warnings:?}"
    );

    model.harness.sim.grant_secret(&uri, relation, GrantTarget::Application(APP.into())).expect("granted");
    model.update_status();
    model.assert_file(UNIT0, relation, &text);
    assert_eq!(model.config_files(UNIT0), [registration_path(relation)]);
    assert_eq!(model.status(UNIT0), active());
}

#[test]
fn blank_requirer_values_count_as_absent() {
    let mut model = ProviderModel::new(1);
    let relation = model.relate("irc");
    let starts = model.starts(UNIT0);
    let runs =
        model.set_bag(relation, "irc", &[(REGISTRATION_KEY, "  "), (V0_REGISTRATION_SECRET_ID_KEY, " ")]);
    assert!(runs.iter().any(|run| run.hook == "matrix-auth-relation-changed"));
    assert_eq!(model.status(UNIT0), active());
    assert_eq!(model.file(UNIT0, relation), None);
    assert_eq!(model.starts(UNIT0), starts);
}

/// What the provider side of matrix-auth holds: both secrets' ids, revisions and contents,
/// their grants, and Synapse's bag on each relation.
fn provider_snapshot(model: &ProviderModel, relations: &[u32]) -> Vec<String> {
    let mut snapshot = Vec::new();
    for label in [SHARED_SECRET_LABEL, ENCRYPTION_KEY_LABEL] {
        let secret = model.secret(label).unwrap_or_else(|| panic!("no secret {label:?}"));
        snapshot.push(format!("{label}: {} rev {}", secret.id, secret.latest_revision()));
        snapshot.push(format!("{label}: {:?}", model.secret_content(label)));
        snapshot.push(format!("{label} grants: {:?}", model.grants(label)));
    }
    for relation in relations {
        snapshot.push(format!("bag {relation}: {:?}", model.provider_bag(*relation)));
    }
    snapshot
}

/// Synapse with two units, an IRC-style bridge that sent its registration once and never
/// sends it again (a passive requirer), and a maubot-style requirer that sends nothing.
fn two_units_with_a_bridge_and_a_bot() -> (ProviderModel, u32, u32, String) {
    let mut model = ProviderModel::new(2);
    let irc = model.relate("irc");
    let text = registration("irc", "as-irc", "libera_");
    model.send(irc, "irc", &text);
    let bot = model.relate("maubot");
    (model, irc, bot, text)
}

/// Tool calls that would change the application's matrix-auth state.
fn assert_no_provider_change(runs: &[juju_sim::HookRun]) {
    for tool in ["secret-add", "secret-set", "secret-grant", "secret-revoke", "secret-remove"] {
        assert_eq!(calls(runs, APP, tool), 0, "{tool} called");
    }
    assert_eq!(matrix_auth_writes(runs), 0, "matrix-auth data rewritten");
}

#[test]
fn removing_the_leader_unit_keeps_every_secret_grant_and_registration() {
    let (mut model, irc, bot, text) = two_units_with_a_bridge_and_a_bot();
    let before = provider_snapshot(&model, &[irc, bot]);

    let runs = model.harness.sim.remove_unit(UNIT0).expect("remove-unit runs");
    assert_hooks_succeeded(&runs);
    let departing: Vec<_> = runs.iter().filter(|run| run.unit == UNIT0).cloned().collect();
    assert!(departing.iter().any(|run| run.hook == "matrix-auth-relation-broken"));
    assert_no_provider_change(&runs);
    assert_eq!(provider_snapshot(&model, &[irc, bot]), before, "the provider side changed");
    assert!(runs.iter().any(|run| run.unit == UNIT1 && run.hook == "leader-elected"));

    // The remaining unit serves alone, with the bridge's registration as it was sent once.
    model.assert_file(UNIT1, irc, &text);
    assert_eq!(model.config_files(UNIT1), [registration_path(irc)]);
    assert_eq!(model.status(UNIT1), active());
    assert_eq!(model.starts(UNIT1), 1, "started once, never restarted");
    assert_eq!(model.update_status().len(), 1);
    assert_eq!(model.starts(UNIT1), 1);
    assert_eq!(provider_snapshot(&model, &[irc, bot]), before);
}

#[test]
fn scaling_to_zero_and_back_keeps_the_secrets_and_the_bridge_registered() {
    let (mut model, irc, bot, text) = two_units_with_a_bridge_and_a_bot();
    let before = provider_snapshot(&model, &[irc, bot]);
    let app_secrets = model.secret_content("synapse-app-secrets");

    let runs = model.harness.sim.remove_units(&[UNIT0, UNIT1]).expect("scale to 0");
    assert_hooks_succeeded(&runs);
    assert_no_provider_change(&runs);
    assert_eq!(provider_snapshot(&model, &[irc, bot]), before);

    model.harness.start_pebble("synapse/2");
    let (unit, runs) = model.harness.sim.add_unit(APP).expect("scale to 1");
    assert_hooks_succeeded(&runs);
    assert_no_provider_change(&runs);
    assert_eq!(provider_snapshot(&model, &[irc, bot]), before, "no new key, no new ids");
    assert_eq!(model.secret_content("synapse-app-secrets"), app_secrets, "the same server identity");
    model.assert_file(&unit, irc, &text);
    assert_eq!(model.status(&unit), active());
}

#[test]
fn removing_the_application_lets_juju_delete_its_secrets() {
    let (mut model, irc, bot, _) = two_units_with_a_bridge_and_a_bot();
    let runs = model.harness.sim.remove_app(APP).expect("remove-application runs");
    assert_hooks_succeeded(&runs);
    // The charm itself removes nothing on the way out; Juju deletes what the application owned.
    for tool in ["secret-remove", "secret-revoke"] {
        assert_eq!(calls(&runs, APP, tool), 0, "{tool} called");
    }
    assert!(model.secret(SHARED_SECRET_LABEL).is_none() && model.secret(ENCRYPTION_KEY_LABEL).is_none());
    let owned = SecretOwner::Application(APP.into());
    assert!(model.harness.sim.model().secrets.values().all(|secret| secret.owner != owned));
    assert!(model.harness.sim.relation_data(irc, &juju_sim::model::Bag::App(APP.into())).is_err(), "{bot}");
}
