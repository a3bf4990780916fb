//! The event queue: queuing, running one hook, the membership and scope changes Juju makes
//! around hooks, failures and retries, leadership hand-over.

use std::time::Duration;

use crate::context::{HookInfo, HookRelation};
use crate::model::{app_of, SecretOwner, StatusInfo};
use crate::usage::{ResourceUsage, ToolsUsage};

use super::{Event, HookRun, SimError, Simulator};

impl Simulator {
    /// Queues an event for a unit. Events for passive applications take effect immediately
    /// (membership changes) without running anything; identical queued events are merged.
    pub fn queue(&mut self, unit: &str, event: Event) -> Result<(), SimError> {
        self.unit(unit)?;
        if !self.has_charm(unit) {
            self.before_hook(unit, &event);
            self.after_hook(unit, &event);
            return Ok(());
        }
        let entry = (unit.to_owned(), event);
        if !self.queue.contains(&entry) {
            self.queue.push_back(entry);
        }
        Ok(())
    }

    /// Runs queued events until none are left.
    pub fn run_until_quiet(&mut self) -> Result<Vec<HookRun>, SimError> {
        let mut runs = Vec::new();
        while let Some((unit, event)) = self.queue.pop_front() {
            if runs.len() >= self.max_hooks {
                self.queue.push_front((unit, event));
                return Err(SimError::NotQuiet { ran: runs.len(), pending: self.queue.len() });
            }
            if self.model.unit(&unit).is_none() {
                continue;
            }
            match self.run_hook(&unit, event.clone()) {
                Ok(run) => runs.push(run),
                Err(SimError::HookFailed(run)) => {
                    self.queue.push_front((unit, event));
                    return Err(SimError::HookFailed(run));
                }
                Err(other) => return Err(other),
            }
        }
        Ok(runs)
    }

    /// Drops the event a failed hook left at the front of the queue for `unit` (like
    /// `juju resolved --no-retry`) and restores the unit's workload status.
    pub fn resolve(&mut self, unit: &str) -> Result<(), SimError> {
        self.unit(unit)?;
        if let Some(index) = self.queue.iter().position(|(queued, _)| queued == unit) {
            self.queue.remove(index);
        }
        if let Some(status) = self.saved_status.remove(unit) {
            self.unit_mut(unit)?.set_status(status);
        }
        Ok(())
    }

    /// Runs one event on one unit now and queues its follow-up events (without running them).
    /// A failing hook puts the unit in `error` and returns [`SimError::HookFailed`].
    pub fn run_hook(&mut self, unit: &str, event: Event) -> Result<HookRun, SimError> {
        self.unit(unit)?;
        let Some(hook) = event.hook_name(&self.model, unit) else {
            // The relation is gone: Juju would never deliver this event.
            return Ok(self.skipped_run(unit, String::new(), Some(event)));
        };
        if !self.has_charm(unit) {
            self.before_hook(unit, &event);
            self.after_hook(unit, &event);
            return Ok(self.skipped_run(unit, hook, Some(event)));
        }
        self.before_hook(unit, &event);
        let info = self.hook_info(unit, &hook, &event);
        let env = event.env(&self.model, unit);
        let mut run = self.execute(unit, &format!("hooks/{hook}"), info, env, None)?;
        run.event = Some(event.clone());
        if run.succeeded() {
            self.after_hook(unit, &event);
            self.restore_status(unit);
            self.history.push(run.clone());
            Ok(run)
        } else {
            self.mark_error(unit, &hook)?;
            self.history.push(run.clone());
            Err(SimError::HookFailed(Box::new(run)))
        }
    }

    pub(super) fn skipped_run(&self, unit: &str, hook: String, event: Option<Event>) -> HookRun {
        HookRun {
            unit: unit.to_owned(),
            hook,
            event,
            action: None,
            skipped: true,
            exit_code: 0,
            timed_out: false,
            committed: false,
            stdout: String::new(),
            stderr: String::new(),
            calls: Vec::new(),
            duration: Duration::ZERO,
            usage: ResourceUsage::default(),
            tools_usage: ToolsUsage::default(),
        }
    }

    pub(super) fn mark_error(&mut self, unit: &str, hook: &str) -> Result<(), SimError> {
        let current = self.unit(unit)?.status.clone();
        if current.status != "error" {
            self.saved_status.insert(unit.to_owned(), current);
        }
        let message = format!("hook failed: \"{hook}\"");
        self.unit_mut(unit)?.set_status(StatusInfo::new("error", &message));
        Ok(())
    }

    pub(super) fn restore_status(&mut self, unit: &str) {
        if let Some(status) = self.saved_status.remove(unit) {
            if let Some(unit) = self.model.unit_mut(unit) {
                if unit.status.status == "error" {
                    unit.set_status(status);
                }
            }
        }
    }

