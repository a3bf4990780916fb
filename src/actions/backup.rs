//! The backup actions, with upstream's names, parameters and result keys: `create-backup`
//! (`backup-id`), `list-backups` (`formatted`, `backups`), `restore-backup` and
//! `delete-backup` (`backup-id`), all `result: correct` when done.
//!
//! Unlike upstream's, a backup holds everything that brings the server back: the database
//! (a consistent `pg_dump` of PostgreSQL, or SQLite's online copy), the application secrets,
//! the signing key, the appservice registrations and local media. It is one object in the
//! `backup` relation's bucket, a tar archive encrypted with gpg (symmetric, AES-256) with the
//! `backup_passphrase` option, made and read in Synapse's container by the charm's S3 tool
//! ([`crate::s3_tool`]), which only stores an object whose every byte was written.
//!
//! `restore-backup` fetches and decrypts the backup before anything stops (a wrong
//! passphrase or a missing backup changes nothing), then stops Synapse on this unit, puts
//! the database and files back, gives the application secret the backup's values when they
//! differ, starts Synapse through the charm's reconcile and waits until it answers. Backups
//! are made and restored on the unit that runs Synapse's main process (it holds the media);
//! restoring also needs the leader (it owns the application secret).

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use juju::{HookTools, SecretRef, SecretUpdate, Status, StatusTarget};
use s3_client::{S3Settings, S3View};
use secrecy::ExposeSecret as _;
use serde_json::{json, Value};

use super::failure::{ActionError, Failure};
use crate::app_secrets::{self, AppSecrets};
use crate::components::{backup, nginx, scale};
use crate::config::SynapseConfig;
use crate::deployment::PEER_RELATION;
use crate::redact::Redactor;
use crate::s3_tool::{self, settings_json, Problem};
use crate::workload::{CONFIG_PATH, CONTAINER};

pub const CREATE: &str = "create-backup";
pub const LIST: &str = "list-backups";
pub const RESTORE: &str = "restore-backup";
pub const DELETE: &str = "delete-backup";
/// The parameter naming a backup.
const BACKUP_ID: &str = "backup-id";
/// How long a backup or a restore may take.
const LONG_STEP: Duration = Duration::from_secs(6 * 3600);
/// How long listing or deleting may take.
const SHORT_STEP: Duration = Duration::from_secs(300);
/// How long Synapse may take to answer after a restore.
const ANSWER_WAIT: Duration = Duration::from_secs(120);

/// Whether `name` is one of these actions.
pub fn handles(name: &str) -> bool {
    [CREATE, LIST, RESTORE, DELETE].contains(&name)
}

/// Starts Synapse again after a restore: the charm's reconcile, with the application
/// secrets the restore gave the application secret (which Juju shows only after the hook).
pub type Reconcile<'a> = &'a dyn Fn(Option<AppSecrets>) -> anyhow::Result<Status>;

/// Runs the action `name`: its results via `action-set`, or its failure via `action-fail`.
pub fn run(tools: &HookTools, app: &str, unit: &str, name: &str, reconcile: Reconcile) -> anyhow::Result<()> {
    let pebble = pebble::Client::for_container(CONTAINER);
    let mut redactor = Redactor::default();
    let outcome = Backups::load(tools, app, name, &mut redactor).and_then(|backups| {
        let context = Context { tools, pebble: &pebble, app, unit, name, backups: &backups };
        match name {
            CREATE => context.create(),
            LIST => context.list(),
            RESTORE => context.restore(reconcile, &mut redactor),
            _ => context.delete(),
        }
    });
    match outcome {
        Ok(results) => tools.action_set(&results)?,
        Err(ActionError::Failed(failure)) => {
            let message = redactor.apply(&failure.to_string());
            tracing::warn!("{name} failed: {message}");
            tools.action_fail(&message)?;
        }
        Err(ActionError::Tool(error)) => return Err(error.into()),
    }
    Ok(())
}

/// The bucket and the passphrase.
struct Backups {
    settings: S3Settings,
    passphrase: Option<secrecy::SecretString>,
}

