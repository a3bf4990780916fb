//! Layers and the combined plan: adding layers (append or combine), merging by the
//! `override` rules, validating like Pebble (in its words), and the plan's YAML text.
//!
//! Pebble checks a layer on its own when it parses it (those errors read `cannot parse
//! layer YAML: ...`), then the `override` of each entry while combining, then the combined
//! plan (required fields, references between entries, ordering loops).

mod order;
pub mod schema;
mod yaml;

use std::collections::BTreeMap;

pub use order::{start_order, stop_order};
use schema::{Check, LayerSpec, LogTarget, Service};

const RESERVED_PREFIX: &str = "pebble-";
/// Prefix of the error of a layer that fails to parse or to validate on its own.
const PARSE_ERROR: &str = "cannot parse layer YAML";
/// Log target types Pebble accepts (it forwards to both; the simulator to Loki only).
const LOKI: &str = "loki";
const OPENTELEMETRY: &str = "opentelemetry";

/// A layer as stored: its label and content.
#[derive(Debug, Clone, PartialEq)]
struct Layer {
    label: String,
    spec: LayerSpec,
}

/// The ordered layers and the plan they combine into.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    layers: Vec<Layer>,
    combined: LayerSpec,
}

impl Plan {
    /// The combined plan.
    pub fn combined(&self) -> &LayerSpec {
        &self.combined
    }

    /// The combined plan as Pebble's YAML text (`services:`, `checks:`, `log-targets:`).
    pub fn to_yaml(&self) -> String {
        yaml::plan(&self.combined)
    }

    /// Adds a layer from its YAML text; the plan is unchanged when this fails.
    ///
    /// `combine` merges into an existing layer with the same label instead of failing.
    pub fn add_layer(&mut self, label: &str, text: &str, combine: bool) -> Result<(), String> {
        let spec = parse_layer(label, text)?;
        validate_overrides(label, &spec)?;
        let mut layers = self.layers.clone();
        match layers.iter_mut().find(|layer| layer.label == label) {
            Some(existing) if combine => combine_into(&mut existing.spec, &spec),
            Some(_) => return Err(format!("layer {label:?} already exists")),
            None => layers.push(Layer { label: label.to_owned(), spec }),
        }
        let mut combined = LayerSpec::default();
        for layer in &layers {
            combine_into(&mut combined, &layer.spec);
        }
        validate_plan(&combined)?;
        self.layers = layers;
        self.combined = combined;
        Ok(())
    }
}

/// Parses and validates a layer on its own, with Pebble's `cannot parse layer YAML: ` prefix.
fn parse_layer(label: &str, text: &str) -> Result<LayerSpec, String> {
    let spec: LayerSpec = if text.trim().is_empty() {
        LayerSpec::default()
    } else {
        serde_norway::from_str(text)
            .map_err(|e| format!("{PARSE_ERROR}: cannot parse layer {label:?}: {e}"))?
    };
    validate_layer(label, &spec).map_err(|e| format!("{PARSE_ERROR}: {e}"))?;
    Ok(spec)
}

