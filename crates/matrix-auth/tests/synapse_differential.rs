//! Registration checks compared with real Synapse: every text this crate accepts must load in
//! Synapse (the charm must never write a file that stops the homeserver), and every refusal of
//! something Synapse would load must be one of the deliberate, documented strictnesses.

mod support;

use matrix_auth::{resolve_conflicts, Registration};
use serde_json::json;
use test_support::PythonVenv;

/// What each side should say about a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Synapse loads it and so do we.
    Loads,
    /// Both refuse it.
    Refused,
    /// Synapse would load it, we refuse on purpose (unsupported or conflicting at run time).
    Stricter,
}
use Expect::{Loads, Refused, Stricter};

fn registration(id: &str, as_token: &str, sender: &str, users: &str) -> String {
    format!(
        "id: {id}\nhs_token: hs-{id}\nas_token: {as_token}\nurl: 'http://10.0.0.5:8090'\nsender_localpart: {sender}\n\
         namespaces:\n  users:\n    - exclusive: true\n      regex: '{users}'\n  aliases:\n    - exclusive: true\n      \
         regex: '#{sender}_.*:example\\.com'\nrate_limited: false\nprotocols: [irc]\n"
    )
}

/// One registration whose users regex is `users` (exclusive).
fn with_users(users: &str) -> Vec<String> {
    vec![registration("bridge", "as-1", "bot", users)]
}

/// The IRC registration with `line` appended.
fn with_line(line: &str) -> Vec<String> {
    vec![format!("{}{line}\n", registration("bridge", "as-1", "bot", "@irc_.*:example\\.com"))]
}

/// The IRC registration with `from` replaced by `to`.
fn replaced(from: &str, to: &str) -> Vec<String> {
    let text = registration("bridge", "as-1", "bot", "@irc_.*:example\\.com");
    assert!(text.contains(from), "{from}");
    vec![text.replacen(from, to, 1)]
}

