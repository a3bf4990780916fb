//! `open-port`, `close-port` (buffered) and `opened-ports` (committed ports only).

use std::collections::{BTreeMap, BTreeSet};

use super::flags::Flag;
use super::format::Out;
use super::{check_empty, Call, Failure, Tool, SMART};
use crate::model::{Change, PortRange};

const PORT_FLAGS: &[Flag] = &[
    Flag::value(&["format"], "deprecated format flag"),
    Flag::value(
        &["endpoints"],
        "a comma-delimited list of application endpoints to target with this operation",
    ),
];
const PORT_ARGS: &str = "<port>[/<protocol>] or <from>-<to>[/<protocol>] or icmp";

pub(crate) const OPEN: Tool = Tool {
    name: "open-port",
    args: PORT_ARGS,
    purpose: "Register a request to open a port or port range.",
    flags: PORT_FLAGS,
    output: None,
    run: open,
};

pub(crate) const CLOSE: Tool = Tool {
    name: "close-port",
    args: PORT_ARGS,
    purpose: "Register a request to close a port or port range.",
    flags: PORT_FLAGS,
    output: None,
    run: close,
};

pub(crate) const OPENED: Tool = Tool {
    name: "opened-ports",
    args: "",
    purpose: "List all ports or port ranges opened by the unit.",
    flags: &[Flag::bool(
        &["endpoints"],
        "display the list of target application endpoints for each port range",
    )],
    output: SMART,
    run: opened,
};

fn open(call: &mut Call) -> Result<(), Failure> {
    change_port(call, "open-port", true)
}

fn close(call: &mut Call) -> Result<(), Failure> {
    change_port(call, "close-port", false)
}

fn change_port(call: &mut Call, name: &str, open: bool) -> Result<(), Failure> {
    let args = &call.parsed.positional;
    let Some(spec) = args.first() else {
        return Err(Failure::Usage("no port or range specified".to_owned()));
    };
    let range = PortRange::parse(&spec.to_lowercase()).map_err(Failure::Usage)?;
    check_empty(&args[1..])?;
    if call.parsed.value("format").is_some() {
        call.stderr.extend(format!("--format flag deprecated for command \"{name}\"").bytes());
    }
    if range.is_range() {
        return Err(Failure::Runtime(
            "port ranges are not supported for k8s applications, please specify a single port".to_owned(),
        ));
    }
    let endpoints: Vec<String> = match call.parsed.value("endpoints") {
        None | Some("") => vec![String::new()],
        Some(list) => list.split(',').map(|e| e.trim().to_owned()).collect(),
    };
    for endpoint in endpoints {
        call.ctx.pending.push(if open {
            Change::OpenPort { endpoint, range }
        } else {
            Change::ClosePort { endpoint, range }
        });
    }
    Ok(())
}

fn opened(call: &mut Call) -> Result<(), Failure> {
    check_empty(&call.parsed.positional)?;
    let ctx = &*call.ctx;
    let grouped = ctx.model.unit(&ctx.unit).map(|unit| unit.opened_ports.clone()).unwrap_or_default();
    let mut by_range: BTreeMap<PortRange, BTreeSet<String>> = BTreeMap::new();
    for (endpoint, ranges) in grouped {
        for range in ranges {
            by_range.entry(range).or_default().insert(endpoint.clone());
        }
    }
    let lines: Vec<String> = if call.parsed.flag("endpoints") {
        by_range
            .into_iter()
            .map(|(range, endpoints)| {
                let described = if endpoints.contains("") {
                    "*".to_owned()
                } else {
                    endpoints.into_iter().collect::<Vec<_>>().join(", ")
                };
                format!("{range} ({described})")
            })
            .collect()
    } else {
        by_range.into_keys().map(|range| range.to_string()).collect()
    };
    call.write(Out::List(lines))
}
