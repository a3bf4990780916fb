//! Appservice registrations through the `matrix-auth` provider: files in Synapse's container,
//! `app_service_config_files`, restarts exactly when a registration's text changes, and every
//! kind of bad input, which costs only its own relation (a Blocked status naming the
//! application and a warning) and never fails a hook.

mod support;

use std::collections::BTreeMap;

use juju_sim::model::{GrantTarget, SecretOwner};
use matrix_auth::protocol::*;
use matrix_auth::MAX_REGISTRATION_BYTES;
use secrecy::{ExposeSecret, SecretString};
use support::passive_requirers::*;
use support::requirers::registration_path;
use support::{assert_no_repeated_calls, APP, NO_OP_REQUESTS};
use test_support::assert_hooks_succeeded;

/// A registration with non-ASCII text, which must arrive byte for byte.
fn commented(id: &str, as_token: &str, prefix: &str) -> String {
    format!("# Appservice registration of {id} — grüße 🚀\n{}", registration(id, as_token, prefix))
}

#[test]
fn a_registration_is_written_listed_and_loaded_with_one_restart() {
    let mut model = ProviderModel::new(1);
    let relation = model.relate("irc");
    let starts = model.starts(UNIT0);
    let text = commented("irc", "as-irc", "libera_");
    let runs = model.send(relation, "irc", &text);
    assert!(runs.iter().any(|run| run.unit == UNIT0 && run.hook == "matrix-auth-relation-changed"));
    model.assert_file(UNIT0, relation, &text);
    assert_eq!(model.config_files(UNIT0), [registration_path(relation)]);
    assert_eq!(
        model.registration_files(UNIT0),
        [format!("appservice-registration-matrix-auth-{relation}.yaml")]
    );
    assert_eq!(model.starts(UNIT0), starts + 1);
    assert_eq!(model.status(UNIT0), active());
    assert_eq!(model.harness.app_status(), active());
    assert_eq!(calls(&runs, APP, "relation-set"), 0, "receiving a registration writes no bag");
}

#[test]
fn the_same_registration_encrypted_again_changes_nothing() {
    let mut model = ProviderModel::new(1);
    let relation = model.relate("irc");
    let text = registration("irc", "as-irc", "libera_");
    model.send(relation, "irc", &text);
    let digest = model.harness.applied_digest(UNIT0);
    let (starts, requests) = (model.starts(UNIT0), model.harness.request_count(UNIT0));

    let runs = model.send(relation, "irc", &text);
    assert_eq!(runs.len(), 1, "one relation-changed on the one Synapse unit");
    model.harness.assert_container_untouched(UNIT0, requests, 1, NO_OP_REQUESTS);
    assert_eq!(model.starts(UNIT0), starts);
    assert_eq!(model.harness.applied_digest(UNIT0), digest);
    model.assert_file(UNIT0, relation, &text);
}

#[test]
fn rotated_tokens_rewrite_the_file_and_restart_synapse_exactly_once() {
    let mut model = ProviderModel::new(1);
    let relation = model.relate("irc");
    model.send(relation, "irc", &registration("irc-1", "as-1", "libera_"));
    for round in 2..=3 {
        let before = model.starts(UNIT0);
        let text = registration(&format!("irc-{round}"), &format!("as-{round}"), "libera_");
        model.send(relation, "irc", &text);
        model.assert_file(UNIT0, relation, &text);
        assert_eq!(model.starts(UNIT0), before + 1, "round {round}");
        model.update_status();
        assert_eq!(model.starts(UNIT0), before + 1, "settled");
    }
}

/// The `(name, inode)` of every registration file: a file written again (atomically, so
/// replaced) gets a new inode.
fn registration_inodes(model: &ProviderModel) -> BTreeMap<String, u64> {
    use std::os::unix::fs::MetadataExt as _;
    let data = model.harness.container_path(UNIT0, "/data");
    std::fs::read_dir(data)
        .expect("data directory")
        .map(|entry| entry.expect("directory entry"))
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("appservice-registration-"))
        .map(|entry| {
            (entry.file_name().to_string_lossy().into_owned(), entry.metadata().expect("stat").ino())
        })
        .collect()
}

