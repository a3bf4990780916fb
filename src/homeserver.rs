//! Synapse's configuration: the homeserver.yaml keys that follow from the charm
//! configuration and from the application secrets, the rendering of the composed keys with
//! the appservice registrations, and the logging configuration. The output depends on
//! nothing else, so the same inputs always give the same bytes.

use std::collections::BTreeSet;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{json, Value};

use crate::app_secrets::AppSecrets;
use crate::component::Fragment;
use crate::config::{InviteChecker, SynapseConfig};
use crate::workload::{signing_key_path, ContainerFile, CONFIG_PATH, DATA_DIR, HTTP_PORT};

/// Port of the main process's replication listener.
pub const REPLICATION_PORT: u16 = 8035;
/// Port of the Prometheus metrics listener.
const METRICS_PORT: u16 = 9000;
/// The Synapse module the `invite_checker_*` options configure.
const INVITE_CHECKER_MODULE: &str = "synapse_invite_checker.InviteChecker";

/// `homeserver.yaml`, keys in a fixed order.
#[derive(Serialize)]
struct Homeserver<'a> {
    server_name: &'a str,
    public_baseurl: String,
    pid_file: String,
    listeners: Vec<Listener>,
    log_config: &'a str,
    media_store_path: String,
    max_upload_size: &'a str,
    enable_registration: bool,
    report_stats: bool,
    trusted_key_servers: Vec<TrustedKeyServer<'a>>,
    suppress_key_server_warning: bool,
    enable_metrics: bool,
    serve_server_wellknown: bool,
    forgotten_room_retention_period: &'a str,
    media_retention: MediaRetention<'a>,
    delete_stale_devices_after: &'a str,
    rc_joins: RcJoins,
    allow_public_rooms_over_federation: bool,
    block_non_admin_invites: bool,
    enable_room_list_search: bool,
    password_config: PasswordConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    federation_domain_whitelist: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_range_whitelist: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit_remote_rooms: Option<LimitRemoteRooms>,
    #[serde(skip_serializing_if = "Option::is_none")]
    room_list_publication_rules: Option<Vec<PublicationRule<'a>>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    modules: Vec<Module<'a>>,
}

#[derive(Serialize)]
struct Listener {
    port: u16,
    #[serde(rename = "type")]
    kind: &'static str,
    tls: bool,
    x_forwarded: bool,
    bind_addresses: [&'static str; 1],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resources: Vec<Resource>,
}

#[derive(Serialize)]
struct Resource {
    names: Vec<&'static str>,
    compress: bool,
}

#[derive(Serialize)]
struct TrustedKeyServer<'a> {
    server_name: &'a str,
}

#[derive(Serialize)]
struct MediaRetention<'a> {
    local_media_lifetime: &'a str,
    remote_media_lifetime: &'a str,
}

#[derive(Serialize)]
struct RcJoins {
    remote: RateLimit,
}

#[derive(Serialize)]
struct RateLimit {
    per_second: f64,
    burst_count: u32,
}

#[derive(Serialize)]
struct PasswordConfig {
    enabled: bool,
}

#[derive(Serialize)]
struct LimitRemoteRooms {
    enabled: bool,
    complexity: f64,
}

#[derive(Serialize)]
struct PublicationRule<'a> {
    user_id: &'a str,
    alias: &'static str,
    room_id: &'static str,
    action: &'static str,
}

#[derive(Serialize)]
struct Module<'a> {
    module: &'static str,
    config: InviteCheckerConfig<'a>,
}

#[derive(Serialize)]
struct InviteCheckerConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    blocklist_allowlist_url: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    policy_room_ids: &'a [String],
}

