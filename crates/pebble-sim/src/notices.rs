//! Notices: custom notices added by clients (repeats fold into one notice), `change-update`
//! notices Pebble records for every change, listing with filters and long-polling, lookup by
//! id.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::timefmt::rfc3339;

const MAX_KEY_BYTES: usize = 256;
const MAX_DATA_BYTES: usize = 4096;
const DEFAULT_EXPIRE_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

static KEY_FORMAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]+(-[a-z0-9]+)*(\.[a-z0-9]+(-[a-z0-9]+)*)+(/[a-z0-9._-]+)+$")
        .expect("valid notice key pattern")
});

#[derive(Debug, Clone)]
pub struct Notice {
    id: u64,
    user_id: Option<u32>,
    kind: String,
    key: String,
    first_occurred: OffsetDateTime,
    last_occurred: OffsetDateTime,
    last_repeated: OffsetDateTime,
    occurrences: u32,
    last_data: BTreeMap<String, String>,
    repeat_after: Option<Duration>,
}

impl Notice {
    pub fn to_json(&self) -> Value {
        let mut notice = Map::new();
        notice.insert("id".into(), json!(self.id.to_string()));
        notice.insert("user-id".into(), json!(self.user_id));
        notice.insert("type".into(), json!(self.kind));
        notice.insert("key".into(), json!(self.key));
        notice.insert("first-occurred".into(), json!(rfc3339(self.first_occurred)));
        notice.insert("last-occurred".into(), json!(rfc3339(self.last_occurred)));
        notice.insert("last-repeated".into(), json!(rfc3339(self.last_repeated)));
        notice.insert("occurrences".into(), json!(self.occurrences));
        if !self.last_data.is_empty() {
            notice.insert("last-data".into(), json!(self.last_data));
        }
        if let Some(repeat) = self.repeat_after {
            notice.insert("repeat-after".into(), json!(crate::duration::format(repeat)));
        }
        notice.insert("expire-after".into(), json!(crate::duration::format(DEFAULT_EXPIRE_AFTER)));
        Value::Object(notice)
    }
}

/// A custom notice to add.
#[derive(Debug)]
pub struct NewNotice {
    pub kind: String,
    pub key: String,
    pub data: BTreeMap<String, String>,
    pub repeat_after: Option<Duration>,
    pub user_id: Option<u32>,
}

/// Which notices a listing wants.
#[derive(Debug, Default)]
pub struct Filter {
    /// Empty: any type.
    pub types: Vec<String>,
    /// Empty: any key.
    pub keys: Vec<String>,
    pub after: Option<OffsetDateTime>,
    /// `None`: every user (`users=all`).
    pub user_id: Option<u32>,
}

impl Filter {
    fn accepts(&self, notice: &Notice) -> bool {
        (self.types.is_empty() || self.types.contains(&notice.kind))
            && (self.keys.is_empty() || self.keys.contains(&notice.key))
            && self.after.is_none_or(|after| notice.last_repeated > after)
            && self.user_id.is_none_or(|uid| notice.user_id.is_none_or(|owner| owner == uid))
    }
}

#[derive(Debug, Default)]
pub struct Notices {
    last_id: u64,
    notices: Vec<Notice>,
}

impl Notices {
    /// Validates and records a notice (a repeat of an existing one bumps its occurrences);
    /// returns its id.
    pub fn add(&mut self, new: NewNotice) -> Result<u64, String> {
        if new.kind != "custom" {
            return Err(format!("invalid type {:?} (can only add \"custom\" notices)", new.kind));
        }
        if new.key.len() > MAX_KEY_BYTES {
            return Err(format!("key must be {MAX_KEY_BYTES} bytes or less"));
        }
        if !KEY_FORMAT.is_match(&new.key) {
            return Err(format!("invalid key {:?} (must be in \"example.com/path\" format)", new.key));
        }
        let data_size: usize = new.data.iter().map(|(k, v)| k.len() + v.len()).sum();
        if data_size > MAX_DATA_BYTES {
            return Err(format!("total size of data must be {MAX_DATA_BYTES} bytes or less"));
        }
        Ok(self.occur(&new.kind, &new.key, new.data, new.repeat_after, new.user_id))
    }

    /// Records an occurrence of the public `change-update` notice of a change (key: the change
    /// id, data: its kind), as Pebble does when a change appears or its status changes.
    pub fn change_updated(&mut self, change_id: u64, kind: &str) {
        let key = change_id.to_string();
        let data = BTreeMap::from([("kind".to_owned(), kind.to_owned())]);
        self.occur("change-update", &key, data, None, None);
    }

    /// Adds an occurrence of the notice `(kind, key, user_id)`, creating it if new.
    fn occur(
        &mut self,
        kind: &str,
        key: &str,
        data: BTreeMap<String, String>,
        repeat_after: Option<Duration>,
        user_id: Option<u32>,
    ) -> u64 {
        let now = OffsetDateTime::now_utc();
        if let Some(notice) =
            self.notices.iter_mut().find(|n| n.kind == kind && n.key == key && n.user_id == user_id)
        {
            notice.occurrences += 1;
            notice.last_occurred = now;
            notice.last_data = data;
            notice.repeat_after = repeat_after;
            let due = notice.repeat_after.is_none_or(|repeat| now - notice.last_repeated >= repeat);
            if due {
                notice.last_repeated = now;
            }
            return notice.id;
        }
        self.last_id += 1;
        self.notices.push(Notice {
            id: self.last_id,
            user_id,
            kind: kind.to_owned(),
            key: key.to_owned(),
            first_occurred: now,
            last_occurred: now,
            last_repeated: now,
            occurrences: 1,
            last_data: data,
            repeat_after,
        });
        self.last_id
    }

    pub fn get(&self, id: u64) -> Option<&Notice> {
        self.notices.iter().find(|n| n.id == id)
    }

    /// Matching notices, oldest last-repeated first.
    pub fn list(&self, filter: &Filter) -> Vec<&Notice> {
        let mut found: Vec<&Notice> = self.notices.iter().filter(|n| filter.accepts(n)).collect();
        found.sort_by_key(|n| (n.last_repeated, n.id));
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(key: &str) -> NewNotice {
        NewNotice {
            kind: "custom".into(),
            key: key.into(),
            data: BTreeMap::new(),
            repeat_after: None,
            user_id: Some(0),
        }
    }

    #[test]
    fn repeats_fold_into_one_notice() {
        let mut notices = Notices::default();
        let first = notices.add(custom("example.com/a")).unwrap();
        let again = notices.add(custom("example.com/a")).unwrap();
        assert_eq!(first, again);
        assert_eq!(notices.get(first).unwrap().occurrences, 2);
        assert_ne!(notices.add(custom("example.com/b")).unwrap(), first);
    }

    #[test]
    fn validates_type_and_key() {
        let mut notices = Notices::default();
        assert_eq!(
            notices.add(custom("foo")).unwrap_err(),
            r#"invalid key "foo" (must be in "example.com/path" format)"#
        );
        let mut warning = custom("example.com/a");
        warning.kind = "warning".into();
        assert_eq!(
            notices.add(warning).unwrap_err(),
            r#"invalid type "warning" (can only add "custom" notices)"#
        );
    }
}
