//! Opt-out (SPEC S2): a number that texted a STOP-family keyword (or that a
//! provider reported opted out) receives no texts from the tenant through any
//! provider until it opts back in (START, UNSTOP, YES).
//!
//! A number's state is one item in its partition. A change is written in one
//! transaction with its history entry and an event on the conversation of every
//! record carrying the number, conditional on the state it replaces: of two
//! reports of the same change handled at once, one writes it; a report older than
//! the current state (a redelivered STOP after a START) changes nothing.

use std::sync::Arc;

use serde::Serialize;
use textbridge_domain::{DeliveryStatus, Direction, E164, Error, Identity, ProviderKind, TenantId, Timestamp};

use crate::{
    App, access,
    archive::records_for,
    items::{self, ConversationEntry, OptOutChange, OptOutItem, Stored},
    keys,
    ports::{Condition, MAX_TRANSACTION_WRITES, PortError, Write},
};

/// What reported a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A text whose whole body is a keyword.
    Keyword {
        /// The provider that carried it.
        provider: ProviderKind,
        /// The provider's id of the text.
        provider_message_id: String,
    },
    /// The provider's own opt-out report.
    Provider(ProviderKind),
}

impl Source {
    fn provider(&self) -> ProviderKind {
        match self {
            Self::Keyword { provider, .. } | Self::Provider(provider) => *provider,
        }
    }

    fn describe(&self, opted_out: bool) -> String {
        let what = if opted_out { "opt-out" } else { "opt-in" };
        match self {
            Self::Keyword { provider, .. } => format!("{what} keyword texted through {}", provider.display_name()),
            Self::Provider(provider) => format!("{what} reported by {}", provider.display_name()),
        }
    }
}

/// How many times a change re-reads a state that changed under it.
const TRIES: usize = 3;

/// Records that `number` opted out (or back in) at `at`; returns whether this
/// changed its state.
pub async fn record(
    app: &Arc<App>,
    tenant: &TenantId,
    number: &E164,
    opted_out: bool,
    at: Timestamp,
    source: &Source,
) -> Result<bool, Error> {
    let key = keys::opt_out(tenant, number);
    let records = records_for(app, tenant, number).await?;
    for _ in 0..TRIES {
        let current = items::get::<OptOutItem>(app.store.as_ref(), &key).await?;
        let condition = match &current {
            Some(c) if c.opted_out == opted_out || c.at > at => return Ok(false),
            Some(c) => Condition::Equals("at".into(), serde_json::to_value(c.at).map_err(Error::unexpected)?),
            None if !opted_out => return Ok(false), // never opted out: nothing to undo
            None => Condition::NotExists,
        };
        let description = source.describe(opted_out);
        let state = OptOutItem { number: number.clone(), opted_out, at, source: description.clone() };
        let change = OptOutChange { opted_out, at, source: description };
        let mut writes = vec![
            Write::Put { item: state.to_item(key.clone())?, condition: Some(condition) },
            Write::Put { item: change.to_item(keys::opt_out_change(tenant, number, &at, opted_out))?, condition: None },
        ];
        let event = if opted_out { "opted_out" } else { "opted_in" };
        for record in records.iter().take(MAX_TRANSACTION_WRITES - writes.len()) {
            let entry = ConversationEntry {
                provider: source.provider(),
                provider_message_id: match source {
                    Source::Keyword { provider_message_id, .. } => provider_message_id.clone(),
                    Source::Provider(_) => String::new(),
                },
                direction: Direction::Inbound,
                body: String::new(),
                occurred_at: at,
                time_received: false,
                our_number: None,
                their_number: number.clone(),
                texting_user: None,
                provider_username: None,
                unattributed: true,
                status: DeliveryStatus::Received,
                action_type: access::MESSAGE.to_owned(),
                event: Some(event.to_owned()),
            };
            let key = keys::conversation_event(tenant, record.kind, &record.id, &at, event);
            writes.push(Write::Put { item: entry.to_item(key)?, condition: None });
        }
        match app.store.transact(&writes).await {
            Ok(()) => {
                tracing::info!(opted_out, records = records.len(), "opt-out changed");
                return Ok(true);
            }
            Err(PortError::ConditionFailed) => continue, // changed under us: read again
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Unavailable("the number's opt-out keeps changing; retry later".into()))
}

/// Whether `number` has opted out of the tenant's texts.
pub async fn is_opted_out(app: &App, tenant: &TenantId, number: &E164) -> Result<bool, Error> {
    let key = keys::opt_out(tenant, number);
    Ok(items::get::<OptOutItem>(app.store.as_ref(), &key).await?.is_some_and(|s| s.opted_out))
}

/// A number's opt-out status and its history, as an admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OptOutStatus {
    /// The number in E.164.
    pub number: String,
    /// Whether it is opted out now.
    pub opted_out: bool,
    /// Every change, oldest first.
    pub history: Vec<OptOutChange>,
}

/// The opt-out status and history of `number` in the caller's tenant (admins).
#[tracing::instrument(skip_all, fields(tenant = %caller.tenant))]
pub async fn status(app: &Arc<App>, caller: &Identity, number: &str) -> Result<OptOutStatus, Error> {
    caller.require_admin()?;
    let number = E164::parse(number, app.config.default_region)
        .map_err(|_| Error::invalid("number", format!("{number:?} is not a valid phone number")))?;
    let tenant = &caller.tenant;
    let opted_out = is_opted_out(app, tenant, &number).await?;
    let history = app
        .store
        .query_all(&keys::opt_out_history(tenant, &number))
        .await?
        .iter()
        .map(OptOutChange::from_item)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OptOutStatus { number: number.to_string(), opted_out, history })
}
