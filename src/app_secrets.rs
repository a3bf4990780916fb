//! The application-wide secrets every unit's Synapse must share: the registration shared
//! secret, the macaroon and form secrets and the server's signing key. The leader generates
//! them once into one Juju application secret; every unit reads that secret by its label.
//! The secret also records the server name they were made for, which pins `server_name`.
//!
//! A server this charm did not set up (the upstream charm's) keeps its identity: the leader
//! builds the secrets from what it finds ([`Adoption`]) instead of generating them.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use juju::{LogLevel, SecretContent};
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

/// A secret value found in a server the charm did not set up, and where it was found.
#[derive(Clone)]
pub struct Found {
    pub value: SecretString,
    /// Where it was found, for the log (never the value).
    pub source: String,
}

impl Found {
    /// The value without surrounding whitespace (a key file's final newline).
    pub fn new(value: &str, source: impl Into<String>) -> Self {
        Self { value: SecretString::from(value.trim().to_string()), source: source.into() }
    }
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Found(<redacted> from {})", self.source)
    }
}

/// What the leader found of the secrets of a server it did not set up: for each, the
/// values in the order of their authority (the first usable one is adopted).
#[derive(Debug, Clone, Default)]
pub struct Adoption {
    /// The `server_name` of the server's homeserver.yaml.
    pub server_name: String,
    pub signing_keys: Vec<Found>,
    pub macaroon_secret_keys: Vec<Found>,
    pub registration_shared_secrets: Vec<Found>,
    pub form_secrets: Vec<Found>,
    /// Every place the signing key was looked for, in order.
    pub signing_key_places: Vec<String>,
    /// What could not be read, and why (for the log).
    pub problems: Vec<String>,
}

/// The secrets built from an [`Adoption`], and what the log should say of it.
#[derive(Debug)]
pub struct Adopted {
    pub secrets: AppSecrets,
    pub report: Vec<(LogLevel, String)>,
}

/// The server's signing key is nowhere to be found (or none found is usable): adopting it
/// would change the server's identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no usable signing key for {server_name} in {}", places.join(", "))]
pub struct NoSigningKey {
    pub server_name: String,
    pub places: Vec<String>,
    /// Why the keys that were found are not usable.
    pub problems: Vec<String>,
}

