//! Prints the figures as Markdown: a summary table, the details of every event, the targets
//! with their verdicts, and the packed charm's size.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::charms::Flavor;
use crate::pack::PackedSize;
use crate::sample::{Range, Sample, Summary};
use crate::scenarios::{EventFigures, ScaleStep};

/// Wall time per hook at most this share of the Python reference's, in a model with at most
/// one requirer...
const WALL_RATIO_TARGET: f64 = 0.08;
/// ... and with more (10 or 100).
const WALL_RATIO_TARGET_MANY: f64 = 0.15;
/// The charm process's own CPU time at most this share of the reference's.
const OWN_CPU_RATIO_TARGET: f64 = 0.03;
/// Hook-tool calls each further related requirer may add to relation-changed.
const CALLS_PER_RELATION_TARGET: f64 = 2.0;
const RSS_TARGET_KIB: u64 = 10 * 1024;
const PACKED_TARGET_BYTES: u64 = 5 * 1024 * 1024;

pub fn print(events: &[EventFigures], packed: &PackedSize, reps: usize) {
    println!("## Hook cost: Rust charm vs. Python ops reference\n");
    println!(
        "Median of {reps} runs per charm and event (after one warm-up run each; the charms alternate), in the \
         simulated Juju (juju-sim) and Pebble (pebble-sim). Cells: Rust / Python / ratio Rust÷Python.\n"
    );
    println!(
        "| event | wall time (ms) | CPU user+sys (ms) | charm's own CPU (ms) | charm peak RSS (MiB) | hook-tool calls | \
         Pebble requests |"
    );
    println!("|---|---|---|---|---|---|---|");
    for event in events {
        let (rust, python) = pair(event);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            event.name,
            triple(ms(rust.wall()), ms(python.wall())),
            triple(ms(rust.cpu()), ms(python.cpu())),
            triple(ms(rust.charm_cpu()), ms(python.charm_cpu())),
            rss_triple(rust.charm_rss_kib(), python.charm_rss_kib()),
            count_triple(rust.range(Sample::total_calls), python.range(Sample::total_calls)),
            count_triple(rust.range(pebble_total), python.range(pebble_total)),
        );
    }
    println!(
        "\nWall time: the hook process from start to exit. CPU: user+sys of the hook process and every process \
         it waited for (its hook tools). The charm's own CPU and peak RSS: the charm process alone (CPU-time \
         clock and VmHWM, read by each hook tool from its caller; exact up to the charm's last tool call).\n"
    );
    scale_steps(events);
    println!(
        "Packed charm: {:.2} MiB ({} bytes; binary {:.2} MiB).\n",
        mib(packed.charm),
        packed.charm,
        mib(packed.binary)
    );
    for event in events {
        details(event);
    }
    targets(events, packed);
}

fn pair(event: &EventFigures) -> (&Summary, &Summary) {
    (&event.summaries[&Flavor::Rust], &event.summaries[&Flavor::Python])
}

