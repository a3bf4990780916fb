//! The hook context: which event Juju is dispatching, to which unit, read from the environment
//! exactly as Juju sets it (see `JUJU_DISPATCH_PATH` and the kind-specific variables).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A relation id as Juju names it: `<endpoint>:<number>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelationId {
    pub endpoint: String,
    pub id: u32,
}

impl RelationId {
    pub fn new(endpoint: impl Into<String>, id: u32) -> Self {
        Self { endpoint: endpoint.into(), id }
    }
}

impl fmt::Display for RelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.endpoint, self.id)
    }
}

impl FromStr for RelationId {
    type Err = ContextError;

    /// Parses `endpoint:7` (the number after the last `:`, as Juju does).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || ContextError::Invalid { var: "relation id", value: text.to_string() };
        let (endpoint, number) = text.rsplit_once(':').ok_or_else(invalid)?;
        let id = number.parse().map_err(|_| invalid())?;
        if endpoint.is_empty() {
            return Err(invalid());
        }
        Ok(Self::new(endpoint, id))
    }
}

/// The five relation hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationHook {
    Created,
    Joined,
    Changed,
    Departed,
    Broken,
}

/// A relation event and the relation-specific variables that came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationEvent {
    pub hook: RelationHook,
    pub relation: RelationId,
    /// `JUJU_REMOTE_APP` (may be empty in some broken contexts: then `None`).
    pub remote_app: Option<String>,
    /// `JUJU_REMOTE_UNIT` (empty for created/broken and app-bag changes: then `None`).
    pub remote_unit: Option<String>,
    /// `JUJU_DEPARTING_UNIT`, relation-departed only.
    pub departing_unit: Option<String>,
}

/// The four secret hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretHook {
    Changed,
    Rotate,
    Expired,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEvent {
    pub hook: SecretHook,
    pub id: String,
    pub label: Option<String>,
    /// `JUJU_SECRET_REVISION`, set for secret-expired and secret-remove.
    pub revision: Option<u64>,
}

