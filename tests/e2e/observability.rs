//! Observability on real parts: a real Prometheus (Debian's), configured from the scrape
//! jobs and unit addresses the charm published to a passive Prometheus application (expanded
//! per unit as the Prometheus charm does, §7.3 of the integration spec), scrapes real Synapse
//! (the main and a worker, in their pods); every dashboard panel's PromQL is accepted by it
//! and names metrics those Synapse processes expose (or the charm's recording rules define).
//!
//! Every test's name starts with `observability_`, so `tests/e2e/run observability` runs them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use juju_sim::model::Bag;
use juju_sim::{AppSpec, CharmMeta};
use serde_json::Value;
use test_support::{assert_hooks_succeeded, poll_until};

use crate::scale::Cluster;
use crate::support::prometheus::{Job, PrometheusServer, Target};
use crate::support::APP;

const DASHBOARDS: [&str; 3] = [
    include_str!("../../cos/grafana_dashboards/synapse.json"),
    include_str!("../../cos/grafana_dashboards/synapse_workers.json"),
    include_str!("../../cos/grafana_dashboards/synapse_appservices.json"),
];

/// Every `expr` of a dashboard's panels (nested rows included).
fn panel_queries(dashboard: &Value) -> Vec<String> {
    fn walk(panels: &Value, out: &mut Vec<String>) {
        for panel in panels.as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push(expr.to_string());
                }
            }
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// Grafana's variables replaced the way Grafana would for one selection.
fn instantiate(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "5m")
        .replace("${", "$")
        .replace('$', "__variable_")
        .split("__variable_")
        .enumerate()
        .map(|(index, part)| {
            if index == 0 {
                part.to_string()
            } else {
                // The variable's name, up to the first character that cannot be in one.
                let end = part
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '}'))
                    .unwrap_or(part.len());
                format!(".*{}", &part[end..])
            }
        })
        .collect()
}

/// The metric families a Synapse process exposes (`# TYPE` lines), with the sample names
/// Prometheus derives from them.
fn exposed(metrics: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in metrics.lines() {
        let mut words = line.split_whitespace();
        if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
            (words.next(), words.next(), words.next(), words.next())
        {
            names.insert(name.to_string());
            let suffixes: &[&str] = match kind {
                "counter" => &["_total", "_created"],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                "summary" => &["_sum", "_count", "_created"],
                _ => &[],
            };
            let base = name.strip_suffix("_total").unwrap_or(name);
            for suffix in suffixes {
                names.insert(format!("{base}{suffix}"));
            }
        }
    }
    names
}

