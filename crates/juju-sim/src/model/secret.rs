//! Secrets: URIs, owners, revisions (content stored base64-encoded, as Juju does), grants and
//! each consumer unit's tracked revision and label.

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::app_of;

/// The base32hex alphabet xids use.
const XID_ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// A parsed secret reference: the 20-character id and, for the long form, the source model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretUri {
    pub id: String,
    pub source_uuid: Option<String>,
}

impl SecretUri {
    /// A fresh random id.
    pub fn generate() -> Self {
        let bytes: [u8; 12] = rand::random();
        let mut id = String::with_capacity(20);
        let mut buffer: u128 = 0;
        for byte in bytes {
            buffer = (buffer << 8) | u128::from(byte);
        }
        // 96 bits → 20 base32 digits: pad to 100 bits on the right, as base32hex does.
        buffer <<= 4;
        for position in (0..20).rev() {
            let digit = ((buffer >> (position * 5)) & 0x1f) as usize;
            id.push(char::from(XID_ALPHABET[digit]));
        }
        SecretUri { id, source_uuid: None }
    }

    /// Parses `secret:<id>`, `secret://<model-uuid>/<id>` or a bare id, with Juju's messages.
    pub fn parse(input: &str) -> Result<Self, String> {
        let not_valid = || format!("secret URI {input:?} not valid");
        let (rest, had_scheme) = match input.split_once(':') {
            Some(("secret", rest)) => (rest, true),
            Some((scheme, _)) => return Err(format!("secret URI scheme {scheme:?} not valid")),
            None => (input, false),
        };
        let (source_uuid, id) = match rest.strip_prefix("//") {
            Some(authority) if had_scheme => {
                let (host, path) = authority.split_once('/').ok_or_else(not_valid)?;
                if !is_uuid(host) {
                    return Err(format!("host controller UUID {host:?} not valid"));
                }
                (Some(host.to_owned()), path)
            }
            _ => (None, rest),
        };
        if !is_xid(id) {
            return Err(not_valid());
        }
        Ok(SecretUri { id: id.to_owned(), source_uuid })
    }
}

impl fmt::Display for SecretUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source_uuid {
            Some(uuid) => write!(f, "secret://{uuid}/{}", self.id),
            None => write!(f, "secret:{}", self.id),
        }
    }
}

fn is_xid(id: &str) -> bool {
    id.len() == 20 && id.bytes().all(|b| XID_ALPHABET.contains(&b))
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, len)| {
            group.len() == len && group.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

/// Who owns a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum SecretOwner {
    Application(String),
    Unit(String),
}

impl SecretOwner {
    /// `application` or `unit`, as `secret-info-get` prints it.
    pub fn kind(&self) -> &'static str {
        match self {
            SecretOwner::Application(_) => "application",
            SecretOwner::Unit(_) => "unit",
        }
    }

    /// Whether `unit` belongs to the owner (the owning unit, or any unit of the owning app).
    pub fn includes(&self, unit: &str) -> bool {
        match self {
            SecretOwner::Application(app) => app_of(unit) == app,
            SecretOwner::Unit(owner) => owner == unit,
        }
    }
}

/// Rotation policies `secret-add --rotate` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RotatePolicy {
    Never,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Quarterly,
    Yearly,
}

impl RotatePolicy {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "never" => RotatePolicy::Never,
            "hourly" => RotatePolicy::Hourly,
            "daily" => RotatePolicy::Daily,
            "weekly" => RotatePolicy::Weekly,
            "monthly" => RotatePolicy::Monthly,
            "quarterly" => RotatePolicy::Quarterly,
            "yearly" => RotatePolicy::Yearly,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RotatePolicy::Never => "never",
            RotatePolicy::Hourly => "hourly",
            RotatePolicy::Daily => "daily",
            RotatePolicy::Weekly => "weekly",
            RotatePolicy::Monthly => "monthly",
            RotatePolicy::Quarterly => "quarterly",
            RotatePolicy::Yearly => "yearly",
        }
    }

    /// The rotation interval in seconds (`None` for never).
    pub fn interval_secs(self) -> Option<i64> {
        const DAY: i64 = 86_400;
        Some(match self {
            RotatePolicy::Never => return None,
            RotatePolicy::Hourly => 3_600,
            RotatePolicy::Daily => DAY,
            RotatePolicy::Weekly => 7 * DAY,
            RotatePolicy::Monthly => 30 * DAY,
            RotatePolicy::Quarterly => 91 * DAY,
            RotatePolicy::Yearly => 365 * DAY,
        })
    }
}

/// Secret content: key → base64-encoded value. Debug output shows only the keys.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretContent(BTreeMap<String, String>);

impl SecretContent {
    /// Base64-encodes plain values, as `secret-add key=value` stores them.
    pub fn encode(plain: &BTreeMap<String, String>) -> Self {
        SecretContent(plain.iter().map(|(key, value)| (key.clone(), STANDARD.encode(value))).collect())
    }

    /// The content decoded; values that are not valid base64 or UTF-8 are skipped.
    pub fn decoded(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .filter_map(|(key, encoded)| {
                let bytes = STANDARD.decode(encoded).ok()?;
                Some((key.clone(), String::from_utf8(bytes).ok()?))
            })
            .collect()
    }
}

impl From<BTreeMap<String, String>> for SecretContent {
    /// Wraps already base64-encoded values.
    fn from(encoded: BTreeMap<String, String>) -> Self {
        SecretContent(encoded)
    }
}

impl std::ops::Deref for SecretContent {
    type Target = BTreeMap<String, String>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl fmt::Debug for SecretContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// One revision of a secret's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretRevision {
    pub revision: u32,
    pub content: SecretContent,
    /// Set once Juju told the owner (secret-remove hook) that no consumer tracks it any more.
    #[serde(default)]
    pub obsolete: bool,
}

