use std::str::FromStr;
use std::sync::LazyLock;

use phonenumber::{
    PhoneNumber,
    country::{self, Source},
    metadata::Database,
};
use serde::{Deserialize, Serialize};

use crate::Error;

/// A region (ISO 3166-1 alpha-2, e.g. `US`) used to read national phone numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(country::Id);

impl Region {
    /// The United States, the default for tenants that name no region.
    pub const US: Region = Region(country::Id::US);

    /// Parses a two-letter region code, in any case.
    pub fn parse(code: &str) -> Result<Self, Error> {
        code.trim()
            .to_ascii_uppercase()
            .parse::<country::Id>()
            .map(Region)
            .map_err(|_| Error::invalid("country", format!("{code:?} is not a two-letter country code")))
    }
}

impl Default for Region {
    fn default() -> Self {
        Self::US
    }
}

impl FromStr for Region {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

/// A valid phone number in E.164 form (`+12065550100`).
///
/// Parsed with libphonenumber's metadata (the `phonenumber` crate); national numbers are
/// read in the tenant's region.
///
/// In a region of country code 1 (the North American Numbering Plan: the United
/// States, Canada and 23 more), a +1 number — nearly all a US tenant sees — is read
/// with that plan's metadata alone ([`NANP`]): building the whole database (every
/// country's patterns checked) takes ~100 ms, which every cold start would otherwise
/// pay on its first number. In a US region it is first read with the United States'
/// metadata alone ([`US`], a sixth of the plan's to build): a number valid there is a
/// valid +1 number. Any other number, and any input the plan's metadata cannot read,
/// is read with the whole database. All give the same answer for a +1 number: they
/// hold the same metadata for it (checked by this module's tests).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct E164(String);

impl E164 {
    /// Parses `input` (international, or national in `region`) into E.164.
    pub fn parse(input: &str, region: Region) -> Result<Self, Error> {
        let bad = || Error::invalid("phone", format!("{input:?} is not a valid phone number"));
        if region == Region::US
            && let Ok(number) = phonenumber::parse_with(&US, Some(region.0), input)
            && number.code().value() == 1
            && let Some(e164) = valid_e164(&US, &number)
        {
            return Ok(e164);
        }
        if NANP.by_id(region.0.as_ref()).is_some()
            && let Ok(number) = phonenumber::parse_with(&NANP, Some(region.0), input)
            && number.code().value() == 1
        {
            return valid_e164(&NANP, &number).ok_or_else(bad);
        }
        let database = &phonenumber::metadata::DATABASE;
        let number = phonenumber::parse(Some(region.0), input).map_err(|_| bad())?;
        // The library reads a national number with the rules of the region it is given
        // even when the input names another country: `+39 06 6982 1234` read in GB
        // loses its leading 0 as GB's national prefix, `+86 138 0013 8000` in the US
        // its 1. A number that names its country is read again in that country; one of
        // a code of no country (+800, +881) with no region, so with its code's own rules.
        let number = if number.code().source() == Source::Default || of_region(&number, region) {
            number
        } else {
            phonenumber::parse(home(&number), input).unwrap_or(number)
        };
        valid_e164(database, &number).ok_or_else(bad)
    }

    /// Reads the United States' metadata and one number, so that the first number a
    /// process reads later costs what any other does; for start-up, off the request
    /// path.
    pub fn warm_up() {
        let _ = Self::parse("+12025550100", Region::US);
    }

