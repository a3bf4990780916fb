//! What a charm directory declares: endpoints, containers, storage, resources, config options
//! and actions, read from `metadata.yaml`, `config.yaml`, `actions.yaml` or `charmcraft.yaml`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::Role;

/// A charm file could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum CharmError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot parse {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("charm directory {0} has neither metadata.yaml nor charmcraft.yaml with a name")]
    NoMetadata(PathBuf),
}

/// A relation endpoint declared under `provides`, `requires` or `peers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointMeta {
    pub interface: String,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub optional: bool,
}

/// A storage declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageMeta {
    /// `filesystem` or `block`.
    pub kind: String,
    pub location: Option<String>,
}

/// The type of a config option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigType {
    String,
    Int,
    Float,
    Boolean,
    Secret,
}

/// A config option with its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigOption {
    #[serde(rename = "type")]
    pub kind: ConfigType,
    pub default: Option<Value>,
    #[serde(default)]
    pub description: String,
}

impl ConfigOption {
    /// Checks (and for string input, converts) a value as `juju config` would.
    pub fn coerce(&self, name: &str, value: &Value) -> Result<Value, String> {
        let mismatch = || format!("option {name:?} expected {}, got {value}", self.type_name());
        match (self.kind, value) {
            (_, Value::Null) => Ok(Value::Null),
            (ConfigType::String | ConfigType::Secret, Value::String(_)) => Ok(value.clone()),
            (ConfigType::Int, Value::Number(n)) if n.is_i64() => Ok(value.clone()),
            (ConfigType::Int, Value::String(s)) => {
                s.trim().parse::<i64>().map(Value::from).map_err(|_| mismatch())
            }
            (ConfigType::Float, Value::Number(n)) => n.as_f64().map(Value::from).ok_or_else(mismatch),
            (ConfigType::Float, Value::String(s)) => {
                s.trim().parse::<f64>().map(Value::from).map_err(|_| mismatch())
            }
            (ConfigType::Boolean, Value::Bool(_)) => Ok(value.clone()),
            (ConfigType::Boolean, Value::String(s)) => match s.as_str() {
                "true" | "True" | "TRUE" | "yes" => Ok(Value::Bool(true)),
                "false" | "False" | "FALSE" | "no" => Ok(Value::Bool(false)),
                _ => Err(mismatch()),
            },
            _ => Err(mismatch()),
        }
    }

    fn type_name(&self) -> &'static str {
        match self.kind {
            ConfigType::String => "string",
            ConfigType::Int => "int",
            ConfigType::Float => "float",
            ConfigType::Boolean => "boolean",
            ConfigType::Secret => "secret",
        }
    }
}

/// An action declaration: its parameter schema.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ActionMeta {
    #[serde(default)]
    pub description: String,
    /// JSON-schema properties by parameter name.
    #[serde(default)]
    pub params: serde_json::Map<String, Value>,
    #[serde(default)]
    pub required: Vec<String>,
    #[serde(default = "default_true")]
    pub additional_properties: bool,
}

fn default_true() -> bool {
    true
}

impl ActionMeta {
    /// Validates `given` against the schema and fills in defaults, as Juju does when an action
    /// is enqueued.
    pub fn resolve_params(
        &self,
        action: &str,
        given: &serde_json::Map<String, Value>,
    ) -> Result<serde_json::Map<String, Value>, String> {
        let mut params = given.clone();
        for (name, value) in given {
            match self.params.get(name) {
                None if !self.additional_properties => {
                    return Err(format!(
                        "validation failed: action {action:?}: additional property {name:?} is not allowed"
                    ))
                }
                Some(schema) => check_type(action, name, schema, value)?,
                None => {}
            }
        }
        for (name, schema) in &self.params {
            if !params.contains_key(name) {
                if let Some(default) = schema.get("default") {
                    params.insert(name.clone(), default.clone());
                }
            }
        }
        if let Some(missing) = self.required.iter().find(|name| !params.contains_key(*name)) {
            return Err(format!(
                "validation failed: action {action:?}: missing required property {missing:?}"
            ));
        }
        Ok(params)
    }
}

fn check_type(action: &str, name: &str, schema: &Value, value: &Value) -> Result<(), String> {
    let Some(expected) = schema.get("type").and_then(Value::as_str) else {
        return Ok(());
    };
    let fits = match expected {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    };
    if fits {
        Ok(())
    } else {
        Err(format!("validation failed: action {action:?}: property {name:?} must be of type {expected}"))
    }
}

