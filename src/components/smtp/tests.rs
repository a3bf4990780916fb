//! State in, plan out: the smtp component.

use juju::{SecretUri, Status, StatusKind};
use secrecy::SecretString;
use smtp_client::AuthType;

use super::*;
use crate::component::tests::facts;
use crate::deployment::Deployment;

fn settings(transport: TransportSecurity, auth: AuthType) -> SmtpSettings {
    SmtpSettings {
        host: "smtp.example.org".into(),
        port: 587,
        user: Some("synapse".into()),
        password: Some(SecretString::from("smtp-pass-123".to_string())),
        password_secret: None,
        auth,
        transport,
        skip_ssl_verify: false,
        domain: None,
        smtp_sender: None,
        recipients: Vec::new(),
    }
}

fn related(settings: SmtpSettings, check: Option<CheckOutcome>) -> SmtpState {
    let digest = settings_digest(&settings);
    SmtpState::Related {
        relation: "smtp:4".into(),
        view: SmtpView::Ready(Box::new(settings)),
        check: check.map(|outcome| Check { digest, outcome, recorded: false }),
    }
}

fn plan_of(state: &SmtpState) -> ComponentPlan {
    plan(state, &facts(&Deployment::single(), "synapse/0", true))
}

#[test]
fn starttls_settings_become_homeserver_yaml_email_and_the_password_is_a_secret() {
    let planned = plan_of(&related(
        settings(TransportSecurity::StartTls, AuthType::Plain),
        Some(CheckOutcome::Ok { ok: true }),
    ));
    assert!(planned.statuses.is_empty(), "{:?}", planned.statuses);
    assert_eq!(
        planned.homeserver.0["email"],
        json!({
            "smtp_host": "smtp.example.org",
            "smtp_port": 587,
            "smtp_user": "synapse",
            "smtp_pass": "smtp-pass-123",
            "enable_tls": true,
            "require_transport_security": true,
            "force_tls": false,
            "notif_from": "example.com",
            "enable_notifs": false,
        })
    );
    assert_eq!(planned.secrets.len(), 1, "the password is redacted everywhere");
    assert!(planned.files.is_empty(), "the check restarts nothing");
    assert!(
        matches!(&planned.effects[..], [Effect::StateSet { key, value }] if key == CHECK_KEY && value.ends_with(r#"{"ok":true}"#)),
        "a new check is kept in the unit's state: {:?}",
        planned.effects
    );
    let tls = plan_of(&related(settings(TransportSecurity::Tls, AuthType::Plain), None));
    assert_eq!(tls.homeserver.0["email"]["force_tls"], true);
    assert_eq!(tls.homeserver.0["email"]["require_transport_security"], false);
}

#[test]
fn what_synapse_refuses_is_blocked_in_upstreams_words_and_configures_nothing() {
    for (transport, auth, text) in [
        (TransportSecurity::None, AuthType::Plain, "Transport security NONE is not supported for SMTP"),
        (TransportSecurity::StartTls, AuthType::None, "Only PLAIN auth type is supported for SMTP"),
        (TransportSecurity::Tls, AuthType::NotProvided, "Only PLAIN auth type is supported for SMTP"),
    ] {
        let planned = plan_of(&related(settings(transport, auth), None));
        assert_eq!(planned.statuses, [Status::blocked(text)]);
        assert!(planned.homeserver.0.is_empty());
    }
}

#[test]
fn a_failed_check_is_named_and_synapse_is_configured_anyway() {
    let refused = CheckOutcome::Problem {
        problem: "auth".into(),
        detail: "535 5.7.8 Authentication credentials invalid".into(),
    };
    let planned = plan_of(&related(settings(TransportSecurity::StartTls, AuthType::Plain), Some(refused)));
    assert_eq!(
        planned.statuses,
        [Status::blocked(
            "SMTP: smtp.example.org:587 refuses the credentials: 535 5.7.8 Authentication credentials invalid; check \
             the smtp-integrator settings"
        )]
    );
    assert!(planned.homeserver.0.get("email").is_some());
    assert!(planned
        .diagnostics
        .iter()
        .any(|(level, line)| *level == LogLevel::Error && line.contains("535")));
    let [Effect::StateSet { value: record, .. }] = &planned.effects[..] else {
        panic!("the outcome is kept: {:?}", planned.effects)
    };
    assert!(
        record
            .ends_with("{\"problem\":\"auth\",\"detail\":\"535 5.7.8 Authentication credentials invalid\"}"),
        "{record}"
    );
}

#[test]
fn an_ungranted_user_secret_blocks_saying_how_to_grant_it_and_other_gaps_wait() {
    let secret = SecretUri::parse("secret:d1hp2b7mp25c7gmpgd9g").unwrap();
    let ungranted = SmtpState::Related {
        relation: "smtp:4".into(),
        view: SmtpView::NotReady(NotReady::SecretNotGranted { secret, app: "synapse".into() }),
        check: None,
    };
    let planned = plan_of(&ungranted);
    assert_eq!(planned.statuses[0].kind, StatusKind::Blocked);
    assert!(
        planned.statuses[0].message.ends_with("run `juju grant-secret secret:d1hp2b7mp25c7gmpgd9g synapse`"),
        "{}",
        planned.statuses[0].message
    );
    let waiting = SmtpState::Related {
        relation: "smtp:4".into(),
        view: SmtpView::NotReady(NotReady::NothingPublished),
        check: None,
    };
    assert_eq!(plan_of(&waiting).statuses[0].kind, StatusKind::Waiting);
}

#[test]
fn the_digest_follows_every_setting_the_check_depends_on() {
    let base = settings(TransportSecurity::StartTls, AuthType::Plain);
    let digest = settings_digest(&base);
    assert_eq!(digest, settings_digest(&base.clone()));
    let mut other = base.clone();
    other.password = Some(SecretString::from("rotated".to_string()));
    assert_ne!(digest, settings_digest(&other));
    let mut other = base.clone();
    other.skip_ssl_verify = true;
    assert_ne!(digest, settings_digest(&other));
    let mut other = base;
    other.port = 465;
    assert_ne!(digest, settings_digest(&other));
}

#[test]
fn email_notifications_without_the_relation_block_and_say_what_to_integrate() {
    let deployment = Deployment::single();
    let config = crate::config::for_tests(json!({"enable_email_notifs": true}));
    let mut facts = facts(&deployment, "synapse/0", true);
    facts.config = Some(&config);
    let planned = plan(&SmtpState::NotRelated, &facts);
    assert_eq!(planned.statuses, [status::email_needs_smtp("synapse")]);
    assert!(plan_of(&SmtpState::NotRelated).statuses.is_empty());
}