    /// The area code of a North American (+1) number; `None` for other countries.
    pub fn area_code(&self) -> Option<crate::AreaCode> {
        self.0
            .strip_prefix("+1")
            .filter(|rest| rest.len() == 10)
            .and_then(|rest| crate::AreaCode::parse(&rest[..3]).ok())
    }
}

/// libphonenumber's metadata of the territories of country code 1, as the
/// `phonenumber` crate ships it (`metadata/nanp.xml`, written by
/// `scripts/nanp-metadata.py`).
static NANP: LazyLock<Database> = LazyLock::new(|| {
    #[allow(clippy::expect_used)] // The file is part of the build; the tests read it.
    Database::parse(NANP_XML).expect("metadata/nanp.xml is valid metadata")
});

/// The United States' territory of [`NANP`]'s file alone.
static US: LazyLock<Database> = LazyLock::new(|| {
    #[allow(clippy::expect_used)] // The file is part of the build; the tests read it.
    Database::parse(territory(NANP_XML, "US").expect("metadata/nanp.xml holds US")).expect("US is valid metadata")
});

/// The metadata file of the territories of country code 1.
const NANP_XML: &str = include_str!("../metadata/nanp.xml");

/// A metadata document of territory `id` of `xml` alone (`None` when it has none).
fn territory(xml: &str, id: &str) -> Option<String> {
    const END: &str = "</territory>";
    let start = xml.find(&format!("<territory id=\"{id}\""))?;
    let end = start + xml[start..].find(END)? + END.len();
    Some(format!("<phoneNumberMetadata><territories>{}</territories></phoneNumberMetadata>", &xml[start..end]))
}

/// The E.164 form of `number` if `db` says it is valid: `+`, the country code and the
/// national significant number, as the library's E.164 formatter writes it — without
/// that formatter, which first matches the number against its country's formatting
/// rules (tens of milliseconds of regex building on first use) that E.164 ignores.
fn valid_e164(db: &Database, number: &PhoneNumber) -> Option<E164> {
    phonenumber::is_valid_with(db, number).then(|| E164(format!("+{}{}", number.code().value(), number.national())))
}

/// Whether `region` is one of the regions of `number`'s country code.
fn of_region(number: &PhoneNumber, region: Region) -> bool {
    let regions = phonenumber::metadata::DATABASE.region(&number.code().value());
    regions.is_some_and(|regions| regions.contains(&region.0.as_ref()))
}

/// The main region of `number`'s country code (`IT` for +39); `None` for a code of no
/// country (`001`: +800, +881, …).
fn home(number: &PhoneNumber) -> Option<country::Id> {
    phonenumber::metadata::DATABASE.region(&number.code().value())?.first()?.parse().ok()
}

/// Text (`FromStr`, `TryFrom<String>`, serde) must already be in international form.
fn parse_international(s: &str) -> Result<E164, Error> {
    if !s.starts_with('+') {
        return Err(Error::invalid("phone", format!("{s:?} is not in E.164 form")));
    }
    E164::parse(s, Region::US)
}

text_newtype!(E164, parse_international);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn area_codes_of_north_american_numbers() {
        let n = E164::parse("+13125550100", Region::US).unwrap();
        assert_eq!(n.area_code().unwrap().as_str(), "312");
        assert!(E164::parse("+442079460000", Region::US).unwrap().area_code().is_none());
    }

    #[test]
    fn table() {
        let gb = Region::parse("gb").unwrap();
        let cases = [
            ("(206) 555-0100", Region::US, Some("+12065550100")),
            ("206.555.0100", Region::US, Some("+12065550100")),
            ("1-206-555-0100", Region::US, Some("+12065550100")),
            ("+1 1 206 555 0100", Region::US, Some("+12065550100")),
            ("+44 0 20 7946 0018", Region::US, Some("+442079460018")),
            ("+1 206 555 0100", gb, Some("+12065550100")),
            ("020 7946 0018", gb, Some("+442079460018")),
            ("+44 20 7946 0018", Region::US, Some("+442079460018")),
            ("555-0100", Region::US, None),
            ("not a number", Region::US, None),
            ("", Region::US, None),
            ("+1 000 000 0000", Region::US, None),
            // A number that names its country is read with that country's rules, not
            // the region's (whose national prefix would be stripped from it).
            ("+39 06 6982 1234", gb, Some("+390669821234")),
            ("00 39 06 6982 1234", gb, Some("+390669821234")),
            ("+390669821234", Region::parse("DE").unwrap(), Some("+390669821234")),
            ("+86 138 0013 8000", Region::US, Some("+8613800138000")),
            // A code of no country (+881: satellite phones) is read with its own rules
            // in every region: GB's would strip the 0 as its national prefix.
            ("+881 0655550200", gb, Some("+8810655550200")),
            ("+881.0655550200", Region::US, Some("+8810655550200")),
        ];
        for (input, region, want) in cases {
            let got = E164::parse(input, region).ok();
            assert_eq!(got.as_ref().map(E164::as_str), want, "{input:?}");
        }
    }

    #[test]
    fn an_accepted_number_reads_back_as_itself_in_any_region() {
        let regions = ["US", "CA", "GB", "DE", "IT", "FR", "AU", "JP", "CN"].map(|r| Region::parse(r).unwrap());
        for (input, region) in
            [("06 6982 1234", "IT"), ("138 0013 8000", "CN"), ("(206) 555-0100", "US"), ("+881 0655550200", "GB")]
        {
            let number = E164::parse(input, Region::parse(region).unwrap()).unwrap();
            for other in regions {
                assert_eq!(E164::parse(number.as_str(), other).as_ref(), Ok(&number), "{input} in {other:?}");
            }
            assert_eq!(number.as_str().parse::<E164>().as_ref(), Ok(&number), "{input} as text");
        }
    }

