//! Container paths: lexical cleaning (like Go's `path.Clean`) and mapping under the root.

use std::path::{Path, PathBuf};

/// Cleans an absolute container path (`/a/./b/../c//` → `/a/c`); `None` when relative.
pub fn clean_absolute(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// Host location of a cleaned container path.
pub fn host_path(root: &Path, clean: &str) -> PathBuf {
    let relative = clean.trim_start_matches('/');
    if relative.is_empty() {
        root.to_path_buf()
    } else {
        root.join(relative)
    }
}

/// Last element of a cleaned path (`/` for the root).
pub fn base_name(clean: &str) -> &str {
    match clean.rsplit('/').next() {
        Some("") | None => "/",
        Some(name) => name,
    }
}

/// Joins a cleaned directory path and an entry name.
pub fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Parent of a cleaned path (`/` for the root itself).
pub fn parent(clean: &str) -> &str {
    match clean.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &clean[..i],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_like_go() {
        assert_eq!(clean_absolute("/a/./b/../c//").as_deref(), Some("/a/c"));
        assert_eq!(clean_absolute("/../..").as_deref(), Some("/"));
        assert_eq!(clean_absolute("a/b"), None);
        assert_eq!(base_name("/a/c"), "c");
        assert_eq!(base_name("/"), "/");
        assert_eq!(parent("/a/c"), "/a");
        assert_eq!(parent("/a"), "/");
        assert_eq!(host_path(Path::new("/r"), "/data/x"), PathBuf::from("/r/data/x"));
    }
}
