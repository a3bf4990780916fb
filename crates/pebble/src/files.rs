//! The file API: push (multipart write), pull (multipart read), list, make-dirs and remove.
//! Failures for a path become [`Error::Path`].

use serde::{Deserialize, Deserializer, Serialize};

use crate::client::{Client, JSON};
use crate::envelope::Envelope;
use crate::error::{protocol, Error, Result};
use crate::http::{target, Request};
use crate::multipart::{self, Boundary};

const FILE_ERROR_KINDS: [&str; 3] = ["not-found", "permission-denied", "generic-file-error"];

/// A file's metadata, from [`Client::list_files`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FileInfo {
    pub path: String,
    pub name: String,
    #[serde(rename = "type")]
    pub file_type: FileType,
    /// Size in bytes (regular files only).
    #[serde(default)]
    pub size: Option<u64>,
    /// Permission bits, e.g. `0o644`.
    #[serde(deserialize_with = "octal")]
    pub permissions: u32,
    #[serde(default)]
    pub last_modified: String,
    #[serde(default)]
    pub user_id: Option<u32>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub group_id: Option<u32>,
    #[serde(default)]
    pub group: Option<String>,
}

/// A file's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileType {
    File,
    Directory,
    Symlink,
    Socket,
    NamedPipe,
    Device,
    #[serde(other)]
    Unknown,
}

fn octal<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let text = String::deserialize(deserializer)?;
    u32::from_str_radix(&text, 8).map_err(|_| serde::de::Error::custom("permissions not octal"))
}

/// Options for [`Client::push`]. Pebble defaults to mode `0o644`, owned by its own user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushOptions {
    /// Create missing parent directories (mode `0o755`, same owner).
    pub make_dirs: bool,
    /// Permission bits, e.g. `0o600`.
    pub permissions: Option<u32>,
    pub user_id: Option<u32>,
    pub user: Option<String>,
    pub group_id: Option<u32>,
    pub group: Option<String>,
}

/// One file of [`Client::push_all`].
#[derive(Clone, Copy, Debug)]
pub struct FileToPush<'a> {
    pub path: &'a str,
    pub content: &'a [u8],
    pub options: &'a PushOptions,
}

/// Options for [`Client::make_dir`]. Pebble defaults to mode `0o755`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MakeDirOptions {
    /// Create missing parents too, and succeed if the directory exists.
    pub make_parents: bool,
    /// Permission bits, e.g. `0o750`.
    pub permissions: Option<u32>,
    pub user_id: Option<u32>,
    pub user: Option<String>,
    pub group_id: Option<u32>,
    pub group: Option<String>,
}

/// One path of a write or make-dirs request.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct PathRequest<'a> {
    path: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    make_dirs: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    make_parents: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a str>,
}

#[derive(Serialize)]
struct WriteRequest<'a> {
    action: &'static str,
    files: Vec<PathRequest<'a>>,
}

#[derive(Serialize)]
struct MakeDirsRequest<'a> {
    action: &'static str,
    dirs: [PathRequest<'a>; 1],
}

#[derive(Serialize)]
struct RemoveRequest<'a> {
    action: &'static str,
    paths: Vec<RemovePath<'a>>,
}

#[derive(Serialize)]
struct RemovePath<'a> {
    path: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    recursive: bool,
}

/// The outcome for one path.
#[derive(Deserialize)]
struct PathResult {
    path: String,
    error: Option<PathFailure>,
}

#[derive(Deserialize)]
struct PathFailure {
    #[serde(default)]
    message: String,
    #[serde(default)]
    kind: String,
}

/// The JSON `response` part of a pull.
#[derive(Deserialize)]
struct PullResponse {
    result: Vec<PathResult>,
}

/// Fails with the error reported for `path`, if any.
fn check_path(request: &str, path: &str, results: &[PathResult]) -> Result<()> {
    let result = results
        .iter()
        .find(|result| result.path == path)
        .ok_or_else(|| protocol(request, format_args!("no result for {path:?}")))?;
    match &result.error {
        None => Ok(()),
        Some(failure) => Err(Error::Path {
            path: result.path.clone(),
            kind: failure.kind.clone(),
            message: failure.message.clone(),
        }),
    }
}

fn octal_mode(mode: Option<u32>) -> Option<String> {
    mode.map(|mode| format!("{mode:03o}"))
}

impl Client {
    /// Writes `content` to `path` atomically.
    pub fn push(&self, path: &str, content: &[u8], options: &PushOptions) -> Result<()> {
        self.push_all(&[FileToPush { path, content, options }])
    }

