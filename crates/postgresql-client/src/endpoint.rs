//! `host:port` endpoints as the provider publishes them: a comma-separated list, IPv6 hosts in
//! brackets (`[fd00::1]:5432`).

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// One server address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// A DNS name or IP address; IPv6 without brackets.
    pub host: String,
    pub port: u16,
}

/// Why an endpoint list cannot be used. Each variant carries the offending item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("no endpoint in the list")]
    Empty,
    #[error("{0:?} has no port")]
    MissingPort(String),
    #[error("{0:?} has an invalid port")]
    InvalidPort(String),
    #[error("{0:?} has an invalid host (IPv6 addresses go in brackets)")]
    InvalidHost(String),
}

impl Endpoint {
    /// Parses `host:port[,host:port...]`; whitespace around items and empty items are ignored,
    /// any malformed item rejects the whole list.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, EndpointError> {
        let endpoints = text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<Self>, _>>()?;
        if endpoints.is_empty() {
            return Err(EndpointError::Empty);
        }
        Ok(endpoints)
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(item: &str) -> Result<Self, Self::Err> {
        let (host, port) = match item.strip_prefix('[') {
            Some(rest) => {
                let (address, after) =
                    rest.split_once(']').ok_or_else(|| EndpointError::InvalidHost(item.to_string()))?;
                if address.parse::<Ipv6Addr>().is_err() {
                    return Err(EndpointError::InvalidHost(item.to_string()));
                }
                let port =
                    after.strip_prefix(':').ok_or_else(|| EndpointError::MissingPort(item.to_string()))?;
                (address, port)
            }
            None => {
                let (host, port) =
                    item.rsplit_once(':').ok_or_else(|| EndpointError::MissingPort(item.to_string()))?;
                if !is_host_name(host) {
                    return Err(EndpointError::InvalidHost(item.to_string()));
                }
                (host, port)
            }
        };
        let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
        let port = match port.parse::<u16>() {
            Ok(port) if digits && port != 0 => port,
            _ => return Err(EndpointError::InvalidPort(item.to_string())),
        };
        Ok(Self { host: host.to_string(), port })
    }
}

/// A DNS name or IPv4 address: letters, digits, `-`, `_` and `.`.
fn is_host_name(host: &str) -> bool {
    !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(host: &str, port: u16) -> Endpoint {
        Endpoint { host: host.into(), port }
    }

    #[test]
    fn parses_what_postgresql_k8s_publishes() {
        let primary = "postgresql-k8s-primary.dev.svc.cluster.local:5432";
        assert_eq!(
            Endpoint::parse_list(primary).unwrap(),
            [endpoint("postgresql-k8s-primary.dev.svc.cluster.local", 5432)]
        );
    }

    #[test]
    fn parses_lists_ipv4_and_bracketed_ipv6() {
        let list = " 10.1.2.3:5432 ,[fd00::1]:6432,db_1.local:5433,";
        let parsed = Endpoint::parse_list(list).unwrap();
        assert_eq!(
            parsed,
            [endpoint("10.1.2.3", 5432), endpoint("fd00::1", 6432), endpoint("db_1.local", 5433)]
        );
        let shown: Vec<String> = parsed.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.1.2.3:5432", "[fd00::1]:6432", "db_1.local:5433"]);
    }

    #[test]
    fn rejects_malformed_items() {
        let error = |text: &str| Endpoint::parse_list(text).unwrap_err();
        assert_eq!(error(""), EndpointError::Empty);
        assert_eq!(error(" , "), EndpointError::Empty);
        assert_eq!(error("db.local"), EndpointError::MissingPort("db.local".into()));
        assert_eq!(error("[fd00::1]"), EndpointError::MissingPort("[fd00::1]".into()));
        for bad_port in ["db:", "db:0", "db:65536", "db:+5432", "db:54x"] {
            assert!(matches!(error(bad_port), EndpointError::InvalidPort(_)), "{bad_port}");
        }
        for bad_host in [
            ":5432",
            "db:5432:",
            "fd00::1:5432",
            "[fd00::zz]:5432",
            "[fd00::1:5432",
            "user@db:5432",
            "d b:5432",
        ] {
            assert!(matches!(error(bad_host), EndpointError::InvalidHost(_)), "{bad_host}");
        }
        assert_eq!(
            error("good:5432,bad"),
            EndpointError::MissingPort("bad".into()),
            "one bad item rejects the list"
        );
    }
}