fn details(event: &EventFigures) {
    let (rust, python) = pair(event);
    println!("### {}\n", event.name);
    println!("| | Rust | Python |\n|---|---|---|");
    println!("| hook tools' CPU (ms) | {:.1} | {:.1} |", ms(rust.tools_cpu()), ms(python.tools_cpu()));
    println!("| hook tools' CPU per call (ms) | {:.2} | {:.2} |", per_call(rust), per_call(python));
    println!(
        "| peak RSS of one juju-sim-tool (MiB) | {:.1} | {:.1} |",
        kib_to_mib(rust.tools_rss_kib()),
        kib_to_mib(python.tools_rss_kib())
    );
    for (label, count) in [
        ("relation-set", (|s: &Sample| s.count("relation-set")) as fn(&Sample) -> usize),
        ("secret writes (add/set/grant/revoke/remove)", Sample::secret_writes),
        ("container files written or removed", |s: &Sample| s.files_written),
        ("Synapse (re)starts", |s: &Sample| s.restarts as usize),
        ("other services' (re)starts (federation sender, nginx)", |s: &Sample| s.other_starts as usize),
    ] {
        println!("| {label} | {} | {} |", rust.range(count), python.range(count));
    }
    let mut tools: Vec<&str> = rust.tools().chain(python.tools()).collect();
    tools.sort_unstable();
    tools.dedup();
    for tool in tools {
        println!("| `{tool}` | {} | {} |", rust.range(|s| s.count(tool)), python.range(|s| s.count(tool)));
    }
    let mut kinds: Vec<&str> = rust.pebble_kinds().chain(python.pebble_kinds()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    for kind in kinds {
        let count = |s: &Sample| s.pebble.get(kind).copied().unwrap_or(0);
        println!("| Pebble `{kind}` | {} | {} |", rust.range(count), python.range(count));
    }
    if let Some(steps) = &event.scale_step {
        let (rust, python) = (&steps[&Flavor::Rust], &steps[&Flavor::Python]);
        println!(
            "| **scale step {} → {} units** (`juju add-unit`, every hook once, not repeated) | | |",
            rust.from,
            rust.from + 1
        );
        println!(
            "| units already there that restarted anything | {} of {} | {} of {} |",
            rust.units_restarted, rust.from, python.units_restarted, python.from
        );
        let mut services: Vec<&str> =
            rust.existing_starts.keys().chain(python.existing_starts.keys()).copied().collect();
        services.sort_unstable();
        services.dedup();
        for service in services {
            let count = |step: &ScaleStep| step.existing_starts.get(service).copied().unwrap_or(0);
            println!("| `{service}` starts on those units | {} | {} |", count(rust), count(python));
        }
        println!("| hooks run on those units | {} | {} |", rust.existing_hooks, python.existing_hooks);
        println!(
            "| the new unit: hooks, service starts | {}, {} | {}, {} |",
            rust.new_unit_hooks, rust.new_unit_starts, python.new_unit_hooks, python.new_unit_starts
        );
        println!(
            "| every hook of the step, wall (s) | {:.1} | {:.1} |",
            rust.wall.as_secs_f64(),
            python.wall.as_secs_f64()
        );
    }
    println!();
}

/// Synapse process restarts per scale step, for every scaled-out model measured.
fn scale_steps(events: &[EventFigures]) {
    let steps: Vec<&BTreeMap<Flavor, ScaleStep>> =
        events.iter().filter_map(|event| event.scale_step.as_ref()).collect();
    if steps.is_empty() {
        return;
    }
    println!("Restarts per scale step (`juju add-unit synapse`, N → N+1): Pebble service starts on the N units that were already there (every service), Rust / Python:\n");
    println!(
        "| scale step | service starts on existing units | units that restarted | hooks on existing units |"
    );
    println!("|---|---|---|---|");
    for step in steps {
        let (rust, python) = (&step[&Flavor::Rust], &step[&Flavor::Python]);
        println!(
            "| {} → {} | {} / {} | {} / {} | {} / {} |",
            rust.from,
            rust.from + 1,
            rust.existing_total(),
            python.existing_total(),
            rust.units_restarted,
            python.units_restarted,
            rust.existing_hooks,
            python.existing_hooks,
        );
    }
    println!();
}

fn targets(events: &[EventFigures], packed: &PackedSize) {
    println!("### Targets\n");
    for event in events {
        let (rust, python) = pair(event);
        let ratio = ms(rust.wall()) / ms(python.wall());
        let target = if event.relations > 1 { WALL_RATIO_TARGET_MANY } else { WALL_RATIO_TARGET };
        verdict(
            ratio <= target,
            &format!("{}: wall time ratio {ratio:.3} (target ≤ {target:.2})", event.name),
        );
        let own = ms(rust.charm_cpu()) / ms(python.charm_cpu());
        verdict(
            own <= OWN_CPU_RATIO_TARGET,
            &format!(
                "{}: the charm's own CPU ratio {own:.3} (target ≤ {OWN_CPU_RATIO_TARGET:.2})",
                event.name
            ),
        );
        let rss = rust.charm_rss_kib();
        verdict(
            rss <= RSS_TARGET_KIB,
            &format!("{}: Rust charm peak RSS {:.1} MiB (target ≤ 10)", event.name, kib_to_mib(rss)),
        );
        let (rust_calls, python_calls) = (rust.range(Sample::total_calls), python.range(Sample::total_calls));
        verdict(
            rust_calls.max <= python_calls.min,
            &format!("{}: hook-tool calls {rust_calls} vs. Python {python_calls}", event.name),
        );
        if event.changes_nothing {
            let writes = [
                ("relation-set", rust.range(|s| s.count("relation-set"))),
                ("secret writes", rust.range(Sample::secret_writes)),
                ("file writes", rust.range(|s| s.files_written)),
                ("restarts", rust.range(|s| (s.restarts + s.other_starts) as usize)),
            ];
            let text: Vec<String> = writes.iter().map(|(what, range)| format!("{what} {range}")).collect();
            verdict(
                writes.iter().all(|(_, range)| range.max == 0),
                &format!("{} (nothing changed): Rust makes {}", event.name, text.join(", ")),
            );
        }
    }
    for event in events {
        if let Some(steps) = &event.scale_step {
            let (rust, python) = (&steps[&Flavor::Rust], &steps[&Flavor::Python]);
            verdict(
                rust.existing_total() == 0,
                &format!(
                    "scale step {} → {}: Rust restarts {} processes on the units already there (target 0), Python {}",
                    rust.from,
                    rust.from + 1,
                    rust.existing_total(),
                    python.existing_total()
                ),
            );
        }
    }
    for flavor in Flavor::BOTH {
        if let Some(fit) = linear_fit(events, flavor) {
            let per_relation_ok = flavor != Flavor::Rust || fit.per_relation <= CALLS_PER_RELATION_TARGET;
            verdict(
                fit.max_deviation <= 1.0 && per_relation_ok,
                &format!(
                    "{flavor}: hook-tool calls of relation-changed = {:.1} + {:.2}·N for N related requirers \
                     (every measured N within ±{:.1}; target for this charm ≤ {CALLS_PER_RELATION_TARGET:.0} per \
                     requirer)",
                    fit.constant, fit.per_relation, fit.max_deviation
                ),
            );
        }
    }
    verdict(
        packed.charm <= PACKED_TARGET_BYTES,
        &format!("packed charm {:.2} MiB (target ≤ 5)", mib(packed.charm)),
    );
    println!();
}

/// Calls = constant + per_relation·N through the relation-changed figures with the fewest and
/// the most relations.
struct LinearFit {
    constant: f64,
    per_relation: f64,
    /// The largest distance of any measured point from the line, in calls.
    max_deviation: f64,
}

/// `None` without relation-changed figures for two different relation counts.
fn linear_fit(events: &[EventFigures], flavor: Flavor) -> Option<LinearFit> {
    let mut points: Vec<(f64, f64)> = events
        .iter()
        .filter(|event| event.relation_changed)
        .map(|event| (event.relations as f64, event.summaries[&flavor].range(Sample::total_calls).max as f64))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (first, last) = (*points.first()?, *points.last()?);
    if last.0 <= first.0 {
        return None;
    }
    let per_relation = (last.1 - first.1) / (last.0 - first.0);
    let constant = first.1 - per_relation * first.0;
    let max_deviation =
        points.iter().map(|(n, calls)| (calls - constant - per_relation * n).abs()).fold(0.0, f64::max);
    Some(LinearFit { constant, per_relation, max_deviation })
}

/// The hook tools' CPU time per call, ms (medians of both).
fn per_call(summary: &Summary) -> f64 {
    let calls = summary.range(Sample::total_calls).max.max(1);
    ms(summary.tools_cpu()) / calls as f64
}

fn verdict(met: bool, text: &str) {
    println!("- {} {text}", if met { "✅" } else { "❌" });
}

fn pebble_total(sample: &Sample) -> usize {
    sample.pebble.values().sum()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn triple(rust: f64, python: f64) -> String {
    format!("{rust:.1} / {python:.1} / {:.3}", rust / python)
}

fn rss_triple(rust: u64, python: u64) -> String {
    format!("{:.1} / {:.1} / {:.3}", kib_to_mib(rust), kib_to_mib(python), rust as f64 / python.max(1) as f64)
}

fn count_triple(rust: Range, python: Range) -> String {
    format!("{rust} / {python} / {:.2}", rust.max as f64 / python.max.max(1) as f64)
}
