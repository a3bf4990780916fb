//! Scrape jobs as the provider publishes them: the subset of Prometheus' `scrape_config`
//! the library lets through, each job carrying `metrics_path` explicitly.
//!
//! A target `*:<port>` means "every unit of this application on `<port>`": the consumer
//! makes one job per unit, putting the unit's `prometheus_scrape_unit_address` in place of
//! `*`, and labels the series with the unit's topology.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::protocol::{DEFAULT_METRICS_PATH, DEFAULT_PORT};

/// One scrape target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `*:<port>`: every unit that published its address.
    AllUnits(u16),
    /// A fixed `host:port`, scraped as one target without a unit label.
    Fixed { host: String, port: u16 },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AllUnits(port) => write!(f, "*:{port}"),
            Self::Fixed { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Self::Fixed { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// A `static_configs` entry: targets with extra labels.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StaticConfig {
    pub targets: Vec<Target>,
    pub labels: BTreeMap<String, String>,
}

/// A Prometheus `relabel_config`; unset fields take Prometheus' defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelabelConfig {
    pub source_labels: Vec<String>,
    pub separator: Option<String>,
    pub regex: Option<String>,
    pub target_label: Option<String>,
    pub replacement: Option<String>,
    /// `replace` (default), `keep`, `drop`, `labelmap`, `labeldrop`, `labelkeep`, ...
    pub action: Option<String>,
}

impl RelabelConfig {
    /// Sets `target_label` to `replacement` (which may use `$1` from `regex`) on every series.
    pub fn set(target_label: impl Into<String>, replacement: impl Into<String>) -> Self {
        Self {
            target_label: Some(target_label.into()),
            replacement: Some(replacement.into()),
            ..Self::default()
        }
    }

    /// Keeps only series whose `source_labels` match `regex`.
    pub fn keep(source_labels: &[&str], regex: impl Into<String>) -> Self {
        Self {
            source_labels: source_labels.iter().map(|label| label.to_string()).collect(),
            regex: Some(regex.into()),
            action: Some("keep".into()),
            ..Self::default()
        }
    }

    /// Drops the series whose `source_labels` match `regex`.
    pub fn drop(source_labels: &[&str], regex: impl Into<String>) -> Self {
        Self { action: Some("drop".into()), ..Self::keep(source_labels, regex) }
    }

    fn to_json(&self) -> Value {
        let mut map = Map::new();
        if !self.source_labels.is_empty() {
            map.insert("source_labels".into(), self.source_labels.clone().into());
        }
        let optional = [
            ("separator", &self.separator),
            ("regex", &self.regex),
            ("target_label", &self.target_label),
            ("replacement", &self.replacement),
            ("action", &self.action),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                map.insert(key.into(), Value::String(value.clone()));
            }
        }
        Value::Object(map)
    }
}

/// One scrape job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeJob {
    job_name: Option<String>,
    metrics_path: String,
    static_configs: Vec<StaticConfig>,
    scrape_interval: Option<String>,
    scrape_timeout: Option<String>,
    scheme: Option<String>,
    relabel_configs: Vec<RelabelConfig>,
    metric_relabel_configs: Vec<RelabelConfig>,
    sample_limit: Option<u64>,
}

/// A job the consumer would refuse or misread.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidJob {
    #[error("job {job}: the job name is empty")]
    EmptyName { job: usize },
    #[error("two jobs are named {0:?}")]
    DuplicateName(String),
    #[error("job {job}: metrics_path {path:?} does not start with /")]
    MetricsPath { job: String, path: String },
    #[error("job {job}: no target")]
    NoTarget { job: String },
    #[error("job {job}: port 0")]
    Port { job: String },
    #[error("job {job}: {field} {value:?} is not a Prometheus duration")]
    Duration { job: String, field: &'static str, value: String },
    #[error("job {job}: scheme {scheme:?} is neither http nor https")]
    Scheme { job: String, scheme: String },
}

impl ScrapeJob {
    /// An unnamed job scraping every unit on `port` at `/metrics`.
    pub fn all_units(port: u16) -> Self {
        Self {
            job_name: None,
            metrics_path: DEFAULT_METRICS_PATH.to_string(),
            static_configs: vec![StaticConfig {
                targets: vec![Target::AllUnits(port)],
                labels: BTreeMap::new(),
            }],
            scrape_interval: None,
            scrape_timeout: None,
            scheme: None,
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
            sample_limit: None,
        }
    }

