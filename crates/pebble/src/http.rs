//! A minimal HTTP/1.1 codec for one request per connection: request encoding, and response
//! decoding with `Content-Length`, chunked, or read-until-close bodies.

use std::fmt::Write as _;
use std::io::{self, BufRead, Read, Write};

/// Longest accepted status or header line.
const MAX_LINE: usize = 8 * 1024;
/// Most accepted header fields.
const MAX_HEADERS: usize = 100;
/// Most bytes pre-allocated for a body before any of it arrives.
const MAX_PREALLOCATION: usize = 1 << 20;

/// An HTTP request; its body is sent as a sequence of slices so that large file contents are
/// never copied.
pub(crate) struct Request<'a> {
    pub method: &'static str,
    /// Path and query, e.g. `/v1/files?action=list&path=%2Fdata`.
    pub target: &'a str,
    pub content_type: Option<&'a str>,
    pub accept: &'a str,
    pub body: &'a [&'a [u8]],
}

impl Request<'_> {
    /// Writes the request, asking the server to close the connection after responding.
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        let mut head = String::with_capacity(160);
        // Writing into a String cannot fail.
        let _ = write!(
            head,
            "{} {} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: pebble-rs\r\nAccept: {}\r\nConnection: close\r\n",
            self.method, self.target, self.accept
        );
        if let Some(content_type) = self.content_type {
            let _ = write!(head, "Content-Type: {content_type}\r\n");
        }
        if self.method != "GET" {
            let length: usize = self.body.iter().map(|piece| piece.len()).sum();
            let _ = write!(head, "Content-Length: {length}\r\n");
        }
        head.push_str("\r\n");
        out.write_all(head.as_bytes())?;
        for piece in self.body {
            out.write_all(piece)?;
        }
        out.flush()
    }
}

/// A complete HTTP response.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub reason: String,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of the header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// Why a response could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(io::Error),
    Malformed(String),
}

impl From<io::Error> for ReadError {
    fn from(err: io::Error) -> Self {
        ReadError::Io(err)
    }
}

fn malformed(what: impl Into<String>) -> ReadError {
    ReadError::Malformed(what.into())
}

/// Reads one final response, skipping interim `1xx` responses.
pub(crate) fn read_response(input: &mut impl BufRead) -> Result<Response, ReadError> {
    loop {
        let (status, reason) = read_status_line(input)?;
        let headers = read_headers(input)?;
        if (100..200).contains(&status) {
            continue;
        }
        let mut response = Response { status, reason, headers, body: Vec::new() };
        response.body = read_body(input, &response)?;
        return Ok(response);
    }
}

fn read_status_line(input: &mut impl BufRead) -> Result<(u16, String), ReadError> {
    let line = read_line(input)?.ok_or_else(|| malformed("connection closed before a response"))?;
    let rest = line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(1..))
        .ok_or_else(|| malformed("not an HTTP/1.x status line"))?;
    let mut fields = rest.trim_start().splitn(2, ' ');
    let code = fields.next().unwrap_or_default();
    let status = match code.parse::<u16>() {
        Ok(status) if code.len() == 3 && (100..600).contains(&status) => status,
        _ => return Err(malformed(format!("invalid status code {code:?}"))),
    };
    let reason = fields.next().unwrap_or_default().trim().to_owned();
    Ok((status, reason))
}

fn read_headers(input: &mut impl BufRead) -> Result<Vec<(String, String)>, ReadError> {
    let mut headers = Vec::new();
    loop {
        let line = read_line(input)?.ok_or_else(|| malformed("connection closed in the headers"))?;
        if line.is_empty() {
            return Ok(headers);
        }
        if headers.len() == MAX_HEADERS {
            return Err(malformed("too many header fields"));
        }
        let (name, value) = line
            .split_once(':')
            .filter(|(name, _)| !name.is_empty() && !name.contains([' ', '\t']))
            .ok_or_else(|| malformed("invalid header field"))?;
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
}

/// Reads a CRLF- (or LF-) terminated line without its terminator; `None` at end of input.
fn read_line(input: &mut impl BufRead) -> Result<Option<String>, ReadError> {
    let mut line = Vec::new();
    let read = input.take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line)?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(if line.len() > MAX_LINE {
            malformed("line too long")
        } else {
            malformed("connection closed mid-line")
        });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map(Some).map_err(|_| malformed("non-UTF-8 header line"))
}

fn read_body(input: &mut impl BufRead, response: &Response) -> Result<Vec<u8>, ReadError> {
    if response.status == 204 || response.status == 304 {
        return Ok(Vec::new());
    }
    if let Some(encoding) = response.header("Transfer-Encoding") {
        let last = encoding.rsplit(',').next().unwrap_or_default().trim();
        if !last.eq_ignore_ascii_case("chunked") {
            return Err(malformed(format!("unsupported transfer encoding {encoding:?}")));
        }
        return read_chunked(input);
    }
    match response.header("Content-Length") {
        Some(length) => {
            let length: u64 =
                length.parse().map_err(|_| malformed(format!("invalid Content-Length {length:?}")))?;
            read_exactly(input, length)
        }
        None => {
            let mut body = Vec::new();
            input.read_to_end(&mut body)?;
            Ok(body)
        }
    }
}