    /// Writes every file in one request, each atomically; fails with the first file Pebble
    /// could not write (the others are written).
    pub fn push_all(&self, files: &[FileToPush]) -> Result<()> {
        let Some(first) = files.first() else { return Ok(()) };
        if let Some(file) = files.iter().find(|file| file.path.contains(['\r', '\n'])) {
            return Err(Error::Path {
                path: file.path.to_owned(),
                kind: "generic-file-error".to_owned(),
                message: "paths cannot contain line breaks".to_owned(),
            });
        }
        let metadata = WriteRequest {
            action: "write",
            files: files
                .iter()
                .map(|file| PathRequest {
                    path: file.path,
                    make_dirs: file.options.make_dirs,
                    make_parents: false,
                    permissions: octal_mode(file.options.permissions),
                    user_id: file.options.user_id,
                    user: file.options.user.as_deref(),
                    group_id: file.options.group_id,
                    group: file.options.group.as_deref(),
                })
                .collect(),
        };
        let describe = "POST /v1/files";
        let metadata = serde_json::to_vec(&metadata)
            .map_err(|err| protocol(describe, format_args!("cannot encode request: {err}")))?;
        let contents: Vec<&[u8]> =
            std::iter::once(metadata.as_slice()).chain(files.iter().map(|file| file.content)).collect();
        let boundary = Boundary::avoiding(&contents);
        let paths: Vec<&str> = files.iter().map(|file| file.path).collect();
        let envelope = multipart::push_envelope(&boundary, &metadata, &paths);
        let mut body: Vec<&[u8]> = vec![&envelope.head, first.content];
        for (between, file) in envelope.between.iter().zip(&files[1..]) {
            body.extend([between.as_slice(), file.content]);
        }
        body.push(&envelope.tail);
        let response = self.send(&Request {
            method: "POST",
            target: "/v1/files",
            content_type: Some(&boundary.content_type()),
            accept: JSON,
            body: &body,
        })?;
        let results: Vec<PathResult> = Envelope::decode(describe, &response)?.into_result(describe)?;
        for path in paths {
            check_path(describe, path, &results)?;
        }
        Ok(())
    }

    /// Reads the whole file at `path`.
    pub fn pull(&self, path: &str) -> Result<Vec<u8>> {
        let target = target("/v1/files", &[("action", "read"), ("path", path)]);
        let describe = format!("GET {target}");
        let response = self.send(&Request {
            method: "GET",
            target: &target,
            content_type: None,
            accept: "multipart/form-data",
            body: &[],
        })?;
        let Some(boundary) = response.header("Content-Type").and_then(multipart::boundary_of) else {
            // Request-level errors come as JSON envelopes.
            Envelope::decode(&describe, &response)?;
            return Err(protocol(&describe, "expected a multipart/form-data response"));
        };
        let parts = multipart::decode(&boundary, &response.body).map_err(|what| protocol(&describe, what))?;
        let status = parts
            .iter()
            .find(|part| part.name == "response")
            .ok_or_else(|| protocol(&describe, "no \"response\" part"))?;
        let status: PullResponse = serde_json::from_slice(status.body)
            .map_err(|err| crate::envelope::json_error(&describe, &err))?;
        check_path(&describe, path, &status.result)?;
        parts
            .into_iter()
            .find(|part| part.name == "files" && part.filename.as_deref() == Some(path))
            .map(|part| part.body.to_vec())
            .ok_or_else(|| protocol(&describe, format_args!("no file content for {path:?}")))
    }

    /// Lists the directory `path` (or, with `itself` or for a file, the path itself),
    /// optionally only entries matching the glob `pattern`.
    pub fn list_files(&self, path: &str, pattern: Option<&str>, itself: bool) -> Result<Vec<FileInfo>> {
        let mut params = vec![("action", "list"), ("path", path)];
        if let Some(pattern) = pattern {
            params.push(("pattern", pattern));
        }
        if itself {
            params.push(("itself", "true"));
        }
        self.get(&target("/v1/files", &params)).map_err(|err| path_error(path, err))
    }

