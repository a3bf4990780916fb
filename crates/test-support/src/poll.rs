//! Waiting for something another thread or process does: poll a condition until it holds.

use std::thread;
use std::time::{Duration, Instant};

/// A generous limit for something that takes milliseconds on an idle machine: test machines
/// may be loaded 2-core ones.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// How often to look again, for things that happen within milliseconds.
pub const POLL: Duration = Duration::from_millis(20);

/// What a polled attempt returns: `true` or `Some(value)` when done, `false` or `None` to
/// try again.
pub trait Attempt {
    type Value;

    /// The value once done.
    fn done(self) -> Option<Self::Value>;
}

impl Attempt for bool {
    type Value = ();

    fn done(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Attempt for Option<T> {
    type Value = T;

    fn done(self) -> Option<T> {
        self
    }
}

/// Calls `attempt` every `poll` until it is done and returns its value, or `None` if
/// `timeout` passed first. The first attempt is made at once.
pub fn poll_until<A: Attempt>(
    timeout: Duration,
    poll: Duration,
    mut attempt: impl FnMut() -> A,
) -> Option<A::Value> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = attempt().done() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(poll);
    }
}

/// [`poll_until`] that panics naming `what` it waited for when `timeout` passed.
#[track_caller]
pub fn eventually<A: Attempt>(
    what: &str,
    timeout: Duration,
    poll: Duration,
    attempt: impl FnMut() -> A,
) -> A::Value {
    match poll_until(timeout, poll, attempt) {
        Some(value) => value,
        None => panic!("timed out after {timeout:?} waiting for {what}"),
    }
}