impl Backups {
    /// The configuration (`config-get`) and the `backup` relation's settings.
    fn load(
        tools: &HookTools,
        app: &str,
        action: &str,
        redactor: &mut Redactor,
    ) -> Result<Self, ActionError> {
        let config = SynapseConfig::from_options(&tools.config_get()?)
            .map_err(|invalid| Failure::Backup(format!("the configuration is invalid: {invalid}")))?;
        let passphrase = config.backup_passphrase.map(|passphrase| passphrase.0);
        if let Some(passphrase) = &passphrase {
            redactor.add(passphrase);
        }
        let Some(relation) = tools.relation_ids(backup::ENDPOINT)?.into_iter().next() else {
            return Err(Failure::Backup(format!(
                "there is no backup relation: run `juju integrate {app}:backup s3-integrator` and configure the \
                 integrator's bucket and credentials"
            ))
            .into());
        };
        let provider = tools.relation_remote_app(&relation)?;
        let view = S3View::read(tools, &relation, provider.as_deref(), app)
            .map_err(|error| Failure::Backup(format!("cannot read the backup relation: {error}")))?;
        let settings = match view {
            S3View::Ready(settings) => *settings,
            S3View::NotReady(reason) => {
                return Err(Failure::Backup(format!("the backup relation is not ready: {reason}")).into())
            }
        };
        redactor.add(&settings.access_key);
        redactor.add(&settings.secret_key);
        if passphrase.is_none() && [CREATE, RESTORE].contains(&action) {
            return Err(Failure::Backup(format!(
                "{action} needs the backup_passphrase option: run `juju config {app} backup_passphrase=<passphrase>` \
                 (keep it: a backup cannot be restored without it)"
            ))
            .into());
        }
        Ok(Self { settings, passphrase })
    }

    fn request(&self, extra: Value) -> Value {
        let mut request = json!({"s3": settings_json(&self.settings)});
        if let Some(passphrase) = &self.passphrase {
            request["passphrase"] = json!(passphrase.expose_secret());
        }
        if let (Value::Object(request), Value::Object(extra)) = (&mut request, extra) {
            request.extend(extra);
        }
        request
    }
}

struct Context<'a> {
    tools: &'a HookTools,
    pebble: &'a pebble::Client,
    app: &'a str,
    unit: &'a str,
    name: &'a str,
    backups: &'a Backups,
}

type Results = BTreeMap<String, String>;

