//! The charm configuration: the options `config-get` reports, parsed and validated into a
//! typed [`SynapseConfig`], or the names of every invalid option.

mod alive_check;
mod values;

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value};

pub use alive_check::AliveCheck;

/// Trusted key server used when `trusted_key_servers` is unset (Synapse's own default).
pub const DEFAULT_TRUSTED_KEY_SERVER: &str = "matrix.org";

/// The validated configuration. Optional options that are unset or blank are `None` (or an
/// empty list); comma-separated options are split, trimmed and stripped of empty entries.
#[derive(Debug, Clone, PartialEq)]
pub struct SynapseConfig {
    pub server_name: String,
    pub public_baseurl: Option<String>,
    pub allow_public_rooms_over_federation: bool,
    pub block_non_admin_invites: bool,
    pub enable_email_notifs: bool,
    pub enable_mjolnir: bool,
    pub enable_password_config: bool,
    pub enable_room_list_search: bool,
    pub federation_domain_whitelist: Option<Vec<String>>,
    pub ip_range_whitelist: Option<Vec<String>>,
    pub invite_checker: Option<InviteChecker>,
    pub limit_remote_rooms_complexity: Option<f64>,
    pub alive_check: AliveCheck,
    pub rc_joins_remote_burst_count: u32,
    pub rc_joins_remote_per_second: f64,
    pub report_stats: bool,
    /// Copy the SQLite data into PostgreSQL when the database relation arrives (else start
    /// on the empty PostgreSQL database and leave the SQLite file untouched).
    pub port_sqlite_data: bool,
    /// Full user IDs (`@alice:example.com`) allowed to publish rooms.
    pub publish_rooms_allowlist: Option<Vec<String>>,
    pub trusted_key_servers: Vec<String>,
    pub workers_ignore_list: Vec<String>,
    /// Sender of notification e-mails (default: the server name).
    pub notif_from: Option<String>,
    /// Route `https://<server_name>/.well-known/matrix/…` to this Synapse through nginx-route.
    pub delegate_server_name: bool,
    /// The `m.server` served at `/.well-known/matrix/server` (default: the host and port of
    /// `public_baseurl`).
    pub well_known_server: Option<String>,
    /// homeserver.yaml keys the operator adds: the YAML mapping as written.
    pub additional_homeserver_config: Option<ExtraConfig>,
    /// The gpg passphrase of the backup actions.
    pub backup_passphrase: Option<Passphrase>,
}

/// A secret option's value. `Debug` shows no secret; equal when the values are.
#[derive(Clone)]
pub struct Passphrase(pub SecretString);

impl PartialEq for Passphrase {
    fn eq(&self, other: &Self) -> bool {
        self.0.expose_secret() == other.0.expose_secret()
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase([redacted])")
    }
}

/// `additional_homeserver_config`: the text as the operator wrote it (appended to
/// homeserver.yaml as is, for Synapse's YAML 1.1 reader) and its top-level keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraConfig {
    pub text: String,
    pub keys: Vec<String>,
}

/// Settings of the `synapse_invite_checker` module; present when either option is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteChecker {
    pub blocklist_allowlist_url: Option<String>,
    /// Full room IDs (`!abc:example.com`).
    pub policy_room_ids: Vec<String>,
}

/// The longest `server_name` accepted: Synapse names its signing key file
/// `<server_name>.signing.key`, and file names (with the temporary name a write goes
/// through) must stay within the 255 bytes Linux allows.
pub const MAX_SERVER_NAME_LENGTH: usize = 230;

/// One or more options have values the charm cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidConfig {
    /// The invalid options with what is wrong, in the order they are checked.
    pub problems: Vec<InvalidOption>,
}

/// An option whose value the charm cannot use, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidOption {
    pub name: &'static str,
    pub reason: String,
}

impl InvalidConfig {
    /// The invalid options' names, in order.
    #[cfg(test)]
    pub fn options(&self) -> Vec<&'static str> {
        self.problems.iter().map(|problem| problem.name).collect()
    }

    /// One line per invalid option, for the log.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        self.problems
            .iter()
            .map(|problem| format!("invalid configuration: {}: {}", problem.name, problem.reason))
    }
}

