//! The requirer against the simulated Juju, with a passive traefik-k8s that answers the way
//! traefik-k8s does. The bags are checked as the provider reads them.

mod sim;

use std::collections::BTreeMap;

use ingress_client::{
    bind_address, default_host, plan_app, plan_unit, AnswerError, HealthCheck, IngressRequest, IngressUrl,
    IngressView, NotReady, ReadError, Scheme, UrlError,
};
use juju::effects::execute;
use juju::{HookTools, RelationId, ToolOutput, ToolRunner};
use juju_sim::{Event, HookRun};
use sim::{Model, ENDPOINT, PROVIDER};

fn request() -> IngressRequest {
    IngressRequest::new("test-model", "synapse", 8080).unwrap()
}

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// What the charm does in any hook: the leader publishes the request, every unit its host
/// and IP, then reads the answer.
fn publish(model: &mut Model, unit: &str, event: Event, request: &IngressRequest) -> (IngressView, HookRun) {
    let relation = model.relation_id();
    model.hook(unit, event, |tools, context| {
        if tools.is_leader().unwrap() {
            let own = tools.relation_get_app(&relation, &context.app_name).unwrap();
            execute(tools, &plan_app(&relation, &own, request)).unwrap();
        }
        let ip = bind_address(&tools.network_get(ENDPOINT, Some(&relation)).unwrap());
        let own = tools.relation_get_unit(&relation, &context.unit_name).unwrap();
        execute(tools, &plan_unit(&relation, &own, &default_host(context), ip)).unwrap();
        IngressView::read(tools, &relation, PROVIDER).unwrap()
    })
}

fn view(model: &mut Model, unit: &str) -> IngressView {
    let event = model.changed();
    publish(model, unit, event, &request()).0
}

/// The JSON document of each relation-set of `run`, application bag first when `--app`.
fn sets(run: &HookRun) -> Vec<(bool, serde_json::Value)> {
    run.calls_to("relation-set")
        .map(|call| {
            let app = call.args.iter().any(|arg| arg == "--app");
            (app, serde_json::from_str(call.stdin.as_deref().unwrap()).unwrap())
        })
        .collect()
}

fn fqdn(unit: &str) -> String {
    let number = unit.rsplit_once('/').unwrap().1;
    format!("synapse-{number}.synapse-endpoints.test-model.svc.cluster.local")
}

/// The keys of a unit bag that publishes `host` and `ip`, with Juju's own.
const UNIT_KEYS: [&str; 5] = ["egress-subnets", "host", "ingress-address", "ip", "private-address"];

#[test]
fn the_provider_reads_json_from_the_leader_and_every_unit_and_later_hooks_write_nothing() {
    let mut model = Model::new(2);
    let created = Event::RelationCreated { relation: model.relation };
    let (view, run) = publish(&mut model, "synapse/0", created.clone(), &request());
    assert_eq!(view, IngressView::NotReady(NotReady::NoAnswer));
    let address = model.address("synapse/0");
    assert_eq!(
        sets(&run),
        [
            (true, serde_json::json!({"model": "\"test-model\"", "name": "\"synapse\"", "port": "8080"})),
            (
                false,
                serde_json::json!({"host": format!("\"{}\"", fqdn("synapse/0")), "ip": format!("\"{address}\"")})
            ),
        ]
    );
    let (_, run) = publish(&mut model, "synapse/1", created, &request());
    assert_eq!(sets(&run).len(), 1, "a non-leader writes its unit bag only");

    let app = model.app_bag();
    assert_eq!(app, map(&[("model", "\"test-model\""), ("name", "\"synapse\""), ("port", "8080")]));
    // As the provider decodes it: every value JSON, the port an integer.
    let decoded: BTreeMap<String, serde_json::Value> =
        app.iter().map(|(key, value)| (key.clone(), serde_json::from_str(value).unwrap())).collect();
    assert_eq!(decoded["name"], "synapse");
    assert_eq!(decoded["port"].as_u64(), Some(8080));
    for unit in ["synapse/0", "synapse/1"] {
        let bag = model.unit_bag(unit);
        assert_eq!(bag.keys().map(String::as_str).collect::<Vec<_>>(), UNIT_KEYS, "{unit}");
        let host: String = serde_json::from_str(&bag["host"]).unwrap();
        let ip: String = serde_json::from_str(&bag["ip"]).unwrap();
        assert_eq!((host, ip), (fqdn(unit), model.address(unit)));
    }

    // Nothing changed: no hook writes anything, whoever leads.
    let published = (model.app_bag(), model.unit_bag("synapse/0"), model.unit_bag("synapse/1"));
    let events = [model.changed(), Event::UpgradeCharm, Event::UpdateStatus, Event::LeaderElected];
    for event in events.clone() {
        for unit in ["synapse/0", "synapse/1"] {
            let (_, run) = publish(&mut model, unit, event.clone(), &request());
            assert_eq!(run.count("relation-set"), 0, "{unit} in {event:?}");
        }
    }
    model.sim.set_leader("synapse/1").unwrap();
    let (_, run) = publish(&mut model, "synapse/1", Event::LeaderElected, &request());
    assert_eq!(run.count("relation-set"), 0, "the new leader finds the request in place");
    assert_eq!((model.app_bag(), model.unit_bag("synapse/0"), model.unit_bag("synapse/1")), published);
}