#[test]
fn a_changed_registration_writes_its_own_file_and_leaves_the_others_alone() {
    let mut model = ProviderModel::new(1);
    let relations: Vec<u32> = ["irc", "maubot", "slack"].iter().map(|app| model.relate(app)).collect();
    for (relation, app) in relations.iter().zip(["irc", "maubot", "slack"]) {
        model.send(*relation, app, &registration(app, &format!("as-{app}"), &format!("{app}_")));
    }
    let before = registration_inodes(&model);
    assert_eq!(before.len(), 3);

    let text = registration("irc", "as-irc-rotated", "irc_");
    model.send(relations[0], "irc", &text);
    model.assert_file(UNIT0, relations[0], &text);
    let after = registration_inodes(&model);
    assert_eq!(after.len(), 3, "the old version of irc's registration is removed: {after:?}");
    let kept: Vec<&String> =
        after.iter().filter(|(name, inode)| before.get(*name) == Some(inode)).map(|(name, _)| name).collect();
    assert_eq!(kept.len(), 2, "maubot's and slack's files are not written again: {before:?} → {after:?}");
    assert!(kept.iter().all(|name| !name.contains(&format!("-{}-", relations[0]))), "{kept:?}");
}

/// Synapse with the good bridge `irc` registered and the application `bad` related.
fn good_and_bad() -> (ProviderModel, u32, u32, String) {
    let mut model = ProviderModel::new(1);
    let good = model.relate("irc");
    let text = registration("irc", "as-irc", "libera_");
    model.send(good, "irc", &text);
    let bad = model.relate("bad");
    (model, good, bad, text)
}

/// The bad application's registration is left out with a Blocked status giving `reason` (a
/// prefix of it with `…` at the end), a warning names it, and irc's stays loaded.
fn assert_only_irc_loaded(model: &ProviderModel, good: u32, good_text: &str, bad: u32, reason: &str) {
    let (status, message) = model.status(UNIT0);
    assert_eq!(status, "blocked", "{message}");
    let expected = format!("matrix-auth: registration from bad rejected: {}", reason.trim_end_matches('…'));
    if reason.ends_with('…') {
        assert!(message.starts_with(&expected), "{message}");
    } else {
        assert_eq!(message, expected);
    }
    assert_eq!(model.harness.app_status(), (status, message));
    let warnings = model.harness.logs(UNIT0, "WARNING");
    let named = format!("the registration from bad (matrix-auth:{bad}) is not given to Synapse");
    assert!(warnings.iter().any(|line| line.contains(&named)), "{warnings:?}");
    assert_eq!(model.file(UNIT0, bad), None);
    model.assert_file(UNIT0, good, good_text);
    assert_eq!(model.config_files(UNIT0), [registration_path(good)]);
}

/// Sends `token` from `bad` and checks that only irc's registration is loaded, with no restart.
fn reject_token(token: impl FnOnce(&SecretString) -> String, reason: &str) {
    let (mut model, good, bad, text) = good_and_bad();
    let starts = model.starts(UNIT0);
    let token = token(&model.key());
    model.send_token(bad, "bad", &token);
    assert_only_irc_loaded(&model, good, &text, bad, reason);
    assert_eq!(model.starts(UNIT0), starts, "irc's Synapse keeps running");
}

/// Sends `text` from `bad`, encrypted with Synapse's key, and checks it is rejected.
fn reject_text(text: &str, reason: &str) {
    let text = text.to_string();
    reject_token(move |key| matrix_auth::encrypt_string(key, &text).unwrap(), reason);
}

const UNDECRYPTABLE: &str = "registration does not decrypt with the provider's key";

#[test]
fn garbage_instead_of_a_token_is_rejected() {
    reject_token(|_| "definitely not a Fernet token".into(), UNDECRYPTABLE);
}

#[test]
fn a_tampered_token_is_rejected() {
    reject_token(
        |key| {
            let token = matrix_auth::encrypt_string(key, &registration("bad", "as-bad", "bad_")).unwrap();
            let mut bytes = token.into_bytes();
            let middle = bytes.len() / 2;
            bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
            String::from_utf8(bytes).unwrap()
        },
        UNDECRYPTABLE,
    );
}

#[test]
fn a_token_made_with_another_key_is_rejected() {
    reject_token(
        |_| {
            matrix_auth::encrypt_string(&matrix_auth::generate_key(), &registration("bad", "as-bad", "bad_"))
                .unwrap()
        },
        UNDECRYPTABLE,
    );
}

