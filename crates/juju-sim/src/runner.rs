//! Runs hook tools in-process: a [`juju::ToolRunner`] answering calls against a hook context
//! through the same code path as the `juju-sim-tool` binary, so charm logic can be tested
//! without spawning processes.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Mutex, MutexGuard};

use juju::{ToolOutput, ToolRunner};

use crate::context::HookContext;
use crate::driver::Event;

/// Answers hook-tool calls for one in-process hook. Create it with
/// [`crate::Simulator::in_process`] and hand it back to
/// [`crate::Simulator::finish_in_process`].
pub struct InProcessRunner {
    context: Mutex<HookContext>,
    env: BTreeMap<String, String>,
    event: Event,
}

impl InProcessRunner {
    pub(crate) fn new(context: HookContext, env: BTreeMap<String, String>, event: Event) -> Self {
        InProcessRunner { context: Mutex::new(context), env, event }
    }

    /// The environment the hook process would have had (`JUJU_UNIT_NAME`, ...).
    pub fn env(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// The hook context as it is now (pending changes, calls so far).
    pub fn context(&self) -> HookContext {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, HookContext> {
        // A panic in another caller cannot leave the context half-updated: invoke only
        // mutates through complete assignments, so the poisoned value is still consistent.
        self.context.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn into_parts(self) -> (HookContext, Event) {
        let context = self.context.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        (context, self.event)
    }
}

impl ToolRunner for InProcessRunner {
    fn run(&self, tool: &str, args: &[String], stdin: Option<&[u8]>) -> io::Result<ToolOutput> {
        let mut input = || Ok(stdin.map(<[u8]>::to_vec).unwrap_or_default());
        Ok(self.lock().invoke(tool, args, &mut input))
    }
}