impl Adoption {
    /// The application secrets of the adopted server: the first well-formed signing key;
    /// the first macaroon secret key, registration shared secret and form secret found. A
    /// macaroon secret key found nowhere is the registration shared secret, as Synapse then
    /// uses; what is still missing (a form secret, say) comes from `generate`, called at most
    /// once. Never generates a signing key.
    pub fn adopt(&self, generate: impl FnOnce(&str) -> AppSecrets) -> Result<Adopted, NoSigningKey> {
        let mut report: Vec<(LogLevel, String)> =
            self.problems.iter().map(|problem| (LogLevel::Warning, problem.clone())).collect();
        let mut unusable = Vec::new();
        let signing_key = self.signing_keys.iter().find(|found| {
            let usable = is_signing_key(found.value.expose_secret());
            if !usable {
                unusable.push(format!(
                    "the signing key in {} is not one ed25519 key in Synapse's format",
                    found.source
                ));
            }
            usable
        });
        let Some(signing_key) = signing_key else {
            return Err(NoSigningKey {
                server_name: self.server_name.clone(),
                places: self.signing_key_places.clone(),
                problems: unusable,
            });
        };
        report.extend(unusable.into_iter().map(|line| (LogLevel::Warning, line)));
        for (what, candidates) in [
            ("signing key", &self.signing_keys),
            ("macaroon secret key", &self.macaroon_secret_keys),
            ("registration shared secret", &self.registration_shared_secrets),
            ("form secret", &self.form_secrets),
        ] {
            if let Some(first) = candidates.first() {
                for other in candidates.iter().skip(1) {
                    if other.value.expose_secret() != first.value.expose_secret() {
                        report.push((
                            LogLevel::Warning,
                            format!(
                                "the {what} in {} differs from the one in {}; adopting the latter",
                                other.source, first.source
                            ),
                        ));
                    }
                }
            }
        }
        let mut generated = None;
        let mut generate = Some(generate);
        let mut fresh = |pick: fn(&AppSecrets) -> &SecretString| {
            let secrets =
                generated.get_or_insert_with(|| (generate.take().expect("called once"))(&self.server_name));
            pick(secrets).clone()
        };
        let key_id = signing_key.value.expose_secret().split(' ').nth(1).unwrap_or_default().to_string();
        let mut adopted = vec![format!("signing key {key_id} from {}", signing_key.source)];
        let mut take = |what: &str, candidates: &[Found]| -> Option<SecretString> {
            let found = candidates.first()?;
            adopted.push(format!("{what} from {}", found.source));
            Some(found.value.clone())
        };
        let registration_shared_secret =
            take("registration shared secret", &self.registration_shared_secrets);
        let macaroon_secret_key = take("macaroon secret key", &self.macaroon_secret_keys);
        let form_secret = take("form secret", &self.form_secrets);
        let registration_shared_secret = registration_shared_secret.unwrap_or_else(|| {
            report.push((
                LogLevel::Warning,
                "no registration shared secret was found: generating one (nothing could register users with \
                 it before)"
                    .to_string(),
            ));
            fresh(|secrets| &secrets.registration_shared_secret)
        });
        let macaroon_secret_key = match macaroon_secret_key {
            Some(key) => key,
            None if !self.registration_shared_secrets.is_empty() => {
                adopted
                    .push("macaroon secret key: the registration shared secret, as Synapse used it".into());
                registration_shared_secret.clone()
            }
            None => {
                report.push((
                    LogLevel::Warning,
                    "no macaroon secret key was found: generating one; login tokens issued before are no \
                     longer accepted"
                        .to_string(),
                ));
                fresh(|secrets| &secrets.macaroon_secret_key)
            }
        };
        let form_secret = form_secret.unwrap_or_else(|| {
            adopted.push("form secret generated (none was found)".into());
            fresh(|secrets| &secrets.form_secret)
        });
        report.insert(
            0,
            (
                LogLevel::Info,
                format!(
                    "adopting the Synapse server of /data for server_name {:?}: {}",
                    self.server_name,
                    adopted.join("; ")
                ),
            ),
        );
        let secrets = AppSecrets {
            server_name: self.server_name.clone(),
            registration_shared_secret,
            macaroon_secret_key,
            form_secret,
            signing_key: signing_key.value.clone(),
        };
        Ok(Adopted { secrets, report })
    }

    /// Every value found, to hide from anything logged.
    pub fn values(&self) -> Vec<SecretString> {
        let all = [
            &self.signing_keys,
            &self.macaroon_secret_keys,
            &self.registration_shared_secrets,
            &self.form_secrets,
        ];
        let mut values: Vec<SecretString> =
            all.into_iter().flatten().map(|found| found.value.clone()).collect();
        for key in &self.signing_keys {
            if let Some(seed) = key.value.expose_secret().rsplit(' ').next() {
                values.push(SecretString::from(seed.to_string()));
            }
        }
        values
    }
}

