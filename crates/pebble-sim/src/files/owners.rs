//! File owners: the container's user database (`root/etc/passwd`, `root/etc/group`, then the
//! host's), Pebble's rules for turning user/user-id/group/group-id into an owner, and the index
//! of owners recorded by pushes (so uid/gid 991 can be asserted even when not applied).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
    pub user: Option<String>,
    pub group: Option<String>,
}

/// The owner fields of a request (file write, make-dirs, exec, service).
#[derive(Debug, Clone, Copy, Default)]
pub struct OwnerRequest<'a> {
    pub user_id: Option<u32>,
    pub user: Option<&'a str>,
    pub group_id: Option<u32>,
    pub group: Option<&'a str>,
}

#[derive(Debug, Clone)]
struct Account {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

#[derive(Debug, Clone)]
struct GroupEntry {
    name: String,
    gid: u32,
}

/// Users and groups known in the container (then on the host).
#[derive(Debug, Clone, Default)]
pub struct UserDb {
    users: Vec<Account>,
    groups: Vec<GroupEntry>,
}

impl UserDb {
    pub fn load(root: &Path) -> Self {
        Self::load_from(&[root.join("etc"), Path::new("/etc").to_path_buf()])
    }

    /// The container's own users and groups only (`root/etc/passwd`, `root/etc/group`): what
    /// a process in the container finds when it looks a user up.
    pub fn load_container(root: &Path) -> Self {
        Self::load_from(&[root.join("etc")])
    }

    fn load_from(dirs: &[std::path::PathBuf]) -> Self {
        let mut db = UserDb::default();
        for etc in dirs {
            if let Ok(text) = std::fs::read_to_string(etc.join("passwd")) {
                db.users.extend(text.lines().filter_map(parse_passwd_line));
            }
            if let Ok(text) = std::fs::read_to_string(etc.join("group")) {
                db.groups.extend(text.lines().filter_map(parse_group_line));
            }
        }
        db
    }

    fn user_by_name(&self, name: &str) -> Option<&Account> {
        self.users.iter().find(|u| u.name == name)
    }

    fn user_by_id(&self, uid: u32) -> Option<&Account> {
        self.users.iter().find(|u| u.uid == uid)
    }

    pub fn user_name(&self, uid: u32) -> Option<String> {
        self.user_by_id(uid).map(|u| u.name.clone())
    }

    pub fn group_name(&self, gid: u32) -> Option<String> {
        self.groups.iter().find(|g| g.gid == gid).map(|g| g.name.clone())
    }

    /// Name and home directory of a user id, when known.
    pub fn account(&self, uid: u32) -> Option<(String, String)> {
        self.user_by_id(uid).map(|u| (u.name.clone(), u.home.clone()))
    }