fn cases() -> Vec<(&'static str, Vec<String>, Expect)> {
    vec![
        ("irc bridge", with_users("@irc_.*:example\\.com"), Loads),
        (
            "minimal with null url",
            vec!["id: a\nas_token: b\nhs_token: c\nsender_localpart: d\nurl: null\nnamespaces: {}\n".into()],
            Loads,
        ),
        ("url missing", replaced("url: 'http://10.0.0.5:8090'\n", ""), Refused),
        ("url is a number", replaced("url: 'http://10.0.0.5:8090'", "url: 8090"), Refused),
        ("id is an int", replaced("id: bridge", "id: 1_000"), Refused),
        ("id is octal", replaced("id: bridge", "id: 0755"), Refused),
        ("id is a date", replaced("id: bridge", "id: 2024-01-01"), Refused),
        ("id is a quoted date", replaced("id: bridge", "id: '2024-01-01'"), Loads),
        ("id is a sexagesimal", replaced("id: bridge", "id: 1:30"), Refused),
        ("id is a YAML 1.2 octal", replaced("id: bridge", "id: 0o17"), Loads),
        ("id is a bool", replaced("id: bridge", "id: on"), Refused),
        ("id with a pipe", replaced("id: bridge", "id: 'a|b'"), Refused),
        ("as_token missing", replaced("as_token: as-1\n", ""), Refused),
        ("as_token null", replaced("as_token: as-1", "as_token: ~"), Refused),
        ("exclusive spelled yes", replaced("- exclusive: true", "- exclusive: yes"), Loads),
        ("exclusive quoted", replaced("- exclusive: true", "- exclusive: 'true'"), Refused),
        ("exclusive missing", replaced("- exclusive: true\n      regex: '@", "- regex: '@"), Refused),
        ("regex not a string", replaced("regex: '@irc_.*:example\\.com'", "regex: 5"), Refused),
        (
            "namespace not a list",
            replaced("  aliases:\n    - exclusive: true", "  rooms: {}\n  aliases:\n    - exclusive: true"),
            Refused,
        ),
        (
            "namespace null",
            replaced("  aliases:\n    - exclusive: true", "  rooms:\n  aliases:\n    - exclusive: true"),
            Refused,
        ),
        ("namespaces missing", replaced("namespaces:\n", "other:\n"), Refused),
        ("sender with a space", replaced("sender_localpart: bot", "sender_localpart: 'b t'"), Refused),
        ("sender with a slash", replaced("sender_localpart: bot", "sender_localpart: b/t"), Loads),
        ("protocols a string", replaced("protocols: [irc]", "protocols: irc"), Refused),
        ("protocols with a number", replaced("protocols: [irc]", "protocols: [irc, 5]"), Refused),
        ("protocols empty string", replaced("protocols: [irc]", "protocols: ''"), Loads),
        ("rate_limited odd", replaced("rate_limited: false", "rate_limited: sometimes"), Loads),
        ("ip whitelist", with_line("ip_range_whitelist: ['10.0.0.0/8', '::1']"), Loads),
        ("ip whitelist bad", with_line("ip_range_whitelist: ['not an ip']"), Refused),
        ("msc3202 not a bool", with_line("org.matrix.msc3202: 'yes'"), Refused),
        ("msc4190 flag", with_line("io.element.msc4190: true"), Loads),
        ("push_ephemeral", with_line("de.sorunome.msc2409.push_ephemeral: true"), Loads),
        ("duplicate keys, last wins", with_line("id: second"), Loads),
        ("duplicate keys, last is bad", with_line("url: [1]"), Refused),
        ("anchor and alias", with_line("extra: &x [a, b]\nmore: *x"), Loads),
        ("merge key", with_line("base: &b {k: v}\nmerged:\n  <<: *b"), Stricter),
        ("binary tag", with_line("blob: !!binary aGVsbG8="), Stricter),
        ("unknown tag", with_line("thing: !custom x"), Refused),
        ("invalid date elsewhere", with_line("when: 2024-02-30"), Refused),
        ("value key", with_line("odd: ="), Refused),
        ("two documents", with_line("---\nid: other"), Refused),
        ("control character", with_line("note: \"\u{1}\""), Refused),
        ("not a mapping", vec!["- a\n- b\n".into()], Refused),
        ("empty", vec![String::new()], Refused),
        ("YAML syntax error", vec!["id: [unclosed\n".into()], Refused),
        ("lookahead", with_users("@(?!admin)irc_.*:example\\.com"), Loads),
        ("fixed lookbehind", with_users("(?<=@)irc_.*"), Loads),
        ("variable lookbehind", with_users("(?<=@|@@)irc_.*"), Refused),
        ("scoped flag", with_users("(?i:@IRC_.*):example\\.com"), Loads),
        ("global flag in exclusive users", with_users("(?i)@irc_.*"), Refused),
        ("global flag in aliases", replaced("regex: '#bot_", "regex: '(?i)#bot_"), Loads),
        ("global flag not at start", replaced("regex: '#bot_", "regex: '#(?i)bot_"), Refused),
        ("python end anchor", with_users("@irc_.*:example\\.com\\Z"), Loads),
        ("rust end anchor", with_users("@irc_.*\\z"), Refused),
        ("unicode class", with_users("@\\p{L}+"), Refused),
        ("braced hex", with_users("@\\x{41}"), Refused),
        ("python hex", with_users("@\\x41\\u00e9"), Loads),
        ("literal braces", with_users("@a{b}c{}d{,2}e{1,}"), Loads),
        ("bad repeat range", with_users("@a{3,2}"), Refused),
        ("nested set bracket", with_users("@[[:alpha:]]+"), Loads),
        ("unbalanced", with_users("@(irc_.*"), Refused),
        ("named group", with_users("@(?P<n>irc)_.*"), Stricter),
        ("backreference in exclusive users", with_users("@(a)\\1"), Refused),
        ("backreference in aliases", replaced("regex: '#bot_", "regex: '(a)\\1#bot_"), Stricter),
        ("verbose flag", replaced("regex: '#bot_", "regex: '(?x)#bot_"), Stricter),
        ("possessive", with_users("@irc_.*+"), Loads),
        ("atomic group", with_users("@(?>irc)_.*"), Loads),
        ("multiple repeat", with_users("@a**"), Refused),
        ("nothing to repeat", with_users("@(*a)"), Refused),
        ("large repeat of a class", with_users("@\\w{1000}_.*:example\\.com"), Loads),
        ("experimental proxy", with_line("io.element.msc4512.proxy_prefix: null"), Loads),
        (
            "two distinct bridges",
            vec![registration("a", "as-a", "bot-a", "@a_.*"), registration("b", "as-b", "bot-b", "@b_.*")],
            Loads,
        ),
        (
            "duplicate id",
            vec![registration("a", "as-a", "bot-a", "@a_.*"), registration("a", "as-b", "bot-b", "@b_.*")],
            Refused,
        ),
        (
            "duplicate as_token",
            vec![registration("a", "as-a", "bot-a", "@a_.*"), registration("b", "as-a", "bot-b", "@b_.*")],
            Refused,
        ),
        (
            "same sender",
            vec![registration("a", "as-a", "bot", "@a_.*"), registration("b", "as-b", "bot", "@b_.*")],
            Stricter,
        ),
        (
            "same exclusive users regex",
            vec![registration("a", "as-a", "bot-a", "@x_.*"), registration("b", "as-b", "bot-b", "@x_.*")],
            Stricter,
        ),
        (
            "overlapping exclusive users regexes",
            vec![registration("a", "as-a", "bot-a", "@x_.*"), registration("b", "as-b", "bot-b", "@x_y_.*")],
            Stricter,
        ),
    ]
}

/// Our verdict on a set of files: each parses and none conflicts with an earlier one.
fn accepted(texts: &[String]) -> Result<(), String> {
    let mut parsed = Vec::new();
    for (index, text) in texts.iter().enumerate() {
        parsed.push((index, Registration::parse(text).map_err(|e| e.to_string())?));
    }
    for (index, result) in resolve_conflicts(parsed) {
        result.map_err(|c| format!("file {index}: {} with file {}", c.conflict, c.earlier))?;
    }
    Ok(())
}

#[test]
fn accepted_registrations_load_in_synapse() {
    let Some(venv) = PythonVenv::find_or_skip("synapse", "the differential test against Synapse's loader")
    else {
        return;
    };
    let cases = cases();
    let inputs: Vec<&Vec<String>> = cases.iter().map(|(_, texts, _)| texts).collect();
    let answers = support::run_script(venv.python(), "synapse_loads.py", &json!(inputs));
    let mut wrong = Vec::new();
    for ((name, texts, expect), answer) in cases.iter().zip(answers.as_array().unwrap()) {
        let synapse_loads = answer["loads"].as_bool().unwrap();
        let ours = accepted(texts);
        let observed = match (synapse_loads, ours.is_ok()) {
            (true, true) => Loads,
            (false, false) => Refused,
            (true, false) => Stricter,
            (false, true) => {
                wrong.push(format!("{name}: ACCEPTED but Synapse refuses: {}", answer["error"]));
                continue;
            }
        };
        if observed != *expect {
            wrong.push(format!(
                "{name}: expected {expect:?}, got {observed:?} (ours: {ours:?}; synapse: {answer})"
            ));
        }
    }
    assert!(wrong.is_empty(), "{} of {} cases differ:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
}
