//! Points in time, in the one form Textbridge stores and sorts them by.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{
    OffsetDateTime, UtcOffset,
    format_description::{
        BorrowedFormatItem,
        well_known::{Rfc2822, Rfc3339},
    },
    macros::format_description,
};

use crate::Error;

/// The canonical text form: RFC 3339 in UTC with exactly six fraction digits and `Z`.
const CANONICAL: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// A point in time, kept in UTC to the microsecond.
///
/// Its text form ([`Display`](fmt::Display), serde, store keys) is the canonical one:
/// RFC 3339 in UTC with exactly six fraction digits and a `Z`
/// (`2026-11-26T10:00:00.000000Z`). Every canonical text has the same width, so text
/// order is time order, which is what lets it lead a store sort key. Finer precision
/// than a microsecond is cut off (never rounded up), so a time and its text are always
/// the same value.
///
/// Years 0000 to 9999 only: a time outside them has no fixed-width RFC 3339 form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// `at` in UTC, cut to the microsecond; an error outside the years 0000 to 9999.
    pub fn new(at: OffsetDateTime) -> Result<Self, Error> {
        let utc = at.checked_to_offset(UtcOffset::UTC).filter(|utc| (0..=9999).contains(&utc.year()));
        let utc = utc.ok_or_else(out_of_range)?;
        let micros = utc.nanosecond() / 1_000 * 1_000;
        utc.replace_nanosecond(micros).map(Self).map_err(|_| out_of_range())
    }

    /// Reads RFC 3339 text with any offset and any number of fraction digits
    /// (`2018-07-24T20:59:32.156Z`, `2020-11-13T12:01:17-05:00`); the canonical form
    /// is one such text. This is also how serde reads a timestamp, so values written
    /// before the canonical form existed still read.
    pub fn parse_rfc3339(text: &str) -> Result<Self, Error> {
        let at = OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|_| invalid("is not an RFC 3339 time"))?;
        Self::new(at)
    }

    /// Reads RFC 2822 text (`Mon, 16 Aug 2010 03:45:01 +0000`), the form of the
    /// `Date…` fields in Twilio's API.
    pub fn parse_rfc2822(text: &str) -> Result<Self, Error> {
        let at = OffsetDateTime::parse(text.trim(), &Rfc2822).map_err(|_| invalid("is not an RFC 2822 time"))?;
        Self::new(at)
    }

    /// Whole seconds since 1970-01-01T00:00:00Z.
    pub fn from_unix_seconds(seconds: i64) -> Result<Self, Error> {
        OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| out_of_range()).and_then(Self::new)
    }

    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub fn from_unix_millis(millis: i64) -> Result<Self, Error> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
            .map_err(|_| out_of_range())
            .and_then(Self::new)
    }

    /// The time as a [`time::OffsetDateTime`] in UTC.
    pub fn to_offset_date_time(self) -> OffsetDateTime {
        self.0
    }
}

fn invalid(what: &str) -> Error {
    Error::invalid("time", what)
}

fn out_of_range() -> Error {
    invalid("is outside the years 0000 to 9999")
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("RFC 3339 in UTC with six fraction digits and `Z`"))
            .examples(["2026-11-26T10:00:00.000000Z"])
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

impl fmt::Display for Timestamp {
    /// The canonical form, `2026-11-26T10:00:00.000000Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Cannot fail: the year is checked on the way in and the offset is UTC.
        let text = self.0.format(CANONICAL).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl std::str::FromStr for Timestamp {
    type Err = Error;
    /// [`Timestamp::parse_rfc3339`].
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse_rfc3339(s)
    }
}

impl TryFrom<String> for Timestamp {
    type Error = Error;
    /// [`Timestamp::parse_rfc3339`].
    fn try_from(s: String) -> Result<Self, Error> {
        Self::parse_rfc3339(&s)
    }
}

impl From<Timestamp> for String {
    /// The canonical form.
    fn from(t: Timestamp) -> String {
        t.to_string()
    }
}

impl From<Timestamp> for OffsetDateTime {
    fn from(t: Timestamp) -> OffsetDateTime {
        t.0
    }
}