/// The homeserver.yaml keys that follow from the configuration alone (everything but the
/// application secrets, the database and the appservice registrations); `public_baseurl` is
/// the URL clients use (see [`SynapseConfig::public_baseurl`]), `log_config` the path of the
/// logging configuration.
pub fn base_fragment(config: &SynapseConfig, public_baseurl: &str, log_config: &str) -> Fragment {
    let document = Homeserver {
        server_name: &config.server_name,
        public_baseurl: public_baseurl.to_string(),
        pid_file: format!("{DATA_DIR}/homeserver.pid"),
        listeners: listeners(),
        log_config,
        media_store_path: format!("{DATA_DIR}/media"),
        max_upload_size: "50M",
        enable_registration: false,
        report_stats: config.report_stats,
        trusted_key_servers: config
            .trusted_key_servers
            .iter()
            .map(|server_name| TrustedKeyServer { server_name })
            .collect(),
        suppress_key_server_warning: true,
        enable_metrics: true,
        serve_server_wellknown: true,
        forgotten_room_retention_period: "28d",
        media_retention: MediaRetention { local_media_lifetime: "28d", remote_media_lifetime: "14d" },
        delete_stale_devices_after: "1y",
        rc_joins: RcJoins {
            remote: RateLimit {
                per_second: config.rc_joins_remote_per_second,
                burst_count: config.rc_joins_remote_burst_count,
            },
        },
        allow_public_rooms_over_federation: config.allow_public_rooms_over_federation,
        block_non_admin_invites: config.block_non_admin_invites,
        enable_room_list_search: config.enable_room_list_search,
        password_config: PasswordConfig { enabled: config.enable_password_config },
        federation_domain_whitelist: config.federation_domain_whitelist.as_deref(),
        ip_range_whitelist: config.ip_range_whitelist.as_deref(),
        limit_remote_rooms: config
            .limit_remote_rooms_complexity
            .map(|complexity| LimitRemoteRooms { enabled: true, complexity }),
        room_list_publication_rules: config.publish_rooms_allowlist.as_deref().map(publication_rules),
        modules: config.invite_checker.iter().map(invite_checker_module).collect(),
    };
    match serde_json::to_value(document).expect("string-keyed data always serialises") {
        Value::Object(map) => Fragment(map),
        _ => unreachable!("a struct serialises to a map"),
    }
}

/// The homeserver.yaml keys of the application secrets.
pub fn secrets_fragment(secrets: &AppSecrets) -> Fragment {
    let mut fragment = Fragment::default();
    fragment.set("registration_shared_secret", json!(secrets.registration_shared_secret.expose_secret()));
    fragment.set("macaroon_secret_key", json!(secrets.macaroon_secret_key.expose_secret()));
    fragment.set("form_secret", json!(secrets.form_secret.expose_secret()));
    fragment.set("signing_key_path", json!(signing_key_path(&secrets.server_name)));
    fragment
}

/// homeserver.yaml as the composed plan wants it: the components' keys, and the
/// appservice registrations Synapse loads (`app_service_config_files`, set by nobody else).
#[derive(Debug, Clone, PartialEq)]
pub struct HomeserverConfig {
    pub keys: Fragment,
    /// Registration files in order, each with the application it comes from.
    pub appservices: Vec<(String, String)>,
    /// The operator's own keys (`additional_homeserver_config`), appended as written, so
    /// Synapse's YAML 1.1 reader gives them the meaning the operator expects.
    pub extra: Option<String>,
}

impl HomeserverConfig {
    /// The file, listing every registration but those in `left_out` (the key is left out
    /// when none remain).
    pub fn render(&self, left_out: &BTreeSet<String>) -> ContainerFile {
        let mut document = self.keys.0.clone();
        let files: Vec<&str> = self
            .appservices
            .iter()
            .map(|(path, _)| path.as_str())
            .filter(|path| !left_out.contains(*path))
            .collect();
        if !files.is_empty() {
            document.insert(APPSERVICES_KEY.to_string(), json!(files));
        }
        let mut text = String::from(HEADER);
        text.push_str(&safe_yaml::to_string(&document).expect("JSON values always serialise"));
        if let Some(extra) = &self.extra {
            text.push_str("# additional_homeserver_config, as the operator wrote it:\n");
            text.push_str(extra.trim_end());
            text.push('\n');
        }
        ContainerFile::secret(CONFIG_PATH, text)
    }

    /// The applications whose registration files are among `paths`.
    pub fn owners<'a>(&'a self, paths: &'a [String]) -> impl Iterator<Item = &'a str> + 'a {
        self.appservices.iter().filter(|(path, _)| paths.contains(path)).map(|(_, app)| app.as_str())
    }
}

/// The key listing the appservice registration files.
pub const APPSERVICES_KEY: &str = "app_service_config_files";

/// The first line of every homeserver.yaml this charm writes.
pub const HEADER: &str =
    "# Written by the synapse-k8s charm from its configuration; changes made here are overwritten.\n";

/// The server secrets of a homeserver.yaml this charm wrote, without the signing key (which
/// lives in its own file).
#[derive(Debug)]
pub struct WrittenSecrets {
    server_name: String,
    registration_shared_secret: SecretString,
    macaroon_secret_key: SecretString,
    form_secret: SecretString,
    pub signing_key_path: String,
}

