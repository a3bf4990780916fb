//! The hook tools: argv in, stdout, stderr and exit code out, against a [`HookContext`]. The
//! `juju-sim-tool` binary and the in-process runner both go through [`HookContext::invoke`].
//!
//! Exit codes follow Juju: 0 success, 2 for flag and argument errors, 1 for runtime errors,
//! each error printed as `ERROR <message>` on stderr.

mod action;
mod flags;
mod format;
mod misc;
mod ports;
mod relation;
mod secret;
mod secret_content;
mod state;
mod status;

use std::fs;
use std::io;
use std::time::Instant;

use juju::ToolOutput;

use crate::context::{HookContext, ToolCall};
use flags::{Flag, Outcome, Parsed};
use format::{Format, Out};

pub(crate) use flags::go_quote;

/// Names of every hook tool the simulator provides.
pub fn tool_names() -> impl Iterator<Item = &'static str> {
    TOOLS.iter().map(|tool| tool.name)
}

/// Supplies the tool's standard input when (and only when) it asks for it.
pub type Stdin<'a> = dyn FnMut() -> io::Result<Vec<u8>> + 'a;

impl HookContext {
    /// Runs one hook tool against this context and records the call.
    pub fn invoke(&mut self, tool: &str, args: &[String], stdin: &mut Stdin) -> ToolOutput {
        let started = Instant::now();
        let mut stdin_seen = None;
        let output = {
            let mut reader = || {
                let bytes = stdin()?;
                stdin_seen = Some(String::from_utf8_lossy(&bytes).into_owned());
                Ok(bytes)
            };
            match self.fault_now() {
                Some(crate::context::ToolFaultKind::Fail) => ToolOutput {
                    code: 1,
                    stdout: Vec::new(),
                    stderr: crate::context::TRANSIENT_ERROR.as_bytes().to_vec(),
                    signal: None,
                },
                _ => run(self, tool, args, &mut reader),
            }
        };
        let call = redact(ToolCall {
            tool: tool.to_owned(),
            args: args.to_vec(),
            stdin: stdin_seen,
            exit_code: output.code,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            duration_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        });
        self.calls.push(call);
        output
    }
}

/// Keeps secret values out of call records.
fn redact(mut call: ToolCall) -> ToolCall {
    const REDACTED: &str = "<redacted>";
    match call.tool.as_str() {
        "secret-get" if call.exit_code == 0 => call.stdout = REDACTED.to_owned(),
        "secret-add" | "secret-set" | "action-set" => {
            for arg in &mut call.args {
                if let Some((key, _)) = arg.split_once('=') {
                    if !arg.starts_with('-') && !key.ends_with("#file") {
                        *arg = format!("{key}={REDACTED}");
                    }
                }
            }
            if call.stdin.is_some() {
                call.stdin = Some(REDACTED.to_owned());
            }
        }
        _ => {}
    }
    call
}

/// How a tool failed: a usage error (exit 2) or a runtime error (exit 1).
#[derive(Debug)]
pub(crate) enum Failure {
    Usage(String),
    Runtime(String),
}

/// One tool invocation in progress.
pub(crate) struct Call<'a, 'b> {
    pub ctx: &'a mut HookContext,
    pub parsed: Parsed,
    stdin: &'a mut Stdin<'b>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    format: Format,
    output_path: Option<String>,
}

impl Call<'_, '_> {
    /// Writes a value in the chosen format to stdout or the `-o` file.
    pub fn write(&mut self, out: Out) -> Result<(), Failure> {
        let bytes = out.render(self.format);
        match &self.output_path {
            Some(path) => fs::write(path, bytes)
                .map_err(|e| Failure::Runtime(format!("open {path}: {}", os_error_text(&e)))),
            None => {
                self.stdout.extend(bytes);
                Ok(())
            }
        }
    }