/// The first problem in full, and how many more there are.
impl std::fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.problems.split_first() {
            None => f.write_str("invalid configuration"),
            Some((first, rest)) => {
                write!(f, "invalid configuration: {}: {}", first.name, first.reason)?;
                if !rest.is_empty() {
                    write!(f, " (+{} more, see juju debug-log)", rest.len())?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for InvalidConfig {}

impl SynapseConfig {
    /// Parses the `config-get` map. Absent options take the defaults of `config.yaml`.
    pub fn from_options(options: &Map<String, Value>) -> Result<Self, InvalidConfig> {
        let mut read = Reader { options, invalid: Vec::new() };
        let server_name = read.required("server_name", is_usable_server_name, USABLE_SERVER_NAME);
        let public_baseurl = read.checked("public_baseurl", values::is_http_url, HTTP_URL);
        let allow_public_rooms_over_federation = read.flag("allow_public_rooms_over_federation", false);
        // The passphrase only matters to backups; here it only has to be text.
        // Used as written: spaces are part of a passphrase.
        let backup_passphrase = read.secret("backup_passphrase");
        let block_non_admin_invites = read.flag("block_non_admin_invites", false);
        let enable_email_notifs = read.flag("enable_email_notifs", false);
        let enable_mjolnir = read.flag("enable_mjolnir", false);
        let enable_password_config = read.flag("enable_password_config", true);
        let enable_room_list_search = read.flag("enable_room_list_search", true);
        let federation_domain_whitelist =
            read.list("federation_domain_whitelist", "", values::is_server_name, SERVER_NAME);
        let ip_range_whitelist =
            read.list("ip_range_whitelist", "", values::is_ip_range, "an IP address or CIDR range");
        let blocklist_allowlist_url =
            read.checked("invite_checker_blocklist_allowlist_url", values::is_http_url, HTTP_URL);
        let policy_room_ids = read.list(
            "invite_checker_policy_rooms",
            "!",
            values::is_room_id,
            "a room ID such as !abc:example.com",
        );
        let limit_remote_rooms_complexity =
            read.float("limit_remote_rooms_complexity", None, |value| value > 0.0, "a number above 0");
        let notif_from = read.checked(
            "notif_from",
            values::is_mail_sender,
            "an e-mail address, optionally as Name <address>",
        );
        let alive_check = read.parsed("experimental_alive_check", "2m,5,20s", ALIVE_CHECK);
        let delegate_server_name = read.flag("delegate_server_name", false);
        let well_known_server = read.checked("well_known_server", is_usable_server_name, SERVER_NAME);
        let additional_homeserver_config = read.yaml_mapping("additional_homeserver_config");
        let rc_joins_remote_burst_count = read.count("rc_joins_remote_burst_count", 10);
        let rc_joins_remote_per_second = read.float(
            "rc_joins_remote_per_second",
            Some(0.01),
            |value| value >= 0.0,
            "a number of at least 0",
        );
        let report_stats = read.flag("report_stats", false);
        let port_sqlite_data = read.flag("port_sqlite_data", true);
        let publish_rooms_allowlist = read.list(
            "publish_rooms_allowlist",
            "@",
            values::is_user_id,
            "a user ID such as @alice:example.com",
        );
        let trusted_key_servers =
            read.list("trusted_key_servers", "", values::is_domain, "a domain name with at least one dot");
        let workers_ignore_list = read.list(
            "workers_ignore_list",
            "",
            values::is_worker_name,
            "a worker name (letters, digits, - and _)",
        );

        // A value is `None` here only when its option was recorded as invalid.
        let (Some(server_name), Some(alive_check), Some(rc_joins_remote_per_second), true) =
            (server_name, alive_check, rc_joins_remote_per_second, read.invalid.is_empty())
        else {
            return Err(InvalidConfig { problems: read.invalid });
        };
        let invite_checker = (blocklist_allowlist_url.is_some() || policy_room_ids.is_some()).then(|| {
            InviteChecker { blocklist_allowlist_url, policy_room_ids: policy_room_ids.unwrap_or_default() }
        });
        Ok(Self {
            server_name,
            public_baseurl,
            allow_public_rooms_over_federation,
            block_non_admin_invites,
            enable_email_notifs,
            enable_mjolnir,
            enable_password_config,
            enable_room_list_search,
            federation_domain_whitelist,
            ip_range_whitelist,
            invite_checker,
            limit_remote_rooms_complexity,
            alive_check,
            rc_joins_remote_burst_count,
            rc_joins_remote_per_second,
            report_stats,
            port_sqlite_data,
            publish_rooms_allowlist,
            trusted_key_servers: trusted_key_servers
                .unwrap_or_else(|| vec![DEFAULT_TRUSTED_KEY_SERVER.to_string()]),
            workers_ignore_list: workers_ignore_list.unwrap_or_default(),
            notif_from,
            delegate_server_name,
            well_known_server,
            additional_homeserver_config,
            backup_passphrase,
        })
    }

    /// The URL clients use: `public_baseurl`, else the ingress URL, else
    /// `https://<server_name>`.
    pub fn public_baseurl(&self, ingress: Option<&str>) -> String {
        self.public_baseurl
            .clone()
            .or_else(|| ingress.map(str::to_string))
            .unwrap_or_else(|| format!("https://{}", self.server_name))
    }
}

const USABLE_SERVER_NAME: &str =
    "a domain name or IP address (with an optional :port) of at most 230 characters";
const SERVER_NAME: &str = "a domain name or IP address, with an optional :port";
const HTTP_URL: &str = "an http:// or https:// URL";
const ALIVE_CHECK: &str =
    "period,threshold,timeout such as 2m,5,20s: whole s, m or h durations below Pebble's limit of 2562047h, \
                           a threshold of at least 1 and a timeout shorter than the period";

/// A server name Synapse can also name its signing key file after.
fn is_usable_server_name(text: &str) -> bool {
    text.len() <= MAX_SERVER_NAME_LENGTH && values::is_server_name(text)
}

/// How an invalid value is quoted in a reason: shortened, as the log line must stay readable.
fn quoted(value: &str) -> String {
    const SHOWN: usize = 64;
    match value.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{:?}…", &value[..end]),
        None => format!("{value:?}"),
    }
}

/// Reads options one by one, recording each invalid one with its reason.
struct Reader<'a> {
    options: &'a Map<String, Value>,
    invalid: Vec<InvalidOption>,
}

impl Reader<'_> {
    fn reject<T>(&mut self, name: &'static str, reason: impl Into<String>) -> Option<T> {
        self.invalid.push(InvalidOption { name, reason: reason.into() });
        None
    }

