//! Whether Synapse answers: its service state as Pebble reports it, its readiness check run
//! on demand, and, for a service that keeps exiting, the last error line of its output.

use std::time::{Duration, Instant};

use pebble::{CheckStatus, ServiceStatus};

use crate::layer::READY_CHECK;
use crate::workload::SERVICE;

/// How many of the service's last output lines are searched for an error.
const LOG_LINES: usize = 50;

/// What the charm knows of Synapse's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// The service is not running (not planned, stopped, or failed and given up on by
    /// Pebble); nothing to probe.
    NotRunning(Option<ServiceStatus>),
    /// Synapse answers its health check.
    Answering,
    /// The service runs but Synapse does not answer (yet): Pebble's reason.
    NotAnswering(String),
    /// Pebble keeps restarting the service (backoff) or gave up (error): the last error line
    /// of its output, when there is one.
    Restarting { last_error: Option<String> },
}

impl Health {
    /// Probes once: the service's state (one request), then the readiness check run now when
    /// the service is active, or the service's last output when it keeps exiting.
    pub fn probe(pebble: &pebble::Client) -> pebble::Result<Self> {
        let service =
            pebble.services(&[SERVICE])?.into_iter().find(|info| info.name == SERVICE).map(|s| s.current);
        Self::probe_service(pebble, service)
    }

    /// As [`Health::probe`], for a service state already read.
    pub fn probe_service(pebble: &pebble::Client, service: Option<ServiceStatus>) -> pebble::Result<Self> {
        match service {
            Some(ServiceStatus::Active) => ready_check(pebble),
            // Backoff: it exited and Pebble restarts it. Error: Pebble gave up on it, so the
            // charm's next start is the retry.
            Some(ServiceStatus::Backoff) => Ok(Self::Restarting { last_error: last_error_line(pebble)? }),
            other => Ok(Self::NotRunning(other)),
        }
    }

    /// Probes every `interval` until Synapse answers, keeps restarting, or `limit` passes;
    /// the last observation.
    pub fn wait(pebble: &pebble::Client, limit: Duration, interval: Duration) -> pebble::Result<Self> {
        let deadline = Instant::now() + limit;
        loop {
            let health = Self::probe(pebble)?;
            let settled = matches!(health, Self::Answering | Self::Restarting { .. });
            if settled || Instant::now() + interval > deadline {
                return Ok(health);
            }
            std::thread::sleep(interval);
        }
    }
}

/// Runs the readiness check now (newer Pebble); older Pebble, without the refresh route,
/// reports the check's last state instead.
fn ready_check(pebble: &pebble::Client) -> pebble::Result<Health> {
    match pebble.refresh_check(READY_CHECK) {
        Ok(refresh) => Ok(match refresh.error {
            None if refresh.info.status != CheckStatus::Down => Health::Answering,
            None => Health::NotAnswering("the readiness check is down".into()),
            Some(error) => Health::NotAnswering(error),
        }),
        Err(pebble::Error::Api { status_code: 404 | 405, .. }) => {
            let checks = pebble.checks(None, &[READY_CHECK])?;
            Ok(match checks.iter().find(|check| check.name == READY_CHECK) {
                Some(check) if check.status == CheckStatus::Up => Health::Answering,
                Some(_) => Health::NotAnswering("the readiness check is down".into()),
                None => Health::NotAnswering("the readiness check is not planned".into()),
            })
        }
        Err(error) => Err(error),
    }
}

/// The last line of the service's recent output that reports an error (else its last line),
/// shortened for a status message.
fn last_error_line(pebble: &pebble::Client) -> pebble::Result<Option<String>> {
    let entries = pebble.logs(&[SERVICE], LOG_LINES)?;
    let lines: Vec<&str> =
        entries.iter().map(|entry| entry.message.trim()).filter(|line| !line.is_empty()).collect();
    let chosen = lines.iter().rev().find(|line| reports_error(line)).or(lines.last());
    Ok(chosen.map(|line| crate::status::excerpt(line)))
}

fn reports_error(line: &str) -> bool {
    ["ERROR", "CRITICAL", "Error", "Exception", "error:"].iter().any(|word| line.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_are_preferred_and_shortened() {
        assert!(reports_error("synapse.config._base.ConfigError: bad listener"));
        assert!(reports_error("2026-01-01 12:00:00 - ERROR - something"));
        assert!(!reports_error("Starting synapse with args"));
    }
}
