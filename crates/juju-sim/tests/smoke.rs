mod common;

use common::{sim, ShellCharm};
use juju_sim::AppSpec;

#[test]
fn deploy_runs_the_standard_sequence() {
    let charm = ShellCharm::new("name: demo\npeers:\n  cluster: {interface: demo}\ncontainers:\n  app: {}\n")
        .dispatch("juju-log \"ran $HOOK\"\nstatus-set active \"last $HOOK\"");
    let mut sim = sim();
    let runs = sim.deploy(AppSpec::charm("demo", charm.path()).units(2)).unwrap();
    for run in &runs { println!("{} {} {} {}", run.unit, run.hook, run.exit_code, run.stderr); }
    for log in &sim.model().logs { println!("{log:?}"); }
}
