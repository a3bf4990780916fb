//! Push URLs: absolute `http` or `https` URLs with a host.

use std::fmt;
use std::str::FromStr;

/// What is wrong with a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    Empty,
    /// Contains whitespace or control characters.
    Whitespace,
    /// No `<scheme>://`.
    NotAbsolute,
    /// A scheme other than `http` and `https`.
    Scheme(String),
    NoHost,
    /// User information (`user:password@`) in the authority.
    UserInfo,
    /// A host that is neither a DNS name nor an IP address.
    Host(String),
    /// A port that is not 1–65535.
    Port(String),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty"),
            Self::Whitespace => f.write_str("contains whitespace"),
            Self::NotAbsolute => f.write_str("not an absolute URL"),
            Self::Scheme(scheme) => write!(f, "scheme {scheme:?} is neither http nor https"),
            Self::NoHost => f.write_str("no host"),
            Self::UserInfo => f.write_str("carries user information"),
            Self::Host(host) => write!(f, "host {host:?} is malformed"),
            Self::Port(port) => write!(f, "port {port:?} is malformed"),
        }
    }
}

impl std::error::Error for UrlError {}

/// An absolute `http`/`https` URL, kept as written (trimmed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PushUrl {
    text: String,
    https: bool,
    host: String,
    port: Option<u16>,
}

impl PushUrl {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host, IPv6 without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

impl fmt::Display for PushUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for PushUrl {
    type Err = UrlError;

    fn from_str(text: &str) -> Result<Self, UrlError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(UrlError::Empty);
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UrlError::Whitespace);
        }
        let (scheme, rest) = text.split_once("://").ok_or(UrlError::NotAbsolute)?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(UrlError::Scheme(scheme.to_string())),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.is_empty() {
            return Err(UrlError::NoHost);
        }
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) =
                    bracketed.split_once(']').ok_or_else(|| UrlError::Host(authority.into()))?;
                if host.parse::<std::net::Ipv6Addr>().is_err() {
                    return Err(UrlError::Host(host.into()));
                }
                match after {
                    "" => (host, None),
                    _ => (host, Some(after.strip_prefix(':').ok_or_else(|| UrlError::Port(after.into()))?)),
                }
            }
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        if !authority.starts_with('[') && !is_host_name(host) {
            return Err(UrlError::Host(host.into()));
        }
        let port = match port {
            None => None,
            Some(port) => {
                let valid = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
                let number = port.parse::<u16>().ok().filter(|number| valid && *number != 0);
                Some(number.ok_or_else(|| UrlError::Port(port.into()))?)
            }
        };
        Ok(Self { text: text.to_string(), https, host: host.to_string(), port })
    }
}

/// A DNS name (labels of letters, digits, `-`, `_`) or an IPv4 address.
fn is_host_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_https_urls_with_a_host_are_accepted() {
        let url: PushUrl =
            "http://loki-0.loki-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push".parse().unwrap();
        assert_eq!(
            (url.host(), url.port(), url.is_https()),
            ("loki-0.loki-endpoints.cos.svc.cluster.local", Some(3100), false)
        );
        let url: PushUrl = " HTTPS://[fd00::1]:443/cos-loki-0/loki/api/v1/push ".parse().unwrap();
        assert_eq!((url.host(), url.port(), url.is_https()), ("fd00::1", Some(443), true));
        assert_eq!(url.as_str(), "HTTPS://[fd00::1]:443/cos-loki-0/loki/api/v1/push");
        let url: PushUrl = "http://10.1.0.9/loki/api/v1/push".parse().unwrap();
        assert_eq!((url.host(), url.port()), ("10.1.0.9", None));
        assert_eq!(url.to_string(), "http://10.1.0.9/loki/api/v1/push");
    }

    #[test]
    fn everything_else_names_what_is_wrong() {
        let error = |text: &str| text.parse::<PushUrl>().unwrap_err();
        assert_eq!(error(""), UrlError::Empty);
        assert_eq!(error("http://a b/"), UrlError::Whitespace);
        assert_eq!(error("loki:3100/loki/api/v1/push"), UrlError::NotAbsolute);
        assert_eq!(error("ftp://loki/"), UrlError::Scheme("ftp".into()));
        assert_eq!(error("http:///loki/api/v1/push"), UrlError::NoHost);
        assert_eq!(error("http://u:p@loki/"), UrlError::UserInfo);
        assert_eq!(error("http://lo!ki/"), UrlError::Host("lo!ki".into()));
        assert_eq!(error("http://[fd00::zz]/"), UrlError::Host("fd00::zz".into()));
        assert_eq!(error("http://loki:0/"), UrlError::Port("0".into()));
        assert_eq!(error("http://loki:99999/"), UrlError::Port("99999".into()));
        assert_eq!(error("http://loki:/"), UrlError::Port("".into()));
        assert_eq!(UrlError::Scheme("ftp".into()).to_string(), "scheme \"ftp\" is neither http nor https");
    }
}