/// Everything the simulator needs from a charm's metadata.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CharmMeta {
    pub name: String,
    #[serde(default)]
    pub provides: BTreeMap<String, EndpointMeta>,
    #[serde(default)]
    pub requires: BTreeMap<String, EndpointMeta>,
    #[serde(default)]
    pub peers: BTreeMap<String, EndpointMeta>,
    #[serde(default)]
    pub extra_bindings: BTreeSet<String>,
    #[serde(default)]
    pub containers: BTreeSet<String>,
    #[serde(default)]
    pub storage: BTreeMap<String, StorageMeta>,
    #[serde(default)]
    pub resources: BTreeSet<String>,
    #[serde(default)]
    pub config: BTreeMap<String, ConfigOption>,
    #[serde(default)]
    pub actions: BTreeMap<String, ActionMeta>,
}

impl CharmMeta {
    /// Reads a charm directory.
    pub fn load(dir: &Path) -> Result<Self, CharmError> {
        let charmcraft = read_yaml::<RawCharmcraft>(&dir.join("charmcraft.yaml"))?;
        let metadata = match read_yaml::<RawMetadata>(&dir.join("metadata.yaml"))? {
            Some(metadata) => metadata,
            None => charmcraft
                .as_ref()
                .map(|c| c.metadata.clone())
                .filter(|m| !m.name.is_empty())
                .ok_or_else(|| CharmError::NoMetadata(dir.to_owned()))?,
        };
        let config = match read_yaml::<RawConfig>(&dir.join("config.yaml"))? {
            Some(config) => config,
            None => charmcraft.as_ref().and_then(|c| c.config.clone()).unwrap_or_default(),
        };
        let actions = match read_yaml::<BTreeMap<String, RawAction>>(&dir.join("actions.yaml"))? {
            Some(actions) => actions,
            None => charmcraft.as_ref().and_then(|c| c.actions.clone()).unwrap_or_default(),
        };
        Ok(Self::from_raw(metadata, config, actions))
    }

    /// Parses metadata from YAML text (for passive applications and tests).
    pub fn from_yaml(metadata: &str) -> Result<Self, CharmError> {
        let raw: RawMetadata = serde_norway::from_str(metadata)
            .map_err(|e| CharmError::Parse { path: PathBuf::from("<metadata>"), message: e.to_string() })?;
        Ok(Self::from_raw(raw, RawConfig::default(), BTreeMap::new()))
    }

    fn from_raw(metadata: RawMetadata, config: RawConfig, actions: BTreeMap<String, RawAction>) -> Self {
        let endpoints = |raw: BTreeMap<String, RawEndpoint>| {
            raw.into_iter().map(|(name, endpoint)| (name, endpoint.into_meta())).collect()
        };
        CharmMeta {
            name: metadata.name,
            provides: endpoints(metadata.provides),
            requires: endpoints(metadata.requires),
            peers: endpoints(metadata.peers),
            extra_bindings: metadata.extra_bindings.into_keys().collect(),
            containers: metadata.containers.into_keys().collect(),
            storage: metadata
                .storage
                .into_iter()
                .map(|(name, storage)| (name, StorageMeta { kind: storage.kind, location: storage.location }))
                .collect(),
            resources: metadata.resources.into_keys().collect(),
            config: config
                .options
                .into_iter()
                .map(|(name, option)| {
                    (
                        name,
                        ConfigOption {
                            kind: option.kind,
                            default: option.default,
                            description: option.description,
                        },
                    )
                })
                .collect(),
            actions: actions
                .into_iter()
                .map(|(name, action)| {
                    (
                        name,
                        ActionMeta {
                            description: action.description,
                            params: action.params,
                            required: action.required,
                            additional_properties: action.additional_properties,
                        },
                    )
                })
                .collect(),
        }
    }

    /// The endpoint named `name` with its role.
    pub fn endpoint(&self, name: &str) -> Option<(Role, &EndpointMeta)> {
        if let Some(meta) = self.provides.get(name) {
            return Some((Role::Provider, meta));
        }
        if let Some(meta) = self.requires.get(name) {
            return Some((Role::Requirer, meta));
        }
        self.peers.get(name).map(|meta| (Role::Peer, meta))
    }

    /// Whether `name` is a relation endpoint or extra binding (what `network-get` accepts).
    pub fn has_binding(&self, name: &str) -> bool {
        self.endpoint(name).is_some() || self.extra_bindings.contains(name)
    }
}

fn read_yaml<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, CharmError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(CharmError::Read { path: path.to_owned(), source }),
    };
    if text.trim().is_empty() {
        return serde_norway::from_str("{}")
            .map(Some)
            .map_err(|e| CharmError::Parse { path: path.to_owned(), message: e.to_string() });
    }
    serde_norway::from_str(&text)
        .map(Some)
        .map_err(|e| CharmError::Parse { path: path.to_owned(), message: e.to_string() })
}

