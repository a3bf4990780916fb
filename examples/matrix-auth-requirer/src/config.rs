//! The charm's options (config.yaml), parsed once per hook into [`Settings`].

use serde_json::{Map, Value};

/// Which kind of matrix_auth requirer this application is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// IRC-bridge style: sends an appservice registration to the homeserver.
    Bidirectional,
    /// maubot style: only reads the homeserver URL and the registration shared secret.
    Unidirectional,
}

/// The validated options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    pub rotate_tokens: bool,
    pub bot_nickname: String,
    pub namespace_prefix: String,
    /// `None`: the application's Kubernetes service URL.
    pub external_url: Option<String>,
    /// `None`: the host of the provider's homeserver URL.
    pub server_name: Option<String>,
}

/// An option with a value the charm cannot use; shown in the Blocked status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("option {option} must be a {expected}")]
    WrongType { option: &'static str, expected: &'static str },
    #[error("mode must be bidirectional or unidirectional, not {0:?}")]
    UnknownMode(String),
    #[error("bot-nickname must be lowercase letters, digits, '.', '_' or '-', not {0:?}")]
    BadNickname(String),
    #[error("namespace-prefix must be lowercase letters, digits, '.', '_', '=' or '-', not {0:?}")]
    BadPrefix(String),
    #[error("external-url must start with http:// or https:// and have a host, not {0:?}")]
    BadExternalUrl(String),
    #[error("server-name must be a host name, not {0:?}")]
    BadServerName(String),
}

impl Settings {
    /// Reads the output of `config-get` (absent options take config.yaml's defaults).
    pub fn from_config(config: &Map<String, Value>) -> Result<Self, ConfigError> {
        let mode = match string(config, "mode")?.unwrap_or("bidirectional") {
            "bidirectional" => Mode::Bidirectional,
            "unidirectional" => Mode::Unidirectional,
            other => return Err(ConfigError::UnknownMode(other.to_string())),
        };
        let rotate_tokens = match config.get("rotate-tokens") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(rotate)) => *rotate,
            Some(_) => return Err(ConfigError::WrongType { option: "rotate-tokens", expected: "boolean" }),
        };
        let bot_nickname = string(config, "bot-nickname")?.unwrap_or("libera-bot").to_string();
        if bot_nickname.is_empty() || !bot_nickname.chars().all(|c| is_localpart_char(c, "._-")) {
            return Err(ConfigError::BadNickname(bot_nickname));
        }
        let namespace_prefix = string(config, "namespace-prefix")?.unwrap_or("libera_").to_string();
        if namespace_prefix.is_empty() || !namespace_prefix.chars().all(|c| is_localpart_char(c, "._=-")) {
            return Err(ConfigError::BadPrefix(namespace_prefix));
        }
        let external_url = non_empty(string(config, "external-url")?);
        if let Some(url) = &external_url {
            if crate::registration::url_host(url).is_none() {
                return Err(ConfigError::BadExternalUrl(url.clone()));
            }
        }
        let server_name = non_empty(string(config, "server-name")?);
        if let Some(name) = &server_name {
            if !is_host_name(name) {
                return Err(ConfigError::BadServerName(name.clone()));
            }
        }
        Ok(Self { mode, rotate_tokens, bot_nickname, namespace_prefix, external_url, server_name })
    }
}

fn string<'a>(config: &'a Map<String, Value>, option: &'static str) -> Result<Option<&'a str>, ConfigError> {
    match config.get(option) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.trim())),
        Some(_) => Err(ConfigError::WrongType { option, expected: "string" }),
    }
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value.filter(|value| !value.is_empty()).map(str::to_string)
}

/// Matrix localparts allow lowercase letters, digits and a few punctuation characters.
fn is_localpart_char(c: char, punctuation: &str) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || punctuation.contains(c)
}

/// A DNS name or IP literal, optionally with a port (Synapse's server_name grammar).
fn is_host_name(name: &str) -> bool {
    let host = crate::registration::strip_port(name);
    !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        && !host.starts_with(['.', '-'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(value: Value) -> Result<Settings, ConfigError> {
        Settings::from_config(value.as_object().expect("an object"))
    }

    #[test]
    fn defaults_make_an_irc_style_bridge() {
        let parsed = settings(json!({})).unwrap();
        assert_eq!(
            parsed,
            Settings {
                mode: Mode::Bidirectional,
                rotate_tokens: false,
                bot_nickname: "libera-bot".into(),
                namespace_prefix: "libera_".into(),
                external_url: None,
                server_name: None,
            }
        );
        let empty = settings(json!({"external-url": "", "server-name": " "})).unwrap();
        assert_eq!((empty.external_url, empty.server_name), (None, None));
    }

    #[test]
    fn reads_every_option() {
        let parsed = settings(json!({
            "mode": "unidirectional",
            "rotate-tokens": true,
            "bot-nickname": "oftc.bot",
            "namespace-prefix": "oftc_",
            "external-url": "https://bridge.example.org/brücke",
            "server-name": "example.org:8448",
        }))
        .unwrap();
        assert_eq!(parsed.mode, Mode::Unidirectional);
        assert!(parsed.rotate_tokens);
        assert_eq!(parsed.bot_nickname, "oftc.bot");
        assert_eq!(parsed.namespace_prefix, "oftc_");
        assert_eq!(parsed.external_url.as_deref(), Some("https://bridge.example.org/brücke"));
        assert_eq!(parsed.server_name.as_deref(), Some("example.org:8448"));
    }

    #[test]
    fn refuses_values_the_bridge_cannot_use() {
        assert_eq!(settings(json!({"mode": "both"})), Err(ConfigError::UnknownMode("both".into())));
        assert_eq!(
            settings(json!({"rotate-tokens": "yes"})),
            Err(ConfigError::WrongType { option: "rotate-tokens", expected: "boolean" })
        );
        assert_eq!(settings(json!({"bot-nickname": "Bot"})), Err(ConfigError::BadNickname("Bot".into())));
        assert_eq!(settings(json!({"bot-nickname": ""})), Err(ConfigError::BadNickname(String::new())));
        assert_eq!(settings(json!({"namespace-prefix": "a*"})), Err(ConfigError::BadPrefix("a*".into())));
        assert_eq!(
            settings(json!({"external-url": "bridge:8090"})),
            Err(ConfigError::BadExternalUrl("bridge:8090".into()))
        );
        assert_eq!(
            settings(json!({"server-name": "exa mple.org"})),
            Err(ConfigError::BadServerName("exa mple.org".into()))
        );
        assert_eq!(
            settings(json!({"mode": 3})),
            Err(ConfigError::WrongType { option: "mode", expected: "string" })
        );
    }
}
