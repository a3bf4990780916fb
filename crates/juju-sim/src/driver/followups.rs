//! The events Juju fires because of committed changes: relation-changed for changed bags,
//! leader-settings-changed, secret-changed for consumers behind the latest revision, and
//! secret-remove for revisions no consumer tracks any more.

use crate::model::{app_of, Model, SecretOwner};

use super::{Event, Simulator};

impl Simulator {
    /// Compares the model with `before` and queues the resulting events. `writer` is the unit
    /// whose hook made the changes (it never hears about its own writes); `departing` marks
    /// writes made by a departing unit, which Juju does not publish.
    pub(super) fn queue_followups(&mut self, before: &Model, writer: Option<&str>, departing: bool) {
        let mut events: Vec<(String, Event)> = Vec::new();
        if !departing {
            self.relation_followups(before, writer, &mut events);
        }
        for (name, app) in &self.model.applications {
            let Some(old) = before.app(name) else {
                continue;
            };
            if old.leader_settings != app.leader_settings {
                for unit in app.unit_names() {
                    if app.leader.as_deref() != Some(unit) {
                        events.push((unit.to_owned(), Event::LeaderSettingsChanged));
                    }
                }
            }
        }
        for (id, secret) in &self.model.secrets {
            let old_latest = before.secret(id).map_or(0, |old| old.latest_revision());
            let latest = secret.latest_revision();
            if old_latest == 0 || latest <= old_latest {
                continue;
            }
            for (consumer, state) in &secret.consumers {
                if state.revision < latest && secret.can_view(consumer) {
                    events.push((consumer.clone(), Event::SecretChanged { id: id.clone() }));
                }
            }
        }
        self.obsolete_revisions(&mut events);
        for (unit, event) in events {
            // Units removed meanwhile simply miss the event, as in Juju.
            let _ = self.queue(&unit, event);
        }
    }

    fn relation_followups(&self, before: &Model, writer: Option<&str>, events: &mut Vec<(String, Event)>) {
        let empty = Default::default();
        for (id, relation) in &self.model.relations {
            let Some(old) = before.relation(*id) else {
                continue;
            };
            for (unit, bag) in &relation.unit_data {
                if old.unit_data.get(unit).unwrap_or(&empty) == bag {
                    continue;
                }
                let Some(remote_app) = relation.remote_app(app_of(unit)) else {
                    continue;
                };
                for other in &relation.scope {
                    let sees_writer =
                        relation.members.get(other).is_some_and(|members| members.contains(unit));
                    if other != unit && app_of(other) == remote_app && sees_writer {
                        events.push((
                            other.clone(),
                            Event::RelationChanged { relation: *id, unit: Some(unit.clone()) },
                        ));
                    }
                }
            }
            for (app, bag) in &relation.app_data {
                if old.app_data.get(app).unwrap_or(&empty) == bag {
                    continue;
                }
                let Some(remote_app) = relation.remote_app(app) else {
                    continue;
                };
                for other in &relation.scope {
                    if app_of(other) == remote_app && Some(other.as_str()) != writer {
                        events.push((other.clone(), Event::RelationChanged { relation: *id, unit: None }));
                    }
                }
            }
        }
    }

    /// Marks revisions that are neither latest nor tracked by a consumer as obsolete, queuing
    /// `secret-remove` for the owner (the leader for application-owned secrets).
    fn obsolete_revisions(&mut self, events: &mut Vec<(String, Event)>) {
        let model = &mut self.model;
        let leaders: Vec<(String, Option<String>)> =
            model.applications.values().map(|app| (app.name.clone(), app.leader.clone())).collect();
        for (id, secret) in model.secrets.iter_mut() {
            let latest = secret.latest_revision();
            let tracked: Vec<u32> = secret.consumers.values().map(|c| c.revision).collect();
            let owner_unit = match &secret.owner {
                SecretOwner::Unit(unit) => Some(unit.clone()),
                SecretOwner::Application(app) => {
                    leaders.iter().find(|(name, _)| name == app).and_then(|(_, leader)| leader.clone())
                }
            };
            for revision in &mut secret.revisions {
                if revision.revision < latest && !revision.obsolete && !tracked.contains(&revision.revision) {
                    revision.obsolete = true;
                    if let Some(owner) = &owner_unit {
                        events.push((
                            owner.clone(),
                            Event::SecretRemove { id: id.clone(), revision: revision.revision },
                        ));
                    }
                }
            }
        }
    }
}
