//! The provider's side of one relation, as every requirer unit reads it.
//!
//! [`SmtpView::read`] makes one `relation-get` of the provider's application bag, checks it,
//! then, when it names a `password_id` secret, reads that secret with `--refresh` (the latest
//! revision, which this unit then tracks), so a changed password is seen in the
//! `secret-changed` hook that announces it. Without `password_id` the plain `password` key is
//! used (`smtp-legacy`). Incomplete or malformed provider data, and a secret this application
//! may not read, are [`SmtpView::NotReady`], never an error.
//!
//! No unit has to be in the relation: smtp-integrator's data does not depend on its units,
//! and its application bag stays readable while it has none.

use std::fmt;

use juju::{
    Databag, Effect, HookToolError, HookTools, ReadMode, RedactedCommand, RelationId, SecretRef, SecretUri,
    ToolErrorKind,
};
use secrecy::{ExposeSecret, SecretString};

use crate::protocol::{
    AuthType, TransportSecurity, AUTH_TYPE, DOMAIN, HOST, PASSWORD, PASSWORD_ID, PORT, RECIPIENTS,
    SECRET_PASSWORD, SKIP_SSL_VERIFY, SMTP_SENDER, TRANSPORT_SECURITY, USER,
};

/// Everything needed to send mail through the relay. `Debug` shows no password.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// The SMTP AUTH user, when published.
    pub user: Option<String>,
    /// From the `password_id` secret (key `password`), else the plain `password` key; `None`
    /// when the provider has no password configured.
    pub password: Option<SecretString>,
    /// The `password_id` secret the password came from (as published); `None` for a plain
    /// or absent password. Match `secret-changed` against it with [`Self::uses_secret`].
    pub password_secret: Option<SecretUri>,
    pub auth: AuthType,
    pub transport: TransportSecurity,
    /// Whether to skip verifying the relay's certificate.
    pub skip_ssl_verify: bool,
    pub domain: Option<String>,
    pub smtp_sender: Option<String>,
    /// Empty when the provider published none.
    pub recipients: Vec<String>,
}

impl SmtpSettings {
    /// Why Synapse cannot use these settings, in the exact words of the Python Synapse charm's
    /// Blocked status: it needs transport security and PLAIN authentication. `None` when
    /// Synapse accepts them.
    pub fn synapse_problem(&self) -> Option<&'static str> {
        if self.transport == TransportSecurity::None {
            Some("Transport security NONE is not supported for SMTP")
        } else if self.auth != AuthType::Plain {
            Some("Only PLAIN auth type is supported for SMTP")
        } else {
            None
        }
    }

    /// Whether `id` (from `secret-changed`) is the secret the password came from; URIs are
    /// compared by their unique id, whatever their form.
    pub fn uses_secret(&self, id: &SecretUri) -> bool {
        self.password_secret.as_ref().is_some_and(|own| own.same_secret(id))
    }
}

/// Whether two secret URIs name the same secret: their trailing unique ids are equal
/// (`secret:X`, `secret://<model-uuid>/X` and a bare `X` all match). False when either is not
/// a secret URI.
pub fn secret_matches(a: &str, b: &str) -> bool {
    match (SecretUri::parse(a), SecretUri::parse(b)) {
        (Some(a), Some(b)) => a.same_secret(&b),
        _ => false,
    }
}

/// Why the provider's data is not usable (yet). Nothing here is an error of this unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// The relation is gone (read during its teardown, or an unknown id).
    RelationGone,
    /// The remote application is not known (no remote unit has joined, or the relation is
    /// being torn down).
    ProviderUnknown,
    /// The provider's application bag is empty: it has not answered yet.
    NothingPublished,
    /// A required key (`host`, `port`, `auth_type` or `transport_security`) is missing.
    KeyMissing { key: &'static str },
    /// A key's value cannot be parsed.
    Malformed { key: &'static str, value: String },
    /// The `password_id` secret does not exist (any more).
    SecretNotFound { secret: SecretUri },
    /// The `password_id` secret exists but `app` may not read it: a user secret the operator
    /// has not granted yet.
    SecretNotGranted { secret: SecretUri, app: String },
    /// The `password_id` secret has no `password` key.
    SecretWithoutPassword { secret: SecretUri },
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RelationGone => f.write_str("the smtp relation is gone"),
            Self::ProviderUnknown => f.write_str("no SMTP provider application in the relation yet"),
            Self::NothingPublished => f.write_str("the SMTP provider has published no settings yet"),
            Self::KeyMissing { key } => write!(f, "the SMTP provider published no {key}"),
            Self::Malformed { key, value } => {
                write!(f, "the SMTP provider published {key} {value:?}, expected {}", expected(key))
            }
            Self::SecretNotFound { secret } => {
                write!(f, "the SMTP password secret {secret} (password_id) does not exist")
            }
            Self::SecretNotGranted { secret, app } => write!(
                f,
                "the SMTP password secret {secret} is not granted to {app}: \
                 run `juju grant-secret {secret} {app}`"
            ),
            Self::SecretWithoutPassword { secret } => {
                write!(f, "the SMTP password secret {secret} has no {SECRET_PASSWORD:?} key")
            }
        }
    }
}