    fn wrong_type<T>(&mut self, name: &'static str, expected: &str, value: &Value) -> Option<T> {
        self.reject(name, format!("expected {expected}, got {value}"))
    }

    /// A secret string option, as written (only an empty one is unset); a wrong type names
    /// the type, never the value.
    fn secret(&mut self, name: &'static str) -> Option<Passphrase> {
        match self.options.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if text.is_empty() => None,
            Some(Value::String(text)) => Some(Passphrase(SecretString::from(text.clone()))),
            Some(_) => self.reject(name, "expected a string"),
        }
    }

    /// A string option; blank counts as unset.
    fn text(&mut self, name: &'static str) -> Option<String> {
        match self.options.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if text.trim().is_empty() => None,
            Some(Value::String(text)) => Some(text.trim().to_string()),
            Some(other) => self.wrong_type(name, "a string", other),
        }
    }

    /// A YAML mapping: its text and top-level keys.
    fn yaml_mapping(&mut self, name: &'static str) -> Option<ExtraConfig> {
        let text = self.text(name)?;
        match safe_yaml::from_str::<Value>(&text) {
            // Appended to homeserver.yaml as written: it must be a block mapping at column 0,
            // in one document.
            Ok(Value::Object(_))
                if text.trim_start().starts_with('{')
                    || text.lines().any(|line| {
                        let line = line.trim_end();
                        line == "---" || line == "..." || line.starts_with("--- ")
                    }) =>
            {
                self.reject(
                    name,
                    "write it as a block mapping (one `key: value` per line), in one document".to_string(),
                )
            }
            Ok(Value::Object(mapping)) => Some(ExtraConfig { keys: mapping.keys().cloned().collect(), text }),
            Ok(_) => self.reject(name, "it is not a YAML mapping of homeserver.yaml keys".to_string()),
            Err(error) => {
                let error = error.to_string();
                let first = error.lines().next().unwrap_or("not YAML");
                self.reject(name, format!("it is not valid YAML: {first}"))
            }
        }
    }

    fn checked(&mut self, name: &'static str, valid: fn(&str) -> bool, expected: &str) -> Option<String> {
        let text = self.text(name)?;
        if valid(&text) {
            Some(text)
        } else {
            self.reject(name, format!("{} is not {expected}", quoted(&text)))
        }
    }

    fn required(&mut self, name: &'static str, valid: fn(&str) -> bool, expected: &str) -> Option<String> {
        let recorded = self.invalid.len();
        match self.text(name) {
            Some(text) if valid(&text) => Some(text),
            Some(text) => self.reject(name, format!("{} is not {expected}", quoted(&text))),
            // Unset: invalid, unless it was just recorded as having the wrong type.
            None if self.invalid.len() > recorded => None,
            None => self.reject(name, "it is required; set it with juju config"),
        }
    }

    /// A string option parsed with `FromStr`, with a default.
    fn parsed<T: std::str::FromStr>(
        &mut self,
        name: &'static str,
        default: &str,
        expected: &str,
    ) -> Option<T> {
        let text = self.text(name).unwrap_or_else(|| default.to_string());
        match text.parse() {
            Ok(value) => Some(value),
            Err(_) => self.reject(name, format!("{} is not {expected}", quoted(&text))),
        }
    }

    /// A comma-separated list; `prefix` is added to entries that lack it. `None` when unset.
    fn list(
        &mut self,
        name: &'static str,
        prefix: &str,
        valid: fn(&str) -> bool,
        expected: &str,
    ) -> Option<Vec<String>> {
        let text = self.text(name)?;
        let entries: Vec<String> = text
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(
                |entry| {
                    if entry.starts_with(prefix) {
                        entry.to_string()
                    } else {
                        format!("{prefix}{entry}")
                    }
                },
            )
            .collect();
        if let Some(bad) = entries.iter().find(|entry| !valid(entry)) {
            return self.reject(name, format!("the entry {} is not {expected}", quoted(bad)));
        }
        (!entries.is_empty()).then_some(entries)
    }

    fn flag(&mut self, name: &'static str, default: bool) -> bool {
        match self.options.get(name) {
            None | Some(Value::Null) => default,
            Some(Value::Bool(flag)) => *flag,
            Some(other) => self.wrong_type(name, "true or false", other).unwrap_or(default),
        }
    }

    /// A non-negative whole number.
    fn count(&mut self, name: &'static str, default: u32) -> u32 {
        const EXPECTED: &str = "a whole number from 0 to 4294967295";
        match self.options.get(name) {
            None | Some(Value::Null) => default,
            Some(Value::Number(number)) => match number.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(count) => count,
                None => self.reject(name, format!("{number} is not {EXPECTED}")).unwrap_or(default),
            },
            Some(other) => self.wrong_type(name, EXPECTED, other).unwrap_or(default),
        }
    }

    /// A finite number accepted by `valid`; `default` when unset.
    fn float(
        &mut self,
        name: &'static str,
        default: Option<f64>,
        valid: fn(f64) -> bool,
        expected: &str,
    ) -> Option<f64> {
        match self.options.get(name) {
            None | Some(Value::Null) => default,
            Some(Value::Number(number)) => match number.as_f64() {
                Some(value) if value.is_finite() && valid(value) => Some(value),
                _ => self.reject(name, format!("{number} is not {expected}")),
            },
            Some(other) => self.wrong_type(name, expected, other),
        }
    }
}