    /// Pebble's normalisation: nothing set → `None`; a group needs a user; names must agree
    /// with ids; no group → the user's primary group.
    pub fn resolve(&self, request: OwnerRequest<'_>) -> Result<Option<Owner>, String> {
        let (uid, user, primary_gid) = match (request.user, request.user_id) {
            (None, None) => {
                if request.group.is_some() || request.group_id.is_some() {
                    return Err("must specify user, not just group".to_owned());
                }
                return Ok(None);
            }
            (Some(name), id) => {
                let account = self.user_by_name(name).ok_or_else(|| format!("user: unknown user {name}"))?;
                if let Some(id) = id.filter(|id| *id != account.uid) {
                    return Err(format!("user {name:?} UID ({}) does not match user-id ({id})", account.uid));
                }
                (account.uid, Some(name.to_owned()), Some(account.gid))
            }
            (None, Some(uid)) => {
                let account = self.user_by_id(uid);
                (uid, account.map(|a| a.name.clone()), account.map(|a| a.gid))
            }
        };
        let (gid, group) = match (request.group, request.group_id) {
            (Some(name), id) => {
                let entry = self
                    .groups
                    .iter()
                    .find(|g| g.name == name)
                    .ok_or_else(|| format!("group: unknown group {name}"))?;
                if let Some(id) = id.filter(|id| *id != entry.gid) {
                    return Err(format!("group {name:?} GID ({}) does not match group-id ({id})", entry.gid));
                }
                (entry.gid, Some(name.to_owned()))
            }
            (None, Some(gid)) => (gid, self.group_name(gid)),
            (None, None) => {
                let gid = primary_gid.ok_or_else(|| format!("user: unknown userid {uid}"))?;
                (gid, self.group_name(gid))
            }
        };
        Ok(Some(Owner { uid, gid, user, group }))
    }
}

fn parse_passwd_line(line: &str) -> Option<Account> {
    let fields: Vec<&str> = line.split(':').collect();
    match fields.as_slice() {
        [name, _, uid, gid, _, home, ..] if !name.starts_with('#') => Some(Account {
            name: (*name).to_owned(),
            uid: uid.parse().ok()?,
            gid: gid.parse().ok()?,
            home: (*home).to_owned(),
        }),
        _ => None,
    }
}

fn parse_group_line(line: &str) -> Option<GroupEntry> {
    let fields: Vec<&str> = line.split(':').collect();
    match fields.as_slice() {
        [name, _, gid, ..] if !name.starts_with('#') => {
            Some(GroupEntry { name: (*name).to_owned(), gid: gid.parse().ok()? })
        }
        _ => None,
    }
}

/// Owners requested for container paths, and which files were written through the API.
#[derive(Debug, Default)]
pub struct OwnerIndex {
    owners: BTreeMap<String, Owner>,
    written: BTreeSet<String>,
}

impl OwnerIndex {
    pub fn get(&self, path: &str) -> Option<&Owner> {
        self.owners.get(path)
    }

    /// Records `owner` for `path`, or forgets a stale record when the path got no owner.
    pub fn set(&mut self, path: &str, owner: Option<&Owner>) {
        match owner {
            Some(owner) => self.owners.insert(path.to_owned(), owner.clone()),
            None => self.owners.remove(path),
        };
    }

    /// Records that the file at `path` was written through the API.
    pub fn wrote(&mut self, path: &str) {
        self.written.insert(path.to_owned());
    }

    /// The files written through the API and not removed since.
    pub fn written(&self) -> impl Iterator<Item = &str> {
        self.written.iter().map(String::as_str)
    }

    /// Forgets `path` and everything under it.
    pub fn forget_tree(&mut self, path: &str) {
        let prefix = if path == "/" { "/".to_owned() } else { format!("{path}/") };
        let inside = |p: &String| p == path || p.starts_with(&prefix);
        self.owners.retain(|p, _| !inside(p));
        self.written.retain(|p| !inside(p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> UserDb {
        UserDb {
            users: vec![parse_passwd_line("synapse:x:991:991::/srv/synapse:/bin/false").unwrap()],
            groups: vec![parse_group_line("synapse:x:991:").unwrap()],
        }
    }

    #[test]
    fn resolves_like_pebble() {
        let db = db();
        let by_name =
            db.resolve(OwnerRequest { user: Some("synapse"), ..Default::default() }).unwrap().unwrap();
        assert_eq!((by_name.uid, by_name.gid), (991, 991));
        assert_eq!(by_name.group.as_deref(), Some("synapse"));
        assert_eq!(db.resolve(OwnerRequest::default()).unwrap(), None);
        let err = db.resolve(OwnerRequest { group_id: Some(1), ..Default::default() }).unwrap_err();
        assert_eq!(err, "must specify user, not just group");
        let err = db
            .resolve(OwnerRequest { user: Some("synapse"), user_id: Some(2), ..Default::default() })
            .unwrap_err();
        assert_eq!(err, r#"user "synapse" UID (991) does not match user-id (2)"#);
        let ids = db
            .resolve(OwnerRequest { user_id: Some(4242), group_id: Some(4243), ..Default::default() })
            .unwrap()
            .unwrap();
        assert_eq!((ids.uid, ids.gid, ids.user), (4242, 4243, None));
        let err = db.resolve(OwnerRequest { user_id: Some(4242), ..Default::default() }).unwrap_err();
        assert_eq!(err, "user: unknown userid 4242");
    }
}
