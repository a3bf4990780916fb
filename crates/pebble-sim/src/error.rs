//! Errors of starting and controlling the simulator (API errors are responses, not these).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("container root {path:?} is not a directory")]
    RootNotADirectory { path: PathBuf },
    #[error("cannot bind socket {path:?}: {source}")]
    Bind {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the simulator runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("the simulator thread has stopped")]
    Stopped,
}
