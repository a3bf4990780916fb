//! Probes of Process mode: http (plain HTTP/1.1 GET, any 2xx), tcp (connect) and exec
//! (exit status 0), each bounded by the check's timeout.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::files::paths::{clean_absolute, host_path};
use crate::plan::schema::Check;
use crate::state::Shared;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs the check once; the error says why it failed.
pub async fn run(shared: &Shared, config: &Check) -> Result<(), String> {
    let limit = config.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
    match timeout(limit, probe(shared, config)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("check timed out after {}", crate::duration::format(limit))),
    }
}

async fn probe(shared: &Shared, config: &Check) -> Result<(), String> {
    if let Some(http) = &config.http {
        let url = http.url.as_deref().unwrap_or_default();
        return probe_http(url, &http.headers).await;
    }
    if let Some(tcp) = &config.tcp {
        let host = tcp.host.as_deref().unwrap_or("localhost");
        let port = tcp.port.unwrap_or_default();
        return TcpStream::connect((host, port))
            .await
            .map(drop)
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"));
    }
    if let Some(exec) = &config.exec {
        let argv = crate::command::split(exec.command.as_deref().unwrap_or_default())?;
        let Some(argv0) = argv.first() else {
            return Err("exec check has no command".to_owned());
        };
        let working_dir =
            exec.working_dir.as_deref().and_then(clean_absolute).unwrap_or_else(|| "/".to_owned());
        let status = tokio::process::Command::new(shared.map_command(argv0))
            .args(&argv[1..])
            .envs(&exec.environment)
            .current_dir(host_path(&shared.root, &working_dir))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .status()
            .await
            .map_err(|e| format!("cannot run check command: {e}"))?;
        return if status.success() {
            Ok(())
        } else {
            Err(format!("exit status {}", status.code().unwrap_or(-1)))
        };
    }
    Err("check has no http, tcp or exec".to_owned())
}

/// GET over plain HTTP/1.1; any 2xx is a success.
async fn probe_http(url: &str, headers: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("unsupported URL {url:?} (only http:// is probed)"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let address = if authority.contains(':') { authority.to_owned() } else { format!("{authority}:80") };
    let stream =
        TcpStream::connect(&address).await.map_err(|e| format!("cannot connect to {address}: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut request = hyper::Request::get(path).header(hyper::header::HOST, authority);
    for (key, value) in headers {
        request = request.header(key, value);
    }
    let request = request.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("non-20x status code {}", response.status().as_u16()))
    }
}
