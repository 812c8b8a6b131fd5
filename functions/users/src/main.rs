//! The users function: store, plus secrets and providers to remove a deleted user's
//! provider credentials; and the admin console's pages when an OIDC client is set.
//! User imports and the report are the imports function's.

use std::process::ExitCode;

use textbridge_app::App;
use textbridge_lambda::{config, providers, run_http};

#[tokio::main]
async fn main() -> ExitCode {
    run_http(|aws| async move {
        let app = App::on_store(aws.store()?, config()?).with_secrets(aws.secrets()?).with_providers(providers()?);
        let console = textbridge_console::Oidc::from_env()?
            .map(|oidc| textbridge_console::router(textbridge_console::SignIn::Oidc(oidc)))
            .unwrap_or_default();
        Ok(textbridge_api::users::router(app.shared()).merge(console))
    })
    .await
}