impl SecretRevision {
    /// The content decoded; values that are not valid base64 or UTF-8 are skipped.
    pub fn decoded(&self) -> BTreeMap<String, String> {
        self.content.decoded()
    }
}

/// Who a grant gives view access to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum GrantTarget {
    Application(String),
    Unit(String),
}

impl GrantTarget {
    pub fn covers(&self, unit: &str) -> bool {
        match self {
            GrantTarget::Application(app) => app_of(unit) == app,
            GrantTarget::Unit(target) => target == unit,
        }
    }

    /// The tag form `secret-info-get` prints (`application-pg`, `unit-pg-0`).
    pub fn tag(&self) -> String {
        match self {
            GrantTarget::Application(app) => format!("application-{app}"),
            GrantTarget::Unit(unit) => format!("unit-{}", unit.replace('/', "-")),
        }
    }

    /// The application the target belongs to.
    pub fn app(&self) -> &str {
        match self {
            GrantTarget::Application(app) => app,
            GrantTarget::Unit(unit) => app_of(unit),
        }
    }
}

/// View access given within a relation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretGrant {
    pub relation_id: u32,
    pub target: GrantTarget,
}

/// What a consumer unit tracks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretConsumer {
    /// The revision `secret-get` returns until `--refresh`.
    pub revision: u32,
    pub label: Option<String>,
}

/// A secret with all its revisions, grants and consumers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Secret {
    pub id: String,
    pub owner: SecretOwner,
    /// The owner's label.
    pub label: Option<String>,
    pub description: Option<String>,
    /// RFC 3339 expiry time.
    pub expiry: Option<String>,
    pub rotate: Option<RotatePolicy>,
    /// RFC 3339 time of the next rotation, when a policy is set.
    pub next_rotation: Option<String>,
    pub revisions: Vec<SecretRevision>,
    #[serde(default)]
    pub grants: Vec<SecretGrant>,
    /// Consumer state per unit.
    #[serde(default)]
    pub consumers: BTreeMap<String, SecretConsumer>,
}

impl Secret {
    /// The URI charms see (`secret:<id>`).
    pub fn uri(&self) -> String {
        format!("secret:{}", self.id)
    }

    pub fn latest(&self) -> Option<&SecretRevision> {
        self.revisions.iter().max_by_key(|revision| revision.revision)
    }

    pub fn latest_revision(&self) -> u32 {
        self.latest().map_or(0, |revision| revision.revision)
    }

    pub fn revision(&self, number: u32) -> Option<&SecretRevision> {
        self.revisions.iter().find(|revision| revision.revision == number)
    }

    /// Whether `unit` may view the secret (owner side or granted).
    pub fn can_view(&self, unit: &str) -> bool {
        self.owner.includes(unit) || self.grants.iter().any(|grant| grant.target.covers(unit))
    }

    /// Adds a revision unless `content` equals the latest one. Returns whether it did.
    pub(crate) fn push_revision(&mut self, content: SecretContent) -> bool {
        if self.latest().is_some_and(|latest| latest.content == content) {
            return false;
        }
        let revision = self.latest_revision() + 1;
        self.revisions.push(SecretRevision { revision, content, obsolete: false });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        let uri = SecretUri::generate();
        assert_eq!(uri.id.len(), 20);
        let parsed = SecretUri::parse(&uri.to_string()).unwrap();
        assert_eq!(parsed, uri);
        assert_eq!(SecretUri::parse(&uri.id).unwrap().id, uri.id);
    }

    #[test]
    fn parses_the_long_form_with_model_uuid() {
        let id = "cq9bs3fmp25c76ut1s6g";
        let long = format!("secret://0a6a5d9e-9d6d-4a8e-8c43-3b4c0a8f1d2e/{id}");
        let parsed = SecretUri::parse(&long).unwrap();
        assert_eq!(parsed.id, id);
        assert_eq!(parsed.source_uuid.as_deref(), Some("0a6a5d9e-9d6d-4a8e-8c43-3b4c0a8f1d2e"));
        assert_eq!(parsed.to_string(), long);
    }

    #[test]
    fn rejects_malformed_uris() {
        assert_eq!(SecretUri::parse("secret:nope").unwrap_err(), "secret URI \"secret:nope\" not valid");
        assert_eq!(SecretUri::parse("http://x").unwrap_err(), "secret URI scheme \"http\" not valid");
        assert_eq!(
            SecretUri::parse("secret://host/cq9bs3fmp25c76ut1s6g").unwrap_err(),
            "host controller UUID \"host\" not valid"
        );
    }

    #[test]
    fn debug_output_never_shows_content() {
        let revision = SecretRevision {
            revision: 1,
            content: SecretContent::encode(&BTreeMap::from([("password".into(), "hunter2".into())])),
            obsolete: false,
        };
        let debug = format!("{revision:?}");
        assert!(debug.contains("password"));
        assert!(!debug.contains("hunter2"));
        assert!(!debug.contains(&STANDARD.encode("hunter2")));
    }

    #[test]
    fn identical_content_adds_no_revision() {
        let content = SecretContent::encode(&BTreeMap::from([("key".into(), "v".into())]));
        let mut secret = Secret {
            id: SecretUri::generate().id,
            owner: SecretOwner::Application("app".into()),
            label: None,
            description: None,
            expiry: None,
            rotate: None,
            next_rotation: None,
            revisions: Vec::new(),
            grants: Vec::new(),
            consumers: BTreeMap::new(),
        };
        assert!(secret.push_revision(content.clone()));
        assert!(!secret.push_revision(content));
        assert_eq!(secret.latest_revision(), 1);
    }
}
