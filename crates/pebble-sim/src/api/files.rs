//! `/v1/files`: list, read (multipart), write (multipart), make-dirs and remove.

use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{allow, Request, DECODE_BODY};
use crate::files::error::{FileError, GENERIC};
use crate::files::fsops::{DirSpec, Fs, WriteSpec};
use crate::files::glob::Pattern;
use crate::files::multipart::{self, parse_header_params};
use crate::files::owners::UserDb;
use crate::response::{bytes_response, sync_json, ApiError, ApiResult, Reply};
use crate::state::Shared;

const MIN_BOUNDARY_LEN: usize = 32;

pub fn files(shared: &Arc<Shared>, request: &Request) -> ApiResult {
    allow(&request.method, &[Method::GET, Method::POST])?;
    if request.method == Method::GET {
        let action = request.query.get("action").unwrap_or_default();
        return match action {
            "list" => list(shared, request),
            "read" => read(shared, request),
            _ => Err(ApiError::bad_request(format!("invalid action {action:?}"))),
        };
    }
    let content_type = request.header(CONTENT_TYPE).unwrap_or_default();
    let parsed = parse_header_params(content_type)
        .map_err(|_| ApiError::bad_request(format!("invalid media type {content_type:?}")))?;
    match parsed.value.as_str() {
        "multipart/form-data" => {
            let boundary = parsed.params.get("boundary").cloned().unwrap_or_default();
            write(shared, request, &boundary)
        }
        "application/json" => json_action(shared, request),
        other => Err(ApiError::bad_request(format!("invalid media type {other:?}"))),
    }
}

/// Runs `operate` on the filesystem with the owner index locked.
fn with_fs<T>(shared: &Shared, operate: impl FnOnce(&mut Fs<'_>) -> T) -> T {
    let db = UserDb::load(&shared.root);
    let mut state = shared.lock();
    let mut fs = Fs { root: &shared.root, db: &db, index: &mut state.owners };
    operate(&mut fs)
}

fn list(shared: &Shared, request: &Request) -> ApiResult {
    let path = request
        .query
        .get("path")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::bad_request("must specify path"))?;
    if !path.starts_with('/') {
        return Err(ApiError::bad_request(format!("path must be absolute, got {path:?}")));
    }
    let itself = match request.query.get("itself") {
        None | Some("" | "false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::bad_request("itself parameter must be \"true\" or \"false\"")),
    };
    let pattern = match request.query.get("pattern").filter(|p| !p.is_empty()) {
        Some(text) => Some(Pattern::parse(text).map_err(|e| ApiError::bad_request(e).with_kind(GENERIC))?),
        None => None,
    };
    let entries =
        with_fs(shared, |fs| fs.list(path, pattern.as_ref(), itself)).map_err(FileError::into_api)?;
    Ok(Reply::Sync(Value::Array(entries)))
}

