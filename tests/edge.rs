//! State in, state out, on the simulated Juju and Pebble: Synapse's edge. The `ingress`
//! relation (a passive traefik-k8s) and its URL as the default public_baseurl, which the
//! matrix-auth requirers and the well-known documents follow; and the `smtp` relation (a
//! passive smtp-integrator with its password in a secret) becoming `email:`, with the relay
//! checked from Synapse's container. Real nginx, Synapse and an SMTP server are in
//! `tests/e2e/edge.rs`.

mod support;

use pebble_sim::ExecRule;
use support::edge_providers::{SmtpIntegrator, SmtpRelay, Traefik};
use support::passive_requirers::{active, ProviderModel};
use support::{APP, NO_OP_REQUESTS};
use test_support::assert_hooks_succeeded;

const UNIT: &str = "synapse/0";
const URL: &str = "https://chat.example.net/matrix-synapse";
const NGINX_CONFIG: &str = "/etc/nginx/synapse-k8s.conf";
const CHECK_SCRIPT: &str = include_str!("../src/components/smtp/check.py");

#[test]
fn the_ingress_url_becomes_public_baseurl_for_synapse_requirers_and_well_known() {
    let mut model = ProviderModel::new(1);
    let bridge = model.relate("irc");
    let traefik = Traefik::deploy(&mut model.harness.sim);
    let (relation, runs) = traefik.integrate(&mut model.harness.sim, APP);
    assert_hooks_succeeded(&runs);
    let request = traefik.request(&model.harness.sim, relation, APP);
    assert_eq!(
        request.get("model").map(String::as_str),
        Some(&*format!("\"{}\"", model.harness.sim.model().name))
    );
    assert_eq!(request.get("name").map(String::as_str), Some("\"synapse\""));
    assert_eq!(request.get("port").map(String::as_str), Some("8080"));
    let unit = traefik.unit_request(&model.harness.sim, relation, UNIT);
    assert!(
        unit["host"].starts_with("\"synapse-0.synapse-endpoints.")
            && unit["host"].ends_with(".svc.cluster.local\""),
        "{unit:?}"
    );
    assert!(unit.contains_key("ip"), "{unit:?}");
    assert_eq!(model.harness.homeserver(UNIT)["public_baseurl"], "https://example.com");

    assert_hooks_succeeded(&traefik.answer(&mut model.harness.sim, relation, Some(URL)));
    assert_eq!(model.harness.homeserver(UNIT)["public_baseurl"], URL);
    assert_eq!(model.provider_bag(bridge)["homeserver"], URL, "the requirers are told");
    let nginx = model.harness.read(UNIT, NGINX_CONFIG);
    assert!(
        nginx.contains(r#"{"m.homeserver":{"base_url":"https://chat.example.net/matrix-synapse"}}"#),
        "{nginx}"
    );
    assert!(nginx.contains(r#"{"m.server":"chat.example.net:443"}"#), "{nginx}");

    // A no-op hook writes nothing, on the relation or in the container.
    let before = model.harness.request_count(UNIT);
    model.update_status();
    model.harness.assert_container_untouched(UNIT, before, 1, NO_OP_REQUESTS);

    // Revoked: back to the default, and the requirers are told.
    assert_hooks_succeeded(&traefik.answer(&mut model.harness.sim, relation, None));
    assert_eq!(model.harness.homeserver(UNIT)["public_baseurl"], "https://example.com");
    assert_eq!(model.provider_bag(bridge)["homeserver"], "https://example.com");
    // The option wins over the ingress URL.
    assert_hooks_succeeded(&traefik.answer(&mut model.harness.sim, relation, Some(URL)));
    assert_hooks_succeeded(
        &model.harness.configure(&[("public_baseurl", "https://matrix.example.com".into())]),
    );
    assert_eq!(model.harness.homeserver(UNIT)["public_baseurl"], "https://matrix.example.com");
}

fn relay(password: &str, transport: &'static str) -> SmtpRelay {
    SmtpRelay {
        host: "smtp.example.org".into(),
        port: 587,
        user: "synapse@example.org".into(),
        password: password.into(),
        transport_security: transport,
        skip_ssl_verify: false,
    }
}

/// The relay check's answer on `unit`.
fn relay_answers(model: &ProviderModel, unit: &str, answer: &str) {
    model.harness.pebble(unit).script_exec(
        ExecRule::new(["python3", "-c", CHECK_SCRIPT]).stdout(format!("{answer}\n")).read_stdin(),
    );
}

fn relay_checks(model: &ProviderModel) -> usize {
    model
        .harness
        .pebble(UNIT)
        .exec_log()
        .iter()
        .filter(|record| record.argv.get(2).map(String::as_str) == Some(CHECK_SCRIPT))
        .count()
}

#[test]
fn a_relay_becomes_email_its_password_rotates_and_the_check_runs_once_per_settings() {
    let mut model = ProviderModel::new(1);
    relay_answers(&model, UNIT, r#"{"ok": true}"#);
    let mut smtp = SmtpIntegrator::deploy(&mut model.harness.sim);
    let (relation, runs) = smtp.integrate(&mut model.harness.sim, APP);
    assert_hooks_succeeded(&runs);
    assert_hooks_succeeded(&smtp.publish(
        &mut model.harness.sim,
        relation,
        APP,
        &relay("first-pass-1", "starttls"),
    ));
    let email = model.harness.homeserver(UNIT)["email"].clone();
    assert_eq!(email["smtp_host"], "smtp.example.org");
    assert_eq!(email["smtp_port"], 587);
    assert_eq!(email["smtp_user"], "synapse@example.org");
    assert_eq!(email["smtp_pass"], "first-pass-1");
    assert_eq!(email["require_transport_security"], true);
    assert_eq!(email["notif_from"], "example.com");
    assert_eq!(model.harness.status(UNIT), ("active".into(), String::new()));
    assert_eq!(relay_checks(&model), 1);
    let stdin = model
        .harness
        .pebble(UNIT)
        .exec_log()
        .into_iter()
        .rev()
        .find(|record| record.argv.get(2).map(String::as_str) == Some(CHECK_SCRIPT))
        .unwrap()
        .stdin;
    let settings: serde_json::Value = serde_json::from_slice(&stdin).unwrap();
    assert_eq!(settings["password"], "first-pass-1", "the password travels on stdin only");

    // Nothing changed: no new check, nothing written.
    let before = model.harness.request_count(UNIT);
    model.update_status();
    assert_eq!(relay_checks(&model), 1, "the recorded check is reused");
    model.harness.assert_container_untouched(UNIT, before, 1, NO_OP_REQUESTS + 1);

    // The password rotates (a new revision: secret-changed): new settings, checked again.
    relay_answers(
        &model,
        UNIT,
        r#"{"problem": "auth", "detail": "535 5.7.8 Authentication credentials invalid"}"#,
    );
    assert_hooks_succeeded(&smtp.publish(
        &mut model.harness.sim,
        relation,
        APP,
        &relay("second-pass-2", "starttls"),
    ));
    assert_eq!(model.harness.homeserver(UNIT)["email"]["smtp_pass"], "second-pass-2");
    assert_eq!(relay_checks(&model), 2);
    let (kind, message) = model.harness.status(UNIT);
    assert_eq!(kind, "blocked");
    assert_eq!(
        message,
        "SMTP: smtp.example.org:587 refuses the credentials: 535 5.7.8 Authentication credentials invalid; check the \
         smtp-integrator settings"
    );
    let errors = model.harness.logs(UNIT, "ERROR");
    assert!(errors.iter().any(|line| line.contains("535")), "{errors:?}");
    let everything: Vec<String> = model.harness.sim.logs(UNIT).map(|record| record.message.clone()).collect();
    assert!(
        everything.iter().all(|line| !line.contains("second-pass-2") && !line.contains("first-pass-1")),
        "a password leaked"
    );

    // A failed check is made again at update-status: once the relay takes the credentials
    // (fixed on its side), the status clears; a passing check is not made again.
    relay_answers(&model, UNIT, r#"{"ok": true}"#);
    model.update_status();
    assert_eq!(relay_checks(&model), 3);
    assert_eq!(model.harness.status(UNIT), active());
    model.update_status();
    assert_eq!(relay_checks(&model), 3);

    // Transport security none: Blocked in upstream's words, and no email configured.
    assert_hooks_succeeded(&smtp.publish(
        &mut model.harness.sim,
        relation,
        APP,
        &relay("second-pass-2", "none"),
    ));
    assert_eq!(
        model.harness.status(UNIT),
        ("blocked".into(), "Transport security NONE is not supported for SMTP".into())
    );
    assert!(model.harness.homeserver(UNIT).get("email").is_none());
}
