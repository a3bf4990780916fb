//! Changes (Pebble's asynchronous operations) and waiting for them, as ops does: long-poll
//! `/v1/changes/{id}/wait` in slices shorter than the request timeout, falling back to
//! polling when the wait endpoint is missing (old Pebble).

use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::client::Client;
use crate::duration::go_duration;
use crate::error::{Error, Result};
use crate::http::{path_segment, target};

/// How often a change is polled when the wait endpoint is missing.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A change and its tasks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Change {
    pub id: String,
    pub kind: String,
    #[serde(default)]
    pub summary: String,
    /// `Do`, `Doing`, `Done`, `Error`, `Hold`, ...
    pub status: String,
    pub ready: bool,
    /// Set when the change failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err: Option<String>,
    #[serde(default)]
    pub spawn_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_time: Option<String>,
    #[serde(default)]
    pub tasks: Vec<Task>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
}

/// One task of a change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Task {
    pub id: String,
    pub kind: String,
    #[serde(default)]
    pub summary: String,
    pub status: String,
    #[serde(default)]
    pub log: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<TaskProgress>,
    #[serde(default)]
    pub spawn_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
}

/// A task's progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskProgress {
    #[serde(default)]
    pub label: String,
    pub done: u64,
    pub total: u64,
}

/// Which changes [`Client::changes`] lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChangeSelect {
    /// Changes still running (Pebble's default).
    #[default]
    InProgress,
    /// Finished changes.
    Ready,
    /// All changes.
    All,
}

impl ChangeSelect {
    fn as_str(self) -> &'static str {
        match self {
            ChangeSelect::InProgress => "in-progress",
            ChangeSelect::Ready => "ready",
            ChangeSelect::All => "all",
        }
    }
}

impl Change {
    /// Fails with [`Error::Change`] if the change finished with an error.
    pub fn into_result(self) -> Result<Change> {
        match self.err.as_deref() {
            Some(err) if !err.is_empty() => {
                Err(Error::Change { change_id: self.id.clone(), err: err.to_owned(), change: Box::new(self) })
            }
            _ => Ok(self),
        }
    }
}

#[derive(Serialize)]
struct Abort {
    action: &'static str,
}

impl Client {
    /// The change `id`.
    pub fn change(&self, id: &str) -> Result<Change> {
        self.get(&format!("/v1/changes/{}", path_segment(id)))
    }

    /// Changes selected by `select`, optionally only those affecting `service`.
    pub fn changes(&self, select: ChangeSelect, service: Option<&str>) -> Result<Vec<Change>> {
        let mut params = vec![("select", select.as_str())];
        if let Some(service) = service {
            params.push(("for", service));
        }
        self.get(&target("/v1/changes", &params))
    }

    /// Aborts the change `id`.
    pub fn abort_change(&self, id: &str) -> Result<Change> {
        self.post(&format!("/v1/changes/{}", path_segment(id)), &Abort { action: "abort" })
    }

    /// Waits up to `timeout` for the change `id` to be ready and returns it, failed or not
    /// (see [`Change::into_result`]).
    pub fn wait_change(&self, id: &str, timeout: Duration) -> Result<Change> {
        let deadline = Instant::now() + timeout;
        // Leave a second of the request timeout for the answer to arrive, as ops does.
        let slice = self
            .timeout()
            .checked_sub(Duration::from_secs(1))
            .filter(|slice| !slice.is_zero())
            .unwrap_or(self.timeout() / 2);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left < Duration::from_millis(1) {
                return Err(wait_timeout(id, timeout));
            }
            let wait = target(
                &format!("/v1/changes/{}/wait", path_segment(id)),
                &[("timeout", &go_duration(left.min(slice)))],
            );
            match self.get::<Change>(&wait) {
                Ok(change) => return Ok(change),
                Err(Error::Api { status_code: 504, .. }) => continue,
                Err(Error::Api { status_code: 404, .. }) => return self.poll_change(id, deadline, timeout),
                Err(err) => return Err(err),
            }
        }
    }

    fn poll_change(&self, id: &str, deadline: Instant, timeout: Duration) -> Result<Change> {
        loop {
            let change = self.change(id)?;
            if change.ready {
                return Ok(change);
            }
            if Instant::now() + POLL_INTERVAL >= deadline {
                return Err(wait_timeout(id, timeout));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits for a service-action change with the client's change timeout and fails if it
    /// failed.
    pub(crate) fn wait_change_ok(&self, id: &str) -> Result<Change> {
        self.wait_change(id, self.change_timeout())?.into_result()
    }
}

fn wait_timeout(id: &str, timeout: Duration) -> Error {
    Error::Timeout { what: format!("change {id} ({} seconds)", timeout.as_secs_f64()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(err: Option<&str>) -> Change {
        serde_json::from_value(serde_json::json!({
            "id": "12", "kind": "replan", "summary": "Replan", "status": if err.is_some() { "Error" } else { "Done" },
            "ready": true, "err": err, "spawn-time": "2024-01-01T00:00:00Z",
            "tasks": [{"id": "34", "kind": "exec", "summary": "x", "status": "Done",
                       "progress": {"label": "", "done": 1, "total": 1},
                       "spawn-time": "2024-01-01T00:00:00Z", "data": {"exit-code": 3}}]
        }))
        .unwrap()
    }

    #[test]
    fn successful_changes_pass() {
        let change = change(None).into_result().unwrap();
        assert_eq!(change.tasks[0].data.as_ref().unwrap()["exit-code"], 3);
        assert_eq!(change.tasks[0].progress.as_ref().unwrap().done, 1);
    }

    #[test]
    fn failed_changes_become_change_errors() {
        match change(Some("cannot perform the following tasks:\n- Start service \"s\"")).into_result() {
            Err(Error::Change { change_id, err, change }) => {
                assert_eq!(change_id, "12");
                assert!(err.starts_with("cannot perform"));
                assert_eq!(change.status, "Error");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