fn read_exactly(input: &mut impl Read, length: u64) -> Result<Vec<u8>, ReadError> {
    let mut body =
        Vec::with_capacity(usize::try_from(length).map_or(MAX_PREALLOCATION, |n| n.min(MAX_PREALLOCATION)));
    input.take(length).read_to_end(&mut body)?;
    if (body.len() as u64) < length {
        return Err(malformed(format!("body ended after {} of {length} bytes", body.len())));
    }
    Ok(body)
}

fn read_chunked(input: &mut impl BufRead) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(input)?.ok_or_else(|| malformed("connection closed in a chunk header"))?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size =
            u64::from_str_radix(size, 16).map_err(|_| malformed(format!("invalid chunk size {size:?}")))?;
        if size == 0 {
            // Skip trailer fields up to the empty line.
            while !read_line(input)?.ok_or_else(|| malformed("connection closed in the trailer"))?.is_empty()
            {
            }
            return Ok(body);
        }
        body.extend_from_slice(&read_exactly(input, size)?);
        let end = read_line(input)?.ok_or_else(|| malformed("connection closed after a chunk"))?;
        if !end.is_empty() {
            return Err(malformed("chunk not followed by CRLF"));
        }
    }
}

/// Builds `path?key=value&...`, percent-encoding the values.
pub(crate) fn target(path: &str, params: &[(&str, &str)]) -> String {
    let mut target = String::from(path);
    for (index, (key, value)) in params.iter().enumerate() {
        target.push(if index == 0 { '?' } else { '&' });
        target.push_str(key);
        target.push('=');
        percent_encode(value, b"/", &mut target);
    }
    target
}

/// `value` percent-encoded as one path segment (`/` encoded too).
pub(crate) fn path_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    percent_encode(value, b"", &mut out);
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `keep`.
fn percent_encode(value: &str, keep: &[u8], out: &mut String) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || keep.contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> Result<Response, ReadError> {
        read_response(&mut &raw[..])
    }

    fn malformed_message(raw: &[u8]) -> String {
        match parse(raw) {
            Err(ReadError::Malformed(message)) => message,
            other => panic!("expected a malformed-response error, got {other:?}"),
        }
    }

    #[test]
    fn encodes_a_post_with_content_length_and_type() {
        let request = Request {
            method: "POST",
            target: "/v1/services",
            content_type: Some("application/json"),
            accept: "application/json",
            body: &[b"{\"a\":", b"1}"],
        };
        let mut out = Vec::new();
        request.write_to(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /v1/services HTTP/1.1\r\nHost: localhost\r\nUser-Agent: pebble-rs\r\n\
             Accept: application/json\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
        );
    }

    #[test]
    fn encodes_a_get_without_body_headers() {
        let request = Request {
            method: "GET",
            target: "/v1/plan?format=yaml",
            content_type: None,
            accept: "application/json",
            body: &[],
        };
        let mut out = Vec::new();
        request.write_to(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("GET /v1/plan?format=yaml HTTP/1.1\r\n"));
        assert!(!text.contains("Content-Length"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn decodes_a_content_length_body() {
        let response =
            parse(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello")
                .unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.reason, "OK");
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.body, b"hello");
    }

    #[test]
    fn decodes_a_chunked_body_with_extensions_and_trailers() {
        let response = parse(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n\
              4;ext=1\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\n",
        )
        .unwrap();
        assert_eq!(response.status, 404);
        assert_eq!(response.reason, "Not Found");
        assert_eq!(response.body, b"Wikipedia in \r\n\r\nchunks.");
    }

    #[test]
    fn reads_until_close_without_length() {
        let response = parse(b"HTTP/1.0 200 OK\r\n\r\nall of it").unwrap();
        assert_eq!(response.body, b"all of it");
    }

    #[test]
    fn skips_interim_responses() {
        let response =
            parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}")
                .unwrap();
        assert_eq!(response.status, 202);
        assert_eq!(response.body, b"{}");
    }

    #[test]
    fn rejects_malformed_responses() {
        assert!(malformed_message(b"").contains("closed before a response"));
        assert!(malformed_message(b"SSH-2.0-OpenSSH\r\n\r\n").contains("status line"));
        assert!(malformed_message(b"HTTP/1.1 2000 OK\r\n\r\n").contains("status code"));
        assert!(malformed_message(b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n").contains("header"));
        assert!(malformed_message(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").contains("Content-Length"));
        assert!(malformed_message(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort").contains("5 of 10"));
        assert!(malformed_message(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
            .contains("chunk size"));
        assert!(malformed_message(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n"
        )
        .contains("CRLF"));
        assert!(malformed_message(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")
            .contains("transfer encoding"));
        let long_line = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &[b'a'; MAX_LINE], b"\r\n\r\n"].concat();
        assert!(malformed_message(&long_line).contains("too long"));
    }

    #[test]
    fn builds_targets_with_encoded_values() {
        assert_eq!(target("/v1/plan", &[]), "/v1/plan");
        assert_eq!(
            target("/v1/files", &[("action", "list"), ("path", "/data/a b&c"), ("pattern", "*.yaml")]),
            "/v1/files?action=list&path=/data/a%20b%26c&pattern=%2A.yaml"
        );
        assert_eq!(path_segment("12"), "12");
        assert_eq!(path_segment("../é,+"), "..%2F%C3%A9%2C%2B");
    }
}
