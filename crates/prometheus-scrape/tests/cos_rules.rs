//! The rule files the charm publishes (`cos/prometheus_alert_rules`), rendered for a
//! topology as they go over the relation: every rule is stamped, every selector scoped, and
//! Prometheus' own `promtool check rules` accepts the result.

use std::path::PathBuf;
use std::process::Command;

use prometheus_scrape::{AlertRules, MetricsRequest, RuleFile, ScrapeJob, Topology};
use serde_json::Value;

const UUID: &str = "0b2a8f5e-4f6a-4d8e-9c3b-6c1f1e8a9d01";

fn cos_rules() -> AlertRules {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../cos/prometheus_alert_rules");
    let mut paths: Vec<PathBuf> =
        std::fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    paths.sort();
    let mut rules = AlertRules::new();
    for path in paths.iter().filter(|path| path.extension().is_some_and(|ext| ext == "rules")) {
        let name = path.file_name().unwrap().to_str().unwrap();
        rules = rules.with_file(RuleFile::parse(name, &std::fs::read_to_string(path).unwrap()).unwrap());
    }
    assert!(rules.files().len() >= 5, "{dir:?}");
    rules
}

fn rendered() -> Value {
    let topology = Topology::new("prod", UUID, "synapse", "synapse/0", "synapse").unwrap();
    let request = MetricsRequest::new(topology, &[ScrapeJob::all_units(9000)]).unwrap();
    request.with_alert_rules(&cos_rules().with_host_health(true)).unwrap().alert_rules().clone()
}

#[test]
fn every_rule_is_stamped_and_every_expression_scoped() {
    let rendered = rendered();
    let groups = rendered["groups"].as_array().unwrap();
    let names: Vec<&str> = groups.iter().map(|group| group["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "prod_0b2a8f5e_synapse_synapse_alerts",
            "prod_0b2a8f5e_synapse_synapse_appservices_alerts",
            "prod_0b2a8f5e_synapse_synapse_database_alerts",
            "prod_0b2a8f5e_synapse_synapse_federation_alerts",
            "prod_0b2a8f5e_synapse_synapse_workers_alerts",
            "prod_0b2a8f5e_synapse_HostHealth_alerts",
        ]
    );
    let mut alerts = 0;
    for rule in groups.iter().flat_map(|group| group["rules"].as_array().unwrap()) {
        let labels = &rule["labels"];
        assert_eq!(labels["juju_model"], "prod", "{rule}");
        assert_eq!(labels["juju_model_uuid"], UUID, "{rule}");
        assert_eq!(labels["juju_application"], "synapse", "{rule}");
        assert_eq!(labels["juju_charm"], "synapse", "{rule}");
        let expr = rule["expr"].as_str().unwrap();
        assert!(expr.contains(&format!("juju_model_uuid=\"{UUID}\"")), "{expr}");
        assert!(!expr.contains("%%"), "{expr}");
        alerts += usize::from(rule.get("alert").is_some());
    }
    assert_eq!(alerts, 25 + 2, "the charm's alerts and HostHealth's two");
}

#[test]
fn promtool_accepts_the_rendered_rules() {
    let Ok(output) = Command::new("promtool").arg("--version").output() else {
        // scripts/test installs it; in CI a missing promtool is a failure, not a skip.
        assert!(std::env::var_os("CI").is_none(), "promtool not found (apt-get install -y prometheus)");
        eprintln!("promtool not found (apt-get install -y prometheus): the check is skipped");
        return;
    };
    assert!(output.status.success());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rendered.rules");
    // JSON is YAML: the document goes to promtool as the consumer would write it.
    std::fs::write(&path, rendered().to_string()).unwrap();
    let output = Command::new("promtool").arg("check").arg("rules").arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("SUCCESS: 32 rules found"), "{stdout}");
}
