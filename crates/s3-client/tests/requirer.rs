//! The requirer against the simulated Juju, with a passive s3-integrator that answers the way
//! each of its two tracks does.

mod sim;

use juju::{ReadMode, SecretRef, SecretUri};
use juju_sim::model::Bag;
use juju_sim::{Event, HookRun};
use s3_client::{plan_request, NotReady, S3Request, S3Settings, S3View, UriStyle};
use secrecy::ExposeSecret;
use sim::{minio, Model, Options, Track, PROVIDER, REQUIRER};

fn changed(model: &Model) -> Event {
    Event::RelationChanged { relation: model.relation, unit: None }
}

/// One hook of `unit`: the leader's request carried out (as the charm does in every hook),
/// then the view as every unit reads it.
fn hook(model: &mut Model, unit: &str, event: Event) -> (S3View, HookRun) {
    let relation = model.relation_id();
    model.hook(unit, event, |tools, context| {
        if tools.is_leader().unwrap() {
            let own_app = tools.relation_get_app(&relation, &context.app_name).unwrap();
            let own_unit = tools.relation_get_unit(&relation, &context.unit_name).unwrap();
            let request = S3Request::for_relation(&relation);
            juju::effects::execute(tools, &plan_request(&relation, &own_app, &own_unit, &request)).unwrap();
        }
        let provider = tools.relation_remote_app(&relation).unwrap();
        S3View::read(tools, &relation, provider.as_deref(), &context.app_name).unwrap()
    })
}

fn view(model: &mut Model, unit: &str) -> S3View {
    let event = changed(model);
    hook(model, unit, event).0
}

fn ready(model: &mut Model, unit: &str) -> Box<S3Settings> {
    match view(model, unit) {
        S3View::Ready(settings) => settings,
        S3View::NotReady(reason) => panic!("{unit} is not ready: {reason}"),
    }
}

fn not_ready(model: &mut Model, unit: &str) -> NotReady {
    match view(model, unit) {
        S3View::NotReady(reason) => reason,
        S3View::Ready(settings) => panic!("ready too early: {settings:?}"),
    }
}

fn keys(settings: &S3Settings) -> (&str, &str) {
    (settings.access_key.expose_secret(), settings.secret_key.expose_secret())
}

fn calls(run: &HookRun) -> Vec<(&str, Vec<&str>)> {
    run.calls
        .iter()
        .map(|call| (call.tool.as_str(), call.args.iter().map(String::as_str).collect()))
        .collect()
}

/// The leader asks in relation-created, before the provider answers.
fn request(model: &mut Model) {
    let event = Event::RelationCreated { relation: model.relation };
    let (view, run) = hook(model, "synapse/0", event);
    assert!(matches!(view, S3View::NotReady(NotReady::NothingPublished)), "{view:?}");
    assert_eq!(run.count("relation-set"), 2, "the application bag and the leader's unit bag");
}

