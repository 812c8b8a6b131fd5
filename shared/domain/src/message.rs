use serde::{Deserialize, Serialize};

use crate::{E164, ProviderKind, Timestamp};

/// Which way a text went, seen from the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the candidate / contact to the tenant.
    Inbound,
    /// From the tenant to the candidate / contact.
    Outbound,
}

/// Where a text is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Received by the tenant (inbound).
    Received,
    /// Accepted by the provider, not yet sent.
    Queued,
    /// Sent to the carrier.
    Sent,
    /// Delivered to the handset.
    Delivered,
    /// Failed or undelivered.
    Failed,
    /// The provider did not say.
    Unknown,
}

/// One text, provider-neutral: what the archiver needs and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageEvent {
    /// The provider that carried it.
    pub provider: ProviderKind,
    /// The provider's id for the message, as text (Zipwhip ids exceed 2^53).
    pub provider_message_id: String,
    /// Inbound or outbound.
    pub direction: Direction,
    /// The tenant's number, when the provider said it (a text sent through a
    /// provider whose answer names no line has none until its webhook reports it).
    #[serde(default)]
    pub our_number: Option<E164>,
    /// The candidate's / contact's number (what records are matched on).
    pub their_number: E164,
    /// The text.
    pub body: String,
    /// When it was sent or received, as the provider said; when the provider said
    /// nothing that could be read as a time, when the webhook was received (and
    /// [`Self::time_received`] says so).
    pub occurred_at: Timestamp,
    /// True when [`Self::occurred_at`] is the time the webhook was received, because
    /// the provider sent no time or one that could not be read (Twilio never sends
    /// one). Absent (false) in events written before this field existed.
    #[serde(default)]
    pub time_received: bool,
    /// The texting user's username at the provider, when known (for attribution).
    pub provider_username: Option<crate::ProviderUsername>,
    /// Delivery status.
    pub status: DeliveryStatus,
}

/// What one webhook call reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WebhookEvent {
    /// A text, inbound or outbound.
    Message(MessageEvent),
    /// A later delivery status of a text already reported.
    Status {
        /// The provider.
        provider: ProviderKind,
        /// The provider's id for the message.
        provider_message_id: String,
        /// The new status.
        status: DeliveryStatus,
    },
    /// A number opted out (STOP) or back in (START).
    OptOut {
        /// The provider that reported it.
        provider: ProviderKind,
        /// The number.
        number: E164,
        /// True for opt-out, false for opt-in.
        opted_out: bool,
    },
}

/// The kinds of ATS record a text can be archived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    /// A candidate (applicant).
    Candidate,
    /// An employee.
    Employee,
    /// A client contact.
    Contact,
}

impl RecordKind {
    /// Every kind.
    pub const ALL: [RecordKind; 3] = [Self::Candidate, Self::Employee, Self::Contact];

    /// `candidate`, `employee` or `contact`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Candidate => "candidate",
            Self::Employee => "employee",
            Self::Contact => "contact",
        }
    }
}

impl std::str::FromStr for RecordKind {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, crate::Error> {
        [Self::Candidate, Self::Employee, Self::Contact]
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| crate::Error::invalid("kind", format!("{s:?} is not one of candidate, employee, contact")))
    }
}

/// The opt-out keywords: a text that is exactly one of them opts its number out.
pub const OPT_OUT_KEYWORDS: [&str; 11] =
    ["STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "OPT-OUT", "OPT OUT"];

/// The opt-in keywords: a text that is exactly one of them opts its number back in.
pub const OPT_IN_KEYWORDS: [&str; 3] = ["START", "UNSTOP", "YES"];

/// Whether `c` is ignored around a keyword: any Unicode space (no-break, em, ideographic,
/// zero-width), ASCII punctuation, the general punctuation block (curly quotes,
/// dashes, ellipsis) and Spanish inverted marks.
fn ignorable(c: char) -> bool {
    c.is_whitespace()
        || c.is_ascii_punctuation()
        || ('\u{2000}'..='\u{206F}').contains(&c)
        || matches!(c, '\u{FEFF}' | '¡' | '¿' | '«' | '»' | '、' | '。' | '！' | '？' | '，')
}

/// Whether a text is an opt-out keyword (`Some(true)`, [`OPT_OUT_KEYWORDS`]) or an
/// opt-in keyword (`Some(false)`, [`OPT_IN_KEYWORDS`]). The whole text must be the
/// keyword, in any case; spaces and punctuation around it are ignored, and the
/// spaces inside a two-word keyword may be any run of Unicode spaces.
pub fn opt_out_keyword(body: &str) -> Option<bool> {
    let trimmed = body.trim_matches(ignorable);
    let words: Vec<&str> =
        trimmed.split(|c: char| c.is_whitespace() || c == '\u{200B}').filter(|w| !w.is_empty()).collect();
    let text = words.join(" ").to_uppercase();
    if OPT_OUT_KEYWORDS.contains(&text.as_str()) {
        Some(true)
    } else if OPT_IN_KEYWORDS.contains(&text.as_str()) {
        Some(false)
    } else {
        None
    }
}

/// The most characters one text may have.
pub const MAX_TEXT_CHARS: usize = 1600;

/// How a text is encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Encoding {
    /// The GSM 03.38 7-bit alphabet: 160 characters in one segment, 153 per segment
    /// of a longer text.
    #[serde(rename = "GSM-7")]
    Gsm7,
    /// UCS-2 (any other character): 70 UTF-16 units in one segment, 67 per segment
    /// of a longer text.
    #[serde(rename = "UCS-2")]
    Ucs2,
}

