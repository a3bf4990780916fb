//! Changes and tasks: Pebble's record of asynchronous operations, their JSON form, the
//! error text of a failed change, and the `change-update` events (a change appearing or its
//! status changing) that become notices.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::timefmt::rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Do,
    Doing,
    Done,
    Hold,
    Error,
    Undone,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Do => "Do",
            Status::Doing => "Doing",
            Status::Done => "Done",
            Status::Hold => "Hold",
            Status::Error => "Error",
            Status::Undone => "Undone",
        }
    }

    fn is_ready(self) -> bool {
        !matches!(self, Status::Do | Status::Doing)
    }
}

#[derive(Debug)]
pub struct Task {
    pub id: u64,
    kind: String,
    summary: String,
    status: Status,
    log: Vec<String>,
    error: Option<String>,
    spawn_time: OffsetDateTime,
    ready_time: Option<OffsetDateTime>,
    data: Map<String, Value>,
}

impl Task {
    fn to_json(&self) -> Value {
        let done = u32::from(self.status.is_ready());
        let mut task = Map::new();
        task.insert("id".into(), json!(self.id.to_string()));
        task.insert("kind".into(), json!(self.kind));
        task.insert("summary".into(), json!(self.summary));
        task.insert("status".into(), json!(self.status.as_str()));
        if !self.log.is_empty() {
            task.insert("log".into(), json!(self.log));
        }
        task.insert("progress".into(), json!({"label": "", "done": done, "total": 1}));
        task.insert("spawn-time".into(), json!(rfc3339(self.spawn_time)));
        if let Some(ready) = self.ready_time {
            task.insert("ready-time".into(), json!(rfc3339(ready)));
        }
        if !self.data.is_empty() {
            task.insert("data".into(), Value::Object(self.data.clone()));
        }
        Value::Object(task)
    }
}

#[derive(Debug)]
pub struct Change {
    pub id: u64,
    kind: String,
    summary: String,
    /// Services the change acts on (for `?for=`).
    services: Vec<String>,
    spawn_time: OffsetDateTime,
    ready_time: Option<OffsetDateTime>,
    tasks: Vec<Task>,
    /// The status last reported as a `change-update` event.
    observed: Status,
    /// Cancelled by an abort request.
    pub abort: CancellationToken,
}

impl Change {
    /// Derived like Pebble: pending while any task is, else the worst outcome.
    fn status(&self) -> Status {
        let has = |s: Status| self.tasks.iter().any(|t| t.status == s);
        if has(Status::Doing) {
            Status::Doing
        } else if has(Status::Do) {
            if self.tasks.iter().all(|t| t.status == Status::Do) {
                Status::Do
            } else {
                Status::Doing
            }
        } else if has(Status::Error) {
            Status::Error
        } else if has(Status::Undone) {
            Status::Undone
        } else if has(Status::Hold) {
            Status::Hold
        } else {
            Status::Done
        }
    }

    pub fn is_ready(&self) -> bool {
        self.status().is_ready()
    }

    pub fn acts_on(&self, service: &str) -> bool {
        self.services.iter().any(|s| s == service)
    }

    /// `cannot perform the following tasks:\n- <summary> (<error>)` for each failed task.
    pub fn err(&self) -> Option<String> {
        let failed: Vec<String> = self
            .tasks
            .iter()
            .filter_map(|t| t.error.as_ref().map(|e| format!("- {} ({e})", t.summary)))
            .collect();
        (!failed.is_empty()).then(|| format!("cannot perform the following tasks:\n{}", failed.join("\n")))
    }

    pub fn to_json(&self) -> Value {
        let mut change = Map::new();
        change.insert("id".into(), json!(self.id.to_string()));
        change.insert("kind".into(), json!(self.kind));
        change.insert("summary".into(), json!(self.summary));
        change.insert("status".into(), json!(self.status().as_str()));
        change.insert("tasks".into(), Value::Array(self.tasks.iter().map(Task::to_json).collect()));
        change.insert("ready".into(), json!(self.is_ready()));
        if let Some(err) = self.err() {
            change.insert("err".into(), json!(err));
        }
        change.insert("spawn-time".into(), json!(rfc3339(self.spawn_time)));
        if let Some(ready) = self.ready_time {
            change.insert("ready-time".into(), json!(rfc3339(ready)));
        }
        Value::Object(change)
    }

    fn refresh_ready_time(&mut self) {
        if self.is_ready() && self.ready_time.is_none() {
            self.ready_time = Some(OffsetDateTime::now_utc());
        }
    }
}

/// A task to create: its kind and summary.
pub struct TaskSpec {
    pub kind: &'static str,
    pub summary: String,
}