/// Applies `upper` on top of `lower`, entry by entry, per each entry's `override`.
fn combine_into(lower: &mut LayerSpec, upper: &LayerSpec) {
    if upper.summary.is_some() {
        lower.summary.clone_from(&upper.summary);
    }
    if upper.description.is_some() {
        lower.description.clone_from(&upper.description);
    }
    combine_entries(&mut lower.services, &upper.services, |s| &s.r#override, Service::merge);
    combine_entries(&mut lower.checks, &upper.checks, |c| &c.r#override, Check::merge);
    combine_entries(&mut lower.log_targets, &upper.log_targets, |t| &t.r#override, LogTarget::merge);
}

fn combine_entries<T: Clone>(
    lower: &mut BTreeMap<String, T>,
    upper: &BTreeMap<String, T>,
    override_of: impl Fn(&T) -> &Option<String>,
    merge: impl Fn(&mut T, &T),
) {
    for (name, entry) in upper {
        match lower.get_mut(name) {
            Some(existing) if override_of(entry).as_deref() == Some("merge") => merge(existing, entry),
            _ => {
                lower.insert(name.clone(), entry.clone());
            }
        }
    }
}

/// Pebble's checks of one layer (`Layer.Validate`).
fn validate_layer(label: &str, spec: &LayerSpec) -> Result<(), String> {
    if label.starts_with(RESERVED_PREFIX) {
        return Err(format!("cannot use reserved label prefix {RESERVED_PREFIX:?}"));
    }
    for (name, service) in &spec.services {
        if name.is_empty() {
            return Err("cannot use empty string as service name".to_owned());
        }
        if name == "pebble" {
            return Err(format!("cannot use reserved service name {name:?}"));
        }
        if name.starts_with('-') {
            return Err(format!("cannot use service name {name:?}: starting with \"-\" not allowed"));
        }
        if let Err(e) = crate::command::split(service.command.as_deref().unwrap_or_default()) {
            return Err(format!(
                "plan service {name:?} command invalid: cannot parse service {name:?} command: {e}"
            ));
        }
        let actions = [
            ("on-success", service.on_success.iter().collect::<Vec<_>>(), "failure-shutdown"),
            ("on-failure", service.on_failure.iter().collect(), "success-shutdown"),
            ("on-check-failure", service.on_check_failure.values().collect(), "success-shutdown"),
        ];
        for (field, values, extra) in actions {
            if let Some(bad) = values.into_iter().find(|a| !valid_action(a, extra)) {
                return Err(format!("plan service {name:?} {field} action {bad:?} invalid"));
            }
        }
        if let Some(factor) = service.backoff_factor.filter(|f| *f < 1.0) {
            return Err(format!(
                "plan service {name:?} backoff-factor must be 1.0 or greater, not {}",
                yaml::go_float(factor)
            ));
        }
    }
    for (name, check) in &spec.checks {
        if name.is_empty() {
            return Err("cannot use empty string as check name".to_owned());
        }
        if !matches!(check.level.as_deref(), None | Some("" | "alive" | "ready")) {
            return Err(format!("plan check {name:?} level must be \"alive\" or \"ready\""));
        }
        if !matches!(check.startup.as_deref(), None | Some("" | "enabled" | "disabled")) {
            return Err(format!("plan check {name:?} startup must be \"enabled\" or \"disabled\""));
        }
        if check.period.is_some_and(|p| p.0.is_zero()) {
            return Err(format!("plan check {name:?} period must not be zero"));
        }
        if check.timeout.is_some_and(|t| t.0.is_zero()) {
            return Err(format!("plan check {name:?} timeout must not be zero"));
        }
        if let Some(exec) = &check.exec {
            if shlex::split(exec.command.as_deref().unwrap_or_default()).is_none() {
                return Err(format!("plan check {name:?} command invalid: invalid quoting"));
            }
            let no_user = exec.user.is_none() && exec.user_id.is_none();
            if no_user && (exec.group.is_some() || exec.group_id.is_some()) {
                return Err(format!(
                    "plan check {name:?} has invalid user/group: must specify user, not just group"
                ));
            }
        }
    }
    for (name, target) in &spec.log_targets {
        if let Some(label) = target.labels.keys().find(|l| l.starts_with("pebble_")) {
            return Err(format!("log target {name:?}: label {label:?} uses reserved prefix \"pebble_\""));
        }
        match target.r#type.as_deref() {
            None | Some("" | LOKI | OPENTELEMETRY) => {}
            Some(other) => {
                return Err(format!(
                "log target {name:?} has unsupported type {other:?}, must be {LOKI:?} or {OPENTELEMETRY:?}"
            ))
            }
        }
    }
    Ok(())
}

/// Actions Pebble accepts everywhere, plus `extra` (`failure-shutdown` for `on-success`,
/// `success-shutdown` for the others).
fn valid_action(action: &str, extra: &str) -> bool {
    matches!(action, "" | "restart" | "shutdown" | "ignore") || action == extra
}

/// Every entry must say how it combines (checked while combining, so without the parse
/// prefix).
fn validate_overrides(label: &str, spec: &LayerSpec) -> Result<(), String> {
    let entries = spec
        .services
        .iter()
        .map(|(n, s)| ("service", n, &s.r#override))
        .chain(spec.checks.iter().map(|(n, c)| ("check", n, &c.r#override)))
        .chain(spec.log_targets.iter().map(|(n, t)| ("log target", n, &t.r#override)));
    for (what, name, value) in entries {
        match value.as_deref() {
            None | Some("") => {
                return Err(format!("layer {label:?} must define \"override\" for {what} {name:?}"))
            }
            Some("merge" | "replace") => {}
            Some(_) => {
                return Err(format!("layer {label:?} has invalid \"override\" value for {what} {name:?}"))
            }
        }
    }
    Ok(())
}

/// Pebble's checks of the combined plan (`Plan.Validate`).
fn validate_plan(plan: &LayerSpec) -> Result<(), String> {
    for (name, service) in &plan.services {
        if service.command.as_deref().unwrap_or("").is_empty() {
            return Err(format!("plan must define \"command\" for service {name:?}"));
        }
    }
    for (name, check) in &plan.checks {
        let mut kinds = 0;
        if let Some(http) = &check.http {
            if http.url.as_deref().unwrap_or("").is_empty() {
                return Err(format!("plan must set \"url\" for http check {name:?}"));
            }
            kinds += 1;
        }
        if let Some(tcp) = &check.tcp {
            if tcp.port.unwrap_or(0) == 0 {
                return Err(format!("plan must set \"port\" for tcp check {name:?}"));
            }
            kinds += 1;
        }
        if let Some(exec) = &check.exec {
            if exec.command.as_deref().unwrap_or("").is_empty() {
                return Err(format!("plan must set \"command\" for exec check {name:?}"));
            }
            if let Some(context) = exec.service_context.as_ref().filter(|c| !c.is_empty()) {
                if !plan.services.contains_key(context) {
                    return Err(format!(
                        "plan check {name:?} service context specifies non-existent service {context:?}"
                    ));
                }
            }
            kinds += 1;
        }
        if kinds != 1 {
            return Err(format!(
                "plan must specify one of \"http\", \"tcp\", or \"exec\" for check {name:?}"
            ));
        }
    }
    for (name, target) in &plan.log_targets {
        if target.r#type.as_deref().unwrap_or("").is_empty() {
            return Err(format!(
                "plan must define \"type\" ({LOKI:?} or {OPENTELEMETRY:?}) for log target {name:?}"
            ));
        }
        for service in &target.services {
            let service = service.strip_prefix('-').unwrap_or(service);
            if service != "all" && !plan.services.contains_key(service) {
                return Err(format!("log target {name:?} specifies unknown service {service:?}"));
            }
        }
        if target.location.as_deref().unwrap_or("").is_empty() {
            return Err(format!("plan must define \"location\" for log target {name:?}"));
        }
    }
    // Pebble orders all services: a required service must exist (after/before may name
    // services that do not), and the ordering must not loop.
    for service in plan.services.values() {
        if let Some(missing) = service.requires.iter().find(|r| !plan.services.contains_key(*r)) {
            return Err(format!("service {missing:?} does not exist"));
        }
    }
    order::check_loops(&plan.services)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_replaces_scalars_merges_maps_appends_lists() {
        let mut plan = Plan::default();
        let base = "services:\n  a: {override: replace, command: /bin/a, startup: enabled, environment: {X: '1', Y: '2'}}\n  b: {override: replace, command: /bin/b}\n  c: {override: replace, command: /bin/c, after: [b]}\n";
        plan.add_layer("base", base, false).unwrap();
        let top = "services:\n  a: {override: merge, command: /bin/a2, environment: {Y: '3', Z: '4'}}\n  c: {override: merge, after: [a]}\n";
        plan.add_layer("top", top, false).unwrap();
        let a = &plan.combined().services["a"];
        assert_eq!(a.command.as_deref(), Some("/bin/a2"));
        assert!(a.startup_enabled());
        let env: Vec<_> = a.environment.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(env, ["X=1", "Y=3", "Z=4"]);
        assert_eq!(plan.combined().services["c"].after, ["b", "a"]);
    }

    #[test]
    fn replace_drops_the_lower_entry() {
        let mut plan = Plan::default();
        plan.add_layer("l1", "services:\n  a: {override: replace, command: x, environment: {K: v}}\n", false)
            .unwrap();
        plan.add_layer("l2", "services:\n  a: {override: replace, command: y}\n", false).unwrap();
        let a = &plan.combined().services["a"];
        assert_eq!(a.command.as_deref(), Some("y"));
        assert!(a.environment.is_empty());
    }

    #[test]
    fn combine_merges_into_the_labelled_layer_and_failures_leave_plan_alone() {
        let mut plan = Plan::default();
        plan.add_layer("l1", "services:\n  a: {override: replace, command: x}\n", false).unwrap();
        let err =
            plan.add_layer("l1", "services:\n  a: {override: replace, command: y}\n", false).unwrap_err();
        assert_eq!(err, r#"layer "l1" already exists"#);
        plan.add_layer("l1", "services:\n  b: {override: replace, command: z}\n", true).unwrap();
        assert_eq!(plan.layers.len(), 1);
        assert_eq!(plan.combined().services.len(), 2);
        let err = plan.add_layer("l2", "services:\n  c: {override: replace}\n", false).unwrap_err();
        assert_eq!(err, r#"plan must define "command" for service "c""#);
        assert_eq!(plan.layers.len(), 1);
    }
}
