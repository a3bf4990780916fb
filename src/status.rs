//! The statuses this charm reports, with upstream's texts where upstream has one.

use juju::Status;

use crate::config::InvalidConfig;

/// The first invalid option with its reason (the log has them all).
pub fn invalid_config(error: &InvalidConfig) -> Status {
    Status::blocked(error.to_string())
}

pub fn server_name_changed() -> Status {
    Status::blocked("The server_name modification is not allowed, please check the logs")
}

/// Longest excerpt of another program's words shown in a status.
const EXCERPT_CHARS: usize = 100;

/// `text` cut to [`EXCERPT_CHARS`] characters, at a word boundary when there is one in the
/// last fifth, marked with `…` when cut.
pub fn excerpt(text: &str) -> String {
    let Some((end, _)) = text.char_indices().nth(EXCERPT_CHARS) else { return text.to_string() };
    let cut = &text[..end];
    let at_word = cut.rfind(' ').filter(|space| *space >= end * 4 / 5).unwrap_or(end);
    format!("{}…", cut[..at_word].trim_end())
}

/// Synapse's loader rejected the new configuration; `reason` is its (redacted) output, of
/// which the last line (Python's error line) is shown.
pub fn config_rejected(reason: &str) -> Status {
    let line = reason.lines().rev().map(str::trim).find(|line| !line.is_empty()).unwrap_or("no output");
    Status::blocked(format!(
        "Synapse rejects the new configuration, the running one is kept: {}",
        excerpt(line)
    ))
}

/// A step before switching to a new configuration failed; the running one is kept.
pub fn step_failed(step: &str, reason: &str) -> Status {
    Status::blocked(format!("{step} failed, Synapse keeps its running configuration: {}", excerpt(reason)))
}

/// The port from SQLite to PostgreSQL is running; `progress` is synapse_port_db's last line.
pub fn porting_database(progress: &str) -> Status {
    Status::maintenance(format!("Porting the SQLite database to PostgreSQL: {}", excerpt(progress)))
}

/// Synapse's loader rejected the registrations of `apps`, which are left out.
pub fn registrations_left_out(apps: &[String]) -> Status {
    Status::blocked(format!(
        "matrix-auth: Synapse cannot load the registration from {}, left out; fix it there or remove the relation \
         (details in juju debug-log)",
        apps.join(", ")
    ))
}

/// More units are planned than the charm can serve; `server` names the one unit that does.
/// More units are planned than can serve: what scale-out lacks, and who serves meanwhile.
pub fn scale_out_needs(
    planned: usize,
    prerequisites: crate::components::scale::Prerequisites,
    main: Option<&str>,
    app: &str,
) -> Status {
    let mut missing = Vec::new();
    if !prerequisites.redis {
        missing.push(format!("Redis (juju integrate {app} redis-k8s)"));
    }
    if !prerequisites.postgresql {
        missing.push(format!("PostgreSQL (juju integrate {app} postgresql-k8s)"));
    }
    let serving = main.map_or_else(String::new, |main| format!("; only {main} serves"));
    Status::blocked(format!("{planned} units planned: scale-out needs {}{serving}", missing.join(" and ")))
}

/// The recorded main unit is leaving but its main process still answers.
pub fn leaving_main_serving(leaving: &str) -> Status {
    Status::waiting(format!("Waiting for {leaving}, the leaving main unit, to stop its main process"))
}

/// The recorded main unit is leaving; the leader has not named another yet.
pub fn waiting_for_new_main(leaving: &str) -> Status {
    Status::waiting(format!("Waiting for the leader to name a new main unit ({leaving} is leaving)"))
}

/// This unit's worker is in `workers_ignore_list`.
pub fn worker_ignored(name: &str) -> Status {
    Status::active(format!(
        "{name} is in workers_ignore_list: not serving, nginx sends everything to the main"
    ))
}

/// No main unit is recorded yet.
pub fn waiting_for_main() -> Status {
    Status::waiting("Waiting for the leader to name the main unit")
}

/// `/data` holds parts of a server the charm did not set up, without a homeserver.yaml to
/// adopt it from.
pub fn foreign_data_dir(found: &[String]) -> Status {
    Status::blocked(format!(
        "/data holds a Synapse this charm did not set up ({}) but no readable homeserver.yaml to adopt it from; \
         nothing was changed",
        found.join(", ")
    ))
}

