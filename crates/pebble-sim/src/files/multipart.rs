//! `multipart/form-data` bodies: header parameters, parsing a request body, and building the
//! body of a read (pull) response.

use std::collections::BTreeMap;

use bytes::Bytes;

/// A header value split into its main value (lowercased) and `; key=value` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderParams {
    pub value: String,
    pub params: BTreeMap<String, String>,
}

/// Parses `type/subtype; key=value; key2="quoted \" value"`.
pub fn parse_header_params(header: &str) -> Result<HeaderParams, String> {
    let (value, mut rest) = match header.find(';') {
        Some(i) => (&header[..i], &header[i + 1..]),
        None => (header, ""),
    };
    let mut params = BTreeMap::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            break;
        }
        let eq = rest.find('=').ok_or_else(|| format!("malformed header parameters in {header:?}"))?;
        let key = rest[..eq].trim().to_ascii_lowercase();
        rest = &rest[eq + 1..];
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c)) => value.push(c),
                        None => return Err(format!("unterminated quote in {header:?}")),
                    },
                    Some((i, '"')) => break i,
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("unterminated quote in {header:?}")),
                }
            };
            rest = &quoted[end + 1..];
            value
        } else {
            let end = rest.find(';').unwrap_or(rest.len());
            let value = rest[..end].trim().to_owned();
            rest = &rest[end..];
            value
        };
        params.insert(key, value);
    }
    Ok(HeaderParams { value: value.trim().to_ascii_lowercase(), params })
}

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// `name` of its `Content-Disposition`.
    pub name: String,
    /// Raw `filename` of its `Content-Disposition` (not reduced to a base name).
    pub filename: Option<String>,
    pub data: Bytes,
}

/// Splits a multipart body by `boundary`.
pub fn parse(body: &Bytes, boundary: &str) -> Result<Vec<Part>, String> {
    let delimiter = format!("--{boundary}");
    let close = format!("\r\n{delimiter}");
    let start = find(body, delimiter.as_bytes(), 0).ok_or("multipart: NextPart: EOF")?;
    let mut pos = start + delimiter.len();
    let mut parts = Vec::new();
    loop {
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        while matches!(body.get(pos), Some(b' ' | b'\t')) {
            pos += 1;
        }
        if !body[pos..].starts_with(b"\r\n") {
            return Err("multipart: boundary not followed by CRLF".to_owned());
        }
        pos += 2;
        let headers_end = find(body, b"\r\n\r\n", pos).ok_or("multipart: unterminated part headers")?;
        let headers = std::str::from_utf8(&body[pos..headers_end])
            .map_err(|_| "multipart: part headers are not UTF-8".to_owned())?;
        let data_start = headers_end + 4;
        let data_end =
            find(body, close.as_bytes(), data_start).ok_or("multipart: part not terminated by a boundary")?;
        let (name, filename) = disposition(headers)?;
        parts.push(Part { name, filename, data: body.slice(data_start..data_end) });
        pos = data_end + close.len();
    }
}

fn disposition(headers: &str) -> Result<(String, Option<String>), String> {
    for line in headers.split("\r\n") {
        let Some((key, value)) = line.split_once(':') else {
            return Err(format!("multipart: malformed part header {line:?}"));
        };
        if key.trim().eq_ignore_ascii_case("content-disposition") {
            let parsed = parse_header_params(value.trim())?;
            let name = parsed.params.get("name").cloned().unwrap_or_default();
            return Ok((name, parsed.params.get("filename").cloned()));
        }
    }
    Ok((String::new(), None))
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack.get(from..)?.windows(needle.len()).position(|window| window == needle).map(|i| i + from)
}

/// Builds a multipart body part by part.
pub struct Writer {
    boundary: String,
    body: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        let boundary: String = (0..30).map(|_| format!("{:x}", rand::random::<u8>() % 16)).collect();
        Self { boundary, body: Vec::new() }
    }

    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// Adds a part with the given `Content-Disposition` parameters and content type.
    pub fn part(&mut self, disposition: &str, content_type: &str, data: &[u8]) {
        if !self.body.is_empty() {
            self.body.extend_from_slice(b"\r\n");
        }
        self.body.extend_from_slice(
            format!(
                "--{}\r\nContent-Disposition: form-data; {disposition}\r\nContent-Type: {content_type}\r\n\r\n",
                self.boundary
            )
            .as_bytes(),
        );
        self.body.extend_from_slice(data);
    }

    pub fn finish(mut self) -> Vec<u8> {
        if !self.body.is_empty() {
            self.body.extend_from_slice(b"\r\n");
        }
        self.body.extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        self.body
    }
}

/// `"value"` with quotes and backslashes escaped, for header parameters.
pub fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_params_with_quotes() {
        let p = parse_header_params(r#"multipart/form-data; boundary="abc\"d""#).unwrap();
        assert_eq!(p.value, "multipart/form-data");
        assert_eq!(p.params["boundary"], "abc\"d");
    }

    #[test]
    fn round_trips_parts() {
        let mut writer = Writer::new();
        let boundary = writer.boundary.clone();
        writer.part(r#"name="files"; filename="/a b""#, "application/octet-stream", b"x\r\ny");
        writer.part(r#"name="response""#, "application/json", b"{}");
        let body = Bytes::from(writer.finish());
        let parts = parse(&body, &boundary).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].filename.as_deref(), Some("/a b"));
        assert_eq!(&parts[0].data[..], b"x\r\ny");
        assert_eq!(parts[1].name, "response");
    }
}
