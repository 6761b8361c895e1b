//! Durations in TOML files: a whole number and a unit, `"500ms"`, `"30s"`, `"5m"`, `"2h"`,
//! `"7d"`.

use std::time::Duration;

const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Parses `"30s"` and the like; the error says what is expected.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "{text:?} is not a duration: expected a whole number and a unit (ms, s, m, h, d), such as \"500ms\", \"30s\" or \"7d\""
        )
    };
    let text_trimmed = text.trim();
    let digits = text_trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text_trimmed.len());
    let (number, unit) = text_trimmed.split_at(digits);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let (_, scale) = UNITS
        .iter()
        .find(|(name, _)| *name == unit.trim())
        .ok_or_else(bad)?;
    let ms = number
        .checked_mul(*scale)
        .ok_or_else(|| format!("{text:?} is too long a duration"))?;
    Ok(Duration::from_millis(ms))
}

/// The shortest form that [`parse_duration`] reads back as `duration` (to the millisecond).
pub(crate) fn format_duration(duration: Duration) -> String {
    let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    let (name, scale) = UNITS
        .iter()
        .rev()
        .find(|(_, scale)| ms != 0 && ms % scale == 0)
        .copied()
        .unwrap_or(("ms", 1));
    format!("{}{name}", ms / scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_write_back() {
        for (text, ms) in [
            ("500ms", 500),
            ("30s", 30_000),
            ("5m", 300_000),
            ("2h", 7_200_000),
            ("7d", 604_800_000),
            ("0s", 0),
        ] {
            let d = parse_duration(text).unwrap();
            assert_eq!(d, Duration::from_millis(ms), "{text}");
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        for bad in [
            "",
            "30",
            "s",
            "1.5s",
            "-1s",
            "10 parsecs",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