#[test]
fn a_plaintext_that_is_not_utf8_is_rejected() {
    reject_token(
        |key| fernet::Fernet::new(key.expose_secret()).unwrap().encrypt(b"id: \xff\xfe\n"),
        "registration is not UTF-8",
    );
}

#[test]
fn malformed_yaml_is_rejected() {
    reject_text(
        "id: [unclosed\nas_token: x\n",
        "invalid registration: the registration is not YAML Synapse can load…",
    );
}

#[test]
fn a_registration_without_as_token_is_rejected() {
    let text = registration("bad", "as-bad", "bad_").replace("as_token: as-bad\n", "");
    reject_text(
        &text,
        "invalid registration: required string field `as_token` is missing or not a string (found nothing)",
    );
}

#[test]
fn a_registration_that_is_not_a_mapping_is_rejected() {
    reject_text("- just\n- a list\n", "invalid registration: the registration is a list, not a mapping");
}

#[test]
fn an_invalid_namespace_regex_is_rejected() {
    let text = registration("bad", "as-bad", "bad_").replace("'@bad_.*", "'@bad_[.*");
    reject_text(&text, "invalid registration: namespace `users` entry 0: invalid regex: …");
}

#[test]
fn a_registration_over_the_size_limit_is_rejected() {
    // One byte over the limit: the token still fits, the text does not.
    let base = registration("bad", "as-bad", "bad_");
    let text = format!("{base}# {}\n", "x".repeat(MAX_REGISTRATION_BYTES - base.len() - 2));
    assert_eq!(text.len(), MAX_REGISTRATION_BYTES + 1);
    let reason = format!(
        "invalid registration: the registration is {} bytes, more than the {MAX_REGISTRATION_BYTES} allowed",
        text.len()
    );
    reject_text(&text, &reason);
}

#[test]
fn a_token_too_large_for_any_registration_is_not_even_decrypted() {
    let text =
        format!("{}# {}\n", registration("bad", "as-bad", "bad_"), "x".repeat(4 * MAX_REGISTRATION_BYTES));
    reject_text(&text, "registration token is too large");
}

#[test]
fn a_duplicate_id_is_rejected_and_the_first_relation_keeps_its_registration() {
    reject_text(&registration("irc", "as-other", "other_"), "duplicate id (already used by irc)");
}

#[test]
fn a_duplicate_as_token_is_rejected() {
    reject_text(&registration("other", "as-irc", "other_"), "duplicate as_token (already used by irc)");
}

#[test]
fn an_identical_exclusive_namespace_is_rejected() {
    let text = registration("other", "as-other", "other_").replace("@other_.*", "@libera_.*");
    reject_text(&text, "overlapping exclusive users namespace (already used by irc)");
}

#[test]
fn an_overlapping_exclusive_namespace_is_rejected() {
    // irc claims every `#libera_…` alias, so also the `#libera_oftc_…` ones.
    let text = registration("other", "as-other", "other_").replace("#other_.*", "#libera_oftc_.*");
    reject_text(&text, "overlapping exclusive aliases namespace (already used by irc)");
}

#[test]
fn the_same_sender_localpart_is_rejected() {
    let text = registration("other", "as-other", "other_")
        .replace("sender_localpart: other_bot", "sender_localpart: libera_bot");
    reject_text(&text, "same sender_localpart (already used by irc)");
}

#[test]
fn a_v0_secret_id_that_is_no_uri_is_rejected() {
    let (mut model, good, bad, text) = good_and_bad();
    model.set_bag(bad, "bad", &[(V0_REGISTRATION_SECRET_ID_KEY, "not a secret uri")]);
    assert_only_irc_loaded(&model, good, &text, bad, "registration_secret_id is not a secret URI");
}

#[test]
fn a_v0_secret_without_the_registration_key_is_rejected() {
    let (mut model, good, bad, text) = good_and_bad();
    let content = BTreeMap::from([("something-else".to_string(), "x".to_string())]);
    let uri = model.harness.sim.add_secret(SecretOwner::Application("bad".into()), content, None).unwrap();
    model.harness.sim.grant_secret(&uri, bad, GrantTarget::Application(APP.into())).unwrap();
    model.set_bag(bad, "bad", &[(V0_REGISTRATION_SECRET_ID_KEY, &uri)]);
    assert_only_irc_loaded(&model, good, &text, bad, "registration secret has no app-registration-content");
}

