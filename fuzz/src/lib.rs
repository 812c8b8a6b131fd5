//! What the fuzz targets share: the registered providers and the checks every parsed
//! webhook must pass.

use std::sync::{Arc, LazyLock};

use textbridge_app::{
    envelope::Envelope,
    ports::{Provider, Providers, WebhookRequest},
};
use textbridge_domain::{E164, Error, ProviderKind, Region, TenantId, Timestamp, WebhookEvent};
use textbridge_providers::{Endpoints, registry};

/// The providers as a deployment registers them (built once: each registry builds an
/// HTTP client, which is never used here).
static PROVIDERS: LazyLock<Providers> = LazyLock::new(|| {
    let endpoints = Endpoints::from_lookup(|_| None).expect("the default endpoints are valid");
    registry(&endpoints)
});

/// The provider of `kind`.
pub fn provider(kind: ProviderKind) -> Arc<dyn Provider> {
    PROVIDERS.get(kind).expect("every provider is registered").clone()
}

/// When every fuzzed call arrived (2018-07-24T21:00:32Z).
pub fn received_at() -> Timestamp {
    Timestamp::from_unix_seconds(1_532_466_032).expect("a valid time")
}

/// Parses `body` as a webhook of `kind` as the intake does and checks what comes out:
///
/// - the same bytes always give the same answer;
/// - a refusal is bad input (a 4xx), never an unexpected error;
/// - every event is of `kind`, names a message id when it is a text, carries numbers
///   in E.164 that read back as themselves, has the receipt time when it says so, and
///   its queued form (the envelope the archiver reads) reads back as the same event.
pub fn parse_and_check(kind: ProviderKind, body: &[u8]) {
    let headers = http::HeaderMap::new();
    let request = WebhookRequest {
        url: "https://textbridge.example/webhooks/x/y",
        headers: &headers,
        body,
        received_at: received_at(),
    };
    let provider = provider(kind);
    // Unsigned calls are refused by the signed providers; none may panic.
    let _ = provider.verify_webhook(&request, &Default::default());
    let parsed = provider.parse_webhook(&request, Region::US, received_at());
    assert_eq!(parsed, provider.parse_webhook(&request, Region::US, received_at()), "parsing is deterministic");
    let events = match parsed {
        Ok(events) => events,
        Err(e) => {
            assert!(matches!(e, Error::Malformed { .. }), "a refused body is malformed, not {e:?}");
            return;
        }
    };
    let most = if kind == ProviderKind::Twilio { 2 } else { 1 };
    assert!(events.len() <= most, "{kind}: {} events from one call", events.len());
    let tenant = TenantId::parse("fuzz").expect("a valid tenant");
    for event in &events {
        check_event(kind, event);
        let body = Envelope::webhook_event(&tenant, event).expect("an event is serialisable").to_body();
        let queued = Envelope::parse(&body).expect("the queued body reads back");
        assert_eq!(queued.tenant, tenant);
        let read: WebhookEvent = serde_json::from_value(queued.payload).expect("the queued event reads back");
        assert_eq!(&read, event, "the queued form of an event reads back as itself");
    }
}

fn check_event(kind: ProviderKind, event: &WebhookEvent) {
    match event {
        WebhookEvent::Message(m) => {
            assert_eq!(m.provider, kind);
            assert!(!m.provider_message_id.trim().is_empty(), "a text has a message id");
            check_number(&m.their_number);
            if let Some(ours) = &m.our_number {
                check_number(ours);
            }
            if m.time_received {
                assert_eq!(m.occurred_at, received_at(), "flagged as the time of receipt");
            }
        }
        WebhookEvent::Status { provider, provider_message_id, .. } => {
            assert_eq!(*provider, kind);
            assert!(!provider_message_id.trim().is_empty(), "a status names its message");
        }
        WebhookEvent::OptOut { provider, number, .. } => {
            assert_eq!(*provider, kind);
            check_number(number);
        }
    }
}

/// A number in E.164 reads back as itself, in any region and as text.
pub fn check_number(number: &E164) {
    assert!(number.as_str().starts_with('+'), "{number:?}");
    for region in [Region::US, Region::parse("GB").expect("GB")] {
        assert_eq!(E164::parse(number.as_str(), region).as_ref(), Ok(number), "{number:?} re-parses as itself");
    }
    assert_eq!(number.as_str().parse::<E164>().as_ref(), Ok(number));
}