impl WrittenSecrets {
    /// The complete secrets, with the signing key file's line; `None` when it is malformed.
    pub fn with_signing_key(self, signing_key: &str) -> Option<AppSecrets> {
        let secrets = AppSecrets {
            server_name: self.server_name,
            registration_shared_secret: self.registration_shared_secret,
            macaroon_secret_key: self.macaroon_secret_key,
            form_secret: self.form_secret,
            signing_key: SecretString::from(signing_key.to_string()),
        };
        AppSecrets::from_content(&secrets.to_content()).ok()
    }
}

/// Reads the secrets back from a homeserver.yaml that carries this charm's [`HEADER`];
/// `None` for any other file or one that lacks a secret.
pub fn written_secrets(text: &str) -> Option<WrittenSecrets> {
    if !text.starts_with(HEADER) {
        return None;
    }
    let document: serde_json::Value = safe_yaml::from_str(text).ok()?;
    let text_of =
        |key: &str| document.get(key)?.as_str().filter(|value| !value.is_empty()).map(str::to_string);
    Some(WrittenSecrets {
        server_name: text_of("server_name")?,
        registration_shared_secret: SecretString::from(text_of("registration_shared_secret")?),
        macaroon_secret_key: SecretString::from(text_of("macaroon_secret_key")?),
        form_secret: SecretString::from(text_of("form_secret")?),
        signing_key_path: text_of("signing_key_path")?,
    })
}

/// A secret of a homeserver.yaml the charm did not write: the value itself, or the file
/// Synapse reads it from (`<key>_path`).
#[derive(Clone)]
pub enum ExistingSecret {
    Inline(SecretString),
    File(String),
}

impl ExistingSecret {
    fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Inline(a), Self::Inline(b)) => a.expose_secret() == b.expose_secret(),
            (Self::File(a), Self::File(b)) => a == b,
            _ => false,
        }
    }
}

impl std::fmt::Debug for ExistingSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Inline(<redacted>)"),
            Self::File(path) => write!(f, "File({path:?})"),
        }
    }
}

/// What the charm needs of a homeserver.yaml it did not write (the upstream charm's, or one
/// of Synapse's `--generate-config`), to adopt the server it configures. `Debug` shows no
/// secret.
#[derive(Debug, Clone)]
pub struct ExistingHomeserver {
    pub server_name: String,
    /// `database.name` (`psycopg2` or `sqlite3`); `None` when the key is absent (SQLite).
    pub database: Option<String>,
    /// `signing_key_path`, when set.
    pub signing_key_path: Option<String>,
    pub registration_shared_secret: Option<ExistingSecret>,
    pub macaroon_secret_key: Option<ExistingSecret>,
    pub form_secret: Option<ExistingSecret>,
    /// `app_service_config_files`, the registrations Synapse loads.
    pub appservices: Vec<String>,
}

impl PartialEq for ExistingHomeserver {
    fn eq(&self, other: &Self) -> bool {
        let same = |a: &Option<ExistingSecret>, b: &Option<ExistingSecret>| match (a, b) {
            (Some(a), Some(b)) => a.same(b),
            (None, None) => true,
            _ => false,
        };
        self.server_name == other.server_name
            && self.database == other.database
            && self.signing_key_path == other.signing_key_path
            && same(&self.registration_shared_secret, &other.registration_shared_secret)
            && same(&self.macaroon_secret_key, &other.macaroon_secret_key)
            && same(&self.form_secret, &other.form_secret)
            && self.appservices == other.appservices
    }
}

impl Eq for ExistingHomeserver {}

