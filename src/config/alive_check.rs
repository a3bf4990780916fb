//! The `experimental_alive_check` option: `period,threshold,timeout` of the Pebble liveness
//! check, e.g. `2m,5,20s`.

use std::str::FromStr;

/// The longest duration Pebble takes: Go's `time.Duration` counts nanoseconds in an `i64`,
/// which ends a little after 2562047 hours.
const MAX_SECONDS: u64 = i64::MAX as u64 / 1_000_000_000;

/// A whole number of seconds, minutes or hours (`20s`, `2m`, `1h`), kept as written so
/// Pebble receives exactly the text the operator chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckDuration {
    text: String,
    seconds: u64,
}

impl CheckDuration {
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for CheckDuration {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        let unit = match text.as_bytes().last() {
            Some(b's') => 1,
            Some(b'm') => 60,
            Some(b'h') => 3600,
            _ => return Err(()),
        };
        let digits = &text[..text.len() - 1];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(());
        }
        let count: u64 = digits.parse().map_err(drop)?;
        let seconds = count.checked_mul(unit).filter(|&s| s > 0 && s <= MAX_SECONDS).ok_or(())?;
        Ok(Self { text: text.to_string(), seconds })
    }
}

/// Period, failure threshold and timeout of the `synapse-alive` check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliveCheck {
    pub period: CheckDuration,
    pub threshold: u32,
    pub timeout: CheckDuration,
}

impl FromStr for AliveCheck {
    type Err = ();

    /// Parses `period,threshold,timeout`; the timeout must be shorter than the period, as
    /// Pebble requires, and the threshold at least 1.
    fn from_str(text: &str) -> Result<Self, ()> {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        let [period, threshold, timeout] = parts.as_slice() else { return Err(()) };
        let period: CheckDuration = period.parse()?;
        let timeout: CheckDuration = timeout.parse()?;
        let threshold: u32 = threshold.parse().map_err(drop)?;
        if threshold == 0 || timeout.seconds >= period.seconds {
            return Err(());
        }
        Ok(Self { period, threshold, timeout })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_default_and_keeps_the_texts() {
        let check: AliveCheck = "2m,5,20s".parse().unwrap();
        assert_eq!((check.period.as_str(), check.threshold, check.timeout.as_str()), ("2m", 5, "20s"));
        let spaced: AliveCheck = " 1h , 3 , 59m ".parse().unwrap();
        assert_eq!((spaced.period.as_str(), spaced.timeout.as_str()), ("1h", "59m"));
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            "",
            "2m,5",
            "2m,5,20s,1",
            "2x,5,20s",
            "2m,0,20s",
            "2m,-1,20s",
            "2m,five,20s",
            "m,5,20s",
            "2m,5,2m",
            "20s,5,2m",
            "0s,1,0s",
            "1.5m,5,20s",
            "2m,5,",
        ] {
            assert!(bad.parse::<AliveCheck>().is_err(), "{bad:?}");
        }
    }
}
