//! Durations in Go's syntax: sent as ops does (`"%.3fs"`), and written like Go's
//! `Duration.String()` (`500ms`, `1m0s`) where Pebble's messages quote them.

use std::time::Duration;

/// Formats `duration` as seconds with millisecond precision, e.g. `4.000s`.
pub(crate) fn go_duration(duration: Duration) -> String {
    format!("{:.3}s", duration.as_secs_f64())
}

/// Formats `duration` like Go's `Duration.String()`: `0s`, `500ms`, `4s`, `1m0s`, `1h2m3.5s`.
pub(crate) fn go_duration_string(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", decimal(nanos, 3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", decimal(nanos, 6));
    }
    let total_secs = nanos / 1_000_000_000;
    let (hours, minutes, secs) = (total_secs / 3600, total_secs / 60 % 60, total_secs % 60);
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&decimal(secs * 1_000_000_000 + nanos % 1_000_000_000, 9));
    out.push('s');
    out
}

/// `value / 10^digits` with trailing fractional zeros removed.
fn decimal(value: u128, digits: u32) -> String {
    let scale = 10u128.pow(digits);
    let (whole, fraction) = (value / scale, value % scale);
    if fraction == 0 {
        return whole.to_string();
    }
    let fraction = format!("{fraction:0width$}", width = digits as usize);
    format!("{whole}.{}", fraction.trim_end_matches('0'))
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

    #[test]
    fn formats_like_go() {
        assert_eq!(go_duration_string(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration_string(Duration::from_secs(10)), "10s");
        assert_eq!(go_duration_string(Duration::from_millis(2500)), "2.5s");
        assert_eq!(go_duration_string(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration_string(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration_string(Duration::ZERO), "0s");
    }
}
