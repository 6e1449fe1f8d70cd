//! Wall-clock instants as Unix milliseconds, serialized as ISO 8601 (`2026-01-01T00:00:00.000Z`, the form
//! JavaScript's `toISOString` gives, which is what Fluxer clients parse).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An instant, in milliseconds since the Unix epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `ms` milliseconds after the Unix epoch (before it when negative).
    pub const fn from_unix_ms(ms: i64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_ms(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch, rounded down (also before the epoch).
    pub fn unix_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This instant plus `ms` milliseconds (saturating).
    pub fn plus_ms(self, ms: i64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }

    /// This instant plus `secs` seconds (saturating).
    pub fn plus_secs(self, secs: i64) -> Self {
        self.plus_ms(secs.saturating_mul(1000))
    }

    /// Milliseconds from `earlier` to `self` (negative if `earlier` is later).
    pub fn ms_since(self, earlier: Timestamp) -> i64 {
        self.0 - earlier.0
    }

    /// The current wall-clock time. Domain code should ask the [`Clock`](crate::ports::Clock) port instead.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_millis() as i64)
    }

    /// Formats as ISO 8601 with milliseconds and `Z`.
    pub fn to_iso8601(self) -> String {
        match iso8601_digits(self.0) {
            Some(text) => text_of(&text).to_owned(),
            None => self.to_iso8601_any_year(),
        }
    }

    /// Through the calendar library: also years before 0 and after 9999 (as JavaScript would not
    /// print them, but every instant gets a text).
    fn to_iso8601_any_year(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(dt) => format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                dt.year(),
                u8::from(dt.month()),
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second(),
                dt.millisecond()
            ),
            Err(_) => "1970-01-01T00:00:00.000Z".to_owned(),
        }
    }

    /// Parses RFC 3339 (any offset, any sub-second precision).
    pub fn parse_iso8601(s: &str) -> Option<Self> {
        let dt = OffsetDateTime::parse(s, &Rfc3339).ok()?;
        Some(Timestamp((dt.unix_timestamp_nanos() / 1_000_000) as i64))
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for `ms` after the Unix epoch, written without allocating (every
/// message, member and event carries timestamps); `None` outside the years 0 to 9999.
fn iso8601_digits(ms: i64) -> Option<[u8; 24]> {
    const DAY_MS: i64 = 86_400_000;
    let (days, in_day) = (ms.div_euclid(DAY_MS), ms.rem_euclid(DAY_MS));
    // The proleptic Gregorian date of a day count, by eras of 400 years that start on 1 March
    // (so the leap day ends its year): Howard Hinnant's `civil_from_days`.
    let z = days.checked_add(719_468)?;
    let (era, day_of_era) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    if !(0..=9_999).contains(&year) {
        return None;
    }
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut value: i64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, in_day / 3_600_000);
    put(14, 2, in_day / 60_000 % 60);
    put(17, 2, in_day / 1_000 % 60);
    put(20, 3, in_day % 1_000);
    Some(out)
}

/// The text of [`iso8601_digits`]' ASCII.
fn text_of(digits: &[u8; 24]) -> &str {
    std::str::from_utf8(digits).unwrap_or("1970-01-01T00:00:00.000Z")
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_iso8601())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match iso8601_digits(self.0) {
            Some(text) => f.write_str(text_of(&text)),
            None => f.write_str(&self.to_iso8601_any_year()),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match iso8601_digits(self.0) {
            Some(text) => serializer.serialize_str(text_of(&text)),
            None => serializer.serialize_str(&self.to_iso8601_any_year()),
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse_iso8601(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not an ISO 8601 timestamp: {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_javascript_to_iso_string() {
        assert_eq!(
            Timestamp::from_unix_ms(1_420_070_400_000).to_iso8601(),
            "2015-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_unix_ms(1_700_000_000_123).to_iso8601(),
            "2023-11-14T22:13:20.123Z"
        );
    }

    #[test]
    fn the_fast_text_is_the_calendar_librarys() {
        // Leap days, century years, the epoch's edges, the years 0 and 9999, and a spread between.
        let mut instants = vec![
            0,
            -1,
            1,
            951_782_400_000,     // 2000-02-29
            4_107_542_399_999,   // 2100-02-28T23:59:59.999
            4_107_542_400_000,   // 2100-03-01
            -62_167_219_200_000, // 0000-01-01
            253_402_300_799_999, // 9999-12-31T23:59:59.999
        ];
        let mut ms = -62_167_219_200_000i64;
        while ms < 253_402_300_799_999 {
            instants.push(ms);
            ms += 86_399_997 * 37 + 1_234;
        }
        for ms in instants {
            let t = Timestamp::from_unix_ms(ms);
            assert_eq!(t.to_iso8601(), t.to_iso8601_any_year(), "{ms}");
            assert_eq!(t.to_string(), t.to_iso8601_any_year(), "{ms}");
        }
        // Outside the four-digit years, the library's text.
        for ms in [-62_167_219_200_001, 253_402_300_800_000] {
            assert!(iso8601_digits(ms).is_none(), "{ms}");
        }
        let t = Timestamp::from_unix_ms(-62_167_219_200_001);
        assert_eq!(t.to_iso8601(), "-001-12-31T23:59:59.999Z");
    }

    #[test]
    fn parses_offsets_and_round_trips() {
        let t = Timestamp::parse_iso8601("2023-11-14T23:13:20.123+01:00").unwrap();
        assert_eq!(t.unix_ms(), 1_700_000_000_123);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        assert!(Timestamp::parse_iso8601("yesterday").is_none());
    }
}
