//! Running a handler: the hook context and environment, the process, and folding the result
//! back into the model (immediate effects always, buffered changes on success); actions and
//! in-process hooks.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::context::{ActionRun, HookContext, HookInfo, ToolFault, AGENT_SOCKET_ENV, CONTEXT_ID_ENV};
use crate::model::{app_of, ActionRecord, ActionStatus};
use crate::runner::InProcessRunner;
use crate::usage::{take_tools_usage, ResourceUsage, ToolsUsage};

use super::{process, ActionResult, Event, HookRun, SimError, Simulator, PASSED_THROUGH};

impl Simulator {
    /// A new hook's context id, and the file its tools record their usage in.
    pub(super) fn next_context_id(&mut self, unit: &str, hook: &str) -> (String, PathBuf) {
        self.next_context += 1;
        let id = format!("{unit}-{hook}-{}", self.next_context);
        let usage = self.work.path().join("contexts").join(format!("{}.usage", self.next_context));
        (id, usage)
    }

    /// Builds the hook context as tools will see it: the model without log and action
    /// history (which tools never read).
    pub(super) fn context_for(&self, id: String, unit: &str, hook: HookInfo) -> HookContext {
        let mut model = self.model.clone();
        model.logs.clear();
        model.actions.clear();
        HookContext {
            id,
            unit: unit.to_owned(),
            hook,
            model,
            pending: Vec::new(),
            logs: Vec::new(),
            calls: Vec::new(),
            fault: None,
        }
    }

    /// The full hook environment of spec section 1.3 plus kind-specific variables.
    pub(super) fn hook_env(
        &self,
        unit: &str,
        dispatch_path: &str,
        hook_name: &str,
        context_id: &str,
        kind_env: Vec<(&'static str, String)>,
    ) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for key in PASSED_THROUGH {
            if let Ok(value) = std::env::var(key) {
                env.insert((*key).to_owned(), value);
            }
        }
        let path = match std::env::var("PATH") {
            Ok(path) if !path.is_empty() => format!("{}:{path}", self.tools_dir.display()),
            _ => format!("{}:/usr/local/bin:/usr/bin:/bin", self.tools_dir.display()),
        };
        let charm_dir = self.unit_charm_dir(unit).display().to_string();
        let fixed: [(&str, String); 28] = [
            ("PATH", path),
            ("LANG", "C.UTF-8".to_owned()),
            ("TERM", "tmux-256color".to_owned()),
            ("DEBIAN_FRONTEND", "noninteractive".to_owned()),
            ("APT_LISTCHANGES_FRONTEND", "none".to_owned()),
            ("JUJU_DISPATCH_PATH", dispatch_path.to_owned()),
            ("JUJU_HOOK_NAME", hook_name.to_owned()),
            ("JUJU_UNIT_NAME", unit.to_owned()),
            ("JUJU_MODEL_NAME", self.model.name.clone()),
            ("JUJU_MODEL_UUID", self.model.uuid.clone()),
            ("JUJU_VERSION", self.model.juju_version.clone()),
            ("JUJU_CHARM_DIR", charm_dir.clone()),
            ("CHARM_DIR", charm_dir),
            (CONTEXT_ID_ENV, context_id.to_owned()),
            (AGENT_SOCKET_ENV, self.agent.socket().display().to_string()),
            ("JUJU_AGENT_SOCKET_NETWORK", "unix".to_owned()),
            ("JUJU_API_ADDRESSES", "10.152.183.10:17070".to_owned()),
            ("JUJU_MACHINE_ID", String::new()),
            ("JUJU_PRINCIPAL_UNIT", String::new()),
            ("JUJU_AVAILABILITY_ZONE", String::new()),
            ("JUJU_SLA", "unsupported".to_owned()),
            ("CLOUD_API_VERSION", "1.29.0".to_owned()),
            ("JUJU_CHARM_HTTP_PROXY", String::new()),
            ("JUJU_CHARM_HTTPS_PROXY", String::new()),
            ("JUJU_CHARM_FTP_PROXY", String::new()),
            ("JUJU_CHARM_NO_PROXY", "127.0.0.1,localhost,::1".to_owned()),
            ("JUJU_METER_STATUS", "AMBER".to_owned()),
            ("JUJU_METER_INFO", "not set".to_owned()),
        ];
        env.extend(fixed.into_iter().map(|(key, value)| (key.to_owned(), value)));
        env.extend(kind_env.into_iter().map(|(key, value)| (key.to_owned(), value)));
        env.extend(self.env.clone());
        if let Some(unit) = self.model.unit(unit) {
            env.extend(unit.env.clone());
        }
        env
    }

