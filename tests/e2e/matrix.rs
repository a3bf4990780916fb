//! The Matrix client-server and admin API calls the checks make, on port 8008 of the pod of
//! the unit under test.

use serde_json::{json, Value};

use crate::http::{self, Response};
use crate::support::SERVER_NAME;

/// The full user id of a local user.
pub fn user_id(localpart: &str) -> String {
    format!("@{localpart}:{SERVER_NAME}")
}

fn call(method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Response {
    http::synapse(method, path, token, body.as_ref())
        .unwrap_or_else(|error| panic!("{method} {path}: Synapse did not answer: {error}"))
}

/// `GET /account/whoami`: the user id of `token`, or Synapse's error code.
pub fn whoami(token: &str) -> Result<String, String> {
    let response = call("GET", "/_matrix/client/v3/account/whoami", Some(token), None);
    match response.status {
        200 => Ok(response.json()["user_id"].as_str().expect("a user_id").to_string()),
        _ => Err(response.errcode().unwrap_or_else(|| format!("HTTP {}", response.status))),
    }
}

/// Registers `username` as the appservice of `as_token` (`m.login.application_service`).
pub fn register_as_appservice(as_token: &str, username: &str) -> Response {
    call(
        "POST",
        "/_matrix/client/v3/register",
        Some(as_token),
        Some(json!({"type": "m.login.application_service", "username": username})),
    )
}

/// Logs in with a password: the access token, or Synapse's error code.
pub fn login(username: &str, password: &str) -> Result<String, String> {
    let response = call(
        "POST",
        "/_matrix/client/v3/login",
        None,
        Some(json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": username},
            "password": password,
        })),
    );
    match response.status {
        200 => Ok(response.json()["access_token"].as_str().expect("an access_token").to_string()),
        _ => Err(response.errcode().unwrap_or_else(|| format!("HTTP {}", response.status))),
    }
}

/// Invalidates `token`.
pub fn logout(token: &str) {
    let response = call("POST", "/_matrix/client/v3/logout", Some(token), Some(json!({})));
    assert_eq!(response.status, 200, "logout: {}", response.text());
}

/// What the admin API says about a local user (`GET /_synapse/admin/v2/users/<id>`).
pub fn admin_view(admin_token: &str, localpart: &str) -> Value {
    let path = format!("/_synapse/admin/v2/users/{}", encode(&user_id(localpart)));
    let response = call("GET", &path, Some(admin_token), None);
    assert_eq!(response.status, 200, "{path}: {}", response.text());
    response.json()
}

/// Logs in with a password as a new device `device_id` named `display_name`: the token.
pub fn login_device(username: &str, password: &str, device_id: &str, display_name: &str) -> String {
    let response = call(
        "POST",
        "/_matrix/client/v3/login",
        None,
        Some(json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": username},
            "password": password,
            "device_id": device_id,
            "initial_device_display_name": display_name,
        })),
    );
    assert_eq!(response.status, 200, "login of {username}: {}", response.text());
    assert_eq!(response.json()["device_id"], device_id);
    response.json()["access_token"].as_str().expect("an access_token").to_string()
}

/// The devices of the user of `token`, as `(device_id, display_name)`.
pub fn devices(token: &str) -> Vec<(String, String)> {
    let response = call("GET", "/_matrix/client/v3/devices", Some(token), None);
    assert_eq!(response.status, 200, "devices: {}", response.text());
    let json = response.json();
    let mut devices: Vec<(String, String)> = json["devices"]
        .as_array()
        .expect("a device list")
        .iter()
        .map(|device| {
            let id = device["device_id"].as_str().expect("a device_id").to_string();
            (id, device["display_name"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    devices.sort();
    devices
}

/// Sets the display name of `localpart` (whose token it is).
pub fn set_displayname(token: &str, localpart: &str, name: &str) {
    let path = format!("/_matrix/client/v3/profile/{}/displayname", encode(&user_id(localpart)));
    let response = call("PUT", &path, Some(token), Some(json!({"displayname": name})));
    assert_eq!(response.status, 200, "{path}: {}", response.text());
}

/// The display name in the profile of `localpart`.
pub fn displayname(token: &str, localpart: &str) -> Option<String> {
    let path = format!("/_matrix/client/v3/profile/{}/displayname", encode(&user_id(localpart)));
    let response = call("GET", &path, Some(token), None);
    assert_eq!(response.status, 200, "{path}: {}", response.text());
    response.json()["displayname"].as_str().map(str::to_string)
}

/// Creates a public room named `name`: its id.
pub fn create_room(token: &str, name: &str) -> String {
    let body = json!({"preset": "public_chat", "name": name, "visibility": "private"});
    let response = call("POST", "/_matrix/client/v3/createRoom", Some(token), Some(body));
    assert_eq!(response.status, 200, "createRoom: {}", response.text());
    response.json()["room_id"].as_str().expect("a room_id").to_string()
}

/// Joins the user of `token` to `room`.
pub fn join(token: &str, room: &str) {
    let path = format!("/_matrix/client/v3/rooms/{}/join", encode(room));
    let response = call("POST", &path, Some(token), Some(json!({})));
    assert_eq!(response.status, 200, "{path}: {}", response.text());
}

/// Sends a text message to `room` with transaction id `txn`: the event id.
pub fn send_text(token: &str, room: &str, txn: &str, body: &str) -> String {
    let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}", encode(room));
    let response = call("PUT", &path, Some(token), Some(json!({"msgtype": "m.text", "body": body})));
    assert_eq!(response.status, 200, "{path}: {}", response.text());
    response.json()["event_id"].as_str().expect("an event_id").to_string()
}

/// The room's history, oldest first (`/messages`, forwards from the start, one page of up
/// to 100 events).
pub fn messages(token: &str, room: &str) -> Vec<Value> {
    let path = format!("/_matrix/client/v3/rooms/{}/messages?dir=f&limit=100", encode(room));
    let response = call("GET", &path, Some(token), None);
    assert_eq!(response.status, 200, "{path}: {}", response.text());
    response.json()["chunk"].as_array().expect("a chunk").clone()
}

/// The bodies of the text messages in `room`'s timeline of a full `/sync` of `token`.
pub fn synced_texts(token: &str, room: &str) -> Vec<String> {
    let response = call("GET", "/_matrix/client/v3/sync?timeout=0", Some(token), None);
    assert_eq!(response.status, 200, "sync: {}", response.text());
    let events =
        response.json()["rooms"]["join"][room]["timeline"]["events"].as_array().cloned().unwrap_or_default();
    events
        .iter()
        .filter(|event| event["type"] == "m.room.message")
        .filter_map(|event| event["content"]["body"].as_str().map(str::to_string))
        .collect()
}

/// The text messages of a history as `(sender, body)`.
pub fn texts(history: &[Value]) -> Vec<(String, String)> {
    history
        .iter()
        .filter(|event| event["type"] == "m.room.message")
        .map(|event| {
            let sender = event["sender"].as_str().expect("a sender").to_string();
            (sender, event["content"]["body"].as_str().expect("a body").to_string())
        })
        .collect()
}

/// Percent-encodes a user or room id for a URL path.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
