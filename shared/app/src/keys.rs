//! Store keys, in one place, laid out for scale: a tenant's traffic is spread over
//! many partition keys, one per entity that takes writes (a record, a phone number,
//! a provider message, a webhook registration); only small tenant-wide sets
//! (credentials, username claims, permission groups, settings) share the tenant
//! partition `T#{tenant}`. Listings that cross entities read the secondary index.
//!
//! Every tenant key starts with `T#{tenant}`; system keys start with `T#_` or
//! `HOOK#`, which no tenant id can produce (tenant ids never start with `_` and
//! never contain `#`). See ARCHITECTURE.md for the access patterns.

use textbridge_domain::{
    AtsUserId, CredentialLevel, E164, Email, ProviderKind, ProviderUsername, RecordKind, TenantId, Timestamp, UserId,
};

use crate::ports::{Key, Query};

/// The sort key of an item that is alone in its partition.
const ITEM: &str = "ITEM";

/// The partition of a tenant's small tenant-wide sets.
pub fn tenant_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}")
}

/// Prefix of every credential item in a tenant partition.
pub const CREDENTIAL_PREFIX: &str = "CRED#";

/// A tenant's credentials of one provider at one level.
pub fn credential(tenant: &TenantId, provider: ProviderKind, level: &CredentialLevel) -> Key {
    Key::new(tenant_pk(tenant), format!("{CREDENTIAL_PREFIX}{provider}#{}#{}", level.kind(), level.scope()))
}

/// Every credential item of a tenant (a small set: one per level and provider).
pub fn credentials(tenant: &TenantId) -> Query {
    Query::new(tenant_pk(tenant), CREDENTIAL_PREFIX)
}

/// The claim that makes a provider username unique within a tenant.
pub fn username_claim(tenant: &TenantId, provider: ProviderKind, username: &ProviderUsername) -> Key {
    Key::new(tenant_pk(tenant), format!("PUNAME#{provider}#{username}"))
}

/// Prefix of every permission group item in a tenant partition.
pub const GROUP_PREFIX: &str = "GROUP#";

/// A permission group's settings (names compare without case).
pub fn permission_group(tenant: &TenantId, name: &str) -> Key {
    Key::new(tenant_pk(tenant), format!("{GROUP_PREFIX}{}", name.to_lowercase()))
}

/// Every permission group of a tenant.
pub fn permission_groups(tenant: &TenantId) -> Query {
    Query::new(tenant_pk(tenant), GROUP_PREFIX)
}

/// Prefix of every message action type a tenant added (the built-in ones are not stored).
pub const ACTION_TYPE_PREFIX: &str = "ACTION#";

/// A message action type a tenant added (names compare without case).
pub fn action_type(tenant: &TenantId, name: &str) -> Key {
    Key::new(tenant_pk(tenant), format!("{ACTION_TYPE_PREFIX}{}", name.to_lowercase()))
}

/// Every message action type a tenant added.
pub fn action_types(tenant: &TenantId) -> Query {
    Query::new(tenant_pk(tenant), ACTION_TYPE_PREFIX)
}

/// Prefix of every security group item in a tenant partition.
pub const SECURITY_GROUP_PREFIX: &str = "SECGRP#";

/// A security group's grants (names compare without case).
pub fn security_group(tenant: &TenantId, name: &str) -> Key {
    Key::new(tenant_pk(tenant), format!("{SECURITY_GROUP_PREFIX}{}", name.to_lowercase()))
}

/// Every stored security group of a tenant.
pub fn security_groups(tenant: &TenantId) -> Query {
    Query::new(tenant_pk(tenant), SECURITY_GROUP_PREFIX)
}

/// The security group a user is in (absent: the default group).
pub fn security_member(tenant: &TenantId, user: &UserId) -> Key {
    Key::new(tenant_pk(tenant), format!("SECGRP_MEMBER#{user}"))
}

/// A tenant's webhook source allow-lists.
pub fn webhook_sources(tenant: &TenantId) -> Key {
    Key::new(tenant_pk(tenant), "SETTINGS#webhook-sources")
}

/// A single send claimed under a caller's `Idempotency-Key` (its own partition).
pub fn send_claim(tenant: &TenantId, user: &UserId, idempotency_key: &str) -> Key {
    Key::new(format!("T#{tenant}#SEND#{user}#{idempotency_key}"), ITEM)
}

/// A mass text: who sends what through which provider (its own partition, with
/// its recipients).
pub fn job(tenant: &TenantId, job: &str) -> Key {
    Key::new(format!("T#{tenant}#JOB#{job}"), ITEM)
}

