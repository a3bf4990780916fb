//! Fernet tokens cross between this crate and Python's `cryptography` in both directions.

mod support;

use matrix_auth::{decrypt_string, encrypt_string, generate_key};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use test_support::PythonVenv;

fn plaintexts() -> Vec<String> {
    let mut large = String::new();
    for line in 0..400 {
        large.push_str(&format!("  - exclusive: true\n    regex: '@bridge_{line}_.*:example\\.com'\n"));
    }
    vec![
        "hello".to_string(),
        "id: irc\nsender_localpart: böt\nnote: ünïcødé 🚀 日本語 — ok\n".to_string(),
        format!("namespaces:\n  users:\n{large}"),
        String::new(),
    ]
}

#[test]
fn tokens_and_keys_cross_both_ways() {
    let Some(venv) = PythonVenv::find_or_skip("ops", "Fernet interop with Python cryptography") else {
        return;
    };
    let texts = plaintexts();
    assert!(texts[2].len() > 16 * 1024, "a multi-KB plaintext");
    let rust_key = generate_key();
    let rust_tokens: Vec<String> =
        texts.iter().map(|text| encrypt_string(&rust_key, text).unwrap()).collect();

    let answer = support::run_script(
        venv.python(),
        "fernet_peer.py",
        &json!({"rust_key": rust_key.expose_secret(), "rust_tokens": rust_tokens, "plaintexts": texts}),
    );

    let decrypted_by_python: Vec<String> = serde_json::from_value(answer["decrypted"].clone()).unwrap();
    assert_eq!(decrypted_by_python, texts, "Python decrypts Rust tokens");

    let python_key = SecretString::from(answer["python_key"].as_str().unwrap());
    let python_tokens: Vec<String> = serde_json::from_value(answer["python_tokens"].clone()).unwrap();
    for (token, text) in python_tokens.iter().zip(&texts) {
        assert_eq!(
            decrypt_string(&python_key, token).unwrap().expose_secret(),
            text,
            "Rust decrypts Python tokens"
        );
    }
    let future = answer["future_token"].as_str().unwrap();
    assert_eq!(decrypt_string(&python_key, future).unwrap().expose_secret(), "from the future");
    // And a key made by Python works for Rust encryption too.
    let token = encrypt_string(&python_key, "round").unwrap();
    assert_eq!(decrypt_string(&python_key, &token).unwrap().expose_secret(), "round");
}
