//! File operations on container paths mapped under the root: list, read, atomic write,
//! make-dirs and remove, recording requested owners in the [`OwnerIndex`].

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::error::FileError;
use super::glob::Pattern;
use super::owners::{Owner, OwnerIndex, OwnerRequest, UserDb};
use super::paths::{base_name, clean_absolute, host_path, join, parent};
use crate::timefmt::rfc3339;

/// Metadata of one file of a `write` request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct WriteSpec {
    pub path: String,
    #[serde(default)]
    pub make_dirs: bool,
    pub permissions: Option<String>,
    #[serde(flatten)]
    pub owner: OwnerFields,
}

/// One directory of a `make-dirs` request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DirSpec {
    pub path: String,
    #[serde(default)]
    pub make_parents: bool,
    pub permissions: Option<String>,
    #[serde(flatten)]
    pub owner: OwnerFields,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct OwnerFields {
    pub user_id: Option<u32>,
    pub user: Option<String>,
    pub group_id: Option<u32>,
    pub group: Option<String>,
}

impl OwnerFields {
    pub fn request(&self) -> OwnerRequest<'_> {
        OwnerRequest {
            user_id: self.user_id,
            user: self.user.as_deref(),
            group_id: self.group_id,
            group: self.group.as_deref(),
        }
    }
}

/// What a file looks like to tests: mode bits and the owner as recorded (or as on disk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    pub kind: FileKind,
    /// Permission bits, e.g. `0o600`.
    pub permissions: u32,
    pub user_id: u32,
    pub group_id: u32,
    pub user: Option<String>,
    pub group: Option<String>,
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Directory,
    Symlink,
    Other,
}

/// The container filesystem seen through the root, with the owner index.
pub struct Fs<'a> {
    pub root: &'a Path,
    pub db: &'a UserDb,
    pub index: &'a mut OwnerIndex,
}

