//! The request: what the leader writes in the application bag and every unit in its own bag.
//!
//! The Python library clears a bag, then writes every non-default field as JSON. The plans
//! here reach the same bag with one `relation-set` of what differs (keys to drop get an empty
//! value, which deletes them), and plan nothing when the bag already holds the request: a
//! value counts as held when it is the same JSON document, whatever its spacing. Values are
//! written as Python's `json.dumps` writes them (`{"path": "/health"}`, non-ASCII escaped),
//! so a bag the Python library wrote is never rewritten.

use std::fmt;
use std::net::IpAddr;

use juju::{Bag, Databag, Effect, HookContext, RelationId};

use crate::protocol::{
    DEFAULT_HEALTHCHECK_INTERVAL, DEFAULT_HEALTHCHECK_TIMEOUT, HEALTHCHECK_PARAMS, HOST, IP, JUJU_UNIT_KEYS,
    MODEL, NAME, PORT, PORTS, REDIRECT_HTTPS, SCHEME, STRIP_PREFIX,
};

/// The scheme the provider uses towards the units, and in the URL it builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    #[default]
    Http,
    Https,
    /// HTTP/2 without TLS.
    H2c,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::H2c => "h2c",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Health-check parameters (`healthcheck_params`, LIBPATCH 15 on; Traefik passes them to its
/// load balancer). Fields left at their default are not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// The path to probe; required.
    pub path: String,
    /// Replaces the server URL's scheme for the check.
    pub scheme: Option<String>,
    /// The `Host` header of the check.
    pub hostname: Option<String>,
    /// Replaces the server URL's port for the check.
    pub port: Option<u16>,
    /// How often to check, a Go duration (default `30s`).
    pub interval: String,
    /// How long a check may take, a Go duration (default `5s`).
    pub timeout: String,
}

impl HealthCheck {
    /// A check of `path` with the default interval and timeout.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            scheme: None,
            hostname: None,
            port: None,
            interval: DEFAULT_HEALTHCHECK_INTERVAL.to_string(),
            timeout: DEFAULT_HEALTHCHECK_TIMEOUT.to_string(),
        }
    }

    /// The JSON object as the Python library writes it: fields in declaration order,
    /// defaults left out, `json.dumps` spacing.
    fn to_json(&self) -> String {
        let mut fields = vec![format!("\"path\": {}", json_string(&self.path))];
        if let Some(scheme) = &self.scheme {
            fields.push(format!("\"scheme\": {}", json_string(scheme)));
        }
        if let Some(hostname) = &self.hostname {
            fields.push(format!("\"hostname\": {}", json_string(hostname)));
        }
        if let Some(port) = self.port {
            fields.push(format!("\"port\": {port}"));
        }
        if self.interval != DEFAULT_HEALTHCHECK_INTERVAL {
            fields.push(format!("\"interval\": {}", json_string(&self.interval)));
        }
        if self.timeout != DEFAULT_HEALTHCHECK_TIMEOUT {
            fields.push(format!("\"timeout\": {}", json_string(&self.timeout)));
        }
        format!("{{{}}}", fields.join(", "))
    }
}

/// A request the provider would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRequest {
    #[error("the model name is empty")]
    EmptyModel,
    #[error("the application name is empty")]
    EmptyName,
    #[error("port {0} is outside 1-65534, which the provider refuses")]
    Port(u16),
    #[error("the health-check path is empty")]
    EmptyHealthCheckPath,
}

/// What the requirer application asks of the provider (the application bag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressRequest {
    model: String,
    name: String,
    port: u16,
    strip_prefix: bool,
    redirect_https: bool,
    scheme: Scheme,
    healthcheck: Option<HealthCheck>,
}

impl IngressRequest {
    /// Ingress to `port` of application `name` in `model` (the hook context's `model_name`
    /// and `app_name`), over HTTP, without prefix stripping or HTTPS redirection.
    pub fn new(model: impl Into<String>, name: impl Into<String>, port: u16) -> Result<Self, InvalidRequest> {
        let (model, name) = (model.into(), name.into());
        if model.is_empty() {
            return Err(InvalidRequest::EmptyModel);
        }
        if name.is_empty() {
            return Err(InvalidRequest::EmptyName);
        }
        if !PORTS.contains(&port) {
            return Err(InvalidRequest::Port(port));
        }
        Ok(Self {
            model,
            name,
            port,
            strip_prefix: false,
            redirect_https: false,
            scheme: Scheme::Http,
            healthcheck: None,
        })
    }

    /// Whether the provider strips the `/<model>-<app>` prefix before forwarding.
    pub fn with_strip_prefix(mut self, strip_prefix: bool) -> Self {
        self.strip_prefix = strip_prefix;
        self
    }

    /// Whether the provider redirects HTTP to HTTPS.
    pub fn with_redirect_https(mut self, redirect_https: bool) -> Self {
        self.redirect_https = redirect_https;
        self
    }

