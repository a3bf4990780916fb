//! Replays, on stable and without libFuzzer, every committed seed (`corpus/<target>/`) and every
//! crash the fuzzers found (`regressions/<target>/`) through its target's function: a crash
//! found once stays fixed.

use std::fs;
use std::path::Path;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 5] = [
    ("registration", synapse_k8s_fuzz::registration),
    ("hook_tools", synapse_k8s_fuzz::hook_tools),
    ("yaml", synapse_k8s_fuzz::yaml),
    ("pebble_response", synapse_k8s_fuzz::pebble_response),
    ("charm_config", synapse_k8s_fuzz::charm_config),
];

#[test]
fn every_seed_and_regression_runs_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, target) in TARGETS {
        let mut inputs = 0;
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = fs::read_dir(root.join(dir).join(name)) else { continue };
            for entry in entries.flatten() {
                let data = fs::read(entry.path()).expect("a readable input");
                target(&data);
                inputs += 1;
            }
        }
        assert!(inputs > 0, "no seed for the {name} target: add some to corpus/{name}/");
    }
}