    #[test]
    fn serde_requires_international_form() {
        assert!(serde_json::from_str::<E164>("\"2065550100\"").is_err());
        let n: E164 = serde_json::from_str("\"+12065550100\"").unwrap();
        assert_eq!(n.as_str(), "+12065550100");
    }

    #[test]
    fn region_errors_name_the_code() {
        let err = Region::parse("XX").unwrap_err();
        assert_eq!(err.to_string(), "country: \"XX\" is not a two-letter country code");
    }

    #[test]
    fn plus_one_numbers_are_read_with_the_nanp_metadata() {
        for input in ["(206) 555-0100", "+1 312 555 0199", "1-206-555-0100", "+12065550100"] {
            let number = phonenumber::parse_with(&NANP, Some(country::Id::US), input);
            assert!(number.as_ref().is_ok_and(|n| valid_e164(&NANP, n).is_some()), "{input}: {number:?}");
        }
    }

    #[test]
    fn the_us_metadata_is_the_nanp_files_us() {
        assert_eq!(US.iter().count(), 1);
        assert_eq!(format!("{:?}", US.by_id("US")), format!("{:?}", NANP.by_id("US")));
        assert_eq!(territory(NANP_XML, "XX"), None);
        // A number of another +1 territory is not valid in the US alone: the plan's
        // metadata reads it.
        let toronto = phonenumber::parse_with(&US, Some(country::Id::US), "+1 416 555 0100").expect("parse");
        assert!(valid_e164(&US, &toronto).is_none());
        assert_eq!(E164::parse("+1 416 555 0100", Region::US).map(String::from).ok().as_deref(), Some("+14165550100"));
    }

    #[test]
    fn the_nanp_metadata_is_the_crates_own() {
        let full = &phonenumber::metadata::DATABASE;
        assert_eq!(NANP.region(&1), full.region(&1), "the same territories, in the same order");
        assert_eq!(NANP.iter().count(), full.region(&1).map_or(0, |r| r.len()), "only +1 territories");
        for id in full.region(&1).unwrap_or_default() {
            let ours = NANP.by_id(id).map(|m| format!("{m:?}"));
            assert_eq!(ours, full.by_id(id).map(|m| format!("{m:?}")), "{id}: scripts/nanp-metadata.py is stale");
        }
    }

    proptest! {
        #[test]
        fn nanp_and_whole_database_agree(
            digits in "[2-9][0-9]{2}[2-9][0-9]{6}|[0-9]{10}",
            style in 0..4usize,
            region in prop::sample::select(vec!["US", "CA", "PR", "JM", "AG"]),
        ) {
            let input = match style {
                0 => format!("+1{digits}"),
                1 => digits.clone(),
                2 => format!("1-{}-{}-{}", &digits[..3], &digits[3..6], &digits[6..]),
                _ => format!("011 1 {digits}"),
            };
            let region = Region::parse(region).unwrap();
            let whole = phonenumber::parse(Some(region.0), &input)
                .ok()
                .filter(phonenumber::is_valid)
                .map(|n| n.format().mode(phonenumber::Mode::E164).to_string());
            prop_assert_eq!(E164::parse(&input, region).ok().map(String::from), whole, "{}", input);
        }

        #[test]
        fn e164_is_written_as_the_library_writes_it(
            code in prop::sample::select(vec!["44", "39", "33", "49", "61", "81", "52", "1", "881"]),
            digits in "0?[0-9]{6,11}",
        ) {
            let input = format!("+{code}{digits}");
            // Read without a region: with one, the library would apply that region's
            // national prefix to another country's number. A +1 number is read in the
            // US, its own country, as `E164::parse` reads it here: without a region the
            // library keeps the plan's national prefix (`+1 1 201 200 0000`), which
            // with any other country code it strips (`+44 0 20 7946 0018`).
            let home = (code == "1").then_some(country::Id::US);
            let library = phonenumber::parse(home, &input)
                .ok()
                .filter(phonenumber::is_valid)
                .map(|n| n.format().mode(phonenumber::Mode::E164).to_string());
            prop_assert_eq!(E164::parse(&input, Region::US).ok().map(String::from), library, "{}", input);
        }

        #[test]
        fn never_panics_and_output_reparses(s in "\\PC{0,40}") {
            if let Ok(n) = E164::parse(&s, Region::US) {
                prop_assert_eq!(E164::parse(n.as_str(), Region::US).unwrap(), n.clone());
                prop_assert!(n.as_str().starts_with('+'));
            }
        }
    }
}
