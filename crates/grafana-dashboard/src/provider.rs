//! What the provider's leader publishes: the `dashboards` object.
//!
//! Each dashboard file is processed as the library (LIBPATCH 41 to 48) processes it: its
//! `uid` becomes a "Path40" uid (shake-256 of `<charm>-<path relative to the charm root>`,
//! 40 hex characters) unless it already is one, and the tag `charm: <charm>` is added unless
//! a `charm: ` tag is there. It is published under the stable id `file:<stem>` with
//! `dashboard_alt_uid` (shake-256 of `<charm>-<id>`, 16 hex characters).
//!
//! **The `uuid` member.** The library writes a fresh UUID4 on every write so that Grafana
//! always sees a change. [`plan_app`] does the same on every write it plans, but it plans
//! none when the bag already holds the same dashboards: the held object is decoded and
//! compared member by member, each `content` by its decompressed JSON document (two xz
//! encoders may compress the same text differently), the `uuid` ignored. So a hook that
//! changes nothing writes nothing, and any change reaches Grafana with a new `uuid`.

use std::collections::BTreeMap;

use juju::{Bag, Databag, Effect, HookContext, RelationId};
use serde_json::{Map, Value};
use sha3::digest::{ExtendableOutput, Update, XofReader};
use sha3::Shake256;

use crate::encoding::{compress, decompress};
use crate::protocol::{CHARM_TAG_PREFIX, DASHBOARDS, FILE_ID_PREFIX, PATH40_UID_LENGTH, TEMPLATES, UUID};

/// The topology shown in Grafana's dropdowns (the library's `juju_topology`; no charm name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub model: String,
    pub model_uuid: String,
    pub application: String,
    pub unit: String,
}

impl Topology {
    /// This unit's topology from the hook context.
    pub fn from_context(context: &HookContext) -> Self {
        Self {
            model: context.model_name.clone(),
            model_uuid: context.model_uuid.clone(),
            application: context.app_name.clone(),
            unit: context.unit_name.clone(),
        }
    }

    fn to_json(&self) -> Value {
        serde_json::json!({
            "model": self.model,
            "model_uuid": self.model_uuid,
            "application": self.application,
            "unit": self.unit,
        })
    }
}

/// A dashboard the library would not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDashboard {
    #[error("the charm name is empty")]
    EmptyCharm,
    #[error("{path}: not a dashboard file name (*.json, *.json.tmpl or *.tmpl)")]
    FileName { path: String },
    #[error("{path}: invalid JSON: {message}")]
    Json { path: String, message: String },
    #[error("{path}: the dashboard is not a JSON object")]
    NotAnObject { path: String },
    #[error("two dashboards have the id {0:?}")]
    DuplicateId(String),
}

/// One dashboard, processed and ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    id: String,
    content: Value,
}

impl Dashboard {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The dashboard JSON as published (uid and tag set).
    pub fn content(&self) -> &Value {
        &self.content
    }

    pub fn uid(&self) -> Option<&str> {
        self.content.get("uid").and_then(Value::as_str)
    }
}

/// What the leader publishes: the charm's dashboards and how Grafana should show them.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardsRequest {
    charm: String,
    topology: Topology,
    inject_dropdowns: bool,
    dashboards: Vec<Dashboard>,
}

impl DashboardsRequest {
    /// No dashboards yet, for `charm` (the charm name of `metadata.yaml`, not the
    /// application name), with topology dropdowns.
    pub fn new(charm: impl Into<String>, topology: Topology) -> Result<Self, InvalidDashboard> {
        let charm = charm.into();
        if charm.is_empty() {
            return Err(InvalidDashboard::EmptyCharm);
        }
        Ok(Self { charm, topology, inject_dropdowns: true, dashboards: Vec::new() })
    }

    /// Whether Grafana adds topology dropdowns and matchers (without, `juju_topology` is `{}`).
    pub fn with_dropdowns(mut self, inject: bool) -> Self {
        self.inject_dropdowns = inject;
        self
    }

