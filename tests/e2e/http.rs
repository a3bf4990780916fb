//! Just enough HTTP/1.1 for the checks: one request per connection (`Connection: close`),
//! a JSON body or none, a bearer token or none; the answer read to the end, chunked or not.
//! Over TCP to Synapse (on port 8008 of the pod of the unit under test, which
//! [`set_synapse_address`] names, or another entry point, [`set_entry_point`]), or over a
//! unix socket to Pebble.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::host::SYNAPSE_PORT;

/// Generous: password hashing and restarts are slow on a loaded 2-core machine.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A response: status code and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The Matrix error code of an error answer.
    pub fn errcode(&self) -> Option<String> {
        self.json()["errcode"].as_str().map(str::to_string)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

thread_local! {
    /// The pod address and port of the Synapse this test's checks talk to.
    static SYNAPSE_ENDPOINT: Cell<Option<(Ipv4Addr, u16)>> = const { Cell::new(None) };
}

/// Points this thread's checks at the Synapse in the pod at `address` (port 8008).
pub fn set_synapse_address(address: Ipv4Addr) {
    set_entry_point(address, SYNAPSE_PORT);
}

/// Points this thread's checks at `address:port`: a pod's nginx on 8080, say.
pub fn set_entry_point(address: Ipv4Addr, port: u16) {
    SYNAPSE_ENDPOINT.with(|cell| cell.set(Some((address, port))));
}

/// The address and port of the Synapse under test.
fn synapse_endpoint() -> (Ipv4Addr, u16) {
    SYNAPSE_ENDPOINT
        .with(Cell::get)
        .expect("no Synapse under test yet: E2e starts a unit's Pebble with real services first")
}

/// `http://<pod address>:<port>`, the base URL of the Synapse under test.
pub fn synapse_url() -> String {
    let (address, port) = synapse_endpoint();
    format!("http://{address}:{port}")
}

/// A request to the Synapse under test (port 8008 of its pod unless pointed elsewhere).
pub fn synapse(method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> io::Result<Response> {
    let stream = TcpStream::connect(synapse_endpoint())?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    exchange(stream, method, path, token, body)
}

/// A `GET` to the Pebble API on `socket`.
pub fn pebble_get(socket: &Path, path: &str) -> io::Result<Response> {
    let stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    exchange(stream, "GET", path, None, None)
}

fn exchange(
    mut stream: impl Read + Write,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> io::Result<Response> {
    let body = body.map(|body| serde_json::to_vec(body).expect("JSON serialises")).unwrap_or_default();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT") {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(&body)?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse(&raw)
}

fn parse(raw: &[u8]) -> io::Result<Response> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let split =
        raw.windows(4).position(|window| window == b"\r\n\r\n").ok_or_else(|| invalid("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("no status line"))?;
    let chunked = lines.any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.eq_ignore_ascii_case("transfer-encoding") && value.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let rest = &raw[split + 4..];
    let body =
        if chunked { dechunk(rest).ok_or_else(|| invalid("bad chunked body"))? } else { rest.to_vec() };
    Ok(Response { status, body })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|window| window == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}
