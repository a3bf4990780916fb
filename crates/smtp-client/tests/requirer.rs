//! The requirer against the simulated Juju, with a passive smtp-integrator that publishes and
//! grants the way smtp-integrator does, on both of its endpoints.

mod sim;

use std::collections::BTreeSet;

use juju::{HookTools, ReadMode, RelationId, SecretRef, SecretUri, ToolOutput, ToolRunner};
use juju_sim::model::{Bag, GrantTarget};
use juju_sim::{Event, HookRun};
use secrecy::ExposeSecret;
use sim::{settings, Model, PROVIDER, REQUIRER};
use smtp_client::{
    plan_requirer, secret_matches, AuthType, NotReady, ReadError, SmtpSettings, SmtpView, TransportSecurity,
};

fn changed(model: &Model) -> Event {
    Event::RelationChanged { relation: model.relation, unit: None }
}

/// One hook of `unit`: the view as the charm would read it, then the requirer's plan carried out.
fn read_in(model: &mut Model, unit: &str, event: Event) -> (SmtpView, HookRun) {
    let relation = model.relation_id();
    model.hook(unit, event, |tools, context| {
        let provider = tools.relation_remote_app(&relation).unwrap();
        let view = SmtpView::read(tools, &relation, provider.as_deref(), &context.app_name).unwrap();
        juju::effects::execute(tools, &plan_requirer(&relation)).unwrap();
        view
    })
}

fn view(model: &mut Model, unit: &str) -> SmtpView {
    let event = changed(model);
    read_in(model, unit, event).0
}

fn ready(model: &mut Model, unit: &str) -> Box<SmtpSettings> {
    match view(model, unit) {
        SmtpView::Ready(settings) => settings,
        SmtpView::NotReady(reason) => panic!("{unit} is not ready: {reason}"),
    }
}

fn not_ready(model: &mut Model) -> NotReady {
    match view(model, "synapse/0") {
        SmtpView::NotReady(reason) => reason,
        SmtpView::Ready(settings) => panic!("ready too early: {settings:?}"),
    }
}

fn password(settings: &SmtpSettings) -> Option<&str> {
    settings.password.as_ref().map(ExposeSecret::expose_secret)
}

fn calls(run: &HookRun) -> Vec<(&str, Vec<&str>)> {
    run.calls
        .iter()
        .map(|call| (call.tool.as_str(), call.args.iter().map(String::as_str).collect()))
        .collect()
}

fn uri(text: &str) -> SecretUri {
    SecretUri::parse(text).unwrap()
}

#[test]
fn on_smtp_every_unit_reads_the_password_from_the_integrators_granted_secret() {
    let mut model = Model::new(2, "smtp");
    let secret = model.integrator_publishes_secret("s3cr3t-pw");
    assert!(!model.bag(Bag::App(PROVIDER.into())).contains_key("password"), "no plain password on smtp");

    for unit in ["synapse/0", "synapse/1"] {
        let settings = ready(&mut model, unit);
        assert_eq!((settings.host.as_str(), settings.port), ("smtp.example.com", 587));
        assert_eq!(settings.user.as_deref(), Some("mailer"));
        assert_eq!(password(&settings), Some("s3cr3t-pw"));
        assert_eq!(settings.password_secret, Some(uri(&secret)));
        assert_eq!((settings.auth, settings.transport), (AuthType::Plain, TransportSecurity::StartTls));
        assert!(!settings.skip_ssl_verify);
        assert_eq!(settings.domain.as_deref(), Some("example.com"));
        assert_eq!(settings.smtp_sender.as_deref(), Some("noreply@example.com"));
        assert_eq!(settings.recipients, ["ops@example.com", "admin@example.com"]);
        assert_eq!(settings.synapse_problem(), None);
        assert!(!format!("{settings:?}").contains("s3cr3t-pw"), "Debug shows no password");
    }

    // One relation-get of the provider's bag and one secret-get of the latest revision.
    let event = changed(&model);
    let (_, run) = read_in(&mut model, "synapse/1", event);
    let relation = format!("smtp:{}", model.relation);
    assert_eq!(
        calls(&run),
        [
            ("relation-list", vec!["--format=json", "-r", &relation, "--app"]),
            ("relation-get", vec!["--format=json", "-r", &relation, "--app", "-", PROVIDER]),
            ("secret-get", vec!["--format=json", &secret, "--refresh"]),
        ]
    );
    assert_eq!(model.sim.secret(&secret).unwrap().consumers["synapse/1"].revision, 1);
}