#[test]
fn track_1_answers_the_bucket_request_in_plain_text_and_every_unit_reads_it() {
    let mut model = Model::new(2, Track::One, minio());
    request(&mut model);
    let own = model.bag(Bag::App(REQUIRER.into()));
    let bucket = format!("relation-{}", model.relation);
    assert_eq!(own.get("bucket"), Some(&bucket), "as the v0 library of the Python charm asks");
    assert_eq!(own.get("lib-version").map(String::as_str), Some("1.0"));
    assert_eq!(own.get("requested-secrets").map(String::as_str), Some(r#"["access-key", "secret-key"]"#));
    assert!(!own.contains_key("path"), "no path asked for");
    let leader = model.bag(Bag::Unit("synapse/0".into()));
    assert_eq!(leader.get("requested-secrets"), own.get("requested-secrets"));
    assert!(!model.bag(Bag::Unit("synapse/1".into())).contains_key("requested-secrets"));

    model.integrator_answers();
    for unit in ["synapse/0", "synapse/1"] {
        let settings = ready(&mut model, unit);
        assert_eq!(settings.bucket, bucket, "the requested bucket: no bucket option");
        assert_eq!(keys(&settings), ("AKIAMINIO0001", "minio-secret-key-1"));
        assert_eq!(settings.endpoint.as_deref(), Some("http://10.1.2.3:9000"));
        assert_eq!(settings.region, None);
        assert_eq!(settings.path, "synapse/");
        assert_eq!(settings.s3_uri_style, UriStyle::Path);
        assert!(settings.tls_ca_chain.is_empty() && settings.credentials_secret.is_none());
        assert!(!format!("{settings:?}").contains("minio-secret-key-1"), "Debug shows no key");
    }

    // A later hook of each unit: one read of the provider's bag, no secret, no write.
    let relation = format!("media:{}", model.relation);
    let event = changed(&model);
    let (_, run) = hook(&mut model, "synapse/1", event.clone());
    assert_eq!(
        calls(&run)[2..],
        [("relation-get", vec!["--format=json", "-r", &relation, "--app", "-", PROVIDER])]
    );
    let (_, run) = hook(&mut model, "synapse/0", event);
    assert_eq!(run.count("relation-set"), 0, "the request is held: nothing written");
    assert_eq!(run.count("secret-get"), 0);

    // The integrator's own bucket option wins, and the CA chain arrives as a JSON list.
    let pem = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----";
    model.options.bucket = Some("synapse-media".into());
    model.options.tls_ca_chain = vec![pem.into()];
    model.integrator_answers();
    let settings = ready(&mut model, "synapse/1");
    assert_eq!(settings.bucket, "synapse-media");
    assert_eq!(settings.tls_ca_chain, [pem]);
}

#[test]
fn track_2_sends_the_keys_in_a_secret_that_every_unit_reads_at_its_latest_revision() {
    let mut model = Model::new(2, Track::Two, Options { region: Some("eu-west-1".into()), ..minio() });
    // Only its lib-version so far: nothing to use.
    assert_eq!(not_ready(&mut model, "synapse/1"), NotReady::NothingPublished);
    model.integrator_answers();
    assert_eq!(not_ready(&mut model, "synapse/1"), NotReady::NothingPublished, "no request yet");
    request(&mut model);
    model.integrator_answers();
    let provider = model.bag(Bag::App(PROVIDER.into()));
    assert!(!provider.contains_key("access-key") && !provider.contains_key("secret-key"));
    let secret = model.secret.clone().expect("a credentials secret");
    assert_eq!(provider.get("secret-extra"), Some(&secret));

    for unit in ["synapse/0", "synapse/1"] {
        let settings = ready(&mut model, unit);
        assert_eq!(keys(&settings), ("AKIAMINIO0001", "minio-secret-key-1"));
        assert_eq!(settings.bucket, format!("relation-{}", model.relation));
        assert_eq!(settings.region.as_deref(), Some("eu-west-1"));
        assert_eq!(settings.credentials_secret, SecretUri::parse(&secret));
    }
    let event = changed(&model);
    let (_, run) = hook(&mut model, "synapse/1", event);
    let relation = format!("media:{}", model.relation);
    assert_eq!(
        calls(&run)[2..],
        [
            ("relation-get", vec!["--format=json", "-r", &relation, "--app", "-", PROVIDER]),
            ("secret-get", vec!["--format=json", &secret, "--refresh"]),
        ]
    );

    // The keys rotate: a new revision, the bag unchanged; secret-changed reads the new one.
    let bag = model.bag(Bag::App(PROVIDER.into()));
    model.options.secret_key = Some("minio-secret-key-2".into());
    model.integrator_answers();
    assert_eq!(model.bag(Bag::App(PROVIDER.into())), bag);
    let relation_id = model.relation_id();
    let event = Event::SecretChanged { id: model.sim.secret(&secret).unwrap().id.clone() };
    let ((tracked, settings, matches), _) = model.hook("synapse/1", event, |tools, context| {
        let juju::Event::Secret(changed) = &context.event else { panic!("{:?}", context.event) };
        let id = SecretUri::parse(&changed.id).unwrap();
        let tracked = tools.secret_get(&SecretRef::Id(id.clone()), ReadMode::Tracked).unwrap();
        let tracked = tracked["secret-key"].expose_secret().to_string();
        let provider = tools.relation_remote_app(&relation_id).unwrap();
        let S3View::Ready(settings) =
            S3View::read(tools, &relation_id, provider.as_deref(), &context.app_name).unwrap()
        else {
            panic!("not ready")
        };
        let matches = settings.uses_secret(&id);
        (tracked, settings, matches)
    });
    assert_eq!(tracked, "minio-secret-key-1", "what a plain read still sees");
    assert_eq!(keys(&settings).1, "minio-secret-key-2");
    assert!(matches, "JUJU_SECRET_ID matches secret-extra");
}

#[test]
fn a_track_2_integrator_without_a_bucket_option_is_named_with_the_fix() {
    // A request without requested-secrets (what the Python charm's v0 library sent): the
    // integrator drops the requested bucket and, without its own, sends none.
    let mut model = Model::new(1, Track::Two, minio());
    model
        .sim
        .set_relation_data(
            model.relation,
            Bag::App(REQUIRER.into()),
            [("bucket".to_string(), "relation-0".to_string())].into(),
        )
        .unwrap();
    model.integrator_answers();
    let provider = model.bag(Bag::App(PROVIDER.into()));
    assert!(!provider.contains_key("bucket") && provider.contains_key("access-key"), "{provider:?}");
    let relation = model.relation_id();
    let (view, _) = model.hook("synapse/0", changed(&model), |tools, context| {
        S3View::read(tools, &relation, Some(PROVIDER), &context.app_name).unwrap()
    });
    let S3View::NotReady(reason) = view else { panic!("{view:?}") };
    assert_eq!(reason, NotReady::BucketMissing { provider: PROVIDER.into() });
    assert_eq!(
        reason.to_string(),
        "s3-integrator publishes no bucket: set it on the integrator with `juju config s3-integrator bucket=<name>`"
    );
    assert!(reason.needs_operator());

    // The operator sets it.
    model.options.bucket = Some("synapse-media".into());
    model.integrator_answers();
    let (view, _) = model.hook("synapse/0", changed(&model), |tools, context| {
        S3View::read(tools, &relation, Some(PROVIDER), &context.app_name).unwrap()
    });
    let S3View::Ready(settings) = view else { panic!("{view:?}") };
    assert_eq!(settings.bucket, "synapse-media");
    assert_eq!(keys(&settings), ("AKIAMINIO0001", "minio-secret-key-1"), "plain keys on this request");
}

#[test]
fn a_secret_not_granted_missing_keys_and_malformed_values_are_reasons() {
    let mut model = Model::new(1, Track::Two, minio());
    request(&mut model);
    model.integrator_answers();
    let secret = model.secret.clone().unwrap();
    model.revoke(&secret);
    let reason = not_ready(&mut model, "synapse/0");
    assert_eq!(
        reason,
        NotReady::SecretNotGranted { secret: SecretUri::parse(&secret).unwrap(), app: REQUIRER.into() }
    );
    assert!(!reason.needs_operator());
    assert!(reason.to_string().contains("is not granted to synapse yet"), "{reason}");
    model.grant(&secret);
    assert_eq!(keys(&ready(&mut model, "synapse/0")).0, "AKIAMINIO0001");

    model.sim.remove_secret(&secret).unwrap();
    assert_eq!(
        not_ready(&mut model, "synapse/0"),
        NotReady::SecretNotFound { secret: SecretUri::parse(&secret).unwrap() }
    );

    // Track 1 before `sync-s3-credentials`: no keys.
    let mut model = Model::new(1, Track::One, Options { access_key: None, secret_key: None, ..minio() });
    request(&mut model);
    model.integrator_answers();
    let reason = not_ready(&mut model, "synapse/0");
    assert_eq!(
        reason,
        NotReady::CredentialsMissing { key: "access-key", provider: PROVIDER.into(), track2: false }
    );
    assert!(reason.needs_operator());

    // A malformed value is named.
    model.options = Options { s3_uri_style: Some("virtual".into()), ..minio() };
    model.integrator_answers();
    let reason = not_ready(&mut model, "synapse/0");
    assert_eq!(reason, NotReady::Malformed { key: "s3-uri-style", value: "virtual".into() });
    assert_eq!(
        reason.to_string(),
        "the S3 provider published s3-uri-style \"virtual\", expected path or host"
    );

    // Neither region nor endpoint.
    model.options = Options { endpoint: None, ..minio() };
    model.integrator_answers();
    assert_eq!(
        not_ready(&mut model, "synapse/0"),
        NotReady::RegionOrEndpointMissing { provider: PROVIDER.into() }
    );
}

#[test]
fn only_the_leader_writes_and_a_torn_down_relation_is_gone() {
    let mut model = Model::new(2, Track::One, minio());
    let relation = model.relation;
    let (_, run) = hook(&mut model, "synapse/1", Event::RelationCreated { relation });
    assert_eq!(run.count("relation-set"), 0);
    assert!(model.bag(Bag::App(REQUIRER.into())).is_empty());

    let id = model.relation_id();
    let (view, _) = model.hook("synapse/0", changed(&model), |tools, context| {
        let gone = juju::RelationId::new("media", 999);
        S3View::read(tools, &gone, Some(PROVIDER), &context.app_name).unwrap()
    });
    assert!(matches!(view, S3View::NotReady(NotReady::RelationGone)), "{view:?}");
    let (view, _) = model.hook("synapse/0", changed(&model), |tools, context| {
        S3View::read(tools, &id, None, &context.app_name).unwrap()
    });
    assert!(matches!(view, S3View::NotReady(NotReady::ProviderUnknown)), "{view:?}");
}