/// Prefix of a mass text's recipients.
const JOB_RECIPIENT_PREFIX: &str = "R#";

/// One recipient of a mass text, by its position (sort key order = the order given).
pub fn job_recipient(tenant: &TenantId, job_id: &str, index: usize) -> Key {
    Key::new(job(tenant, job_id).pk, format!("{JOB_RECIPIENT_PREFIX}{index:04}"))
}

/// Every recipient of a mass text, in the order given.
pub fn job_recipients(tenant: &TenantId, job_id: &str) -> Query {
    Query::new(job(tenant, job_id).pk, JOB_RECIPIENT_PREFIX)
}

/// Why a queue message last failed (read when it is listed as a dead letter).
pub fn failure(message_id: &str) -> Key {
    Key::new(format!("T#_failures#{message_id}"), ITEM)
}

/// A webhook registration, found by the unguessable token in its URL: its own
/// partition, so no two registrations (and no two tenants) share a key.
pub fn webhook_registration(token: &str) -> Key {
    Key::new(format!("HOOK#{token}"), ITEM)
}

/// A provider message's own item: its first report, status and where it was
/// archived (one partition per message).
pub fn message(tenant: &TenantId, provider: ProviderKind, provider_message_id: &str) -> Key {
    Key::new(format!("T#{tenant}#MSG#{provider}#{provider_message_id}"), ITEM)
}

/// The secondary-index key listing a text among its texting user's, by time.
pub fn user_text_listing(
    tenant: &TenantId,
    user: &UserId,
    occurred_at: &Timestamp,
    provider: ProviderKind,
    provider_message_id: &str,
) -> Key {
    Key::new(format!("T#{tenant}#USER#{user}#TEXTS"), format!("{occurred_at}#{provider}#{provider_message_id}"))
}

/// A texting user's texts, oldest first (secondary index; page it descending).
pub fn user_texts(tenant: &TenantId, user: &UserId) -> Query {
    Query::new(format!("T#{tenant}#USER#{user}#TEXTS"), "").on_index()
}

/// A delivery status that arrived before its text (beside the message item).
pub fn early_status(tenant: &TenantId, provider: ProviderKind, provider_message_id: &str) -> Key {
    Key::new(message(tenant, provider, provider_message_id).pk, "STATUS")
}

/// The message item and a status that came before it, in one strongly consistent read.
pub fn message_partition(tenant: &TenantId, provider: ProviderKind, provider_message_id: &str) -> Query {
    Query::new(message(tenant, provider, provider_message_id).pk, "").limit(2)
}

/// The partition of one record: the record, its conversation and archive states.
fn record_pk(tenant: &TenantId, kind: RecordKind, id: &str) -> String {
    format!("T#{tenant}#REC#{}#{id}", kind.as_str())
}

/// Everything in one record's partition: the record, its conversation and archive states.
pub fn record_partition(tenant: &TenantId, kind: RecordKind, id: &str) -> Query {
    Query::new(record_pk(tenant, kind, id), "")
}

/// One entry of a tenant's audit trail (purges), in time order.
pub fn audit(tenant: &TenantId, at: &Timestamp, id: &str) -> Key {
    Key::new(format!("T#{tenant}#AUDIT"), format!("EV#{at}#{id}"))
}

/// A tenant's audit trail, oldest first.
pub fn audit_trail(tenant: &TenantId) -> Query {
    Query::new(format!("T#{tenant}#AUDIT"), "EV#")
}

/// A record of the directory (candidate, employee, contact).
pub fn record(tenant: &TenantId, kind: RecordKind, id: &str) -> Key {
    Key::new(record_pk(tenant, kind, id), ITEM)
}

/// Prefix of a record's conversation entries (sort key order = time order).
const CONVERSATION_PREFIX: &str = "CONV#";

/// One archived message on one record's conversation, sorted by its canonical time.
pub fn conversation_entry(
    tenant: &TenantId,
    kind: RecordKind,
    id: &str,
    occurred_at: &Timestamp,
    provider: ProviderKind,
    provider_message_id: &str,
) -> Key {
    Key::new(
        record_pk(tenant, kind, id),
        format!("{CONVERSATION_PREFIX}{occurred_at}#{provider}#{provider_message_id}"),
    )
}

/// An event (an opt-out or opt-in of one of the record's numbers) on a record's
/// conversation, sorted among its texts by time.
pub fn conversation_event(tenant: &TenantId, kind: RecordKind, id: &str, at: &Timestamp, event: &str) -> Key {
    Key::new(record_pk(tenant, kind, id), format!("{CONVERSATION_PREFIX}{at}#event#{event}"))
}