    /// What the hook tools need to know about the running hook.
    pub(super) fn hook_info(&self, unit: &str, hook: &str, event: &Event) -> HookInfo {
        let relation = event.relation().and_then(|id| {
            let relation = self.model.relation(id)?;
            let app = app_of(unit);
            Some(HookRelation {
                id,
                endpoint: relation.endpoint_of(app)?.to_owned(),
                remote_app: relation.remote_app(app)?.to_owned(),
                remote_unit: match event {
                    Event::RelationJoined { unit, .. } | Event::RelationDeparted { unit, .. } => {
                        Some(unit.clone())
                    }
                    Event::RelationChanged { unit, .. } => unit.clone(),
                    _ => None,
                },
                departing_unit: match event {
                    Event::RelationDeparted { departing, .. } => Some(departing.clone()),
                    _ => None,
                },
                broken: matches!(event, Event::RelationBroken { .. }),
            })
        });
        let storage = match event {
            Event::StorageAttached { storage } | Event::StorageDetaching { storage } => Some(storage.clone()),
            _ => None,
        };
        HookInfo { name: hook.to_owned(), relation, storage, action: None }
    }

    /// Membership changes Juju makes before a hook runs.
    pub(super) fn before_hook(&mut self, unit: &str, event: &Event) {
        let Some(relation) = event.relation().and_then(|id| self.model.relation_mut(id)) else {
            return;
        };
        let members = relation.members.entry(unit.to_owned()).or_default();
        match event {
            Event::RelationJoined { unit: remote, .. } => {
                members.insert(remote.clone());
            }
            Event::RelationDeparted { unit: remote, .. } => {
                members.remove(remote);
            }
            Event::RelationBroken { .. } => members.clear(),
            _ => {}
        }
    }

    /// Model changes after a hook completed: leaving scopes, detaching storage, removing units.
    pub(super) fn after_hook(&mut self, unit: &str, event: &Event) {
        match event {
            Event::RelationBroken { relation } => {
                if let Some(rel) = self.model.relation_mut(*relation) {
                    rel.leave_scope(unit);
                }
                self.cleanup_relation(*relation);
            }
            Event::StorageDetaching { storage } => {
                if let Some(unit) = self.model.unit_mut(unit) {
                    unit.storage.remove(storage);
                }
            }
            Event::Remove => self.remove_unit_now(unit),
            _ => {}
        }
    }

    /// Deletes a dying relation once no charm unit is left in its scope, with its grants.
    pub(super) fn cleanup_relation(&mut self, id: u32) {
        let Some(relation) = self.model.relation(id) else {
            return;
        };
        let gone_app = relation.ends.iter().any(|end| self.model.app(&end.app).is_none());
        let charm_units_left = relation.scope.iter().any(|unit| self.has_charm(unit));
        if (relation.dying || gone_app) && !charm_units_left {
            self.model.relations.remove(&id);
            for secret in self.model.secrets.values_mut() {
                secret.grants.retain(|grant| grant.relation_id != id);
            }
        }
    }

    /// Removes a unit from the model after its `remove` hook, with the secrets it owns;
    /// re-elects a leader if it was the leader (a leader keeps leadership until it is gone).
    pub(super) fn remove_unit_now(&mut self, unit: &str) {
        let app_name = app_of(unit).to_owned();
        let relation_ids: Vec<u32> = self.model.relations.keys().copied().collect();
        for id in &relation_ids {
            if let Some(relation) = self.model.relation_mut(*id) {
                relation.leave_scope(unit);
                for members in relation.members.values_mut() {
                    members.remove(unit);
                }
            }
        }
        self.model.secrets.retain(|_, secret| secret.owner != SecretOwner::Unit(unit.to_owned()));
        for secret in self.model.secrets.values_mut() {
            secret.consumers.remove(unit);
        }
        self.saved_status.remove(unit);
        let mut new_leader = None;
        if let Some(app) = self.model.app_mut(&app_name) {
            app.units.retain(|u| u.name != unit);
            if app.leader.as_deref() == Some(unit) {
                app.leader = app.units.iter().find(|u| !u.dying).map(|u| u.name.clone());
                new_leader.clone_from(&app.leader);
            }
        }
        let empty = self.model.app(&app_name).is_some_and(|app| app.units.is_empty());
        if empty && self.dying_apps.contains(&app_name) {
            self.forget_app(&app_name);
        }
        for id in relation_ids {
            self.cleanup_relation(id);
        }
        if let Some(leader) = new_leader {
            let _ = self.queue_leadership(&app_name, &leader);
        }
    }

    /// Deletes a removed application and the secrets it (or any of its units) owns: consumers
    /// get `secret "<id>" not found` from then on. Scaling to zero units keeps them.
    pub(super) fn forget_app(&mut self, app: &str) {
        self.model.applications.remove(app);
        self.dying_apps.remove(app);
        self.model.secrets.retain(|_, secret| match &secret.owner {
            SecretOwner::Application(owner) => owner != app,
            SecretOwner::Unit(owner) => app_of(owner) != app,
        });
    }

    /// Queues leader-elected for the new leader and leader-settings-changed for the others.
    pub(super) fn queue_leadership(&mut self, app: &str, leader: &str) -> Result<(), SimError> {
        let units: Vec<String> = self.app(app)?.unit_names().map(str::to_owned).collect();
        for unit in units {
            let event = if unit == leader { Event::LeaderElected } else { Event::LeaderSettingsChanged };
            self.queue(&unit, event)?;
        }
        Ok(())
    }
}
