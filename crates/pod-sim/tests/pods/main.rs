//! Simulated pods with real servers: reachability by pod DNS name inside a network and
//! nowhere else, parallel networks, cleanup on drop and after killed runs, a simulated
//! Pebble and the hooks' wrapper inside pods. They need root; without it they fail when
//! `CI` is set and are skipped loudly otherwise.

mod cleanup;
mod network;
mod pebble;
mod support;
