//! The provider's side of one relation, as every requirer unit reads it.
//!
//! [`RedisView::read`] lists the remote units, then reads the provider's application bag and
//! the bag of one remote unit: the one with the lowest unit number, so that every unit of the
//! requirer (seeing the same units) picks the same one. The host is the application bag's
//! `leader-host` when published (the master; a unit's `hostname` may be a replica), else that
//! unit's `hostname`; the port is that unit's `port` ([`DEFAULT_PORT`] when it published
//! `hostname` without one). Missing or malformed provider data is [`RedisView::NotReady`],
//! never an error.

use std::fmt;
use std::net::Ipv6Addr;

use juju::{Databag, Effect, HookToolError, HookTools, RedactedCommand, RelationId};

use crate::protocol::{DEFAULT_PORT, HOSTNAME, LEADER_HOST, PORT};

/// Where to connect. No password: the `redis` interface has none (redis-k8s turns
/// authentication off for it), so send no `AUTH`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RedisEndpoint {
    /// A DNS name or IP address; IPv6 without brackets.
    pub host: String,
    pub port: u16,
}

impl RedisEndpoint {
    /// `redis://<host>:<port>` (IPv6 in brackets), as the Python library's `url`.
    pub fn url(&self) -> String {
        format!("redis://{self}")
    }
}

impl fmt::Display for RedisEndpoint {
    /// `host:port`, IPv6 in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Why the provider's data is not usable (yet). Nothing here is an error of this unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// The relation is gone (read during its teardown, or an unknown id).
    RelationGone,
    /// No remote unit in the relation (not joined yet, all departed, or `relation-broken`).
    NoRemoteUnits,
    /// The chosen unit has published neither `hostname` nor `port` yet.
    UnitNotPublished { unit: String },
    /// No `leader-host`, and the chosen unit published `port` but no `hostname`.
    HostnameMissing { unit: String },
    /// The chosen unit's `hostname` is not a host name or IP address.
    HostnameMalformed { unit: String, value: String },
    /// The application bag's `leader-host` is not a host name or IP address.
    LeaderHostMalformed { value: String },
    /// The chosen unit's `port` is not a port number (1–65535, decimal digits).
    PortMalformed { unit: String, value: String },
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RelationGone => f.write_str("the relation is gone"),
            Self::NoRemoteUnits => f.write_str("no redis unit in the relation"),
            Self::UnitNotPublished { unit } => write!(f, "{unit} has published no address yet"),
            Self::HostnameMissing { unit } => write!(f, "{unit} published a port but no hostname"),
            Self::HostnameMalformed { unit, value } => {
                write!(f, "hostname of {unit} is malformed: {value:?}")
            }
            Self::LeaderHostMalformed { value } => write!(f, "leader-host is malformed: {value:?}"),
            Self::PortMalformed { unit, value } => write!(f, "port of {unit} is malformed: {value:?}"),
        }
    }
}

/// The provider's side of a relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisView {
    Ready(RedisEndpoint),
    NotReady(NotReady),
}

/// A hook-tool call failed for a reason that says nothing about the provider's data. The
/// source names the command, its exit code and stderr.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot list the remote units of relation {relation}")]
    Units {
        relation: RelationId,
        #[source]
        source: HookToolError,
    },
    #[error("cannot read the application bag of {app} on relation {relation}")]
    AppBag {
        relation: RelationId,
        app: String,
        #[source]
        source: HookToolError,
    },
    #[error("cannot read the bag of {unit} on relation {relation}")]
    UnitBag {
        relation: RelationId,
        unit: String,
        #[source]
        source: HookToolError,
    },
}

impl ReadError {
    pub fn tool_error(&self) -> &HookToolError {
        match self {
            Self::Units { source, .. } | Self::AppBag { source, .. } | Self::UnitBag { source, .. } => source,
        }
    }

    /// The failed command line (`None` only if the call could not even be prepared).
    pub fn command(&self) -> Option<&RedactedCommand> {
        self.tool_error().command()
    }
}

impl RedisView {
    /// Reads the provider's side of `relation` (any unit may): `relation-list`, then one
    /// `relation-get` of the provider's application bag and one of the chosen unit's bag.
    pub fn read(tools: &HookTools, relation: &RelationId) -> Result<Self, ReadError> {
        let units = match tools.relation_list(relation) {
            Ok(units) => units,
            Err(error) if error.is_relation_not_found() => return Ok(Self::NotReady(NotReady::RelationGone)),
            Err(source) => return Err(ReadError::Units { relation: relation.clone(), source }),
        };
        let Some(unit) = chosen_unit(&units) else {
            return Ok(Self::NotReady(NotReady::NoRemoteUnits));
        };
        // Remote units are named after the remote application as this model knows it (the
        // offer's alias across models), as `relation-list --app` would name it.
        let app = unit.rsplit_once('/').map_or(unit, |(app, _)| app);
        let app_bag = match tools.relation_get_app(relation, app) {
            Ok(bag) => bag,
            Err(error) if error.is_relation_not_found() => return Ok(Self::NotReady(NotReady::RelationGone)),
            Err(source) => {
                return Err(ReadError::AppBag { relation: relation.clone(), app: app.to_string(), source })
            }
        };
        let unit_bag = match tools.relation_get_unit(relation, unit) {
            Ok(bag) => bag,
            Err(error) if error.is_relation_not_found() => return Ok(Self::NotReady(NotReady::RelationGone)),
            Err(source) => {
                return Err(ReadError::UnitBag { relation: relation.clone(), unit: unit.to_string(), source })
            }
        };
        Ok(match endpoint(&app_bag, unit, &unit_bag) {
            Ok(endpoint) => Self::Ready(endpoint),
            Err(reason) => Self::NotReady(reason),
        })
    }
}

