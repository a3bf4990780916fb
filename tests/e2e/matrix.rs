//! The Matrix client-server and admin API calls the checks make, on `localhost:8008`.

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

/// Percent-encodes a user id for a URL path.
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
