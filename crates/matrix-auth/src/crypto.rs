//! Fernet encryption of the registration text, as `cryptography.fernet.Fernet` does it.
//!
//! Keys are the 44-character URL-safe base64 strings Python's `Fernet.generate_key()` makes.
//! Tokens never expire and their timestamps are not checked against the clock, exactly like
//! Python's `Fernet.decrypt(token)` without a TTL.

use fernet::Fernet;
use secrecy::{ExposeSecret, SecretString};

/// Why a key or token was refused. Never carries the key, the token or the plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The key is not 32 bytes of padded URL-safe base64 (Python raises `ValueError`).
    #[error("the Fernet key is malformed (expected 44 characters of URL-safe base64)")]
    MalformedKey,
    /// Wrong key, tampered or truncated token, or not a token at all (`InvalidToken`).
    #[error("the Fernet token is invalid or was made with another key")]
    InvalidToken,
    /// The token decrypted, but its plaintext is not UTF-8 text.
    #[error("the decrypted plaintext is not UTF-8")]
    NotUtf8,
}

/// Length of a padded URL-safe base64 encoding of 32 bytes.
const KEY_LENGTH: usize = 44;

/// The "current time" handed to the decryptor: as late as the crate allows without overflow,
/// so no token counts as coming from the future (Python checks no clock without a TTL).
const NO_CLOCK_CHECK: u64 = u64::MAX - 60;

/// A fresh random key, in the form Python stores in the `encryption-key-secret`.
pub fn generate_key() -> SecretString {
    SecretString::from(Fernet::generate_key())
}

/// Encrypts the UTF-8 bytes of `plaintext` into a token (random IV, current time).
pub fn encrypt_string(key: &SecretString, plaintext: &str) -> Result<String, CryptoError> {
    Ok(cipher(key)?.encrypt(plaintext.as_bytes()))
}

/// Decrypts a token made by [`encrypt_string`] or by Python's `Fernet.encrypt`.
pub fn decrypt_string(key: &SecretString, token: &str) -> Result<SecretString, CryptoError> {
    let bytes = cipher(key)?
        .decrypt_at_time(token.trim(), None, NO_CLOCK_CHECK)
        .map_err(|_| CryptoError::InvalidToken)?;
    String::from_utf8(bytes).map(SecretString::from).map_err(|_| CryptoError::NotUtf8)
}

