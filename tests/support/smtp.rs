//! A real SMTP server for tests: [`SmtpServer::start_on`] runs `aiosmtpd` (from the Synapse
//! venv, `tests/python/smtp_server/smtp_server.py`) on a free port of a local address, with
//! a throw-away CA and a certificate for that address, STARTTLS required before `AUTH` (or
//! TLS from the first byte), and AUTH PLAIN/LOGIN for one user. Every message it accepts is
//! kept as a [`Mail`]. Dropping it kills the server and removes its directory.

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use test_support::PythonVenv;

/// The server script, relative to the repository.
const SCRIPT: &str = "tests/python/smtp_server/smtp_server.py";

/// How the server secures its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain at first, STARTTLS required before AUTH and MAIL.
    StartTls,
    /// TLS from the first byte.
    Tls,
}

/// One accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// The user that authenticated.
    pub auth_user: Option<String>,
    /// Whether the session was encrypted.
    pub tls: bool,
    /// The raw message, headers first.
    pub message: String,
}

impl Mail {
    /// The value of header `name` (first occurrence, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        let mut lines = self.message.lines().take_while(|line| !line.is_empty()).peekable();
        while let Some(line) = lines.next() {
            if line.to_ascii_lowercase().starts_with(&prefix) {
                let mut value = line[prefix.len()..].trim().to_string();
                while let Some(next) = lines.peek().filter(|next| next.starts_with([' ', '\t'])) {
                    value.push(' ');
                    value.push_str(next.trim());
                    lines.next();
                }
                return Some(value);
            }
        }
        None
    }
}

pub struct SmtpServer {
    dir: tempfile::TempDir,
    address: IpAddr,
    port: u16,
    child: Child,
}

impl SmtpServer {
    /// Starts a server on `address` accepting `user` with `password`.
    pub fn start_on(address: IpAddr, user: &str, password: &str, security: Security) -> Self {
        let venv = PythonVenv::find("synapse");
        let dir =
            tempfile::Builder::new().prefix("synapse-k8s-smtp-").tempdir().expect("temporary directory");
        let script = repository().join(SCRIPT);
        let mut command = Command::new(venv.python());
        command
            .arg(&script)
            .args(["--host", &address.to_string(), "--user", user, "--password", password])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(fs::File::create(dir.path().join("server.log")).expect("the log")));
        if security == Security::Tls {
            command.arg("--implicit-tls");
        }
        let mut child = command.spawn().expect("the SMTP server starts");
        let stdout = child.stdout.take().expect("its stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("its first line");
        let Some(port) = line.trim().strip_prefix("ready ").and_then(|port| port.parse().ok()) else {
            let _ = child.kill();
            let log = fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            panic!("the SMTP server did not start ({line:?}):\n{log}");
        };
        Self { dir, address, port, child }
    }

    pub fn address(&self) -> IpAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA that signed the server's certificate (PEM).
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The messages accepted so far, in order.
    pub fn mails(&self) -> Vec<Mail> {
        let dir = self.dir.path().join("messages");
        let mut numbered: Vec<(u64, PathBuf)> = fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|entry| entry.path())
                    .filter(|path| path.extension().is_some_and(|extension| extension == "json"))
                    .filter_map(|path| Some((path.file_stem()?.to_str()?.parse().ok()?, path)))
                    .collect()
            })
            .unwrap_or_default();
        numbered.sort();
        numbered
            .into_iter()
            .map(|(_, path)| {
                let record: Value =
                    serde_json::from_str(&fs::read_to_string(&path).expect("a message record"))
                        .expect("JSON");
                Mail {
                    mail_from: record["mail_from"].as_str().unwrap_or_default().to_string(),
                    rcpt_tos: record["rcpt_tos"]
                        .as_array()
                        .map(|list| list.iter().filter_map(Value::as_str).map(str::to_string).collect())
                        .unwrap_or_default(),
                    auth_user: record["auth_user"].as_str().map(str::to_string),
                    tls: record["tls"].as_bool().unwrap_or(false),
                    message: record["message"].as_str().unwrap_or_default().to_string(),
                }
            })
            .collect()
    }

    /// Waits up to `limit` for at least `count` messages.
    pub fn wait_for_mails(&self, count: usize, limit: Duration) -> Vec<Mail> {
        test_support::poll_until(limit, Duration::from_millis(100), || {
            let mails = self.mails();
            (mails.len() >= count).then_some(mails)
        })
        .unwrap_or_else(|| self.mails())
    }

    /// What the server logged.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