pub fn departing() -> Status {
    Status::maintenance("This unit is being removed")
}

pub fn waiting_for_secrets() -> Status {
    Status::waiting("Waiting for leader to generate secrets")
}

pub fn waiting_for_peer_relation() -> Status {
    Status::waiting("Waiting for the peer relation")
}

pub fn waiting_for_pebble() -> Status {
    Status::waiting("Waiting for Synapse pebble")
}

pub fn waiting_for_synapse() -> Status {
    Status::waiting("Waiting for Synapse")
}

pub fn synapse_starting() -> Status {
    Status::waiting("Synapse is starting: not answering its health check yet")
}

pub fn synapse_not_answering() -> Status {
    Status::waiting("Synapse is running but not answering its health check")
}

/// Pebble keeps restarting Synapse; `last_error` is the last error line of its output,
/// already redacted.
pub fn synapse_restarting(last_error: Option<&str>) -> Status {
    match last_error {
        Some(line) => Status::blocked(format!("Synapse keeps restarting: {line}")),
        None => Status::blocked("Synapse keeps restarting; its output is empty, see juju debug-log"),
    }
}

/// Pebble could not start Synapse; the charm retries at the next hook.
pub fn synapse_start_failed(error: &str) -> Status {
    Status::blocked(format!("Synapse did not start: {error}"))
}

pub fn configuring() -> Status {
    Status::maintenance("Configuring Synapse")
}

pub fn synapse_running() -> Status {
    Status::active("")
}

/// The database relation is gone but the data is in PostgreSQL: Synapse is stopped.
pub fn database_relation_gone(app: &str) -> Status {
    Status::blocked(format!(
        "database: the data is in PostgreSQL but the relation is gone, Synapse is stopped; run juju integrate {app} \
         postgresql-k8s"
    ))
}

/// The provider has not answered usably yet; `on_postgresql` when Synapse already runs on it.
pub fn database_not_ready(reason: &str, on_postgresql: bool) -> Status {
    if on_postgresql {
        Status::waiting(format!("database: {reason}; Synapse keeps its running configuration"))
    } else {
        Status::waiting(format!(
            "database: waiting for PostgreSQL ({reason}); Synapse runs on SQLite meanwhile"
        ))
    }
}

/// The database cannot be used: `problem` is the inspection's kind of failure.
pub fn database_unusable(problem: &str, detail: &str, endpoint: &str) -> Status {
    let detail = excerpt(detail);
    match problem {
        "refused" => {
            Status::blocked(format!("database: PostgreSQL at {endpoint} refuses the credentials: {detail}"))
        }
        "unreachable" => {
            Status::waiting(format!("database: cannot reach PostgreSQL at {endpoint}: {detail}"))
        }
        "missing" => {
            Status::waiting(format!("database: the database does not exist yet at {endpoint}: {detail}"))
        }
        "driver" => Status::blocked(format!(
            "database: Synapse's image has no PostgreSQL driver (psycopg2): {detail}"
        )),
        _ => Status::blocked(format!("database: cannot inspect PostgreSQL at {endpoint}: {detail}")),
    }
}

pub fn database_no_privileges(user: &str) -> Status {
    Status::blocked(format!(
        "database: {user} may not create tables in schema public; grant it CREATE, or re-integrate postgresql-k8s"
    ))
}

/// The database's locale is not C and the charm may not change it.
pub fn database_wrong_locale(database: &str, collate: &str, ctype: &str) -> Status {
    Status::blocked(format!(
        "database: {database} has collation {collate} and ctype {ctype}, Synapse needs C; recreate it with \
         LC_COLLATE 'C' LC_CTYPE 'C'"
    ))
}

/// A port from SQLite failed earlier for the same database.
pub fn database_port_failed(reason: &str) -> Status {
    let reason = excerpt(reason);
    Status::blocked(format!(
        "database: porting SQLite to PostgreSQL failed, Synapse runs on SQLite: {reason}; fix it, then run the \
         retry-database-port action"
    ))
}

/// Synapse must finish its background updates on SQLite before the port.
pub fn database_background_updates(pending: u64) -> Status {
    Status::waiting(format!(
        "database: Synapse is finishing {pending} background updates on SQLite; the port to PostgreSQL follows"
    ))
}