#[test]
fn options_are_json_and_dropping_them_deletes_their_keys() {
    let mut model = Model::new(1);
    let full = request()
        .with_strip_prefix(true)
        .with_redirect_https(true)
        .with_scheme(Scheme::Https)
        .with_healthcheck(HealthCheck {
            interval: "10s".into(),
            ..HealthCheck::new("/_matrix/client/versions")
        })
        .unwrap();
    let event = model.changed();
    publish(&mut model, "synapse/0", event.clone(), &full);
    assert_eq!(
        model.app_bag(),
        map(&[
            ("model", "\"test-model\""),
            ("name", "\"synapse\""),
            ("port", "8080"),
            ("strip-prefix", "true"),
            ("redirect-https", "true"),
            ("scheme", "\"https\""),
            ("healthcheck_params", r#"{"path": "/_matrix/client/versions", "interval": "10s"}"#),
        ])
    );

    // Back to the defaults: one relation-set deletes exactly the options.
    let (_, run) = publish(&mut model, "synapse/0", event.clone(), &request());
    let deleted =
        serde_json::json!({"healthcheck_params": "", "redirect-https": "", "scheme": "", "strip-prefix": ""});
    assert_eq!(sets(&run), [(true, deleted)]);
    assert_eq!(
        model.app_bag(),
        map(&[("model", "\"test-model\""), ("name", "\"synapse\""), ("port", "8080")])
    );

    // What the v1 library left (plain strings and its `host`) is replaced.
    let relation = model.relation_id();
    model.hook("synapse/0", event.clone(), |tools, _| {
        let v1 = map(&[
            ("host", "synapse-endpoints.test-model.svc.cluster.local"),
            ("port", "8080"),
            ("name", "synapse"),
        ]);
        tools.relation_set(&relation, juju::Bag::App, &v1).unwrap();
    });
    let (_, run) = publish(&mut model, "synapse/0", event, &request());
    assert_eq!(sets(&run), [(true, serde_json::json!({"host": "", "name": "\"synapse\""}))]);
    assert_eq!(
        model.app_bag(),
        map(&[("model", "\"test-model\""), ("name", "\"synapse\""), ("port", "8080")])
    );
}

#[test]
fn units_republish_only_what_changed_and_new_units_publish_their_own_host() {
    let mut model = Model::new(2);
    for unit in ["synapse/0", "synapse/1"] {
        let event = model.changed();
        publish(&mut model, unit, event, &request());
    }
    model.sim.set_unit_address("synapse/1", "10.9.9.9".parse().unwrap()).unwrap();
    let event = model.changed();
    let (_, run) = publish(&mut model, "synapse/1", event, &request());
    assert_eq!(sets(&run), [(false, serde_json::json!({"ip": "\"10.9.9.9\""}))]);

    let (unit, _) = model.sim.add_unit(sim::REQUIRER).unwrap();
    assert_eq!(unit, "synapse/2");
    let joined = Event::RelationJoined { relation: model.relation, unit: "traefik-k8s/0".into() };
    let (_, run) = publish(&mut model, &unit, joined, &request());
    assert_eq!(sets(&run).len(), 1);
    assert_eq!(model.unit_bag(&unit)["host"], format!("\"{}\"", fqdn(&unit)));
    assert_eq!(model.unit_bag("synapse/1")["ip"], "\"10.9.9.9\"");
}

#[test]
fn every_unit_reads_the_url_until_it_is_revoked() {
    let mut model = Model::new(2);
    model.provider_answers("http://ingress.example.com/test-model-synapse");
    for unit in ["synapse/0", "synapse/1"] {
        let IngressView::Ready(url) = view(&mut model, unit) else { panic!("{unit} is not ready") };
        assert_eq!(url.as_str(), "http://ingress.example.com/test-model-synapse");
        assert_eq!(
            (url.host(), url.path(), url.is_https()),
            ("ingress.example.com", "/test-model-synapse", false)
        );
    }

    // Subdomain routing with TLS: the new URL is read at once.
    model.provider_answers("https://test-model-synapse.example.com/");
    let url: IngressUrl = "https://test-model-synapse.example.com/".parse().unwrap();
    assert_eq!(view(&mut model, "synapse/1"), IngressView::Ready(url));

    // Revoked: the provider deletes the key.
    model.provider_sets(&[("ingress", "")]);
    assert!(model.bag(juju_sim::model::Bag::App(PROVIDER.into())).is_empty());
    for unit in ["synapse/0", "synapse/1"] {
        assert_eq!(view(&mut model, unit), IngressView::NotReady(NotReady::NoAnswer), "{unit}");
    }
}

#[test]
fn malformed_answers_name_the_value_until_fixed() {
    let mut model = Model::new(1);
    let cases = [
        ("url: http://ingress.example.com/", AnswerError::NotJson),
        (r#"{"url": null}"#, AnswerError::NoUrl),
        (r#"{"url": "ingress.example.com/test-model-synapse"}"#, AnswerError::Url(UrlError::NotAbsolute)),
        (r#"{"url": "ftp://ingress.example.com/"}"#, AnswerError::Url(UrlError::Scheme("ftp".into()))),
    ];
    for (value, error) in cases {
        model.provider_sets(&[("ingress", value)]);
        let reason = NotReady::AnswerMalformed { value: value.into(), error };
        assert_eq!(view(&mut model, "synapse/0"), IngressView::NotReady(reason));
    }
    model.provider_answers("http://10.0.0.5:8080/test-model-synapse");
    let IngressView::Ready(url) = view(&mut model, "synapse/0") else { panic!("not ready") };
    assert_eq!((url.host(), url.port()), ("10.0.0.5", Some(8080)));
}

#[test]
fn a_broken_relation_is_not_listed_and_a_removed_one_is_gone() {
    let mut model = Model::new(1);
    model.provider_answers("http://ingress.example.com/test-model-synapse");
    assert!(matches!(view(&mut model, "synapse/0"), IngressView::Ready(_)));

    // In relation-broken a charm that reads the relations Juju lists finds none.
    let broken = Event::RelationBroken { relation: model.relation };
    let (listed, _) = model.hook("synapse/0", broken, |tools, _| tools.relation_ids(ENDPOINT).unwrap());
    assert!(listed.is_empty(), "{listed:?}");

    let relation = model.relation_id();
    model.sim.remove_relation(model.relation).unwrap();
    let (view, run) = model
        .hook("synapse/0", Event::UpdateStatus, |tools, _| IngressView::read(tools, &relation, PROVIDER));
    assert_eq!(view.unwrap(), IngressView::NotReady(NotReady::RelationGone));
    assert_eq!(run.count("relation-get"), 1);
    let (view, _) = model.hook("synapse/0", Event::UpdateStatus, |tools, _| {
        IngressView::read(tools, &RelationId::new(ENDPOINT, 99), PROVIDER)
    });
    assert_eq!(view.unwrap(), IngressView::NotReady(NotReady::RelationGone));
}

/// Fails every call with an error that is not "relation not found".
struct FailingRunner;

impl ToolRunner for FailingRunner {
    fn run(&self, _: &str, _: &[String], _: Option<&[u8]>) -> std::io::Result<ToolOutput> {
        Ok(ToolOutput {
            code: 1,
            stderr: b"ERROR connection to the unit agent lost\n".to_vec(),
            ..ToolOutput::default()
        })
    }
}

#[test]
fn hook_tool_failures_are_errors_naming_the_command() {
    let relation = RelationId::new(ENDPOINT, 4);
    let error = IngressView::read(&HookTools::new(FailingRunner), &relation, PROVIDER).unwrap_err();
    assert!(matches!(&error, ReadError::AppBag { app, .. } if app == PROVIDER), "{error:?}");
    assert_eq!(
        error.command().unwrap().as_str(),
        "relation-get --format=json -r ingress:4 --app - traefik-k8s"
    );
    assert_eq!(error.to_string(), "cannot read the application bag of traefik-k8s on relation ingress:4");
    let source = std::error::Error::source(&error).unwrap().to_string();
    assert!(source.contains("connection to the unit agent lost"), "{source}");
}
