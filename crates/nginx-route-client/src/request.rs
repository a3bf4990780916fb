//! The request: what the requirer's leader writes in its application bag.
//!
//! The Python library reconciles in every dispatch: keys not in its config are deleted, the
//! rest set to `str(value)`. [`plan_app`] reaches the same bag with one `relation-set` of what
//! differs, and plans nothing when the bag already holds the request.

use juju::{Bag, Databag, Effect, RelationId};

use crate::protocol::{
    ADDITIONAL_HOSTNAMES, BACKEND_PROTOCOL, ENABLE_ACCESS_LOG, LIMIT_RPS, LIMIT_WHITELIST, MAX_BODY_SIZE,
    OWASP_MODSECURITY_CRS, OWASP_MODSECURITY_CUSTOM_RULES, PATH_ROUTES, RETRY_ERRORS, REWRITE_ENABLED,
    REWRITE_TARGET, SERVICE_HOSTNAME, SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_PORT, SESSION_COOKIE_MAX_AGE,
    TLS_SECRET_NAME,
};

/// What the requirer asks nginx-ingress-integrator for. `None` leaves a key out (and deletes
/// it when published before); so does an empty string, which Juju cannot store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxRouteRequest {
    pub service_hostname: String,
    pub service_name: String,
    pub service_port: u16,
    /// The model name unless set otherwise.
    pub service_namespace: String,
    /// Comma-separated.
    pub additional_hostnames: Option<String>,
    pub backend_protocol: Option<String>,
    pub enable_access_log: Option<bool>,
    pub limit_rps: Option<u32>,
    /// Comma-separated CIDRs.
    pub limit_whitelist: Option<String>,
    /// In MB.
    pub max_body_size: Option<u32>,
    pub owasp_modsecurity_crs: Option<String>,
    pub owasp_modsecurity_custom_rules: Option<String>,
    /// Comma-separated.
    pub path_routes: Option<String>,
    /// Comma-separated.
    pub retry_errors: Option<String>,
    pub rewrite_target: Option<String>,
    pub rewrite_enabled: Option<bool>,
    /// In seconds.
    pub session_cookie_max_age: Option<u64>,
    pub tls_secret_name: Option<String>,
}

impl NginxRouteRequest {
    /// A route for `service_hostname` to port `service_port` of the Service `service_name` in
    /// the namespace `model` (the hook context's `model_name`), without optional keys.
    /// Synapse sends its application name as host and Service name, and port 8080.
    pub fn new(
        model: impl Into<String>,
        service_hostname: impl Into<String>,
        service_name: impl Into<String>,
        service_port: u16,
    ) -> Self {
        Self {
            service_hostname: service_hostname.into(),
            service_name: service_name.into(),
            service_port,
            service_namespace: model.into(),
            additional_hostnames: None,
            backend_protocol: None,
            enable_access_log: None,
            limit_rps: None,
            limit_whitelist: None,
            max_body_size: None,
            owasp_modsecurity_crs: None,
            owasp_modsecurity_custom_rules: None,
            path_routes: None,
            retry_errors: None,
            rewrite_target: None,
            rewrite_enabled: None,
            session_cookie_max_age: None,
            tls_secret_name: None,
        }
    }

    /// The application bag that holds exactly this request.
    pub fn to_databag(&self) -> Databag {
        let text = |value: &Option<String>| value.clone();
        let number = |value: Option<u64>| value.map(|n| n.to_string());
        let entries = [
            (SERVICE_HOSTNAME, Some(self.service_hostname.clone())),
            (SERVICE_NAME, Some(self.service_name.clone())),
            (SERVICE_PORT, Some(self.service_port.to_string())),
            (SERVICE_NAMESPACE, Some(self.service_namespace.clone())),
            (ADDITIONAL_HOSTNAMES, text(&self.additional_hostnames)),
            (BACKEND_PROTOCOL, text(&self.backend_protocol)),
            (ENABLE_ACCESS_LOG, self.enable_access_log.map(|on| on.to_string())),
            (LIMIT_RPS, number(self.limit_rps.map(u64::from))),
            (LIMIT_WHITELIST, text(&self.limit_whitelist)),
            (MAX_BODY_SIZE, number(self.max_body_size.map(u64::from))),
            (OWASP_MODSECURITY_CRS, text(&self.owasp_modsecurity_crs)),
            (OWASP_MODSECURITY_CUSTOM_RULES, text(&self.owasp_modsecurity_custom_rules)),
            (PATH_ROUTES, text(&self.path_routes)),
            (RETRY_ERRORS, text(&self.retry_errors)),
            (REWRITE_TARGET, text(&self.rewrite_target)),
            (REWRITE_ENABLED, self.rewrite_enabled.map(python_bool)),
            (SESSION_COOKIE_MAX_AGE, number(self.session_cookie_max_age)),
            (TLS_SECRET_NAME, text(&self.tls_secret_name)),
        ];
        entries
            .into_iter()
            .filter_map(|(key, value)| {
                value.filter(|value| !value.is_empty()).map(|value| (key.to_string(), value))
            })
            .collect()
    }
}

/// Python's `str(bool)`.
fn python_bool(on: bool) -> String {
    if on { "True" } else { "False" }.to_string()
}

