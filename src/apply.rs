//! The one place with side effects: carries out a [`Plan`] through the hook tools and
//! Pebble, and says what became of Synapse. It decides nothing the plan did not.
//!
//! Order: the log lines, the Juju effects, then the container. Configuring goes: data
//! directory owned by the synapse user (marked as the charm's first), every file
//! homeserver.yaml refers to and the candidate homeserver.yaml in one write (versioned names,
//! so the running configuration's files are never overwritten, and those already in place
//! are not written again), the candidate checked by Synapse's own loader, the components'
//! steps on the checked candidate (a database's locale, the port of SQLite to PostgreSQL; a
//! failed step keeps the running configuration and starts it again), then the switch:
//! homeserver.yaml, removal of the files no plan wants, the layer, a replan (which restarts
//! only the services whose digest changed), the reloaded services' signals, and the wait for
//! Synapse to answer.
//!
//! When the loader rejects the candidate and the plan has appservice registrations, the
//! check is repeated without any, then with each alone, to find those the loader rejects;
//! they are left out (and recorded in the service's environment, so later hooks know), the rest is
//! applied. A rejected configuration without them keeps the running one untouched.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use juju::{EffectError, HookToolError, HookTools, LogLevel, StatusTarget};
use pebble::{ExecRequest, FileInfo, FileToPush, FileType, PushOptions};

use crate::component::{ContainerStep, Reload};
use crate::components::synapse::Outcome;
use crate::compose::{ContainerPlan, DesiredContainer, Plan, CONFIG_READERS};
use crate::data_dir::{MARKER_CONTENT, MARKER_PATH};
use crate::health::Health;
use crate::layer::{layer, DesiredService};
use crate::redact::Redactor;
use crate::status;
use crate::workload::{
    named_after_content, version_stem, ContainerFile, CANDIDATE_CONFIG_PATH, CONFIG_PATH, DATA_DIR,
    LAYER_LABEL, SYNAPSE_GID, SYNAPSE_UID, SYNAPSE_VERSION_COMMAND,
};

/// Where the charm keeps what holds for this container only: outside `/data`, so that a new
/// container (a new image, say) starts without them. One listing tells which are there.
const CONTAINER_RECORDS_DIR: &str = "/tmp";
const CONTAINER_RECORDS_PATTERN: &str = "synapse-k8s-*";
/// Where the digest of the last candidate Synapse's loader rejected is kept, with its reason
/// (the loader is asked again in a new container).
pub const REJECTED_CANDIDATE_PATH: &str = "/tmp/synapse-k8s-rejected-candidate";
/// Written once the image's Synapse version is shown in `juju status`: reading it means
/// starting Python and importing Synapse (a second or two of CPU), once per container.
pub const VERSION_SHOWN_PATH: &str = "/tmp/synapse-k8s-version-shown";
/// The layer holding the log targets (the label ops' LogForwarder gives it).
const LOG_FORWARDING_LABEL: &str = "synapse-log-forwarding";
/// How long Synapse may take to load a configuration.
const VALIDATE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a hook that (re)started Synapse waits for it to answer its health check.
const STARTUP_WAIT: Duration = Duration::from_secs(60);
const STARTUP_POLL: Duration = Duration::from_millis(500);
/// How long porting a SQLite database to PostgreSQL may take.
const PORT_TIMEOUT: Duration = Duration::from_secs(6 * 3600);
/// How often the status shows the port's progress.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(2);
/// How long reading Synapse's version may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(30);

/// What the components' directories hold before the files are written (one listing per
/// directory), by path.
type Present = BTreeMap<String, FileInfo>;

/// A step failed; says which.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Effect(#[from] EffectError),
    #[error(transparent)]
    Tool(#[from] HookToolError),
    #[error("cannot {step} through Pebble")]
    Pebble {
        step: &'static str,
        #[source]
        source: pebble::Error,
    },
    /// A check ran but did not finish (its exec timed out or was cut short): no verdict.
    #[error("could not {step}: it did not finish")]
    Unfinished {
        step: &'static str,
        #[source]
        source: pebble::Error,
    },
}

impl ApplyError {
    /// A fault the next hook resolves by itself: Pebble unreachable or lost mid-apply (the
    /// container is restarting), a configuration check that did not finish, or a relation
    /// removed while the hook ran.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Pebble { source, .. } => source.is_connection_error(),
            Self::Effect(EffectError::Tool { source, .. }) | Self::Tool(source) => {
                source.is_relation_not_found()
            }
            Self::Effect(EffectError::UnknownLabel { .. }) => false,
            Self::Unfinished { .. } => true,
        }
    }
}