    /// Reads a `--file` argument: `-` means stdin.
    pub fn read_file(&mut self, path: &str) -> Result<Vec<u8>, Failure> {
        if path == "-" {
            return (self.stdin)().map_err(|e| Failure::Runtime(format!("read stdin: {e}")));
        }
        fs::read(path).map_err(|e| Failure::Runtime(format!("open {path}: {}", os_error_text(&e))))
    }

    /// The `-r` relation, defaulting to the hook's relation.
    pub fn relation_id(&self) -> Option<u32> {
        match self.parsed.value("r") {
            Some(value) => parse_relation_id(value).ok(),
            None => self.ctx.hook.relation.as_ref().map(|relation| relation.id),
        }
    }

    pub fn require_relation(&self) -> Result<u32, Failure> {
        self.relation_id().ok_or_else(|| Failure::Usage("no relation id specified".to_owned()))
    }

    pub fn format(&self) -> Format {
        self.format
    }
}

/// Go's error text for an OS error (`no such file or directory`).
pub(crate) fn os_error_text(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => error.to_string(),
    }
}

/// `cmd.CheckEmpty`.
pub(crate) fn check_empty(args: &[String]) -> Result<(), Failure> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(Failure::Usage(format!("unrecognized args: {}", flags::go_quote_list(args))))
    }
}

fn parse_relation_id(value: &str) -> Result<u32, String> {
    let trimmed = value.rsplit_once(':').map_or(value, |(_, id)| id);
    trimmed.parse::<u32>().map_err(|_| "invalid relation id".to_owned())
}