    /// Adds the dashboard in `text`, the file at `path` relative to the charm root (its stem
    /// is the stable id, the path seeds the uid): for continuity with the Python charm,
    /// `src/grafana_dashboards/<name>.json`.
    pub fn with_dashboard_file(mut self, path: &str, text: &str) -> Result<Self, InvalidDashboard> {
        let file = path.rsplit('/').next().unwrap_or(path);
        if !(file.ends_with(".json") || file.ends_with(".tmpl")) {
            return Err(InvalidDashboard::FileName { path: path.to_string() });
        }
        // Python's `Path.stem`: the name without its last suffix.
        let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
        let id = format!("{FILE_ID_PREFIX}{stem}");
        if self.dashboards.iter().any(|dashboard| dashboard.id == id) {
            return Err(InvalidDashboard::DuplicateId(id));
        }
        let mut content: Value = serde_json::from_str(text)
            .map_err(|error| InvalidDashboard::Json { path: path.to_string(), message: error.to_string() })?;
        let Value::Object(dashboard) = &mut content else {
            return Err(InvalidDashboard::NotAnObject { path: path.to_string() });
        };
        let uid = dashboard.get("uid").and_then(Value::as_str).unwrap_or_default();
        if !is_path40(uid) {
            let uid = shake256_hex(&format!("{}-{path}", self.charm), PATH40_UID_LENGTH / 2);
            dashboard.insert("uid".into(), Value::String(uid));
        }
        let tag = format!("{CHARM_TAG_PREFIX}{}", self.charm);
        let tags = dashboard.entry("tags").or_insert_with(|| Value::Array(Vec::new()));
        if !tags.is_array() {
            *tags = Value::Array(Vec::new());
        }
        let tags = tags.as_array_mut().expect("made an array");
        if !tags.iter().any(|tag| tag.as_str().is_some_and(|tag| tag.starts_with(CHARM_TAG_PREFIX))) {
            tags.push(Value::String(tag));
        }
        self.dashboards.push(Dashboard { id, content });
        Ok(self)
    }

    pub fn dashboards(&self) -> &[Dashboard] {
        &self.dashboards
    }

    /// The `templates` object, every `content` compressed.
    pub fn templates(&self) -> Value {
        let templates: Map<String, Value> = self
            .dashboards
            .iter()
            .map(|dashboard| {
                (dashboard.id.clone(), self.template(dashboard, compress(&dashboard.content.to_string())))
            })
            .collect();
        Value::Object(templates)
    }

    fn template(&self, dashboard: &Dashboard, content: String) -> Value {
        let topology = match self.inject_dropdowns {
            true => self.topology.to_json(),
            false => Value::Object(Map::new()),
        };
        serde_json::json!({
            "charm": self.charm,
            "content": content,
            "juju_topology": topology,
            "inject_dropdowns": self.inject_dropdowns,
            "dashboard_alt_uid": shake256_hex(&format!("{}-{}", self.charm, dashboard.id), 8),
        })
    }

    /// Whether `held`, a `dashboards` value, already publishes exactly these dashboards
    /// (whatever its `uuid` and however its contents were compressed).
    pub fn is_held_by(&self, held: &str) -> bool {
        let Ok(Value::Object(held)) = serde_json::from_str::<Value>(held) else { return false };
        let Some(Value::Object(templates)) = held.get(TEMPLATES) else { return false };
        if templates.len() != self.dashboards.len() {
            return false;
        }
        self.dashboards.iter().all(|dashboard| {
            let Some(Value::Object(entry)) = templates.get(&dashboard.id) else { return false };
            let Some(content) = entry.get("content").and_then(Value::as_str) else { return false };
            let Some(decoded) =
                decompress(content).ok().and_then(|text| serde_json::from_str::<Value>(&text).ok())
            else {
                return false;
            };
            let mut wanted = self.template(dashboard, String::new());
            let mut entry = entry.clone();
            entry.remove("content");
            wanted.as_object_mut().expect("an object").remove("content");
            decoded == dashboard.content && Value::Object(entry) == wanted
        })
    }
}