/// A valid configuration from the given options, `server_name` defaulting to `example.com`.
#[cfg(test)]
pub fn for_tests(options: serde_json::Value) -> SynapseConfig {
    let mut map = options.as_object().cloned().unwrap_or_default();
    map.entry("server_name").or_insert_with(|| serde_json::json!("example.com"));
    SynapseConfig::from_options(&map).expect("valid test options")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(options: Value) -> Result<SynapseConfig, InvalidConfig> {
        SynapseConfig::from_options(options.as_object().expect("an object"))
    }

    #[test]
    fn defaults_apply_to_absent_options() {
        let config = parse(json!({"server_name": "example.com"})).unwrap();
        assert_eq!(config.server_name, "example.com");
        assert_eq!(config.public_baseurl(None), "https://example.com");
        assert_eq!(
            config.public_baseurl(Some("https://m.example.com/matrix-synapse")),
            "https://m.example.com/matrix-synapse"
        );
        assert!(config.enable_password_config && config.enable_room_list_search);
        assert!(!config.report_stats && !config.allow_public_rooms_over_federation);
        assert_eq!(config.trusted_key_servers, ["matrix.org"]);
        assert_eq!(config.rc_joins_remote_burst_count, 10);
        assert_eq!(config.rc_joins_remote_per_second, 0.01);
        assert_eq!(config.alive_check, "2m,5,20s".parse().unwrap());
        assert_eq!(config.federation_domain_whitelist, None);
        assert_eq!(config.invite_checker, None);
    }

    #[test]
    fn lists_are_trimmed_prefixed_and_blank_means_unset() {
        let config = parse(json!({
            "server_name": " example.com ",
            "publish_rooms_allowlist": "alice:example.com, @bob:example.com,",
            "invite_checker_policy_rooms": "abc:example.com",
            "federation_domain_whitelist": " , ",
            "public_baseurl": "",
        }))
        .unwrap();
        assert_eq!(config.server_name, "example.com");
        assert_eq!(config.publish_rooms_allowlist.unwrap(), ["@alice:example.com", "@bob:example.com"]);
        assert_eq!(
            config.invite_checker,
            Some(InviteChecker {
                blocklist_allowlist_url: None,
                policy_room_ids: vec!["!abc:example.com".into()]
            })
        );
        assert_eq!(config.federation_domain_whitelist, None);
        assert_eq!(config.public_baseurl, None);
    }

    #[test]
    fn missing_server_name_is_invalid() {
        assert_eq!(parse(json!({})).unwrap_err().options(), ["server_name"]);
        assert_eq!(parse(json!({"server_name": "  "})).unwrap_err().options(), ["server_name"]);
        assert_eq!(parse(json!({"server_name": 3})).unwrap_err().options(), ["server_name"]);
    }

    #[test]
    fn every_invalid_option_is_named_in_order() {
        let error = parse(json!({
            "server_name": "bad name",
            "public_baseurl": "matrix.example.com",
            "enable_mjolnir": "yes",
            "ip_range_whitelist": "10.0.0.0/8,10.0.0.0/99",
            "invite_checker_policy_rooms": "no-server",
            "limit_remote_rooms_complexity": 0.0,
            "notif_from": "nobody",
            "experimental_alive_check": "1m,5,2m",
            "rc_joins_remote_burst_count": -1,
            "rc_joins_remote_per_second": -0.5,
            "publish_rooms_allowlist": "Alice:example.com",
            "trusted_key_servers": "localhost",
            "workers_ignore_list": "worker 1",
        }))
        .unwrap_err();
        assert_eq!(
            error.options(),
            [
                "server_name",
                "public_baseurl",
                "enable_mjolnir",
                "ip_range_whitelist",
                "invite_checker_policy_rooms",
                "limit_remote_rooms_complexity",
                "notif_from",
                "experimental_alive_check",
                "rc_joins_remote_burst_count",
                "rc_joins_remote_per_second",
                "publish_rooms_allowlist",
                "trusted_key_servers",
                "workers_ignore_list",
            ]
        );
        assert_eq!(
            error.to_string(),
            "invalid configuration: server_name: \"bad name\" is not a domain name or IP address \
             (with an optional :port) of at most 230 characters (+12 more, see juju debug-log)"
        );
        let lines: Vec<String> = error.lines().collect();
        assert_eq!(lines.len(), 13);
        assert_eq!(lines[2], "invalid configuration: enable_mjolnir: expected true or false, got \"yes\"");
        assert_eq!(
            lines[3],
            "invalid configuration: ip_range_whitelist: the entry \"10.0.0.0/99\" is not an IP address or CIDR range"
        );
    }

    #[test]
    fn values_past_the_workload_limits_are_invalid() {
        let long = format!(
            "{}.example.com",
            "a".repeat(60) + "." + &"b".repeat(60) + "." + &"c".repeat(60) + "." + &"d".repeat(50)
        );
        assert!(long.len() > MAX_SERVER_NAME_LENGTH && values::is_server_name(&long));
        let error = parse(json!({"server_name": long})).unwrap_err();
        assert_eq!(error.options(), ["server_name"]);
        assert!(error.to_string().contains("at most 230 characters"), "{error}");
        let past_go =
            parse(json!({"server_name": "a.b", "experimental_alive_check": "6000000h,1,1h"})).unwrap_err();
        assert_eq!(past_go.options(), ["experimental_alive_check"]);
        assert!(past_go.to_string().contains("2562047h"), "{past_go}");
        assert!(parse(json!({"server_name": "a.b", "experimental_alive_check": "2562047h,1,1h"})).is_ok());
        assert!(parse(json!({"server_name": "a.b", "experimental_alive_check": "2562048h,1,1h"})).is_err());
    }

    #[test]
    fn a_missing_server_name_says_how_to_set_it() {
        let error = parse(json!({})).unwrap_err();
        assert!(
            error.to_string().starts_with("invalid configuration: server_name: it is required"),
            "{error}"
        );
    }

    #[test]
    fn numbers_accept_juju_json_forms() {
        let config = parse(json!({
            "server_name": "example.com",
            "limit_remote_rooms_complexity": 1,
            "rc_joins_remote_per_second": 2,
            "rc_joins_remote_burst_count": 0,
        }))
        .unwrap();
        assert_eq!(config.limit_remote_rooms_complexity, Some(1.0));
        assert_eq!(config.rc_joins_remote_per_second, 2.0);
        assert_eq!(config.rc_joins_remote_burst_count, 0);
        assert_eq!(
            parse(json!({"server_name": "a.b", "rc_joins_remote_burst_count": 1.5})).unwrap_err().options(),
            ["rc_joins_remote_burst_count"]
        );
    }
}