    pub fn with_scheme(mut self, scheme: Scheme) -> Self {
        self.scheme = scheme;
        self
    }

    pub fn with_healthcheck(mut self, healthcheck: HealthCheck) -> Result<Self, InvalidRequest> {
        if healthcheck.path.is_empty() {
            return Err(InvalidRequest::EmptyHealthCheckPath);
        }
        self.healthcheck = Some(healthcheck);
        Ok(self)
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn strip_prefix(&self) -> bool {
        self.strip_prefix
    }

    pub fn redirect_https(&self) -> bool {
        self.redirect_https
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub fn healthcheck(&self) -> Option<&HealthCheck> {
        self.healthcheck.as_ref()
    }

    /// The application bag that holds exactly this request: JSON values, defaults omitted.
    pub fn to_databag(&self) -> Databag {
        let mut bag = Databag::new();
        bag.insert(MODEL.to_string(), json_string(&self.model));
        bag.insert(NAME.to_string(), json_string(&self.name));
        bag.insert(PORT.to_string(), self.port.to_string());
        if self.strip_prefix {
            bag.insert(STRIP_PREFIX.to_string(), "true".to_string());
        }
        if self.redirect_https {
            bag.insert(REDIRECT_HTTPS.to_string(), "true".to_string());
        }
        if self.scheme != Scheme::Http {
            bag.insert(SCHEME.to_string(), json_string(self.scheme.as_str()));
        }
        if let Some(healthcheck) = &self.healthcheck {
            bag.insert(HEALTHCHECK_PARAMS.to_string(), healthcheck.to_json());
        }
        bag
    }
}

/// The leader's writes for `request` against `current_app_bag`, this application's bag on
/// `relation` as the leader reads it: at most one `relation-set` of the keys that differ,
/// deleting every key the request does not have. Empty when the bag holds the request.
pub fn plan_app(relation: &RelationId, current_app_bag: &Databag, request: &IngressRequest) -> Vec<Effect> {
    plan(relation, Bag::App, current_app_bag, &request.to_databag())
}

/// A unit's writes against `current_unit_bag`, its own bag on `relation`: `host` and, when
/// known, `ip` (an unknown `ip` is deleted). Other keys a requirer wrote are deleted as the
/// Python library's clear does; the keys Juju writes itself are kept. Empty when unchanged.
pub fn plan_unit(
    relation: &RelationId,
    current_unit_bag: &Databag,
    host: &str,
    ip: Option<IpAddr>,
) -> Vec<Effect> {
    plan(relation, Bag::Unit, current_unit_bag, &unit_databag(host, ip))
}

/// The unit bag that holds exactly `host` and `ip` (Juju's own keys aside).
pub fn unit_databag(host: &str, ip: Option<IpAddr>) -> Databag {
    let mut bag = Databag::new();
    bag.insert(HOST.to_string(), json_string(host));
    if let Some(ip) = ip {
        bag.insert(IP.to_string(), json_string(&ip.to_string()));
    }
    bag
}

/// The unit's pod FQDN on Kubernetes with the default cluster domain,
/// `<app>-<n>.<app>-endpoints.<model>.svc.cluster.local`: what the Python library sends
/// (`socket.getfqdn()`) when the charm gives no host.
pub fn default_host(context: &HookContext) -> String {
    let number = context.unit_name.rsplit_once('/').map_or("0", |(_, number)| number);
    let app = &context.app_name;
    format!("{app}-{number}.{app}-endpoints.{}.svc.cluster.local", context.model_name)
}

/// The first address of the binding, as ops' `Network.bind_address` picks it; pass
/// `tools.network_get(ENDPOINT, Some(relation))`. `None` when Juju reports none.
pub fn bind_address(info: &juju::tools::NetworkInfo) -> Option<IpAddr> {
    info.bind_addresses
        .iter()
        .flat_map(|bind| &bind.addresses)
        .find_map(|address| address.value.parse::<IpAddr>().ok())
}

fn plan(relation: &RelationId, bag: Bag, current: &Databag, wanted: &Databag) -> Vec<Effect> {
    let mut changes: Databag = wanted
        .iter()
        .filter(|(key, value)| !current.get(*key).is_some_and(|held| same_json(held, value)))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let juju_key = |key: &str| bag == Bag::Unit && JUJU_UNIT_KEYS.contains(&key);
    let stale = current
        .iter()
        .filter(|(key, value)| !value.is_empty() && !wanted.contains_key(*key) && !juju_key(key));
    changes.extend(stale.map(|(key, _)| (key.clone(), String::new())));
    match changes.is_empty() {
        true => Vec::new(),
        false => vec![Effect::relation_set(relation.clone(), bag, changes)],
    }
}

/// The same JSON document (object keys in any order, any spacing); text that is not JSON
/// only equals itself.
fn same_json(held: &str, wanted: &str) -> bool {
    if held == wanted {
        return true;
    }
    match (serde_json::from_str::<serde_json::Value>(held), serde_json::from_str::<serde_json::Value>(wanted))
    {
        (Ok(held), Ok(wanted)) => held == wanted,
        _ => false,
    }
}

/// A JSON string as Python's `json.dumps` writes it: everything outside printable ASCII
/// escaped as `\uXXXX` (UTF-16, lower-case hex).
pub(crate) fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use juju::effects::Value;

    use super::*;

    fn relation() -> RelationId {
        RelationId::new("ingress", 4)
    }

    fn bag(entries: &[(&str, &str)]) -> Databag {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn request() -> IngressRequest {
        IngressRequest::new("prod", "synapse", 8080).unwrap()
    }

    /// The keys of the plan's single relation-set to `to`.
    fn written(effects: &[Effect], to: Bag) -> Databag {
        match effects {
            [] => Databag::new(),
            [Effect::RelationSet { relation: at, bag, data }] => {
                assert_eq!((at, *bag), (&relation(), to));
                data.iter()
                    .map(|(key, value)| match value {
                        Value::Text(text) => (key.clone(), text.clone()),
                        other => panic!("{other:?}"),
                    })
                    .collect()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_minimal_request_is_three_json_values() {
        assert_eq!(
            request().to_databag(),
            bag(&[("model", "\"prod\""), ("name", "\"synapse\""), ("port", "8080")])
        );
    }

    #[test]
    fn every_option_is_json_and_defaults_are_left_out() {
        let full = request()
            .with_strip_prefix(true)
            .with_redirect_https(true)
            .with_scheme(Scheme::H2c)
            .with_healthcheck(HealthCheck {
                scheme: Some("http".into()),
                hostname: Some("matrix.example.com".into()),
                port: Some(8008),
                interval: "10s".into(),
                timeout: "2s".into(),
                ..HealthCheck::new("/health")
            })
            .unwrap();
        assert_eq!(
            full.to_databag(),
            bag(&[
                ("model", "\"prod\""),
                ("name", "\"synapse\""),
                ("port", "8080"),
                ("strip-prefix", "true"),
                ("redirect-https", "true"),
                ("scheme", "\"h2c\""),
                (
                    "healthcheck_params",
                    r#"{"path": "/health", "scheme": "http", "hostname": "matrix.example.com", "port": 8008, "interval": "10s", "timeout": "2s"}"#
                ),
            ])
        );
        let defaults = request()
            .with_strip_prefix(false)
            .with_redirect_https(false)
            .with_scheme(Scheme::Http)
            .with_healthcheck(HealthCheck::new("/_matrix/client/versions"))
            .unwrap();
        let sent = defaults.to_databag();
        assert_eq!(sent["healthcheck_params"], r#"{"path": "/_matrix/client/versions"}"#);
        assert_eq!(sent.len(), 4, "{sent:?}");
        assert_eq!(request().with_scheme(Scheme::Https).to_databag()["scheme"], "\"https\"");
    }

    #[test]
    fn strings_are_escaped_as_python_json_dumps_escapes_them() {
        assert_eq!(json_string("synapse"), "\"synapse\"");
        assert_eq!(json_string("a\"b\\c/d"), r#""a\"b\\c/d""#);
        assert_eq!(json_string("l\n\t\u{1}\u{7f}"), r#""l\n\t\u0001\u007f""#);
        assert_eq!(json_string("é😀"), r#""\u00e9\ud83d\ude00""#);
        for text in ["synapse", "a\"b\\c", "é😀\u{1}"] {
            let parsed: String = serde_json::from_str(&json_string(text)).unwrap();
            assert_eq!(parsed, text);
        }
    }

    #[test]
    fn invalid_requests_are_refused() {
        assert_eq!(IngressRequest::new("", "synapse", 8080), Err(InvalidRequest::EmptyModel));
        assert_eq!(IngressRequest::new("prod", "", 8080), Err(InvalidRequest::EmptyName));
        assert_eq!(IngressRequest::new("prod", "synapse", 0), Err(InvalidRequest::Port(0)));
        assert_eq!(IngressRequest::new("prod", "synapse", 65535), Err(InvalidRequest::Port(65535)));
        assert!(IngressRequest::new("prod", "synapse", 65534).is_ok());
        assert_eq!(
            request().with_healthcheck(HealthCheck::new("")),
            Err(InvalidRequest::EmptyHealthCheckPath)
        );
        assert_eq!(
            InvalidRequest::Port(0).to_string(),
            "port 0 is outside 1-65534, which the provider refuses"
        );
    }

    #[test]
    fn a_fresh_bag_gets_everything_and_a_held_request_nothing() {
        let wanted = request().with_strip_prefix(true);
        let first = written(&plan_app(&relation(), &Databag::new(), &wanted), Bag::App);
        assert_eq!(first, wanted.to_databag());
        assert!(plan_app(&relation(), &first, &wanted).is_empty());
        // What the Python library wrote with other spacing is the same request.
        let python = bag(&[
            ("model", "\"prod\""),
            ("name", "\"synapse\""),
            ("port", "8080"),
            ("healthcheck_params", r#"{"interval":"10s", "path":"/h"}"#),
        ]);
        let with_check = request()
            .with_healthcheck(HealthCheck { interval: "10s".into(), ..HealthCheck::new("/h") })
            .unwrap();
        assert!(plan_app(&relation(), &python, &with_check).is_empty());
    }

    #[test]
    fn only_differences_are_written_and_other_keys_deleted() {
        let held = bag(&[
            ("model", "\"prod\""),
            ("name", "\"synapse\""),
            ("port", "\"8080\""),
            ("strip-prefix", "true"),
            ("host", "synapse-endpoints.prod.svc.cluster.local"),
        ]);
        let plan = written(&plan_app(&relation(), &held, &request()), Bag::App);
        assert_eq!(
            plan,
            bag(&[("port", "8080"), ("strip-prefix", ""), ("host", "")]),
            "a quoted port is a string, not the integer the provider needs"
        );
        let unquoted = bag(&[("model", "prod"), ("name", "\"synapse\""), ("port", "8080")]);
        assert_eq!(
            written(&plan_app(&relation(), &unquoted, &request()), Bag::App),
            bag(&[("model", "\"prod\"")])
        );
    }

    const FQDN: &str = "synapse-0.synapse-endpoints.prod.svc.cluster.local";

    #[test]
    fn units_publish_host_and_ip_as_json_strings() {
        let ip: IpAddr = "10.1.0.7".parse().unwrap();
        let juju_keys = [("private-address", "10.1.0.7"), ("ingress-address", "10.1.0.7")];
        let fresh = written(&plan_unit(&relation(), &bag(&juju_keys), FQDN, Some(ip)), Bag::Unit);
        assert_eq!(fresh, bag(&[("host", &format!("\"{FQDN}\"")), ("ip", "\"10.1.0.7\"")]));

        let mut held = bag(&juju_keys);
        held.extend(fresh);
        assert!(plan_unit(&relation(), &held, FQDN, Some(ip)).is_empty());

        // The address is gone: ip is deleted. IPv6 is written compressed.
        assert_eq!(written(&plan_unit(&relation(), &held, FQDN, None), Bag::Unit), bag(&[("ip", "")]));
        let v6: IpAddr = "fd00:0:0::7".parse().unwrap();
        assert_eq!(
            written(&plan_unit(&relation(), &held, FQDN, Some(v6)), Bag::Unit),
            bag(&[("ip", "\"fd00::7\"")])
        );
        // A stale key is deleted; Juju's own keys never are.
        held.insert("port".into(), "8080".into());
        held.insert("egress-subnets".into(), "10.1.0.7/32".into());
        assert_eq!(written(&plan_unit(&relation(), &held, FQDN, Some(ip)), Bag::Unit), bag(&[("port", "")]));
    }

    #[test]
    fn the_default_host_is_the_pod_fqdn() {
        let vars = [
            ("JUJU_DISPATCH_PATH", "hooks/ingress-relation-changed"),
            ("JUJU_UNIT_NAME", "synapse/12"),
            ("JUJU_MODEL_NAME", "prod"),
            ("JUJU_MODEL_UUID", "0b2a8f5e-4f6a-4d8e-9c3b-6c1f1e8a9d01"),
            ("JUJU_VERSION", "3.6.4"),
            ("JUJU_RELATION", "ingress"),
            ("JUJU_RELATION_ID", "ingress:4"),
            ("JUJU_REMOTE_APP", "traefik-k8s"),
        ];
        let var = |name: &str| vars.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string());
        let context = HookContext::from_vars(var, None).unwrap();
        assert_eq!(default_host(&context), "synapse-12.synapse-endpoints.prod.svc.cluster.local");
    }

    #[test]
    fn the_bind_address_is_the_first_parseable_one() {
        let info: juju::tools::NetworkInfo = serde_json::from_str(
            r#"{"bind-addresses": [{"interface-name": "eth0", "addresses": [
                {"hostname": "", "value": "", "cidr": ""},
                {"hostname": "", "address": "10.1.0.7", "cidr": "10.1.0.0/24"}]}],
               "ingress-addresses": ["10.1.0.7"]}"#,
        )
        .unwrap();
        assert_eq!(bind_address(&info), Some("10.1.0.7".parse().unwrap()));
        assert_eq!(bind_address(&juju::tools::NetworkInfo::default()), None);
    }
}
