//! `multipart/form-data` as Pebble's file API uses it: encoding a push (a `request` JSON part
//! and one `files` part) and decoding a pull (`files` parts and a `response` JSON part).

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

use memchr::memmem;

/// A multipart boundary: 32 random hex characters (Pebble requires at least 32), chosen not
/// to occur in the content it delimits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Boundary(String);

impl Boundary {
    /// A boundary occurring in none of `contents`.
    pub fn avoiding(contents: &[&[u8]]) -> Boundary {
        loop {
            let boundary = Boundary(format!("{:016x}{:016x}", random_u64(), random_u64()));
            let occurs =
                contents.iter().any(|content| memmem::find(content, boundary.0.as_bytes()).is_some());
            if !occurs {
                return boundary;
            }
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `Content-Type` of a body delimited by this boundary.
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.0)
    }
}

/// 64 unpredictable bits from the standard library's randomly keyed hasher.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// The parts of a push body around the files' contents: the `request` part and the head of
/// the first `files` part, the head of each next one, and the closing delimiter, so that the
/// contents are sent without being copied. Filenames must not contain line breaks.
pub(crate) struct PushEnvelope {
    /// The `request` part, then the head of the first `files` part.
    pub head: Vec<u8>,
    /// Before each further file: the end of the previous part and this one's head.
    pub between: Vec<Vec<u8>>,
    pub tail: Vec<u8>,
}

pub(crate) fn push_envelope(boundary: &Boundary, request_json: &[u8], filenames: &[&str]) -> PushEnvelope {
    let boundary = boundary.as_str();
    let file_head = |filename: &str| {
        format!(
            "\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\
             Content-Disposition: form-data; name=\"files\"; filename=\"{}\"\r\n\r\n",
            quote_escape(filename)
        )
        .into_bytes()
    };
    let mut head = Vec::with_capacity(request_json.len() + 256);
    head.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Type: application/json\r\n\
             Content-Disposition: form-data; name=\"request\"\r\n\r\n"
        )
        .as_bytes(),
    );
    head.extend_from_slice(request_json);
    let mut heads = filenames.iter().map(|filename| file_head(filename));
    head.extend(heads.next().unwrap_or_default());
    PushEnvelope { head, between: heads.collect(), tail: format!("\r\n--{boundary}--\r\n").into_bytes() }
}

fn quote_escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// One decoded part.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Part<'a> {
    pub name: String,
    pub filename: Option<String>,
    pub body: &'a [u8],
}

/// The boundary parameter of a `multipart/form-data` content type.
pub(crate) fn boundary_of(content_type: &str) -> Option<String> {
    let (media_type, params) = content_type.split_once(';')?;
    if !media_type.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parameters(params)
        .into_iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// Splits a multipart body into its parts.
pub(crate) fn decode<'a>(boundary: &str, body: &'a [u8]) -> Result<Vec<Part<'a>>, String> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let next_delimiter = [b"\r\n".as_slice(), delimiter].concat();
    // The first delimiter opens the body or follows a preamble line.
    let mut at = if body.starts_with(delimiter) {
        0
    } else {
        memmem::find(body, &next_delimiter).ok_or("no multipart boundary found")? + 2
    };
    let mut parts = Vec::new();
    loop {
        at += delimiter.len();
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        // Skip transport padding, then the line break ending the delimiter line.
        let padding = rest.iter().take_while(|&&byte| byte == b' ' || byte == b'\t').count();
        if !rest[padding..].starts_with(b"\r\n") {
            return Err("malformed multipart boundary line".to_owned());
        }
        at += padding + 2;
        // The headers end at an empty line; searching from the delimiter line's own CRLF also
        // finds an empty header block.
        let head_end = memmem::find(&body[at - 2..], b"\r\n\r\n")
            .map(|end| at - 2 + end)
            .ok_or("multipart part headers not terminated")?;
        let head = std::str::from_utf8(body.get(at..head_end).unwrap_or_default())
            .map_err(|_| "non-UTF-8 multipart part headers")?;
        let content_start = head_end + 4;
        let content_len =
            memmem::find(&body[content_start..], &next_delimiter).ok_or("multipart body not terminated")?;
        parts.push(part(head, &body[content_start..content_start + content_len])?);
        at = content_start + content_len + 2;
    }
}

fn part<'a>(head: &str, body: &'a [u8]) -> Result<Part<'a>, String> {
    let disposition = head
        .split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("Content-Disposition"))
        .map(|(_, value)| value.trim())
        .ok_or("multipart part without Content-Disposition")?;
    let (kind, params) = disposition.split_once(';').unwrap_or((disposition, ""));
    if !kind.trim().eq_ignore_ascii_case("form-data") {
        return Err(format!("unexpected multipart disposition {kind:?}"));
    }
    let params = parameters(params);
    let lookup = |wanted: &str| {
        params.iter().find(|(key, _)| key.eq_ignore_ascii_case(wanted)).map(|(_, value)| value.clone())
    };
    Ok(Part {
        name: lookup("name").ok_or("multipart part without a name")?,
        filename: lookup("filename"),
        body,
    })
}

