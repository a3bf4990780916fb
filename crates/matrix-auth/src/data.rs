//! The provider's application databag, in both directions.

use std::collections::BTreeMap;

use juju::effects::Value;
use juju::{Databag, SecretUri};

use crate::protocol::{ENCRYPTION_KEY_SECRET_ID_KEY, HOMESERVER_KEY, SHARED_SECRET_ID_KEY};

/// What the provider leader publishes: `homeserver`, `shared_secret_id`,
/// `encryption_key_secret_id` (the last is absent from v0 providers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderData {
    pub homeserver: String,
    pub shared_secret_id: Option<SecretUri>,
    pub encryption_key_secret_id: Option<SecretUri>,
}

/// Why a provider bag cannot be read as [`ProviderData`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProviderDataError {
    #[error("the provider has not published `homeserver` yet")]
    MissingHomeserver,
    #[error("the provider's `{0}` is not a secret URI")]
    BadSecretId(&'static str),
}

impl ProviderData {
    /// The three keys; an absent id maps to `""`, which deletes the key when written.
    pub fn to_databag(&self) -> Databag {
        let id = |uri: &Option<SecretUri>| uri.as_ref().map(|u| u.to_string()).unwrap_or_default();
        Databag::from([
            (HOMESERVER_KEY.to_string(), self.homeserver.clone()),
            (SHARED_SECRET_ID_KEY.to_string(), id(&self.shared_secret_id)),
            (ENCRYPTION_KEY_SECRET_ID_KEY.to_string(), id(&self.encryption_key_secret_id)),
        ])
    }

    /// Reads a provider bag; absent and empty values are the same (Juju deletes `""`).
    pub fn from_databag(bag: &Databag) -> Result<Self, ProviderDataError> {
        let value = |key: &str| bag.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
        let id = |key: &'static str| match value(key) {
            None => Ok(None),
            Some(text) => SecretUri::parse(text).map(Some).ok_or(ProviderDataError::BadSecretId(key)),
        };
        Ok(Self {
            homeserver: value(HOMESERVER_KEY).ok_or(ProviderDataError::MissingHomeserver)?.to_string(),
            shared_secret_id: id(SHARED_SECRET_ID_KEY)?,
            encryption_key_secret_id: id(ENCRYPTION_KEY_SECRET_ID_KEY)?,
        })
    }
}

/// The entries of `desired` whose value differs from `current` (absent counts as `""`); the
/// ID of a secret not created yet always differs.
pub(crate) fn changed_entries(
    current: &Databag,
    desired: &BTreeMap<String, Value>,
) -> BTreeMap<String, Value> {
    desired
        .iter()
        .filter(|(key, value)| match value {
            Value::Text(text) => current.get(*key).map_or("", String::as_str) != text.as_str(),
            Value::AddedSecretId { .. } => true,
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bag(entries: &[(&str, &str)]) -> Databag {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn round_trips_and_accepts_both_uri_forms() {
        let data = ProviderData {
            homeserver: "https://matrix.example.com".into(),
            shared_secret_id: SecretUri::parse("secret://0e2f/coj8mulh8b41e8nv6p90"),
            encryption_key_secret_id: SecretUri::parse("secret:coj8mulh8b41e8nv6p9a"),
        };
        assert_eq!(ProviderData::from_databag(&data.to_databag()).unwrap(), data);
    }

    #[test]
    fn absent_and_empty_are_alike() {
        let data = ProviderData::from_databag(&bag(&[("homeserver", "https://m"), ("shared_secret_id", "")]))
            .unwrap();
        assert_eq!(data.shared_secret_id, None);
        assert_eq!(data.encryption_key_secret_id, None);
        assert_eq!(
            ProviderData::from_databag(&bag(&[("homeserver", "")])).unwrap_err(),
            ProviderDataError::MissingHomeserver
        );
        assert_eq!(
            ProviderData::from_databag(&bag(&[("homeserver", "h"), ("shared_secret_id", "not a uri")]))
                .unwrap_err(),
            ProviderDataError::BadSecretId("shared_secret_id")
        );
    }

    #[test]
    fn only_changed_entries_are_written() {
        let current = bag(&[("homeserver", "https://old"), ("shared_secret_id", "secret:a"), ("other", "x")]);
        let desired = bag(&[
            ("homeserver", "https://new"),
            ("shared_secret_id", "secret:a"),
            ("encryption_key_secret_id", ""),
        ]);
        let values = |bag: Databag| bag.into_iter().map(|(k, v)| (k, Value::Text(v))).collect();
        assert_eq!(
            changed_entries(&current, &values(desired)),
            values(bag(&[("homeserver", "https://new")]))
        );
        let desired = bag(&[("shared_secret_id", "")]);
        assert_eq!(changed_entries(&current, &values(desired.clone())), values(desired));
        let added = BTreeMap::from([(
            "shared_secret_id".to_string(),
            Value::AddedSecretId { label: "shared-secret".into(), model_uuid: None },
        )]);
        assert_eq!(changed_entries(&current, &added), added, "a new secret's ID is always written");
    }
}