    /// Names the job; the consumer prefixes it with the topology and, per unit, suffixes
    /// `-<unit number>`. Keep it a fixed string.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.job_name = Some(name.into());
        self
    }

    pub fn with_metrics_path(mut self, path: impl Into<String>) -> Self {
        self.metrics_path = path.into();
        self
    }

    /// Adds `*:<port>` to the first static config.
    pub fn with_port(mut self, port: u16) -> Self {
        self.static_configs[0].targets.push(Target::AllUnits(port));
        self
    }

    /// Adds a fixed `host:port` target to the first static config.
    pub fn with_fixed_target(mut self, host: impl Into<String>, port: u16) -> Self {
        self.static_configs[0].targets.push(Target::Fixed { host: host.into(), port });
        self
    }

    /// Sets a label on every series of the first static config.
    pub fn with_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.static_configs[0].labels.insert(name.into(), value.into());
        self
    }

    /// Adds a static config of its own (its own targets and labels).
    pub fn with_static_config(mut self, config: StaticConfig) -> Self {
        self.static_configs.push(config);
        self
    }

    pub fn with_scrape_interval(mut self, interval: impl Into<String>) -> Self {
        self.scrape_interval = Some(interval.into());
        self
    }

    pub fn with_scrape_timeout(mut self, timeout: impl Into<String>) -> Self {
        self.scrape_timeout = Some(timeout.into());
        self
    }

    pub fn with_scheme(mut self, scheme: impl Into<String>) -> Self {
        self.scheme = Some(scheme.into());
        self
    }

    /// Relabels targets before the scrape (`relabel_configs`).
    pub fn with_relabel(mut self, relabel: RelabelConfig) -> Self {
        self.relabel_configs.push(relabel);
        self
    }

    /// Relabels or filters series after the scrape (`metric_relabel_configs`).
    pub fn with_metric_relabel(mut self, relabel: RelabelConfig) -> Self {
        self.metric_relabel_configs.push(relabel);
        self
    }

    pub fn with_sample_limit(mut self, limit: u64) -> Self {
        self.sample_limit = Some(limit);
        self
    }

    pub fn name(&self) -> Option<&str> {
        self.job_name.as_deref()
    }

    pub fn metrics_path(&self) -> &str {
        &self.metrics_path
    }

    pub fn static_configs(&self) -> &[StaticConfig] {
        &self.static_configs
    }

    /// The job as the library publishes it, keys in its order: `metrics_path` and
    /// `static_configs` first (the library overlays the job on its default), then the rest.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("metrics_path".into(), Value::String(self.metrics_path.clone()));
        let configs = self
            .static_configs
            .iter()
            .map(|config| {
                let mut entry = Map::new();
                let targets = config.targets.iter().map(|target| Value::String(target.to_string())).collect();
                entry.insert("targets".into(), Value::Array(targets));
                if !config.labels.is_empty() {
                    let labels =
                        config.labels.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
                    entry.insert("labels".into(), Value::Object(labels));
                }
                Value::Object(entry)
            })
            .collect();
        map.insert("static_configs".into(), Value::Array(configs));
        if let Some(name) = &self.job_name {
            map.insert("job_name".into(), Value::String(name.clone()));
        }
        for (key, value) in [
            ("scrape_interval", &self.scrape_interval),
            ("scrape_timeout", &self.scrape_timeout),
            ("scheme", &self.scheme),
        ] {
            if let Some(value) = value {
                map.insert(key.into(), Value::String(value.clone()));
            }
        }
        for (key, relabels) in [
            ("relabel_configs", &self.relabel_configs),
            ("metric_relabel_configs", &self.metric_relabel_configs),
        ] {
            if !relabels.is_empty() {
                map.insert(key.into(), relabels.iter().map(RelabelConfig::to_json).collect());
            }
        }
        if let Some(limit) = self.sample_limit {
            map.insert("sample_limit".into(), limit.into());
        }
        Value::Object(map)
    }

    fn check(&self, index: usize) -> Result<(), InvalidJob> {
        let job = self.job_name.clone().unwrap_or_else(|| format!("#{index}"));
        if self.job_name.as_deref() == Some("") {
            return Err(InvalidJob::EmptyName { job: index });
        }
        if !self.metrics_path.starts_with('/') {
            return Err(InvalidJob::MetricsPath { job, path: self.metrics_path.clone() });
        }
        let targets = self.static_configs.iter().flat_map(|config| &config.targets);
        if targets.clone().next().is_none() {
            return Err(InvalidJob::NoTarget { job });
        }
        let port_zero = targets
            .clone()
            .any(|target| matches!(target, Target::AllUnits(0) | Target::Fixed { port: 0, .. }));
        if port_zero {
            return Err(InvalidJob::Port { job });
        }
        for (field, value) in
            [("scrape_interval", &self.scrape_interval), ("scrape_timeout", &self.scrape_timeout)]
        {
            if let Some(value) = value.as_ref().filter(|value| !is_duration(value)) {
                return Err(InvalidJob::Duration { job, field, value: value.clone() });
            }
        }
        if let Some(scheme) =
            self.scheme.as_ref().filter(|scheme| !matches!(scheme.as_str(), "http" | "https"))
        {
            return Err(InvalidJob::Scheme { job, scheme: scheme.clone() });
        }
        Ok(())
    }
}

