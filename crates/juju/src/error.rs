//! The one error type for hook-tool calls, classified the way ops classifies them.

use std::fmt;

/// What kind of failure a hook tool reported, derived from its exit code and stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolErrorKind {
    /// The relation id is unknown or the relation is gone (`relation not found`).
    RelationNotFound,
    /// The secret (by id or label) does not exist or is not visible (`not found`).
    SecretNotFound,
    /// The unit may not read or write this (`permission denied`).
    PermissionDenied,
    /// The call needs leadership (`not the leader`, `cannot write relation settings`).
    NotLeader,
    /// The tool rejected its arguments (exit code 2).
    BadArguments,
    /// The tool is not on `PATH` (not running under Juju?).
    ToolMissing,
    /// Anything else.
    Other,
}

/// A command line with every value that might be secret replaced by `<redacted>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactedCommand(String);

impl RedactedCommand {
    /// Renders `tool args...`, hiding the values of `key=value` content arguments of the
    /// secret tools (their files are already out of argv, but a caller may pass literals).
    pub fn new(tool: &str, args: &[String]) -> Self {
        let hide_values = tool.starts_with("secret-") || tool == "action-set" || tool == "state-set";
        let mut rendered = String::from(tool);
        for arg in args {
            rendered.push(' ');
            match arg.split_once('=') {
                Some((key, _)) if hide_values && !arg.starts_with('-') && !key.contains("#file") => {
                    rendered.push_str(key);
                    rendered.push_str("=<redacted>");
                }
                _ => rendered.push_str(arg),
            }
        }
        Self(rendered)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedactedCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A hook-tool call that failed: the command (redacted), its exit code and stderr.
#[derive(Debug, thiserror::Error)]
pub enum HookToolError {
    /// The tool ran and exited non-zero.
    #[error("`{command}` failed with exit code {code}: {}", stderr.trim_end())]
    Failed { command: RedactedCommand, code: i32, stderr: String, kind: ToolErrorKind },
    /// A signal ended the tool (the OOM killer, a timeout, an operator).
    #[error("`{command}` was killed by signal {signal} ({})", signal_name(*signal))]
    Killed { command: RedactedCommand, signal: i32 },
    /// The tool could not be started at all.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        command: RedactedCommand,
        #[source]
        source: std::io::Error,
    },
    /// The tool succeeded but printed something we could not parse.
    #[error("could not parse the output of `{command}`: {reason}")]
    Output { command: RedactedCommand, reason: String },
    /// Preparing the call failed (for example writing a secret value to its temporary file).
    #[error("could not prepare `{tool}`: {source}")]
    Prepare {
        tool: String,
        #[source]
        source: std::io::Error,
    },
}

/// The usual name of a POSIX signal number.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => "unknown signal",
    }
}

impl HookToolError {
    /// Classifies a failed call from its tool name, exit code and stderr (as ops does).
    pub(crate) fn failed(command: RedactedCommand, tool: &str, code: i32, stderr: String) -> Self {
        let kind = classify(tool, code, &stderr);
        Self::Failed { command, code, stderr, kind }
    }

    pub(crate) fn spawn(command: RedactedCommand, source: std::io::Error) -> Self {
        Self::Spawn { command, source }
    }

    /// The failure class; `Spawn` of a missing executable is [`ToolErrorKind::ToolMissing`].
    pub fn kind(&self) -> ToolErrorKind {
        match self {
            Self::Failed { kind, .. } => *kind,
            Self::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ToolErrorKind::ToolMissing
            }
            _ => ToolErrorKind::Other,
        }
    }

    pub fn is_relation_not_found(&self) -> bool {
        self.kind() == ToolErrorKind::RelationNotFound
    }

    /// The failed command line (`None` only if the call could not even be prepared).
    pub fn command(&self) -> Option<&RedactedCommand> {
        match self {
            Self::Failed { command, .. }
            | Self::Killed { command, .. }
            | Self::Spawn { command, .. }
            | Self::Output { command, .. } => Some(command),
            Self::Prepare { .. } => None,
        }
    }

    pub fn is_secret_not_found(&self) -> bool {
        self.kind() == ToolErrorKind::SecretNotFound
    }

    pub fn is_permission_denied(&self) -> bool {
        self.kind() == ToolErrorKind::PermissionDenied
    }
}

fn classify(tool: &str, code: i32, stderr: &str) -> ToolErrorKind {
    let text = stderr.to_ascii_lowercase();
    if (tool.starts_with("relation-") || tool.starts_with("network-") || tool.starts_with("secret-"))
        && text.contains("relation not found")
    {
        ToolErrorKind::RelationNotFound
    } else if tool.starts_with("secret-") && text.contains("not found") {
        ToolErrorKind::SecretNotFound
    } else if text.contains("not the leader") || text.contains("cannot write relation settings") {
        ToolErrorKind::NotLeader
    } else if text.contains("permission denied") || text.contains("access denied") {
        ToolErrorKind::PermissionDenied
    } else if code == 2 {
        ToolErrorKind::BadArguments
    } else {
        ToolErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(tool: &str, code: i32, stderr: &str) -> ToolErrorKind {
        HookToolError::failed(RedactedCommand::new(tool, &[]), tool, code, stderr.into()).kind()
    }

    #[test]
    fn classifies_like_ops() {
        assert_eq!(
            kind_of("relation-get", 2, "ERROR invalid value \"db:99\" for flag -r: relation not found\n"),
            ToolErrorKind::RelationNotFound
        );
        assert_eq!(
            kind_of("secret-get", 1, "ERROR secret \"abc\" not found\n"),
            ToolErrorKind::SecretNotFound
        );
        assert_eq!(kind_of("secret-get", 1, "ERROR permission denied\n"), ToolErrorKind::PermissionDenied);
        assert_eq!(
            kind_of("relation-set", 1, "ERROR cannot write relation settings\n"),
            ToolErrorKind::NotLeader
        );
        assert_eq!(kind_of("secret-add", 1, "ERROR this unit is not the leader\n"), ToolErrorKind::NotLeader);
        assert_eq!(
            kind_of("status-set", 2, "ERROR invalid args, require <status> [message]\n"),
            ToolErrorKind::BadArguments
        );
        assert_eq!(kind_of("config-get", 1, "ERROR boom\n"), ToolErrorKind::Other);
        // "not found" only means a missing secret for the secret tools.
        assert_eq!(kind_of("state-get", 1, "ERROR \"k\" not found\n"), ToolErrorKind::Other);
    }

    #[test]
    fn redacts_literal_secret_values_but_keeps_flags_and_file_refs() {
        let args: Vec<String> =
            ["--label", "x", "password=hunter2", "key#file=/tmp/a/key", "--owner=application"]
                .map(String::from)
                .to_vec();
        let shown = RedactedCommand::new("secret-add", &args).to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("password=<redacted>"));
        assert!(shown.contains("key#file=/tmp/a/key"));
        assert!(shown.contains("--owner=application"));
    }

    #[test]
    fn error_message_names_command_code_and_stderr() {
        let error = HookToolError::failed(
            RedactedCommand::new("secret-set", &["secret:abc".into(), "k=v".into()]),
            "secret-set",
            1,
            "ERROR secret \"abc\" not found\n".into(),
        );
        assert_eq!(
            error.to_string(),
            "`secret-set secret:abc k=<redacted>` failed with exit code 1: ERROR secret \"abc\" not found"
        );
    }
}
