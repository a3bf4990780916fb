//! The Juju topology the provider publishes as `scrape_metadata` and stamps on every rule.

use std::fmt;

use juju::HookContext;

/// Where the metrics come from, as cosl's `JujuTopology` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    model: String,
    model_uuid: String,
    application: String,
    unit: String,
    charm_name: String,
}

/// A topology the consumer would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTopology {
    #[error("the model name is empty")]
    EmptyModel,
    #[error("the application name is empty")]
    EmptyApplication,
    #[error("the unit name is empty")]
    EmptyUnit,
    #[error("the charm name is empty")]
    EmptyCharm,
    /// cosl accepts only a canonical, lower-case, version-4 UUID.
    #[error("the model UUID {0:?} is not a canonical version-4 UUID")]
    ModelUuid(String),
}

impl Topology {
    pub fn new(
        model: impl Into<String>,
        model_uuid: impl Into<String>,
        application: impl Into<String>,
        unit: impl Into<String>,
        charm_name: impl Into<String>,
    ) -> Result<Self, InvalidTopology> {
        let topology = Self {
            model: model.into(),
            model_uuid: model_uuid.into(),
            application: application.into(),
            unit: unit.into(),
            charm_name: charm_name.into(),
        };
        if topology.model.is_empty() {
            return Err(InvalidTopology::EmptyModel);
        }
        if topology.application.is_empty() {
            return Err(InvalidTopology::EmptyApplication);
        }
        if topology.unit.is_empty() {
            return Err(InvalidTopology::EmptyUnit);
        }
        if topology.charm_name.is_empty() {
            return Err(InvalidTopology::EmptyCharm);
        }
        if !is_uuid4(&topology.model_uuid) {
            return Err(InvalidTopology::ModelUuid(topology.model_uuid));
        }
        Ok(topology)
    }

    /// This unit's topology: model, model UUID, application and unit from the hook context,
    /// `charm_name` from `metadata.yaml`'s `name`.
    pub fn from_context(context: &HookContext, charm_name: &str) -> Result<Self, InvalidTopology> {
        Self::new(&context.model_name, &context.model_uuid, &context.app_name, &context.unit_name, charm_name)
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn model_uuid(&self) -> &str {
        &self.model_uuid
    }

    pub fn application(&self) -> &str {
        &self.application
    }

    pub fn unit(&self) -> &str {
        &self.unit
    }

    pub fn charm_name(&self) -> &str {
        &self.charm_name
    }

    /// `<model>_<first 8 of the UUID>_<application>`: the prefix of group and job names.
    pub fn identifier(&self) -> String {
        format!("{}_{}_{}", self.model, &self.model_uuid[..8], self.application).replace('/', "_")
    }

    /// The labels every rule carries: `juju_model`, `juju_model_uuid`, `juju_application`,
    /// `juju_charm` (cosl's `label_matcher_dict`; never the unit).
    pub fn rule_labels(&self) -> [(&'static str, &str); 4] {
        [
            ("juju_model", &self.model),
            ("juju_model_uuid", &self.model_uuid),
            ("juju_application", &self.application),
            ("juju_charm", &self.charm_name),
        ]
    }

    /// The `scrape_metadata` object, keys in cosl's order.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "model": self.model,
            "model_uuid": self.model_uuid,
            "application": self.application,
            "unit": self.unit,
            "charm_name": self.charm_name,
        })
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.identifier())
    }
}

/// What cosl's check (`str(UUID(text, version=4)) == text`) accepts: lower-case hex in the
/// 8-4-4-4-12 form, version nibble 4, RFC 4122 variant.
pub(crate) fn is_uuid4(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() != 36 {
        return false;
    }
    let shape = bytes.iter().enumerate().all(|(index, byte)| match index {
        8 | 13 | 18 | 23 => *byte == b'-',
        _ => byte.is_ascii_digit() || (b'a'..=b'f').contains(byte),
    });
    shape && bytes[14] == b'4' && matches!(bytes[19], b'8' | b'9' | b'a' | b'b')
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const UUID: &str = "0b2a8f5e-4f6a-4d8e-9c3b-6c1f1e8a9d01";

    #[test]
    fn only_canonical_v4_uuids_are_accepted() {
        assert!(is_uuid4(UUID));
        for bad in [
            "0B2A8F5E-4F6A-4D8E-9C3B-6C1F1E8A9D01",
            "0b2a8f5e4f6a4d8e9c3b6c1f1e8a9d01",
            "0b2a8f5e-4f6a-1d8e-9c3b-6c1f1e8a9d01",
            "0b2a8f5e-4f6a-4d8e-7c3b-6c1f1e8a9d01",
            "0b2a8f5e",
            "",
        ] {
            assert!(!is_uuid4(bad), "{bad}");
            assert_eq!(
                Topology::new("m", bad, "a", "a/0", "c"),
                Err(InvalidTopology::ModelUuid(bad.to_string()))
            );
        }
    }

    #[test]
    fn identifier_labels_and_metadata() {
        let topology = Topology::new("prod", UUID, "synapse", "synapse/1", "synapse").unwrap();
        assert_eq!(topology.identifier(), "prod_0b2a8f5e_synapse");
        assert_eq!(topology.to_string(), "prod_0b2a8f5e_synapse");
        assert_eq!(topology.rule_labels()[1], ("juju_model_uuid", UUID));
        assert_eq!(
            serde_json::to_string(&topology.to_json()).unwrap(),
            format!(
                r#"{{"model":"prod","model_uuid":"{UUID}","application":"synapse","unit":"synapse/1","charm_name":"synapse"}}"#
            )
        );
        assert_eq!(Topology::new("", UUID, "a", "a/0", "c"), Err(InvalidTopology::EmptyModel));
        assert_eq!(Topology::new("m", UUID, "", "a/0", "c"), Err(InvalidTopology::EmptyApplication));
        assert_eq!(Topology::new("m", UUID, "a", "", "c"), Err(InvalidTopology::EmptyUnit));
        assert_eq!(Topology::new("m", UUID, "a", "a/0", ""), Err(InvalidTopology::EmptyCharm));
    }
}
