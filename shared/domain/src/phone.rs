use std::str::FromStr;

use phonenumber::{Mode, country};
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
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct E164(String);

impl E164 {
    /// Parses `input` (international, or national in `region`) into E.164.
    pub fn parse(input: &str, region: Region) -> Result<Self, Error> {
        let bad = || Error::invalid("phone", format!("{input:?} is not a valid phone number"));
        let number = phonenumber::parse(Some(region.0), input).map_err(|_| bad())?;
        if !phonenumber::is_valid(&number) {
            return Err(bad());
        }
        Ok(Self(number.format().mode(Mode::E164).to_string()))
    }

    /// The area code of a North American (+1) number; `None` for other countries.
    pub fn area_code(&self) -> Option<crate::AreaCode> {
        self.0
            .strip_prefix("+1")
            .filter(|rest| rest.len() == 10)
            .and_then(|rest| crate::AreaCode::parse(&rest[..3]).ok())
    }
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
            ("+1 206 555 0100", gb, Some("+12065550100")),
            ("020 7946 0018", gb, Some("+442079460018")),
            ("+44 20 7946 0018", Region::US, Some("+442079460018")),
            ("555-0100", Region::US, None),
            ("not a number", Region::US, None),
            ("", Region::US, None),
            ("+1 000 000 0000", Region::US, None),
        ];
        for (input, region, want) in cases {
            let got = E164::parse(input, region).ok();
            assert_eq!(got.as_ref().map(E164::as_str), want, "{input:?}");
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

    proptest! {
        #[test]
        fn never_panics_and_output_reparses(s in "\\PC{0,40}") {
            if let Ok(n) = E164::parse(&s, Region::US) {
                prop_assert_eq!(E164::parse(n.as_str(), Region::US).unwrap(), n.clone());
                prop_assert!(n.as_str().starts_with('+'));
            }
        }
    }
}
