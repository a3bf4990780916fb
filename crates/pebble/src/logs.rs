//! Service logs: the last lines Pebble kept of each service's output (`GET /v1/logs`).

use serde::Deserialize;

use crate::client::Client;
use crate::envelope::Envelope;
use crate::error::{protocol, Result};
use crate::http::{target, Request};

/// One line of a service's output.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct LogEntry {
    /// RFC 3339 time Pebble read the line.
    pub time: String,
    pub service: String,
    /// The line, without its trailing newline.
    pub message: String,
}

impl Client {
    /// The last `lines` lines of output of `services` (all services when empty), oldest first.
    pub fn logs(&self, services: &[&str], lines: usize) -> Result<Vec<LogEntry>> {
        let names = services.join(",");
        let count = lines.to_string();
        let mut params = vec![("n", count.as_str())];
        if !names.is_empty() {
            params.push(("services", names.as_str()));
        }
        let target = target("/v1/logs", &params);
        let request =
            Request { method: "GET", target: &target, content_type: None, accept: "*/*", body: &[] };
        let response = self.send(&request)?;
        let describe = format!("GET {target}");
        if response.status != 200 {
            // Errors come in the usual JSON envelope.
            return Err(Envelope::decode(&describe, &response)
                .and_then(|envelope| envelope.into_result::<serde_json::Value>(&describe))
                .err()
                .unwrap_or_else(|| protocol(&describe, format_args!("status {}", response.status))));
        }
        parse_ndjson(&describe, &response.body)
    }
}

pub(crate) fn parse_ndjson(describe: &str, body: &[u8]) -> Result<Vec<LogEntry>> {
    body.split(|byte| *byte == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(|line| {
            let mut entry: LogEntry = serde_json::from_slice(line)
                .map_err(|error| protocol(describe, format_args!("bad log line: {error}")))?;
            let trimmed = entry.message.trim_end_matches(['\n', '\r']).len();
            entry.message.truncate(trimmed);
            Ok(entry)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_lines_become_entries_without_newlines() {
        let body = b"{\"time\":\"2026-01-01T00:00:00Z\",\"service\":\"synapse\",\"message\":\"one\\n\"}\n\
{\"time\":\"2026-01-01T00:00:01Z\",\"service\":\"synapse\",\"message\":\"two\"}\n\n";
        let entries = parse_ndjson("GET /v1/logs", body).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].message, "one");
        assert_eq!(entries[1].message, "two");
        assert!(parse_ndjson("GET /v1/logs", b"not json\n").is_err());
    }
}