/// A note on a record's conversation, ordered by when it was written.
pub fn conversation_note(tenant: &TenantId, kind: RecordKind, id: &str, at: &Timestamp, note: &str) -> Key {
    Key::new(record_pk(tenant, kind, id), format!("{CONVERSATION_PREFIX}{at}#note#{note}"))
}

/// A record's conversation, oldest first (page it with [`Query::descending`]).
pub fn conversation(tenant: &TenantId, kind: RecordKind, id: &str) -> Query {
    Query::new(record_pk(tenant, kind, id), CONVERSATION_PREFIX)
}

/// The archive state of one message on one record (`writing` with a lease, `done`).
pub fn archive_state(tenant: &TenantId, kind: RecordKind, id: &str, provider: ProviderKind, message_id: &str) -> Key {
    Key::new(record_pk(tenant, kind, id), format!("ARCH#{provider}#{message_id}"))
}

/// The secondary-index key listing an ATS write that waits for the tenant to
/// connect the ATS.
pub fn ats_pending_listing(
    tenant: &TenantId,
    kind: RecordKind,
    id: &str,
    provider: ProviderKind,
    message_id: &str,
) -> Key {
    Key::new(format!("T#{tenant}#ATS_PENDING"), format!("{}#{id}#{provider}#{message_id}", kind.as_str()))
}

/// Every ATS write of a tenant that waits for the ATS connection (secondary index).
pub fn ats_pending(tenant: &TenantId) -> Query {
    Query::new(format!("T#{tenant}#ATS_PENDING"), "").on_index()
}

/// The partition of one phone number: the records that carry it, its opt-out and
/// the texts of it that matched no record yet.
fn phone_pk(tenant: &TenantId, number: &E164) -> String {
    format!("T#{tenant}#PH#{number}")
}

/// Prefix of the directory entries of a number.
const DIRECTORY_PREFIX: &str = "DIR#";

/// One phone number of one record (found by [`records_of`]).
pub fn record_phone(tenant: &TenantId, number: &E164, kind: RecordKind, id: &str) -> Key {
    Key::new(phone_pk(tenant, number), format!("{DIRECTORY_PREFIX}{}#{id}", kind.as_str()))
}

/// The directory entries of a number (strongly consistent: a base-table query).
pub fn records_of(tenant: &TenantId, number: &E164) -> Query {
    Query::new(phone_pk(tenant, number), DIRECTORY_PREFIX)
}

/// Whether a number has opted out of texts from this tenant.
pub fn opt_out(tenant: &TenantId, number: &E164) -> Key {
    Key::new(phone_pk(tenant, number), "OPTOUT")
}

/// Prefix of the opt-out history of a number.
const OPT_OUT_HISTORY_PREFIX: &str = "OPTLOG#";

/// One change of a number's opt-out, sorted by time.
pub fn opt_out_change(tenant: &TenantId, number: &E164, at: &Timestamp, opted_out: bool) -> Key {
    Key::new(phone_pk(tenant, number), format!("{OPT_OUT_HISTORY_PREFIX}{at}#{opted_out}"))
}

/// The opt-out history of a number, oldest first.
pub fn opt_out_history(tenant: &TenantId, number: &E164) -> Query {
    Query::new(phone_pk(tenant, number), OPT_OUT_HISTORY_PREFIX)
}

/// Prefix of the unmatched texts of a number.
const UNMATCHED_PREFIX: &str = "UNM#";

/// A text that matched no record yet.
pub fn unmatched(tenant: &TenantId, number: &E164, provider: ProviderKind, provider_message_id: &str) -> Key {
    Key::new(phone_pk(tenant, number), format!("{UNMATCHED_PREFIX}{provider}#{provider_message_id}"))
}

/// The unmatched texts of one number (strongly consistent).
pub fn unmatched_of(tenant: &TenantId, number: &E164) -> Query {
    Query::new(phone_pk(tenant, number), UNMATCHED_PREFIX)
}

/// The secondary-index key listing an unmatched text among its tenant's, oldest first.
pub fn unmatched_listing(
    tenant: &TenantId,
    received_at: &Timestamp,
    number: &E164,
    provider: ProviderKind,
    provider_message_id: &str,
) -> Key {
    Key::new(format!("T#{tenant}#UNMATCHED"), format!("{received_at}#{number}#{provider}#{provider_message_id}"))
}

/// Every unmatched text of a tenant, oldest first (the secondary index: eventually
/// consistent on DynamoDB, which an admin listing tolerates).
pub fn unmatched_all(tenant: &TenantId) -> Query {
    Query::new(format!("T#{tenant}#UNMATCHED"), "").on_index()
}

