//! Workload status: each concern of the charm reports one, and the most severe wins, the way
//! ops' collect-status does (blocked > maintenance > waiting > active).

use std::fmt;

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

/// Gathers every concern's status during a hook and picks the one to show.
#[derive(Debug, Clone, Default)]
pub struct StatusCollector {
    statuses: Vec<Status>,
}

impl StatusCollector {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, status: Status) {
        self.statuses.push(status);
    }

    /// The most severe status; among equals the first added. Active with no message when
    /// nothing was reported.
    pub fn collect(&self) -> Status {
        let mut winner: Option<&Status> = None;
        for status in &self.statuses {
            if winner.is_none_or(|w| status.kind.severity() > w.kind.severity()) {
                winner = Some(status);
            }
        }
        winner.cloned().unwrap_or_else(|| Status::active(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_severe_wins_and_first_among_equals() {
        let mut collector = StatusCollector::new();
        assert_eq!(collector.collect(), Status::active(""));
        collector.add(Status::active("ok"));
        collector.add(Status::waiting("Waiting for database"));
        collector.add(Status::maintenance("Configuring Synapse"));
        assert_eq!(collector.collect(), Status::maintenance("Configuring Synapse"));
        collector.add(Status::blocked("invalid configuration: server_name"));
        collector.add(Status::blocked("second"));
        assert_eq!(collector.collect(), Status::blocked("invalid configuration: server_name"));
    }

    #[test]
    fn display_and_parse() {
        assert_eq!(Status::blocked("x").to_string(), "blocked: x");
        assert_eq!(Status::active("").to_string(), "active");
        assert_eq!(Status::parse("waiting", "w".into()), Status::waiting("w"));
        assert_eq!(Status::parse("unknown", String::new()).kind, StatusKind::Maintenance);
    }
}
