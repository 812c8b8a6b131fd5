//! Any text as a phone number, in a region of the North American plan or elsewhere.
//!
//! - The +1 fast path (the North American plan's metadata alone) and the whole
//!   metadata agree: a number of the region's own country (or written without one) is
//!   what libphonenumber's full database says, written as its E.164 formatter writes it.
//! - A number accepted is what the library reads its E.164 text as, and reads back as
//!   itself in every region and as text (serde's way).
#![no_main]

use libfuzzer_sys::fuzz_target;
use phonenumber::{Mode, country};
use textbridge_domain::{E164, Region};

/// Regions of the North American plan, then others with national prefixes, leading
/// zeros and various lengths.
const REGIONS: [&str; 16] =
    ["US", "CA", "PR", "JM", "AG", "BS", "GU", "DO", "GB", "DE", "IT", "FR", "IN", "AU", "MX", "JP"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let Ok(input) = std::str::from_utf8(rest) else { return };
    let code = REGIONS[usize::from(pick) % REGIONS.len()];
    let region = Region::parse(code).expect("a known region");
    let id: country::Id = code.parse().expect("a known region");

    let ours = E164::parse(input, region);
    let in_region = phonenumber::parse(Some(id), input);
    let own_country = in_region.as_ref().is_ok_and(|n| {
        n.code().source() == country::Source::Default
            || phonenumber::metadata::DATABASE.region(&n.code().value()).is_some_and(|r| r.contains(&code))
    });
    if own_country {
        let library = in_region.ok().filter(phonenumber::is_valid).map(|n| n.format().mode(Mode::E164).to_string());
        assert_eq!(ours.as_ref().ok().map(E164::as_str), library.as_deref(), "{input:?} in {code}");
    }

    if let Ok(number) = ours {
        let library = phonenumber::parse(None, number.as_str())
            .ok()
            .filter(phonenumber::is_valid)
            .map(|n| n.format().mode(Mode::E164).to_string());
        assert_eq!(library.as_deref(), Some(number.as_str()), "{input:?} in {code}: the library reads it back");
        for other in REGIONS {
            let other = Region::parse(other).expect("a known region");
            assert_eq!(E164::parse(number.as_str(), other).as_ref(), Ok(&number), "{number:?} in {other:?}");
        }
        textbridge_fuzz::check_number(&number);
    }
});
