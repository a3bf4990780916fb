//! Notices: recording custom notices (which Juju turns into `pebble-custom-notice` events)
//! and reading notices back.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::duration::go_duration;
use crate::error::Result;
use crate::http::{path_segment, target};

/// A notice, from [`Client::notices`] or [`Client::notice`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Notice {
    pub id: String,
    /// The user the notice is visible to; `None` for public notices.
    #[serde(default)]
    pub user_id: Option<u32>,
    #[serde(rename = "type")]
    pub notice_type: NoticeType,
    pub key: String,
    pub first_occurred: String,
    pub last_occurred: String,
    pub last_repeated: String,
    pub occurrences: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub last_data: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_after: Option<String>,
}

/// A notice's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoticeType {
    /// Recorded by a client, e.g. with [`Client::notify`].
    Custom,
    /// A change's status changed.
    ChangeUpdate,
    /// A warning.
    Warning,
    /// A type this client does not know.
    #[serde(other)]
    Unknown,
}

impl NoticeType {
    fn as_str(self) -> Option<&'static str> {
        match self {
            NoticeType::Custom => Some("custom"),
            NoticeType::ChangeUpdate => Some("change-update"),
            NoticeType::Warning => Some("warning"),
            NoticeType::Unknown => None,
        }
    }
}

/// Which notices [`Client::notices`] returns; the default selects the public ones and
/// those of the requesting user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoticesQuery {
    /// Only these types (all when empty).
    pub types: Vec<NoticeType>,
    /// Only these keys (all when empty).
    pub keys: Vec<String>,
    /// Only notices that occurred after this RFC 3339 time.
    pub after: Option<String>,
    /// Only notices of this user.
    pub user_id: Option<u32>,
    /// Notices of all users.
    pub all_users: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct AddNotice<'a> {
    action: &'static str,
    #[serde(rename = "type")]
    notice_type: &'static str,
    key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat_after: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    data: &'a BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Added {
    id: String,
}

impl Client {
    /// Records a custom notice with `key` (`domain.tld/path`) and returns its id. A repeat of
    /// the same key within `repeat_after` updates the notice without a new occurrence event.
    pub fn notify(
        &self,
        key: &str,
        data: &BTreeMap<String, String>,
        repeat_after: Option<Duration>,
    ) -> Result<String> {
        let body = AddNotice {
            action: "add",
            notice_type: "custom",
            key,
            repeat_after: repeat_after.map(go_duration),
            data,
        };
        self.post::<Added>("/v1/notices", &body).map(|added| added.id)
    }

    /// The notices selected by `query`.
    pub fn notices(&self, query: &NoticesQuery) -> Result<Vec<Notice>> {
        let types: Vec<&str> = query.types.iter().filter_map(|kind| kind.as_str()).collect();
        let types = types.join(",");
        let keys = query.keys.join(",");
        let user_id = query.user_id.map(|id| id.to_string());
        let mut params = Vec::new();
        if !types.is_empty() {
            params.push(("types", types.as_str()));
        }
        if !keys.is_empty() {
            params.push(("keys", keys.as_str()));
        }
        if let Some(after) = &query.after {
            params.push(("after", after.as_str()));
        }
        if let Some(user_id) = &user_id {
            params.push(("user-id", user_id.as_str()));
        }
        if query.all_users {
            params.push(("users", "all"));
        }
        self.get(&target("/v1/notices", &params))
    }

    /// The notice `id`.
    pub fn notice(&self, id: &str) -> Result<Notice> {
        self.get(&format!("/v1/notices/{}", path_segment(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_parse_with_unknown_types() {
        let notices: Vec<Notice> = serde_json::from_str(
            r#"[{"id":"7","user-id":null,"type":"custom","key":"example.com/foo","first-occurred":"a",
                 "last-occurred":"b","last-repeated":"c","occurrences":2,"last-data":{"k":"v"}},
                {"id":"8","user-id":0,"type":"range-update","key":"k","first-occurred":"a",
                 "last-occurred":"b","last-repeated":"c","occurrences":1}]"#,
        )
        .unwrap();
        assert_eq!(notices[0].notice_type, NoticeType::Custom);
        assert_eq!(notices[0].user_id, None);
        assert_eq!(notices[0].last_data["k"], "v");
        assert_eq!(notices[1].notice_type, NoticeType::Unknown);
        assert_eq!(notices[1].user_id, Some(0));
    }
}
