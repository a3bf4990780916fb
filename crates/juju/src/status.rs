//! Workload status: each component of the charm reports one, and the most severe wins, the
//! way ops' collect-status does (blocked > maintenance > waiting > active).

use std::fmt;

use crate::error::HookToolError;
use crate::tools::HookTools;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusKind {
    Active,
    Waiting,
    Maintenance,
    Blocked,
}

impl StatusKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Waiting => "waiting",
            Self::Maintenance => "maintenance",
            Self::Blocked => "blocked",
        }
    }

    /// How much attention the status asks for: blocked > maintenance > waiting > active.
    pub fn severity(self) -> u8 {
        match self {
            Self::Active => 0,
            Self::Waiting => 1,
            Self::Maintenance => 2,
            Self::Blocked => 3,
        }
    }
}

/// Whose status `status-set` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusTarget {
    Unit,
    Application,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Status {
    pub kind: StatusKind,
    pub message: String,
}

impl Status {
    pub fn new(kind: StatusKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    pub fn active(message: impl Into<String>) -> Self {
        Self::new(StatusKind::Active, message)
    }

    pub fn waiting(message: impl Into<String>) -> Self {
        Self::new(StatusKind::Waiting, message)
    }

    pub fn maintenance(message: impl Into<String>) -> Self {
        Self::new(StatusKind::Maintenance, message)
    }

    pub fn blocked(message: impl Into<String>) -> Self {
        Self::new(StatusKind::Blocked, message)
    }

    /// Reads a status name as `status-get` prints it; anything unknown counts as maintenance.
    pub fn parse(kind: &str, message: String) -> Self {
        let kind = match kind {
            "active" => StatusKind::Active,
            "waiting" => StatusKind::Waiting,
            "blocked" => StatusKind::Blocked,
            _ => StatusKind::Maintenance,
        };
        Self { kind, message }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            f.write_str(self.kind.as_str())
        } else {
            write!(f, "{}: {}", self.kind.as_str(), self.message)
        }
    }
}

/// The statuses one hook reports: one per named component of the charm, and (on the leader)
/// the application's.
///
/// The unit shows the most severe component status: blocked > maintenance > waiting >
/// active. Among equally severe statuses the first *added* wins, so the charm's order of
/// components is its documented tie-break. (`error` outranks them all, but only Juju sets
/// it, when a hook fails; a charm cannot.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusReport {
    components: Vec<(&'static str, Status)>,
}

impl StatusReport {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `component`'s status.
    pub fn add(&mut self, component: &'static str, status: Status) {
        self.components.push((component, status));
    }

    /// Every component's status, in the order added.
    pub fn components(&self) -> &[(&'static str, Status)] {
        &self.components
    }

    /// The component whose status the unit shows, with that status; `None` when nothing was
    /// reported.
    pub fn winner(&self) -> Option<&(&'static str, Status)> {
        let mut winner: Option<&(&'static str, Status)> = None;
        for entry in &self.components {
            if winner.is_none_or(|(_, best)| entry.1.kind.severity() > best.kind.severity()) {
                winner = Some(entry);
            }
        }
        winner
    }

    /// The unit status: [`StatusReport::winner`]'s, or active with no message. When the
    /// winner is active, every component's active message shows, in order, joined by `; `
    /// (what a unit is, "main", beside what it notes).
    pub fn unit(&self) -> Status {
        match self.winner() {
            None => Status::active(""),
            Some((_, status)) if status.kind == StatusKind::Active => {
                let messages: Vec<&str> = self
                    .components
                    .iter()
                    .filter(|(_, status)| status.kind == StatusKind::Active && !status.message.is_empty())
                    .map(|(_, status)| status.message.as_str())
                    .collect();
                Status::active(messages.join("; "))
            }
            Some((_, status)) => status.clone(),
        }
    }

    /// Sets the unit status and, when `application` is given (the leader's view of the
    /// whole application), the application status, both at once. Returns the unit status.
    pub fn set(&self, tools: &HookTools, application: Option<&Status>) -> Result<Status, HookToolError> {
        let unit = self.unit();
        match application {
            None => tools.status_set(StatusTarget::Unit, &unit)?,
            Some(application) => {
                let (application_set, unit_set) = crate::parallel::join(
                    || tools.status_set(StatusTarget::Application, application),
                    || tools.status_set(StatusTarget::Unit, &unit),
                );
                unit_set?;
                application_set?;
            }
        }
        Ok(unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_severe_wins_and_first_among_equals() {
        let mut report = StatusReport::new();
        assert_eq!(report.unit(), Status::active(""));
        report.add("config", Status::active("ok"));
        report.add("synapse", Status::active(""));
        report.add("scale", Status::active("main"));
        assert_eq!(report.unit(), Status::active("ok; main"), "active messages are joined");
        report.add("database", Status::waiting("Waiting for database"));
        report.add("workload", Status::maintenance("Configuring Synapse"));
        assert_eq!(report.unit(), Status::maintenance("Configuring Synapse"));
        report.add("config", Status::blocked("invalid configuration: server_name"));
        report.add("media", Status::blocked("second"));
        assert_eq!(report.unit(), Status::blocked("invalid configuration: server_name"));
        assert_eq!(report.winner().unwrap().0, "config");
        assert_eq!(report.components().len(), 7);
    }

    #[test]
    fn display_and_parse() {
        assert_eq!(Status::blocked("x").to_string(), "blocked: x");
        assert_eq!(Status::active("").to_string(), "active");
        assert_eq!(Status::parse("waiting", "w".into()), Status::waiting("w"));
        assert_eq!(Status::parse("unknown", String::new()).kind, StatusKind::Maintenance);
    }
}
