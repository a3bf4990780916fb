//! Test fixture: a simulator in a temporary directory and a tiny HTTP/1.1 client over its
//! unix socket (plus websocket helpers for exec).
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pebble_sim::{PebbleSim, SimConfig};
use serde_json::{json, Value};

pub struct Fixture {
    pub sim: PebbleSim,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn start() -> Self {
        Self::with(|_| {})
    }

    pub fn with(configure: impl FnOnce(&mut SimConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("root");
        std::fs::create_dir(&root).expect("root dir");
        let mut config = SimConfig::new(dir.path().join("pebble.socket"), root);
        configure(&mut config);
        let sim = PebbleSim::start(config).expect("simulator starts");
        Fixture { sim, dir }
    }

    pub fn client(&self) -> Client {
        Client { socket: self.sim.socket().to_path_buf() }
    }

    pub fn root(&self) -> &Path {
        self.sim.root()
    }
}

/// Names a real Pebble binary: the API tests that use [`Api`] then run against it.
pub const REAL_BIN_ENV: &str = "PEBBLE_REAL_BIN";

/// A Pebble for tests that only use the HTTP API: pebble-sim, or a real Pebble when
/// `PEBBLE_REAL_BIN` names its binary (`pebble run` in a throw-away `$PEBBLE` directory with
/// its own socket), so the two can be compared answer by answer.
pub struct Api {
    pebble: ApiPebble,
    socket: PathBuf,
    pub dir: tempfile::TempDir,
}

enum ApiPebble {
    Sim(PebbleSim),
    Real(std::process::Child),
}

impl Api {
    pub fn start() -> Api {
        let dir = tempfile::tempdir().expect("temp dir");
        match std::env::var_os(REAL_BIN_ENV).filter(|bin| !bin.is_empty()) {
            Some(bin) => {
                let pebble_dir = dir.path().join("pebble");
                std::fs::create_dir(&pebble_dir).expect("PEBBLE directory");
                let socket = pebble_dir.join(".pebble.socket");
                let log = std::fs::File::create(dir.path().join("pebble.log")).expect("log");
                let child = std::process::Command::new(&bin)
                    .args(["run", "--create-dirs"])
                    .env("PEBBLE", &pebble_dir)
                    .env("PEBBLE_SOCKET", &socket)
                    .stdin(std::process::Stdio::null())
                    .stdout(log.try_clone().expect("log"))
                    .stderr(log)
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot run {bin:?}: {e}"));
                let api = Api { pebble: ApiPebble::Real(child), socket, dir };
                let deadline = Instant::now() + Duration::from_secs(20);
                while api.client().raw("GET", "/v1/system-info", &[], b"").is_err() {
                    assert!(Instant::now() < deadline, "{bin:?} did not answer on {:?}", api.socket);
                    std::thread::sleep(Duration::from_millis(50));
                }
                api
            }
            None => {
                static SAY: std::sync::Once = std::sync::Once::new();
                SAY.call_once(|| {
                    eprintln!("pebble-sim API tests: against pebble-sim (set {REAL_BIN_ENV}=/path/to/pebble to compare with a real Pebble)")
                });
                let root = dir.path().join("root");
                std::fs::create_dir(&root).expect("root dir");
                let socket = dir.path().join("pebble.socket");
                let sim = PebbleSim::start(SimConfig::new(&socket, root)).expect("simulator starts");
                Api { pebble: ApiPebble::Sim(sim), socket, dir }
            }
        }
    }

    pub fn client(&self) -> Client {
        Client { socket: self.socket.clone() }
    }

    /// The simulator, for what only it can tell; `None` against a real Pebble.
    pub fn sim(&self) -> Option<&PebbleSim> {
        match &self.pebble {
            ApiPebble::Sim(sim) => Some(sim),
            ApiPebble::Real(_) => None,
        }
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        if let ApiPebble::Real(child) = &mut self.pebble {
            // SIGTERM lets Pebble stop its services; SIGKILL if it takes too long.
            let _ = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && !matches!(child.try_wait(), Ok(Some(_))) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Clone)]
pub struct Client {
    pub socket: PathBuf,
}

impl Client {
    /// One request per connection (`Connection: close`), like a simple client.
    pub fn raw(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        let mut stream = UnixStream::connect(&self.socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        Ok(parse_response(&raw))
    }

    pub fn get(&self, target: &str) -> Response {
        self.raw("GET", target, &[], b"").expect("request")
    }

    pub fn post_json(&self, target: &str, body: &Value) -> Response {
        self.raw("POST", target, &[("Content-Type", "application/json")], body.to_string().as_bytes())
            .expect("request")
    }

    /// Result of a sync 200 envelope (asserting the envelope).
    pub fn sync(&self, response: Response) -> Value {
        let body = response.json();
        assert_eq!(response.status, 200, "unexpected response: {body}");
        assert_eq!(body["type"], "sync", "{body}");
        assert_eq!(body["status-code"], 200);
        assert_eq!(body["status"], "OK");
        body["result"].clone()
    }

    /// `(status, message, kind)` of an error envelope (asserting the envelope).
    pub fn error(&self, response: Response) -> (u16, String, Option<String>) {
        let body = response.json();
        assert_eq!(body["type"], "error", "{body}");
        assert_eq!(body["status-code"], response.status);
        let message = body["result"]["message"].as_str().expect("message").to_owned();
        let kind = body["result"]["kind"].as_str().map(str::to_owned);
        (response.status, message, kind)
    }

    /// Result of an async 202 envelope (asserting the envelope).
    pub fn async_result(&self, response: Response) -> Value {
        let body = response.json();
        assert_eq!(response.status, 202, "unexpected response: {body}");
        assert_eq!(body["type"], "async", "{body}");
        assert!(body["change"].is_string(), "{body}");
        body["result"].clone()
    }

    /// POSTs a services action and returns the change id (asserting the async envelope).
    pub fn services_action(&self, action: &str, services: &[&str]) -> String {
        let response = self.post_json("/v1/services", &json!({"action": action, "services": services}));
        let body = response.json();
        assert_eq!(response.status, 202, "{body}");
        assert_eq!(body["type"], "async");
        assert_eq!(body["status"], "Accepted");
        // Pebble's async envelopes carry `"result": null` when there is no result.
        assert_eq!(body.get("result"), Some(&Value::Null), "{body}");
        body["change"].as_str().expect("change id").to_owned()
    }

    /// Waits for a change to be ready (looping on 504 like ops).
    pub fn wait_change(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let response = self.get(&format!("/v1/changes/{id}/wait?timeout=4.000s"));
            if response.status == 504 && Instant::now() < deadline {
                continue;
            }
            return self.sync(response);
        }
    }