#[test]
fn a_v0_secret_that_does_not_exist_is_waited_for_not_rejected() {
    let (mut model, good, bad, text) = good_and_bad();
    model.set_bag(bad, "bad", &[(V0_REGISTRATION_SECRET_ID_KEY, "secret:d0000000000000000000")]);
    let (status, message) = model.status(UNIT0);
    assert_eq!(status, "active");
    assert_eq!(message, "matrix-auth: registration from bad not usable yet: registration secret not readable yet (SecretNotFound)");
    model.assert_file(UNIT0, good, &text);
    assert_eq!(model.config_files(UNIT0), [registration_path(good)]);
}

#[test]
fn a_corrupted_encryption_key_fails_no_hook() {
    let (mut model, good, _, _) = good_and_bad();
    let uri = model.secret(ENCRYPTION_KEY_LABEL).unwrap().uri();
    let content = BTreeMap::from([(ENCRYPTION_KEY_CONTENT.to_string(), "not-a-fernet-key".to_string())]);
    assert_hooks_succeeded(&model.harness.sim.update_secret(&uri, content).unwrap());
    model.update_status();
    let (status, message) = model.status(UNIT0);
    assert_eq!(status, "active", "{message}");
    assert_eq!(
        message,
        "matrix-auth: registration from irc not usable yet: encryption key secret is malformed"
    );
    assert_eq!(model.file(UNIT0, good), None, "nothing can be decrypted");
    assert!(model.config_files(UNIT0).is_empty());
}

#[test]
fn a_bridge_that_turns_bad_loses_only_its_own_registration() {
    let mut model = ProviderModel::new(1);
    let irc = model.relate("irc");
    let tg = model.relate("tg");
    let irc_text = registration("irc", "as-irc", "libera_");
    let tg_text = registration("tg", "as-tg", "tg_");
    model.send(irc, "irc", &irc_text);
    model.send(tg, "tg", &tg_text);
    assert_eq!(model.config_files(UNIT0), [registration_path(irc), registration_path(tg)]);
    let starts = model.starts(UNIT0);

    model.send_token(irc, "irc", "garbage");
    assert_eq!(
        model.status(UNIT0),
        blocked(&format!("matrix-auth: registration from irc rejected: {UNDECRYPTABLE}"))
    );
    assert_eq!(model.file(UNIT0, irc), None, "the rejected registration's file is removed");
    model.assert_file(UNIT0, tg, &tg_text);
    assert_eq!(model.config_files(UNIT0), [registration_path(tg)]);
    assert_eq!(model.starts(UNIT0), starts + 1);

    model.send(irc, "irc", &irc_text);
    assert_eq!(model.status(UNIT0), active());
    model.assert_file(UNIT0, irc, &irc_text);
    assert_eq!(model.config_files(UNIT0), [registration_path(irc), registration_path(tg)]);
    assert_eq!(model.starts(UNIT0), starts + 2);
}

#[test]
fn several_rejections_are_all_named() {
    let (mut model, _, bad, _) = good_and_bad();
    let worse = model.relate("worse");
    model.send_token(bad, "bad", "garbage");
    model.send(worse, "worse", &registration("worse", "as-irc", "worse_"));
    assert_eq!(
        model.status(UNIT0),
        blocked(&format!(
            "matrix-auth: registration from bad rejected: {UNDECRYPTABLE}; \
             registration from worse rejected: duplicate as_token (already used by irc)"
        ))
    );
}

