//! Real Prometheus (Debian's `prometheus`, which `scripts/test` installs) for tests:
//! [`PrometheusServer::start`] runs a server of its own on a free port of a local address,
//! with its storage in a temporary directory and a configuration made from scrape jobs the
//! way the Prometheus charm makes it from a provider's `scrape_jobs` (§7.3 of the integration
//! spec: each job's wildcard target `*:<port>` expanded to every unit's address, with the
//! juju topology labels), scraping every second. [`PrometheusServer::query`] runs an instant
//! PromQL query over the HTTP API. Dropping it kills the server and removes its directory.

use std::fs;
use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

/// Where Debian's `prometheus` package puts the server.
pub const PROMETHEUS: &str = "/usr/bin/prometheus";

/// One scrape target: a unit's address and port, with its labels.
#[derive(Debug, Clone)]
pub struct Target {
    pub address: String,
    pub labels: Vec<(String, String)>,
}

/// A job as the Prometheus charm renders it from the provider's data.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub metrics_path: String,
    pub targets: Vec<Target>,
}

pub struct PrometheusServer {
    dir: tempfile::TempDir,
    address: SocketAddr,
    child: Child,
}

impl PrometheusServer {
    /// Starts Prometheus on a free port of `address` scraping `jobs` every second.
    pub fn start(address: IpAddr, jobs: &[Job]) -> Self {
        assert!(std::path::Path::new(PROMETHEUS).exists(), "{PROMETHEUS} is missing: install prometheus");
        let dir = tempfile::Builder::new()
            .prefix("synapse-k8s-prometheus-")
            .tempdir()
            .expect("temporary directory");
        let scrape_configs: Vec<Value> = jobs
            .iter()
            .map(|job| {
                let static_configs: Vec<Value> = job
                    .targets
                    .iter()
                    .map(|target| {
                        let labels: serde_json::Map<String, Value> =
                            target.labels.iter().map(|(key, value)| (key.clone(), json!(value))).collect();
                        json!({"targets": [target.address], "labels": labels})
                    })
                    .collect();
                json!({
                    "job_name": job.name,
                    "metrics_path": job.metrics_path,
                    "scrape_interval": "1s",
                    "scrape_timeout": "1s",
                    "static_configs": static_configs,
                })
            })
            .collect();
        // JSON is YAML: Prometheus reads it as its configuration file.
        let config = json!({"global": {"scrape_interval": "1s"}, "scrape_configs": scrape_configs});
        let config_path = dir.path().join("prometheus.yml");
        fs::write(&config_path, serde_json::to_string_pretty(&config).expect("JSON"))
            .expect("the configuration");
        let port =
            TcpListener::bind((address, 0)).expect("a free port").local_addr().expect("its address").port();
        let listen = SocketAddr::new(address, port);
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={listen}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(fs::File::create(dir.path().join("prometheus.log")).expect("the log")))
            .spawn()
            .expect("prometheus starts");
        let server = Self { dir, address: listen, child };
        let ready = test_support::poll_until(Duration::from_secs(30), Duration::from_millis(100), || {
            server.get("/-/ready").ok().filter(|(status, _)| *status == 200).map(|_| ())
        });
        assert!(ready.is_some(), "Prometheus did not become ready:\n{}", server.log());
        server
    }

    /// `GET path` on the HTTP API: status and body.
    pub fn get(&self, path: &str) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect_timeout(&self.address, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(stream, "GET {path} HTTP/1.1\r\nHost: prometheus\r\nConnection: close\r\n\r\n")?;
        let mut raw = String::new();
        stream.read_to_string(&mut raw)?;
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
        let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
        Ok((status, if chunked { dechunk(body) } else { body.to_string() }))
    }

    /// An instant query: the API's `data` (`resultType`, `result`), or its error.
    pub fn query(&self, promql: &str) -> Result<Value, String> {
        let (_, body) =
            self.get(&format!("/api/v1/query?query={}", encode(promql))).map_err(|e| e.to_string())?;
        let answer: Value = serde_json::from_str(&body).map_err(|error| format!("{error}: {body}"))?;
        if answer["status"] == "success" {
            Ok(answer["data"].clone())
        } else {
            Err(format!("{}: {}", answer["errorType"], answer["error"]))
        }
    }

    /// The active targets and their health (`up`, `down`, `unknown`), by scrape URL.
    pub fn targets(&self) -> Vec<(String, String)> {
        let (_, body) = self.get("/api/v1/targets").expect("the targets API");
        let answer: Value = serde_json::from_str(&body).expect("JSON");
        answer["data"]["activeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|target| {
                (
                    target["scrapeUrl"].as_str().unwrap_or_default().to_string(),
                    target["health"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encodes a query parameter.
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

/// Joins a chunked body.
fn dechunk(body: &str) -> String {
    let mut rest = body;
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}
