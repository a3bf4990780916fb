//! Layers and the combined plan: adding layers (append or combine), merging by the
//! `override` rules, and validating the result like Pebble.

mod order;
pub mod schema;

use std::collections::BTreeMap;

pub use order::{start_order, stop_order};
use schema::{Check, LayerSpec, LogTarget, Service};

const RESERVED_PREFIX: &str = "pebble-";

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
        let spec = LayerSpec { summary: None, description: None, ..self.combined.clone() };
        serde_norway::to_string(&spec).unwrap_or_else(|_| "{}\n".to_owned())
    }

    /// Adds a layer from its YAML text; the plan is unchanged when this fails.
    ///
    /// `combine` merges into an existing layer with the same label instead of failing.
    pub fn add_layer(&mut self, label: &str, yaml: &str, combine: bool) -> Result<(), String> {
        if label.starts_with(RESERVED_PREFIX) {
            return Err(format!("cannot use reserved label prefix {RESERVED_PREFIX:?}"));
        }
        let spec: LayerSpec = if yaml.trim().is_empty() {
            LayerSpec::default()
        } else {
            serde_norway::from_str(yaml).map_err(|e| format!("cannot parse layer YAML: {e}"))?
        };
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

fn validate_plan(plan: &LayerSpec) -> Result<(), String> {
    for (name, service) in &plan.services {
        if service.command.as_deref().unwrap_or("").trim().is_empty() {
            return Err(format!("plan must define \"command\" for service {name:?}"));
        }
        if let Err(e) = crate::command::split(service.command.as_deref().unwrap_or("")) {
            return Err(format!("plan service {name:?} command invalid: {e}"));
        }
        if let Some(factor) = service.backoff_factor {
            if factor < 1.0 {
                return Err(format!(
                    "plan service {name:?} backoff-factor must be 1.0 or greater, not {factor}"
                ));
            }
        }
        let deps = service.after.iter().chain(&service.before).chain(&service.requires);
        for dep in deps {
            if !plan.services.contains_key(dep) {
                return Err(format!("service {dep:?} does not exist"));
            }
        }
    }
    order::check_loops(&plan.services)?;
    for (name, check) in &plan.checks {
        if let Some(level) = check.level.as_deref() {
            if !matches!(level, "alive" | "ready" | "") {
                return Err(format!("plan check {name:?} level must be \"alive\" or \"ready\""));
            }
        }
        let kinds = [check.http.is_some(), check.tcp.is_some(), check.exec.is_some()];
        if kinds.iter().filter(|set| **set).count() != 1 {
            return Err(format!(
                "plan must specify one of \"http\", \"tcp\", or \"exec\" for check {name:?}"
            ));
        }
        if let Some(context) = check.exec.as_ref().and_then(|e| e.service_context.as_ref()) {
            if !plan.services.contains_key(context) {
                return Err(format!("service {context:?} does not exist"));
            }
        }
    }
    Ok(())
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