#[test]
fn one_key_read_per_hook_whatever_the_number_of_relations() {
    let mut model = ProviderModel::new(1);
    let mut hooks = Vec::new();
    for (app, prefix) in [("irc", "libera_"), ("oftc", "oftc_"), ("tg", "tg_")] {
        let relation = model.relate(app);
        model.send(relation, app, &registration(app, &format!("as-{app}"), prefix));
        let runs = model.update_status();
        hooks.push(runs.into_iter().find(|run| run.unit == UNIT0).expect("update-status on synapse/0"));
    }
    assert_eq!(model.config_files(UNIT0).len(), 3);
    for (relations, run) in (1..).zip(&hooks) {
        let key_reads = run
            .calls_to("secret-get")
            .filter(|call| call.args.contains(&ENCRYPTION_KEY_LABEL.to_string()))
            .count();
        assert_eq!(key_reads, 1, "with {relations} matrix-auth relations");
    }
    assert_no_repeated_calls(&hooks);
    // From one relation to three: no more secret reads, one more relation-list at most per
    // relation (its remote application).
    let (one, three) = (&hooks[0], &hooks[2]);
    for tool in ["secret-get", "secret-info-get"] {
        assert_eq!(three.count(tool), one.count(tool), "{tool} calls grew with the relations");
    }
    assert!(three.count("relation-list") <= one.count("relation-list") + 2);
    // All told, an extra relation costs one call (the requirer's bag): the leader's record in
    // the peer relation names each relation's requirer and stands in for the leader's own bags
    // and for the secrets' metadata.
    assert!(three.calls.len() <= one.calls.len() + 2, "{} then {} calls", one.calls.len(), three.calls.len());
    assert_eq!(three.count("relation-list"), 0);
    assert_eq!(three.count("secret-info-get"), 0);
}

#[test]
fn no_secret_reaches_logs_statuses_or_tool_arguments() {
    let mut model = ProviderModel::new(2);
    let irc = model.relate("irc");
    let dupe = model.relate("dupe");
    let irc_text = registration("irc", "as-token-irc-5b8e", "libera_");
    let dupe_text = registration("dupe", "as-token-irc-5b8e", "dupe_");
    model.send(irc, "irc", &irc_text);
    model.send(dupe, "dupe", &dupe_text);
    model.send_token(dupe, "dupe", "garbage");
    model.send(dupe, "dupe", "id: [broken as_token: as-token-broken-77c1");
    assert_hooks_succeeded(&model.harness.sim.remove_relation(irc).expect("remove-relation runs"));
    model.update_status();

    let key = model.key().expose_secret().to_string();
    let shared = model.secret_content(SHARED_SECRET_LABEL)[SHARED_SECRET_CONTENT].clone();
    let sim = &model.harness.sim;
    let mut seen: Vec<String> = Vec::new();
    for unit in [UNIT0, UNIT1] {
        seen.extend(sim.logs(unit).map(|record| record.message.clone()));
        let history = &sim.unit(unit).unwrap().status_history;
        seen.extend(history.iter().map(|status| status.message.clone()));
    }
    for run in sim.history() {
        seen.extend([run.stdout.clone(), run.stderr.clone()]);
        seen.extend(
            run.calls
                .iter()
                .map(|call| format!("{} {}", call.args.join(" "), call.stdin.clone().unwrap_or_default())),
        );
    }
    assert!(seen.iter().any(|text| text.contains("duplicate as_token")), "the rejection was reported");
    for secret in
        [key.as_str(), shared.as_str(), "as-token-irc-5b8e", "hs-as-token-irc-5b8e", "as-token-broken-77c1"]
    {
        assert!(seen.iter().all(|text| !text.contains(secret)), "{secret} leaked");
    }
}

/// Makes Synapse's loader (scripted in the simulated Pebble) reject every candidate that
/// lists a registration of `relation`, or every candidate when `relation` is `None`.
fn loader_rejects(model: &ProviderModel, relation: Option<u32>) {
    let check = support::VALIDATE.iter().chain(&["-c"]).copied();
    let rule = pebble_sim::ExecRule::new(check)
        .exit_code(1)
        .stderr("synapse.config._base.ConfigError: Failed to load appservice: bad namespace\n");
    let rule = match relation {
        Some(relation) => rule.when_file_contains(
            "/data/homeserver.yaml.candidate",
            format!("appservice-registration-matrix-auth-{relation}-"),
        ),
        None => rule,
    };
    model.harness.pebble(UNIT0).script_exec(rule);
}

/// Every file homeserver.yaml names exists: a restart of Synapse would load.
fn assert_listed_files_exist(model: &ProviderModel) {
    let homeserver = model.harness.homeserver(UNIT0);
    let listed = homeserver["app_service_config_files"].as_array().cloned().unwrap_or_default();
    for path in
        listed.iter().map(|path| path.as_str().unwrap()).chain([homeserver["log_config"].as_str().unwrap()])
    {
        assert!(model.harness.pebble(UNIT0).file_meta(path).is_some(), "{path} is listed but missing");
    }
}

