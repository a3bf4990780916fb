//! Entry points for the fuzzers (`fuzz/`, built with `--cfg fuzzing` only): the client's
//! parsers of what Pebble sends, fed arbitrary bytes. None may panic.

use crate::envelope::Envelope;
use crate::{Change, CheckInfo, FileInfo, Notice, Plan, ServiceInfo, SystemInfo};

/// An HTTP response as read from the socket, then its body as every response type.
pub fn response(raw: &[u8]) {
    let mut input = std::io::BufReader::new(raw);
    if let Ok(response) = crate::http::read_response(&mut input) {
        body(response.status, &response.body);
    }
    body(200, raw);
}

/// A response body with `status`: the envelope, then its result as each type the client reads.
fn body(status: u16, body: &[u8]) {
    let _ = crate::logs::parse_ndjson("GET /v1/logs", body);
    let Ok(envelope) = Envelope::decode_parts("GET /v1/x", status, "Reason", body) else { return };
    let result = envelope.result.clone();
    let decode = |value: serde_json::Value| Envelope { result: value, change: envelope.change.clone() };
    let _ = decode(result.clone()).into_result::<Plan>("plan");
    let _ = decode(result.clone()).into_result::<Vec<ServiceInfo>>("services");
    let _ = decode(result.clone()).into_result::<Change>("change");
    let _ = decode(result.clone()).into_result::<Vec<FileInfo>>("files");
    let _ = decode(result.clone()).into_result::<SystemInfo>("system-info");
    let _ = decode(result.clone()).into_result::<Vec<CheckInfo>>("checks");
    let _ = decode(result.clone()).into_result::<Vec<Notice>>("notices");
    let _ = decode(result).into_change_id("exec");
}