/// What a well-formed value of `key` looks like, for [`NotReady::Malformed`].
fn expected(key: &str) -> &'static str {
    match key {
        PORT => "a port number (1-65535)",
        AUTH_TYPE => "none, not_provided or plain",
        TRANSPORT_SECURITY => "none, starttls or tls",
        SKIP_SSL_VERIFY => "True or False",
        RECIPIENTS => "a JSON list of e-mail addresses",
        PASSWORD_ID => "a secret URI",
        _ => "a valid value",
    }
}

/// The provider's side of a relation.
#[derive(Debug, Clone)]
pub enum SmtpView {
    Ready(Box<SmtpSettings>),
    NotReady(NotReady),
}

/// A hook-tool call failed for a reason that says nothing about the provider's data. The
/// source names the command, its exit code and stderr.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read the application bag of {app} on relation {relation}")]
    AppBag {
        relation: RelationId,
        app: String,
        #[source]
        source: HookToolError,
    },
    #[error("cannot read the SMTP password secret {id} on relation {relation}")]
    Secret {
        relation: RelationId,
        id: SecretUri,
        #[source]
        source: HookToolError,
    },
}

impl ReadError {
    pub fn tool_error(&self) -> &HookToolError {
        match self {
            Self::AppBag { source, .. } | Self::Secret { source, .. } => source,
        }
    }

    /// The failed command line (`None` only if the call could not even be prepared).
    pub fn command(&self) -> Option<&RedactedCommand> {
        self.tool_error().command()
    }
}

impl SmtpView {
    /// Reads `provider_app`'s side of `relation` (any unit may: remote application bags and
    /// granted secrets are readable by every unit). `provider_app` is what
    /// [`HookTools::relation_remote_app`] answers (`None`: [`NotReady::ProviderUnknown`]);
    /// `requirer_app` is this application's name (`HookContext::app_name`), for the
    /// `juju grant-secret` advice of [`NotReady::SecretNotGranted`].
    pub fn read(
        tools: &HookTools,
        relation: &RelationId,
        provider_app: Option<&str>,
        requirer_app: &str,
    ) -> Result<Self, ReadError> {
        let Some(provider_app) = provider_app.filter(|app| !app.is_empty()) else {
            return Ok(Self::NotReady(NotReady::ProviderUnknown));
        };
        let bag = match tools.relation_get_app(relation, provider_app) {
            Ok(bag) => bag,
            Err(error) if error.is_relation_not_found() => return Ok(Self::NotReady(NotReady::RelationGone)),
            Err(source) => {
                return Err(ReadError::AppBag {
                    relation: relation.clone(),
                    app: provider_app.to_string(),
                    source,
                })
            }
        };
        let published = match Published::parse(&bag) {
            Ok(published) => published,
            Err(reason) => return Ok(Self::NotReady(reason)),
        };
        let password = match &published.password {
            Password::Absent => None,
            Password::Plain(password) => Some(password.clone()),
            Password::Secret(id) => match tools.secret_get(&SecretRef::Id(id.clone()), ReadMode::Refresh) {
                Ok(mut content) => match content.remove(SECRET_PASSWORD) {
                    Some(password) if !password.expose_secret().is_empty() => Some(password),
                    _ => return Ok(Self::NotReady(NotReady::SecretWithoutPassword { secret: id.clone() })),
                },
                Err(error) => {
                    let reason = match error.kind() {
                        ToolErrorKind::SecretNotFound => NotReady::SecretNotFound { secret: id.clone() },
                        ToolErrorKind::PermissionDenied => {
                            NotReady::SecretNotGranted { secret: id.clone(), app: requirer_app.to_string() }
                        }
                        _ => {
                            return Err(ReadError::Secret {
                                relation: relation.clone(),
                                id: id.clone(),
                                source: error,
                            })
                        }
                    };
                    return Ok(Self::NotReady(reason));
                }
            },
        };
        Ok(Self::Ready(Box::new(published.into_settings(password))))
    }
}