/// A hook tool: its flags, output formats and implementation.
pub(crate) struct Tool {
    pub name: &'static str,
    pub args: &'static str,
    pub purpose: &'static str,
    pub flags: &'static [Flag],
    /// Default and accepted `--format` values; `None` for tools without output flags.
    pub output: Option<(Format, &'static [Format])>,
    pub run: fn(&mut Call) -> Result<(), Failure>,
}

pub(crate) const ALL_FORMATS: &[Format] = &[Format::Smart, Format::Yaml, Format::Json];
pub(crate) const YAML_JSON: &[Format] = &[Format::Yaml, Format::Json];
pub(crate) const SMART: Option<(Format, &[Format])> = Some((Format::Smart, ALL_FORMATS));

const OUTPUT_FLAGS: &[Flag] = &[
    Flag::value(&["format"], "Specify output format"),
    Flag::value(&["o", "output"], "Specify an output file"),
];

const TOOLS: &[Tool] = &[
    relation::IDS,
    relation::LIST,
    relation::GET,
    relation::SET,
    relation::MODEL_GET,
    misc::CONFIG_GET,
    misc::IS_LEADER,
    status::SET,
    status::GET,
    status::APPLICATION_VERSION_SET,
    misc::JUJU_LOG,
    action::GET,
    action::SET,
    action::FAIL,
    action::LOG,
    secret::ADD,
    secret::GET,
    secret::SET,
    secret::GRANT,
    secret::REVOKE,
    secret::REMOVE,
    secret::IDS,
    secret::INFO_GET,
    state::GET,
    state::SET,
    state::DELETE,
    misc::GOAL_STATE,
    misc::NETWORK_GET,
    ports::OPEN,
    ports::CLOSE,
    ports::OPENED,
    misc::UNIT_GET,
    misc::LEADER_GET,
    misc::LEADER_SET,
    misc::STORAGE_GET,
    misc::STORAGE_LIST,
    misc::RESOURCE_GET,
    misc::CREDENTIAL_GET,
];

fn run(ctx: &mut HookContext, name: &str, args: &[String], stdin: &mut Stdin) -> ToolOutput {
    let Some(tool) = TOOLS.iter().find(|tool| tool.name == name) else {
        return error_output(1, &format!("unknown command {}", go_quote(name)));
    };
    let mut all_flags: Vec<Flag> = tool.flags.to_vec();
    if tool.output.is_some() {
        all_flags.extend_from_slice(OUTPUT_FLAGS);
    }
    let formats = tool.output.map_or(ALL_FORMATS, |(_, allowed)| allowed);
    let parsed = {
        let ctx: &HookContext = ctx;
        let formats = tool.output.map(|_| formats);
        let mut validate = |flag: &'static str, value: &str| validate_flag(ctx, flag, value, formats);
        match flags::parse(&all_flags, args, &mut validate) {
            Ok(Outcome::Parsed(parsed)) => parsed,
            Ok(Outcome::Help) => {
                return ToolOutput {
                    signal: None,
                    code: 0,
                    stdout: help(ctx, tool, &all_flags).into_bytes(),
                    stderr: Vec::new(),
                }
            }
            Err(message) => return error_output(2, &message),
        }
    };
    let format = match (parsed.value("format"), tool.output) {
        (Some(text), _) => Format::parse(text, formats).unwrap_or(Format::Smart),
        (None, Some((default, _))) => default,
        (None, None) => Format::Smart,
    };
    let output_path = parsed.value("o").map(str::to_owned);
    let mut call = Call { ctx, parsed, stdin, stdout: Vec::new(), stderr: Vec::new(), format, output_path };
    let result = (tool.run)(&mut call);
    let (code, message) = match result {
        Ok(()) => (0, None),
        Err(Failure::Usage(message)) => (2, Some(message)),
        Err(Failure::Runtime(message)) => (1, Some(message)),
    };
    let mut stderr = call.stderr;
    if let Some(message) = message {
        stderr.extend(format!("ERROR {message}\n").into_bytes());
    }
    ToolOutput { code, signal: None, stdout: call.stdout, stderr }
}

fn error_output(code: i32, message: &str) -> ToolOutput {
    ToolOutput { code, signal: None, stdout: Vec::new(), stderr: format!("ERROR {message}\n").into_bytes() }
}

/// Checks typed flag values while parsing, as Go's `flag.Value.Set` does. `formats` is `None`
/// for tools whose `--format` is a deprecated free-form flag.
fn validate_flag(
    ctx: &HookContext,
    flag: &str,
    value: &str,
    formats: Option<&[Format]>,
) -> Result<(), String> {
    match flag {
        "r" => {
            let id = parse_relation_id(value)?;
            relation::visible(ctx, id).map(|_| ()).ok_or_else(|| "relation not found".to_owned())
        }
        "format" => formats.map_or(Ok(()), |formats| Format::parse(value, formats).map(|_| ())),
        "revision" => value
            .parse::<i64>()
            .map(|_| ())
            .map_err(|_| format!("strconv.ParseInt: parsing {}: invalid syntax", go_quote(value))),
        "s" => misc::validate_storage_id(ctx, value),
        _ => Ok(()),
    }
}

fn help(ctx: &HookContext, tool: &Tool, flags: &[Flag]) -> String {
    let mut text =
        format!("Usage: {} [options] {}\n\nSummary:\n{}\n\nOptions:\n", tool.name, tool.args, tool.purpose);
    for flag in flags {
        let names: Vec<String> = flag
            .names
            .iter()
            .map(|name| if name.len() == 1 { format!("-{name}") } else { format!("--{name}") })
            .collect();
        let default = match (flag.kind, flag.names[0]) {
            (flags::FlagKind::Bool, _) => "false".to_owned(),
            (_, "format") => tool.output.map_or("smart", |(f, _)| f.name()).to_owned(),
            (_, "r") => ctx
                .hook
                .relation
                .as_ref()
                .map_or_else(|| "\"\"".to_owned(), |r| format!("{}:{}", r.endpoint, r.id)),
            (_, "s") => ctx.hook.storage.clone().unwrap_or_else(|| "\"\"".to_owned()),
            _ => "\"\"".to_owned(),
        };
        text.push_str(&format!("{}  (= {default})\n    {}\n", names.join(", "), flag.help));
    }
    text
}

#[cfg(test)]
mod tests;