    pub fn add_layer(&self, label: &str, yaml: &str, combine: bool) -> Response {
        self.post_json(
            "/v1/layers",
            &json!({"action": "add", "combine": combine, "label": label, "format": "yaml", "layer": yaml}),
        )
    }

    pub fn services(&self) -> Vec<Value> {
        let result = self.sync(self.get("/v1/services"));
        result.as_array().expect("list").clone()
    }

    pub fn service_current(&self, name: &str) -> String {
        let result = self.sync(self.get(&format!("/v1/services?names={name}")));
        result[0]["current"].as_str().expect("current").to_owned()
    }
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status: u16 = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked =
        headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Response { status, headers, body }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").expect("chunk size");
        let size = usize::from_str_radix(std::str::from_utf8(&data[..line_end]).expect("hex").trim(), 16)
            .expect("chunk size");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 2 + size + 2..];
    }
}

/// A 32+ character multipart boundary like ops uses.
pub const BOUNDARY: &str = "0123456789abcdef0123456789abcdef";

/// Builds an ops-style push body: `request` JSON part then one `files` part per file.
pub fn push_body(boundary: &str, request: &Value, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = format!(
        "--{boundary}\r\nContent-Type: application/json\r\nContent-Disposition: form-data; name=\"request\"\r\n\r\n{request}\r\n"
    )
    .into_bytes();
    for (path, content) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{path}\"\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

impl Client {
    pub fn push(&self, request: &Value, files: &[(&str, &[u8])]) -> Response {
        let body = push_body(BOUNDARY, request, files);
        let content_type = format!("multipart/form-data; boundary=\"{BOUNDARY}\"");
        self.raw("POST", "/v1/files", &[("Content-Type", &content_type)], &body).expect("request")
    }

    /// Pulls files; returns `(files by filename, response envelope)`.
    pub fn pull(&self, paths: &[&str]) -> (Vec<(String, Vec<u8>)>, Value) {
        let query: Vec<String> = paths.iter().map(|p| format!("path={p}")).collect();
        let response = self
            .raw(
                "GET",
                &format!("/v1/files?action=read&{}", query.join("&")),
                &[("Accept", "multipart/form-data")],
                b"",
            )
            .expect("request");
        assert_eq!(response.status, 200);
        let content_type = response.header("content-type").expect("content type").to_owned();
        let boundary = content_type.split("boundary=").nth(1).expect("boundary").trim_matches('"').to_owned();
        let parts = split_multipart(&response.body, &boundary);
        let mut files = Vec::new();
        let mut envelope = Value::Null;
        for (headers, data) in parts {
            if headers.contains("name=\"response\"") {
                assert!(headers.contains("Content-Type: application/json"), "{headers}");
                envelope = serde_json::from_slice(&data).expect("response part JSON");
            } else {
                let filename = headers
                    .split("filename=\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .expect("filename")
                    .to_owned();
                assert!(headers.contains("name=\"files\""), "{headers}");
                files.push((filename, data));
            }
        }
        (files, envelope)
    }
}

/// Independent multipart splitter for responses: `(headers, data)` per part.
pub fn split_multipart(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let text_delim = format!("--{boundary}");
    let delim = text_delim.as_bytes();
    let mut positions = Vec::new();
    let mut i = 0;
    while i + delim.len() <= body.len() {
        if &body[i..i + delim.len()] == delim {
            positions.push(i);
            i += delim.len();
        } else {
            i += 1;
        }
    }
    let mut parts = Vec::new();
    for pair in positions.windows(2) {
        let start = pair[0] + delim.len() + 2; // CRLF after the delimiter
        let end = pair[1] - 2; // CRLF before the next delimiter
        let chunk = &body[start..end];
        let split = chunk.windows(4).position(|w| w == b"\r\n\r\n").expect("part head");
        parts.push((String::from_utf8_lossy(&chunk[..split]).into_owned(), chunk[split + 4..].to_vec()));
    }
    let last = positions.last().expect("closing delimiter");
    assert_eq!(&body[last + delim.len()..last + delim.len() + 2], b"--", "closing delimiter");
    parts
}
