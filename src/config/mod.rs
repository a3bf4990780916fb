//! The charm configuration: the options `config-get` reports, parsed and validated into a
//! typed [`SynapseConfig`], or the names of every invalid option.

mod alive_check;
mod values;

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
    /// Full user IDs (`@alice:example.com`) allowed to publish rooms.
    pub publish_rooms_allowlist: Option<Vec<String>>,
    pub trusted_key_servers: Vec<String>,
    pub workers_ignore_list: Vec<String>,
}

/// Settings of the `synapse_invite_checker` module; present when either option is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteChecker {
    pub blocklist_allowlist_url: Option<String>,
    /// Full room IDs (`!abc:example.com`).
    pub policy_room_ids: Vec<String>,
}

/// One or more options have values the charm cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {}", .options.join(", "))]
pub struct InvalidConfig {
    /// The invalid options, in the order they are checked.
    pub options: Vec<&'static str>,
}

impl SynapseConfig {
    /// Parses the `config-get` map. Absent options take the defaults of `config.yaml`.
    pub fn from_options(options: &Map<String, Value>) -> Result<Self, InvalidConfig> {
        let mut read = Reader { options, invalid: Vec::new() };
        let server_name = read.required("server_name", values::is_server_name);
        let public_baseurl = read.checked("public_baseurl", values::is_http_url);
        let allow_public_rooms_over_federation = read.flag("allow_public_rooms_over_federation", false);
        // The passphrase only matters to the backup actions; here it only has to be text.
        read.text("backup_passphrase");
        let block_non_admin_invites = read.flag("block_non_admin_invites", false);
        let enable_email_notifs = read.flag("enable_email_notifs", false);
        let enable_mjolnir = read.flag("enable_mjolnir", false);
        let enable_password_config = read.flag("enable_password_config", true);
        let enable_room_list_search = read.flag("enable_room_list_search", true);
        let federation_domain_whitelist =
            read.list("federation_domain_whitelist", "", values::is_server_name);
        let ip_range_whitelist = read.list("ip_range_whitelist", "", values::is_ip_range);
        let blocklist_allowlist_url =
            read.checked("invite_checker_blocklist_allowlist_url", values::is_http_url);
        let policy_room_ids = read.list("invite_checker_policy_rooms", "!", values::is_room_id);
        let limit_remote_rooms_complexity =
            read.float("limit_remote_rooms_complexity", None, |value| value > 0.0);
        read.checked("notif_from", values::is_mail_sender);
        let alive_check = read.parsed("experimental_alive_check", "2m,5,20s");
        let rc_joins_remote_burst_count = read.count("rc_joins_remote_burst_count", 10);
        let rc_joins_remote_per_second =
            read.float("rc_joins_remote_per_second", Some(0.01), |value| value >= 0.0);
        let report_stats = read.flag("report_stats", false);
        let publish_rooms_allowlist = read.list("publish_rooms_allowlist", "@", values::is_user_id);
        let trusted_key_servers = read.list("trusted_key_servers", "", values::is_domain);
        let workers_ignore_list = read.list("workers_ignore_list", "", values::is_worker_name);

        // A value is `None` here only when its option was recorded as invalid.
        let (Some(server_name), Some(alive_check), Some(rc_joins_remote_per_second), true) =
            (server_name, alive_check, rc_joins_remote_per_second, read.invalid.is_empty())
        else {
            return Err(InvalidConfig { options: read.invalid });
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
            publish_rooms_allowlist,
            trusted_key_servers: trusted_key_servers
                .unwrap_or_else(|| vec![DEFAULT_TRUSTED_KEY_SERVER.to_string()]),
            workers_ignore_list: workers_ignore_list.unwrap_or_default(),
        })
    }

    /// The URL clients use: `public_baseurl`, else `https://<server_name>`.
    pub fn public_baseurl(&self) -> String {
        self.public_baseurl.clone().unwrap_or_else(|| format!("https://{}", self.server_name))
    }
}

/// Reads options one by one, recording the name of each invalid one.
struct Reader<'a> {
    options: &'a Map<String, Value>,
    invalid: Vec<&'static str>,
}

impl Reader<'_> {
    fn reject<T>(&mut self, name: &'static str) -> Option<T> {
        self.invalid.push(name);
        None
    }

    /// A string option; blank counts as unset.
    fn text(&mut self, name: &'static str) -> Option<String> {
        match self.options.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if text.trim().is_empty() => None,
            Some(Value::String(text)) => Some(text.trim().to_string()),
            Some(_) => self.reject(name),
        }
    }

    fn checked(&mut self, name: &'static str, valid: fn(&str) -> bool) -> Option<String> {
        let text = self.text(name)?;
        if valid(&text) {
            Some(text)
        } else {
            self.reject(name)
        }
    }

    fn required(&mut self, name: &'static str, valid: fn(&str) -> bool) -> Option<String> {
        match self.text(name) {
            Some(text) if valid(&text) => Some(text),
            Some(_) => self.reject(name),
            // Unset: invalid, unless it was already recorded as having the wrong type.
            None if self.invalid.last() == Some(&name) => None,
            None => self.reject(name),
        }
    }

    /// A string option parsed with `FromStr`, with a default.
    fn parsed<T: std::str::FromStr>(&mut self, name: &'static str, default: &str) -> Option<T> {
        let text = self.text(name).unwrap_or_else(|| default.to_string());
        match text.parse() {
            Ok(value) => Some(value),
            Err(_) => self.reject(name),
        }
    }

    /// A comma-separated list; `prefix` is added to entries that lack it. `None` when unset.
    fn list(&mut self, name: &'static str, prefix: &str, valid: fn(&str) -> bool) -> Option<Vec<String>> {
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
        if !entries.iter().all(|entry| valid(entry)) {
            return self.reject(name);
        }
        (!entries.is_empty()).then_some(entries)
    }

    fn flag(&mut self, name: &'static str, default: bool) -> bool {
        match self.options.get(name) {
            None | Some(Value::Null) => default,
            Some(Value::Bool(flag)) => *flag,
            Some(_) => self.reject(name).unwrap_or(default),
        }
    }

    /// A non-negative whole number.
    fn count(&mut self, name: &'static str, default: u32) -> u32 {
        match self.options.get(name) {
            None | Some(Value::Null) => default,
            Some(Value::Number(number)) => match number.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(count) => count,
                None => self.reject(name).unwrap_or(default),
            },
            Some(_) => self.reject(name).unwrap_or(default),
        }
    }

    /// A finite number accepted by `valid`; `default` when unset.
    fn float(&mut self, name: &'static str, default: Option<f64>, valid: fn(f64) -> bool) -> Option<f64> {
        match self.options.get(name) {
            None | Some(Value::Null) => default,
            Some(Value::Number(number)) => match number.as_f64() {
                Some(value) if value.is_finite() && valid(value) => Some(value),
                _ => self.reject(name),
            },
            Some(_) => self.reject(name),
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
        assert_eq!(config.public_baseurl(), "https://example.com");
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
        assert_eq!(parse(json!({})).unwrap_err().options, ["server_name"]);
        assert_eq!(parse(json!({"server_name": "  "})).unwrap_err().options, ["server_name"]);
        assert_eq!(parse(json!({"server_name": 3})).unwrap_err().options, ["server_name"]);
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
            error.options,
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
        assert!(error
            .to_string()
            .starts_with("invalid configuration: server_name, public_baseurl, enable_mjolnir"));
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
            parse(json!({"server_name": "a.b", "rc_joins_remote_burst_count": 1.5})).unwrap_err().options,
            ["rc_joins_remote_burst_count"]
        );
    }
}
