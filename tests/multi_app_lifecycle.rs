//! The Synapse charm and the Rust example requirer over time: scaling the requirer up,
//! leadership moving on either side, and token rotation (Synapse restarts exactly when a
//! registration's text changed).

mod support;

use matrix_auth::Registration;
use secrecy::ExposeSecret;
use serde_json::json;
use support::requirers::*;
use support::APP;
use test_support::assert_hooks_succeeded;

const UNIT0: &str = "synapse/0";
const UNIT1: &str = "synapse/1";

/// Synapse with `synapse_units` units and the bridge `irc` with `irc_units`, related.
fn related(synapse_units: u32, irc_units: u32, config: &[(&str, serde_json::Value)]) -> (MatrixModel, u32) {
    let mut model = MatrixModel::new(synapse_units);
    model.deploy_rust("irc", irc_units, config);
    let (relation, _) = model.integrate("irc");
    (model, relation)
}

fn file_text(model: &MatrixModel, unit: &str, relation: u32) -> String {
    let bytes =
        model.registration_file(unit, relation).unwrap_or_else(|| panic!("no registration on {unit}"));
    String::from_utf8(bytes).expect("UTF-8")
}

#[test]
fn a_new_requirer_unit_reads_the_data_and_only_the_leader_publishes() {
    let (mut model, relation) = related(1, 1, &[]);
    let text = model.published_registration(relation, "irc").expect("a registration");
    let starts = model.synapse_starts(UNIT0);

    let (unit, runs) = model.harness.sim.add_unit("irc").expect("scale up");
    assert_hooks_succeeded(&runs);
    assert_eq!(relation_sets(&runs, "irc"), 0, "the registration is unchanged and the new unit is no leader");
    assert_eq!(model.status(&unit), ("active".into(), "ready: https://example.com".into()));
    let state = model.state(&unit);
    assert_eq!(state[STATE_SHARED_SECRET], sha256(model.registration_shared_secret(UNIT0)));
    assert!(!state.contains_key(STATE_REGISTRATION), "a non-leader sends nothing");
    assert_eq!(file_text(&model, UNIT0, relation), text);
    assert_eq!(model.synapse_starts(UNIT0), starts);
}

#[test]
fn a_new_requirer_leader_sends_the_same_registration() {
    let (mut model, relation) = related(1, 2, &[]);
    let text = model.published_registration(relation, "irc").expect("a registration");
    let starts = model.synapse_starts(UNIT0);

    let mut runs = model.harness.sim.set_leader("irc/1").expect("leader change");
    runs.extend(model.update_status());
    assert_hooks_succeeded(&runs);
    assert_eq!(relation_sets(&runs, "irc"), 0, "the tokens are kept in a secret: same text, nothing to send");
    assert_eq!(model.state("irc/1")[STATE_REGISTRATION], sha256(&text));
    assert_eq!(model.published_registration(relation, "irc").as_deref(), Some(text.as_str()));
    assert_eq!(file_text(&model, UNIT0, relation), text);
    assert_eq!(model.synapse_starts(UNIT0), starts, "no restart for an unchanged registration");
}

#[test]
fn a_new_synapse_leader_changes_nothing_for_the_requirer() {
    let (mut model, relation) = related(2, 1, &[]);
    let text = model.published_registration(relation, "irc").expect("a registration");
    // With two units only synapse/0 runs Synapse (scale-out is not supported yet).
    assert_eq!(file_text(&model, UNIT0, relation), text);
    assert_eq!(model.app_service_config_files(UNIT0), [registration_path(relation)]);
    assert!(model.registration_file(UNIT1, relation).is_none());
    let published = model.app_bag(relation, APP);
    let starts = [UNIT0, UNIT1].map(|unit| model.synapse_starts(unit));

    let mut runs = model.harness.sim.set_leader(UNIT1).expect("leader change");
    runs.extend(model.update_status());
    assert_hooks_succeeded(&runs);
    assert_eq!(model.app_bag(relation, APP), published, "the new leader publishes the same data");
    assert_eq!(relation_sets(&runs, "irc"), 0);
    assert_eq!(model.status("irc/0"), ("active".into(), "ready: https://example.com".into()));
    assert_eq!(file_text(&model, UNIT0, relation), text);
    assert_eq!([UNIT0, UNIT1].map(|unit| model.synapse_starts(unit)), starts, "no restarts");
}

#[test]
fn synapse_restarts_once_per_rotated_registration_and_never_for_a_stable_one() {
    let mut model = MatrixModel::new(1);
    model.deploy_rust("irc", 1, &[("rotate-tokens", json!(true))]);
    model.deploy_rust(
        "oftc",
        1,
        &[("namespace-prefix", json!("oftc_")), ("bot-nickname", json!("oftc-bot"))],
    );
    let (irc, _) = model.integrate("irc");
    let (oftc, _) = model.integrate("oftc");
    let oftc_text = file_text(&model, UNIT0, oftc);

    for round in 1..=2 {
        let before = file_text(&model, UNIT0, irc);
        let starts = model.synapse_starts(UNIT0);
        let runs = model.update_status();
        assert_eq!(relation_sets(&runs, "irc"), 1, "round {round}: the rotating bridge sends new tokens");
        assert_eq!(relation_sets(&runs, "oftc"), 0, "round {round}: the stable bridge sends nothing");
        let after = file_text(&model, UNIT0, irc);
        assert_ne!(
            Registration::parse(&after).unwrap().as_token().expose_secret(),
            Registration::parse(&before).unwrap().as_token().expose_secret(),
            "round {round}: Synapse has the new tokens"
        );
        assert_eq!(model.published_registration(irc, "irc").as_deref(), Some(after.as_str()));
        assert_eq!(model.synapse_starts(UNIT0), starts + 1, "round {round}: one restart for one new text");
        assert_eq!(file_text(&model, UNIT0, oftc), oftc_text);
    }

    model.configure("irc", &[("rotate-tokens", json!(false))]);
    let starts = model.synapse_starts(UNIT0);
    let runs = model.update_status();
    assert_eq!(relation_sets(&runs, "irc"), 0, "stable again");
    assert_eq!(model.synapse_starts(UNIT0), starts);
}