#[test]
fn the_requirer_publishes_nothing_in_any_hook() {
    let mut model = Model::new(2, "smtp");
    let relation = model.relation;
    let events = [
        Event::RelationCreated { relation },
        Event::RelationJoined { relation, unit: "smtp-integrator/0".into() },
        Event::RelationChanged { relation, unit: None },
    ];
    model.integrator_publishes_secret("pw");
    for event in events {
        for unit in ["synapse/0", "synapse/1"] {
            let (view, run) = read_in(&mut model, unit, event.clone());
            assert!(matches!(view, SmtpView::Ready(_)), "{event:?}: {view:?}");
            assert_eq!(run.count("relation-set"), 0, "{event:?}");
        }
    }
    assert!(plan_requirer(&model.relation_id()).is_empty());
    assert!(model.bag(Bag::App(REQUIRER.into())).is_empty());
    for unit in ["synapse/0", "synapse/1"] {
        let keys: BTreeSet<String> = model.bag(Bag::Unit(unit.into())).into_keys().collect();
        let juju_only = ["egress-subnets", "ingress-address", "private-address"].map(String::from);
        assert_eq!(keys, BTreeSet::from(juju_only), "only what Juju writes");
    }
}

#[test]
fn on_smtp_legacy_the_password_is_plain_and_no_secret_is_read() {
    let mut model = Model::new(1, "smtp-legacy");
    model.integrator_publishes_plain("plain-pw");
    let settings = ready(&mut model, "synapse/0");
    assert_eq!(password(&settings), Some("plain-pw"));
    assert!(settings.password_secret.is_none());
    assert_eq!(settings.port, 587);
    let event = changed(&model);
    let (_, run) = read_in(&mut model, "synapse/0", event);
    assert_eq!(run.count("secret-get"), 0);

    // Without a password configured, smtp-integrator sends neither key.
    let mut data = settings_with(&[("auth_type", "none")]);
    data.retain(|(key, _)| *key != "user");
    model.provider_replaces(&data);
    let settings = ready(&mut model, "synapse/0");
    assert!(settings.password.is_none() && settings.user.is_none());
    assert_eq!(settings.auth, AuthType::None);
    assert_eq!(settings.synapse_problem(), Some("Only PLAIN auth type is supported for SMTP"));
}

#[test]
fn a_user_secret_not_granted_tells_the_operator_to_grant_it() {
    let mut model = Model::new(2, "smtp");
    let secret = model.integrator_publishes_user_secret("user-pw");
    let reason = not_ready(&mut model);
    assert_eq!(reason, NotReady::SecretNotGranted { secret: uri(&secret), app: REQUIRER.into() });
    assert_eq!(
        reason.to_string(),
        format!(
            "the SMTP password secret {secret} is not granted to synapse: run `juju grant-secret {secret} synapse`"
        )
    );

    // The operator grants it: every unit reads it.
    model.grant(&secret);
    assert_eq!(password(&ready(&mut model, "synapse/0")), Some("user-pw"));
    assert_eq!(password(&ready(&mut model, "synapse/1")), Some("user-pw"));

    // Revoked again: back to the advice.
    model.sim.revoke_secret(&secret, &GrantTarget::Application(REQUIRER.into())).unwrap();
    assert!(matches!(not_ready(&mut model), NotReady::SecretNotGranted { .. }));
}

#[test]
fn a_rotated_secret_is_read_at_its_latest_revision_in_secret_changed() {
    let mut model = Model::new(1, "smtp");
    let secret = model.integrator_publishes_secret("first-pw");
    assert_eq!(password(&ready(&mut model, "synapse/0")), Some("first-pw"));

    // smtp-integrator's config changes: `secret.set_content`, the bag is unchanged.
    let bag = model.bag(Bag::App(PROVIDER.into()));
    model.sim.update_secret(&secret, [("password".to_string(), "second-pw".to_string())].into()).unwrap();
    assert_eq!(model.bag(Bag::App(PROVIDER.into())), bag);

    let relation = model.relation_id();
    let event = Event::SecretChanged { id: model.sim.secret(&secret).unwrap().id.clone() };
    let ((tracked, view, matches), run) = model.hook("synapse/0", event, |tools, context| {
        let juju::Event::Secret(changed) = &context.event else { panic!("{:?}", context.event) };
        // What Synapse's own Python code does (no refresh) still sees the old revision.
        let tracked = tools.secret_get(&SecretRef::Id(uri(&changed.id)), ReadMode::Tracked).unwrap();
        let tracked = tracked["password"].expose_secret().to_string();
        let provider = tools.relation_remote_app(&relation).unwrap();
        let view = SmtpView::read(tools, &relation, provider.as_deref(), &context.app_name).unwrap();
        let SmtpView::Ready(settings) = &view else { panic!("{view:?}") };
        let matches = (settings.uses_secret(&uri(&changed.id)), secret_matches(&changed.id, &secret));
        (tracked, view, matches)
    });
    assert_eq!(tracked, "first-pw");
    let SmtpView::Ready(settings) = view else { unreachable!() };
    assert_eq!(password(&settings), Some("second-pw"));
    assert_eq!(matches, (true, true), "JUJU_SECRET_ID matches password_id");
    assert!(run.calls_to("secret-get").any(|call| call.args.contains(&"--refresh".to_string())));
    assert_eq!(model.sim.secret(&secret).unwrap().consumers["synapse/0"].revision, 2, "tracks the latest");
}

