//! The ATS port ([`textbridge_app::ports::Ats`]) for TempWorks: archived texts are
//! written back as messages on employees and contacts over TempWorks' REST API.
//!
//! * Candidates are applicants, which TempWorks keeps as employees: both are written
//!   with `POST /Employees/{id}/messages`, contacts with `POST /Contacts/{id}/messages`.
//! * Every text is written with the tenant's active message action named `Message`
//!   (looked up once per tenant with `GET /DataLists/messageActions?active=true`).
//! * Every written text ends with a marker line naming the provider message, such as
//!   `[textbridge zipwhip:1327295480212647936]`, which `find_message` looks for so a
//!   write that may have happened is never repeated.
//! * Each tenant's API token is a secret named [`token_secret_name`], sent in the
//!   `x-tw-token` header.
//!
//! [`Directory`] reads users and records for the scheduled sync: over Textbridge's
//! own ATS directory contract ([`RestDirectory`]) or TempWorks' search API
//! ([`TempWorksDirectory`]), as each tenant's connection names (see their module
//! documentation).
//!
//! No log line, error or debug output of this crate carries the token or a text.

mod directory;
mod http;
mod rest;
mod tempworks;
mod tempworks_directory;
mod wire;

pub use directory::Directory;
pub use rest::{PAGE_SIZE, RestDirectory, parse_page};
pub use tempworks::{TempWorks, token_secret_name};
pub use tempworks_directory::{CONTACTS, EMPLOYEES, Listing, TempWorksDirectory, parse_search};
pub use url::Url;