/// What happened to the container: Synapse's outcome, the applications whose
/// registrations the running configuration leaves out, and the reloaded files that were
/// rejected (service, redacted reason).
#[derive(Debug)]
pub struct Applied {
    pub outcome: Outcome,
    pub left_out: Vec<String>,
    pub rejected_reloads: Vec<(&'static str, String)>,
}

impl Default for Applied {
    fn default() -> Self {
        Self { outcome: Outcome::Unreachable, left_out: Vec::new(), rejected_reloads: Vec::new() }
    }
}

/// What writing the files and checking the candidate found.
enum Checked {
    Passed(Written),
    /// Synapse's loader rejected the candidate: the running configuration stays.
    Rejected(Applied),
}

/// The files written: those found in place, the reloaded services (and those whose file was
/// rejected), and the registrations the loader rejected.
struct Written {
    present: Present,
    reloaded: Vec<&'static str>,
    rejected_reloads: Vec<(&'static str, String)>,
    left_out: BTreeSet<String>,
}

/// Carries out `plan`.
pub fn apply(tools: &HookTools, pebble: &pebble::Client, plan: &Plan) -> Result<Applied, ApplyError> {
    let redactor = &plan.redactor;
    for (level, line) in &plan.diagnostics {
        log(*level, &redactor.apply(line));
    }
    for effect in &plan.effects {
        tracing::debug!("{}", effect.describe());
    }
    juju::effects::execute(tools, &plan.effects)?;
    let container = Container { tools, pebble, redactor };
    Ok(match &plan.container {
        ContainerPlan::Unreachable => Applied::default(),
        ContainerPlan::Observe { health, left_out } => Applied {
            outcome: Outcome::Unchanged(health.clone()),
            left_out: left_out.clone(),
            ..Applied::default()
        },
        ContainerPlan::Start { left_out } => {
            Applied { outcome: container.start(true)?, left_out: left_out.clone(), ..Applied::default() }
        }
        ContainerPlan::Stop { services } => {
            Applied { outcome: container.stop(services)?, ..Applied::default() }
        }
        ContainerPlan::Configure(desired) => container.configure(desired)?,
    })
}

/// Logs `line` at `level` through `juju-log`.
pub fn log(level: LogLevel, line: &str) {
    match level {
        LogLevel::Error => tracing::error!("{line}"),
        LogLevel::Warning => tracing::warn!("{line}"),
        LogLevel::Info => tracing::info!("{line}"),
        LogLevel::Debug => tracing::debug!("{line}"),
    }
}

/// Synapse's container, through Pebble.
struct Container<'a> {
    tools: &'a HookTools,
    pebble: &'a pebble::Client,
    redactor: &'a Redactor,
}

/// Tags a Pebble failure with its step.
fn step(step: &'static str) -> impl Fn(pebble::Error) -> ApplyError {
    move |source| ApplyError::Pebble { step, source }
}

impl Container<'_> {
    /// Replans, which starts what is not running, and (with `wait`) waits for Synapse to
    /// answer.
    fn start(&self, wait: bool) -> Result<Outcome, ApplyError> {
        if let Some(failed) = self.replan()? {
            return Ok(failed);
        }
        if !wait {
            return Ok(Outcome::Idle);
        }
        self.wait_for_synapse()
    }

    /// Replans, which (re)starts the services whose definition changed; `Some` when one did
    /// not start.
    fn replan(&self) -> Result<Option<Outcome>, ApplyError> {
        match self.pebble.replan() {
            Ok(_) => Ok(None),
            Err(pebble::Error::Change { err, .. }) => {
                let error = self.redactor.apply(&err);
                tracing::error!("Synapse did not start: {error}");
                Ok(Some(Outcome::StartFailed(error)))
            }
            Err(error) => Err(step("start Synapse")(error)),
        }
    }

    fn wait_for_synapse(&self) -> Result<Outcome, ApplyError> {
        let health =
            Health::wait(self.pebble, STARTUP_WAIT, STARTUP_POLL).map_err(step("wait for Synapse"))?;
        Ok(Outcome::Started(health))
    }

    /// Stops the Synapse processes of a unit that must not run them now.
    fn stop(&self, services: &[String]) -> Result<Outcome, ApplyError> {
        let names: Vec<&str> = services.iter().map(String::as_str).collect();
        self.pebble.stop(&names).map_err(step("stop Synapse"))?;
        tracing::warn!("stopped {} on this unit", names.join(", "));
        Ok(Outcome::Stopped)
    }