#[test]
fn canonical_secret_uris_are_read_and_matched_by_their_trailing_id() {
    let mut model = Model::new(1, "smtp");
    let secret = model.integrator_publishes_secret("pw");
    let uuid = model.sim.model().uuid.clone();
    let canonical = uri(&secret).canonical(&uuid).to_string();
    assert!(canonical.starts_with("secret://"));
    model.provider_sets(&[("password_id", &canonical)]);
    let settings = ready(&mut model, "synapse/0");
    assert_eq!(password(&settings), Some("pw"));
    assert_eq!(settings.password_secret.as_ref().unwrap().as_str(), canonical);
    assert!(settings.uses_secret(&uri(&secret)));
    assert!(secret_matches(&secret, &canonical));
    let other = model.secret(&[("password", "other")]);
    assert!(!settings.uses_secret(&uri(&other)) && !secret_matches(&other, &canonical));
}

fn settings_with(changes: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut data = settings();
    for (key, value) in changes {
        match data.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => data.push((key, value)),
        }
    }
    data
}

#[test]
fn skip_ssl_verify_is_a_python_boolean_and_json_booleans_are_accepted() {
    let mut model = Model::new(1, "smtp-legacy");
    for (flag, skip) in [("True", true), ("False", false), ("true", true), ("false", false)] {
        let mut data = settings_with(&[("skip_ssl_verify", flag)]);
        data.push(("password", "pw"));
        model.provider_replaces(&data);
        assert_eq!(ready(&mut model, "synapse/0").skip_ssl_verify, skip, "{flag}");
    }
    model.provider_sets(&[("skip_ssl_verify", "yes")]);
    assert_eq!(not_ready(&mut model), NotReady::Malformed { key: "skip_ssl_verify", value: "yes".into() });
}

#[test]
fn malformed_values_are_named_until_fixed() {
    let mut model = Model::new(1, "smtp-legacy");
    model.integrator_publishes_plain("pw");
    let malformed = |key, value: &str| NotReady::Malformed { key, value: value.into() };
    let cases: [(&'static str, &'static str); 6] = [
        ("port", "smtp"),
        ("port", "70000"),
        ("auth_type", "LOGIN"),
        ("transport_security", "ssl"),
        ("recipients", "ops@example.com"),
        ("password_id", "vault:smtp"),
    ];
    for (key, value) in cases {
        model.provider_sets(&[(key, value)]);
        let reason = not_ready(&mut model);
        assert_eq!(reason, malformed(key, value));
        assert!(reason.to_string().contains(&format!("{key} {value:?}")), "{reason}");
        model.integrator_publishes_plain("pw");
        ready(&mut model, "synapse/0");
    }
    assert_eq!(
        malformed("port", "smtp").to_string(),
        "the SMTP provider published port \"smtp\", expected a port number (1-65535)"
    );

    // Transport `none` is well-formed; refusing it is Synapse's business.
    model.provider_sets(&[("transport_security", "none")]);
    let settings = ready(&mut model, "synapse/0");
    assert_eq!(settings.transport, TransportSecurity::None);
    assert_eq!(settings.synapse_problem(), Some("Transport security NONE is not supported for SMTP"));
    model.provider_sets(&[("transport_security", "tls")]);
    assert_eq!(ready(&mut model, "synapse/0").synapse_problem(), None);
}

#[test]
fn each_missing_piece_is_its_own_reason() {
    let mut model = Model::new(1, "smtp");
    assert_eq!(not_ready(&mut model), NotReady::NothingPublished);
    for key in ["host", "port", "auth_type", "transport_security"] {
        let data: Vec<_> = settings().into_iter().filter(|(k, _)| *k != key).collect();
        model.provider_replaces(&data);
        assert_eq!(not_ready(&mut model), NotReady::KeyMissing { key });
    }

    // A password_id that names no secret (removed, or never there).
    let secret = model.integrator_publishes_secret("pw");
    model.sim.remove_secret(&secret).unwrap();
    let reason = not_ready(&mut model);
    assert_eq!(reason, NotReady::SecretNotFound { secret: uri(&secret) });
    assert!(reason.to_string().contains("does not exist"), "{reason}");

    // A secret without the `password` key.
    let wrong = model.secret(&[("pass", "pw")]);
    model.grant(&wrong);
    model.provider_sets(&[("password_id", &wrong)]);
    assert_eq!(not_ready(&mut model), NotReady::SecretWithoutPassword { secret: uri(&wrong) });
    model.sim.update_secret(&wrong, [("password".to_string(), "pw".to_string())].into()).unwrap();
    assert_eq!(password(&ready(&mut model, "synapse/0")), Some("pw"));
}

