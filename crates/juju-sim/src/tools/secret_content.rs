//! Secret content from `secret-add`/`secret-set` arguments (`key=value`, `key#base64=...`,
//! `key#file=...`) and `--file` (YAML or JSON), validated and base64-encoded as Juju does.

use std::collections::BTreeMap;
use std::fs;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::{go_quote, os_error_text};

const MAX_VALUE_BYTES: usize = 8 * 1024;
const MAX_CONTENT_BYTES: usize = 64 * 1024;

/// Juju's content key rule `^[a-z](-?[a-z0-9]){2,}$`.
fn valid_content_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    if !bytes.first().is_some_and(u8::is_ascii_lowercase) {
        return false;
    }
    let mut groups = 0;
    let mut index = 1;
    while index < bytes.len() {
        if bytes[index] == b'-' {
            index += 1;
        }
        match bytes.get(index) {
            Some(b) if b.is_ascii_lowercase() || b.is_ascii_digit() => {
                groups += 1;
                index += 1;
            }
            _ => return false,
        }
    }
    groups >= 2
}

/// `~` expansion as `utils.NormalizePath` does.
fn normalize_path(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => path.to_owned(),
    }
}

/// `secrets.CreateSecretData`: `key=value`, `key#base64=<b64>`, `key#file=<path>`; returns
/// key → base64 value.
pub(super) fn content_from_args(args: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut data = BTreeMap::new();
    for arg in args {
        let stripped = arg.trim_end_matches('=');
        let index = match stripped.find('=') {
            Some(index) if index >= 1 => index,
            _ => return Err(format!("key value {} not valid", go_quote(arg))),
        };
        let (key, value) = (&arg[..index], &arg[index + 1..]);
        match key.strip_suffix("#file") {
            Some(key) => {
                let path = normalize_path(value);
                if let Ok(meta) = fs::metadata(&path) {
                    if meta.len() > MAX_VALUE_BYTES as u64 {
                        return Err(format!(
                            "secret content in file {} too large: {} bytes",
                            go_quote(&path),
                            meta.len()
                        ));
                    }
                }
                let content = fs::read(value).map_err(|e| {
                    format!(
                        "reading content for secret key {}: open {value}: {}",
                        go_quote(key),
                        os_error_text(&e)
                    )
                })?;
                data.insert(key.to_owned(), String::from_utf8_lossy(&content).into_owned());
            }
            None => {
                data.insert(key.to_owned(), value.to_owned());
            }
        }
    }
    encode_content(data)
}

/// `secrets.ReadSecretData`: a JSON or YAML map from a file.
pub(super) fn content_from_file(path: &str) -> Result<BTreeMap<String, String>, String> {
    let path = normalize_path(path);
    if let Ok(meta) = fs::metadata(&path) {
        if meta.len() > MAX_CONTENT_BYTES as u64 {
            return Err(format!(
                "secret content in file {} too large: {} bytes",
                go_quote(&path),
                meta.len()
            ));
        }
    }
    let bytes = fs::read(&path).map_err(|e| format!("open {path}: {}", os_error_text(&e)))?;
    let raw: BTreeMap<String, serde_norway::Value> =
        serde_norway::from_slice(&bytes).map_err(|e| format!("yaml: {e}"))?;
    let mut data = BTreeMap::new();
    for (key, value) in raw {
        let text = match value {
            serde_norway::Value::String(text) => text,
            serde_norway::Value::Number(number) => number.to_string(),
            serde_norway::Value::Bool(on) => on.to_string(),
            serde_norway::Value::Null => String::new(),
            _ => {
                return Err(format!(
                    "yaml: cannot unmarshal a collection into string for key {}",
                    go_quote(&key)
                ))
            }
        };
        data.insert(key, text);
    }
    encode_content(data)
}

fn encode_content(data: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut total = 0;
    for (key, value) in data {
        if value.len() > MAX_VALUE_BYTES {
            return Err(format!(
                "secret content for key {} too large: {} bytes",
                go_quote(&key),
                value.len()
            ));
        }
        total += value.len();
        let (key, encoded) = match key.strip_suffix("#base64") {
            Some(key) => (key.to_owned(), value),
            None => {
                let encoded = STANDARD.encode(&value);
                (key, encoded)
            }
        };
        if !valid_content_key(&key) {
            return Err(format!("key {} not valid", go_quote(&key)));
        }
        out.insert(key, encoded);
    }
    if total > MAX_CONTENT_BYTES {
        return Err(format!("secret content too large: {total} bytes"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_keys_follow_juju_regex() {
        for good in ["abc", "a-bc", "password", "tls-key2", "a1b"] {
            assert!(valid_content_key(good), "{good}");
        }
        for bad in ["ab", "Abc", "1abc", "a--bc", "abc-", "a_bc", ""] {
            assert!(!valid_content_key(bad), "{bad}");
        }
    }

    #[test]
    fn parses_content_arguments() {
        let args = vec!["token=s3cret".to_owned(), "raw#base64=AA==".to_owned()];
        let content = content_from_args(&args).unwrap();
        assert_eq!(content["token"], STANDARD.encode("s3cret"));
        assert_eq!(content["raw"], "AA==");
        assert_eq!(content_from_args(&["token=".to_owned()]).unwrap_err(), "key value \"token=\" not valid");
        assert_eq!(content_from_args(&["X=1".to_owned()]).unwrap_err(), "key \"X\" not valid");
        let big = format!("token={}", "x".repeat(MAX_VALUE_BYTES + 1));
        assert_eq!(
            content_from_args(&[big]).unwrap_err(),
            format!("secret content for key \"token\" too large: {} bytes", MAX_VALUE_BYTES + 1)
        );
    }

    #[test]
    fn reads_file_content_without_it_appearing_in_args() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        fs::write(&path, "hunter2").unwrap();
        let arg = format!("password#file={}", path.display());
        let content = content_from_args(&[arg]).unwrap();
        assert_eq!(content["password"], STANDARD.encode("hunter2"));
        let missing = format!("password#file={}/nope", dir.path().display());
        assert!(content_from_args(&[missing])
            .unwrap_err()
            .starts_with("reading content for secret key \"password\": open "));
    }
}