    fn configure(&self, desired: &DesiredContainer) -> Result<Applied, ApplyError> {
        let config_changes = desired.config_changes();
        let candidate = config_changes.then(|| desired.candidate_digest());
        let records = if config_changes { self.container_records()? } else { BTreeSet::new() };
        let rejection =
            if records.contains(REJECTED_CANDIDATE_PATH) { self.rejection_record()? } else { None };
        let recorded = rejection
            .as_ref()
            .filter(|(digest, _)| Some(digest) == candidate.as_ref())
            .map(|(_, reason)| reason.clone());
        if let Some(reason) = recorded {
            // Synapse's loader rejected this very candidate in an earlier hook: the running
            // configuration stays, and the loader is not asked again until the inputs change.
            tracing::debug!("the candidate configuration was rejected before; not checked again");
            let (reloaded, rejected_reloads) = self.prepare_reloads(&desired.reloads)?;
            self.signal_reloads(desired, &reloaded, &self.active_services(&reloaded)?)?;
            return Ok(Applied {
                outcome: Outcome::Rejected(reason),
                left_out: Vec::new(),
                rejected_reloads,
            });
        }
        // The unit shows it is configuring while the files are written and checked; the steps,
        // which may show a status of their own, come after it.
        let (shown, written) = juju::parallel::join(
            || self.tools.status_set(StatusTarget::Unit, &status::configuring()),
            || self.write_and_check(desired, candidate.as_deref(), rejection.is_some()),
        );
        shown?;
        let written = match written? {
            Checked::Passed(written) => written,
            Checked::Rejected(applied) => return Ok(applied),
        };
        if candidate.is_some() {
            for container_step in &desired.steps {
                if let Some(mut failed) = self.run_step(container_step, desired)? {
                    failed.rejected_reloads = written.rejected_reloads;
                    return Ok(failed);
                }
            }
            self.push(CONFIG_PATH, &desired.config.render(&written.left_out))?;
            self.remove_unwanted(desired, &written.left_out, &written.present)?;
        }
        self.switch(desired, candidate.is_some(), &records, written)
    }

    /// Writes the files and, when the configuration changes (`candidate` is its digest),
    /// checks the candidate with Synapse's loader, leaving out the registrations it rejects;
    /// `rejected_before` says an earlier candidate's rejection is recorded (and now forgotten).
    fn write_and_check(
        &self,
        desired: &DesiredContainer,
        candidate: Option<&str>,
        rejected_before: bool,
    ) -> Result<Checked, ApplyError> {
        let config_changes = candidate.is_some();
        let present = if config_changes {
            self.own_data_dir()?;
            self.list_owned_dirs(desired)?
        } else {
            Present::new()
        };
        // The marker goes first: it is written before anything else of the charm's. The
        // candidate goes last, with every file it names.
        let marker = desired.mark_data_dir.then(|| ContainerFile::public(MARKER_PATH, MARKER_CONTENT));
        let candidate_file = config_changes.then(|| ContainerFile {
            path: CANDIDATE_CONFIG_PATH.to_string(),
            ..desired.config.render(&BTreeSet::new())
        });
        let files = marker.iter().chain(desired.files.iter().map(|planned| &planned.file));
        self.push_all(files.filter(|file| !in_place(&present, file)).chain(&candidate_file))?;
        let (reloaded, rejected_reloads) = self.prepare_reloads(&desired.reloads)?;
        let Some(candidate) = candidate else {
            return Ok(Checked::Passed(Written {
                present,
                reloaded,
                rejected_reloads,
                left_out: BTreeSet::new(),
            }));
        };
        let left_out = match self.check_candidate(desired)? {
            None => BTreeSet::new(),
            Some(reason) if desired.config.appservices.is_empty() => {
                return self.rejected(candidate, &reason, rejected_reloads).map(Checked::Rejected)
            }
            Some(_) => match self.find_rejected_registrations(desired)? {
                Ok(left_out) => left_out,
                Err(reason) => {
                    return self.rejected(candidate, &reason, rejected_reloads).map(Checked::Rejected)
                }
            },
        };
        if rejected_before {
            self.forget_rejection()?;
        }
        if !left_out.is_empty() {
            // The steps read the candidate: it must be the configuration about to be used.
            self.push(CANDIDATE_CONFIG_PATH, &desired.config.render(&left_out))?;
        }
        Ok(Checked::Passed(Written { present, reloaded, rejected_reloads, left_out }))
    }

