#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| synapse_k8s_fuzz::yaml(data));
