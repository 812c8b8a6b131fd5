//! The HTTP API's OpenAPI 3.1 document, made from the `#[utoipa::path]` annotation next
//! to each handler and the `ToSchema` types they take and answer. Only the hosts that
//! serve or write it call [`ApiDoc::openapi`](utoipa::OpenApi::openapi), so the
//! functions that do not link none of it.

use utoipa::{
    Modify, OpenApi,
    openapi::{
        RefOr,
        schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::{ErrorBody, credentials, health, imports, intake, records, users};

/// Every route of every function's router. Routes are authenticated by a bearer token
/// (in AWS the API Gateway JWT authorizer's; locally a development token) unless their
/// description says `security: [{}]` (health checks, webhooks).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Textbridge",
        description = "Texting integration for staffing platforms: provider credentials, webhook intake, \
                       records and their archived conversations, sending, texting users and their import. \
                       Every error is `{\"error\": {\"code\", \"message\", \"field\"}}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        health::server,
        health::credentials,
        health::intake,
        health::records,
        health::users,
        health::imports,
        intake::receive,
        credentials::list,
        credentials::save_system,
        credentials::read_system,
        credentials::remove_system,
        credentials::replace_system_secret,
        credentials::test_system,
        credentials::save,
        credentials::read,
        credentials::remove,
        credentials::replace_secret,
        credentials::test,
        credentials::ats_read,
        credentials::ats_save,
        credentials::ats_test,
        credentials::ats_remove,
        records::upsert_record,
        records::purge_record,
        records::conversation,
        records::write_note,
        records::unmatched,
        records::list_dead_letters,
        records::replay,
        records::queue_depth,
        records::get_sources,
        records::set_sources,
        records::audit_trail,
        records::sync_report,
        records::sync_conflicts,
        records::resolve_conflict,
        records::list_types,
        records::add_type,
        records::list_security_groups,
        records::create_security_group,
        records::update_security_group,
        records::get_member,
        records::set_member,
        records::opt_out_status,
        records::send_text,
        records::my_conversations,
        records::search_number,
        records::start_mass,
        records::mass_progress,
        users::me,
        users::list_users,
        users::add_user,
        users::get_user,
        users::edit_user,
        users::delete_user,
        users::set_role,
        users::set_user_group,
        users::set_team,
        users::set_branch,
        users::disable,
        users::enable,
        users::expire_password,
        users::forgot_password,
        users::add_inbox,
        users::remove_inbox,
        users::assign_licence,
        users::remove_licence,
        users::add_ats_id,
        users::remove_ats_id,
        users::list_teams,
        users::create_team,
        users::rename_team,
        users::seats,
        users::add_numbers,
        users::list_groups,
        users::set_group,
        users::outbox,
        imports::upload,
        imports::upload_slot,
        imports::get_import,
        imports::remap,
        imports::run,
        imports::report,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "health", description = "Health checks (no token)"),
        (name = "intake", description = "Provider webhooks (no token: a registration token and the provider's signature)"),
        (name = "credentials", description = "Provider credentials and the ATS directory connection"),
        (name = "records", description = "The record directory, archived conversations and notes"),
        (name = "messages", description = "Sending, mass texts, searches and opt-outs"),
        (name = "access", description = "Message action types and security groups"),
        (name = "ats sync", description = "The ATS sync's report and conflicts"),
        (name = "operations", description = "Dead letters, queues and webhook source allow-lists"),
        (name = "users", description = "Texting users, teams, licences and permission groups"),
        (name = "imports", description = "User import and the users report"),
    ),
)]
pub struct ApiDoc;

/// A file sent or answered as raw bytes, as the document describes it.
pub struct FileBytes;

impl utoipa::PartialSchema for FileBytes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for FileBytes {}

/// Declares the `bearer` security scheme the document's routes require.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some("In AWS a JWT of the API Gateway authorizer; locally a `textbridge token`"))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}