impl Context<'_> {
    fn create(&self) -> Result<Results, ActionError> {
        self.on_main_unit()?;
        self.configured()?;
        let secrets = super::synapse::read_secrets(self.tools)?;
        let id = backup_id(SystemTime::now());
        let content: BTreeMap<String, String> = secrets
            .to_content()
            .iter()
            .map(|(key, value)| (key.clone(), value.expose_secret().to_string()))
            .collect();
        self.log(&format!("{id}: copying the database, the signing key, the registrations and local media"))?;
        let staged = self.tool("stage", json!({"app_secrets": content}), LONG_STEP)?;
        let bytes = staged["bytes"].as_u64().unwrap_or_default();
        self.log(&format!(
            "{id}: encrypting and uploading {} to bucket {:?}",
            human_size(bytes),
            self.backups.settings.bucket
        ))?;
        let uploaded = self.tool("upload", json!({"backup_id": id}), LONG_STEP)?;
        let size = uploaded["size"].as_u64().unwrap_or_default();
        tracing::info!(
            "created {id} in bucket {:?} ({} encrypted)",
            self.backups.settings.bucket,
            human_size(size)
        );
        self.log(&format!("{id}: stored ({} encrypted)", human_size(size)))?;
        Ok(BTreeMap::from([
            ("result".into(), "correct".into()),
            (BACKUP_ID.into(), id),
            ("size".into(), size.to_string()),
        ]))
    }

    fn list(&self) -> Result<Results, ActionError> {
        let listed = self.tool("list", json!({}), SHORT_STEP)?;
        let mut backups: Vec<(String, String, u64)> = listed["backups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|backup| {
                Some((
                    backup["id"].as_str()?.to_string(),
                    backup["last-modified"].as_str()?.to_string(),
                    backup["size"].as_u64()?,
                ))
            })
            .collect();
        backups.sort();
        let mut formatted = format!("{:<30} {:<21} {:>12}", "backup-id", "last-modified", "size");
        let mut results = BTreeMap::from([("result".to_string(), "correct".to_string())]);
        for (id, modified, size) in &backups {
            formatted.push_str(&format!("\n{id:<30} {modified:<21} {size:>12}"));
            // Result keys are lowercase letters, digits and inner hyphens; the table shows all.
            if is_result_key(id) {
                results.insert(format!("backups.{id}.last-modified"), modified.clone());
                results.insert(format!("backups.{id}.size"), size.to_string());
            }
        }
        if backups.is_empty() {
            formatted.push_str("\n(no backups)");
        }
        results.insert("formatted".into(), formatted);
        Ok(results)
    }

    fn delete(&self) -> Result<Results, ActionError> {
        let id = self.backup_id_parameter()?;
        self.tool("delete", json!({"backup_id": id}), SHORT_STEP)?;
        tracing::info!("deleted {id} from bucket {:?}", self.backups.settings.bucket);
        Ok(BTreeMap::from([("result".into(), "correct".into())]))
    }

    fn restore(&self, reconcile: Reconcile, redactor: &mut Redactor) -> Result<Results, ActionError> {
        let id = self.backup_id_parameter()?;
        if !self.tools.is_leader()? {
            return Err(Failure::Backup(
                "restore-backup must run on the leader unit, which owns the application secrets: see `juju status`"
                    .into(),
            )
            .into());
        }
        self.on_main_unit()?;
        self.configured()?;
        let current = super::synapse::read_secrets(self.tools)?;
        self.log(&format!("{id}: downloading and decrypting"))?;
        let fetched = self.tool("fetch", json!({"backup_id": id}), LONG_STEP)?;
        let restored = restored_secrets(&fetched["app_secrets"])
            .map_err(|error| Failure::Backup(format!("{id} holds unusable application secrets: {error}")))?;
        for value in restored.values() {
            redactor.add(&value);
        }
        let database = fetched["manifest"]["database"].as_str().unwrap_or("the").to_string();
        self.tools.status_set(StatusTarget::Unit, &Status::maintenance(format!("Restoring {id}")))?;
        let stopped = self.stop_synapse()?;
        self.log(&format!(
            "{id}: stopped {}; restoring the {database} database and the files",
            stopped.join(", ")
        ))?;
        let put_back = self.tool("restore", json!({}), LONG_STEP);
        let secrets_changed = put_back.is_ok() && !same_secrets(&current, &restored);
        if secrets_changed {
            self.log(&format!(
                "{id}: the application secrets differ from the running ones; using the backup's"
            ))?;
            let info = self.tools.secret_info_get(&SecretRef::Label(app_secrets::LABEL.into()))?;
            let update = SecretUpdate { content: Some(restored.to_content()), ..SecretUpdate::default() };
            self.tools.secret_set(&info.id, &update)?;
        }
        self.log(&format!("{id}: starting Synapse"))?;
        let status = reconcile(secrets_changed.then_some(restored)).map_err(|error| {
            Failure::Backup(format!(
                "starting Synapse after the restore failed: {}",
                redactor.apply(&error.to_string())
            ))
        })?;
        put_back?;
        self.wait_until_answering(&id, &status)?;
        tracing::info!("restored {id}");
        Ok(BTreeMap::from([("result".into(), "correct".into())]))
    }

    /// The `backup-id` parameter, in the shape backup ids have.
    fn backup_id_parameter(&self) -> Result<String, ActionError> {
        let params = self.tools.action_get()?;
        let id = params.get(BACKUP_ID).and_then(Value::as_str).unwrap_or_default().trim().to_string();
        let valid = id.strip_prefix("backup-").is_some_and(|rest| {
            !rest.is_empty()
                && rest.len() <= 100
                && rest.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        });
        if !valid {
            return Err(Failure::InvalidParameter {
                name: "backup-id",
                reason: format!("{id:?} is not a backup id (backup-<digits>, as list-backups shows)"),
            }
            .into());
        }
        Ok(id)
    }

    /// This unit runs Synapse's main process (it holds the media and the SQLite database).
    fn on_main_unit(&self) -> Result<(), ActionError> {
        let Some(peers) = self.tools.relation_ids(PEER_RELATION)?.into_iter().next() else { return Ok(()) };
        let bag = self.tools.relation_get_app(&peers, self.app)?;
        match bag.get(scale::MAIN_UNIT_KEY).map(|main| main.trim()).filter(|main| !main.is_empty()) {
            Some(main) if main != self.unit => Err(Failure::Backup(format!(
                "run {} on {main}, the unit that runs Synapse's main process (it holds the media)",
                self.name
            ))
            .into()),
            _ => Ok(()),
        }
    }

    /// Synapse has been configured on this unit.
    fn configured(&self) -> Result<(), ActionError> {
        match self.pebble.list_files(CONFIG_PATH, None, true) {
            Ok(_) => Ok(()),
            Err(error) if error.is_not_found() => {
                Err(Failure::NotConfigured("there is no homeserver.yaml on this unit yet".into()).into())
            }
            Err(error) => Err(unreachable(error)),
        }
    }

    /// Stops the Synapse processes of this unit (not nginx): their names.
    fn stop_synapse(&self) -> Result<Vec<String>, ActionError> {
        let services = self.pebble.services(&[]).map_err(unreachable)?;
        let running: Vec<&str> = services
            .iter()
            .filter(|service| {
                service.name != nginx::SERVICE && service.current == pebble::ServiceStatus::Active
            })
            .map(|service| service.name.as_str())
            .collect();
        if !running.is_empty() {
            self.pebble.stop(&running).map_err(unreachable)?;
        }
        Ok(running.into_iter().map(str::to_string).collect())
    }

    fn wait_until_answering(&self, id: &str, status: &Status) -> Result<(), ActionError> {
        let client = synapse_admin::AdminClient::new(synapse_admin::DEFAULT_BASE_URL)?;
        let deadline = Instant::now() + ANSWER_WAIT;
        loop {
            match client.server_version() {
                Ok(_) => return Ok(()),
                Err(error) if Instant::now() >= deadline => {
                    return Err(Failure::Backup(format!(
                        "{id} is restored but Synapse does not answer ({error}); the unit is {status}"
                    ))
                    .into())
                }
                Err(_) => std::thread::sleep(Duration::from_secs(1)),
            }
        }
    }

    /// Runs the S3 tool, relaying its progress to the action's log.
    fn tool(&self, command: &str, extra: Value, timeout: Duration) -> Result<Value, ActionError> {
        let request = self.backups.request(extra);
        let mut relay = |line: &str| {
            if let Err(error) = self.tools.action_log(line) {
                tracing::debug!("action-log failed: {error}");
            }
        };
        match s3_tool::run_with_progress(self.pebble, command, &request, timeout, &mut relay) {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(problem)) => Err(self.failure(problem).into()),
            Err(error) => Err(unreachable(error)),
        }
    }

    /// The operator's words for what the tool reported.
    fn failure(&self, problem: Problem) -> Failure {
        let bucket = &self.backups.settings.bucket;
        Failure::Backup(match problem.kind.as_str() {
            "not-found" => format!("backup-id {} does not exist", problem.detail),
            "passphrase" => format!(
                "cannot decrypt the backup with the backup_passphrase option: it is not the passphrase the backup was \
                 made with ({problem}); nothing was changed"
            ),
            "bucket" => format!("{} (bucket {bucket:?}: {problem})", backup::BUCKET_UNREACHABLE),
            "upload" => format!(
                "the upload to bucket {bucket:?} failed ({problem}); no backup was stored, nothing partial is listed"
            ),
            "server-name" | "database" => format!("this backup cannot be restored here: {problem}; nothing was changed"),
            _ => format!("{} failed: {problem}", self.name),
        })
    }

    fn log(&self, line: &str) -> Result<(), ActionError> {
        tracing::info!("{}: {line}", self.name);
        Ok(self.tools.action_log(line)?)
    }
}

