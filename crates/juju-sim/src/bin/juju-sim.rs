//! `juju-sim run <scenario.yaml> [--format yaml|json] [--show-secrets]`: runs a scenario against
//! the simulator and prints the resulting model. Exits 1 (still printing the report, with an
//! `error` entry) if a step fails.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use juju_sim::scenario::{report, Scenario};
use juju_sim::Simulator;

const USAGE: &str = "usage: juju-sim run <scenario.yaml> [--format yaml|json] [--show-secrets]";

struct Options {
    scenario: PathBuf,
    json: bool,
    show_secrets: bool,
}

fn parse_args(args: &[String]) -> anyhow::Result<Options> {
    let mut iter = args.iter();
    if iter.next().map(String::as_str) != Some("run") {
        bail!("{USAGE}");
    }
    let mut scenario = None;
    let mut json = false;
    let mut show_secrets = false;
    while let Some(arg) = iter.next() {
        let format = match arg.as_str() {
            "--show-secrets" => {
                show_secrets = true;
                continue;
            }
            "--format" => iter.next().map(String::as_str),
            other if other.starts_with("--format=") => other.strip_prefix("--format="),
            other if other.starts_with('-') => bail!("unknown option {other}\n{USAGE}"),
            other => {
                if scenario.replace(PathBuf::from(other)).is_some() {
                    bail!("only one scenario file may be given\n{USAGE}");
                }
                continue;
            }
        };
        json = match format {
            Some("json") => true,
            Some("yaml") => false,
            _ => bail!("--format takes yaml or json\n{USAGE}"),
        };
    }
    let scenario = scenario.with_context(|| USAGE.to_owned())?;
    Ok(Options { scenario, json, show_secrets })
}

/// `juju-sim-tool` next to this binary (as built or installed), else the usual search.
fn tool() -> anyhow::Result<PathBuf> {
    if std::env::var_os(juju_sim::TOOL_ENV).is_none() {
        let exe = std::env::current_exe().context("cannot find the juju-sim executable")?;
        let sibling = exe.with_file_name("juju-sim-tool");
        if sibling.exists() {
            return Ok(sibling);
        }
    }
    Ok(juju_sim::tool_path()?)
}

fn run(options: &Options) -> anyhow::Result<bool> {
    let text = std::fs::read_to_string(&options.scenario)
        .with_context(|| format!("cannot read {}", options.scenario.display()))?;
    let base = options.scenario.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let scenario = Scenario::parse(&text, base)?;
    let mut sim = Simulator::with_tool(tool()?)?;
    let outcome = scenario.run(&mut sim);
    let mut output = report(&sim, options.show_secrets);
    if let Err(error) = &outcome {
        output["error"] = serde_json::Value::String(error.to_string());
    }
    let text = if options.json {
        serde_json::to_string_pretty(&output)? + "\n"
    } else {
        serde_norway::to_string(&output)?
    };
    print!("{text}");
    Ok(outcome.is_ok())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = parse_args(&args).and_then(|options| run(&options));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("juju-sim: {error:#}");
            ExitCode::from(2)
        }
    }
}
