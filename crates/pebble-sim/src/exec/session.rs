//! Exec sessions waiting for their websockets, and the websocket upgrade of
//! `GET /v1/tasks/{task-id}/websocket/{id}` over the same unix socket.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use crate::response::{ApiError, HttpResponse};
use crate::state::Shared;

pub type WebSocket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Which websocket of an exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Channel {
    Control,
    Stdio,
    Stderr,
}

impl Channel {
    fn parse(id: &str) -> Option<Self> {
        Some(match id {
            "control" => Channel::Control,
            "stdio" => Channel::Stdio,
            "stderr" => Channel::Stderr,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Channel::Control => "control",
            Channel::Stdio => "stdio",
            Channel::Stderr => "stderr",
        }
    }
}

/// A session's websocket slots.
#[derive(Debug)]
pub struct Slots {
    pub split_stderr: bool,
    connected: BTreeSet<Channel>,
    deliver: mpsc::UnboundedSender<(Channel, WebSocket)>,
}

impl Slots {
    pub fn new(split_stderr: bool) -> (Self, mpsc::UnboundedReceiver<(Channel, WebSocket)>) {
        let (deliver, receiver) = mpsc::unbounded_channel();
        let slots = Self { split_stderr, connected: BTreeSet::new(), deliver };
        (slots, receiver)
    }
}

/// Sessions by task id (present while the exec waits for or uses its websockets).
pub type Sessions = HashMap<u64, Slots>;

/// Answers the upgrade (101) and hands the websocket to the session once upgraded.
pub fn upgrade(
    shared: &Arc<Shared>,
    mut request: hyper::Request<Incoming>,
    task_id: &str,
    channel_id: &str,
) -> Result<HttpResponse, ApiError> {
    let unknown_task = || ApiError::not_found(format!("cannot find task {task_id:?}"));
    let id: u64 = task_id.parse().map_err(|_| unknown_task())?;
    let key = request
        .headers()
        .get(SEC_WEBSOCKET_KEY)
        .ok_or_else(|| ApiError::bad_request("expected a websocket upgrade request"))?;
    let accept = derive_accept_key(key.as_bytes());
    let deliver = {
        let mut state = shared.lock();
        let slots = state.exec_sessions.get_mut(&id).ok_or_else(unknown_task)?;
        let channel = Channel::parse(channel_id)
            .filter(|c| *c != Channel::Stderr || slots.split_stderr)
            .ok_or_else(|| ApiError::not_found(format!("websocket {channel_id:?} not found")))?;
        if !slots.connected.insert(channel) {
            return Err(ApiError::bad_request(format!("{} websocket already connected", channel.name())));
        }
        (channel, slots.deliver.clone())
    };
    let upgrading = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrading.await {
            let socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            // The session may have given up waiting; the socket is then just dropped.
            let _ = deliver.1.send((deliver.0, socket));
        }
    });
    let mut response = hyper::Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(value) = accept.parse() {
        headers.insert(SEC_WEBSOCKET_ACCEPT, value);
    }
    Ok(response)
}