/// Reads a homeserver.yaml whoever wrote it; `None` when it is not a YAML mapping with a
/// `server_name`. A secret is taken from its key, else from the file its `<key>_path` names;
/// an empty or non-text value counts as absent.
pub fn existing_homeserver(text: &str) -> Option<ExistingHomeserver> {
    let document: serde_json::Value = safe_yaml::from_str(text).ok()?;
    let document = document.as_object()?;
    let text_of = |key: &str| {
        document.get(key)?.as_str().map(str::trim).filter(|value| !value.is_empty()).map(str::to_string)
    };
    let secret = |key: &str| {
        text_of(key)
            .map(|value| ExistingSecret::Inline(SecretString::from(value)))
            .or_else(|| text_of(&format!("{key}_path")).map(ExistingSecret::File))
    };
    let database = document
        .get("database")
        .and_then(|database| database.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let appservices = document
        .get(APPSERVICES_KEY)
        .and_then(Value::as_array)
        .map(|files| files.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    Some(ExistingHomeserver {
        server_name: text_of("server_name")?,
        database,
        signing_key_path: text_of("signing_key_path"),
        registration_shared_secret: secret("registration_shared_secret"),
        macaroon_secret_key: secret("macaroon_secret_key"),
        form_secret: secret("form_secret"),
        appservices,
    })
}

/// The client and federation listener (behind a proxy that sets `X-Forwarded-For`), the
/// replication listener and the metrics listener.
fn listeners() -> Vec<Listener> {
    let resource = |name, compress| Resource { names: vec![name], compress };
    vec![
        Listener {
            port: HTTP_PORT,
            kind: "http",
            tls: false,
            x_forwarded: true,
            bind_addresses: ["::"],
            resources: vec![resource("client", true), resource("federation", false)],
        },
        Listener {
            port: REPLICATION_PORT,
            kind: "http",
            tls: false,
            x_forwarded: false,
            bind_addresses: ["::"],
            resources: vec![resource("replication", false)],
        },
        Listener {
            port: METRICS_PORT,
            kind: "metrics",
            tls: false,
            x_forwarded: false,
            bind_addresses: ["::"],
            resources: Vec::new(),
        },
    ]
}

/// A worker's `worker_listeners`: with a `replication` port (the federation sender), only
/// replication there; else the client and federation listener (behind nginx, which sets
/// `X-Forwarded-For`) and the metrics listener, as the main process has them.
pub fn worker_listeners(replication: Option<u16>) -> Value {
    let listeners: Vec<Listener> = match replication {
        Some(port) => vec![Listener {
            port,
            kind: "http",
            tls: false,
            x_forwarded: false,
            bind_addresses: ["::"],
            resources: vec![Resource { names: vec!["replication"], compress: false }],
        }],
        None => self::listeners().into_iter().filter(|listener| listener.port != REPLICATION_PORT).collect(),
    };
    serde_json::to_value(listeners).expect("listeners always serialise")
}

/// Allow each listed user to publish any room, then deny everybody else.
fn publication_rules(users: &[String]) -> Vec<PublicationRule<'_>> {
    let rule = |user_id, action| PublicationRule { user_id, alias: "*", room_id: "*", action };
    users.iter().map(|user| rule(user.as_str(), "allow")).chain([rule("*", "deny")]).collect()
}

fn invite_checker_module(checker: &InviteChecker) -> Module<'_> {
    Module {
        module: INVITE_CHECKER_MODULE,
        config: InviteCheckerConfig {
            blocklist_allowlist_url: checker.blocklist_allowlist_url.as_deref(),
            policy_room_ids: &checker.policy_room_ids,
        },
    }
}

