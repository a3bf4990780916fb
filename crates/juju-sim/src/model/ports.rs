//! Port ranges as `open-port` parses and `opened-ports` prints them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A transport protocol; the variant order is Juju's sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Icmp,
    Tcp,
    Udp,
}

/// A single port or an inclusive range for one protocol (ICMP has no ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PortRange {
    pub protocol: Protocol,
    pub from: u16,
    pub to: u16,
}

impl PortRange {
    pub fn tcp(port: u16) -> Self {
        PortRange { protocol: Protocol::Tcp, from: port, to: port }
    }

    /// Parses `<port>[/<protocol>]`, `<from>-<to>[/<protocol>]` or `icmp`, with Juju's error
    /// messages.
    pub fn parse(input: &str) -> Result<Self, String> {
        let (ports, protocol) = match input.split_once('/') {
            Some((ports, protocol)) => (ports, protocol),
            None => (input, "tcp"),
        };
        let parts: Vec<&str> = ports.split('-').collect();
        let (from, to): (i64, i64) = match parts.as_slice() {
            [single] if *single == "icmp" => (-1, -1),
            [single] => {
                let port = go_atoi(single).map_err(|e| format!("invalid port {ports:?}: {e}"))?;
                (port, port)
            }
            [from, to] => (
                go_atoi(from).map_err(|e| format!("invalid port {from:?}: {e}"))?,
                go_atoi(to).map_err(|e| format!("invalid port {to:?}: {e}"))?,
            ),
            _ => return Err(format!("invalid port range {ports:?}")),
        };
        let protocol = if from == -1 { "icmp" } else { protocol };
        let protocol = match protocol {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "icmp" => Protocol::Icmp,
            other => {
                return Err(format!("invalid protocol {other:?}, expected \"tcp\", \"udp\", or \"icmp\""))
            }
        };
        if protocol == Protocol::Icmp {
            if from == -1 && to == -1 {
                return Ok(PortRange { protocol, from: 0, to: 0 });
            }
            return Err(format!("protocol \"icmp\" doesn't support any ports; got \"{from}\""));
        }
        if from > to {
            return Err(format!("invalid port range {}", display(from, to, protocol)));
        }
        if !(0..=65535).contains(&from) || !(0..=65535).contains(&to) {
            return Err(format!("port range bounds must be between 0 and 65535, got {from}-{to}"));
        }
        Ok(PortRange { protocol, from: from as u16, to: to as u16 })
    }

    pub fn is_range(&self) -> bool {
        self.from != self.to
    }
}

fn display(from: i64, to: i64, protocol: Protocol) -> String {
    let protocol = match protocol {
        Protocol::Icmp => return "icmp".to_owned(),
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    };
    if from == to {
        format!("{from}/{protocol}")
    } else {
        format!("{from}-{to}/{protocol}")
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&display(self.from.into(), self.to.into(), self.protocol))
    }
}

/// `strconv.Atoi` with Go's error text.
pub(crate) fn go_atoi(input: &str) -> Result<i64, String> {
    let digits = input.strip_prefix(['+', '-']).unwrap_or(input);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {input:?}: invalid syntax"));
    }
    input.parse().map_err(|_| format!("strconv.Atoi: parsing {input:?}: value out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_juju_accepts() {
        assert_eq!(PortRange::parse("80").unwrap().to_string(), "80/tcp");
        assert_eq!(PortRange::parse("53/udp").unwrap().to_string(), "53/udp");
        assert_eq!(PortRange::parse("1000-2000/udp").unwrap().to_string(), "1000-2000/udp");
        assert_eq!(PortRange::parse("icmp").unwrap().to_string(), "icmp");
    }

    #[test]
    fn rejects_bad_input_with_juju_messages() {
        assert_eq!(
            PortRange::parse("http").unwrap_err(),
            "invalid port \"http\": strconv.Atoi: parsing \"http\": invalid syntax"
        );
        assert_eq!(
            PortRange::parse("80/sctp").unwrap_err(),
            "invalid protocol \"sctp\", expected \"tcp\", \"udp\", or \"icmp\""
        );
        assert_eq!(PortRange::parse("90-80").unwrap_err(), "invalid port range 90-80/tcp");
        assert_eq!(
            PortRange::parse("70000").unwrap_err(),
            "port range bounds must be between 0 and 65535, got 70000-70000"
        );
        assert_eq!(PortRange::parse("1-2-3").unwrap_err(), "invalid port range \"1-2-3\"");
    }

    #[test]
    fn sorts_by_protocol_then_ports() {
        let mut ranges = [
            PortRange::parse("80").unwrap(),
            PortRange::parse("icmp").unwrap(),
            PortRange::parse("53/udp").unwrap(),
            PortRange::parse("22").unwrap(),
        ];
        ranges.sort();
        let shown: Vec<String> = ranges.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["icmp", "22/tcp", "80/tcp", "53/udp"]);
    }
}
