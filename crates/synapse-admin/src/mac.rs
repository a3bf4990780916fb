//! The MAC that proves knowledge of the shared secret in Synapse's shared-secret registration.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;

/// What a registration request asserts; the MAC binds all of it to the nonce.
pub(crate) struct RegistrationClaims<'a> {
    pub nonce: &'a str,
    pub username: &'a str,
    pub password: &'a SecretString,
    pub admin: bool,
}

/// Lowercase hex HMAC-SHA1, keyed with the shared secret, over nonce, username, password and
/// `admin` or `notadmin`, separated by NUL bytes.
pub(crate) fn registration_mac(
    shared_secret: &SecretString,
    claims: &RegistrationClaims<'_>,
) -> SecretString {
    let mut mac = Hmac::<Sha1>::new_from_slice(shared_secret.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    let role: &[u8] = if claims.admin { b"admin" } else { b"notadmin" };
    let fields = [
        claims.nonce.as_bytes(),
        claims.username.as_bytes(),
        claims.password.expose_secret().as_bytes(),
        role,
    ];
    for (index, field) in fields.iter().enumerate() {
        if index > 0 {
            mac.update(b"\0");
        }
        mac.update(field);
    }
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    SecretString::from(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(secret: &str, nonce: &str, username: &str, password: &str, admin: bool) -> String {
        let password = SecretString::from(password);
        let claims = RegistrationClaims { nonce, username, password: &password, admin };
        registration_mac(&SecretString::from(secret), &claims).expose_secret().to_owned()
    }

    /// HMAC-SHA1 of the NUL-joined message, computed independently with
    /// `python3 -c 'import hmac,hashlib; print(hmac.new(b"key", b"n\0u\0p\0notadmin", hashlib.sha1).hexdigest())'`.
    #[test]
    fn matches_an_independent_hmac_sha1() {
        assert_eq!(mac("key", "n", "u", "p", false), "723d56efdd0e9ba3351f1fb6a593071a292c7dad");
    }

    #[test]
    fn every_claim_changes_the_mac() {
        let base = mac("key", "nonce", "user", "pw", false);
        assert_eq!(base.len(), 40);
        assert!(base.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        for other in [
            mac("other", "nonce", "user", "pw", false),
            mac("key", "nonce2", "user", "pw", false),
            mac("key", "nonce", "user2", "pw", false),
            mac("key", "nonce", "user", "pw2", false),
            mac("key", "nonce", "user", "pw", true),
            // Moving the separator must matter too.
            mac("key", "nonce", "use", "rpw", false),
        ] {
            assert_ne!(base, other);
        }
    }
}