impl TryFrom<OffsetDateTime> for Timestamp {
    type Error = Error;
    /// [`Timestamp::new`].
    fn try_from(at: OffsetDateTime) -> Result<Self, Error> {
        Self::new(at)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;
    use time::macros::datetime;

    use super::*;

    fn ts(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn canonical_form() {
        for (input, canonical) in [
            ("2026-11-26T10:00:00Z", "2026-11-26T10:00:00.000000Z"),
            ("2018-07-24T20:59:32.156Z", "2018-07-24T20:59:32.156000Z"),
            ("2020-11-13T12:01:17-05:00", "2020-11-13T17:01:17.000000Z"),
            ("2020-11-14T01:01:17+08:00", "2020-11-13T17:01:17.000000Z"),
            ("2020-11-13t17:01:17.123456789z", "2020-11-13T17:01:17.123456Z"),
            ("2020-11-13T17:01:17.9999999Z", "2020-11-13T17:01:17.999999Z"),
            (" 2026-01-01T00:00:00.5Z ", "2026-01-01T00:00:00.500000Z"),
            ("2026-11-26 10:00:00Z", "2026-11-26T10:00:00.000000Z"),
            // A leap second reads as the last microsecond before the next minute.
            ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999999Z"),
            ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00.000000Z"),
            ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
        ] {
            assert_eq!(ts(input).to_string(), canonical, "{input}");
            assert_eq!(ts(canonical).to_string(), canonical, "{canonical} reads back as itself");
        }
    }

    #[test]
    fn other_forms() {
        let t = Timestamp::parse_rfc2822("Mon, 16 Aug 2010 03:45:01 +0000").unwrap();
        assert_eq!(t.to_string(), "2010-08-16T03:45:01.000000Z");
        let t = Timestamp::parse_rfc2822("Mon, 16 Aug 2010 03:45:01 -0700").unwrap();
        assert_eq!(t.to_string(), "2010-08-16T10:45:01.000000Z");
        assert_eq!(Timestamp::from_unix_seconds(1_605_286_877).unwrap().to_string(), "2020-11-13T17:01:17.000000Z");
        assert_eq!(Timestamp::from_unix_millis(1_532_465_972_156).unwrap().to_string(), "2018-07-24T20:59:32.156000Z");
        assert_eq!(Timestamp::from_unix_millis(-1).unwrap().to_string(), "1969-12-31T23:59:59.999000Z");
        let t = Timestamp::new(datetime!(2026-11-26 10:00:00.123_456_789 +01:00)).unwrap();
        assert_eq!(t.to_string(), "2026-11-26T09:00:00.123456Z");
        assert_eq!(t.to_offset_date_time(), datetime!(2026-11-26 09:00:00.123_456 UTC));
        assert_eq!(t.to_offset_date_time().offset(), UtcOffset::UTC);
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "zzzz-not-a-date",
            "2026-11-26",
            "2026-11-26T10:00:00",
            "2026-02-30T10:00:00Z",
            "2026-11-26T25:00:00Z",
            "1532465972",
            "Mon, 16 Aug 2010 03:45:01 +0000",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad:?}");
        }
        assert!(Timestamp::parse_rfc2822("2026-11-26T10:00:00Z").is_err());
        // Before 0000 in UTC.
        assert!(Timestamp::parse_rfc3339("0000-01-01T00:30:00+01:00").is_err());
        assert!(Timestamp::new(datetime!(-0001-06-01 00:00 UTC)).is_err());
        assert!(Timestamp::new(datetime!(9999-12-31 23:00 -05:00)).is_err(), "after 9999 in UTC");
        assert!(Timestamp::new(datetime!(-9999-01-01 00:00 +01:00)).is_err(), "not representable in UTC");
        assert!(Timestamp::from_unix_seconds(i64::MAX).is_err());
        assert!(Timestamp::from_unix_seconds(-62_167_219_201).is_err(), "one second before 0000-01-01");
        assert!(Timestamp::from_unix_millis(i64::MIN).is_err());
        let err = Timestamp::parse_rfc3339("secret-ish").unwrap_err();
        assert!(!err.to_string().contains("secret-ish"), "{err}");
    }