/// What the requirer writes on `relation`: nothing. The `smtp` requirer publishes no request
/// (§4 of the integration spec), and smtp-integrator answers any relation as it is; this plan
/// exists so that a charm treats every interface alike.
pub fn plan_requirer(relation: &RelationId) -> Vec<Effect> {
    let _ = relation;
    Vec::new()
}

/// Where the password is.
#[derive(Debug)]
enum Password {
    Absent,
    Plain(SecretString),
    Secret(SecretUri),
}

/// The provider's bag, checked before any secret is read.
#[derive(Debug)]
struct Published {
    host: String,
    port: u16,
    user: Option<String>,
    password: Password,
    auth: AuthType,
    transport: TransportSecurity,
    skip_ssl_verify: bool,
    domain: Option<String>,
    smtp_sender: Option<String>,
    recipients: Vec<String>,
}

impl Published {
    fn parse(bag: &Databag) -> Result<Self, NotReady> {
        // Juju deletes a key set to "", so blank and absent are the same.
        let raw = |key: &str| bag.get(key).map(String::as_str).filter(|value| !value.trim().is_empty());
        let get = |key: &str| raw(key).map(str::trim);
        let required = |key: &'static str| get(key).ok_or(NotReady::KeyMissing { key });
        let malformed =
            |key: &'static str, value: &str| NotReady::Malformed { key, value: value.to_string() };
        if bag.is_empty() {
            return Err(NotReady::NothingPublished);
        }

        let host = required(HOST)?.to_string();
        let port = required(PORT)?;
        let port = parse_port(port).ok_or_else(|| malformed(PORT, port))?;
        let auth = required(AUTH_TYPE)?;
        let auth = AuthType::parse(auth).ok_or_else(|| malformed(AUTH_TYPE, auth))?;
        let transport = required(TRANSPORT_SECURITY)?;
        let transport =
            TransportSecurity::parse(transport).ok_or_else(|| malformed(TRANSPORT_SECURITY, transport))?;
        let skip_ssl_verify = match get(SKIP_SSL_VERIFY) {
            // The Python model's default.
            None => false,
            Some(flag) => parse_flag(flag).ok_or_else(|| malformed(SKIP_SSL_VERIFY, flag))?,
        };
        let recipients = match get(RECIPIENTS) {
            None => Vec::new(),
            Some(list) => parse_recipients(list).ok_or_else(|| malformed(RECIPIENTS, list))?,
        };
        let password = match get(PASSWORD_ID) {
            Some(id) => Password::Secret(SecretUri::parse(id).ok_or_else(|| malformed(PASSWORD_ID, id))?),
            // Passwords are taken as sent, spaces included.
            None => raw(PASSWORD).map_or(Password::Absent, |password| Password::Plain(password.into())),
        };
        Ok(Self {
            host,
            port,
            user: raw(USER).map(str::to_string),
            password,
            auth,
            transport,
            skip_ssl_verify,
            domain: get(DOMAIN).map(str::to_string),
            smtp_sender: get(SMTP_SENDER).map(str::to_string),
            recipients,
        })
    }

    fn into_settings(self, password: Option<SecretString>) -> SmtpSettings {
        SmtpSettings {
            host: self.host,
            port: self.port,
            user: self.user,
            password,
            password_secret: match self.password {
                Password::Secret(id) => Some(id),
                Password::Absent | Password::Plain(_) => None,
            },
            auth: self.auth,
            transport: self.transport,
            skip_ssl_verify: self.skip_ssl_verify,
            domain: self.domain,
            smtp_sender: self.smtp_sender,
            recipients: self.recipients,
        }
    }
}

/// Decimal digits only, 1–65535.
fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|port| *port != 0)
}

/// smtp-integrator writes Python's `str(bool)`, `True` or `False`; JSON's `true` and `false`
/// are accepted too.
fn parse_flag(text: &str) -> Option<bool> {
    match text {
        "True" | "true" => Some(true),
        "False" | "false" => Some(false),
        _ => None,
    }
}