/// What the requirer writes on `relation`: nothing. The `redis` requirer publishes no
/// request (§2 of the integration spec), and redis-k8s answers any relation as it is; this
/// plan exists so that a charm treats every interface alike.
pub fn plan_requirer(relation: &RelationId) -> Vec<Effect> {
    let _ = relation;
    Vec::new()
}

/// The remote unit every requirer unit reads: the lowest unit number (names without a number
/// come last, by name).
pub(crate) fn chosen_unit(units: &[String]) -> Option<&str> {
    let number = |unit: &str| unit.rsplit_once('/').and_then(|(_, number)| number.parse::<u64>().ok());
    units.iter().map(String::as_str).min_by(|a, b| match (number(a), number(b)) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    })
}

/// The endpoint from the provider's application bag and the chosen unit's bag.
fn endpoint(app_bag: &Databag, unit: &str, unit_bag: &Databag) -> Result<RedisEndpoint, NotReady> {
    let get = |bag: &Databag, key: &str| {
        bag.get(key).map(|value| value.trim()).filter(|value| !value.is_empty()).map(str::to_string)
    };
    let (hostname, port) = (get(unit_bag, HOSTNAME), get(unit_bag, PORT));
    if hostname.is_none() && port.is_none() {
        return Err(NotReady::UnitNotPublished { unit: unit.to_string() });
    }
    let host = match get(app_bag, LEADER_HOST) {
        Some(value) => parse_host(&value).ok_or(NotReady::LeaderHostMalformed { value })?,
        None => {
            let value = hostname.ok_or_else(|| NotReady::HostnameMissing { unit: unit.to_string() })?;
            parse_host(&value).ok_or_else(|| NotReady::HostnameMalformed { unit: unit.to_string(), value })?
        }
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(value) => {
            parse_port(&value).ok_or_else(|| NotReady::PortMalformed { unit: unit.to_string(), value })?
        }
    };
    Ok(RedisEndpoint { host, port })
}

/// A DNS name, an IPv4 address, or an IPv6 address (bare or in brackets; returned bare).
fn parse_host(text: &str) -> Option<String> {
    let bare = text.strip_prefix('[').and_then(|rest| rest.strip_suffix(']'));
    if let Some(address) = bare {
        return address.parse::<Ipv6Addr>().is_ok().then(|| address.to_string());
    }
    if text.parse::<Ipv6Addr>().is_ok() {
        return Some(text.to_string());
    }
    let name = |label: &str| {
        !label.is_empty()
            && !label.starts_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    };
    let text_without_root = text.strip_suffix('.').unwrap_or(text);
    (text.len() <= 253 && text_without_root.split('.').all(name)).then(|| text.to_string())
}