fn unreachable(error: pebble::Error) -> ActionError {
    let reason = if error.is_connection_error() {
        "the Synapse container's Pebble does not answer".to_string()
    } else {
        error.to_string()
    };
    Failure::NotRunning(reason).into()
}

/// The application secrets a backup holds (their content keys to values).
fn restored_secrets(value: &Value) -> Result<AppSecrets, String> {
    let map = value.as_object().ok_or("not a JSON object")?;
    let content: juju::SecretContent = map
        .iter()
        .map(|(key, value)| {
            let text = value.as_str().ok_or(format!("{key} is not a string"))?;
            Ok((key.clone(), secrecy::SecretString::from(text.to_string())))
        })
        .collect::<Result<_, String>>()?;
    AppSecrets::from_content(&content).map_err(|error| error.to_string())
}

fn same_secrets(a: &AppSecrets, b: &AppSecrets) -> bool {
    let values = |secrets: &AppSecrets| {
        secrets
            .to_content()
            .into_iter()
            .map(|(key, value)| (key, value.expose_secret().to_string()))
            .collect::<Vec<_>>()
    };
    values(a) == values(b)
}

/// Whether `id` can be a key of `action-set`.
fn is_result_key(id: &str) -> bool {
    !id.is_empty()
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

/// `backup-YYYYmmddHHMMSSffffff` (UTC, microseconds), as upstream names backups.
fn backup_id(now: SystemTime) -> String {
    let since_epoch = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    // Days to a civil date (H. Hinnant's algorithm, for dates after 1970).
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!(
        "backup-{year:04}{month:02}{day:02}{:02}{:02}{:02}{:06}",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        since_epoch.subsec_micros()
    )
}

fn human_size(bytes: u64) -> String {
    match bytes {
        0..1_024 => format!("{bytes} B"),
        1_024..1_048_576 => format!("{:.1} KiB", bytes as f64 / 1_024.0),
        1_048_576..1_073_741_824 => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
        _ => format!("{:.1} GiB", bytes as f64 / 1_073_741_824.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_ids_are_upstreams_utc_timestamps_to_the_microsecond() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_micros(1_796_655_722_123_456);
        assert_eq!(backup_id(at), "backup-20261207150202123456");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(backup_id(leap), "backup-20000229000000000000");
        assert!(is_result_key(&backup_id(SystemTime::now())));
    }

    #[test]
    fn only_ids_juju_accepts_become_result_keys() {
        assert!(is_result_key("backup-20261207150202123456"));
        for bad in ["Backup-1", "backup_1", "backup-", "-backup", "backup.1", ""] {
            assert!(!is_result_key(bad), "{bad}");
        }
    }

    #[test]
    fn the_secrets_in_a_backup_are_read_back_and_compared_by_value() {
        let secrets = AppSecrets::generate("example.com");
        let stored: serde_json::Map<String, Value> = secrets
            .to_content()
            .iter()
            .map(|(key, value)| (key.clone(), json!(value.expose_secret())))
            .collect();
        let restored = restored_secrets(&Value::Object(stored.clone())).expect("usable secrets");
        assert!(same_secrets(&secrets, &restored));
        assert!(!same_secrets(&secrets, &AppSecrets::generate("example.com")));
        let mut broken = stored;
        broken.insert("signing-key".into(), json!(7));
        assert_eq!(restored_secrets(&Value::Object(broken)).unwrap_err(), "signing-key is not a string");
        assert!(restored_secrets(&json!([])).is_err());
    }

    #[test]
    fn sizes_read_as_people_do() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(3 * 1_048_576 / 2), "1.5 MiB");
    }
}
