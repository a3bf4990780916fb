//! The application-wide secrets every unit's Synapse must share: the registration shared
//! secret, the macaroon and form secrets and the server's signing key. The leader generates
//! them once into one Juju application secret; every unit reads that secret by its label.
//! The secret also records the server name they were made for, which pins `server_name`.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use juju::SecretContent;
use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};

/// The owner label of the application secret.
pub const LABEL: &str = "synapse-app-secrets";

const SERVER_NAME: &str = "server-name";
const REGISTRATION_SHARED_SECRET: &str = "registration-shared-secret";
const MACAROON_SECRET_KEY: &str = "macaroon-secret-key";
const FORM_SECRET: &str = "form-secret";
const SIGNING_KEY: &str = "signing-key";

/// Length of the generated random strings.
const SECRET_LENGTH: usize = 64;
/// Length of the random part of a signing key id (`a_` + 4 characters, as Synapse does).
const KEY_ID_LENGTH: usize = 4;

/// The shared secrets. `Debug` shows no secret value.
#[derive(Debug, Clone)]
pub struct AppSecrets {
    /// The `server_name` the secrets were generated for.
    pub server_name: String,
    pub registration_shared_secret: SecretString,
    pub macaroon_secret_key: SecretString,
    pub form_secret: SecretString,
    /// The whole signing key file line: `ed25519 a_<id> <unpadded base64 seed>`.
    pub signing_key: SecretString,
}

/// The application secret exists but does not hold what this charm stores in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppSecretsError {
    #[error("the application secret {LABEL:?} has no {0:?} key")]
    MissingKey(&'static str),
    #[error("the signing key in the application secret {LABEL:?} is not in Synapse's format")]
    MalformedSigningKey,
}

impl AppSecrets {
    /// Every secret value, and the signing key's seed on its own (a secret too), to redact.
    pub fn values(&self) -> Vec<SecretString> {
        let mut values = vec![
            self.registration_shared_secret.clone(),
            self.macaroon_secret_key.clone(),
            self.form_secret.clone(),
            self.signing_key.clone(),
        ];
        if let Some(seed) = self.signing_key.expose_secret().rsplit(' ').next() {
            values.push(SecretString::from(seed.to_string()));
        }
        values
    }

    /// Fresh secrets from the operating system's random source (via `rand::rng`).
    pub fn generate(server_name: &str) -> Self {
        let mut rng = rand::rng();
        let mut random_text = || SecretString::from(Alphanumeric.sample_string(&mut rng, SECRET_LENGTH));
        let registration_shared_secret = random_text();
        let macaroon_secret_key = random_text();
        let form_secret = random_text();
        let key_id = Alphanumeric.sample_string(&mut rng, KEY_ID_LENGTH);
        let mut seed = [0u8; 32];
        rng.fill(&mut seed);
        let signing_key = SecretString::from(format!("ed25519 a_{key_id} {}", STANDARD_NO_PAD.encode(seed)));
        Self {
            server_name: server_name.to_string(),
            registration_shared_secret,
            macaroon_secret_key,
            form_secret,
            signing_key,
        }
    }

    /// Reads the secrets back from the Juju secret's content.
    pub fn from_content(content: &SecretContent) -> Result<Self, AppSecretsError> {
        let get = |key: &'static str| content.get(key).cloned().ok_or(AppSecretsError::MissingKey(key));
        let signing_key = get(SIGNING_KEY)?;
        if !is_signing_key(signing_key.expose_secret()) {
            return Err(AppSecretsError::MalformedSigningKey);
        }
        Ok(Self {
            server_name: get(SERVER_NAME)?.expose_secret().to_string(),
            registration_shared_secret: get(REGISTRATION_SHARED_SECRET)?,
            macaroon_secret_key: get(MACAROON_SECRET_KEY)?,
            form_secret: get(FORM_SECRET)?,
            signing_key,
        })
    }

    /// The Juju secret content (keys follow Juju's `^[a-z](-?[a-z0-9]){2,}$`).
    pub fn to_content(&self) -> SecretContent {
        SecretContent::from([
            (SERVER_NAME.to_string(), SecretString::from(self.server_name.clone())),
            (REGISTRATION_SHARED_SECRET.to_string(), self.registration_shared_secret.clone()),
            (MACAROON_SECRET_KEY.to_string(), self.macaroon_secret_key.clone()),
            (FORM_SECRET.to_string(), self.form_secret.clone()),
            (SIGNING_KEY.to_string(), self.signing_key.clone()),
        ])
    }
}

/// Synapse's signing key file line: `ed25519 <key id> <base64 of a 32-byte seed>`.
fn is_signing_key(line: &str) -> bool {
    let parts: Vec<&str> = line.split(' ').collect();
    let [algorithm, key_id, seed] = parts.as_slice() else { return false };
    let seed = seed.trim_end_matches('=');
    *algorithm == "ed25519"
        && key_id
            .strip_prefix("a_")
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        && STANDARD_NO_PAD
            .decode(seed)
            .or_else(|_| STANDARD.decode(seed))
            .is_ok_and(|bytes| bytes.len() == 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_long_distinct_and_well_formed() {
        let first = AppSecrets::generate("example.com");
        let second = AppSecrets::generate("example.com");
        let shared = first.registration_shared_secret.expose_secret();
        assert!(shared.len() >= 50 && shared.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(shared, second.registration_shared_secret.expose_secret());
        assert_ne!(first.macaroon_secret_key.expose_secret(), first.form_secret.expose_secret());
        let key = first.signing_key.expose_secret();
        assert!(is_signing_key(key), "{key}");
        let parts: Vec<&str> = key.split(' ').collect();
        assert_eq!(parts[1].len(), 6);
        assert!(!parts[2].ends_with('='));
        assert_ne!(key, second.signing_key.expose_secret());
    }

    #[test]
    fn content_round_trips_with_valid_keys() {
        let secrets = AppSecrets::generate("example.com");
        let content = secrets.to_content();
        assert!(content.keys().all(|key| juju::secrets::is_valid_content_key(key)), "{:?}", content.keys());
        let back = AppSecrets::from_content(&content).unwrap();
        assert_eq!(back.server_name, "example.com");
        assert_eq!(back.signing_key.expose_secret(), secrets.signing_key.expose_secret());
        assert_eq!(back.form_secret.expose_secret(), secrets.form_secret.expose_secret());
    }

    #[test]
    fn incomplete_or_malformed_content_is_an_error() {
        let mut content = AppSecrets::generate("example.com").to_content();
        content.remove(FORM_SECRET);
        assert_eq!(AppSecrets::from_content(&content).unwrap_err(), AppSecretsError::MissingKey(FORM_SECRET));
        let mut content = AppSecrets::generate("example.com").to_content();
        content.insert(SIGNING_KEY.into(), SecretString::from("ed25519 a_abcd c2hvcnQ"));
        assert_eq!(AppSecrets::from_content(&content).unwrap_err(), AppSecretsError::MalformedSigningKey);
    }

    #[test]
    fn debug_output_hides_every_secret() {
        let secrets = AppSecrets::generate("example.com");
        let shown = format!("{secrets:?}");
        for value in [&secrets.registration_shared_secret, &secrets.macaroon_secret_key, &secrets.signing_key]
        {
            assert!(!shown.contains(value.expose_secret()), "{shown}");
        }
    }
}
