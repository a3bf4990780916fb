//! The accept loop on the unix socket: one HTTP/1.1 connection task per client (with
//! upgrades for websockets), injected connection drops, availability switching (socket removed and connections dropped
//! while "unavailable"), and shutdown.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::SimError;
use crate::state::Shared;

/// Requests from the [`crate::PebbleSim`] handle to the server task.
#[derive(Debug)]
pub enum Command {
    SetAvailable(bool, std::sync::mpsc::Sender<Result<(), SimError>>),
    Shutdown,
}

/// Binds the socket, replacing a stale socket file left by an earlier run.
pub fn bind(socket: &Path) -> Result<UnixListener, SimError> {
    let bind_error = |source| SimError::Bind { path: socket.to_path_buf(), source };
    if std::fs::symlink_metadata(socket).is_ok_and(|m| m.file_type().is_socket()) {
        std::fs::remove_file(socket).map_err(bind_error)?;
    }
    UnixListener::bind(socket).map_err(bind_error)
}

/// Serves until [`Command::Shutdown`] (or the handle is gone), then stops every process.
pub async fn serve(
    shared: Arc<Shared>,
    socket: PathBuf,
    listener: UnixListener,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut listener = Some(listener);
    let mut connections = CancellationToken::new();
    loop {
        tokio::select! {
            accepted = accept(listener.as_ref()) => {
                // A failed accept (e.g. the client hung up at once) only concerns that client.
                if let Ok(stream) = accepted {
                    tokio::spawn(serve_connection(Arc::clone(&shared), stream, connections.child_token()));
                }
            }
            command = commands.recv() => match command {
                Some(Command::SetAvailable(true, reply)) => {
                    let outcome = match listener {
                        Some(_) => Ok(()),
                        None => bind(&socket).map(|bound| listener = Some(bound)),
                    };
                    // The handle may have stopped waiting; nothing to report to then.
                    let _ = reply.send(outcome);
                }
                Some(Command::SetAvailable(false, reply)) => {
                    if listener.take().is_some() {
                        remove_socket(&socket);
                        connections.cancel();
                        connections = CancellationToken::new();
                    }
                    let _ = reply.send(Ok(()));
                }
                Some(Command::Shutdown) | None => break,
            },
        }
    }
    if listener.take().is_some() {
        remove_socket(&socket);
    }
    connections.cancel();
    crate::handle::reset_runtime_state(&shared, false);
}

async fn accept(listener: Option<&UnixListener>) -> io::Result<UnixStream> {
    match listener {
        Some(listener) => listener.accept().await.map(|(stream, _)| stream),
        None => std::future::pending().await,
    }
}

async fn serve_connection(shared: Arc<Shared>, stream: UnixStream, closed: CancellationToken) {
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move {
            let response = crate::api::handle(Arc::clone(&shared), request).await;
            let mut state = shared.lock();
            match state.drop_at_request {
                Some(1) => {
                    state.drop_at_request = None;
                    Err(DroppedByFault)
                }
                Some(later) => {
                    state.drop_at_request = Some(later - 1);
                    Ok(response)
                }
                None => Ok(response),
            }
        }
    });
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service).with_upgrades();
    tokio::select! {
        // Connection errors (client went away mid-request) end only this connection.
        _ = connection => {}
        () = closed.cancelled() => {}
    }
}

/// The injected fault that ends a connection without the response to its request.
#[derive(Debug)]
struct DroppedByFault;

impl std::fmt::Display for DroppedByFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for DroppedByFault {}

fn remove_socket(socket: &Path) {
    // Already gone is fine: the point is that clients cannot connect.
    let _ = std::fs::remove_file(socket);
}