impl Fs<'_> {
    fn locate(&self, path: &str) -> Result<(String, PathBuf), FileError> {
        let clean = clean_absolute(path)
            .ok_or_else(|| FileError::generic(format!("paths must be absolute, got {path:?}")))?;
        let host = host_path(self.root, &clean);
        Ok((clean, host))
    }

    /// Entries of a directory (or the path itself) as `action=list` JSON objects.
    pub fn list(&self, path: &str, pattern: Option<&Pattern>, itself: bool) -> Result<Vec<Value>, FileError> {
        let (clean, host) = self.locate(path)?;
        let target = fs::metadata(&host).map_err(|e| FileError::io("stat", path, &e))?;
        let matches = |name: &str| pattern.is_none_or(|p| p.matches(name));
        if !target.is_dir() || itself {
            let name = base_name(&clean);
            let info = fs::symlink_metadata(&host).map_err(|e| FileError::io("stat", path, &e))?;
            return Ok(if matches(name) { vec![self.entry(&clean, name, &info)] } else { Vec::new() });
        }
        let read_dir = fs::read_dir(&host).map_err(|e| FileError::io("open", path, &e))?;
        let mut entries = Vec::new();
        for dir_entry in read_dir {
            let dir_entry = dir_entry.map_err(|e| FileError::io("readdir", path, &e))?;
            let name = dir_entry.file_name().to_string_lossy().into_owned();
            if !matches(&name) {
                continue;
            }
            let entry_path = join(&clean, &name);
            let info = dir_entry.metadata().map_err(|e| FileError::io("lstat", &entry_path, &e))?;
            entries.push((name.clone(), self.entry(&entry_path, &name, &info)));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(entries.into_iter().map(|(_, entry)| entry).collect())
    }

    fn entry(&self, clean: &str, name: &str, info: &fs::Metadata) -> Value {
        let meta = self.describe(clean, info);
        let kind = match meta.kind {
            FileKind::File => "file",
            FileKind::Directory => "directory",
            FileKind::Symlink => "symlink",
            FileKind::Other => other_type(info),
        };
        let mut entry = Map::new();
        entry.insert("path".into(), json!(clean));
        entry.insert("name".into(), json!(name));
        entry.insert("type".into(), json!(kind));
        if meta.kind == FileKind::File {
            entry.insert("size".into(), json!(meta.size));
        }
        entry.insert("permissions".into(), json!(format!("{:03o}", meta.permissions)));
        if let Ok(modified) = info.modified() {
            entry.insert("last-modified".into(), json!(rfc3339(modified.into())));
        }
        entry.insert("user-id".into(), json!(meta.user_id));
        if let Some(user) = meta.user {
            entry.insert("user".into(), json!(user));
        }
        entry.insert("group-id".into(), json!(meta.group_id));
        if let Some(group) = meta.group {
            entry.insert("group".into(), json!(group));
        }
        Value::Object(entry)
    }

    fn describe(&self, clean: &str, info: &fs::Metadata) -> FileMeta {
        let file_type = info.file_type();
        let kind = if file_type.is_symlink() {
            FileKind::Symlink
        } else if file_type.is_dir() {
            FileKind::Directory
        } else if file_type.is_file() {
            FileKind::File
        } else {
            FileKind::Other
        };
        let (user_id, group_id, user, group) = match self.index.get(clean) {
            Some(owner) => (
                owner.uid,
                owner.gid,
                owner.user.clone().or_else(|| self.db.user_name(owner.uid)),
                owner.group.clone().or_else(|| self.db.group_name(owner.gid)),
            ),
            None => (info.uid(), info.gid(), self.db.user_name(info.uid()), self.db.group_name(info.gid())),
        };
        FileMeta { kind, permissions: info.mode() & 0o777, user_id, group_id, user, group, size: info.len() }
    }

    /// Metadata of a container path (not following a final symlink).
    pub fn meta(&self, path: &str) -> Option<FileMeta> {
        let (clean, host) = self.locate(path).ok()?;
        let info = fs::symlink_metadata(host).ok()?;
        Some(self.describe(&clean, &info))
    }

    /// Content of a regular file.
    pub fn read(&self, path: &str) -> Result<Vec<u8>, FileError> {
        let (_, host) = self.locate(path)?;
        let info = fs::metadata(&host).map_err(|e| FileError::io("open", path, &e))?;
        if !info.is_file() {
            return Err(FileError::generic(format!("can only read a regular file: {path:?}")));
        }
        fs::read(&host).map_err(|e| FileError::io("open", path, &e))
    }

    /// Atomically writes a file (temporary file + rename) with its mode and owner.
    pub fn write(&mut self, spec: &WriteSpec, content: &[u8]) -> Result<(), FileError> {
        let (clean, host) = self.locate(&spec.path)?;
        let mode = parse_permissions(spec.permissions.as_deref(), 0o644)?;
        let owner = self.owner(&spec.owner)?;
        if spec.make_dirs {
            self.create_dirs(parent(&clean), 0o755, owner.as_ref()).map_err(|e| FileError {
                kind: e.kind,
                message: format!("cannot create directory: {}", e.message),
            })?;
        }
        let dir = host.parent().unwrap_or(self.root);
        let temp = dir.join(format!(".{}.{:016x}~", base_name(&clean), rand::random::<u64>()));
        let written = write_new(&temp, mode, owner.as_ref(), content)
            .map_err(|e| FileError::io("open", &spec.path, &e))
            .and_then(|()| fs::rename(&temp, &host).map_err(|e| FileError::io("rename", &spec.path, &e)));
        if written.is_err() {
            // Best effort: the temporary file may not even exist.
            let _ = fs::remove_file(&temp);
        }
        written?;
        self.index.set(&clean, owner.as_ref());
        self.index.wrote(&clean);
        Ok(())
    }

    /// Creates one directory (or, with `make-parents`, every missing one on its path).
    pub fn make_dir(&mut self, spec: &DirSpec) -> Result<(), FileError> {
        let (clean, host) = self.locate(&spec.path)?;
        let mode = parse_permissions(spec.permissions.as_deref(), 0o755)?;
        let owner = self.owner(&spec.owner)?;
        if spec.make_parents {
            return self.create_dirs(&clean, mode, owner.as_ref());
        }
        create_dir(&host, mode, owner.as_ref()).map_err(|e| FileError::io("mkdir", &spec.path, &e))?;
        self.index.set(&clean, owner.as_ref());
        Ok(())
    }

    /// Gives an existing path the owner `uid:gid`, as `chown` does.
    pub fn change_owner(&mut self, path: &str, uid: u32, gid: u32) -> Result<(), FileError> {
        let (clean, host) = self.locate(path)?;
        fs::symlink_metadata(&host).map_err(|e| FileError::io("stat", path, &e))?;
        let owner = Owner { uid, gid, user: None, group: None };
        apply_owner(&host, Some(&owner)).map_err(|e| FileError::io("chown", path, &e))?;
        self.index.set(&clean, Some(&owner));
        Ok(())
    }

    /// Removes a file or empty directory; `recursive` removes a tree and ignores a missing path.
    pub fn remove(&mut self, path: &str, recursive: bool) -> Result<(), FileError> {
        let (clean, host) = self.locate(path)?;
        if clean == "/" {
            return Err(FileError::generic(format!("cannot remove the container root {path:?}")));
        }
        let outcome = match fs::symlink_metadata(&host) {
            Err(e) if recursive && e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
            Ok(info) if info.is_dir() && recursive => fs::remove_dir_all(&host),
            Ok(info) if info.is_dir() => fs::remove_dir(&host),
            Ok(_) => fs::remove_file(&host),
        };
        outcome.map_err(|e| FileError::io("remove", path, &e))?;
        self.index.forget_tree(&clean);
        Ok(())
    }

    fn owner(&self, fields: &OwnerFields) -> Result<Option<Owner>, FileError> {
        self.db
            .resolve(fields.request())
            .map_err(|e| FileError::generic(format!("cannot look up user and group: {e}")))
    }

    /// `mkdir -p` where each created directory gets `mode` and `owner`.
    fn create_dirs(&mut self, clean: &str, mode: u32, owner: Option<&Owner>) -> Result<(), FileError> {
        let mut current = String::from("/");
        for part in clean.split('/').filter(|p| !p.is_empty()) {
            current = join(&current, part);
            let host = host_path(self.root, &current);
            match fs::metadata(&host) {
                Ok(info) if info.is_dir() => continue,
                Ok(_) => {
                    let e = std::io::Error::from_raw_os_error(rustix::io::Errno::NOTDIR.raw_os_error());
                    return Err(FileError::io("mkdir", &current, &e));
                }
                Err(_) => {
                    create_dir(&host, mode, owner).map_err(|e| FileError::io("mkdir", &current, &e))?;
                    self.index.set(&current, owner);
                }
            }
        }
        Ok(())
    }
}