    /// The switch to the written configuration: the layer, the log targets, the retired
    /// services stopped, a replan, the reloads signalled, the wait for Synapse, and Synapse's
    /// version shown once per container (`records`: the container's, see
    /// [`CONTAINER_RECORDS_DIR`]).
    fn switch(
        &self,
        desired: &DesiredContainer,
        config_changes: bool,
        records: &BTreeSet<String>,
        written: Written,
    ) -> Result<Applied, ApplyError> {
        let Written { reloaded, rejected_reloads, left_out, .. } = written;
        let left_out: Vec<String> = left_out.into_iter().collect();
        let running_before = self.active_services(&reloaded)?;
        // A service whose first configuration file was rejected cannot run: it stays out.
        let services: Vec<DesiredService> = desired
            .services
            .iter()
            .filter(|service| {
                !desired.reloads.iter().any(|reload| {
                    reload.first && reload.service == service.plan.name && !reloaded.contains(&reload.service)
                })
            })
            .cloned()
            .collect();
        let layer = layer(&services, &desired.retired, &left_out, CONFIG_READERS);
        self.pebble.add_layer(LAYER_LABEL, &layer, true).map_err(step("add the layer"))?;
        if let Some(log_targets) = &desired.log_targets {
            // Pebble forwards the services' output to these from now on; nothing restarts.
            self.pebble
                .add_layer(LOG_FORWARDING_LABEL, log_targets, true)
                .map_err(step("add the log targets"))?;
            tracing::info!(
                "log forwarding: {}",
                log_targets.log_targets.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        if !desired.retired.is_empty() {
            let retired: Vec<&str> = desired.retired.iter().map(String::as_str).collect();
            self.pebble.stop(&retired).map_err(step("stop the services no longer wanted"))?;
            tracing::info!("stopped and disabled {}: no longer wanted on this unit", retired.join(", "));
        }
        let digests: Vec<String> = desired
            .services
            .iter()
            .filter(|service| desired.changed.contains(service.plan.name))
            .map(|service| format!("{} {}", service.plan.name, service.digest))
            .collect();
        if !digests.is_empty() {
            tracing::info!("services updated ({})", digests.join(", "));
        }
        let restarts = !desired.changed.is_empty() || !desired.retired.is_empty();
        let failed = if restarts { self.replan()? } else { None };
        // The reloaded services re-read their files while Synapse starts.
        self.signal_reloads(desired, &reloaded, &running_before)?;
        let waits =
            desired.runs_synapse() && desired.changed.iter().any(|name| CONFIG_READERS.contains(name));
        let outcome = match failed {
            Some(failed) => failed,
            None if restarts && waits => self.wait_for_synapse()?,
            None if restarts && !desired.runs_synapse() => Outcome::Idle,
            None => Outcome::Unchanged(desired.health.clone()),
        };
        if config_changes && !records.contains(VERSION_SHOWN_PATH) {
            self.set_workload_version()?;
        }
        let apps = desired.config.owners(&left_out).map(str::to_string).collect();
        Ok(Applied { outcome, left_out: apps, rejected_reloads })
    }

    /// Writes each reloaded file at its candidate path and checks it; those that pass are
    /// put in place. Returns the services whose files were put in place, and those rejected
    /// with the check's reason.
    #[allow(clippy::type_complexity)]
    fn prepare_reloads(
        &self,
        reloads: &[Reload],
    ) -> Result<(Vec<&'static str>, Vec<(&'static str, String)>), ApplyError> {
        let (mut accepted, mut rejected) = (Vec::new(), Vec::new());
        for reload in reloads {
            let candidate = reload.candidate_path();
            self.push(&candidate, &reload.file)?;
            let mut argv = reload.check.clone();
            argv.push(candidate.clone());
            let request = ExecRequest { timeout: Some(VALIDATE_TIMEOUT), ..ExecRequest::new(argv) };
            let failure = match self.pebble.exec(&request) {
                Ok(output) if output.success() => None,
                Ok(output) => {
                    let text = format!("{}\n{}", output.stderr_text(), output.stdout_text());
                    let line =
                        text.lines().map(str::trim).find(|line| !line.is_empty()).unwrap_or("no output");
                    Some(format!("exit code {}: {line}", output.exit_code))
                }
                Err(pebble::Error::Api { message, .. } | pebble::Error::Change { err: message, .. }) => {
                    Some(message)
                }
                Err(error) => return Err(step("check a configuration")(error)),
            };
            self.pebble.remove_path(&candidate, false).map_err(step("remove the candidate"))?;
            match failure {
                None => {
                    self.push(&reload.file.path, &reload.file)?;
                    accepted.push(reload.service);
                }
                Some(reason) => {
                    let reason = self.redactor.apply(&reason);
                    tracing::error!(
                        "{} rejects its new configuration {}, the running one is kept: {reason}",
                        reload.service,
                        reload.file.path
                    );
                    rejected.push((reload.service, reason));
                }
            }
        }
        Ok((accepted, rejected))
    }

    /// Signals the services whose reloaded file was put in place and that were running.
    fn signal_reloads(
        &self,
        desired: &DesiredContainer,
        reloaded: &[&'static str],
        running: &BTreeSet<&'static str>,
    ) -> Result<(), ApplyError> {
        for reload in desired.reloads.iter().filter(|reload| reloaded.contains(&reload.service)) {
            if running.contains(reload.service) {
                self.pebble
                    .send_signal(reload.signal, &[reload.service])
                    .map_err(step("reload a service"))?;
                tracing::info!("{} reloaded its configuration ({})", reload.service, reload.file.path);
            }
        }
        Ok(())
    }

    /// The paths of the charm's records in this container.
    fn container_records(&self) -> Result<BTreeSet<String>, ApplyError> {
        match self.pebble.list_files(CONTAINER_RECORDS_DIR, Some(CONTAINER_RECORDS_PATTERN), false) {
            Ok(entries) => Ok(entries.into_iter().map(|entry| entry.path).collect()),
            Err(error) if error.is_not_found() => Ok(BTreeSet::new()),
            Err(error) => Err(step("list the charm's records in the container")(error)),
        }
    }

    /// The digest of the candidate Synapse's loader rejected in an earlier hook, and its
    /// reason.
    fn rejection_record(&self) -> Result<Option<(String, String)>, ApplyError> {
        match self.pebble.pull(REJECTED_CANDIDATE_PATH) {
            Ok(record) => {
                let record = String::from_utf8_lossy(&record).into_owned();
                let (digest, reason) = record.split_once('\n').unwrap_or((&record, ""));
                Ok(Some((digest.to_string(), reason.trim_end().to_string())))
            }
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(step("read the rejected candidate's record")(error)),
        }
    }

    /// Forgets an earlier rejection once a candidate passes.
    fn forget_rejection(&self) -> Result<(), ApplyError> {
        match self.pebble.remove_path(REJECTED_CANDIDATE_PATH, false) {
            Err(error) if !error.is_not_found() => Err(step("remove the rejected candidate's record")(error)),
            _ => Ok(()),
        }
    }

    /// Which of `names` Pebble runs now.
    fn active_services(&self, names: &[&'static str]) -> Result<BTreeSet<&'static str>, ApplyError> {
        if names.is_empty() {
            return Ok(BTreeSet::new());
        }
        let active = self.pebble.services(names).map_err(step("read the services"))?;
        Ok(names
            .iter()
            .copied()
            .filter(|name| {
                active.iter().any(|info| info.name == *name && info.current == pebble::ServiceStatus::Active)
            })
            .collect())
    }

    /// Runs one step; `Some` with the outcome when it failed (the running configuration is
    /// kept, and running again).
    fn run_step(
        &self,
        container_step: &ContainerStep,
        desired: &DesiredContainer,
    ) -> Result<Option<Applied>, ApplyError> {
        let failure = match container_step {
            ContainerStep::FixDatabaseLocale { script, input } => self.fix_database_locale(script, input)?,
            ContainerStep::PortSqlite { sqlite, failure_marker, failure_note } => {
                let failure = self.port_sqlite(sqlite, desired)?;
                match &failure {
                    Some(reason) => {
                        let record = format!("{failure_note}\n{reason}\n");
                        self.push(failure_marker, &ContainerFile::public(*failure_marker, record))?;
                    }
                    None => match self.pebble.remove_path(failure_marker, false) {
                        Err(error) if !error.is_not_found() => {
                            return Err(step("remove an old failure record")(error))
                        }
                        _ => {}
                    },
                }
                failure
            }
        };
        let Some(reason) = failure else { return Ok(None) };
        let what = container_step.describe();
        tracing::error!("{what} failed, the running configuration is kept: {reason}");
        self.pebble.remove_path(CANDIDATE_CONFIG_PATH, false).map_err(step("remove the candidate"))?;
        let outcome = Outcome::StepFailed { step: what, reason };
        // Whatever the step stopped runs again with the configuration it had.
        if let Outcome::StartFailed(error) = self.start(true)? {
            tracing::error!("Synapse did not start again: {error}");
        }
        Ok(Some(Applied { outcome, ..Applied::default() }))
    }

    /// `Some(reason)` unless the script reports the database's collation and ctype as C.
    fn fix_database_locale(&self, script: &str, input: &[u8]) -> Result<Option<String>, ApplyError> {
        let request = ExecRequest {
            stdin: Some(input.to_vec()),
            timeout: Some(VALIDATE_TIMEOUT),
            user_id: Some(SYNAPSE_UID),
            group_id: Some(SYNAPSE_GID),
            ..ExecRequest::new(["python3", "-c", script])
        };
        let output = self.pebble.exec(&request).map_err(step("set the database's collation"))?;
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        if output.success() && report["collate"] == "C" && report["ctype"] == "C" {
            tracing::info!(
                "set the collation and ctype of the empty PostgreSQL database to C, as Synapse needs"
            );
            return Ok(None);
        }
        let detail = report["detail"].as_str().map(str::to_string).unwrap_or_else(|| output.stderr_text());
        Ok(Some(self.redactor.apply(detail.trim())))
    }

    /// Stops the services and ports the SQLite database into the candidate's PostgreSQL
    /// database, showing each progress line in the status; `Some(reason)` when it fails.
    fn port_sqlite(&self, sqlite: &str, desired: &DesiredContainer) -> Result<Option<String>, ApplyError> {
        let names: Vec<&str> = desired
            .services
            .iter()
            .map(|service| service.plan.name)
            .filter(|name| CONFIG_READERS.contains(name))
            .collect();
        let running: Vec<String> = self
            .pebble
            .services(&names)
            .map_err(step("read the services"))?
            .into_iter()
            .filter(|service| service.current != pebble::ServiceStatus::Inactive)
            .map(|service| service.name)
            .collect();
        if !running.is_empty() {
            let running: Vec<&str> = running.iter().map(String::as_str).collect();
            self.pebble.stop(&running).map_err(step("stop Synapse before the port"))?;
        }
        tracing::info!("porting the SQLite database {sqlite} to PostgreSQL with synapse_port_db");
        let request = ExecRequest {
            working_dir: Some(DATA_DIR.to_string()),
            timeout: Some(PORT_TIMEOUT),
            // Progress line by line, not in blocks when Python's stdout is a pipe.
            environment: [("PYTHONUNBUFFERED", "1")].into_iter().collect(),
            user_id: Some(SYNAPSE_UID),
            group_id: Some(SYNAPSE_GID),
            ..ExecRequest::new([
                "synapse_port_db",
                "--sqlite-database",
                sqlite,
                "--postgres-config",
                CANDIDATE_CONFIG_PATH,
            ])
        };
        let mut last_shown = std::time::Instant::now() - PROGRESS_INTERVAL;
        let mut last_line = String::new();
        let mut show = |line: &str| {
            // synapse_port_db prints its state ("Setting up...") and per-table progress
            // ("events: 45% (450/1000)") among its log lines.
            let progress = line.ends_with("...") || (line.contains("% (") && line.ends_with(')'));
            if !progress {
                return;
            }
            last_line = line.to_string();
            if last_shown.elapsed() >= PROGRESS_INTERVAL {
                last_shown = std::time::Instant::now();
                let line = self.redactor.apply(line);
                let _ = self.tools.status_set(StatusTarget::Unit, &status::porting_database(&line));
            }
        };
        let output = match self.pebble.exec_with_progress(&request, &mut show) {
            Ok(output) => output,
            Err(pebble::Error::Change { err, .. }) => return Ok(Some(self.redactor.apply(&err))),
            Err(pebble::Error::Api { message, .. }) => return Ok(Some(self.redactor.apply(&message))),
            Err(error) => return Err(step("port the SQLite database")(error)),
        };
        if output.success() {
            tracing::info!("ported the SQLite database to PostgreSQL ({})", self.redactor.apply(&last_line));
            return Ok(None);
        }
        let text = format!("{}\n{}", output.stdout_text(), output.stderr_text());
        let reason = text.lines().rev().map(str::trim).find(|line| !line.is_empty()).unwrap_or("no output");
        Ok(Some(self.redactor.apply(&format!("synapse_port_db exited with {}: {reason}", output.exit_code))))
    }

    /// The candidate with `digest` was rejected: it is removed, the running configuration
    /// kept, and the rejection recorded so that later hooks do not ask the loader again.
    fn rejected(
        &self,
        digest: &str,
        reason: &str,
        rejected_reloads: Vec<(&'static str, String)>,
    ) -> Result<Applied, ApplyError> {
        self.pebble.remove_path(CANDIDATE_CONFIG_PATH, false).map_err(step("remove the candidate"))?;
        let record = format!("{digest}\n{reason}\n");
        self.push(REJECTED_CANDIDATE_PATH, &ContainerFile::secret(REJECTED_CANDIDATE_PATH, record))?;
        tracing::error!("Synapse rejected the new configuration, the running one is kept: {reason}");
        Ok(Applied { outcome: Outcome::Rejected(reason.to_string()), left_out: Vec::new(), rejected_reloads })
    }

    /// Checks the configuration without any registration, then with each alone; those it
    /// fails with are rejected by the loader. `Err` with the loader's reason when the
    /// configuration fails without them too, or with all the others together.
    fn find_rejected_registrations(
        &self,
        desired: &DesiredContainer,
    ) -> Result<Result<BTreeSet<String>, String>, ApplyError> {
        let all: BTreeSet<String> = desired.config.appservices.iter().map(|(path, _)| path.clone()).collect();
        if let Some(reason) = self.check(desired, &all)? {
            return Ok(Err(reason));
        }
        let mut rejected = BTreeSet::new();
        for (path, app) in &desired.config.appservices {
            let others: BTreeSet<String> = all.iter().filter(|other| *other != path).cloned().collect();
            if let Some(reason) = self.check(desired, &others)? {
                // Loaded alone, it is rejected.
                tracing::error!(
                    "Synapse's loader rejects the registration from {app} ({path}); it is left out: {reason}"
                );
                rejected.insert(path.clone());
            }
        }
        if rejected.is_empty() {
            // Each loads on its own, but not all together.
            return Ok(Err("the appservice registrations cannot be loaded together".into()));
        }
        Ok(match self.check(desired, &rejected)? {
            None => Ok(rejected),
            Some(reason) => Err(reason),
        })
    }

    /// Writes the candidate without the registrations in `left_out` and has Synapse's loader
    /// check it, as the synapse user. `Some(reason)` (redacted) when it is rejected.
    fn check(
        &self,
        desired: &DesiredContainer,
        left_out: &BTreeSet<String>,
    ) -> Result<Option<String>, ApplyError> {
        self.push(CANDIDATE_CONFIG_PATH, &desired.config.render(left_out))?;
        self.check_candidate(desired)
    }

    /// Synapse's loader on the candidate in place: `Some` with its reason when it rejects it.
    fn check_candidate(&self, desired: &DesiredContainer) -> Result<Option<String>, ApplyError> {
        // Each worker configuration is loaded on top of homeserver.yaml: check each pair.
        let overlays: Vec<Option<&str>> = if desired.overlays.is_empty() {
            vec![None]
        } else {
            desired.overlays.iter().map(|path| Some(path.as_str())).collect()
        };
        for overlay in overlays {
            let mut argv = vec!["python3", "-m", "synapse.config", "-c", CANDIDATE_CONFIG_PATH];
            argv.extend(overlay.map(|path| ["-c", path]).into_iter().flatten());
            let request = ExecRequest {
                working_dir: Some(DATA_DIR.to_string()),
                timeout: Some(VALIDATE_TIMEOUT),
                user_id: Some(SYNAPSE_UID),
                group_id: Some(SYNAPSE_GID),
                ..ExecRequest::new(argv)
            };
            let reason = match self.pebble.exec(&request) {
                Ok(output) if output.success() => continue,
                Ok(output) => {
                    let text = [output.stderr, output.stdout]
                        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string());
                    let reason =
                        text.into_iter().filter(|part| !part.is_empty()).collect::<Vec<_>>().join("\n");
                    format!("exit code {}: {reason}", output.exit_code)
                }
                // Only the loader's exit code is a verdict, and an exec Pebble refuses (no
                // python3 in the image) a lasting one; a check that timed out says nothing.
                Err(pebble::Error::Api { message, .. }) => message,
                Err(source @ pebble::Error::Change { .. }) => {
                    return Err(ApplyError::Unfinished { step: "check the configuration", source })
                }
                Err(error) => return Err(step("check the configuration")(error)),
            };
            return Ok(Some(self.redactor.apply(&reason)));
        }
        Ok(None)
    }

    /// Shows the Synapse version of the image in `juju status`, and records that it did; a
    /// container that cannot tell leaves the version as it is (and is asked again).
    fn set_workload_version(&self) -> Result<(), ApplyError> {
        let request =
            ExecRequest { timeout: Some(VERSION_TIMEOUT), ..ExecRequest::new(SYNAPSE_VERSION_COMMAND) };
        match self.pebble.exec(&request) {
            Ok(output) if output.success() && !output.stdout_text().trim().is_empty() => {
                let version = output.stdout_text().trim().to_string();
                self.tools.application_version_set(&version)?;
                self.push(
                    VERSION_SHOWN_PATH,
                    &ContainerFile::public(VERSION_SHOWN_PATH, format!("{version}\n")),
                )?;
            }
            Ok(output) => tracing::debug!("cannot read Synapse's version: exit code {}", output.exit_code),
            Err(error) if error.is_connection_error() => return Err(step("read Synapse's version")(error)),
            Err(error) => tracing::debug!("cannot read Synapse's version: {error}"),
        }
        Ok(())
    }

    /// Synapse (run by start.py as the synapse user) writes its database and media under the
    /// data directory, which the storage mount may give to root.
    fn own_data_dir(&self) -> Result<(), ApplyError> {
        let owned = self
            .pebble
            .list_files(DATA_DIR, None, true)
            .map_err(step("inspect the data directory"))?
            .first()
            .is_some_and(|info| info.user_id == Some(SYNAPSE_UID) && info.group_id == Some(SYNAPSE_GID));
        if !owned {
            let request = ExecRequest::new(["chown", &format!("{SYNAPSE_UID}:{SYNAPSE_GID}"), DATA_DIR]);
            self.pebble
                .exec_checked(&request)
                .map_err(step("give the data directory to the synapse user"))?;
        }
        Ok(())
    }

    /// What the components' directories hold now: one listing per directory.
    fn list_owned_dirs(&self, desired: &DesiredContainer) -> Result<Present, ApplyError> {
        let dirs: BTreeSet<&str> = desired.owned_files.iter().map(|owned| owned.dir).collect();
        let mut present = Present::new();
        for dir in dirs {
            let entries = self.pebble.list_files(dir, None, false).map_err(step("list the charm's files"))?;
            present.extend(entries.into_iter().map(|entry| (entry.path.clone(), entry)));
        }
        Ok(present)
    }

    /// Removes the candidate and the files in the components' places that no plan wants
    /// (older versions, registrations of relations that are gone or left out), in one
    /// request.
    fn remove_unwanted(
        &self,
        desired: &DesiredContainer,
        left_out: &BTreeSet<String>,
        present: &Present,
    ) -> Result<(), ApplyError> {
        let planned: BTreeSet<&str> =
            desired.files.iter().map(|planned| planned.file.path.as_str()).collect();
        let wanted: BTreeSet<&str> =
            planned.iter().copied().filter(|path| !left_out.contains(*path)).collect();
        let owned = |path: &str| {
            path.rsplit_once('/').is_some_and(|(dir, name)| {
                desired.owned_files.iter().any(|owned| owned.dir == dir && owned.matches(name))
            })
        };
        let unwanted: Vec<&str> = present
            .keys()
            .map(String::as_str)
            .chain(planned.iter().copied())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|path| owned(path) && !wanted.contains(path))
            .collect();
        let removed: Vec<&str> =
            std::iter::once(CANDIDATE_CONFIG_PATH).chain(unwanted.iter().copied()).collect();
        self.pebble.remove_all_present(&removed).map_err(step("remove old files"))?;
        for path in unwanted {
            let newer = version_stem(path)
                .is_some_and(|stem| wanted.iter().any(|path| version_stem(path) == Some(stem)));
            if newer {
                tracing::debug!("removed {path}: replaced by a newer version");
            } else {
                tracing::info!("removed {path}: no longer used");
            }
        }
        Ok(())
    }

    /// Writes `files` in one request, each owned by the synapse user.
    fn push_all<'f>(&self, files: impl Iterator<Item = &'f ContainerFile>) -> Result<(), ApplyError> {
        let files: Vec<&ContainerFile> = files.collect();
        let options: Vec<PushOptions> = files.iter().map(|file| push_options(file)).collect();
        let batch: Vec<FileToPush> = files
            .iter()
            .zip(&options)
            .map(|(file, options)| FileToPush { path: &file.path, content: &file.content, options })
            .collect();
        self.pebble.push_all(&batch).map_err(step("write a file"))
    }

    fn push(&self, path: &str, file: &ContainerFile) -> Result<(), ApplyError> {
        self.pebble.push(path, &file.content, &push_options(file)).map_err(step("write a file"))
    }
}

/// A file of the charm's: owned by the synapse user, with the file's mode.
fn push_options(file: &ContainerFile) -> PushOptions {
    PushOptions {
        make_dirs: true,
        permissions: Some(file.permissions()),
        user_id: Some(SYNAPSE_UID),
        group_id: Some(SYNAPSE_GID),
        ..PushOptions::default()
    }
}

/// Whether `file` is in place already: named after its content (so what is at its path is
/// that content, Pebble writing atomically), with its size, mode and owner.
fn in_place(present: &Present, file: &ContainerFile) -> bool {
    named_after_content(&file.path, &file.content)
        && present.get(&file.path).is_some_and(|info| {
            info.file_type == FileType::File
                && info.size == Some(file.content.len() as u64)
                && info.permissions == file.permissions()
                && info.user_id == Some(SYNAPSE_UID)
                && info.group_id == Some(SYNAPSE_GID)
        })
}