/// The Pebble-driven workload hooks of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkloadHook {
    PebbleReady,
    CustomNotice { id: String, notice_type: String, key: String },
    CheckFailed { check: String },
    CheckRecovered { check: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadEvent {
    pub hook: WorkloadHook,
    pub container: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageHook {
    Attached,
    Detaching,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageEvent {
    pub hook: StorageHook,
    /// The storage name (`data` of `data/0`).
    pub name: String,
    /// `JUJU_STORAGE_ID`, e.g. `data/0`.
    pub id: String,
    pub location: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionEvent {
    pub name: String,
    /// `JUJU_ACTION_UUID` (a number on Juju 3).
    pub id: String,
}

/// Every event Juju can dispatch to a Kubernetes charm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Install,
    Start,
    Stop,
    Remove,
    ConfigChanged,
    UpgradeCharm,
    UpdateStatus,
    LeaderElected,
    LeaderSettingsChanged,
    LeaderDeposed,
    CollectMetrics,
    Relation(RelationEvent),
    Secret(SecretEvent),
    Workload(WorkloadEvent),
    Storage(StorageEvent),
    Action(ActionEvent),
    /// A hook name this framework does not know (future Juju versions); logged and ignored.
    Unknown(String),
}

impl Event {
    pub fn is_action(&self) -> bool {
        matches!(self, Self::Action(_))
    }
}

/// Everything Juju told this process about the hook it is running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookContext {
    /// `hooks/<name>` or `actions/<name>`.
    pub dispatch_path: String,
    pub unit_name: String,
    pub app_name: String,
    pub model_name: String,
    pub model_uuid: String,
    pub juju_version: String,
    pub charm_dir: PathBuf,
    pub event: Event,
}

/// A required variable is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    #[error("environment variable {0} is not set; is this running under Juju?")]
    Missing(&'static str),
    #[error("invalid {var}: {value:?}")]
    Invalid { var: &'static str, value: String },
}

impl HookContext {
    /// Reads the context from the process environment (argv[0] is the legacy fallback when
    /// `JUJU_DISPATCH_PATH` is absent).
    pub fn from_env() -> Result<Self, ContextError> {
        let argv0 = std::env::args().next();
        Self::from_vars(|name| std::env::var(name).ok(), argv0.as_deref())
    }

    /// Reads the context from any variable source; empty values count as unset.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        argv0: Option<&str>,
    ) -> Result<Self, ContextError> {
        let vars = Vars(&var);
        let dispatch_path = match vars.optional("JUJU_DISPATCH_PATH") {
            Some(path) => path,
            None => legacy_dispatch_path(argv0).ok_or(ContextError::Missing("JUJU_DISPATCH_PATH"))?,
        };
        let unit_name = vars.required("JUJU_UNIT_NAME")?;
        let app_name = match unit_name.split_once('/') {
            Some((app, number)) if !app.is_empty() && number.parse::<u32>().is_ok() => app.to_string(),
            _ => return Err(ContextError::Invalid { var: "JUJU_UNIT_NAME", value: unit_name }),
        };
        let charm_dir = vars
            .optional("JUJU_CHARM_DIR")
            .or_else(|| vars.optional("CHARM_DIR"))
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
        let event = parse_event(&dispatch_path, &vars)?;
        Ok(Self {
            dispatch_path,
            unit_name,
            app_name,
            model_name: vars.required("JUJU_MODEL_NAME")?,
            model_uuid: vars.required("JUJU_MODEL_UUID")?,
            juju_version: vars.required("JUJU_VERSION")?,
            charm_dir,
            event,
        })
    }

    /// The hook or action name (`config-changed`, `register-user`).
    pub fn hook_name(&self) -> &str {
        self.dispatch_path.rsplit('/').next().unwrap_or(&self.dispatch_path)
    }
}

struct Vars<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    fn optional(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|value| !value.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, ContextError> {
        self.optional(name).ok_or(ContextError::Missing(name))
    }
}

fn legacy_dispatch_path(argv0: Option<&str>) -> Option<String> {
    let path = std::path::Path::new(argv0?);
    let name = path.file_name()?.to_str()?;
    let parent = path.parent()?.file_name()?.to_str()?;
    matches!(parent, "hooks" | "actions").then(|| format!("{parent}/{name}"))
}

const RELATION_SUFFIXES: [(&str, RelationHook); 5] = [
    ("-relation-created", RelationHook::Created),
    ("-relation-joined", RelationHook::Joined),
    ("-relation-changed", RelationHook::Changed),
    ("-relation-departed", RelationHook::Departed),
    ("-relation-broken", RelationHook::Broken),
];

fn parse_event<F: Fn(&str) -> Option<String>>(
    dispatch_path: &str,
    vars: &Vars<'_, F>,
) -> Result<Event, ContextError> {
    let (kind, name) = dispatch_path.split_once('/').unwrap_or(("hooks", dispatch_path));
    if kind == "actions" {
        return Ok(Event::Action(ActionEvent {
            name: name.to_string(),
            id: vars.optional("JUJU_ACTION_UUID").unwrap_or_default(),
        }));
    }
    let simple = match name {
        "install" => Some(Event::Install),
        "start" => Some(Event::Start),
        "stop" => Some(Event::Stop),
        "remove" => Some(Event::Remove),
        "config-changed" => Some(Event::ConfigChanged),
        "upgrade-charm" => Some(Event::UpgradeCharm),
        "update-status" => Some(Event::UpdateStatus),
        "leader-elected" => Some(Event::LeaderElected),
        "leader-settings-changed" => Some(Event::LeaderSettingsChanged),
        "leader-deposed" => Some(Event::LeaderDeposed),
        "collect-metrics" => Some(Event::CollectMetrics),
        _ => None,
    };
    if let Some(event) = simple {
        return Ok(event);
    }
    for (suffix, hook) in RELATION_SUFFIXES {
        if name.strip_suffix(suffix).is_some_and(|endpoint| !endpoint.is_empty()) {
            let raw = vars.required("JUJU_RELATION_ID")?;
            let relation = raw.parse()?;
            return Ok(Event::Relation(RelationEvent {
                hook,
                relation,
                remote_app: vars.optional("JUJU_REMOTE_APP"),
                remote_unit: vars.optional("JUJU_REMOTE_UNIT"),
                departing_unit: vars.optional("JUJU_DEPARTING_UNIT"),
            }));
        }
    }
    if let Some(hook) = match name {
        "secret-changed" => Some(SecretHook::Changed),
        "secret-rotate" => Some(SecretHook::Rotate),
        "secret-expired" => Some(SecretHook::Expired),
        "secret-remove" => Some(SecretHook::Remove),
        _ => None,
    } {
        let revision = match vars.optional("JUJU_SECRET_REVISION") {
            Some(raw) => Some(
                raw.parse().map_err(|_| ContextError::Invalid { var: "JUJU_SECRET_REVISION", value: raw })?,
            ),
            None => None,
        };
        return Ok(Event::Secret(SecretEvent {
            hook,
            id: vars.required("JUJU_SECRET_ID")?,
            label: vars.optional("JUJU_SECRET_LABEL"),
            revision,
        }));
    }
    if let Some(event) = parse_workload_event(name, vars)? {
        return Ok(Event::Workload(event));
    }
    for (suffix, hook) in
        [("-storage-attached", StorageHook::Attached), ("-storage-detaching", StorageHook::Detaching)]
    {
        if let Some(storage) = name.strip_suffix(suffix) {
            return Ok(Event::Storage(StorageEvent {
                hook,
                name: storage.to_string(),
                id: vars.required("JUJU_STORAGE_ID")?,
                location: vars.optional("JUJU_STORAGE_LOCATION").map(PathBuf::from),
            }));
        }
    }
    Ok(Event::Unknown(name.to_string()))
}

fn parse_workload_event<F: Fn(&str) -> Option<String>>(
    name: &str,
    vars: &Vars<'_, F>,
) -> Result<Option<WorkloadEvent>, ContextError> {
    let hook = if name.ends_with("-pebble-ready") {
        WorkloadHook::PebbleReady
    } else if name.ends_with("-pebble-custom-notice") {
        WorkloadHook::CustomNotice {
            id: vars.required("JUJU_NOTICE_ID")?,
            notice_type: vars.required("JUJU_NOTICE_TYPE")?,
            key: vars.required("JUJU_NOTICE_KEY")?,
        }
    } else if name.ends_with("-pebble-check-failed") {
        WorkloadHook::CheckFailed { check: vars.required("JUJU_PEBBLE_CHECK_NAME")? }
    } else if name.ends_with("-pebble-check-recovered") {
        WorkloadHook::CheckRecovered { check: vars.required("JUJU_PEBBLE_CHECK_NAME")? }
    } else {
        return Ok(None);
    };
    let container = vars.required("JUJU_WORKLOAD_NAME")?;
    Ok(Some(WorkloadEvent { hook, container }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn context(pairs: &[(&str, &str)]) -> Result<HookContext, ContextError> {
        let mut vars: HashMap<String, String> = [
            ("JUJU_UNIT_NAME", "synapse/0"),
            ("JUJU_MODEL_NAME", "matrix"),
            ("JUJU_MODEL_UUID", "c0ffee00-0000-4000-8000-000000000000"),
            ("JUJU_VERSION", "3.6.4"),
            ("JUJU_CHARM_DIR", "/var/lib/juju/agents/unit-synapse-0/charm"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (key, value) in pairs {
            vars.insert(key.to_string(), value.to_string());
        }
        HookContext::from_vars(|name| vars.get(name).cloned(), None)
    }

    #[test]
    fn parses_plain_hooks_and_unit_fields() {
        let ctx = context(&[("JUJU_DISPATCH_PATH", "hooks/config-changed")]).unwrap();
        assert_eq!(ctx.event, Event::ConfigChanged);
        assert_eq!(ctx.app_name, "synapse");
        assert_eq!(ctx.hook_name(), "config-changed");
    }

    #[test]
    fn parses_relation_events_with_all_variables() {
        let ctx = context(&[
            ("JUJU_DISPATCH_PATH", "hooks/matrix-auth-relation-departed"),
            ("JUJU_RELATION", "matrix-auth"),
            ("JUJU_RELATION_ID", "matrix-auth:7"),
            ("JUJU_REMOTE_APP", "irc"),
            ("JUJU_REMOTE_UNIT", "irc/1"),
            ("JUJU_DEPARTING_UNIT", "irc/1"),
        ])
        .unwrap();
        assert_eq!(
            ctx.event,
            Event::Relation(RelationEvent {
                hook: RelationHook::Departed,
                relation: RelationId::new("matrix-auth", 7),
                remote_app: Some("irc".into()),
                remote_unit: Some("irc/1".into()),
                departing_unit: Some("irc/1".into()),
            })
        );
    }

    #[test]
    fn empty_remote_unit_is_none() {
        let ctx = context(&[
            ("JUJU_DISPATCH_PATH", "hooks/db-relation-broken"),
            ("JUJU_RELATION_ID", "db:3"),
            ("JUJU_REMOTE_UNIT", ""),
        ])
        .unwrap();
        let Event::Relation(relation) = ctx.event else { panic!("not a relation event") };
        assert_eq!(relation.remote_unit, None);
        assert_eq!(relation.remote_app, None);
    }

    #[test]
    fn missing_relation_id_is_a_clear_error() {
        let error = context(&[("JUJU_DISPATCH_PATH", "hooks/db-relation-changed")]).unwrap_err();
        assert_eq!(error, ContextError::Missing("JUJU_RELATION_ID"));
        assert!(error.to_string().contains("JUJU_RELATION_ID"));
    }

    #[test]
    fn parses_secret_workload_storage_and_action_events() {
        let secret = context(&[
            ("JUJU_DISPATCH_PATH", "hooks/secret-remove"),
            ("JUJU_SECRET_ID", "secret:cq9abc"),
            ("JUJU_SECRET_LABEL", "shared-secret"),
            ("JUJU_SECRET_REVISION", "3"),
        ])
        .unwrap();
        assert_eq!(
            secret.event,
            Event::Secret(SecretEvent {
                hook: SecretHook::Remove,
                id: "secret:cq9abc".into(),
                label: Some("shared-secret".into()),
                revision: Some(3),
            })
        );
        let notice = context(&[
            ("JUJU_DISPATCH_PATH", "hooks/synapse-pebble-custom-notice"),
            ("JUJU_WORKLOAD_NAME", "synapse"),
            ("JUJU_NOTICE_ID", "4"),
            ("JUJU_NOTICE_TYPE", "custom"),
            ("JUJU_NOTICE_KEY", "example.com/a"),
        ])
        .unwrap();
        assert!(matches!(
            notice.event,
            Event::Workload(WorkloadEvent { hook: WorkloadHook::CustomNotice { .. }, .. })
        ));
        let check = context(&[
            ("JUJU_DISPATCH_PATH", "hooks/synapse-pebble-check-failed"),
            ("JUJU_WORKLOAD_NAME", "synapse"),
            ("JUJU_PEBBLE_CHECK_NAME", "synapse-ready"),
        ])
        .unwrap();
        assert_eq!(
            check.event,
            Event::Workload(WorkloadEvent {
                hook: WorkloadHook::CheckFailed { check: "synapse-ready".into() },
                container: "synapse".into()
            })
        );
        let storage = context(&[
            ("JUJU_DISPATCH_PATH", "hooks/data-storage-attached"),
            ("JUJU_STORAGE_ID", "data/0"),
            ("JUJU_STORAGE_LOCATION", "/data"),
        ])
        .unwrap();
        assert!(
            matches!(storage.event, Event::Storage(StorageEvent { hook: StorageHook::Attached, ref name, .. }) if name == "data")
        );
        let action =
            context(&[("JUJU_DISPATCH_PATH", "actions/register-user"), ("JUJU_ACTION_UUID", "42")]).unwrap();
        assert_eq!(
            action.event,
            Event::Action(ActionEvent { name: "register-user".into(), id: "42".into() })
        );
        assert_eq!(action.hook_name(), "register-user");
    }

    #[test]
    fn unknown_hooks_are_not_errors() {
        let ctx = context(&[("JUJU_DISPATCH_PATH", "hooks/some-future-hook")]).unwrap();
        assert_eq!(ctx.event, Event::Unknown("some-future-hook".into()));
    }

    #[test]
    fn falls_back_to_argv0_without_dispatch_path() {
        let vars: HashMap<&str, &str> = [
            ("JUJU_UNIT_NAME", "synapse/0"),
            ("JUJU_MODEL_NAME", "m"),
            ("JUJU_MODEL_UUID", "u"),
            ("JUJU_VERSION", "2.6.0"),
        ]
        .into();
        let ctx =
            HookContext::from_vars(|n| vars.get(n).map(|v| v.to_string()), Some("/charm/hooks/install"))
                .unwrap();
        assert_eq!(ctx.event, Event::Install);
        let missing =
            HookContext::from_vars(|n| vars.get(n).map(|v| v.to_string()), Some("/usr/bin/x")).unwrap_err();
        assert_eq!(missing, ContextError::Missing("JUJU_DISPATCH_PATH"));
    }

    #[test]
    fn rejects_malformed_unit_and_relation_ids() {
        assert!(matches!(
            context(&[("JUJU_DISPATCH_PATH", "hooks/install"), ("JUJU_UNIT_NAME", "synapse")]),
            Err(ContextError::Invalid { var: "JUJU_UNIT_NAME", .. })
        ));
        assert!("db:x".parse::<RelationId>().is_err());
        assert_eq!("a:b:3".parse::<RelationId>().unwrap(), RelationId::new("a:b", 3));
    }
}
