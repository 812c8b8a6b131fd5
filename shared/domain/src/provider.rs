use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::Error;

/// A texting provider Textbridge talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// TextUs (Bearer API key, webhooks registered at system level).
    #[serde(rename = "textus")]
    TextUs,
    /// Zipwhip (username + password login, session key).
    Zipwhip,
    /// Twilio (Account SID + Auth Token).
    Twilio,
}

impl ProviderKind {
    /// Every provider, in a stable order.
    pub const ALL: [ProviderKind; 3] = [Self::TextUs, Self::Zipwhip, Self::Twilio];

    /// The name people know it by (`TextUs`).
    pub fn display_name(self) -> &'static str {
        match self {
            Self::TextUs => "TextUs",
            Self::Zipwhip => "Zipwhip",
            Self::Twilio => "Twilio",
        }
    }

    /// The lowercase name used in URLs, keys and secret names.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TextUs => "textus",
            Self::Zipwhip => "zipwhip",
            Self::Twilio => "twilio",
        }
    }
}

impl FromStr for ProviderKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| Error::invalid("provider", format!("{s:?} is not one of textus, zipwhip, twilio")))
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for p in ProviderKind::ALL {
            assert_eq!(p.as_str().parse::<ProviderKind>().unwrap(), p);
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{}\"", p.as_str()));
        }
        assert_eq!("TextUs".parse::<ProviderKind>().unwrap(), ProviderKind::TextUs);
        assert!("sms".parse::<ProviderKind>().is_err());
    }
}