/// Renders `/data/log.config`: Python logging to the console, which Pebble collects.
pub fn log_config() -> String {
    let document = json!({
        "version": 1,
        "formatters": {
            "precise": {
                "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s"
            }
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "precise"}
        },
        "loggers": {
            "synapse.storage.SQL": {"level": "INFO"}
        },
        "root": {"level": "INFO", "handlers": ["console"]},
        "disable_existing_loggers": false
    });
    safe_yaml::to_string(&document).expect("JSON values always serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn config(options: Value) -> SynapseConfig {
        crate::config::for_tests(options)
    }

    fn homeserver_yaml(config: &SynapseConfig, secrets: &AppSecrets, files: &[String]) -> String {
        let mut keys = base_fragment(config, &config.public_baseurl(None), "/data/log.config");
        keys.0.extend(secrets_fragment(secrets).0);
        let appservices = files.iter().map(|path| (path.clone(), "bridge".to_string())).collect();
        let file = HomeserverConfig { keys, appservices, extra: None }.render(&BTreeSet::new());
        String::from_utf8(file.content).unwrap()
    }

    fn render(options: Value) -> (Value, AppSecrets) {
        let secrets = AppSecrets::generate("example.com");
        let yaml = homeserver_yaml(&config(options), &secrets, &[]);
        (safe_yaml::from_str(&yaml).unwrap(), secrets)
    }

    #[test]
    fn renders_the_template_and_fixed_keys() {
        let (document, secrets) = render(json!({}));
        assert_eq!(document["server_name"], "example.com");
        assert_eq!(document["public_baseurl"], "https://example.com");
        assert_eq!(document["pid_file"], "/data/homeserver.pid");
        assert_eq!(document["log_config"], "/data/log.config");
        assert_eq!(document["media_store_path"], "/data/media");
        assert_eq!(document["max_upload_size"], "50M");
        assert_eq!(document["enable_registration"], false);
        assert_eq!(document["signing_key_path"], "/data/example.com.signing.key");
        assert_eq!(document["trusted_key_servers"], json!([{"server_name": "matrix.org"}]));
        assert_eq!(document["suppress_key_server_warning"], true);
        assert_eq!(document["enable_metrics"], true);
        assert_eq!(document["serve_server_wellknown"], true);
        assert_eq!(document["forgotten_room_retention_period"], "28d");
        assert_eq!(
            document["media_retention"],
            json!({"local_media_lifetime": "28d", "remote_media_lifetime": "14d"})
        );
        assert_eq!(document["delete_stale_devices_after"], "1y");
        assert_eq!(document["rc_joins"], json!({"remote": {"per_second": 0.01, "burst_count": 10}}));
        assert_eq!(
            document["registration_shared_secret"],
            secrets.registration_shared_secret.expose_secret()
        );
        assert_eq!(document["macaroon_secret_key"], secrets.macaroon_secret_key.expose_secret());
        assert_eq!(document["form_secret"], secrets.form_secret.expose_secret());
        let listeners = document["listeners"].as_array().unwrap();
        let main = &listeners[0];
        assert_eq!((main["port"].as_u64(), main["type"].as_str()), (Some(8008), Some("http")));
        assert_eq!(main["x_forwarded"], true);
        assert_eq!(main["resources"][0]["names"], json!(["client"]));
        assert_eq!(main["resources"][1]["names"], json!(["federation"]));
        assert_eq!(listeners[1]["port"], 8035);
        assert_eq!(listeners[1]["resources"][0]["names"], json!(["replication"]));
        assert_eq!(
            listeners[2],
            json!({"port": 9000, "type": "metrics", "tls": false, "x_forwarded": false, "bind_addresses": ["::"]})
        );
        for absent in [
            "federation_domain_whitelist",
            "ip_range_whitelist",
            "limit_remote_rooms",
            "room_list_publication_rules",
            "modules",
            "app_service_config_files",
        ] {
            assert!(document.get(absent).is_none(), "{absent} rendered by default");
        }
    }

    #[test]
    fn rendering_is_deterministic() {
        let secrets = AppSecrets::generate("example.com");
        let config =
            config(json!({"publish_rooms_allowlist": "a:example.com", "ip_range_whitelist": "10.0.0.0/8"}));
        let files = ["/data/appservice-registration-matrix-auth-3.yaml".to_string()];
        assert_eq!(homeserver_yaml(&config, &secrets, &files), homeserver_yaml(&config, &secrets, &files));
    }

    #[test]
    fn the_secrets_of_a_written_file_read_back_and_others_do_not() {
        let secrets = AppSecrets::generate("example.com");
        let text = homeserver_yaml(&config(json!({})), &secrets, &[]);
        assert!(text.starts_with(HEADER));
        let written = written_secrets(&text).expect("our own file");
        assert_eq!(written.signing_key_path, "/data/example.com.signing.key");
        let back = written.with_signing_key(secrets.signing_key.expose_secret()).expect("complete");
        assert_eq!(back.server_name, "example.com");
        assert_eq!(
            back.registration_shared_secret.expose_secret(),
            secrets.registration_shared_secret.expose_secret()
        );
        assert_eq!(back.macaroon_secret_key.expose_secret(), secrets.macaroon_secret_key.expose_secret());
        assert_eq!(back.form_secret.expose_secret(), secrets.form_secret.expose_secret());
        let foreign = text.replacen(HEADER, "# Configuration file for Synapse.\n", 1);
        assert!(written_secrets(&foreign).is_none(), "a file without our header is not ours");
        let written = written_secrets(&text).unwrap();
        assert!(written.with_signing_key("ed25519 a_x short").is_none());
    }

    #[test]
    fn an_upstream_homeserver_yaml_is_read_with_its_secrets_database_and_registrations() {
        let text = "# Configuration file for Synapse.\nserver_name: \"example.com\"\n\
                    database:\n  name: \"psycopg2\"\n  args:\n    user: u\n\
                    registration_shared_secret: \"reg\"\nmacaroon_secret_key_path: /data/m.key\n\
                    signing_key_path: \"/data/example.com.signing.key\"\nform_secret: \"\"\n\
                    app_service_config_files:\n  - /data/appservice-registration-matrix-auth-3.yaml\n";
        let existing = existing_homeserver(text).expect("a server");
        assert_eq!(existing.server_name, "example.com");
        assert_eq!(existing.database.as_deref(), Some("psycopg2"));
        assert_eq!(existing.signing_key_path.as_deref(), Some("/data/example.com.signing.key"));
        assert!(
            matches!(&existing.registration_shared_secret, Some(ExistingSecret::Inline(value)) if value.expose_secret() == "reg")
        );
        assert!(
            matches!(&existing.macaroon_secret_key, Some(ExistingSecret::File(path)) if path == "/data/m.key")
        );
        assert!(existing.form_secret.is_none(), "an empty value is no secret");
        assert_eq!(existing.appservices, ["/data/appservice-registration-matrix-auth-3.yaml"]);
        assert!(!format!("{existing:?}").contains("reg\""), "{existing:?}");
        assert_eq!(existing, existing_homeserver(text).unwrap());
        let sqlite = existing_homeserver("server_name: example.com\n").unwrap();
        assert_eq!(sqlite.database, None);
        assert_ne!(sqlite, existing);
        for unreadable in ["", "server_name: \"\"\n", "[1, 2]\n", "server_name: [a]\n"] {
            assert!(existing_homeserver(unreadable).is_none(), "{unreadable:?}");
        }
    }

    #[test]
    fn registration_files_are_listed_in_order_minus_those_left_out() {
        let files = [
            "/data/appservice-registration-matrix-auth-3.yaml".to_string(),
            "/data/appservice-registration-matrix-auth-12.yaml".to_string(),
        ];
        let yaml = homeserver_yaml(&config(json!({})), &AppSecrets::generate("example.com"), &files);
        let document: Value = safe_yaml::from_str(&yaml).unwrap();
        assert_eq!(document["app_service_config_files"], json!(files));
        let config = HomeserverConfig {
            keys: base_fragment(
                &crate::config::for_tests(json!({})),
                "https://example.com",
                "/data/log.config",
            ),
            appservices: vec![(files[0].clone(), "irc".into()), (files[1].clone(), "tg".into())],
            extra: None,
        };
        let left_out = BTreeSet::from([files[0].clone()]);
        let document: Value =
            safe_yaml::from_str(std::str::from_utf8(&config.render(&left_out).content).unwrap()).unwrap();
        assert_eq!(document["app_service_config_files"], json!([files[1]]));
        assert_eq!(config.owners(&[files[1].clone()]).collect::<Vec<_>>(), ["tg"]);
        let everything = BTreeSet::from(files.clone());
        let document: Value =
            safe_yaml::from_str(std::str::from_utf8(&config.render(&everything).content).unwrap()).unwrap();
        assert!(document.get("app_service_config_files").is_none());
    }

    #[test]
    fn publication_rules_allow_listed_users_then_deny_all() {
        let (document, _) = render(json!({"publish_rooms_allowlist": "alice:example.com,bob:example.com"}));
        assert_eq!(
            document["room_list_publication_rules"],
            json!([
                {"user_id": "@alice:example.com", "alias": "*", "room_id": "*", "action": "allow"},
                {"user_id": "@bob:example.com", "alias": "*", "room_id": "*", "action": "allow"},
                {"user_id": "*", "alias": "*", "room_id": "*", "action": "deny"},
            ])
        );
    }

    #[test]
    fn invite_checker_options_become_one_module() {
        let (document, _) =
            render(json!({"invite_checker_blocklist_allowlist_url": "https://example.com/list.json"}));
        assert_eq!(
            document["modules"],
            json!([{"module": "synapse_invite_checker.InviteChecker", "config": {"blocklist_allowlist_url": "https://example.com/list.json"}}])
        );
    }

    #[test]
    fn log_config_logs_to_the_console() {
        let document: Value = safe_yaml::from_str(&log_config()).unwrap();
        assert_eq!(document["version"], 1);
        assert_eq!(document["root"]["handlers"], json!(["console"]));
        assert_eq!(document["handlers"]["console"]["class"], "logging.StreamHandler");
        assert_eq!(document["disable_existing_loggers"], false);
    }
}