fn other_type(info: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let file_type = info.file_type();
    if file_type.is_socket() {
        "socket"
    } else if file_type.is_fifo() {
        "named-pipe"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "device"
    } else {
        "unknown"
    }
}

/// `"600"` → `0o600`; exactly three octal digits.
fn parse_permissions(text: Option<&str>, default: u32) -> Result<u32, FileError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(default);
    };
    if text.len() != 3 {
        return Err(bad_permissions(text));
    }
    u32::from_str_radix(text, 8).map_err(|_| bad_permissions(text))
}

fn bad_permissions(text: &str) -> FileError {
    FileError::generic(format!("permissions must be a 3-digit octal string, got {text:?}"))
}

fn write_new(path: &Path, mode: u32, owner: Option<&Owner>, content: &[u8]) -> std::io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path)?;
    file.write_all(content)?;
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    apply_owner(path, owner)
}

fn create_dir(path: &Path, mode: u32, owner: Option<&Owner>) -> std::io::Result<()> {
    fs::create_dir(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    apply_owner(path, owner)
}

/// Applies the owner for real when running as root (it is recorded in the index either way).
fn apply_owner(path: &Path, owner: Option<&Owner>) -> std::io::Result<()> {
    match owner {
        Some(owner) if rustix::process::geteuid().is_root() => {
            std::os::unix::fs::chown(path, Some(owner.uid), Some(owner.gid))
        }
        _ => Ok(()),
    }
}
