//! Synapse appservice registrations: parsed and checked as Synapse 1.163's
//! `synapse.config.appservice._load_appservice` checks them, so a registration accepted here
//! does not stop Synapse from starting.

use std::fmt;
use std::net::IpAddr;

use secrecy::SecretString;

use crate::pyregex::{self, PatternError};
use crate::pyyaml::{self, Node, YamlError};

/// Largest registration text accepted, in bytes (bridges write well under 2 KiB).
pub const MAX_REGISTRATION_BYTES: usize = 64 * 1024;

/// The three namespace lists of a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NamespaceKind {
    Users,
    Aliases,
    Rooms,
}

impl NamespaceKind {
    pub const ALL: [NamespaceKind; 3] = [Self::Users, Self::Aliases, Self::Rooms];

    /// The key in the registration's `namespaces` mapping.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Aliases => "aliases",
            Self::Rooms => "rooms",
        }
    }
}

impl fmt::Display for NamespaceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `{exclusive, regex}` namespace entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub exclusive: bool,
    pub regex: String,
    /// `regex` as checked.
    pub(crate) checked: pyregex::Pattern,
}

/// Why a registration text was refused. Never quotes a token or the text itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("the registration is {size} bytes, more than the {limit} allowed")]
    TooLarge { size: usize, limit: usize },
    #[error("the registration is not UTF-8 text")]
    NotUtf8,
    #[error("the registration is not YAML Synapse can load: {0}")]
    Yaml(#[from] YamlError),
    #[error("the registration is a {0}, not a mapping")]
    NotAMapping(&'static str),
    #[error("required string field `{field}` is missing or not a string (found {found})")]
    MissingString { field: &'static str, found: &'static str },
    #[error("`url` must be a string or an explicit null (found {0})")]
    BadUrl(&'static str),
    #[error("`id` must not contain `|`")]
    IdContainsPipe,
    #[error("`sender_localpart` has characters that would need URL encoding")]
    SenderLocalpartNotUrlSafe,
    #[error("`namespaces` must be a mapping (found {0})")]
    NamespacesNotAMapping(&'static str),
    #[error("namespace `{kind}` must be a list (found {found})")]
    NamespaceNotAList { kind: NamespaceKind, found: &'static str },
    #[error("namespace `{kind}` entry {index}: {problem}")]
    BadNamespaceEntry { kind: NamespaceKind, index: usize, problem: &'static str },
    #[error("namespace `{kind}` entry {index}: invalid regex: {source}")]
    BadRegex {
        kind: NamespaceKind,
        index: usize,
        #[source]
        source: PatternError,
    },
    #[error(
        "namespace `users` entry {index}: exclusive regexes cannot start with global flags such as \
         (?i): Synapse joins them into one pattern, where Python refuses them (use (?i:...))"
    )]
    GlobalFlagsInExclusiveUsers { index: usize },
    #[error("`protocols` must be a list of strings")]
    BadProtocols,
    #[error("`ip_range_whitelist` must be a list of IP addresses or CIDR ranges")]
    BadIpRangeWhitelist,
    #[error("`{0}` must be true or false if present")]
    NotABool(&'static str),
    #[error("`{0}` (an experimental Synapse option) is not supported")]
    UnsupportedOption(&'static str),
}

/// A registration Synapse will load: its fields and the exact text to hand to Synapse.
#[derive(Clone)]
pub struct Registration {
    id: String,
    url: Option<String>,
    as_token: SecretString,
    hs_token: SecretString,
    sender_localpart: String,
    namespaces: Vec<(NamespaceKind, Namespace)>,
    rate_limited: bool,
    protocols: Vec<String>,
    source: SecretString,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("as_token", &"<redacted>")
            .field("hs_token", &"<redacted>")
            .field("sender_localpart", &self.sender_localpart)
            .field("namespaces", &self.namespaces)
            .field("rate_limited", &self.rate_limited)
            .field("protocols", &self.protocols)
            .finish_non_exhaustive()
    }
}

impl Registration {
    /// Checks raw bytes: size, UTF-8, then [`Registration::parse`].
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, RegistrationError> {
        check_size(bytes.len())?;
        Self::parse(std::str::from_utf8(bytes).map_err(|_| RegistrationError::NotUtf8)?)
    }

    /// Parses and checks a registration YAML text as Synapse would load it.
    pub fn parse(text: &str) -> Result<Self, RegistrationError> {
        check_size(text.len())?;
        let doc = pyyaml::safe_load(text)?;
        if !matches!(doc, Node::Map(_)) {
            return Err(RegistrationError::NotAMapping(doc.type_name()));
        }
        let string = |field: &'static str| match doc.get(field) {
            Some(Node::Str(value)) => Ok(value.clone()),
            other => Err(RegistrationError::MissingString { field, found: found(other) }),
        };
        let id = string("id")?;
        let as_token = SecretString::from(string("as_token")?);
        let hs_token = SecretString::from(string("hs_token")?);
        let sender_localpart = string("sender_localpart")?;
        let url = match doc.get("url") {
            Some(Node::Str(url)) => Some(url.clone()),
            Some(Node::Null) => None,
            other => return Err(RegistrationError::BadUrl(found(other))),
        };
        if !sender_localpart.chars().all(|c| c.is_ascii_alphanumeric() || "_.-~/".contains(c)) {
            return Err(RegistrationError::SenderLocalpartNotUrlSafe);
        }
        let rate_limited = !matches!(doc.get("rate_limited"), Some(Node::Bool(false)));
        let namespaces = parse_namespaces(doc.get("namespaces"))?;
        let protocols = parse_protocols(doc.get("protocols"))?;
        check_ip_ranges(doc.get("ip_range_whitelist"))?;
        check_options(&doc)?;
        if id.contains('|') {
            return Err(RegistrationError::IdContainsPipe);
        }
        Ok(Self {
            id,
            url,
            as_token,
            hs_token,
            sender_localpart,
            namespaces,
            rate_limited,
            protocols,
            source: SecretString::from(text),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where Synapse pushes events; `None` for an explicit `url: null` (no pushes).
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    pub fn as_token(&self) -> &SecretString {
        &self.as_token
    }

    pub fn hs_token(&self) -> &SecretString {
        &self.hs_token
    }

    pub fn sender_localpart(&self) -> &str {
        &self.sender_localpart
    }

    /// Every namespace entry, in file order within each kind.
    pub fn namespaces(&self) -> impl Iterator<Item = (NamespaceKind, &Namespace)> {
        self.namespaces.iter().map(|(kind, namespace)| (*kind, namespace))
    }

    /// Synapse's reading of `rate_limited`: anything but a boolean means `true`.
    pub fn rate_limited(&self) -> bool {
        self.rate_limited
    }

    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The registration text exactly as received, to write where Synapse reads it.
    pub fn source(&self) -> &SecretString {
        &self.source
    }
}

fn check_size(size: usize) -> Result<(), RegistrationError> {
    if size > MAX_REGISTRATION_BYTES {
        return Err(RegistrationError::TooLarge { size, limit: MAX_REGISTRATION_BYTES });
    }
    Ok(())
}

fn found(node: Option<&Node>) -> &'static str {
    node.map_or("nothing", Node::type_name)
}

fn parse_namespaces(node: Option<&Node>) -> Result<Vec<(NamespaceKind, Namespace)>, RegistrationError> {
    let Some(map @ Node::Map(_)) = node else {
        return Err(RegistrationError::NamespacesNotAMapping(found(node)));
    };
    let mut namespaces = Vec::new();
    for kind in NamespaceKind::ALL {
        let Some(list) = map.get(kind.as_str()) else { continue };
        let Node::Seq(entries) = list else {
            return Err(RegistrationError::NamespaceNotAList { kind, found: list.type_name() });
        };
        for (index, entry) in entries.iter().enumerate() {
            let bad = |problem| RegistrationError::BadNamespaceEntry { kind, index, problem };
            if !matches!(entry, Node::Map(_)) {
                return Err(bad("not a mapping"));
            }
            let regex = entry
                .get("regex")
                .and_then(Node::as_str)
                .ok_or_else(|| bad("`regex` is missing or not a string"))?;
            let Some(Node::Bool(exclusive)) = entry.get("exclusive") else {
                return Err(bad("`exclusive` is missing or not a boolean"));
            };
            let pattern = pyregex::check(regex).map_err(|source| RegistrationError::BadRegex {
                kind,
                index,
                source,
            })?;
            if kind == NamespaceKind::Users && *exclusive && pattern.has_global_flags {
                return Err(RegistrationError::GlobalFlagsInExclusiveUsers { index });
            }
            namespaces.push((
                kind,
                Namespace { exclusive: *exclusive, regex: regex.to_string(), checked: pattern },
            ));
        }
    }
    Ok(namespaces)
}

fn parse_protocols(node: Option<&Node>) -> Result<Vec<String>, RegistrationError> {
    match node {
        Some(node) if node.is_truthy() => {
            let Node::Seq(items) = node else { return Err(RegistrationError::BadProtocols) };
            items
                .iter()
                .map(|item| item.as_str().map(str::to_string).ok_or(RegistrationError::BadProtocols))
                .collect()
        }
        _ => Ok(Vec::new()),
    }
}

/// Synapse builds a `netaddr.IPSet` from a truthy value; only plain addresses and CIDR
/// ranges are taken here.
fn check_ip_ranges(node: Option<&Node>) -> Result<(), RegistrationError> {
    let Some(node) = node.filter(|node| node.is_truthy()) else { return Ok(()) };
    let Node::Seq(items) = node else { return Err(RegistrationError::BadIpRangeWhitelist) };
    let valid = |text: &str| {
        let (address, prefix) = text.split_once('/').map_or((text, None), |(a, p)| (a, Some(p)));
        let Ok(address) = address.parse::<IpAddr>() else { return false };
        let max = if address.is_ipv4() { 32 } else { 128 };
        prefix.is_none_or(|prefix| prefix.parse::<u8>().is_ok_and(|bits| bits <= max))
    };
    if items.iter().all(|item| item.as_str().is_some_and(valid)) {
        Ok(())
    } else {
        Err(RegistrationError::BadIpRangeWhitelist)
    }
}

/// The optional flags Synapse type-checks, and the experimental options it may refuse.
fn check_options(doc: &Node) -> Result<(), RegistrationError> {
    for field in ["org.matrix.msc3202", "io.element.msc4190"] {
        if doc.get(field).is_some_and(|value| !matches!(value, Node::Bool(_))) {
            return Err(RegistrationError::NotABool(field));
        }
    }
    // Synapse accepts only a known set of scopes (an empty list is harmless).
    let scopes = "io.element.msc4502.scopes";
    if doc.get(scopes).is_some_and(|value| !matches!(value, Node::Seq(items) if items.is_empty())) {
        return Err(RegistrationError::UnsupportedOption(scopes));
    }
    for field in ["io.element.msc4512.proxy_prefix", "io.element.msc4512.proxy_url"] {
        if doc.get(field).is_some_and(|value| *value != Node::Null) {
            return Err(RegistrationError::UnsupportedOption(field));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    pub(crate) const IRC: &str = "id: 4f1c0d3b\nhs_token: hs-secret-1\nas_token: as-secret-1\nurl: http://10.0.0.5:8090\nsender_localpart: libera-bot\nde.sorunome.msc2409.push_ephemeral: true\nprotocols:\n  - irc\nnamespaces:\n  users:\n    - exclusive: true\n      regex: '@libera_.*:example\\.com'\n  aliases:\n    - exclusive: true\n      regex: '#libera_.*:example\\.com'\nrate_limited: false\n";

    fn with(line: &str) -> String {
        format!("{IRC}{line}\n")
    }

    #[test]
    fn parses_an_irc_bridge_registration() {
        let registration = Registration::parse(IRC).unwrap();
        assert_eq!(registration.id(), "4f1c0d3b");
        assert_eq!(registration.url(), Some("http://10.0.0.5:8090"));
        assert_eq!(registration.as_token().expose_secret(), "as-secret-1");
        assert_eq!(registration.hs_token().expose_secret(), "hs-secret-1");
        assert_eq!(registration.sender_localpart(), "libera-bot");
        assert!(!registration.rate_limited());
        assert_eq!(registration.protocols(), ["irc"]);
        let namespaces: Vec<_> =
            registration.namespaces().map(|(kind, ns)| (kind, ns.exclusive, ns.regex.as_str())).collect();
        assert_eq!(
            namespaces,
            [
                (NamespaceKind::Users, true, r"@libera_.*:example\.com"),
                (NamespaceKind::Aliases, true, r"#libera_.*:example\.com")
            ]
        );
        assert_eq!(registration.source().expose_secret(), IRC);
    }

    #[test]
    fn url_may_be_null_but_not_missing() {
        let text = IRC.replace("url: http://10.0.0.5:8090\n", "url: null\n");
        assert_eq!(Registration::parse(&text).unwrap().url(), None);
        let text = IRC.replace("url: http://10.0.0.5:8090\n", "");
        assert_eq!(Registration::parse(&text).unwrap_err(), RegistrationError::BadUrl("nothing"));
        let text = IRC.replace("url: http://10.0.0.5:8090\n", "url: 8090\n");
        assert_eq!(Registration::parse(&text).unwrap_err(), RegistrationError::BadUrl("int"));
    }

    #[test]
    fn required_strings_are_named_without_their_values() {
        let text = IRC.replace("as_token: as-secret-1", "as_token: 12345");
        let error = Registration::parse(&text).unwrap_err();
        assert_eq!(error, RegistrationError::MissingString { field: "as_token", found: "int" });
        assert!(!error.to_string().contains("12345"));
        let text = IRC.replace("hs_token: hs-secret-1\n", "");
        assert_eq!(
            Registration::parse(&text).unwrap_err(),
            RegistrationError::MissingString { field: "hs_token", found: "nothing" }
        );
        let text = IRC.replace("id: 4f1c0d3b", "id: 2024-01-01");
        assert_eq!(
            Registration::parse(&text).unwrap_err(),
            RegistrationError::MissingString { field: "id", found: "timestamp" }
        );
    }

    #[test]
    fn namespace_entries_are_checked() {
        let text = IRC.replace("exclusive: true\n      regex: '@", "exclusive: yes-please\n      regex: '@");
        assert_eq!(
            Registration::parse(&text).unwrap_err(),
            RegistrationError::BadNamespaceEntry {
                kind: NamespaceKind::Users,
                index: 0,
                problem: "`exclusive` is missing or not a boolean"
            }
        );
        let text = IRC.replace(r"'@libera_.*:example\.com'", r"'@libera_(.*:example\.com'");
        assert!(matches!(
            Registration::parse(&text).unwrap_err(),
            RegistrationError::BadRegex { kind: NamespaceKind::Users, index: 0, .. }
        ));
        let text = IRC.replace(r"'@libera_.*", r"'(?i)@libera_.*");
        assert_eq!(
            Registration::parse(&text).unwrap_err(),
            RegistrationError::GlobalFlagsInExclusiveUsers { index: 0 }
        );
        let text = IRC.replace(r"'#libera_.*", r"'(?i)#libera_.*");
        assert!(Registration::parse(&text).is_ok(), "only exclusive user regexes are joined");
        let text = IRC.replace("namespaces:\n  users:", "namespaces:\n  rooms: {}\n  users:");
        assert_eq!(
            Registration::parse(&text).unwrap_err(),
            RegistrationError::NamespaceNotAList { kind: NamespaceKind::Rooms, found: "mapping" }
        );
        let minimal = "id: a\nas_token: b\nhs_token: c\nsender_localpart: d\nurl: null\nnamespaces: {}\n";
        assert_eq!(Registration::parse(minimal).unwrap().namespaces().count(), 0);
        assert_eq!(
            Registration::parse(&minimal.replace("namespaces: {}\n", "")).unwrap_err(),
            RegistrationError::NamespacesNotAMapping("nothing")
        );
    }

    #[test]
    fn optional_fields_follow_synapse() {
        assert!(
            Registration::parse(&with("ip_range_whitelist: ['10.0.0.0/8', '::1', '192.168.1.1']")).is_ok()
        );
        assert_eq!(
            Registration::parse(&with("ip_range_whitelist: ['10.0.0.0/33']")).unwrap_err(),
            RegistrationError::BadIpRangeWhitelist
        );
        assert!(Registration::parse(&with("ip_range_whitelist: []")).is_ok());
        assert_eq!(
            Registration::parse(&with("org.matrix.msc3202: 1")).unwrap_err(),
            RegistrationError::NotABool("org.matrix.msc3202")
        );
        assert!(Registration::parse(&with("io.element.msc4190: true")).is_ok());
        assert_eq!(
            Registration::parse(&with("io.element.msc4512.proxy_prefix: /x")).unwrap_err(),
            RegistrationError::UnsupportedOption("io.element.msc4512.proxy_prefix")
        );
        let text = IRC.replace("protocols:\n  - irc\n", "protocols: irc\n");
        assert_eq!(Registration::parse(&text).unwrap_err(), RegistrationError::BadProtocols);
        let text = IRC.replace("rate_limited: false", "rate_limited: maybe");
        assert!(Registration::parse(&text).unwrap().rate_limited());
    }

    #[test]
    fn sender_and_id_rules() {
        let text = IRC.replace("sender_localpart: libera-bot", "sender_localpart: 'libera bot'");
        assert_eq!(Registration::parse(&text).unwrap_err(), RegistrationError::SenderLocalpartNotUrlSafe);
        let text = IRC.replace("id: 4f1c0d3b", "id: 'a|b'");
        assert_eq!(Registration::parse(&text).unwrap_err(), RegistrationError::IdContainsPipe);
    }

    #[test]
    fn size_encoding_and_shape() {
        let big = format!("{IRC}# {}\n", "x".repeat(MAX_REGISTRATION_BYTES));
        assert!(matches!(Registration::parse(&big).unwrap_err(), RegistrationError::TooLarge { .. }));
        assert_eq!(Registration::parse_bytes(b"id: \xff").unwrap_err(), RegistrationError::NotUtf8);
        assert_eq!(Registration::parse("- a\n- b\n").unwrap_err(), RegistrationError::NotAMapping("list"));
        assert_eq!(Registration::parse("").unwrap_err(), RegistrationError::NotAMapping("null"));
        assert!(matches!(Registration::parse("id: [").unwrap_err(), RegistrationError::Yaml(_)));
    }

    #[test]
    fn debug_output_hides_tokens_and_text() {
        let shown = format!("{:?}", Registration::parse(IRC).unwrap());
        assert!(!shown.contains("as-secret-1") && !shown.contains("hs-secret-1"), "{shown}");
        assert!(shown.contains("4f1c0d3b"));
    }
}
