//! Random passwords for newly registered users.

use rand::distr::{Alphanumeric, SampleString};
use secrecy::SecretString;

/// Length of a [`generate_password`] password, as the upstream charm uses.
pub const PASSWORD_LENGTH: usize = 16;

/// A fresh password of [`PASSWORD_LENGTH`] random ASCII letters and digits from the thread's
/// cryptographically secure generator.
pub fn generate_password() -> SecretString {
    SecretString::from(Alphanumeric.sample_string(&mut rand::rng(), PASSWORD_LENGTH))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn passwords_are_16_alphanumerics_and_differ() {
        let first = generate_password();
        let second = generate_password();
        for password in [&first, &second] {
            assert_eq!(password.expose_secret().len(), PASSWORD_LENGTH);
            assert!(password.expose_secret().bytes().all(|b| b.is_ascii_alphanumeric()));
        }
        // Two equal draws from 62^16 would mean a broken generator.
        assert_ne!(first.expose_secret(), second.expose_secret());
    }
}
