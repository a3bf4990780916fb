//! What the provider's leader last published, kept in an application bag of a peer relation
//! (a [`PublicationStore`]) where every later leader finds it. With it a hook reads neither
//! its own bag of each relation nor, when no relation is new, the two secrets' metadata; and
//! every unit learns each served relation's requirer without asking Juju.
//!
//! The record is written in the same hook as what it describes, so Juju commits both or
//! neither. A record that is missing, unreadable or silent about a relation only costs the
//! reads it would have saved.

use std::collections::{BTreeMap, BTreeSet};

use juju::effects::Value;
use juju::{Databag, RelationId, SecretUri};
use serde::{Deserialize, Serialize};

use crate::protocol::{ENCRYPTION_KEY_SECRET_ID_KEY, SHARED_SECRET_ID_KEY};
use crate::provider::{OwnedSecret, ProviderSecrets};

/// Where the leader keeps its record: a key of this application's bag of a peer relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicationStore {
    pub relation: RelationId,
    pub key: String,
}

/// The record: the two secrets' IDs and, per relation number, the requirer application and
/// the bag published to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Published {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shared_secret_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encryption_key_secret_id: Option<String>,
    #[serde(default)]
    relations: BTreeMap<u32, PublishedRelation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PublishedRelation {
    app: String,
    data: Databag,
}

impl Published {
    /// The record in `text`; `None` for anything that is not one.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    pub(crate) fn to_text(&self) -> String {
        serde_json::to_string(self).expect("a record of strings always serialises")
    }

    /// The requirer of `relation` when it was served (a relation's requirer never changes).
    pub(crate) fn app(&self, relation: &RelationId) -> Option<&str> {
        self.relations.get(&relation.id).map(|entry| entry.app.as_str())
    }

    /// What was published to `relation` while its requirer was `app`.
    pub(crate) fn bag(&self, relation: &RelationId, app: &str) -> Option<&Databag> {
        self.relations.get(&relation.id).filter(|entry| entry.app == app).map(|entry| &entry.data)
    }

    /// The secrets as `secret-info-get` would show them, when the record holds both IDs and
    /// has published both to every relation in `live` (relation, requirer): the grants then
    /// exist too, as they are made in the same hook. `None` when the metadata must be read.
    pub(crate) fn secrets<'a>(
        &self,
        mut live: impl Iterator<Item = (&'a RelationId, &'a str)>,
    ) -> Option<ProviderSecrets> {
        let shared = self.shared_secret_id.as_deref()?;
        let key = self.encryption_key_secret_id.as_deref()?;
        let complete = live.all(|(relation, app)| {
            self.bag(relation, app).is_some_and(|bag| {
                bag.get(SHARED_SECRET_ID_KEY).map(String::as_str) == Some(shared)
                    && bag.get(ENCRYPTION_KEY_SECRET_ID_KEY).map(String::as_str) == Some(key)
            })
        });
        complete.then(|| ProviderSecrets {
            shared_secret: self.owned(SHARED_SECRET_ID_KEY, shared),
            encryption_key: self.owned(ENCRYPTION_KEY_SECRET_ID_KEY, key),
        })
    }

    /// The secret whose ID is `id`, granted to every application it was published to.
    fn owned(&self, data_key: &str, id: &str) -> Option<OwnedSecret> {
        let granted_to: BTreeSet<String> = self
            .relations
            .values()
            .filter(|entry| entry.data.get(data_key).map(String::as_str) == Some(id))
            .map(|entry| entry.app.clone())
            .collect();
        Some(OwnedSecret { id: SecretUri::parse(id)?, granted_to })
    }

    /// The record of a publication: `desired` went to each of `relations` (relation, requirer).
    /// `None` while a secret's ID is only known once the plan has run (it is being created).
    pub(crate) fn of<'a>(
        desired: &BTreeMap<String, Value>,
        relations: impl Iterator<Item = (&'a RelationId, &'a str)>,
    ) -> Option<Self> {
        let data: Databag = desired
            .iter()
            .map(|(key, value)| match value {
                Value::Text(text) => Some((key.clone(), text.clone())),
                Value::AddedSecretId { .. } => None,
            })
            .collect::<Option<_>>()?;
        let id = |key: &str| data.get(key).filter(|id| !id.is_empty()).cloned();
        Some(Self {
            shared_secret_id: id(SHARED_SECRET_ID_KEY),
            encryption_key_secret_id: id(ENCRYPTION_KEY_SECRET_ID_KEY),
            relations: relations
                .map(|(relation, app)| {
                    (relation.id, PublishedRelation { app: app.to_string(), data: data.clone() })
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::HOMESERVER_KEY;

    const SHARED: &str = "secret://5d6a/d0ck8k4e0p1s73e9h7s0";
    const KEY: &str = "secret://5d6a/d0ck8k4e0p1s73e9h7sg";

    fn desired(shared: Value) -> BTreeMap<String, Value> {
        BTreeMap::from([
            (HOMESERVER_KEY.to_string(), Value::Text("http://synapse:8008".into())),
            (SHARED_SECRET_ID_KEY.to_string(), shared),
            (ENCRYPTION_KEY_SECRET_ID_KEY.to_string(), Value::Text(KEY.into())),
        ])
    }

    #[test]
    fn a_record_stands_in_for_the_secrets_only_when_it_covers_every_live_relation() {
        let (irc, maubot, new) = (
            RelationId::new("matrix-auth", 3),
            RelationId::new("matrix-auth", 7),
            RelationId::new("matrix-auth", 9),
        );
        let record = Published::of(
            &desired(Value::Text(SHARED.into())),
            [(&irc, "irc"), (&maubot, "maubot")].into_iter(),
        )
        .unwrap();
        let record = Published::parse(&record.to_text()).expect("the record reads back");
        assert_eq!(record.bag(&irc, "irc").unwrap()[HOMESERVER_KEY], "http://synapse:8008");
        assert_eq!(record.bag(&irc, "irc-alias"), None, "another requirer under that number");
        assert_eq!((record.app(&irc), record.app(&new)), (Some("irc"), None));

        let secrets = record.secrets([(&irc, "irc"), (&maubot, "maubot")].into_iter()).unwrap();
        let shared = secrets.shared_secret.unwrap();
        assert_eq!(shared.id, SecretUri::parse(SHARED).unwrap());
        assert_eq!(shared.granted_to, BTreeSet::from(["irc".to_string(), "maubot".to_string()]));
        assert!(record.secrets([(&irc, "irc")].into_iter()).is_some(), "a relation gone is no reason to ask");
        assert_eq!(record.secrets([(&irc, "irc"), (&new, "new")].into_iter()), None, "a new relation is");
    }

    #[test]
    fn no_record_while_a_secret_is_being_created_and_garbage_is_no_record() {
        let irc = RelationId::new("matrix-auth", 3);
        let adding = Value::AddedSecretId { label: "shared".into(), model_uuid: None };
        assert_eq!(Published::of(&desired(adding), [(&irc, "irc")].into_iter()), None);
        for garbage in ["", "{", "null", r#"{"relations": {"x": 1}}"#] {
            assert_eq!(Published::parse(garbage), None, "{garbage:?}");
        }
        let without_ids =
            Published::of(&desired(Value::Text(String::new())), [(&irc, "irc")].into_iter()).unwrap();
        assert_eq!(without_ids.secrets([(&irc, "irc")].into_iter()), None, "no IDs to stand in with");
    }
}
