//! The URL the provider publishes, checked as the Python library's `AnyHttpUrl` checks it:
//! an absolute `http` or `https` URL with a host.
//!
//! The text is kept as published (no normalisation: pydantic 2 would add a `/` to a URL
//! without a path, pydantic 1 would not).

use std::fmt;
use std::net::Ipv6Addr;

/// An absolute `http(s)://` URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IngressUrl {
    text: String,
    https: bool,
    host: String,
    port: Option<u16>,
    /// Byte offset of what follows the authority (path, query, fragment).
    rest: usize,
}

/// Why a published URL is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("not an absolute URL")]
    NotAbsolute,
    #[error("scheme {0:?} is neither http nor https")]
    Scheme(String),
    #[error("no host")]
    NoHost,
    #[error("invalid host {0:?}")]
    Host(String),
    #[error("invalid port {0:?}")]
    Port(String),
    #[error("contains whitespace or control characters")]
    Characters,
}

impl IngressUrl {
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UrlError::Characters);
        }
        let (scheme, after) = text.split_once("://").ok_or(UrlError::NotAbsolute)?;
        let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !valid_scheme {
            return Err(UrlError::NotAbsolute);
        }
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(UrlError::Scheme(scheme.to_string())),
        };
        let authority_len = after.find(['/', '?', '#']).unwrap_or(after.len());
        let authority = &after[..authority_len];
        // Credentials (`user:password@`) are allowed by the library; they are not the host.
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, host_port)| host_port);
        let (host, port) = split_port(host_port)?;
        if host.is_empty() {
            return Err(UrlError::NoHost);
        }
        let host = parse_host(host).ok_or_else(|| UrlError::Host(host.to_string()))?;
        Ok(Self { text: text.to_string(), https, host, port, rest: scheme.len() + 3 + authority_len })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host: a DNS name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The explicit port, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The explicit port, else 80 or 443.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(if self.https { 443 } else { 80 })
    }

    /// The path as published, without query or fragment: empty or starting with `/`
    /// (Traefik's path routing gives `/<model>-<app>`).
    pub fn path(&self) -> &str {
        let rest = &self.text[self.rest..];
        &rest[..rest.find(['?', '#']).unwrap_or(rest.len())]
    }
}

impl fmt::Display for IngressUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for IngressUrl {
    type Err = UrlError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// `host[:port]`, the host possibly a bracketed IPv6 address.
fn split_port(host_port: &str) -> Result<(&str, Option<u16>), UrlError> {
    let (host, port) = if host_port.starts_with('[') {
        match host_port.find(']') {
            Some(end) => match &host_port[end + 1..] {
                "" => (&host_port[..=end], None),
                rest => match rest.strip_prefix(':') {
                    Some(port) => (&host_port[..=end], Some(port)),
                    None => return Err(UrlError::Host(host_port.to_string())),
                },
            },
            None => return Err(UrlError::Host(host_port.to_string())),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    let port = match port {
        None => None,
        Some(text) => {
            let valid = !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit());
            match valid.then(|| text.parse::<u16>().ok()).flatten() {
                Some(port) => Some(port),
                None => return Err(UrlError::Port(text.to_string())),
            }
        }
    };
    Ok((host, port))
}

/// A DNS name (letters, digits, `-`, `_`, `.`, percent-escapes, non-ASCII for IDNs), an
/// IPv4 address, or a bracketed IPv6 address (returned bare).
fn parse_host(host: &str) -> Option<String> {
    if let Some(inner) = host.strip_prefix('[') {
        let address = inner.strip_suffix(']')?;
        return address.parse::<Ipv6Addr>().is_ok().then(|| address.to_string());
    }
    let label = |label: &str| {
        !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '%' | '~'))
    };
    let without_root = host.strip_suffix('.').unwrap_or(host);
    without_root.split('.').all(label).then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traefik_urls_parse_with_their_parts() {
        let path = IngressUrl::parse("http://ingress.example.com/prod-synapse").unwrap();
        assert_eq!(
            (path.is_https(), path.host(), path.port(), path.path()),
            (false, "ingress.example.com", None, "/prod-synapse")
        );
        assert_eq!(path.port_or_default(), 80);
        assert_eq!(path.to_string(), "http://ingress.example.com/prod-synapse");

        let subdomain = IngressUrl::parse("https://prod-synapse.example.com/").unwrap();
        assert_eq!((subdomain.is_https(), subdomain.path(), subdomain.port_or_default()), (true, "/", 443));

        let bare = IngressUrl::parse("HTTPS://matrix.example.com:8443").unwrap();
        assert_eq!((bare.host(), bare.port(), bare.path()), ("matrix.example.com", Some(8443), ""));
        assert_eq!(bare.as_str(), "HTTPS://matrix.example.com:8443", "kept as published");

        let address = IngressUrl::parse("http://10.0.0.5:80/prod-synapse?x=1#top").unwrap();
        assert_eq!((address.host(), address.port(), address.path()), ("10.0.0.5", Some(80), "/prod-synapse"));
        let v6 = IngressUrl::parse("http://[fd00::5]:8080/a").unwrap();
        assert_eq!((v6.host(), v6.port()), ("fd00::5", Some(8080)));
        let creds = IngressUrl::parse("http://user:pw@example.com/").unwrap();
        assert_eq!(creds.host(), "example.com");
        assert!("http://xn--bcher-kva.example/".parse::<IngressUrl>().is_ok());
        assert!("http://bücher.example/".parse::<IngressUrl>().is_ok());
    }

    #[test]
    fn what_is_not_an_http_url_is_refused_with_the_reason() {
        let cases = [
            ("", UrlError::NotAbsolute),
            ("example.com/prod-synapse", UrlError::NotAbsolute),
            ("/prod-synapse", UrlError::NotAbsolute),
            ("://example.com", UrlError::NotAbsolute),
            ("ftp://example.com/", UrlError::Scheme("ftp".into())),
            ("ws://example.com/", UrlError::Scheme("ws".into())),
            ("http:///path", UrlError::NoHost),
            ("http://:80/", UrlError::NoHost),
            ("http://exa mple.com/", UrlError::Characters),
            (" http://example.com/", UrlError::Characters),
            ("http://example.com/\n", UrlError::Characters),
            ("http://example.com:0x50/", UrlError::Port("0x50".into())),
            ("http://example.com:65536/", UrlError::Port("65536".into())),
            ("http://example.com:/", UrlError::Port(String::new())),
            ("http://exa..mple.com/", UrlError::Host("exa..mple.com".into())),
            ("http://exa$mple.com/", UrlError::Host("exa$mple.com".into())),
            ("http://[fd00::zz]/", UrlError::Host("[fd00::zz]".into())),
            ("http://[fd00::5/", UrlError::Host("[fd00::5".into())),
            ("http://[fd00::5]x/", UrlError::Host("[fd00::5]x".into())),
        ];
        for (text, error) in cases {
            assert_eq!(IngressUrl::parse(text), Err(error), "{text:?}");
        }
        assert_eq!(UrlError::Scheme("ftp".into()).to_string(), "scheme \"ftp\" is neither http nor https");
    }
}