#[test]
fn observability_prometheus_scrapes_the_main_and_a_worker_and_every_panel_query_works() {
    let mut cluster = Cluster::new(2);
    let sim = &mut cluster.e2e.harness.sim;
    let meta = CharmMeta::from_yaml(
        "name: prometheus\nrequires:\n  metrics-endpoint:\n    interface: prometheus_scrape\n",
    )
    .expect("metadata");
    sim.add_app(AppSpec::passive("prometheus", meta)).expect("added");
    let (relation, runs) =
        sim.integrate("prometheus:metrics-endpoint", "synapse:metrics-endpoint").expect("integrate");
    assert_hooks_succeeded(&runs);

    // What the Prometheus charm reads: the jobs and topology, and every unit's address.
    let app = sim.relation_data(relation, &Bag::App(APP.into())).expect("the relation");
    let metadata: Value = serde_json::from_str(&app["scrape_metadata"]).expect("JSON");
    let jobs: Value = serde_json::from_str(&app["scrape_jobs"]).expect("JSON");
    let mut expanded = Vec::new();
    for job in jobs.as_array().expect("a list") {
        let mut targets = Vec::new();
        for unit in ["synapse/0", "synapse/1"] {
            let bag = sim.relation_data(relation, &Bag::Unit(unit.into())).expect("the unit's bag");
            let address = bag["prometheus_scrape_unit_address"].clone();
            for target in job["static_configs"][0]["targets"].as_array().expect("targets") {
                let port = target.as_str().expect("a target").strip_prefix("*:").expect("a wildcard target");
                let labels = vec![
                    ("juju_model".to_string(), metadata["model"].as_str().unwrap().to_string()),
                    ("juju_model_uuid".to_string(), metadata["model_uuid"].as_str().unwrap().to_string()),
                    ("juju_application".to_string(), metadata["application"].as_str().unwrap().to_string()),
                    ("juju_unit".to_string(), unit.to_string()),
                ];
                targets.push(Target { address: format!("{address}:{port}"), labels });
            }
        }
        let name = job["job_name"].as_str().unwrap_or("synapse").to_string();
        let metrics_path = job["metrics_path"].as_str().unwrap_or("/metrics").to_string();
        expanded.push(Job { name, metrics_path, targets });
    }
    let (host, _) = cluster.e2e.host_on_network();
    let prometheus = PrometheusServer::start(host.into(), &expanded);

    // Both processes are up and give Synapse's metrics.
    let up = poll_until(Duration::from_secs(60), Duration::from_millis(500), || {
        let targets = prometheus.targets();
        (targets.len() == 2 && targets.iter().all(|(_, health)| health == "up")).then_some(targets)
    });
    assert!(up.is_some(), "targets {:?}\n{}", prometheus.targets(), prometheus.log());
    let result = prometheus.query("up == 1").expect("a query");
    assert_eq!(result["result"].as_array().unwrap().len(), 2, "{result}");
    let requests = prometheus
        .query("sum by (juju_unit) (synapse_http_server_requests_received_total)")
        .expect("a query");
    assert_eq!(
        requests["result"].as_array().unwrap().len(),
        2,
        "Synapse's own metrics from both: {requests}"
    );

    // Every panel's query is valid PromQL for that Prometheus, and names metrics the
    // processes expose (or the charm's recording rules define).
    let mut names = BTreeSet::new();
    for unit in ["synapse/0", "synapse/1"] {
        let body = http_get(&format!("http://{}:9000/_synapse/metrics", cluster.address(unit)));
        names.extend(exposed(&body));
    }
    for rules in [include_str!("../../cos/prometheus_alert_rules/synapse.rules")] {
        for line in rules.lines() {
            if let Some(record) =
                line.trim().strip_prefix("- record:").or_else(|| line.trim().strip_prefix("record:"))
            {
                names.insert(record.trim().trim_matches('"').to_string());
            }
        }
    }
    let mut unknown = BTreeMap::new();
    for dashboard in DASHBOARDS {
        let dashboard: Value = serde_json::from_str(dashboard).expect("a dashboard");
        for expr in panel_queries(&dashboard) {
            let query = instantiate(&expr);
            prometheus
                .query(&query)
                .unwrap_or_else(|error| panic!("Prometheus refuses {query:?} (from {expr:?}): {error}"));
            for token in query.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
                let metric =
                    ["synapse_", "python_", "process_"].iter().any(|prefix| token.starts_with(prefix));
                if metric && !names.contains(token) {
                    unknown.insert(token.to_string(), expr.clone());
                }
            }
        }
    }
    assert!(unknown.is_empty(), "panels name metrics no scraped process exposes: {unknown:#?}");
}

/// `GET url` (plain HTTP): the body.
fn http_get(url: &str) -> String {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (authority, path) =
        rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut stream = std::net::TcpStream::connect(authority).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    raw.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
}

#[test]
fn observability_synapse_logs_reach_loki_through_pebble() {
    use crate::model::{loopback_config, E2e, Services};
    use crate::support::loki::LokiReceiver;

    let mut e2e = E2e::new();
    let (host, _) = e2e.host_on_network();
    let loki = LokiReceiver::start_on(host.into());
    e2e.deploy(&[Services::Real], &loopback_config());
    e2e.wait_for_synapse("synapse/0");
    let sim = &mut e2e.harness.sim;
    let meta = CharmMeta::from_yaml("name: loki\nprovides:\n  logging:\n    interface: loki_push_api\n")
        .expect("metadata");
    sim.add_app(AppSpec::passive("loki", meta)).expect("added");
    let (relation, runs) = sim.integrate("loki:logging", "synapse:logging").expect("integrate");
    assert_hooks_succeeded(&runs);
    let endpoint =
        BTreeMap::from([("endpoint".to_string(), serde_json::json!({"url": loki.url()}).to_string())]);
    assert_hooks_succeeded(
        &sim.set_relation_data(relation, Bag::Unit("loki/0".into()), endpoint).expect("written"),
    );
    // Synapse logs as it serves: ask it something.
    let _ = crate::http::synapse("GET", "/_matrix/client/versions", None, None);
    let arrived = poll_until(Duration::from_secs(60), Duration::from_millis(250), || {
        let streams = loki.streams();
        streams
            .iter()
            .any(|stream| stream.labels["pebble_service"] == "synapse" && !stream.lines.is_empty())
            .then_some(streams)
    });
    let streams = arrived.unwrap_or_else(|| panic!("no Synapse log line reached Loki: {:?}", loki.streams()));
    let synapse =
        streams.iter().find(|stream| stream.labels["pebble_service"] == "synapse").expect("a stream");
    assert_eq!(synapse.labels["juju_unit"], "synapse/0");
    assert_eq!(synapse.labels["juju_application"], "synapse");
    assert_eq!(synapse.labels["charm"], "synapse");
    let lines: Vec<&String> = streams.iter().flat_map(|stream| &stream.lines).collect();
    assert!(lines.iter().any(|line| line.contains("synapse.")), "Synapse's own log lines: {lines:?}");
    assert_eq!(e2e.synapse_starts("synapse/0"), 1, "forwarding restarted nothing");
}