fn checks(model: &ProviderModel) -> usize {
    let validate = support::VALIDATE.map(String::from);
    model.harness.pebble(UNIT0).exec_log().iter().filter(|exec| exec.argv.starts_with(&validate)).count()
}

#[test]
fn a_rejected_configuration_leaves_the_running_one_and_every_file_it_names_intact() {
    let mut model = ProviderModel::new(1);
    let tg = model.relate("tg");
    let old = registration("tg", "as-tg", "tg_");
    model.send(tg, "tg", &old);
    model.assert_file(UNIT0, tg, &old);
    let homeserver = model.harness.read(UNIT0, "/data/homeserver.yaml");

    loader_rejects(&model, None);
    model.send(tg, "tg", &registration("tg", "as-tg-2", "tg_"));
    let (kind, message) = model.status(UNIT0);
    assert_eq!(kind, "blocked");
    assert!(
        message.starts_with("Synapse rejects the new configuration, the running one is kept: "),
        "{message}"
    );
    assert!(message.contains("Failed to load appservice"), "{message}");
    assert_eq!(
        model.harness.read(UNIT0, "/data/homeserver.yaml"),
        homeserver,
        "the running configuration is kept"
    );
    assert_listed_files_exist(&model);
    let listed = model.harness.homeserver(UNIT0)["app_service_config_files"][0].as_str().unwrap().to_string();
    assert_eq!(
        model.harness.read(UNIT0, &listed),
        old,
        "the file the kept configuration names was not overwritten"
    );
}

#[test]
fn a_registration_the_loader_rejects_is_left_out_and_everything_else_is_applied() {
    let mut model = ProviderModel::new(1);
    let irc = model.relate("irc");
    let tg = model.relate("tg");
    let irc_text = registration("irc", "as-irc", "libera_");
    model.send(irc, "irc", &irc_text);
    loader_rejects(&model, Some(tg));
    model.send(tg, "tg", &registration("tg", "as-tg", "tg_"));

    assert_eq!(model.config_files(UNIT0), [registration_path(irc)], "the other registration is loaded");
    model.assert_file(UNIT0, irc, &irc_text);
    assert_eq!(model.file(UNIT0, tg), None, "the rejected file is not left behind");
    let left_out =
        "matrix-auth: Synapse cannot load the registration from tg, left out; fix it there or remove the \
                    relation (details in juju debug-log)";
    assert_eq!(model.status(UNIT0), blocked(left_out));
    assert_listed_files_exist(&model);
    let errors = model.harness.logs(UNIT0, "ERROR");
    assert!(errors.iter().any(|line| line.contains("rejects the registration from tg")), "{errors:?}");
    assert!(
        errors.iter().all(|line| !line.contains("as-tg") && !line.contains("as-irc")),
        "a token was logged"
    );

    // A configuration change is still applied, and the status keeps naming the requirer.
    assert_hooks_succeeded(
        &model.harness.configure(&[("public_baseurl", serde_json::json!("https://chat.example.com"))]),
    );
    assert_eq!(model.harness.homeserver(UNIT0)["public_baseurl"], "https://chat.example.com");
    assert_eq!(model.config_files(UNIT0), [registration_path(irc)]);
    assert_eq!(model.status(UNIT0), blocked(left_out));

    // A hook with nothing new does not ask the loader again, and still says so.
    let (checked, starts) = (checks(&model), model.starts(UNIT0));
    model.update_status();
    assert_eq!((checks(&model), model.starts(UNIT0)), (checked, starts));
    assert_eq!(model.status(UNIT0), blocked(left_out));

    // Once the loader accepts it (a fixed registration), it is loaded.
    model.harness.pebble(UNIT0).script_exec(
        pebble_sim::ExecRule::new(support::VALIDATE.iter().chain(&["-c"]).copied())
            .stdout("Config parses OK!\n"),
    );
    model.send(tg, "tg", &registration("tg", "as-tg-fixed", "tg_"));
    assert_eq!(model.config_files(UNIT0), [registration_path(irc), registration_path(tg)]);
    assert_eq!(model.status(UNIT0), active());
}
