//! An example charm requiring the `matrix_auth` interface, for Rust charm authors to copy.
//!
//! Juju runs `dispatch`, which execs this binary for every hook. The binary reads the hook
//! context, routes logging to `juju-log` and runs [`charm::run`]: one reconcile that
//!
//! 1. parses the options ([`config`]);
//! 2. finds the `matrix-auth` relation and reads the provider's data with
//!    [`matrix_auth::ProviderView::read`], which reports incomplete data as "not ready" (status
//!    Waiting) instead of failing the hook as both Python requirers do;
//! 3. in bidirectional mode (the IRC bridge's way) renders an appservice registration
//!    ([`registration`]) with tokens kept in an application secret ([`stored_tokens`]) or
//!    fresh on every reconcile (`rotate-tokens`), and on the leader publishes it with
//!    [`matrix_auth::publish_registration`], which encrypts it with the provider's Fernet key
//!    and writes only when the plaintext changed;
//! 4. in unidirectional mode (maubot's way) only uses the homeserver URL and shared secret;
//! 5. records fingerprints of what it received in the unit state ([`report`]) and sets one
//!    status: `ready: <homeserver>`, `waiting for matrix-auth provider data` or
//!    `matrix-auth relation missing`.

mod charm;
mod config;
mod registration;
mod report;
mod stored_tokens;

fn main() -> std::process::ExitCode {
    juju::charm_main(charm::run)
}