#[test]
fn an_unknown_provider_or_a_gone_relation_is_not_ready() {
    let mut model = Model::new(1, "smtp");
    model.integrator_publishes_secret("pw");
    let relation = model.relation_id();
    let (view, run) = model.hook("synapse/0", Event::UpdateStatus, |tools, context| {
        SmtpView::read(tools, &relation, None, &context.app_name).unwrap()
    });
    assert!(matches!(view, SmtpView::NotReady(NotReady::ProviderUnknown)), "{view:?}");
    assert!(run.calls.is_empty());

    // The provider's data does not depend on its units: still ready with none.
    model.sim.remove_unit("smtp-integrator/0").unwrap();
    assert_eq!(password(&ready(&mut model, "synapse/0")), Some("pw"));

    // In relation-broken the remote application is still known and its bag readable: the
    // charm leaves the broken relation out, as it does for every interface.
    let broken = Event::RelationBroken { relation: model.relation };
    let (view, _) = read_in(&mut model, "synapse/0", broken);
    assert!(matches!(view, SmtpView::Ready(_)), "{view:?}");

    // After it, the relation is gone.
    model.sim.remove_relation(model.relation).unwrap();
    let (view, _) = model.hook("synapse/0", Event::UpdateStatus, |tools, _| {
        SmtpView::read(tools, &relation, Some(PROVIDER), REQUIRER).unwrap()
    });
    assert!(matches!(view, SmtpView::NotReady(NotReady::RelationGone)), "{view:?}");
    let gone = RelationId::new("smtp", 99);
    let (view, _) = model.hook("synapse/0", Event::UpdateStatus, |tools, _| {
        SmtpView::read(tools, &gone, Some(PROVIDER), REQUIRER).unwrap()
    });
    assert!(matches!(view, SmtpView::NotReady(NotReady::RelationGone)), "{view:?}");
}

/// Answers `relation-get` with a bag naming a secret, and fails `failing` (a tool name).
struct FailingRunner {
    failing: &'static str,
}

const SECRET: &str = "secret:cq9ig0fmp25c77ni4a2g";

impl ToolRunner for FailingRunner {
    fn run(&self, tool: &str, _: &[String], _: Option<&[u8]>) -> std::io::Result<ToolOutput> {
        Ok(if tool == self.failing {
            ToolOutput {
                code: 1,
                stderr: b"ERROR connection to the unit agent lost\n".to_vec(),
                ..ToolOutput::default()
            }
        } else if tool == "relation-get" {
            let mut bag: serde_json::Map<String, serde_json::Value> =
                settings().into_iter().map(|(k, v)| (k.to_string(), v.into())).collect();
            bag.insert("password_id".into(), SECRET.into());
            ToolOutput { stdout: serde_json::to_vec(&bag).unwrap(), ..ToolOutput::default() }
        } else {
            ToolOutput { stdout: br#"{"password": "pw"}"#.to_vec(), ..ToolOutput::default() }
        })
    }
}

#[test]
fn hook_tool_failures_are_errors_naming_the_command() {
    let relation = RelationId::new("smtp", 4);
    let read = |failing| {
        SmtpView::read(&HookTools::new(FailingRunner { failing }), &relation, Some(PROVIDER), REQUIRER)
    };
    let SmtpView::Ready(settings) = read("nothing").unwrap() else { panic!() };
    assert_eq!(password(&settings), Some("pw"));

    let error = read("relation-get").unwrap_err();
    assert!(matches!(&error, ReadError::AppBag { app, .. } if app == PROVIDER), "{error:?}");
    assert_eq!(
        error.command().unwrap().as_str(),
        "relation-get --format=json -r smtp:4 --app - smtp-integrator"
    );
    assert_eq!(error.to_string(), "cannot read the application bag of smtp-integrator on relation smtp:4");

    let error = read("secret-get").unwrap_err();
    assert!(matches!(&error, ReadError::Secret { id, .. } if id.as_str() == SECRET), "{error:?}");
    assert_eq!(error.command().unwrap().as_str(), format!("secret-get --format=json {SECRET} --refresh"));
    let source = std::error::Error::source(&error).unwrap().to_string();
    assert!(source.contains("connection to the unit agent lost"), "{source}");
}