    #[test]
    fn serde_is_the_canonical_text() {
        let t = ts("2018-07-24T20:59:32.156Z");
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"2018-07-24T20:59:32.156000Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>("\"2018-07-24T20:59:32.156000Z\"").unwrap(), t);
        // Text stored before the canonical form existed still reads.
        assert_eq!(serde_json::from_str::<Timestamp>("\"2018-07-24T22:59:32.156+02:00\"").unwrap(), t);
        assert!(serde_json::from_str::<Timestamp>("\"zzzz-not-a-date\"").is_err());
        assert!(serde_json::from_str::<Timestamp>("1532465972").is_err());
    }

    /// Any time from 0000 to 9999, to the nanosecond.
    fn any_time() -> impl Strategy<Value = OffsetDateTime> {
        let min = datetime!(0000-01-01 00:00 UTC).unix_timestamp_nanos();
        let max = datetime!(9999-12-31 23:59:59.999_999_999 UTC).unix_timestamp_nanos();
        (min..=max).prop_map(|n| OffsetDateTime::from_unix_timestamp_nanos(n).unwrap())
    }

    /// Any time one day or more inside 0000 to 9999, so that any offset keeps it there.
    fn inner_time() -> impl Strategy<Value = OffsetDateTime> {
        let min = datetime!(0000-01-02 00:00 UTC).unix_timestamp_nanos();
        let max = datetime!(9999-12-30 23:59:59.999_999_999 UTC).unix_timestamp_nanos();
        (min..=max).prop_map(|n| OffsetDateTime::from_unix_timestamp_nanos(n).unwrap())
    }

    /// Times close together (same few seconds), where fixed width matters most.
    fn near_time() -> impl Strategy<Value = OffsetDateTime> {
        let base = datetime!(2026-11-26 10:00 UTC).unix_timestamp_nanos();
        (0..5_000_000_000_i128).prop_map(move |n| OffsetDateTime::from_unix_timestamp_nanos(base + n).unwrap())
    }

    fn offset() -> impl Strategy<Value = UtcOffset> {
        (-23..=23_i8, 0..60_i8).prop_map(|(h, m)| UtcOffset::from_hms(h, if h < 0 { -m } else { m }, 0).unwrap())
    }

    proptest! {
        #[test]
        fn text_round_trips(at in inner_time(), offset in offset()) {
            let t = Timestamp::new(at.to_offset(offset)).unwrap();
            let text = t.to_string();
            prop_assert_eq!(text.len(), 27);
            prop_assert!(text.ends_with('Z'));
            prop_assert_eq!(ts(&text), t);
            prop_assert_eq!(serde_json::from_str::<Timestamp>(&serde_json::to_string(&t).unwrap()).unwrap(), t);
            prop_assert!(t.to_offset_date_time() <= at && at - t.to_offset_date_time() < time::Duration::microseconds(1));
        }

        #[test]
        fn any_offset_reads_as_the_same_time(at in inner_time(), offset in offset()) {
            let text = at.to_offset(offset).format(&Rfc3339).unwrap();
            prop_assert_eq!(ts(&text), Timestamp::new(at).unwrap());
        }

        #[test]
        fn text_order_is_time_order(a in any_time(), b in any_time()) {
            let (a, b) = (Timestamp::new(a).unwrap(), Timestamp::new(b).unwrap());
            prop_assert_eq!(a.to_string().cmp(&b.to_string()), a.cmp(&b));
        }

        #[test]
        fn text_order_is_time_order_within_seconds(a in near_time(), b in near_time(), oa in offset(), ob in offset()) {
            let ta = Timestamp::new(a.to_offset(oa)).unwrap();
            let tb = Timestamp::new(b.to_offset(ob)).unwrap();
            prop_assert_eq!(ta.to_string().cmp(&tb.to_string()), ta.cmp(&tb));
            // And the order of the times themselves, to the microsecond.
            if a.unix_timestamp_nanos() / 1_000 != b.unix_timestamp_nanos() / 1_000 {
                prop_assert_eq!(ta.cmp(&tb), a.cmp(&b));
            }
        }
    }
}
