//! Durations in humantime syntax (`"30m"`, `"1h 30m"`, `"8w"`, `"90d"`), converted to the
//! `std::time::Duration` / `chrono::Duration` the rest of the program uses. Parsing never panics:
//! overflow and unknown units are errors with a message naming the offending text.

/// Parse a humantime duration. Errors are messages ready to follow `key: `.
pub(crate) fn parse_std(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!("invalid duration {text:?}: {e} (examples: \"30m\", \"1h 30m\", \"8w\", \"90d\")")
    })
}

/// Parse a humantime duration into a `chrono::Duration`.
pub(crate) fn parse_chrono(text: &str) -> Result<chrono::Duration, String> {
    let d = parse_std(text)?;
    chrono::Duration::from_std(d).map_err(|_| format!("duration {text:?} is too large"))
}

/// Format a `chrono::Duration` in the syntax it is configured with: whole weeks as `"8w"`,
/// otherwise days, hours, minutes and seconds (`"90d"`, `"1h 30m"`, `"1d 2h"`). Sub-second parts
/// are dropped; zero is `"0s"`, negative durations get a leading `-`. The result parses back.
pub fn format_chrono(d: chrono::Duration) -> String {
    let total = d.num_seconds();
    let sign = if total < 0 { "-" } else { "" };
    let mut rest = total.unsigned_abs();
    if rest == 0 {
        return "0s".to_string();
    }
    const WEEK: u64 = 7 * 86_400;
    if rest.is_multiple_of(WEEK) {
        return format!("{sign}{}w", rest / WEEK);
    }
    let mut parts = Vec::new();
    for (unit, secs) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if rest >= secs {
            parts.push(format!("{}{unit}", rest / secs));
            rest %= secs;
        }
    }
    format!("{sign}{}", parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_humantime_forms() {
        assert_eq!(parse_chrono("30m"), Ok(chrono::Duration::minutes(30)));
        assert_eq!(parse_chrono("1h 30m"), Ok(chrono::Duration::minutes(90)));
        assert_eq!(parse_chrono("8w"), Ok(chrono::Duration::weeks(8)));
        assert_eq!(parse_chrono(" 90d "), Ok(chrono::Duration::days(90)));
        assert!(parse_chrono("").is_err());
        assert!(parse_chrono("5 parsecs").is_err());
        assert!(
            parse_chrono("99999999999999999999999999w")
                .unwrap_err()
                .contains("invalid duration")
        );
        assert!(parse_chrono("18446744073709551615s").is_err());
        for (d, shown) in [
            (chrono::Duration::minutes(45), "45m"),
            (chrono::Duration::minutes(90), "1h 30m"),
            (chrono::Duration::weeks(8), "8w"),
            (chrono::Duration::days(90), "90d"),
            (chrono::Duration::seconds(86_400 + 61), "1d 1m 1s"),
            (chrono::Duration::zero(), "0s"),
            (chrono::Duration::hours(-3), "-3h"),
        ] {
            assert_eq!(format_chrono(d), shown);
            if d > chrono::Duration::zero() {
                assert_eq!(parse_chrono(shown), Ok(d), "{shown} parses back");
            }
        }
    }
}