/// Parses `; key=value; key="quoted \" value"` parameters.
fn parameters(input: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ';' || c.is_whitespace()).is_some() {}
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ';')).collect();
        if key.is_empty() {
            return params;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            if chars.next_if_eq(&'"').is_some() {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => value.extend(chars.next()),
                        c => value.push(c),
                    }
                }
            } else {
                value = std::iter::from_fn(|| chars.next_if(|c| *c != ';')).collect();
            }
        }
        params.push((key.trim().to_owned(), value.trim_end().to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_long_unique_and_avoid_the_content() {
        let first = Boundary::avoiding(&[b"content"]);
        let second = Boundary::avoiding(&[b"content"]);
        assert_eq!(first.as_str().len(), 32);
        assert!(first.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(first, second);
        let content = format!("x{}y", first.as_str());
        for _ in 0..20 {
            assert_ne!(Boundary::avoiding(&[content.as_bytes()]), first);
        }
        assert_eq!(first.content_type(), format!("multipart/form-data; boundary={}", first.as_str()));
    }

    #[test]
    fn push_bodies_have_the_request_and_files_parts() {
        let boundary = Boundary("b".repeat(32));
        let envelope = push_envelope(&boundary, br#"{"action":"write"}"#, &[r#"/data/a"b\c"#]);
        assert!(envelope.between.is_empty());
        let body = [envelope.head.as_slice(), b"\x00bytes\r\n", &envelope.tail].concat();
        let b = "b".repeat(32);
        assert_eq!(
            body,
            format!(
                "--{b}\r\nContent-Type: application/json\r\nContent-Disposition: form-data; name=\"request\"\r\n\r\n\
                 {{\"action\":\"write\"}}\r\n--{b}\r\nContent-Type: application/octet-stream\r\n\
                 Content-Disposition: form-data; name=\"files\"; filename=\"/data/a\\\"b\\\\c\"\r\n\r\n\
                 \x00bytes\r\n\r\n--{b}--\r\n"
            )
            .into_bytes()
        );
        // What we encode, we decode.
        let parts = decode(boundary.as_str(), &body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "request");
        assert_eq!(parts[0].body, br#"{"action":"write"}"#);
        assert_eq!(parts[1].name, "files");
        assert_eq!(parts[1].filename.as_deref(), Some(r#"/data/a"b\c"#));
        assert_eq!(parts[1].body, b"\x00bytes\r\n");
    }

    #[test]
    fn several_files_go_in_one_body_in_order() {
        let boundary = Boundary("c".repeat(32));
        let envelope = push_envelope(&boundary, b"{}", &["/a", "/b", "/c"]);
        assert_eq!(envelope.between.len(), 2);
        let body = [
            envelope.head.as_slice(),
            b"first",
            &envelope.between[0],
            b"",
            &envelope.between[1],
            b"third\r\n",
            &envelope.tail,
        ]
        .concat();
        let parts = decode(boundary.as_str(), &body).unwrap();
        let files: Vec<(Option<&str>, &[u8])> =
            parts[1..].iter().map(|part| (part.filename.as_deref(), part.body)).collect();
        assert_eq!(
            files,
            [(Some("/a"), &b"first"[..]), (Some("/b"), &b""[..]), (Some("/c"), &b"third\r\n"[..])]
        );
    }

    #[test]
    fn decodes_pull_responses_with_preamble_and_empty_files() {
        let body = b"preamble\r\n--XYZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"/empty\"\r\n\r\n\
                     \r\n--XYZ  \r\ncontent-disposition: form-data; name=files; filename=\"/f\"\r\nContent-Type: application/octet-stream\r\n\r\n\
                     line1\r\n--XY not a delimiter\r\n--XYZ\r\nContent-Disposition: form-data; name=\"response\"\r\n\r\n{}\r\n--XYZ--\r\nepilogue";
        let parts = decode("XYZ", body).unwrap();
        assert_eq!(
            parts,
            vec![
                Part { name: "files".into(), filename: Some("/empty".into()), body: b"" },
                Part {
                    name: "files".into(),
                    filename: Some("/f".into()),
                    body: b"line1\r\n--XY not a delimiter"
                },
                Part { name: "response".into(), filename: None, body: b"{}" },
            ]
        );
    }

    #[test]
    fn rejects_malformed_bodies() {
        let cases: [(&[u8], &str); 5] = [
            (b"no delimiter", "no multipart boundary"),
            (b"--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nunterminated", "not terminated"),
            (b"--Bjunk\r\n", "boundary line"),
            (b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--", "Content-Disposition"),
            (b"--B\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B--", "without a name"),
        ];
        for (body, expected) in cases {
            let err = decode("B", body).unwrap_err();
            assert!(err.contains(expected), "{err:?} lacks {expected:?}");
        }
    }

    #[test]
    fn finds_boundaries_in_content_types() {
        assert_eq!(boundary_of("multipart/form-data; boundary=abc").as_deref(), Some("abc"));
        assert_eq!(
            boundary_of("Multipart/Form-Data; charset=utf-8; Boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary_of("application/json"), None);
        assert_eq!(boundary_of("multipart/mixed; boundary=abc"), None);
        assert_eq!(boundary_of("multipart/form-data; boundary="), None);
    }
}
