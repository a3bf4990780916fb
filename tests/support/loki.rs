//! A Loki push endpoint for tests: [`LokiReceiver::start_on`] listens on a free port of a
//! local address and records every push (`POST /loki/api/v1/push`, Loki's JSON format),
//! answering 204. Real Loki is not packaged for Debian; what the tests check is what a Loki
//! would receive: streams with their labels, and the lines.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// One stream of a push: its labels and lines.
#[derive(Debug, Clone)]
pub struct Stream {
    pub labels: Value,
    pub lines: Vec<String>,
}

pub struct LokiReceiver {
    address: IpAddr,
    port: u16,
    streams: Arc<Mutex<Vec<Stream>>>,
}

impl LokiReceiver {
    pub fn start_on(address: IpAddr) -> Self {
        let listener = TcpListener::bind((address, 0)).expect("bind");
        let port = listener.local_addr().expect("its address").port();
        let streams = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&streams);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let recorded = Arc::clone(&recorded);
                std::thread::spawn(move || serve(stream, &recorded));
            }
        });
        Self { address, port, streams }
    }

    /// The push URL, as a Loki unit publishes it.
    pub fn url(&self) -> String {
        format!("http://{}:{}/loki/api/v1/push", self.address, self.port)
    }

    pub fn streams(&self) -> Vec<Stream> {
        self.streams.lock().expect("streams").clone()
    }
}

/// Answers every request on the connection with 204, recording push bodies.
fn serve(stream: TcpStream, recorded: &Mutex<Vec<Stream>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.trim().eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if let Ok(push) = serde_json::from_slice::<Value>(&body) {
            let mut streams = recorded.lock().expect("streams");
            for stream in push["streams"].as_array().into_iter().flatten() {
                let lines = stream["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|value| value[1].as_str().map(str::to_string))
                    .collect();
                streams.push(Stream { labels: stream["stream"].clone(), lines });
            }
        }
        if writer.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n").is_err() {
            return;
        }
    }
}