fn cipher(key: &SecretString) -> Result<Fernet, CryptoError> {
    let key = key.expose_secret().trim();
    // Python insists on the padding; the crate alone would also take the unpadded form.
    if key.len() != KEY_LENGTH || !key.ends_with('=') {
        return Err(CryptoError::MalformedKey);
    }
    Fernet::new(key).ok_or(CryptoError::MalformedKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Fernet specification's key, used by both vectors in the interface notes.
    const VECTOR_KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
    const HELLO_TOKEN: &str = "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==";
    const REGISTRATION_TOKEN: &str = "gAAAAABlU_EAAAECAwQFBgcICQoLDA0OD2fh5vahwyOEhDYR9lq2rKoRDiI1Ds7jfqr90E5Ic_972-DSdogb5ctum-au8JjsVFy3kaBdmCaPAdVLhQgaN0WFmje13cYDmrBc9LyTzI-C";

    fn key(text: &str) -> SecretString {
        SecretString::from(text)
    }

    #[test]
    fn decrypts_the_specification_vectors() {
        let plain = decrypt_string(&key(VECTOR_KEY), HELLO_TOKEN).unwrap();
        assert_eq!(plain.expose_secret(), "hello");
        let plain = decrypt_string(&key(VECTOR_KEY), REGISTRATION_TOKEN).unwrap();
        assert_eq!(plain.expose_secret(), "id: irc\nurl: http://10.0.0.5:8090\n");
    }

    #[test]
    fn tokens_carry_version_and_time_like_the_vectors() {
        // The crate keeps the IV private, so the exact vector cannot be rebuilt; the version
        // byte and timestamp (the first 9 bytes, 12 base64 characters) can.
        let cipher = cipher(&key(VECTOR_KEY)).unwrap();
        assert_eq!(&cipher.encrypt_at_time(b"hello", 499_162_800)[..12], &HELLO_TOKEN[..12]);
        assert_eq!(&cipher.encrypt_at_time(b"x", 1_700_000_000)[..12], &REGISTRATION_TOKEN[..12]);
    }

    #[test]
    fn round_trips_with_generated_keys_and_differs_every_time() {
        let key = generate_key();
        assert_eq!(key.expose_secret().len(), KEY_LENGTH);
        let text = "id: bridge\nnote: grüße 🚀\n";
        let first = encrypt_string(&key, text).unwrap();
        let second = encrypt_string(&key, text).unwrap();
        assert_ne!(first, second, "random IV and time make every token unique");
        assert!(first.starts_with("gAAAAA"));
        assert_eq!(decrypt_string(&key, &first).unwrap().expose_secret(), text);
        assert_eq!(decrypt_string(&key, &second).unwrap().expose_secret(), text);
    }

    #[test]
    fn wrong_key_and_tampering_are_invalid_tokens() {
        let token = encrypt_string(&key(VECTOR_KEY), "payload").unwrap();
        assert_eq!(decrypt_string(&generate_key(), &token).unwrap_err(), CryptoError::InvalidToken);
        let mut bytes = token.into_bytes();
        let middle = bytes.len() / 2;
        bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(decrypt_string(&key(VECTOR_KEY), &tampered).unwrap_err(), CryptoError::InvalidToken);
        for garbage in ["", "not a token", "gAAAAA", "@@@@"] {
            assert_eq!(decrypt_string(&key(VECTOR_KEY), garbage).unwrap_err(), CryptoError::InvalidToken);
        }
    }

    #[test]
    fn future_tokens_are_accepted_like_python_without_ttl() {
        let cipher = cipher(&key(VECTOR_KEY)).unwrap();
        let far_future = cipher.encrypt_at_time(b"later", 32_503_680_000); // year 3000
        assert_eq!(decrypt_string(&key(VECTOR_KEY), &far_future).unwrap().expose_secret(), "later");
        let last_second = cipher.encrypt_at_time(b"end", u64::MAX);
        assert_eq!(decrypt_string(&key(VECTOR_KEY), &last_second).unwrap().expose_secret(), "end");
    }

    #[test]
    fn malformed_keys_are_refused() {
        let unpadded = VECTOR_KEY.trim_end_matches('=');
        let short = &VECTOR_KEY[4..];
        for bad in ["", "short", unpadded, short, "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!="] {
            assert_eq!(encrypt_string(&key(bad), "x").unwrap_err(), CryptoError::MalformedKey, "{bad}");
            assert_eq!(decrypt_string(&key(bad), HELLO_TOKEN).unwrap_err(), CryptoError::MalformedKey);
        }
        // Surrounding whitespace (a key pasted with a newline) is tolerated, as in Python.
        let padded = key(&format!(" {VECTOR_KEY}\n"));
        assert_eq!(decrypt_string(&padded, HELLO_TOKEN).unwrap().expose_secret(), "hello");
    }

    #[test]
    fn non_utf8_plaintext_is_reported() {
        let cipher = cipher(&key(VECTOR_KEY)).unwrap();
        let token = cipher.encrypt(&[0xff, 0xfe, 0x00]);
        assert_eq!(decrypt_string(&key(VECTOR_KEY), &token).unwrap_err(), CryptoError::NotUtf8);
    }

    #[test]
    fn errors_never_show_key_or_plaintext() {
        let secret_key = generate_key();
        let token = encrypt_string(&secret_key, "as_token: hunter2").unwrap();
        let error = decrypt_string(&key(VECTOR_KEY), &token).unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("hunter2") && !shown.contains(secret_key.expose_secret()), "{shown}");
        let shown = format!("{:?}", decrypt_string(&secret_key, &token).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
