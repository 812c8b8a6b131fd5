use serde::{Deserialize, Serialize};

use crate::{E164, ProviderKind, Timestamp};

/// Which way a text went, seen from the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the candidate / contact to the tenant.
    Inbound,
    /// From the tenant to the candidate / contact.
    Outbound,
}

/// Where a text is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// The tenant's number.
    pub our_number: E164,
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
        /// The number.
        number: E164,
        /// True for opt-out, false for opt-in.
        opted_out: bool,
    },
}

/// The kinds of ATS record a text can be archived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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

/// Whether a text is an opt-out (`Some(true)`: STOP, STOPALL, UNSUBSCRIBE, CANCEL,
/// END, QUIT, OPTOUT, REVOKE) or opt-in (`Some(false)`: START, UNSTOP) keyword; the
/// whole text must be the keyword, in any case, with surrounding spaces and
/// punctuation ignored.
pub fn opt_out_keyword(body: &str) -> Option<bool> {
    let word = body.trim().trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace()).to_ascii_uppercase();
    match word.as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" | "OPTOUT" | "REVOKE" => Some(true),
        "START" | "UNSTOP" => Some(false),
        _ => None,
    }
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
            ("unsubscribe", Some(true)),
            ("STOPALL", Some(true)),
            ("start", Some(false)),
            ("UNSTOP!", Some(false)),
            ("please stop texting me", None),
            ("", None),
            ("stopped", None),
        ] {
            assert_eq!(opt_out_keyword(body), want, "{body:?}");
        }
    }

    #[test]
    fn record_kinds_parse() {
        assert_eq!("Employee".parse::<RecordKind>().unwrap(), RecordKind::Employee);
        assert!("lead".parse::<RecordKind>().is_err());
    }
}
