//! Matrix user ids: the localpart grammar new users must follow, the server name grammar, and
//! the percent-encoding that puts a user id into an admin API path.

use std::fmt;

use crate::error::Error;

/// Longest user id the Matrix spec allows, `@` and `:` included, in bytes.
pub const MAX_USER_ID_LENGTH: usize = 255;

/// A validated local user id `@<localpart>:<server_name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId {
    full: String,
    localpart_end: usize,
}

impl UserId {
    /// Builds the user id of `localpart` on `server_name`, checking the spec's grammar for new
    /// user ids (lowercase `a-z`, `0-9` and `._=-/+`), the server name grammar and the
    /// 255-byte limit.
    pub fn new(localpart: &str, server_name: &str) -> Result<Self, Error> {
        validate_localpart(localpart)?;
        validate_server_name(server_name)?;
        let full = format!("@{localpart}:{server_name}");
        if full.len() > MAX_USER_ID_LENGTH {
            return Err(Error::InvalidUsername {
                username: localpart.to_owned(),
                reason: format!(
                    "the user id {full} is {} bytes long; at most {MAX_USER_ID_LENGTH} are allowed",
                    full.len()
                ),
            });
        }
        Ok(UserId { full, localpart_end: 1 + localpart.len() })
    }

    /// The whole id, e.g. `@alice:example.com`.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The part between `@` and `:`, e.g. `alice`.
    pub fn localpart(&self) -> &str {
        &self.full[1..self.localpart_end]
    }

    /// The id as one URL path segment.
    pub(crate) fn path_segment(&self) -> String {
        encode_path_segment(&self.full)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so that `/` in a user id
/// cannot split a path.
pub(crate) fn encode_path_segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len() + 8);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Checks `localpart` against the Matrix spec's grammar for new user ids: non-empty, and only
/// `a-z`, `0-9`, `.`, `_`, `=`, `-`, `/` and `+`.
///
/// Synapse additionally refuses a leading `_` by default; that refusal comes back from the
/// server as [`Error::InvalidUsername`] too.
pub fn validate_localpart(localpart: &str) -> Result<(), Error> {
    let invalid = |reason: String| Error::InvalidUsername { username: localpart.to_owned(), reason };
    if localpart.is_empty() {
        return Err(invalid("the username is empty".to_owned()));
    }
    if let Some(bad) = localpart.chars().find(|c| !is_localpart_char(*c)) {
        let hint = if bad.is_ascii_uppercase() { " (usernames are lowercase)" } else { "" };
        return Err(invalid(format!(
            "{bad:?} is not allowed{hint}; use only a-z, 0-9 and the characters . _ = - / +"
        )));
    }
    if localpart.len() > MAX_USER_ID_LENGTH - 3 {
        return Err(invalid(format!(
            "the username is {} bytes long; a whole user id is at most {MAX_USER_ID_LENGTH}",
            localpart.len()
        )));
    }
    Ok(())
}

fn is_localpart_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '=' | '-' | '/' | '+')
}

/// Checks the spec's server name grammar: a DNS name, IPv4 address or bracketed IPv6
/// address, optionally followed by `:` and a port of 1 to 5 digits.
fn validate_server_name(server_name: &str) -> Result<(), Error> {
    let invalid =
        |reason: &'static str| Error::InvalidServerName { server_name: server_name.to_owned(), reason };
    let port = match server_name.strip_prefix('[') {
        Some(rest) => {
            let (address, after) = rest.split_once(']').ok_or(invalid("the IPv6 address lacks its `]`"))?;
            let ipv6_char = |c: char| c.is_ascii_hexdigit() || matches!(c, ':' | '.');
            if !(2..=45).contains(&address.len()) || !address.chars().all(ipv6_char) {
                return Err(invalid("the IPv6 address is malformed"));
            }
            match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or(invalid("junk after the IPv6 address"))?),
            }
        }
        None => {
            let (host, port) = match server_name.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (server_name, None),
            };
            let dns_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.');
            if host.is_empty() || host.len() > 255 || !host.chars().all(dns_char) {
                return Err(invalid("the host name must be 1-255 characters of a-z, A-Z, 0-9, - and ."));
            }
            port
        }
    };
    match port {
        Some(port) if !(1..=5).contains(&port.len()) || !port.bytes().all(|b| b.is_ascii_digit()) => {
            Err(invalid("the port must be 1-5 digits"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(result: Result<UserId, Error>) -> String {
        match result {
            Err(Error::InvalidUsername { reason, .. }) => reason,
            other => panic!("expected InvalidUsername, got {other:?}"),
        }
    }

    #[test]
    fn accepts_every_character_of_the_grammar() {
        let user = UserId::new("a-z.0_9=x/y+z", "example.com").unwrap();
        assert_eq!(user.as_str(), "@a-z.0_9=x/y+z:example.com");
        assert_eq!(user.localpart(), "a-z.0_9=x/y+z");
        assert_eq!(user.to_string(), user.as_str());
    }

    #[test]
    fn rejects_uppercase_with_a_hint() {
        let reason = reason(UserId::new("Alice", "example.com"));
        assert!(reason.contains("'A'") && reason.contains("lowercase"), "{reason}");
    }

    #[test]
    fn rejects_empty_and_foreign_characters() {
        assert!(reason(UserId::new("", "example.com")).contains("empty"));
        for bad in ["al ice", "al:ice", "al@ice", "ålice", "al\0ice", "al#ice"] {
            assert!(validate_localpart(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn enforces_the_255_byte_limit_on_the_whole_id() {
        let server = "example.com";
        let longest = "a".repeat(MAX_USER_ID_LENGTH - 2 - server.len());
        assert_eq!(UserId::new(&longest, server).unwrap().as_str().len(), MAX_USER_ID_LENGTH);
        let reason = reason(UserId::new(&format!("{longest}a"), server));
        assert!(reason.contains("256 bytes"), "{reason}");
    }

    #[test]
    fn server_names_follow_the_spec_grammar() {
        for good in
            ["example.com", "localhost:8448", "1.2.3.4", "[::1]", "[1234:5678::abcd]:443", "test.local"]
        {
            UserId::new("u", good).unwrap_or_else(|err| panic!("{good}: {err}"));
        }
        for bad in
            ["", "exa mple.com", "example.com:", "example.com:123456", "[::1", "[::1]x", "[]", "a_b.com"]
        {
            assert!(
                matches!(UserId::new("u", bad), Err(Error::InvalidServerName { .. })),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn path_segment_escapes_everything_but_unreserved() {
        let user = UserId::new("a/b+c=d", "localhost:8008").unwrap();
        assert_eq!(user.path_segment(), "%40a%2Fb%2Bc%3Dd%3Alocalhost%3A8008");
    }
}
