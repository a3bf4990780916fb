//! Durations in Go's `time.ParseDuration` syntax, formatted like ops does (`"%.3fs"`).

use std::time::Duration;

/// Formats `duration` as seconds with millisecond precision, e.g. `4.000s`.
pub(crate) fn go_duration(duration: Duration) -> String {
    format!("{:.3}s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_ops() {
        assert_eq!(go_duration(Duration::from_secs(4)), "4.000s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.500s");
        assert_eq!(go_duration(Duration::from_micros(1)), "0.000s");
    }
}