/// The leader's writes for `request` against `current_app_bag`, this application's bag on
/// `relation`: one `relation-set` of `dashboards` with a fresh `uuid`, or nothing when the
/// bag already holds these dashboards ([`DashboardsRequest::is_held_by`]).
pub fn plan_app(
    relation: &RelationId,
    current_app_bag: &Databag,
    request: &DashboardsRequest,
) -> Vec<Effect> {
    if current_app_bag.get(DASHBOARDS).is_some_and(|held| request.is_held_by(held)) {
        return Vec::new();
    }
    let value = serde_json::json!({ TEMPLATES: request.templates(), UUID: uuid4() });
    let data = BTreeMap::from([(DASHBOARDS.to_string(), value.to_string())]);
    vec![Effect::relation_set(relation.clone(), Bag::App, data)]
}

/// A random RFC 4122 version-4 UUID, as Python's `str(uuid.uuid4())`.
pub fn uuid4() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// Python's `hashlib.shake_256(text.encode()).hexdigest(bytes)`.
fn shake256_hex(text: &str, bytes: usize) -> String {
    let mut hasher = Shake256::default();
    hasher.update(text.as_bytes());
    let mut out = vec![0u8; bytes];
    hasher.finalize_xof().read(&mut out);
    out.iter().map(|b| format!("{b:02x}")).collect()
}