/// The `scrape_jobs` list for `jobs`, checked; no job gives the library's default
/// (`/metrics` on `*:80`).
pub fn jobs_json(jobs: &[ScrapeJob]) -> Result<Value, InvalidJob> {
    let mut names = Vec::new();
    for (index, job) in jobs.iter().enumerate() {
        job.check(index)?;
        if let Some(name) = job.name() {
            if names.contains(&name) {
                return Err(InvalidJob::DuplicateName(name.to_string()));
            }
            names.push(name);
        }
    }
    if jobs.is_empty() {
        return Ok(Value::Array(vec![ScrapeJob::all_units(DEFAULT_PORT).to_json()]));
    }
    Ok(Value::Array(jobs.iter().map(ScrapeJob::to_json).collect()))
}

/// A Prometheus duration: one or more `<digits><unit>` with units `ms`, `s`, `m`, `h`, `d`,
/// `w`, `y`.
fn is_duration(text: &str) -> bool {
    let mut rest = text;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ms", "s", "m", "h", "d", "w", "y"].iter().find(|unit| rest.starts_with(**unit));
        match unit {
            Some(unit) => rest = &rest[unit.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_carries_its_path_targets_and_options_in_the_librarys_order() {
        let job = ScrapeJob::all_units(9000)
            .with_name("synapse_application")
            .with_port(9101)
            .with_fixed_target("fd00::1", 9877)
            .with_label("role", "homeserver")
            .with_scrape_interval("30s")
            .with_scrape_timeout("10s")
            .with_scheme("http")
            .with_relabel(RelabelConfig::set("worker", "$1"))
            .with_metric_relabel(RelabelConfig::drop(&["__name__"], "python_gc_.*"))
            .with_sample_limit(50_000);
        assert_eq!(
            serde_json::to_string(&job.to_json()).unwrap(),
            concat!(
                r#"{"metrics_path":"/metrics","static_configs":[{"targets":["*:9000","*:9101","[fd00::1]:9877"],"#,
                r#""labels":{"role":"homeserver"}}],"job_name":"synapse_application","scrape_interval":"30s","#,
                r#""scrape_timeout":"10s","scheme":"http","relabel_configs":[{"target_label":"worker","replacement":"$1"}],"#,
                r#""metric_relabel_configs":[{"source_labels":["__name__"],"regex":"python_gc_.*","action":"drop"}],"#,
                r#""sample_limit":50000}"#
            )
        );
    }

    #[test]
    fn no_job_is_the_librarys_default_and_names_must_be_unique() {
        assert_eq!(
            jobs_json(&[]).unwrap(),
            serde_json::json!([{"metrics_path": "/metrics", "static_configs": [{"targets": ["*:80"]}]}])
        );
        let twice = [ScrapeJob::all_units(1).with_name("a"), ScrapeJob::all_units(2).with_name("a")];
        assert_eq!(jobs_json(&twice), Err(InvalidJob::DuplicateName("a".into())));
        let unnamed = [ScrapeJob::all_units(1), ScrapeJob::all_units(2)];
        assert_eq!(jobs_json(&unnamed).unwrap().as_array().unwrap().len(), 2);
    }

    #[test]
    fn invalid_jobs_are_refused() {
        let check = |job: ScrapeJob| jobs_json(&[job]).unwrap_err();
        assert_eq!(check(ScrapeJob::all_units(1).with_name("")), InvalidJob::EmptyName { job: 0 });
        assert_eq!(
            check(ScrapeJob::all_units(1).with_metrics_path("metrics")),
            InvalidJob::MetricsPath { job: "#0".into(), path: "metrics".into() }
        );
        assert_eq!(check(ScrapeJob::all_units(0).with_name("j")), InvalidJob::Port { job: "j".into() });
        assert!(matches!(
            check(ScrapeJob::all_units(1).with_scrape_interval("30")),
            InvalidJob::Duration { .. }
        ));
        assert!(matches!(
            check(ScrapeJob::all_units(1).with_scrape_timeout("1.5s")),
            InvalidJob::Duration { .. }
        ));
        assert!(matches!(check(ScrapeJob::all_units(1).with_scheme("ftp")), InvalidJob::Scheme { .. }));
        let mut empty = ScrapeJob::all_units(1);
        empty.static_configs[0].targets.clear();
        assert_eq!(check(empty), InvalidJob::NoTarget { job: "#0".into() });
        for good in ["1m", "1h30m", "500ms", "2d", "1w", "1y"] {
            assert!(is_duration(good), "{good}");
        }
    }

    #[test]
    fn targets_show_as_the_consumer_reads_them() {
        assert_eq!(Target::AllUnits(9000).to_string(), "*:9000");
        assert_eq!(Target::Fixed { host: "10.0.0.1".into(), port: 80 }.to_string(), "10.0.0.1:80");
        let keep = RelabelConfig::keep(&["a", "b"], "x;y");
        assert_eq!(
            keep.to_json(),
            serde_json::json!({"source_labels": ["a", "b"], "regex": "x;y", "action": "keep"})
        );
    }
}