fn read(shared: &Shared, request: &Request) -> ApiResult {
    let accepts = request.header(ACCEPT).is_some_and(|a| a.contains("multipart/form-data"));
    if !accepts {
        return Err(ApiError::bad_request("must accept multipart/form-data"));
    }
    let paths = request.query.all("path");
    if paths.is_empty() {
        return Err(ApiError::bad_request("must specify one or more paths"));
    }
    let mut writer = multipart::Writer::new();
    let mut results = Vec::with_capacity(paths.len());
    with_fs(shared, |fs| {
        for path in &paths {
            match fs.read(path) {
                Ok(content) => {
                    let disposition = format!("name=\"files\"; filename={}", multipart::quote(path));
                    writer.part(&disposition, "application/octet-stream", &content);
                    results.push(json!({"path": path}));
                }
                Err(e) => results.push(json!({"path": path, "error": e.to_json()})),
            }
        }
    });
    let response = sync_json(Value::Array(results)).to_string();
    writer.part("name=\"response\"", "application/json", response.as_bytes());
    let content_type = writer.content_type();
    Ok(Reply::Raw(bytes_response(StatusCode::OK, &content_type, Bytes::from(writer.finish()))))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WriteRequest {
    action: String,
    files: Vec<WriteSpec>,
}

fn write(shared: &Shared, request: &Request, boundary: &str) -> ApiResult {
    if boundary.len() < MIN_BOUNDARY_LEN {
        return Err(ApiError::bad_request(format!("invalid boundary {boundary:?}")));
    }
    let parts = multipart::parse(&request.body, boundary)
        .map_err(|e| ApiError::bad_request(format!("cannot read multipart body: {e}")))?;
    let Some((metadata, contents)) = parts.split_first() else {
        return Err(ApiError::bad_request("cannot read request metadata: no multipart parts"));
    };
    if metadata.name != "request" {
        return Err(ApiError::bad_request(format!(
            "metadata field name must be \"request\", got {:?}",
            metadata.name
        )));
    }
    let meta: WriteRequest = serde_json::from_slice(&metadata.data)
        .map_err(|e| ApiError::bad_request(format!("cannot decode request metadata: {e}")))?;
    if meta.action != "write" {
        return Err(ApiError::bad_request(format!(
            "multipart action must be \"write\", got {:?}",
            meta.action
        )));
    }
    if meta.files.is_empty() {
        return Err(ApiError::bad_request("must specify one or more files"));
    }
    let mut outcomes: Vec<Option<Result<(), FileError>>> = vec![None; meta.files.len()];
    with_fs(shared, |fs| {
        for part in contents {
            if part.name != "files" {
                return Err(ApiError::bad_request(format!(
                    "field name must be \"files\", got {:?}",
                    part.name
                )));
            }
            let path = part.filename.clone().unwrap_or_default();
            let index = meta
                .files
                .iter()
                .position(|f| f.path == path)
                .ok_or_else(|| ApiError::bad_request(format!("no metadata for path {path:?}")))?;
            outcomes[index] = Some(fs.write(&meta.files[index], &part.data));
        }
        Ok(())
    })?;
    let results = meta
        .files
        .iter()
        .zip(outcomes)
        .map(|(spec, outcome)| {
            let outcome = outcome.unwrap_or_else(|| {
                Err(FileError::generic(format!("no file content for path {:?}", spec.path)))
            });
            path_result(&spec.path, outcome)
        })
        .collect();
    Ok(Reply::Sync(Value::Array(results)))
}

fn path_result(path: &str, outcome: Result<(), FileError>) -> Value {
    match outcome {
        Ok(()) => json!({"path": path}),
        Err(e) => json!({"path": path, "error": e.to_json()}),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RemoveSpec {
    path: String,
    recursive: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JsonRequest {
    action: String,
    dirs: Vec<DirSpec>,
    paths: Vec<RemoveSpec>,
}

fn json_action(shared: &Shared, request: &Request) -> ApiResult {
    let body: JsonRequest = request.json(DECODE_BODY)?;
    let results: Vec<Value> = match body.action.as_str() {
        "make-dirs" => {
            if body.dirs.is_empty() {
                return Err(ApiError::bad_request("must specify one or more dirs"));
            }
            with_fs(shared, |fs| {
                body.dirs.iter().map(|dir| path_result(&dir.path, fs.make_dir(dir))).collect()
            })
        }
        "remove" => {
            if body.paths.is_empty() {
                return Err(ApiError::bad_request("must specify one or more paths"));
            }
            with_fs(shared, |fs| {
                body.paths.iter().map(|p| path_result(&p.path, fs.remove(&p.path, p.recursive))).collect()
            })
        }
        "write" => return Err(ApiError::bad_request("must use multipart with \"write\" action")),
        other => return Err(ApiError::bad_request(format!("invalid action {other:?}"))),
    };
    Ok(Reply::Sync(Value::Array(results)))
}
