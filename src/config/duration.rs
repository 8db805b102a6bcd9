//! Durations as users write them: "250ms", "10s", "2m", "1m30s", "1h", "0", or a
//! bare number of seconds ("5", "0.5"). Shared by the command line, the
//! environment and (later) the configuration file.

use std::time::Duration;

/// The longest duration rinit takes: 366 days. Anything longer is a mistake
/// (a number of milliseconds written as seconds), and every sum rinit makes
/// of durations this size stays far from overflowing.
pub const MAX: Duration = Duration::from_secs(366 * 24 * 3600);

pub fn parse(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration {text:?}: expected e.g. \"250ms\", \"10s\", \"1m30s\" or a number of seconds"
        )
    };
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(format!("invalid duration {text:?}: must not be negative"));
    }
    if trimmed.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" | "min" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            // A bare number is seconds, but only as the whole text ("5", "0.5").
            "" if number_len == trimmed.len() => 1_000_000_000,
            _ => return Err(bad()),
        };
        let nanos = decimal_nanos(number, unit_nanos).ok_or_else(bad)?;
        let part = u64::try_from(nanos / 1_000_000_000)
            .ok()
            .map(|secs| Duration::new(secs, (nanos % 1_000_000_000) as u32))
            .ok_or_else(bad)?;
        total = total.checked_add(part).ok_or_else(bad)?;
        rest = after;
    }
    if total > MAX {
        return Err(format!("invalid duration {text:?}: at most 366 days"));
    }
    Ok(total)
}

/// "1.5" in units of `unit_nanos` nanoseconds, exactly (no floating point);
/// digits finer than a nanosecond are dropped.
fn decimal_nanos(number: &str, unit_nanos: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) || whole.len() > 20 {
        return None;
    }
    let mut nanos = if whole.is_empty() {
        0
    } else {
        whole.parse::<u128>().ok()?.checked_mul(unit_nanos)?
    };
    let mut scale = unit_nanos;
    for digit in fraction.bytes().take(30) {
        scale /= 10;
        let value = u128::from(digit.checked_sub(b'0')?);
        nanos = nanos.checked_add(value.checked_mul(scale)?)?;
    }
    Some(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse(".25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("0.001ms"), Ok(Duration::from_micros(1)));
    }

    #[test]
    fn rejects_bad_forms_with_a_message() {
        for bad in [
            "",
            "abc",
            "5x",
            "ms",
            "1s2",
            "s5",
            "1e999",
            "1..2s",
            ".",
            "inf",
            "99999999999999999999999h",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.starts_with("invalid duration"), "{bad:?}: {err}");
        }
        assert_eq!(
            parse("-1s").unwrap_err(),
            "invalid duration \"-1s\": must not be negative"
        );
    }
}
