//! Real Redis (Debian's `redis-server`, which `scripts/test` installs) for tests:
//! [`RedisServer::start`] runs a server of its own on a free port of 127.0.0.1
//! ([`RedisServer::start_on`]: of another local address), bound to that address only, with
//! no persistence (no RDB snapshots, no AOF) and its working directory and log in a temporary
//! directory. Protected mode is off and there is no password, as redis-k8s serves a `redis`
//! relation. [`RedisServer::ping`] and [`RedisServer::command`] talk RESP over TCP, so no
//! client crate or `redis-cli` is needed; [`RedisServer::stop`] (`SHUTDOWN NOSAVE`) and
//! [`RedisServer::kill`] (SIGKILL) take it down for "Redis is down" tests. Dropping the
//! server kills it if it still runs and removes the directory. Every server has its own
//! directory and port, so parallel tests may each start their own.

use std::fs;
use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where Debian's `redis-server` package puts the server.
pub const REDIS_SERVER: &str = "/usr/bin/redis-server";
/// The address [`RedisServer::start`] listens on.
pub const HOST: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// How many free ports [`RedisServer::start_on`] tries (another process may take a port
/// between our probe and the server's bind).
const START_ATTEMPTS: usize = 8;
/// Connect, read and write timeout of [`RedisServer::command`].
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`RedisServer::stop`] waits for the server to exit before killing it.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A RESP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`, `+PONG`.
    Status(String),
    /// `-ERR ...`.
    Error(String),
    Integer(i64),
    /// `None` for the nil bulk string.
    Bulk(Option<Vec<u8>>),
    /// `None` for the nil array.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// A status or bulk reply as text.
    pub fn text(&self) -> Option<String> {
        match self {
            Self::Status(text) => Some(text.clone()),
            Self::Bulk(Some(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        }
    }
}

/// A running `redis-server` of its own, killed and deleted on drop.
pub struct RedisServer {
    /// The working directory (`dir`), holding `redis.log`.
    dir: tempfile::TempDir,
    address: IpAddr,
    port: u16,
    /// `None` once stopped or killed.
    child: Option<Child>,
}

impl RedisServer {
    /// A fresh server on a free port of 127.0.0.1, answering `PING`.
    pub fn start() -> Self {
        Self::start_on(IpAddr::V4(HOST))
    }

    /// A fresh server on a free port of `address` (a local address), listening there only.
    pub fn start_on(address: IpAddr) -> Self {
        assert!(
            Path::new(REDIS_SERVER).exists(),
            "{REDIS_SERVER} is missing: install redis-server (scripts/test unit does)"
        );
        let dir =
            tempfile::Builder::new().prefix("synapse-k8s-redis-").tempdir().expect("temporary directory");
        let mut server = Self { dir, address, port: 0, child: None };
        for _ in 0..START_ATTEMPTS {
            let port = free_port(address);
            let _ = fs::remove_file(server.log_path());
            let child = Command::new(REDIS_SERVER)
                .args(["--port", &port.to_string(), "--bind", &address.to_string()])
                .args(["--protected-mode", "no", "--save", "", "--appendonly", "no"])
                .args(["--daemonize", "no", "--supervised", "no", "--always-show-logo", "no"])
                .arg("--dir")
                .arg(server.dir.path())
                .arg("--logfile")
                .arg(server.log_path())
                .current_dir(server.dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|error| panic!("cannot run {REDIS_SERVER}: {error}"));
            server.port = port;
            server.child = Some(child);
            let what = format!("redis-server on {} to answer PING or exit", server.endpoint());
            let up =
                test_support::eventually(&what, Duration::from_secs(30), Duration::from_millis(20), || {
                    if server.ping().is_ok() {
                        Some(true)
                    } else if !server.is_running() {
                        Some(false)
                    } else {
                        None
                    }
                });
            if up {
                return server;
            }
            server.child = None;
            let log = server.log();
            if !log.contains("Address already in use") {
                panic!("redis-server failed to start on {}:\n{log}", server.endpoint());
            }
        }
        panic!("redis-server found no free port in {START_ATTEMPTS} attempts:\n{}", server.log());
    }

    /// The address it listens on.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// The address as text, as redis-k8s writes `hostname` (IPv6 without brackets).
    pub fn host(&self) -> String {
        self.address.to_string()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.port)
    }

    /// The working directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process still runs (reaping it if it exited).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    /// `PING` over a new TCP connection: `Ok` when the answer is `PONG`.
    pub fn ping(&self) -> io::Result<()> {
        match self.command(&["PING"])? {
            Reply::Status(pong) if pong == "PONG" => Ok(()),
            other => Err(io::Error::other(format!("PING answered {other:?}"))),
        }
    }

    /// Sends one command over a new TCP connection and reads its reply.
    pub fn command(&self, args: &[&str]) -> io::Result<Reply> {
        command_at(self.endpoint(), args)
    }

    /// `SHUTDOWN NOSAVE`, then waits for the process to exit (killing it after
    /// [`STOP_TIMEOUT`]). Nothing happens if it is not running.
    pub fn stop(&mut self) {
        if !self.is_running() {
            return;
        }
        // The server closes the connection without a reply when it shuts down.
        let _ = self.command(&["SHUTDOWN", "NOSAVE"]);
        let exited = test_support::poll_until(STOP_TIMEOUT, Duration::from_millis(20), || !self.is_running());
        if exited.is_none() {
            eprintln!("redis: {} did not shut down in {STOP_TIMEOUT:?}; killing it", self.endpoint());
            self.kill();
        }
    }

    /// SIGKILL, as when the pod dies, and waits for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends one command to the server at `endpoint` over a new TCP connection.
pub fn command_at(endpoint: SocketAddr, args: &[&str]) -> io::Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&endpoint, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    stream.write_all(&request)?;
    read_reply(&mut BufReader::new(stream))
}

fn read_reply(reader: &mut BufReader<TcpStream>) -> io::Result<Reply> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection"));
    }
    let line =
        line.strip_suffix("\r\n").ok_or_else(|| io::Error::other(format!("bad reply line {line:?}")))?;
    let (kind, rest) = line.split_at(1.min(line.len()));
    let number = || rest.parse::<i64>().map_err(|_| io::Error::other(format!("bad length in {line:?}")));
    Ok(match kind {
        "+" => Reply::Status(rest.to_string()),
        "-" => Reply::Error(rest.to_string()),
        ":" => Reply::Integer(number()?),
        "$" => match usize::try_from(number()?) {
            Err(_) => Reply::Bulk(None),
            Ok(length) => {
                let mut bytes = vec![0; length + 2];
                reader.read_exact(&mut bytes)?;
                bytes.truncate(length);
                Reply::Bulk(Some(bytes))
            }
        },
        "*" => match usize::try_from(number()?) {
            Err(_) => Reply::Array(None),
            Ok(count) => {
                Reply::Array(Some((0..count).map(|_| read_reply(reader)).collect::<io::Result<_>>()?))
            }
        },
        _ => return Err(io::Error::other(format!("unknown reply {line:?}"))),
    })
}

/// A port that is free on `address` right now.
fn free_port(address: IpAddr) -> u16 {
    let listener = TcpListener::bind((address, 0))
        .unwrap_or_else(|error| panic!("cannot bind a free port on {address}: {error}"));
    listener.local_addr().expect("local address").port()
}