/// A change appeared or its status changed: `(change id, change kind)`.
pub type ChangeEvent = (u64, String);

/// All changes, with id counters shared by changes and tasks like Pebble's state.
#[derive(Debug, Default)]
pub struct Changes {
    last_change: u64,
    last_task: u64,
    changes: BTreeMap<u64, Change>,
    events: Vec<ChangeEvent>,
}

impl Changes {
    /// Creates a change whose tasks are all `Do`; returns its id and its task ids.
    pub fn create(
        &mut self,
        kind: &str,
        summary: String,
        services: Vec<String>,
        tasks: Vec<TaskSpec>,
    ) -> (u64, Vec<u64>) {
        self.last_change += 1;
        let now = OffsetDateTime::now_utc();
        let tasks: Vec<Task> = tasks
            .into_iter()
            .map(|spec| {
                self.last_task += 1;
                Task {
                    id: self.last_task,
                    kind: spec.kind.to_owned(),
                    summary: spec.summary,
                    status: Status::Do,
                    log: Vec::new(),
                    error: None,
                    spawn_time: now,
                    ready_time: None,
                    data: Map::new(),
                }
            })
            .collect();
        let task_ids = tasks.iter().map(|t| t.id).collect();
        let mut change = Change {
            id: self.last_change,
            kind: kind.to_owned(),
            summary,
            services,
            spawn_time: now,
            ready_time: None,
            tasks,
            observed: Status::Do,
            abort: CancellationToken::new(),
        };
        change.refresh_ready_time();
        change.observed = change.status();
        self.events.push((change.id, change.kind.clone()));
        self.changes.insert(change.id, change);
        (self.last_change, task_ids)
    }

    /// The `change-update` events since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<ChangeEvent> {
        std::mem::take(&mut self.events)
    }

    /// Records an event when the change's status differs from the one last reported.
    fn observe(&mut self, change_id: u64) {
        if let Some(change) = self.changes.get_mut(&change_id) {
            let status = change.status();
            if status != change.observed {
                change.observed = status;
                self.events.push((change.id, change.kind.clone()));
            }
        }
    }

    pub fn get(&self, id: u64) -> Option<&Change> {
        self.changes.get(&id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Change> {
        self.changes.values()
    }

    pub fn set_doing(&mut self, task_id: u64) {
        self.update(task_id, |task| task.status = Status::Doing);
    }

    pub fn set_done(&mut self, task_id: u64, data: Map<String, Value>) {
        self.update(task_id, |task| {
            task.status = Status::Done;
            task.data.extend(data);
        });
    }

    /// Marks the task failed: status `Error`, logged and reported by [`Change::err`].
    pub fn set_error(&mut self, task_id: u64, error: String, data: Map<String, Value>) {
        self.update(task_id, |task| {
            task.status = Status::Error;
            task.log.push(format!("{} ERROR {error}", rfc3339(OffsetDateTime::now_utc())));
            task.error = Some(error);
            task.data.extend(data);
        });
    }

    /// Marks a task that was cancelled by an abort.
    pub fn set_undone(&mut self, task_id: u64) {
        self.update(task_id, |task| task.status = Status::Undone);
    }

    /// Aborts a pending change: its token is cancelled (running tasks stop and become
    /// `Undone`) and tasks not started yet are put on hold.
    pub fn abort(&mut self, change_id: u64) -> Result<(), String> {
        let change = self
            .changes
            .get(&change_id)
            .ok_or_else(|| format!("cannot find change with id \"{change_id}\""))?;
        if change.is_ready() {
            return Err(format!("cannot abort change {change_id} with nothing pending"));
        }
        change.abort.cancel();
        self.hold_pending(change_id);
        Ok(())
    }

    /// Puts the not-yet-started tasks of a change on hold (after an earlier task failed).
    pub fn hold_pending(&mut self, change_id: u64) {
        if let Some(change) = self.changes.get_mut(&change_id) {
            for task in change.tasks.iter_mut().filter(|t| t.status == Status::Do) {
                task.status = Status::Hold;
                task.ready_time = Some(OffsetDateTime::now_utc());
            }
            change.refresh_ready_time();
        }
        self.observe(change_id);
    }

    fn update(&mut self, task_id: u64, apply: impl FnOnce(&mut Task)) {
        let Some(change) = self.changes.values_mut().find(|c| c.tasks.iter().any(|t| t.id == task_id)) else {
            return;
        };
        if let Some(task) = change.tasks.iter_mut().find(|t| t.id == task_id) {
            apply(task);
            if task.status.is_ready() && task.ready_time.is_none() {
                task.ready_time = Some(OffsetDateTime::now_utc());
            }
        }
        change.refresh_ready_time();
        let change_id = change.id;
        self.observe(change_id);
    }
}