/// The library's "Path40" check: 40 characters that decode as hex.
fn is_path40(uid: &str) -> bool {
    uid.len() == PATH40_UID_LENGTH && uid.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use juju::effects::Value as EffectValue;

    use super::*;

    fn topology() -> Topology {
        Topology {
            model: "prod".into(),
            model_uuid: "0b2a8f5e-4f6a-4d8e-9c3b-6c1f1e8a9d01".into(),
            application: "synapse".into(),
            unit: "synapse/0".into(),
        }
    }

    const PATH: &str = "src/grafana_dashboards/synapse.json";

    fn request() -> DashboardsRequest {
        DashboardsRequest::new("synapse", topology())
            .unwrap()
            .with_dashboard_file(PATH, r#"{"title": "Synapse", "uid": "abc", "panels": []}"#)
            .unwrap()
    }

    fn written(effects: &[Effect]) -> Value {
        match effects {
            [Effect::RelationSet { bag: Bag::App, data, .. }] => match &data[DASHBOARDS] {
                EffectValue::Text(text) => serde_json::from_str(text).unwrap(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hashes_are_pythons_shake_256() {
        // hashlib.shake_256(b"synapse-file:synapse").hexdigest(8) and
        // hashlib.shake_256(b"synapse-src/grafana_dashboards/synapse.json").hexdigest(20)
        assert_eq!(shake256_hex("synapse-file:synapse", 8), PY_ALT_UID);
        assert_eq!(shake256_hex(&format!("synapse-{PATH}"), 20), PY_PATH40);
    }

    const PY_ALT_UID: &str = "528989afbcc43cea";
    const PY_PATH40: &str = "1be229f3803a55470f5d4885a9bb1a105f068927";

    #[test]
    fn files_get_a_stable_id_a_path40_uid_and_the_charm_tag() {
        let request = request();
        let dashboard = &request.dashboards()[0];
        assert_eq!(dashboard.id(), "file:synapse");
        assert_eq!(dashboard.uid(), Some(PY_PATH40));
        assert_eq!(dashboard.content()["tags"], serde_json::json!(["charm: synapse"]));
        let kept = "0123456789abcdef0123456789abcdef01234567";
        let own = DashboardsRequest::new("synapse", topology())
            .unwrap()
            .with_dashboard_file(
                "x/a.json.tmpl",
                &format!(r#"{{"uid": "{kept}", "tags": ["charm: other", "x"]}}"#),
            )
            .unwrap();
        let dashboard = &own.dashboards()[0];
        assert_eq!((dashboard.id(), dashboard.uid()), ("file:a.json", Some(kept)));
        assert_eq!(dashboard.content()["tags"], serde_json::json!(["charm: other", "x"]));
    }

    #[test]
    fn invalid_dashboards_are_refused() {
        let new = || DashboardsRequest::new("synapse", topology()).unwrap();
        assert_eq!(DashboardsRequest::new("", topology()), Err(InvalidDashboard::EmptyCharm));
        assert!(matches!(new().with_dashboard_file("a.yaml", "{}"), Err(InvalidDashboard::FileName { .. })));
        assert!(matches!(new().with_dashboard_file("a.json", "{"), Err(InvalidDashboard::Json { .. })));
        assert!(matches!(
            new().with_dashboard_file("a.json", "[]"),
            Err(InvalidDashboard::NotAnObject { .. })
        ));
        let twice =
            new().with_dashboard_file("a/x.json", "{}").unwrap().with_dashboard_file("b/x.json", "{}");
        assert_eq!(twice, Err(InvalidDashboard::DuplicateId("file:x".into())));
    }

    #[test]
    fn the_object_is_as_the_library_writes_it() {
        let value = written(&plan_app(&RelationId::new("grafana-dashboard", 3), &Databag::new(), &request()));
        let entry = &value["templates"]["file:synapse"];
        assert_eq!(entry["charm"], "synapse");
        assert_eq!(entry["inject_dropdowns"], true);
        assert_eq!(entry["juju_topology"]["unit"], "synapse/0");
        assert_eq!(entry["dashboard_alt_uid"], PY_ALT_UID);
        let content: Value =
            serde_json::from_str(&decompress(entry["content"].as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(content["title"], "Synapse");
        let uuid = value["uuid"].as_str().unwrap();
        assert!(uuid.len() == 36 && &uuid[14..15] == "4", "{uuid}");
        let flat = request().with_dropdowns(false);
        let value = written(&plan_app(&RelationId::new("grafana-dashboard", 3), &Databag::new(), &flat));
        assert_eq!(value["templates"]["file:synapse"]["juju_topology"], serde_json::json!({}));
        assert_eq!(value["templates"]["file:synapse"]["inject_dropdowns"], false);
    }

    #[test]
    fn nothing_is_written_while_the_bag_holds_the_same_dashboards() {
        let relation = RelationId::new("grafana-dashboard", 3);
        let first = written(&plan_app(&relation, &Databag::new(), &request()));
        let held = Databag::from([(DASHBOARDS.to_string(), first.to_string())]);
        assert!(plan_app(&relation, &held, &request()).is_empty());

        // The same dashboard compressed by another encoder (here: as plain xz of other
        // spacing) and another uuid is still the same.
        let mut other = first.clone();
        let text = serde_json::to_string_pretty(request().dashboards()[0].content()).unwrap();
        other["templates"]["file:synapse"]["content"] = Value::String(compress(&text));
        other["uuid"] = Value::String(uuid4());
        let held = Databag::from([(DASHBOARDS.to_string(), other.to_string())]);
        assert!(plan_app(&relation, &held, &request()).is_empty());

        // Any change is written, with a new uuid.
        let changed = request().with_dashboard_file("b.json", "{}").unwrap();
        let second = written(&plan_app(&relation, &held, &changed));
        assert_ne!(second["uuid"], first["uuid"]);
        assert_eq!(second["templates"].as_object().unwrap().len(), 2);
        let moved = DashboardsRequest::new("synapse", Topology { unit: "synapse/1".into(), ..topology() })
            .unwrap()
            .with_dashboard_file(PATH, r#"{"title": "Synapse", "uid": "abc", "panels": []}"#)
            .unwrap();
        assert_eq!(plan_app(&relation, &held, &moved).len(), 1, "a new leader publishes itself");
        for garbage in ["", "{}", "nope", r#"{"templates": {"file:synapse": {"content": "x"}}}"#] {
            let held = Databag::from([(DASHBOARDS.to_string(), garbage.to_string())]);
            assert_eq!(plan_app(&relation, &held, &request()).len(), 1, "{garbage}");
        }
    }
}
