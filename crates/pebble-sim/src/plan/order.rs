//! Service ordering: `requires` pulls services in, `after`/`before` order them.

use std::collections::{BTreeMap, BTreeSet};

use super::schema::Service;

type Services = BTreeMap<String, Service>;

/// Fails with `services in before/after loop: a, b` when the ordering has a cycle.
pub(super) fn check_loops(services: &Services) -> Result<(), String> {
    let all: BTreeSet<&str> = services.keys().map(String::as_str).collect();
    topological(services, &all).map(|_| ())
}

/// The services to start for `names` (plus everything they require), in start order.
pub fn start_order(services: &Services, names: &[String]) -> Result<Vec<String>, String> {
    let mut wanted = known(services, names)?;
    let mut queue: Vec<&str> = wanted.iter().copied().collect();
    while let Some(name) = queue.pop() {
        for required in &services[name].requires {
            if services.contains_key(required) && wanted.insert(required) {
                queue.push(required);
            }
        }
    }
    topological(services, &wanted)
}

/// The services to stop for `names` (plus everything requiring them), in stop order.
pub fn stop_order(services: &Services, names: &[String]) -> Result<Vec<String>, String> {
    let mut wanted = known(services, names)?;
    loop {
        let dependents: Vec<&str> = services
            .iter()
            .filter(|(name, service)| {
                !wanted.contains(name.as_str())
                    && service.requires.iter().any(|r| wanted.contains(r.as_str()))
            })
            .map(|(name, _)| name.as_str())
            .collect();
        if dependents.is_empty() {
            break;
        }
        wanted.extend(dependents);
    }
    let mut order = topological(services, &wanted)?;
    order.reverse();
    Ok(order)
}

fn known<'a>(services: &'a Services, names: &[String]) -> Result<BTreeSet<&'a str>, String> {
    names
        .iter()
        .map(|name| {
            services
                .get_key_value(name)
                .map(|(key, _)| key.as_str())
                .ok_or_else(|| format!("service {name:?} does not exist"))
        })
        .collect()
}

/// Kahn's algorithm over the `after`/`before` edges within `subset`, by name when free.
fn topological(services: &Services, subset: &BTreeSet<&str>) -> Result<Vec<String>, String> {
    // predecessors[x] = services that must start before x.
    let mut predecessors: BTreeMap<&str, BTreeSet<&str>> =
        subset.iter().map(|name| (*name, BTreeSet::new())).collect();
    for name in subset {
        let service = &services[*name];
        for after in service.after.iter().filter(|a| subset.contains(a.as_str())) {
            predecessors.entry(name).or_default().insert(after.as_str());
        }
        for before in service.before.iter().filter(|b| subset.contains(b.as_str())) {
            predecessors.entry(before.as_str()).or_default().insert(name);
        }
    }
    let mut order = Vec::with_capacity(subset.len());
    loop {
        let ready: Vec<&str> =
            predecessors.iter().filter(|(_, preds)| preds.is_empty()).map(|(name, _)| *name).collect();
        let Some(next) = ready.first().copied() else {
            break;
        };
        predecessors.remove(next);
        for preds in predecessors.values_mut() {
            preds.remove(next);
        }
        order.push(next.to_owned());
    }
    if predecessors.is_empty() {
        Ok(order)
    } else {
        let looped: Vec<&str> = predecessors.keys().copied().collect();
        Err(format!("services in before/after loop: {}", looped.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services(yaml: &str) -> Services {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn orders_by_after_and_before_and_pulls_in_requires() {
        let s = services(
            "a: {command: a, requires: [b], after: [b]}\nb: {command: b}\nc: {command: c, before: [b]}\n",
        );
        assert_eq!(start_order(&s, &["a".into()]).unwrap(), ["b", "a"]);
        assert_eq!(start_order(&s, &["a".into(), "c".into()]).unwrap(), ["c", "b", "a"]);
        assert_eq!(stop_order(&s, &["b".into()]).unwrap(), ["a", "b"]);
    }

    #[test]
    fn reports_loops_and_unknown_services() {
        let s = services("a: {command: a, after: [b]}\nb: {command: b, after: [a]}\nc: {command: c}\n");
        assert_eq!(check_loops(&s).unwrap_err(), "services in before/after loop: a, b");
        assert_eq!(start_order(&s, &["x".into()]).unwrap_err(), r#"service "x" does not exist"#);
    }
}
