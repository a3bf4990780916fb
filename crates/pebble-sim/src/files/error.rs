//! Per-path file errors (`{"message","kind"}`) with Go-style OS error texts.

use std::io;

use hyper::StatusCode;
use serde_json::{json, Value};

use crate::response::ApiError;

pub const NOT_FOUND: &str = "not-found";
pub const PERMISSION_DENIED: &str = "permission-denied";
pub const GENERIC: &str = "generic-file-error";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub kind: &'static str,
    pub message: String,
}

impl FileError {
    pub fn generic(message: impl Into<String>) -> Self {
        Self { kind: GENERIC, message: message.into() }
    }

    /// `"<op> <container path>: <go errno text>"`, kind from the errno.
    pub fn io(op: &str, path: &str, error: &io::Error) -> Self {
        Self { kind: kind_of(error), message: format!("{op} {path}: {}", go_text(error)) }
    }

    pub fn to_json(&self) -> Value {
        json!({"message": self.message, "kind": self.kind})
    }

    /// As a whole-request error: 404, 403 or 400 by kind.
    pub fn into_api(self) -> ApiError {
        let status = match self.kind {
            NOT_FOUND => StatusCode::NOT_FOUND,
            PERMISSION_DENIED => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, self.message).with_kind(self.kind)
    }
}

fn kind_of(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::NotFound => NOT_FOUND,
        io::ErrorKind::PermissionDenied => PERMISSION_DENIED,
        _ => GENERIC,
    }
}

/// Go's text for an errno: the C text with a lowercase first letter (`no such file or directory`).
pub fn go_text(error: &io::Error) -> String {
    let text = match error.raw_os_error() {
        Some(code) => {
            let full = io::Error::from_raw_os_error(code).to_string();
            match full.rfind(" (os error") {
                Some(end) => full[..end].to_owned(),
                None => full,
            }
        }
        None => error.to_string(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_like_go() {
        let missing = io::Error::from_raw_os_error(2);
        let e = FileError::io("stat", "/x", &missing);
        assert_eq!(e.message, "stat /x: no such file or directory");
        assert_eq!(e.kind, NOT_FOUND);
        let not_empty = io::Error::from_raw_os_error(39);
        assert_eq!(FileError::io("remove", "/d", &not_empty).message, "remove /d: directory not empty");
    }
}