/// Decimal digits only, 1–65535.
fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|port| *port != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bag(entries: &[(&str, &str)]) -> Databag {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// What Juju itself puts in every unit bag.
    const JUJU_KEYS: [(&str, &str); 3] =
        [("private-address", "10.1.0.7"), ("ingress-address", "10.1.0.7"), ("egress-subnets", "10.1.0.7/32")];

    fn unit_bag(entries: &[(&str, &str)]) -> Databag {
        let mut bag = bag(&JUJU_KEYS);
        bag.extend(entries.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        bag
    }

    fn read(app: &[(&str, &str)], unit: &[(&str, &str)]) -> Result<RedisEndpoint, NotReady> {
        endpoint(&bag(app), "redis-k8s/0", &unit_bag(unit))
    }

    fn at(host: &str, port: u16) -> RedisEndpoint {
        RedisEndpoint { host: host.into(), port }
    }

    const FQDN: &str = "redis-k8s-0.redis-k8s-endpoints.dev.svc.cluster.local";

    #[test]
    fn leader_host_wins_over_the_units_hostname_with_the_units_port() {
        let unit = [("hostname", "10.1.0.8"), ("port", "6379")];
        assert_eq!(read(&[("leader-host", "10.1.0.9")], &unit), Ok(at("10.1.0.9", 6379)));
        assert_eq!(read(&[("leader-host", FQDN)], &unit), Ok(at(FQDN, 6379)));
        assert_eq!(
            read(&[("leader-host", "10.1.0.9")], &[("hostname", "x"), ("port", "7000")]),
            Ok(at("10.1.0.9", 7000))
        );
        // Without leader-host (redis-k8s before LIBPATCH 7's charm), the unit's hostname.
        assert_eq!(read(&[], &unit), Ok(at("10.1.0.8", 6379)));
        assert_eq!(read(&[("leader-host", " ")], &unit), Ok(at("10.1.0.8", 6379)), "blank is absent");
    }

    #[test]
    fn a_hostname_without_port_serves_on_6379_as_synapse_assumes() {
        assert_eq!(read(&[], &[("hostname", "10.1.0.8")]), Ok(at("10.1.0.8", DEFAULT_PORT)));
        assert_eq!(
            read(&[("leader-host", "10.1.0.9")], &[("hostname", "10.1.0.8")]),
            Ok(at("10.1.0.9", 6379))
        );
    }

    #[test]
    fn each_missing_or_malformed_value_is_its_own_reason() {
        let unit = || "redis-k8s/0".to_string();
        // Juju's own keys are no answer, with or without leader-host.
        assert_eq!(read(&[], &[]), Err(NotReady::UnitNotPublished { unit: unit() }));
        assert_eq!(
            read(&[("leader-host", "10.1.0.9")], &[]),
            Err(NotReady::UnitNotPublished { unit: unit() })
        );
        assert_eq!(read(&[], &[("port", "6379")]), Err(NotReady::HostnameMissing { unit: unit() }));
        assert_eq!(read(&[("leader-host", "10.1.0.9")], &[("port", "6379")]), Ok(at("10.1.0.9", 6379)));
        for bad in ["redis://10.1.0.8", "10.1.0.8:6379", "a b", "-x", "x..y", "fd00::zz", "[10.1.0.8]"] {
            assert_eq!(
                read(&[], &[("hostname", bad), ("port", "6379")]),
                Err(NotReady::HostnameMalformed { unit: unit(), value: bad.into() }),
                "{bad}"
            );
            assert_eq!(
                read(&[("leader-host", bad)], &[("hostname", "10.1.0.8"), ("port", "6379")]),
                Err(NotReady::LeaderHostMalformed { value: bad.into() }),
                "{bad}"
            );
        }
        for bad in ["abc", "0", "65536", "+6379", "-1", "63 79", "6379.0", "0x18eb"] {
            assert_eq!(
                read(&[], &[("hostname", "10.1.0.8"), ("port", bad)]),
                Err(NotReady::PortMalformed { unit: unit(), value: bad.into() }),
                "{bad}"
            );
        }
    }

    #[test]
    fn hosts_and_ports_that_are_accepted() {
        for (text, host) in [
            ("10.1.0.8", "10.1.0.8"),
            (" 10.1.0.8\n", "10.1.0.8"),
            ("fd00::1", "fd00::1"),
            ("[fd00::1]", "fd00::1"),
            (FQDN, FQDN),
            ("redis.local.", "redis.local."),
            ("redis_k8s", "redis_k8s"),
        ] {
            assert_eq!(read(&[], &[("hostname", text)]).map(|e| e.host), Ok(host.to_string()), "{text:?}");
        }
        for (text, port) in [("1", 1), ("6379", 6379), (" 6380 ", 6380), ("65535", 65535), ("06379", 6379)] {
            assert_eq!(read(&[], &[("hostname", "h"), ("port", text)]).map(|e| e.port), Ok(port), "{text:?}");
        }
    }

    #[test]
    fn the_lowest_unit_number_is_chosen_whatever_the_order() {
        let units = |names: &[&str]| names.iter().map(|name| name.to_string()).collect::<Vec<_>>();
        assert_eq!(chosen_unit(&units(&[])), None);
        assert_eq!(chosen_unit(&units(&["redis-k8s/10", "redis-k8s/2", "redis-k8s/3"])), Some("redis-k8s/2"));
        assert_eq!(chosen_unit(&units(&["redis-k8s/3", "redis-k8s/0"])), Some("redis-k8s/0"));
        assert_eq!(chosen_unit(&units(&["odd", "redis-k8s/7"])), Some("redis-k8s/7"));
        assert_eq!(chosen_unit(&units(&["b", "a"])), Some("a"));
    }

    #[test]
    fn endpoints_show_as_host_port_and_url() {
        assert_eq!(at("10.1.0.8", 6379).to_string(), "10.1.0.8:6379");
        assert_eq!(at("fd00::1", 6379).url(), "redis://[fd00::1]:6379");
        assert_eq!(at(FQDN, 6380).url(), format!("redis://{FQDN}:6380"));
    }

    #[test]
    fn the_requirer_writes_nothing() {
        assert!(plan_requirer(&RelationId::new("redis", 3)).is_empty());
    }

    #[test]
    fn reasons_read_well() {
        let reason = NotReady::PortMalformed { unit: "redis-k8s/0".into(), value: "abc".into() };
        assert_eq!(reason.to_string(), "port of redis-k8s/0 is malformed: \"abc\"");
        assert_eq!(NotReady::NoRemoteUnits.to_string(), "no redis unit in the relation");
    }
}