#[derive(Debug, Clone, Default, Deserialize)]
struct RawMetadata {
    #[serde(default)]
    name: String,
    #[serde(default)]
    provides: BTreeMap<String, RawEndpoint>,
    #[serde(default)]
    requires: BTreeMap<String, RawEndpoint>,
    #[serde(default)]
    peers: BTreeMap<String, RawEndpoint>,
    #[serde(default, rename = "extra-bindings")]
    extra_bindings: BTreeMap<String, serde_norway::Value>,
    #[serde(default)]
    containers: BTreeMap<String, serde_norway::Value>,
    #[serde(default)]
    storage: BTreeMap<String, RawStorage>,
    #[serde(default)]
    resources: BTreeMap<String, serde_norway::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawEndpoint {
    Short(String),
    Full {
        interface: String,
        #[serde(default)]
        limit: Option<u32>,
        #[serde(default)]
        optional: bool,
    },
}

impl RawEndpoint {
    fn into_meta(self) -> EndpointMeta {
        match self {
            RawEndpoint::Short(interface) => EndpointMeta { interface, limit: None, optional: false },
            RawEndpoint::Full { interface, limit, optional } => EndpointMeta { interface, limit, optional },
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct RawStorage {
    #[serde(rename = "type", default = "default_storage_kind")]
    kind: String,
    #[serde(default)]
    location: Option<String>,
}

fn default_storage_kind() -> String {
    "filesystem".to_owned()
}

#[derive(Debug, Clone, Default, Deserialize)]
struct RawConfig {
    #[serde(default)]
    options: BTreeMap<String, RawOption>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawOption {
    #[serde(rename = "type", default = "default_option_type")]
    kind: ConfigType,
    #[serde(default)]
    default: Option<Value>,
    #[serde(default)]
    description: String,
}

fn default_option_type() -> ConfigType {
    ConfigType::String
}

#[derive(Debug, Clone, Default, Deserialize)]
struct RawAction {
    #[serde(default)]
    description: String,
    #[serde(default)]
    params: serde_json::Map<String, Value>,
    #[serde(default)]
    required: Vec<String>,
    #[serde(default = "default_true", rename = "additionalProperties")]
    additional_properties: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct RawCharmcraft {
    #[serde(flatten)]
    metadata: RawMetadata,
    #[serde(default)]
    config: Option<RawConfig>,
    #[serde(default)]
    actions: Option<BTreeMap<String, RawAction>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_split_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("metadata.yaml"),
            "name: demo\nrequires:\n  db: {interface: pg, limit: 1}\nprovides:\n  web: http\n\
             peers:\n  cluster: {interface: demo-peers}\ncontainers:\n  app: {resource: img}\n\
             storage:\n  data: {type: filesystem, location: /data}\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("config.yaml"),
            "options:\n  port: {type: int, default: 8080}\n  name: {type: string}\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("actions.yaml"),
            "backup:\n  params:\n    target: {type: string, default: s3}\n  additionalProperties: false\n",
        )
        .unwrap();
        let meta = CharmMeta::load(dir.path()).unwrap();
        assert_eq!(meta.name, "demo");
        assert_eq!(meta.endpoint("db").unwrap().0, Role::Requirer);
        assert_eq!(meta.endpoint("web").unwrap().1.interface, "http");
        assert_eq!(meta.endpoint("cluster").unwrap().0, Role::Peer);
        assert!(meta.containers.contains("app"));
        assert_eq!(meta.storage["data"].location.as_deref(), Some("/data"));
        assert_eq!(meta.config["port"].default, Some(Value::from(8080)));
        let params = meta.actions["backup"].resolve_params("backup", &serde_json::Map::new()).unwrap();
        assert_eq!(params["target"], "s3");
        let mut unknown = serde_json::Map::new();
        unknown.insert("nope".into(), Value::from(1));
        assert!(meta.actions["backup"].resolve_params("backup", &unknown).is_err());
    }

    #[test]
    fn reads_unified_charmcraft_yaml() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("charmcraft.yaml"),
            "name: unified\ntype: charm\nrequires:\n  db: {interface: pg}\n\
             config:\n  options:\n    debug: {type: boolean, default: false}\n\
             actions:\n  ping: {description: pong}\n",
        )
        .unwrap();
        let meta = CharmMeta::load(dir.path()).unwrap();
        assert_eq!(meta.name, "unified");
        assert!(meta.requires.contains_key("db"));
        assert_eq!(meta.config["debug"].default, Some(Value::Bool(false)));
        assert!(meta.actions.contains_key("ping"));
    }

    #[test]
    fn config_values_are_coerced_like_juju_config() {
        let option = ConfigOption { kind: ConfigType::Int, default: None, description: String::new() };
        assert_eq!(option.coerce("n", &Value::from("42")).unwrap(), Value::from(42));
        assert!(option.coerce("n", &Value::from("x")).is_err());
        assert!(option.coerce("n", &Value::Bool(true)).is_err());
    }

    #[test]
    fn missing_metadata_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(CharmMeta::load(dir.path()), Err(CharmError::NoMetadata(_))));
    }
}