/// The partition of a tenant's texting users: the users, their username claims and
/// their ATS user id claims (a directory of people, written at admin speed).
fn users_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}#USERS")
}

/// Prefix of the texting user items.
const USER_PREFIX: &str = "U#";

/// A texting user.
pub fn user(tenant: &TenantId, user_id: &UserId) -> Key {
    Key::new(users_pk(tenant), format!("{USER_PREFIX}{user_id}"))
}

/// Every texting user of a tenant (by id).
pub fn users(tenant: &TenantId) -> Query {
    Query::new(users_pk(tenant), USER_PREFIX)
}

/// The claim that makes a username (e-mail) one user's, kept as a tombstone after
/// the user is deleted so that the name can never be added again.
pub fn user_name(tenant: &TenantId, username: &Email) -> Key {
    Key::new(users_pk(tenant), format!("NAME#{username}"))
}

/// The claim that maps an ATS user's system id to one texting user.
pub fn ats_user(tenant: &TenantId, ats_id: &AtsUserId) -> Key {
    Key::new(users_pk(tenant), format!("ATS#{ats_id}"))
}

/// The partition of a tenant's teams.
fn teams_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}#TEAMS")
}

/// Prefix of the team items.
const TEAM_PREFIX: &str = "TEAM#";

/// A team, by its id.
pub fn team(tenant: &TenantId, team_id: &str) -> Key {
    Key::new(teams_pk(tenant), format!("{TEAM_PREFIX}{team_id}"))
}

/// Every team of a tenant.
pub fn teams(tenant: &TenantId) -> Query {
    Query::new(teams_pk(tenant), TEAM_PREFIX)
}

/// The claim that makes a team name (without case) one team's.
pub fn team_name(tenant: &TenantId, folded_name: &str) -> Key {
    Key::new(teams_pk(tenant), format!("TNAME#{folded_name}"))
}

/// The counter team ids are drawn from.
pub fn team_sequence(tenant: &TenantId) -> Key {
    Key::new(teams_pk(tenant), "SEQ")
}

/// The partition of a tenant's licences: the seat counter and one item per licensed
/// phone number, under `FREE#{area}#` while free and `USED#` while assigned.
fn licences_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}#LICENCES")
}

/// The seat counter: `total` bought, `free` not assigned.
pub fn seats(tenant: &TenantId) -> Key {
    Key::new(licences_pk(tenant), "SEATS")
}

/// Prefix of the free licence numbers.
pub const FREE_NUMBER_PREFIX: &str = "FREE#";

/// A free licence number, filed under its area code (`-` outside North America).
pub fn free_number(tenant: &TenantId, area: &str, number: &E164) -> Key {
    Key::new(licences_pk(tenant), format!("{FREE_NUMBER_PREFIX}{area}#{number}"))
}

/// The free licence numbers of one area code, or all of them (`None`).
pub fn free_numbers(tenant: &TenantId, area: Option<&str>) -> Query {
    Query::new(
        licences_pk(tenant),
        format!("{FREE_NUMBER_PREFIX}{}", area.map(|a| format!("{a}#")).unwrap_or_default()),
    )
}

/// A licence number assigned to a user.
pub fn used_number(tenant: &TenantId, number: &E164) -> Key {
    Key::new(licences_pk(tenant), format!("USED#{number}"))
}

/// Every licence number of a tenant, free and used.
pub fn licence_numbers(tenant: &TenantId) -> Query {
    Query::new(licences_pk(tenant), "")
}

/// The partition of a tenant's outgoing e-mail events (the outbox).
fn outbox_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}#OUTBOX")
}

/// One outgoing event, in time order.
pub fn outbox_event(tenant: &TenantId, at: &Timestamp, id: &str) -> Key {
    Key::new(outbox_pk(tenant), format!("EV#{at}#{id}"))
}

/// A tenant's outgoing events, oldest first.
pub fn outbox(tenant: &TenantId) -> Query {
    Query::new(outbox_pk(tenant), "EV#")
}

/// A tenant's ATS directory connection (base URL, sync settings, status).
pub fn ats_connection(tenant: &TenantId) -> Key {
    Key::new(tenant_pk(tenant), "SETTINGS#ats-connection")
}

/// The partition of a tenant's sync state: cursors, conflicts and the last report.
fn sync_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}#SYNC")
}

/// The sync's cursor of one stream (`users`, `candidate`, `employee`, `contact`).
pub fn sync_cursor(tenant: &TenantId, stream: &str) -> Key {
    Key::new(sync_pk(tenant), format!("CURSOR#{stream}"))
}