    /// Runs the handler for `dispatch_path` (`hooks/<hook>` or `actions/<name>`), then merges
    /// immediate effects and, on success, commits buffered changes and queues follow-ups.
    pub(super) fn execute(
        &mut self,
        unit: &str,
        dispatch_path: &str,
        info: HookInfo,
        kind_env: Vec<(&'static str, String)>,
        action: Option<u64>,
    ) -> Result<HookRun, SimError> {
        let hook_name = info.name.clone();
        let label = dispatch_path.rsplit_once('/').map_or(dispatch_path, |(_, name)| name).to_owned();
        let charm_dir = self.unit_charm_dir(unit);
        let handler = find_handler(&charm_dir, dispatch_path);
        let (id, usage_path) = self.next_context_id(unit, &label);
        let context = self.context_for(id.clone(), unit, info);
        let Some(handler) = handler else {
            let mut run = self.skipped_run(unit, label, None);
            run.action = action;
            if let Some(action_run) = context.hook.action {
                return self.finish_action_missing(run, action_run);
            }
            return Ok(run);
        };
        let mut context = context;
        let faulted = self
            .tool_fault
            .as_ref()
            .filter(|(_, app)| app.as_deref().is_none_or(|app| app == app_of(unit)))
            .map(|(fault, _)| *fault);
        context.fault = faulted;
        let env = self.hook_env(unit, dispatch_path, &hook_name, &id, kind_env);
        self.agent.begin(context, usage_path.clone());
        let finished = process::run(&handler, &charm_dir, &env, self.hook_timeout)
            .map_err(|e| SimError::io("run", &handler, e));
        let context = self.agent.finish().expect("the agent holds the running hook's context");
        let tools_usage = take_tools_usage(&usage_path);
        let finished = finished?;
        // A fault not reached in this hook is due that many calls into the next ones.
        if let Some(fault) = faulted {
            self.tool_fault =
                fault.call.checked_sub(context.calls.len()).filter(|call| *call > 0).map(|call| {
                    (ToolFault { call, ..fault }, self.tool_fault.take().and_then(|(_, app)| app))
                });
        }
        let code = if finished.timed_out { -9 } else { finished.code };
        let stdout = String::from_utf8_lossy(&finished.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&finished.stderr).into_owned();
        let run = HookRun {
            unit: unit.to_owned(),
            hook: label.clone(),
            event: None,
            action,
            skipped: false,
            exit_code: code,
            timed_out: finished.timed_out,
            committed: code == 0 && !finished.timed_out,
            stdout,
            stderr,
            calls: context.calls.clone(),
            duration: finished.duration,
            usage: finished.usage,
            tools_usage,
        };
        self.merge(context, &run, &label);
        Ok(run)
    }

    /// Folds a finished hook context into the model.
    pub(super) fn merge(&mut self, context: HookContext, run: &HookRun, label: &str) {
        let before = self.model.clone();
        let mut model = context.model;
        model.logs = std::mem::take(&mut self.model.logs);
        model.logs.extend(context.logs);
        for (level, text) in [("DEBUG", &run.stdout), ("WARNING", &run.stderr)] {
            for line in text.lines().filter(|line| !line.trim().is_empty()) {
                model.log(&run.unit, label, level, line.to_owned());
            }
        }
        model.actions = std::mem::take(&mut self.model.actions);
        if run.committed {
            for change in &context.pending {
                change.apply(&mut model, &run.unit);
            }
        }
        self.model = model;
        if let Some(action) = context.hook.action {
            self.record_action(run, action);
        }
        // A leaving unit's writes in its relation-departed and relation-broken hooks are not
        // published to the units that stay.
        let leaving = self.model.unit(&run.unit).is_some_and(|unit| unit.dying);
        let departing = context.hook.relation.as_ref().is_some_and(|relation| {
            relation.departing_unit.as_deref() == Some(run.unit.as_str()) || (relation.broken && leaving)
        });
        self.queue_followups(&before, Some(&run.unit), departing);
    }

    pub(super) fn record_action(&mut self, run: &HookRun, action: ActionRun) {
        let mut results = action.results;
        results.insert("return-code".into(), Value::from(run.exit_code));
        if !run.stdout.is_empty() {
            results.insert("stdout".into(), Value::from(run.stdout.clone()));
        }
        if !run.stderr.is_empty() {
            results.insert("stderr".into(), Value::from(run.stderr.clone()));
        }
        let (status, message) = if !run.succeeded() {
            let message = if run.timed_out {
                "action terminated".to_owned()
            } else {
                action.message.unwrap_or_else(|| format!("exit status {}", run.exit_code))
            };
            (ActionStatus::Failed, Some(message))
        } else if action.failed {
            (ActionStatus::Failed, action.message)
        } else {
            (ActionStatus::Completed, None)
        };
        self.model.actions.push(ActionRecord {
            id: action.id,
            unit: run.unit.clone(),
            name: action.name,
            params: action.params,
            results,
            status,
            message,
            logs: action.logs,
        });
    }

    pub(super) fn finish_action_missing(
        &mut self,
        run: HookRun,
        action: ActionRun,
    ) -> Result<HookRun, SimError> {
        self.model.actions.push(ActionRecord {
            id: action.id,
            unit: run.unit.clone(),
            name: action.name,
            params: action.params,
            results: serde_json::Map::new(),
            status: ActionStatus::Failed,
            message: Some(format!("action not implemented on unit \"{}\"", run.unit)),
            logs: Vec::new(),
        });
        Ok(run)
    }

    /// Runs an action on a unit, then the follow-up hooks its committed changes cause.
    pub fn run_action(
        &mut self,
        unit: &str,
        action: &str,
        params: serde_json::Map<String, Value>,
    ) -> Result<ActionResult, SimError> {
        let app = self.app(app_of(unit))?;
        self.unit(unit)?;
        if app.charm_dir.is_none() {
            return Err(SimError::Passive(app.name.clone()));
        }
        let meta = app
            .meta
            .actions
            .get(action)
            .ok_or_else(|| SimError::UnknownAction { unit: unit.to_owned(), action: action.to_owned() })?;
        let params = meta
            .resolve_params(action, &params)
            .map_err(|message| SimError::InvalidActionParams { action: action.to_owned(), message })?;
        let id = self.model.next_action_id;
        self.model.next_action_id += 1;
        let info = HookInfo {
            name: String::new(),
            relation: None,
            storage: None,
            action: Some(ActionRun {
                id,
                name: action.to_owned(),
                params,
                results: serde_json::Map::new(),
                failed: false,
                message: None,
                logs: Vec::new(),
            }),
        };
        let env = vec![
            ("JUJU_ACTION_NAME", action.to_owned()),
            ("JUJU_ACTION_UUID", id.to_string()),
            ("JUJU_ACTION_TAG", format!("action-{id}")),
        ];
        let run = self.execute(unit, &format!("actions/{action}"), info, env, Some(id))?;
        self.history.push(run.clone());
        let followups = self.run_until_quiet()?;
        let record = self
            .action(id)
            .cloned()
            .ok_or_else(|| SimError::UnknownAction { unit: unit.to_owned(), action: action.to_owned() })?;
        Ok(ActionResult { record, run, followups })
    }

    /// Prepares an in-process hook: the returned runner answers hook-tool calls against the
    /// same context a process would get, and [`InProcessRunner::env`] holds the hook
    /// environment. Finish with [`Simulator::finish_in_process`].
    pub fn in_process(&mut self, unit: &str, event: Event) -> Result<InProcessRunner, SimError> {
        self.unit(unit)?;
        let hook = event
            .hook_name(&self.model, unit)
            .ok_or_else(|| SimError::UnknownRelation(event.relation().unwrap_or_default()))?;
        self.before_hook(unit, &event);
        let info = self.hook_info(unit, &hook, &event);
        let kind_env = event.env(&self.model, unit);
        let (id, _) = self.next_context_id(unit, &hook);
        let env = self.hook_env(unit, &format!("hooks/{hook}"), &hook, &id, kind_env);
        let context = self.context_for(id, unit, info);
        Ok(InProcessRunner::new(context, env, event))
    }

    /// Runs one hook of `unit` in-process: `body` gets the [`juju::HookTools`] and
    /// [`juju::HookContext`] a charm would, and the hook is committed as one that exits 0.
    pub fn hook_in_process<T>(
        &mut self,
        unit: &str,
        event: Event,
        body: impl FnOnce(&juju::HookTools, &juju::HookContext) -> T,
    ) -> Result<(T, HookRun), SimError> {
        let runner = std::sync::Arc::new(self.in_process(unit, event)?);
        let env = runner.env().clone();
        let context = juju::HookContext::from_vars(|name| env.get(name).cloned(), None)
            .expect("the simulator's hook environment is complete");
        let tools = juju::HookTools::from_shared(runner.clone());
        let result = body(&tools, &context);
        drop(tools);
        let runner = std::sync::Arc::try_unwrap(runner).ok().expect("the body keeps no hook tools");
        Ok((result, self.finish_in_process(runner, 0)?))
    }

    /// Completes an in-process hook as if its process exited with `exit_code`: commits on 0,
    /// queues follow-ups, and returns the run.
    pub fn finish_in_process(
        &mut self,
        runner: InProcessRunner,
        exit_code: i32,
    ) -> Result<HookRun, SimError> {
        let (context, event) = runner.into_parts();
        let unit = context.unit.clone();
        let hook = context.hook.name.clone();
        let run = HookRun {
            unit: unit.clone(),
            hook: hook.clone(),
            event: Some(event.clone()),
            action: None,
            skipped: false,
            exit_code,
            timed_out: false,
            committed: exit_code == 0,
            stdout: String::new(),
            stderr: String::new(),
            calls: context.calls.clone(),
            duration: Duration::ZERO,
            usage: ResourceUsage::default(),
            tools_usage: ToolsUsage::default(),
        };
        self.merge(context, &run, &hook);
        if run.succeeded() {
            self.after_hook(&unit, &event);
            self.restore_status(&unit);
            self.history.push(run.clone());
            Ok(run)
        } else {
            self.mark_error(&unit, &hook)?;
            self.history.push(run.clone());
            Err(SimError::HookFailed(Box::new(run)))
        }
    }
}

/// `dispatch` if executable, else the legacy `hooks/<hook>` or `actions/<action>` file.
fn find_handler(charm_dir: &Path, dispatch_path: &str) -> Option<PathBuf> {
    [charm_dir.join("dispatch"), charm_dir.join(dispatch_path)].into_iter().find(|path| {
        fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    })
}