/// The leader's writes for `request` against `current_app_bag`, this application's bag on
/// `relation` as the leader reads it: at most one `relation-set` of the keys whose text
/// differs, deleting every key the request does not have. Empty when the bag holds it.
pub fn plan_app(
    relation: &RelationId,
    current_app_bag: &Databag,
    request: &NginxRouteRequest,
) -> Vec<Effect> {
    let wanted = request.to_databag();
    let mut changes: Databag = wanted
        .iter()
        .filter(|(key, value)| current_app_bag.get(*key) != Some(*value))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let stale = current_app_bag.iter().filter(|(key, value)| !value.is_empty() && !wanted.contains_key(*key));
    changes.extend(stale.map(|(key, _)| (key.clone(), String::new())));
    match changes.is_empty() {
        true => Vec::new(),
        false => vec![Effect::relation_set(relation.clone(), Bag::App, changes)],
    }
}

#[cfg(test)]
mod tests {
    use juju::effects::Value;

    use super::*;

    fn relation() -> RelationId {
        RelationId::new("nginx-route", 5)
    }

    fn bag(entries: &[(&str, &str)]) -> Databag {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn synapse() -> NginxRouteRequest {
        NginxRouteRequest::new("prod", "synapse", "synapse", 8080)
    }

    fn written(effects: &[Effect]) -> Databag {
        match effects {
            [] => Databag::new(),
            [Effect::RelationSet { relation: at, bag: Bag::App, data }] => {
                assert_eq!(at, &relation());
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
    fn the_minimal_request_has_the_namespace_from_the_model() {
        assert_eq!(
            synapse().to_databag(),
            bag(&[
                ("service-hostname", "synapse"),
                ("service-name", "synapse"),
                ("service-port", "8080"),
                ("service-namespace", "prod"),
            ])
        );
        let elsewhere = NginxRouteRequest { service_namespace: "matrix".into(), ..synapse() };
        assert_eq!(elsewhere.to_databag()["service-namespace"], "matrix");
    }

    #[test]
    fn every_optional_key_is_a_plain_string_as_python_str_makes_it() {
        let full = NginxRouteRequest {
            additional_hostnames: Some("a.example.com,b.example.com".into()),
            backend_protocol: Some("HTTPS".into()),
            enable_access_log: Some(true),
            limit_rps: Some(20),
            limit_whitelist: Some("10.0.0.0/8".into()),
            max_body_size: Some(50),
            owasp_modsecurity_crs: Some("true".into()),
            owasp_modsecurity_custom_rules: Some("SecRuleEngine On".into()),
            path_routes: Some("/_matrix,/_synapse".into()),
            retry_errors: Some("error,timeout".into()),
            rewrite_target: Some("/".into()),
            rewrite_enabled: Some(true),
            session_cookie_max_age: Some(3600),
            tls_secret_name: Some("synapse-tls".into()),
            ..synapse()
        };
        assert_eq!(
            full.to_databag(),
            bag(&[
                ("service-hostname", "synapse"),
                ("service-name", "synapse"),
                ("service-port", "8080"),
                ("service-namespace", "prod"),
                ("additional-hostnames", "a.example.com,b.example.com"),
                ("backend-protocol", "HTTPS"),
                ("enable-access-log", "true"),
                ("limit-rps", "20"),
                ("limit-whitelist", "10.0.0.0/8"),
                ("max-body-size", "50"),
                ("owasp-modsecurity-crs", "true"),
                ("owasp-modsecurity-custom-rules", "SecRuleEngine On"),
                ("path-routes", "/_matrix,/_synapse"),
                ("retry-errors", "error,timeout"),
                ("rewrite-target", "/"),
                ("rewrite-enabled", "True"),
                ("session-cookie-max-age", "3600"),
                ("tls-secret-name", "synapse-tls"),
            ])
        );
        let off =
            NginxRouteRequest { enable_access_log: Some(false), rewrite_enabled: Some(false), ..synapse() };
        let sent = off.to_databag();
        assert_eq!(
            (sent["enable-access-log"].as_str(), sent["rewrite-enabled"].as_str()),
            ("false", "False")
        );
    }

    #[test]
    fn empty_strings_are_left_out() {
        let empty = NginxRouteRequest { tls_secret_name: Some(String::new()), ..synapse() };
        assert_eq!(empty.to_databag(), synapse().to_databag());
    }

    #[test]
    fn only_differences_are_written_stale_keys_deleted_and_a_held_request_is_left_alone() {
        let first = written(&plan_app(&relation(), &Databag::new(), &synapse()));
        assert_eq!(first, synapse().to_databag());
        assert!(plan_app(&relation(), &first, &synapse()).is_empty());

        let mut held = first;
        held.insert("tls-secret-name".into(), "old-tls".into());
        held.insert("rewrite-enabled".into(), "true".into());
        held.insert("service-port".into(), "80".into());
        let wanted = NginxRouteRequest { rewrite_enabled: Some(true), ..synapse() };
        assert_eq!(
            written(&plan_app(&relation(), &held, &wanted)),
            bag(&[("tls-secret-name", ""), ("rewrite-enabled", "True"), ("service-port", "8080")])
        );
    }
}