    /// Whether `path` exists.
    pub fn exists(&self, path: &str) -> Result<bool> {
        match self.list_files(path, None, true) {
            Ok(_) => Ok(true),
            Err(err) if err.is_not_found() => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Whether `path` exists and is a directory.
    pub fn is_dir(&self, path: &str) -> Result<bool> {
        match self.list_files(path, None, true) {
            Ok(entries) => Ok(entries.first().is_some_and(|entry| entry.file_type == FileType::Directory)),
            Err(err) if err.is_not_found() => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Creates the directory `path`.
    pub fn make_dir(&self, path: &str, options: &MakeDirOptions) -> Result<()> {
        let request = MakeDirsRequest {
            action: "make-dirs",
            dirs: [PathRequest {
                path,
                make_dirs: false,
                make_parents: options.make_parents,
                permissions: octal_mode(options.permissions),
                user_id: options.user_id,
                user: options.user.as_deref(),
                group_id: options.group_id,
                group: options.group.as_deref(),
            }],
        };
        let results: Vec<PathResult> = self.post("/v1/files", &request)?;
        check_path("POST /v1/files", path, &results)
    }

    /// Removes `path`; `recursive` removes a directory tree and accepts a missing path.
    pub fn remove_path(&self, path: &str, recursive: bool) -> Result<()> {
        let request = RemoveRequest { action: "remove", paths: vec![RemovePath { path, recursive }] };
        let results: Vec<PathResult> = self.post("/v1/files", &request)?;
        check_path("POST /v1/files", path, &results)
    }

    /// Removes each of `paths` (files or empty directories) in one request; a path already
    /// gone is fine. Fails with the first other path Pebble could not remove (the others are
    /// removed).
    pub fn remove_all_present(&self, paths: &[&str]) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let request = RemoveRequest {
            action: "remove",
            paths: paths.iter().map(|path| RemovePath { path, recursive: false }).collect(),
        };
        let results: Vec<PathResult> = self.post("/v1/files", &request)?;
        for path in paths {
            match check_path("POST /v1/files", path, &results) {
                Err(error) if error.is_not_found() => {}
                other => other?,
            }
        }
        Ok(())
    }
}

/// A file error envelope (it has a file error kind) becomes [`Error::Path`].
fn path_error(path: &str, err: Error) -> Error {
    match err {
        Error::Api { kind: Some(kind), message, .. } if FILE_ERROR_KINDS.contains(&kind.as_str()) => {
            Error::Path { path: path.to_owned(), kind, message }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_info_parses_octal_permissions_and_types() {
        let entries: Vec<FileInfo> = serde_json::from_str(
            r#"[{"path":"/data/a","name":"a","type":"file","size":3,"permissions":"640",
                 "last-modified":"2024-01-01T00:00:00Z","user-id":991,"user":"synapse","group-id":991,"group":"synapse"},
                {"path":"/data/d","name":"d","type":"directory","permissions":"755","last-modified":"x"},
                {"path":"/data/p","name":"p","type":"named-pipe","permissions":"600","last-modified":"x"},
                {"path":"/data/w","name":"w","type":"whiteout","permissions":"000","last-modified":"x"}]"#,
        )
        .unwrap();
        assert_eq!(entries[0].permissions, 0o640);
        assert_eq!(entries[0].size, Some(3));
        assert_eq!(entries[0].user_id, Some(991));
        assert_eq!(entries[1].file_type, FileType::Directory);
        assert_eq!(entries[1].size, None);
        assert_eq!(entries[2].file_type, FileType::NamedPipe);
        assert_eq!(entries[3].file_type, FileType::Unknown);
        let bad: Result<FileInfo, _> = serde_json::from_str(
            r#"{"path":"/a","name":"a","type":"file","permissions":"rw-","last-modified":"x"}"#,
        );
        assert!(bad.is_err());
    }

    #[test]
    fn write_metadata_uses_pebble_names() {
        let request = WriteRequest {
            action: "write",
            files: vec![PathRequest {
                path: "/data/homeserver.yaml",
                make_dirs: true,
                make_parents: false,
                permissions: octal_mode(Some(0o600)),
                user_id: Some(991),
                user: None,
                group_id: Some(991),
                group: Some("synapse"),
            }],
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            serde_json::json!({"action": "write", "files": [{
                "path": "/data/homeserver.yaml", "make-dirs": true, "permissions": "600",
                "user-id": 991, "group-id": 991, "group": "synapse"}]})
        );
        assert_eq!(octal_mode(Some(0o55)).as_deref(), Some("055"));
    }

    #[test]
    fn per_path_errors_become_path_errors() {
        let results = vec![PathResult {
            path: "/x".into(),
            error: Some(PathFailure {
                message: "stat /x: no such file or directory".into(),
                kind: "not-found".into(),
            }),
        }];
        let err = check_path("POST /v1/files", "/x", &results).unwrap_err();
        assert!(err.is_not_found());
        assert_eq!(err.to_string(), "/x: stat /x: no such file or directory (not-found)");
        let err = check_path("POST /v1/files", "/y", &[]).unwrap_err();
        assert!(matches!(err, Error::Protocol(_)));
    }

    #[test]
    fn file_error_envelopes_become_path_errors() {
        let api = |kind: Option<&str>| Error::Api {
            status_code: 404,
            status: "Not Found".into(),
            message: "stat /x: no such file or directory".into(),
            kind: kind.map(str::to_owned),
        };
        assert!(
            matches!(path_error("/x", api(Some("not-found"))), Error::Path { ref kind, .. } if kind == "not-found")
        );
        assert!(matches!(path_error("/x", api(None)), Error::Api { .. }));
        assert!(matches!(path_error("/x", api(Some("login-required"))), Error::Api { .. }));
    }
}
