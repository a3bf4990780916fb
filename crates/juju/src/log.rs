//! Logging through `tracing`: INFO and above go to `juju-log` (the unit's debug-log) with the
//! matching `--log-level`; DEBUG and TRACE go to stderr, which Juju keeps at WARNING in the
//! unit log only when the hook fails loudly. Secret values are never printed: keep them in
//! `secrecy::SecretString`, whose `Debug` is redacted and which has no `Display`.
//!
//! One thread sends the lines, in order, so the hook goes on while `juju-log` runs; the
//! [`LogFlush`] that [`init`] returns (or dropping the layer) waits for the last line.

use std::fmt::Write as _;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

use crate::lock;
use crate::runner::ToolRunner;
use crate::tools::{HookTools, LogLevel};

/// A `tracing` layer that forwards events to `juju-log` or stderr.
pub struct JujuLogLayer {
    queue: Arc<LogQueue>,
    stderr_debug: bool,
}

impl JujuLogLayer {
    /// `stderr_debug` prints DEBUG and TRACE events on stderr (otherwise they are dropped).
    pub fn new(runner: Arc<dyn ToolRunner + Send + Sync>, stderr_debug: bool) -> Self {
        let queue = LogQueue { tools: HookTools::from_shared(runner), sending: Mutex::default() };
        Self { queue: Arc::new(queue), stderr_debug }
    }

    /// What waits for the lines logged so far to reach `juju-log`.
    pub fn flush_handle(&self) -> LogFlush {
        LogFlush(Arc::clone(&self.queue))
    }
}

/// The lines on their way to `juju-log`, and the thread sending them (started by the first).
struct LogQueue {
    tools: HookTools,
    sending: Mutex<Option<Writer>>,
}

/// Where a line goes, and the thread that sends it to `juju-log`.
type Writer = (Sender<(LogLevel, String)>, JoinHandle<()>);

impl LogQueue {
    fn send(&self, level: LogLevel, line: String) {
        let mut sending = lock(&self.sending);
        let (lines, _) = sending.get_or_insert_with(|| {
            let (lines, queued) = mpsc::channel::<(LogLevel, String)>();
            let tools = self.tools.clone();
            let writer = std::thread::spawn(move || {
                for (level, line) in queued {
                    if tools.juju_log(level, &line).is_err() {
                        // juju-log itself is unavailable: stderr still reaches the unit log.
                        eprintln!("{level:?} {line}");
                    }
                }
            });
            (lines, writer)
        });
        // The writer only stops when the sender is gone.
        let _ = lines.send((level, line));
    }

    /// Waits for every line sent so far.
    fn flush(&self) {
        let sending = lock(&self.sending).take();
        if let Some((lines, writer)) = sending {
            drop(lines);
            let _ = writer.join();
        }
    }
}

impl Drop for LogQueue {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Waits, when dropped, for the lines logged so far to reach `juju-log`: hold it until the
/// hook ends.
#[must_use = "the lines still queued are lost unless the flush is held until the hook ends"]
pub struct LogFlush(Arc<LogQueue>);

impl Drop for LogFlush {
    fn drop(&mut self) {
        self.0.flush();
    }
}

impl<S: Subscriber> Layer<S> for JujuLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut text = MessageText::default();
        event.record(&mut text);
        let level = match *event.metadata().level() {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warning,
            Level::INFO => LogLevel::Info,
            Level::DEBUG | Level::TRACE => {
                if self.stderr_debug {
                    eprintln!("{} {}", event.metadata().level(), text.0);
                }
                return;
            }
        };
        self.queue.send(level, text.0);
    }
}

/// Formats an event as `message key=value ...`.
#[derive(Default)]
struct MessageText(String);

impl Visit for MessageText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
            // Put the message first, fields after it.
            if let Some(rest) = self.0.strip_suffix(&format!("{value:?}")) {
                if !rest.is_empty() {
                    self.0 = format!("{value:?} {}", rest.trim_end());
                }
            }
        } else {
            if !self.0.is_empty() {
                self.0.push(' ');
            }
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            if !self.0.is_empty() {
                self.0.push(' ');
            }
            let _ = write!(self.0, "{}={value}", field.name());
        }
    }
}

/// Installs the layer as the global subscriber for this hook process; hold the flush until
/// the hook ends. Debug output on stderr is enabled by `JUJU_DEBUG` or `CHARM_DEBUG` being set.
pub fn init(tools: &HookTools) -> LogFlush {
    let stderr_debug = std::env::var_os("JUJU_DEBUG").is_some() || std::env::var_os("CHARM_DEBUG").is_some();
    let layer = JujuLogLayer::new(tools.runner(), stderr_debug);
    let flush = layer.flush_handle();
    // A second call (tests running several charms in one process) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer));
    flush
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::ToolOutput;
    use secrecy::SecretString;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Calls(Mutex<Vec<Vec<String>>>);

    impl ToolRunner for Calls {
        fn run(&self, tool: &str, args: &[String], _: Option<&[u8]>) -> std::io::Result<ToolOutput> {
            let mut call = vec![tool.to_string()];
            call.extend(args.iter().cloned());
            self.0.lock().unwrap().push(call);
            Ok(ToolOutput::default())
        }
    }

    #[test]
    fn info_and_above_go_to_juju_log_with_levels_and_secrets_stay_hidden() {
        let calls = Arc::new(Calls::default());
        let subscriber = tracing_subscriber::registry().with(JujuLogLayer::new(calls.clone(), false));
        let token = SecretString::from("super-secret-token");
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(relation = "matrix-auth:3", "registration accepted");
            tracing::warn!(?token, "rejected");
            tracing::debug!("not sent to juju-log");
            tracing::error!("failed: {}", 42);
        });
        let calls = calls.0.lock().unwrap();
        assert_eq!(calls.len(), 3, "{calls:?}");
        assert_eq!(
            calls[0],
            ["juju-log", "--log-level", "INFO", "--", "registration accepted relation=matrix-auth:3"]
        );
        assert_eq!(calls[1][2], "WARNING");
        assert!(!calls[1][4].contains("super-secret-token"), "{:?}", calls[1]);
        assert_eq!(calls[2][4], "failed: 42");
    }
}
