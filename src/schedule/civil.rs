//! Civil dates of the proleptic Gregorian calendar as days since
//! 1970-01-01, and back (Howard Hinnant's algorithms), and weekdays: what
//! schedules and zones count in.

pub fn is_leap(year: i64) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

/// Days since 1970-01-01 of the civil date (proleptic Gregorian), for months
/// 1 to 12 and years within ±10^14 (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Years counted from March, so that February 29 is the last day of one.
    let year = year.saturating_sub(i64::from(month <= 2));
    let (era, year_of_era) = (year.div_euclid(400), year.rem_euclid(400));
    let month_from_march = i64::from(month.wrapping_add(9) % 12);
    let day_of_year = (month_from_march.wrapping_mul(153).wrapping_add(2) / 5).wrapping_add(i64::from(day));
    let leap_days = (year_of_era / 4).wrapping_sub(year_of_era / 100);
    let day_of_era = year_of_era
        .wrapping_mul(365)
        .wrapping_add(leap_days)
        .wrapping_add(day_of_year);
    era.saturating_mul(146_097)
        .saturating_add(day_of_era)
        .saturating_sub(719_469)
}

/// The civil date (year, month, day) of `days` since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days.saturating_add(719_468);
    let (era, day_of_era) = (days.div_euclid(146_097), days.rem_euclid(146_097));
    let leap_days = (day_of_era / 1460)
        .wrapping_sub(day_of_era / 36_524)
        .wrapping_add(day_of_era / 146_096);
    let year_of_era = day_of_era.wrapping_sub(leap_days) / 365;
    let leap_days = (year_of_era / 4).wrapping_sub(year_of_era / 100);
    let day_of_year = day_of_era.wrapping_sub(year_of_era.wrapping_mul(365).wrapping_add(leap_days));
    let month_from_march = day_of_year.wrapping_mul(5).wrapping_add(2) / 153;
    let day = day_of_year.wrapping_sub(month_from_march.wrapping_mul(153).wrapping_add(2) / 5);
    let month = u32::try_from(month_from_march.wrapping_add(2) % 12)
        .unwrap_or(0)
        .wrapping_add(1);
    let year = era
        .saturating_mul(400)
        .saturating_add(year_of_era)
        .saturating_add(i64::from(month <= 2));
    (year, month, u32::try_from(day).unwrap_or(0).wrapping_add(1))
}

/// 0 = Sunday .. 6 = Saturday, of `days` since the epoch (a Thursday).
pub fn weekday(days: i64) -> u32 {
    u32::try_from(days.wrapping_add(4).rem_euclid(7)).unwrap_or(0)
}