/// Synapse's signing key file line: `ed25519 <key id> <base64 of a 32-byte seed>`.
pub fn is_signing_key(line: &str) -> bool {
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

    fn found(value: &str, source: &str) -> Found {
        Found::new(value, source)
    }

    fn never(_: &str) -> AppSecrets {
        panic!("nothing must be generated here")
    }

    /// An upstream server with every secret found once.
    fn upstream(key: &str) -> Adoption {
        Adoption {
            server_name: "example.com".into(),
            signing_keys: vec![found(key, "the peer secret")],
            macaroon_secret_keys: vec![found("macaroon", "homeserver.yaml (macaroon_secret_key)")],
            registration_shared_secrets: vec![found(
                "registration",
                "homeserver.yaml (registration_shared_secret)",
            )],
            form_secrets: vec![found("form", "homeserver.yaml (form_secret)")],
            signing_key_places: vec!["a".into(), "b".into()],
            problems: Vec::new(),
        }
    }

    #[test]
    fn an_upstream_server_is_adopted_as_found_and_nothing_is_generated() {
        let key = AppSecrets::generate("example.com").signing_key.expose_secret().to_string();
        let Adopted { secrets, report } = upstream(&key).adopt(never).unwrap();
        assert_eq!(secrets.server_name, "example.com");
        assert_eq!(secrets.signing_key.expose_secret(), &key);
        assert_eq!(secrets.registration_shared_secret.expose_secret(), "registration");
        assert_eq!(secrets.macaroon_secret_key.expose_secret(), "macaroon");
        assert_eq!(secrets.form_secret.expose_secret(), "form");
        assert_eq!(report.len(), 1, "{report:?}");
        let key_id = key.split(' ').nth(1).unwrap();
        assert_eq!(
            report[0].1,
            format!(
                "adopting the Synapse server of /data for server_name \"example.com\": signing key {key_id} from the \
                 peer secret; registration shared secret from homeserver.yaml (registration_shared_secret); \
                 macaroon secret key from homeserver.yaml (macaroon_secret_key); form secret from homeserver.yaml \
                 (form_secret)"
            )
        );
        assert!(!report[0].1.contains("registration\""), "no value is logged");
        let values: Vec<String> =
            upstream(&key).values().iter().map(|v| v.expose_secret().to_string()).collect();
        assert!(values.contains(&key) && values.contains(&key.rsplit(' ').next().unwrap().to_string()));
    }

    #[test]
    fn the_first_usable_signing_key_wins_and_differences_are_logged() {
        let first = AppSecrets::generate("example.com").signing_key.expose_secret().to_string();
        let second = AppSecrets::generate("example.com").signing_key.expose_secret().to_string();
        let mut adoption = upstream(&first);
        adoption.signing_keys = vec![
            found("ed25519 a_bad c2hvcnQ", "the peer secret"),
            found(&first, "the label"),
            found(&second, "the file"),
        ];
        let Adopted { secrets, report } = adoption.adopt(never).unwrap();
        assert_eq!(secrets.signing_key.expose_secret(), &first);
        let warnings: Vec<&str> = report
            .iter()
            .filter(|(level, _)| *level == LogLevel::Warning)
            .map(|(_, line)| line.as_str())
            .collect();
        assert!(warnings
            .iter()
            .any(|line| line.contains("the signing key in the peer secret is not one ed25519 key")));
        assert!(
            warnings
                .iter()
                .any(|line| line
                    .contains("the signing key in the file differs from the one in the peer secret"))
        );
    }

    #[test]
    fn only_what_is_not_identity_is_generated() {
        let key = AppSecrets::generate("example.com").signing_key.expose_secret().to_string();
        let mut adoption = upstream(&key);
        adoption.form_secrets.clear();
        adoption.macaroon_secret_keys.clear();
        let mut calls = 0;
        let Adopted { secrets, report } = adoption
            .adopt(|name| {
                calls += 1;
                AppSecrets::generate(name)
            })
            .unwrap();
        assert_eq!(calls, 1);
        assert_eq!(secrets.signing_key.expose_secret(), &key);
        assert_eq!(
            secrets.macaroon_secret_key.expose_secret(),
            "registration",
            "Synapse uses the registration shared secret without a macaroon secret key"
        );
        assert_eq!(secrets.form_secret.expose_secret().len(), 64);
        assert!(report[0].1.contains("form secret generated (none was found)"), "{}", report[0].1);
    }

    #[test]
    fn no_usable_signing_key_refuses_the_adoption() {
        let mut adoption = upstream("x");
        adoption.signing_keys.clear();
        let error = adoption.adopt(never).unwrap_err();
        assert_eq!(error.places, ["a", "b"]);
        assert!(error.problems.is_empty());
        assert_eq!(error.to_string(), "no usable signing key for example.com in a, b");
        let malformed = upstream("ed25519 a_x c2hvcnQ").adopt(never).unwrap_err();
        assert_eq!(malformed.problems.len(), 1, "{:?}", malformed.problems);
        assert!(format!("{:?}", upstream("ed25519 a_x c2hvcnQ")).contains("<redacted>"));
        assert!(!format!("{:?}", upstream("ed25519 a_x c2hvcnQ")).contains("c2hvcnQ"));
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