/// PostgreSQL already holds tables while SQLite holds the data to port.
pub fn database_not_empty(database: &str) -> Status {
    Status::blocked(format!(
        "database: {database} already has tables and /data holds SQLite data; empty it, or set port_sqlite_data=false \
         to use it as it is"
    ))
}

/// The `redis` relation has no usable data yet.
pub fn redis_not_ready(reason: &str) -> Status {
    Status::waiting(format!("Waiting for Redis: {reason}"))
}

/// Redis does not answer at the address its relation gives.
pub fn redis_unreachable(endpoint: &str, reason: &str) -> Status {
    Status::blocked(format!(
        "Redis at {endpoint} does not answer: {}; check the redis-k8s application",
        excerpt(reason)
    ))
}

/// A service's new configuration failed its check; the running one stays.
pub fn reload_rejected(service: &str, reason: &str) -> Status {
    Status::blocked(format!(
        "{service} rejects its new configuration (the running one is kept): {}",
        excerpt(reason)
    ))
}

/// `enable_email_notifs` without the `smtp` relation.
pub fn email_needs_smtp(app: &str) -> Status {
    Status::blocked(format!(
        "enable_email_notifs needs the smtp relation: juju integrate {app} smtp-integrator"
    ))
}

/// The `smtp` relation's data is not usable (yet); `blocked` when only the operator can
/// change that.
pub fn smtp_not_ready(reason: &str, blocked: bool) -> Status {
    let message = format!("SMTP: {reason}");
    if blocked {
        Status::blocked(message)
    } else {
        Status::waiting(message)
    }
}

/// Settings Synapse cannot use, in upstream's words.
pub fn smtp_refused(problem: &str) -> Status {
    Status::blocked(problem)
}

/// The relay failed the charm's check from Synapse's container.
pub fn smtp_check_failed(endpoint: &str, problem: &str, detail: &str) -> Status {
    let what = match problem {
        "auth" => "refuses the credentials",
        "tls" => "fails TLS",
        "connect" => "does not answer",
        _ => "cannot be checked",
    };
    Status::blocked(format!(
        "SMTP: {endpoint} {what}: {}; check the smtp-integrator settings",
        excerpt(detail)
    ))
}

/// `additional_homeserver_config` sets keys the charm manages.
pub fn custom_keys_refused(keys: &[&str]) -> Status {
    Status::blocked(format!(
        "additional_homeserver_config sets keys the charm manages: {}; the running configuration is kept",
        keys.join(", ")
    ))
}

/// What Prometheus, Grafana or Loki refused or published wrong: the first, and how many.
pub fn observability_problem(first: &str, count: usize) -> Status {
    let more = if count > 1 { format!(" (+{} more, see juju debug-log)", count - 1) } else { String::new() };
    Status::blocked(format!("{}{more}", excerpt(first)))
}

/// `/data` holds a server of another `server_name` than the configured one.
pub fn adoption_server_name_differs(found: &str, configured: &str) -> Status {
    Status::blocked(format!(
        "/data holds the Synapse of server_name {found}, not {configured}: set server_name={found} to adopt it; \
         nothing was changed"
    ))
}

/// The server in `/data` cannot be adopted: its signing key is nowhere to be found.
pub fn adoption_without_signing_key(server_name: &str, places: &[String]) -> Status {
    Status::blocked(format!(
        "Cannot adopt the Synapse in /data: no usable signing key for {server_name} in {}; without it the \
         server's identity would change, nothing was changed",
        places.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_end_at_a_word_and_say_they_are_cut() {
        assert_eq!(excerpt("short"), "short");
        let words = "password authentication failed for user relation_id_7 ".repeat(4);
        let cut = excerpt(&words);
        assert!(cut.ends_with('…') && cut.chars().count() <= EXCERPT_CHARS + 1, "{cut}");
        assert!(words.starts_with(cut.trim_end_matches('…')));
        assert!(cut.trim_end_matches('…').ends_with(|c: char| c.is_alphanumeric()), "no half word: {cut}");
        assert_eq!(excerpt(&"x".repeat(300)).chars().count(), EXCERPT_CHARS + 1, "no space: cut anyway");
    }
}