/// Prefix of the sync's conflicts.
const CONFLICT_PREFIX: &str = "CONFLICT#";

/// A conflict the sync found for one ATS user.
pub fn sync_conflict(tenant: &TenantId, ats_user: &str) -> Key {
    Key::new(sync_pk(tenant), format!("{CONFLICT_PREFIX}{ats_user}"))
}

/// Every open conflict of a tenant's sync.
pub fn sync_conflicts(tenant: &TenantId) -> Query {
    Query::new(sync_pk(tenant), CONFLICT_PREFIX)
}

/// The report of the tenant's last sync that changed something.
pub fn sync_report(tenant: &TenantId) -> Key {
    Key::new(sync_pk(tenant), "REPORT")
}

/// A tenant's ATS integration settings (whether users come from the sync).
pub fn ats_integration(tenant: &TenantId) -> Key {
    Key::new(tenant_pk(tenant), "SETTINGS#ats-integration")
}

/// The partition of one user import: the job, the file's rows in chunks and the
/// outcome of each applied chunk.
fn import_pk(tenant: &TenantId, import_id: &str) -> String {
    format!("T#{tenant}#IMPORT#{import_id}")
}

/// A user import job (its mapping, state and progress).
pub fn import_job(tenant: &TenantId, import_id: &str) -> Key {
    Key::new(import_pk(tenant, import_id), "JOB")
}

/// Chunk `n` of an import's rows.
pub fn import_chunk(tenant: &TenantId, import_id: &str, n: u32) -> Key {
    Key::new(import_pk(tenant, import_id), format!("ROWS#{n:06}"))
}

/// Every chunk of an import's rows, in file order.
pub fn import_chunks(tenant: &TenantId, import_id: &str) -> Query {
    Query::new(import_pk(tenant, import_id), "ROWS#")
}

/// The outcomes of an import's chunk `n`, written when the chunk was applied.
pub fn import_result(tenant: &TenantId, import_id: &str, n: u32) -> Key {
    Key::new(import_pk(tenant, import_id), format!("RESULT#{n:06}"))
}

/// Every outcome chunk of an import, in file order.
pub fn import_results(tenant: &TenantId, import_id: &str) -> Query {
    Query::new(import_pk(tenant, import_id), "RESULT#")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_keys_start_with_the_tenant_and_system_keys_cannot_collide() {
        let t = TenantId::parse("acme").expect("tenant");
        let n: E164 = "+12065550100".parse().expect("number");
        let at: Timestamp = "2026-11-26T10:00:00Z".parse().expect("time");
        let keys = [
            credential(&t, ProviderKind::TextUs, &CredentialLevel::System),
            permission_group(&t, "Recruiters"),
            webhook_sources(&t),
            message(&t, ProviderKind::Zipwhip, "1"),
            record(&t, RecordKind::Employee, "e1"),
            conversation_entry(&t, RecordKind::Employee, "e1", &at, ProviderKind::Twilio, "SM1"),
            archive_state(&t, RecordKind::Employee, "e1", ProviderKind::Twilio, "SM1"),
            record_phone(&t, &n, RecordKind::Contact, "k1"),
            opt_out(&t, &n),
            unmatched(&t, &n, ProviderKind::TextUs, "m1"),
            user(&t, &UserId::parse("u1").expect("id")),
            user_name(&t, &Email::parse("a@b.co").expect("email")),
            team(&t, "1"),
            seats(&t),
            used_number(&t, &n),
            outbox_event(&t, &at, "e1"),
            ats_integration(&t),
        ];
        for key in &keys {
            assert!(key.pk == "T#acme" || key.pk.starts_with("T#acme#"), "{key:?}");
        }
        assert!(webhook_registration("abc").pk.starts_with("HOOK#"));
        assert!(TenantId::parse("_hooks").is_err() && TenantId::parse("a#b").is_err());
    }

    #[test]
    fn entities_that_take_writes_have_partitions_of_their_own() {
        let t = TenantId::parse("acme").expect("tenant");
        let a = record(&t, RecordKind::Employee, "e1").pk;
        let b = record(&t, RecordKind::Employee, "e2").pk;
        let m1 = message(&t, ProviderKind::TextUs, "1").pk;
        let m2 = message(&t, ProviderKind::TextUs, "2").pk;
        assert_ne!(a, b);
        assert_ne!(m1, m2);
        assert_ne!(webhook_registration("x").pk, webhook_registration("y").pk);
        assert_ne!(tenant_pk(&t), a);
    }
}
