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

/// Format a `chrono::Duration` the way humantime would (`"45m"`, `"8w"` shows as `"56days"`).
pub fn format_chrono(d: chrono::Duration) -> String {
    match d.to_std() {
        Ok(s) => humantime::format_duration(s).to_string(),
        Err(_) => format!("{d}"),
    }
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
        assert_eq!(format_chrono(chrono::Duration::minutes(45)), "45m");
    }
}
