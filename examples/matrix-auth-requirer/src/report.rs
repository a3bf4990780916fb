//! What this unit received, kept in its Juju unit state (`state-set`) where operators and
//! tests can see it: the provider's application name, the homeserver, and SHA-256
//! fingerprints of the shared secret and of the registration sent. Never a secret itself.

use std::collections::BTreeMap;

use juju::{HookToolError, HookTools};
use sha2::{Digest, Sha256};

use crate::registration::hex;

pub const PROVIDER_APP_KEY: &str = "provider-app";
pub const HOMESERVER_KEY: &str = "homeserver";
pub const SHARED_SECRET_KEY: &str = "shared-secret-sha256";
pub const REGISTRATION_KEY: &str = "registration-sha256";

const KEYS: [&str; 4] = [PROVIDER_APP_KEY, HOMESERVER_KEY, SHARED_SECRET_KEY, REGISTRATION_KEY];

/// The provider's data as this unit last read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub provider_app: String,
    pub homeserver: String,
    /// Hex SHA-256 of the shared secret's UTF-8 bytes.
    pub shared_secret_sha256: String,
    /// Hex SHA-256 of the registration text this application has published (leader only).
    pub registration_sha256: Option<String>,
}

/// Hex SHA-256 of `text`'s UTF-8 bytes.
pub fn fingerprint(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// Makes the unit state hold exactly `received` (nothing when `None`), touching only keys
/// whose value changes.
pub fn record(tools: &HookTools, received: Option<&Received>) -> Result<(), HookToolError> {
    let mut wanted = BTreeMap::new();
    if let Some(received) = received {
        wanted.insert(PROVIDER_APP_KEY, received.provider_app.clone());
        wanted.insert(HOMESERVER_KEY, received.homeserver.clone());
        wanted.insert(SHARED_SECRET_KEY, received.shared_secret_sha256.clone());
        if let Some(sha) = &received.registration_sha256 {
            wanted.insert(REGISTRATION_KEY, sha.clone());
        }
    }
    let current = tools.state_get_all()?;
    for key in KEYS {
        if current.contains_key(key) && !wanted.contains_key(key) {
            tools.state_delete(key)?;
        }
    }
    let changed: BTreeMap<String, String> = wanted
        .into_iter()
        .filter(|(key, value)| current.get(*key) != Some(value))
        .map(|(key, value)| (key.to_string(), value))
        .collect();
    tools.state_set(&changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_sha256_of_the_utf8_bytes() {
        assert_eq!(fingerprint(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(fingerprint("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        // Computed with Python: hashlib.sha256("grüße".encode()).hexdigest()
        assert_eq!(fingerprint("grüße"), "8285d1ad84c6b6e475d3b50dbf90389c8c7a07a278d9ae46d5698cbe872e3834");
    }
}
