//! Hides every secret value the hook knows (each component lists those it holds) from text
//! that is logged or shown in a status.

use secrecy::{ExposeSecret, SecretString};

/// What replaces a secret value.
const MASK: &str = "<redacted>";
/// Shorter values are not masked: they would hide ordinary words.
const MIN_LENGTH: usize = 8;

/// The secret values to hide.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    values: Vec<SecretString>,
}

impl Redactor {
    pub fn add(&mut self, value: &SecretString) {
        if value.expose_secret().len() >= MIN_LENGTH {
            self.values.push(value.clone());
        }
    }

    /// `text` with every known secret value replaced, longest first (so a value that
    /// contains another is hidden whole).
    pub fn apply(&self, text: &str) -> String {
        let mut values: Vec<&str> = self.values.iter().map(|value| value.expose_secret()).collect();
        values.sort_by_key(|value| std::cmp::Reverse(value.len()));
        let mut redacted = text.to_string();
        for value in values {
            if redacted.contains(value) {
                redacted = redacted.replace(value, MASK);
            }
        }
        redacted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app_secrets::AppSecrets;

    #[test]
    fn every_secret_value_and_the_seed_are_hidden() {
        let secrets = AppSecrets::generate("example.com");
        let seed = secrets.signing_key.expose_secret().rsplit(' ').next().unwrap().to_string();
        let mut redactor = Redactor::default();
        for value in secrets.values() {
            redactor.add(&value);
        }
        redactor.add(&SecretString::from("as-token-of-a-bridge".to_string()));
        redactor.add(&SecretString::from("short".to_string()));
        let text = format!(
            "bad value {} and {} near {seed}, token as-token-of-a-bridge, short stays",
            secrets.registration_shared_secret.expose_secret(),
            secrets.form_secret.expose_secret()
        );
        assert_eq!(
            redactor.apply(&text),
            "bad value <redacted> and <redacted> near <redacted>, token <redacted>, short stays"
        );
    }
}