/// A JSON list of non-empty strings.
fn parse_recipients(text: &str) -> Option<Vec<String>> {
    let list: Vec<String> = serde_json::from_str(text).ok()?;
    list.iter().all(|address| !address.trim().is_empty()).then_some(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bag(entries: &[(&str, &str)]) -> Databag {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// What smtp-integrator publishes on `smtp-legacy`, before the password.
    const BASE: [(&str, &str); 5] = [
        ("host", "smtp.example.com"),
        ("port", "587"),
        ("auth_type", "plain"),
        ("transport_security", "starttls"),
        ("skip_ssl_verify", "False"),
    ];

    fn parse(changes: &[(&str, &str)]) -> Result<Published, NotReady> {
        let mut bag = bag(&BASE);
        for (key, value) in changes {
            if value.is_empty() {
                bag.remove(*key);
            } else {
                bag.insert(key.to_string(), value.to_string());
            }
        }
        Published::parse(&bag)
    }

    fn settings(changes: &[(&str, &str)]) -> SmtpSettings {
        parse(changes).unwrap().into_settings(None)
    }

    #[test]
    fn the_required_keys_make_settings_and_the_optional_ones_default() {
        let settings = settings(&[]);
        assert_eq!((settings.host.as_str(), settings.port), ("smtp.example.com", 587));
        assert_eq!((settings.auth, settings.transport), (AuthType::Plain, TransportSecurity::StartTls));
        assert!(!settings.skip_ssl_verify);
        assert!(settings.user.is_none() && settings.password.is_none() && settings.password_secret.is_none());
        assert!(
            settings.domain.is_none() && settings.smtp_sender.is_none() && settings.recipients.is_empty()
        );

        let settings = self::settings(&[
            ("user", "mailer"),
            ("domain", "example.com"),
            ("smtp_sender", "noreply@example.com"),
            ("recipients", r#"["ops@example.com", "dev@example.com"]"#),
            ("skip_ssl_verify", "True"),
        ]);
        assert_eq!(settings.user.as_deref(), Some("mailer"));
        assert_eq!(settings.domain.as_deref(), Some("example.com"));
        assert_eq!(settings.smtp_sender.as_deref(), Some("noreply@example.com"));
        assert_eq!(settings.recipients, ["ops@example.com", "dev@example.com"]);
        assert!(settings.skip_ssl_verify);
        // An old provider that never wrote skip_ssl_verify: the Python model's default.
        assert!(!self::settings(&[("skip_ssl_verify", "")]).skip_ssl_verify);
    }

    #[test]
    fn the_password_comes_from_password_id_else_the_plain_key() {
        let published = parse(&[("password", " pass word ")]).unwrap();
        let Password::Plain(password) = &published.password else { panic!("{published:?}") };
        assert_eq!(password.expose_secret(), " pass word ", "taken as sent");

        let id = "secret:cq9ig0fmp25c77ni4a2g";
        let published = parse(&[("password", "stale"), ("password_id", id)]).unwrap();
        assert!(matches!(&published.password, Password::Secret(uri) if uri.as_str() == id));
        let settings = published.into_settings(Some("from-secret".into()));
        assert_eq!(settings.password_secret.as_ref().map(SecretUri::as_str), Some(id));
        assert!(settings.uses_secret(
            &SecretUri::parse("secret://0c6ad1e4-07c8-4de2-8d66-4f5c7d0e8a1b/cq9ig0fmp25c77ni4a2g").unwrap()
        ));
        assert!(!settings.uses_secret(&SecretUri::parse("secret:cq9ig0fmp25c77ni4a30").unwrap()));
        assert!(!format!("{settings:?}").contains("from-secret"), "Debug shows no password");
        assert!(!self::settings(&[("password", "plain")]).uses_secret(&SecretUri::parse(id).unwrap()));
    }

    #[test]
    fn each_missing_or_malformed_key_is_named_with_its_value() {
        assert!(matches!(Published::parse(&Databag::new()), Err(NotReady::NothingPublished)));
        for key in ["host", "port", "auth_type", "transport_security"] {
            assert!(matches!(parse(&[(key, "")]), Err(NotReady::KeyMissing { key: k }) if k == key), "{key}");
        }
        assert!(matches!(parse(&[("host", "  ")]), Err(NotReady::KeyMissing { key: "host" })));
        for port in ["twenty-five", "0", "65536", "-25", "25.0", "0x19"] {
            assert!(
                matches!(parse(&[("port", port)]), Err(NotReady::Malformed { key: "port", .. })),
                "{port}"
            );
        }
        assert_eq!(parse(&[("port", " 465 ")]).unwrap().port, 465);
        assert_eq!(parse(&[("port", "65535")]).unwrap().port, 65535);
        assert!(
            matches!(parse(&[("auth_type", "PLAIN")]), Err(NotReady::Malformed { key: "auth_type", value }) if value == "PLAIN")
        );
        assert!(matches!(
            parse(&[("auth_type", "login")]),
            Err(NotReady::Malformed { key: "auth_type", .. })
        ));
        assert!(matches!(
            parse(&[("transport_security", "ssl")]),
            Err(NotReady::Malformed { key: "transport_security", .. })
        ));
        for flag in ["yes", "1", "TRUE", "None"] {
            assert!(
                matches!(
                    parse(&[("skip_ssl_verify", flag)]),
                    Err(NotReady::Malformed { key: "skip_ssl_verify", .. })
                ),
                "{flag}"
            );
        }
        for list in
            ["ops@example.com", r#"["ops@example.com", 7]"#, r#"{"to": "ops@example.com"}"#, r#"[""]"#]
        {
            assert!(
                matches!(parse(&[("recipients", list)]), Err(NotReady::Malformed { key: "recipients", .. })),
                "{list}"
            );
        }
        assert!(matches!(
            parse(&[("password_id", "not a uri")]),
            Err(NotReady::Malformed { key: "password_id", .. })
        ));
    }

    #[test]
    fn every_wire_value_parses() {
        for (text, auth) in
            [("none", AuthType::None), ("not_provided", AuthType::NotProvided), ("plain", AuthType::Plain)]
        {
            assert_eq!(AuthType::parse(text), Some(auth));
            assert_eq!(auth.to_string(), text);
        }
        for (text, transport) in [
            ("none", TransportSecurity::None),
            ("starttls", TransportSecurity::StartTls),
            ("tls", TransportSecurity::Tls),
        ] {
            assert_eq!(TransportSecurity::parse(text), Some(transport));
            assert_eq!(transport.to_string(), text);
        }
        for (text, flag) in [
            ("True", Some(true)),
            ("true", Some(true)),
            ("False", Some(false)),
            ("false", Some(false)),
            ("", None),
        ] {
            assert_eq!(parse_flag(text), flag, "{text}");
        }
    }

    #[test]
    fn synapse_needs_transport_security_and_plain_auth_in_upstreams_words() {
        let problem = |transport, auth| {
            settings(&[("transport_security", transport), ("auth_type", auth)]).synapse_problem()
        };
        assert_eq!(problem("starttls", "plain"), None);
        assert_eq!(problem("tls", "plain"), None);
        assert_eq!(problem("none", "plain"), Some("Transport security NONE is not supported for SMTP"));
        assert_eq!(
            problem("none", "none"),
            Some("Transport security NONE is not supported for SMTP"),
            "transport first"
        );
        assert_eq!(problem("tls", "none"), Some("Only PLAIN auth type is supported for SMTP"));
        assert_eq!(problem("starttls", "not_provided"), Some("Only PLAIN auth type is supported for SMTP"));
    }

    #[test]
    fn secret_uris_match_by_their_trailing_id() {
        let xid = "cq9ig0fmp25c77ni4a2g";
        let canonical = format!("secret://0c6ad1e4-07c8-4de2-8d66-4f5c7d0e8a1b/{xid}");
        assert!(secret_matches(&format!("secret:{xid}"), &canonical));
        assert!(secret_matches(&canonical, xid));
        assert!(secret_matches(&canonical, &canonical));
        assert!(!secret_matches(&format!("secret:{xid}"), "secret:cq9ig0fmp25c77ni4a30"));
        assert!(!secret_matches("", ""), "no URI matches nothing");
        assert!(!secret_matches("secret:", "secret:"));
    }

    #[test]
    fn reasons_tell_the_operator_what_to_do() {
        let secret = SecretUri::parse("secret:cq9ig0fmp25c77ni4a2g").unwrap();
        assert_eq!(
            NotReady::SecretNotGranted { secret: secret.clone(), app: "synapse".into() }.to_string(),
            "the SMTP password secret secret:cq9ig0fmp25c77ni4a2g is not granted to synapse: \
             run `juju grant-secret secret:cq9ig0fmp25c77ni4a2g synapse`"
        );
        assert_eq!(
            NotReady::Malformed { key: PORT, value: "smtp".into() }.to_string(),
            "the SMTP provider published port \"smtp\", expected a port number (1-65535)"
        );
        assert_eq!(
            NotReady::Malformed { key: SKIP_SSL_VERIFY, value: "yes".into() }.to_string(),
            "the SMTP provider published skip_ssl_verify \"yes\", expected True or False"
        );
        assert_eq!(NotReady::KeyMissing { key: HOST }.to_string(), "the SMTP provider published no host");
        assert_eq!(
            NotReady::SecretWithoutPassword { secret: secret.clone() }.to_string(),
            "the SMTP password secret secret:cq9ig0fmp25c77ni4a2g has no \"password\" key"
        );
        assert_eq!(
            NotReady::SecretNotFound { secret }.to_string(),
            "the SMTP password secret secret:cq9ig0fmp25c77ni4a2g (password_id) does not exist"
        );
    }
}
