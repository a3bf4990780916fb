//! Juju secret identifiers, content and metadata as the secret hook tools speak them.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::SecretString;
use serde::Deserialize;

/// A secret URI: `secret:<xid>` or `secret://<model-uuid>/<xid>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretUri(String);

impl SecretUri {
    /// Accepts any form Juju prints (`secret:…`, `secret://…/…`, or a bare xid, which is
    /// resolved in the local model like ops does).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let valid_xid = |xid: &str| !xid.is_empty() && xid.chars().all(|c| c.is_ascii_alphanumeric());
        if let Some(rest) = text.strip_prefix("secret://") {
            let (model, xid) = rest.split_once('/')?;
            (!model.is_empty() && valid_xid(xid)).then(|| Self(text.to_string()))
        } else if let Some(xid) = text.strip_prefix("secret:") {
            valid_xid(xid).then(|| Self(text.to_string()))
        } else {
            valid_xid(text).then(|| Self(format!("secret:{text}")))
        }
    }

    /// The 20-character unique id at the end of the URI.
    pub fn xid(&self) -> &str {
        self.0.rsplit(['/', ':']).next().unwrap_or(&self.0)
    }

    /// The full `secret://<model-uuid>/<xid>` form, safe to publish to other models.
    pub fn canonical(&self, model_uuid: &str) -> Self {
        if self.0.starts_with("secret://") {
            self.clone()
        } else {
            Self(format!("secret://{model_uuid}/{}", self.xid()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when both name the same secret, whatever their forms.
    pub fn same_secret(&self, other: &SecretUri) -> bool {
        self.xid() == other.xid()
    }
}

impl fmt::Display for SecretUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How to find a secret: by URI or by the label its owner (or this consumer) gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    Id(SecretUri),
    Label(String),
    /// By URI, also setting this unit's consumer label for it.
    IdWithLabel(SecretUri, String),
}

/// Which revision `secret-get` returns to a consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadMode {
    /// The revision this consumer tracks (the latest on first read).
    #[default]
    Tracked,
    /// The latest revision, and track it from now on (`--refresh`).
    Refresh,
    /// The latest revision, this time only (`--peek`).
    Peek,
}

/// Secret content: key → value, values never printable.
pub type SecretContent = BTreeMap<String, SecretString>;

/// Who owns a new secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecretOwner {
    #[default]
    Application,
    Unit,
}

impl SecretOwner {
    pub(crate) fn as_arg(self) -> &'static str {
        match self {
            Self::Application => "application",
            Self::Unit => "unit",
        }
    }
}

/// A secret to create with `secret-add`.
#[derive(Debug, Clone, Default)]
pub struct NewSecret {
    pub content: SecretContent,
    pub label: Option<String>,
    pub description: Option<String>,
    pub owner: SecretOwner,
    /// RFC 3339 time or Go duration (`24h`).
    pub expire: Option<String>,
    /// `never|hourly|daily|weekly|monthly|quarterly|yearly`.
    pub rotate: Option<String>,
}

/// Changes for `secret-set`: new content makes a new revision; metadata alone does not.
#[derive(Debug, Clone, Default)]
pub struct SecretUpdate {
    pub content: Option<SecretContent>,
    pub label: Option<String>,
    pub description: Option<String>,
    pub expire: Option<String>,
    pub rotate: Option<String>,
}

/// Owner-side metadata from `secret-info-get`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    pub id: SecretUri,
    pub revision: u64,
    pub label: Option<String>,
    pub owner: String,
    pub description: Option<String>,
    pub rotation: Option<String>,
    pub expiry: Option<String>,
    /// Who may read it: one entry per grant (`target` such as `application-irc` or
    /// `unit-irc-0`, `scope` the relation, `role` `view`).
    pub access: Vec<SecretAccess>,
}

/// One grant listed by `secret-info-get`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SecretAccess {
    pub target: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub role: String,
}

impl SecretAccess {
    /// The application a view grant is for (`application-<name>` targets).
    pub fn granted_application(&self) -> Option<&str> {
        (self.role.is_empty() || self.role == "view").then_some(())?;
        self.target.strip_prefix("application-")
    }
}

#[derive(Deserialize)]
pub(crate) struct RawSecretInfo {
    pub revision: u64,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub rotation: Option<String>,
    #[serde(default)]
    pub expiry: Option<String>,
    #[serde(default)]
    pub access: Vec<SecretAccess>,
}

/// Juju's rule for content keys: `^[a-z](-?[a-z0-9]){2,}$`.
pub fn is_valid_content_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    if bytes.len() < 3 || !bytes[0].is_ascii_lowercase() || key.ends_with('-') || key.contains("--") {
        return false;
    }
    let alnum = key.chars().filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit()).count();
    alnum >= 3 && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_forms() {
        let short = SecretUri::parse("secret:coj8mulh8b41e8nv6p90").unwrap();
        let long = SecretUri::parse("secret://0e2f-uuid/coj8mulh8b41e8nv6p90").unwrap();
        let bare = SecretUri::parse("coj8mulh8b41e8nv6p90").unwrap();
        assert_eq!(short.xid(), "coj8mulh8b41e8nv6p90");
        assert_eq!(long.xid(), "coj8mulh8b41e8nv6p90");
        assert_eq!(bare.as_str(), "secret:coj8mulh8b41e8nv6p90");
        assert!(short.same_secret(&long));
        assert_eq!(short.canonical("0e2f-uuid"), long);
        assert_eq!(long.canonical("other"), long);
        assert!(SecretUri::parse("secret:").is_none());
        assert!(SecretUri::parse("secret://uuid/").is_none());
        assert!(SecretUri::parse("not a uri").is_none());
    }

    #[test]
    fn content_key_rule() {
        for good in ["abc", "shared-secret-content", "a1b", "key-2x"] {
            assert!(is_valid_content_key(good), "{good}");
        }
        for bad in ["ab", "Abc", "1ab", "a--b", "abc-", "a_b", "a-b"] {
            assert!(!is_valid_content_key(bad), "{bad}");
        }
    }
}
