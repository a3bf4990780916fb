//! Validators for the shapes of values the options take: server names, URLs, CIDR ranges,
//! Matrix user and room IDs, e-mail addresses. Each answers a plain yes or no; the caller
//! names the option that failed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A DNS host name: dot-separated labels of ASCII letters, digits and inner hyphens, each at
/// most 63 characters, at most 253 in all.
pub fn is_dns_name(text: &str) -> bool {
    text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A DNS name whose last label is alphabetic and at least two letters long (`example.com`),
/// as used for domains other servers resolve.
pub fn is_domain(text: &str) -> bool {
    is_dns_name(text)
        && text
            .rsplit_once('.')
            .is_some_and(|(_, tld)| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()))
}

/// A Matrix server name: a DNS name, an IPv4 address or a bracketed IPv6 address, with an
/// optional `:port` (1–65535).
pub fn is_server_name(text: &str) -> bool {
    let (host, port) = match text.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, tail)) if v6.parse::<Ipv6Addr>().is_ok() => ("", tail),
            _ => return false,
        },
        None => match text.rsplit_once(':') {
            Some((host, _)) => (host, &text[host.len()..]),
            None => (text, ""),
        },
    };
    let port_ok = match port.strip_prefix(':') {
        Some(digits) => {
            !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && digits.parse::<u16>().is_ok_and(|p| p > 0)
        }
        None => port.is_empty(),
    };
    let host_ok = text.starts_with('[') || host.parse::<Ipv4Addr>().is_ok() || is_dns_name(host);
    port_ok && host_ok
}

/// An absolute `http` or `https` URL with a valid server name as its host.
pub fn is_http_url(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://")) else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    is_server_name(authority) && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// An IP address or a CIDR range (`10.0.0.0/8`, `fd00::/8`) whose prefix fits the family.
pub fn is_ip_range(text: &str) -> bool {
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let Ok(address) = address.parse::<IpAddr>() else { return false };
    let max = if address.is_ipv4() { 32 } else { 128 };
    prefix.is_none_or(|prefix| {
        prefix.bytes().all(|b| b.is_ascii_digit()) && prefix.parse::<u8>().is_ok_and(|p| p <= max)
    })
}

/// A Matrix user ID `@localpart:server` with the localpart characters of the Matrix spec
/// (lower-case letters, digits and `._=-/+`).
pub fn is_user_id(text: &str) -> bool {
    let Some((localpart, server)) = text.strip_prefix('@').and_then(|rest| rest.split_once(':')) else {
        return false;
    };
    !localpart.is_empty()
        && localpart.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._=-/+".contains(&b))
        && is_server_name(server)
}

/// A Matrix room ID `!opaque:server`, the opaque part made of ASCII letters, digits and
/// `._=-/+`.
pub fn is_room_id(text: &str) -> bool {
    let Some((opaque, server)) = text.strip_prefix('!').and_then(|rest| rest.split_once(':')) else {
        return false;
    };
    !opaque.is_empty()
        && opaque.bytes().all(|b| b.is_ascii_alphanumeric() || b"._=-/+".contains(&b))
        && is_server_name(server)
}

/// An e-mail sender as Python's `email.utils.parseaddr` reads it: `user@domain` or
/// `Display Name <user@domain>`.
pub fn is_mail_sender(text: &str) -> bool {
    let address = match text.rsplit_once('<') {
        Some((_, rest)) => match rest.strip_suffix('>') {
            Some(address) => address,
            None => return false,
        },
        None => text,
    };
    let Some((user, domain)) = address.split_once('@') else { return false };
    !user.is_empty()
        && !domain.contains('@')
        && is_dns_name(domain)
        && !user.chars().any(|c| c.is_whitespace() || c.is_control() || "<>".contains(c))
}

/// A worker instance name (`worker0`, `federationsender1`).
pub fn is_worker_name(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        for good in
            ["example.com", "matrix.example.com:8448", "localhost", "10.0.0.1:80", "[::1]:8448", "[fd00::1]"]
        {
            assert!(is_server_name(good), "{good}");
        }
        for bad in [
            "",
            "exa mple.com",
            "-a.com",
            "a..com",
            "a.com:",
            "a.com:0",
            "a.com:65536",
            "[::1",
            "[x]:1",
            "a_b.com",
        ] {
            assert!(!is_server_name(bad), "{bad}");
        }
    }

    #[test]
    fn domains_need_an_alphabetic_top_level_label() {
        assert!(is_domain("matrix.org"));
        assert!(is_domain("example.social"));
        assert!(!is_domain("localhost"));
        assert!(!is_domain("10.0.0.1"));
        assert!(!is_domain("example.c"));
    }

    #[test]
    fn urls() {
        assert!(is_http_url("https://matrix.example.com"));
        assert!(is_http_url("http://localhost:8008/path?q=1"));
        assert!(!is_http_url("ftp://example.com"));
        assert!(!is_http_url("https://"));
        assert!(!is_http_url("https://exa mple.com"));
        assert!(!is_http_url("example.com"));
    }

    #[test]
    fn ip_ranges() {
        for good in ["10.10.10.0/24", "fd00::/8", "192.168.1.1", "::1", "0.0.0.0/0", "2001:db8::/128"] {
            assert!(is_ip_range(good), "{good}");
        }
        for bad in ["10.10.10.0/33", "fd00::/129", "10.0.0/8", "example.com", "1.2.3.4/", "1.2.3.4/+1", ""] {
            assert!(!is_ip_range(bad), "{bad}");
        }
    }

    #[test]
    fn matrix_ids() {
        assert!(is_user_id("@alice:example.com"));
        assert!(is_user_id("@a.b_c=d-e/f+g:localhost:8448"));
        assert!(!is_user_id("@Alice:example.com"));
        assert!(!is_user_id("alice:example.com"));
        assert!(!is_user_id("@:example.com"));
        assert!(!is_user_id("@alice"));
        assert!(is_room_id("!AbC123:example.com"));
        assert!(!is_room_id("!abc"));
        assert!(!is_room_id("#abc:example.com"));
        assert!(!is_room_id("!a b:example.com"));
    }

    #[test]
    fn mail_senders() {
        assert!(is_mail_sender("noreply@example.com"));
        assert!(is_mail_sender("Matrix <noreply@example.com>"));
        assert!(!is_mail_sender("Matrix <noreply@example.com"));
        assert!(!is_mail_sender("noreply"));
        assert!(!is_mail_sender("a@b@c"));
        assert!(!is_mail_sender("@example.com"));
    }
}