/// The GSM 03.38 basic character set.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
    ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The GSM 03.38 extension table: each takes two septets.
const GSM_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

/// The encoding of `body` and how many segments it is sent in.
pub fn segments(body: &str) -> (Encoding, u32) {
    let septets: Option<usize> = body
        .chars()
        .map(|c| {
            if GSM_BASIC.contains(c) {
                Some(1)
            } else if GSM_EXTENSION.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .sum();
    let (encoding, units, single, multi) = match septets {
        Some(septets) => (Encoding::Gsm7, septets, 160, 153),
        None => (Encoding::Ucs2, body.encode_utf16().count(), 70, 67),
    };
    let count = if units <= single { 1 } else { units.div_ceil(multi) };
    (encoding, u32::try_from(count).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_out_keywords() {
        for (body, want) in [
            ("STOP", Some(true)),
            (" stop ", Some(true)),
            ("Stop.", Some(true)),
            ("STOP!!!", Some(true)),
            ("\"stop\"", Some(true)),
            ("\u{201C}Stop\u{201D}", Some(true)),
            ("\u{00A0}STOP\u{2003}", Some(true)),
            ("\u{200B}stop\u{3000}", Some(true)),
            ("¡STOP!", Some(true)),
            ("unsubscribe", Some(true)),
            ("STOPALL", Some(true)),
            ("stop all", Some(true)),
            ("Stop\u{00A0}\u{00A0}All", Some(true)),
            ("cancel", Some(true)),
            ("End.", Some(true)),
            ("QUIT", Some(true)),
            ("revoke", Some(true)),
            ("OptOut", Some(true)),
            ("opt-out", Some(true)),
            ("Opt Out!", Some(true)),
            ("start", Some(false)),
            ("UNSTOP!", Some(false)),
            ("Yes", Some(false)),
            (" yes. ", Some(false)),
            ("please stop texting me", None),
            ("Please stop by the office", None),
            ("stop by", None),
            ("", None),
            ("...", None),
            ("stopped", None),
            ("stop-all", None),
            ("s t o p", None),
            ("STOP STOP", None),
            ("yes please", None),
            ("STOP 🛑", None),
            ("opt in", None),
        ] {
            assert_eq!(opt_out_keyword(body), want, "{body:?}");
        }
    }

    #[test]
    fn segment_counts() {
        let gsm = |n: usize| "a".repeat(n);
        for (body, want) in [
            (gsm(1), (Encoding::Gsm7, 1)),
            (gsm(160), (Encoding::Gsm7, 1)),
            (gsm(161), (Encoding::Gsm7, 2)),
            (gsm(306), (Encoding::Gsm7, 2)),
            (gsm(307), (Encoding::Gsm7, 3)),
            (format!("{}€", gsm(159)), (Encoding::Gsm7, 2)), // € takes two septets
            ("Ça coûte 5 €".to_owned(), (Encoding::Ucs2, 1)), // û is not GSM-7
            ("é".repeat(160), (Encoding::Gsm7, 1)),
            ("ü".repeat(70), (Encoding::Gsm7, 1)),
            ("日".repeat(70), (Encoding::Ucs2, 1)),
            ("日".repeat(71), (Encoding::Ucs2, 2)),
            ("😀".repeat(35), (Encoding::Ucs2, 1)), // two UTF-16 units each
            ("😀".repeat(36), (Encoding::Ucs2, 2)),
            (format!("{}x", "\u{201C}".repeat(134)), (Encoding::Ucs2, 3)),
        ] {
            assert_eq!(segments(&body), want, "{} chars", body.chars().count());
        }
    }

    #[test]
    fn record_kinds_parse() {
        assert_eq!("Employee".parse::<RecordKind>().unwrap(), RecordKind::Employee);
        assert!("lead".parse::<RecordKind>().is_err());
    }
}
