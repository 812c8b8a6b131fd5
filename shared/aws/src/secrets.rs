//! [`Secrets`] on AWS Secrets Manager.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use secrecy::{ExposeSecret, SecretString};
use textbridge_app::ports::{PortError, PortResult, SecretName, Secrets};

use crate::error::{Detail, map_sdk_error};

/// How often [`Secrets::create`] tries again while a just-deleted secret of the same
/// name is still being removed (Secrets Manager deletes asynchronously).
const CREATE_ATTEMPTS: u32 = 6;

/// Secrets in AWS Secrets Manager, each named `{prefix}{name}`.
///
/// Error messages carry the operation and the error code only, never the service's
/// message text, and values are exposed only when handed to the SDK.
#[derive(Debug, Clone)]
pub struct SecretsManagerStore {
    client: Client,
    prefix: String,
}

impl SecretsManagerStore {
    /// A store whose secrets are named below `prefix` (e.g. `textbridge/dev/`; a
    /// missing trailing `/` is added).
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        let mut prefix = prefix.into();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Self { client, prefix }
    }

    /// The name prefix, ending in `/` (or empty).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn full_name(&self, name: &SecretName) -> String {
        format!("{}{}", self.prefix, name.as_str())
    }
}

/// Maps an error of `op` on the secret `name`: not found names the secret.
fn map_err<E>(op: &'static str, name: &SecretName) -> impl FnOnce(SdkError<E>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let name = name.to_string();
    move |e| {
        let code = e.code().unwrap_or_default();
        // A secret scheduled for deletion answers `InvalidRequestException`: for reads
        // and writes of the value it is as good as gone.
        if code == "InvalidRequestException" && op != "CreateSecret" {
            return PortError::NotFound(name);
        }
        match map_sdk_error(op, &e, Detail::CodeOnly) {
            PortError::NotFound(_) => PortError::NotFound(name),
            other => other,
        }
    }
}

#[async_trait]
impl Secrets for SecretsManagerStore {
    async fn create(&self, name: &SecretName, value: &SecretString) -> PortResult<()> {
        let full = self.full_name(name);
        let mut delay = Duration::from_millis(250);
        for attempt in 1..=CREATE_ATTEMPTS {
            let result = self.client.create_secret().name(&full).secret_string(value.expose_secret()).send().await;
            match result {
                Ok(_) => return Ok(()),
                Err(e) if e.code() == Some("InvalidRequestException") && attempt < CREATE_ATTEMPTS => {
                    // Most likely the previous secret of this name is still being deleted.
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) if e.code() == Some("InvalidRequestException") => {
                    return Err(PortError::Retryable(format!(
                        "CreateSecret: InvalidRequestException (a secret named {name} may still be being deleted)"
                    )));
                }
                Err(e) => return Err(map_err("CreateSecret", name)(e)),
            }
        }
        Err(PortError::Retryable("CreateSecret: gave up".into()))
    }

    async fn get(&self, name: &SecretName) -> PortResult<SecretString> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(self.full_name(name))
            .send()
            .await
            .map_err(map_err("GetSecretValue", name))?;
        out.secret_string
            .map(SecretString::from)
            .ok_or_else(|| PortError::Unexpected(format!("GetSecretValue: secret {name} has no text value")))
    }

    async fn replace(&self, name: &SecretName, value: &SecretString) -> PortResult<()> {
        self.client
            .put_secret_value()
            .secret_id(self.full_name(name))
            .secret_string(value.expose_secret())
            .send()
            .await
            .map_err(map_err("PutSecretValue", name))?;
        Ok(())
    }

    async fn delete(&self, name: &SecretName) -> PortResult<()> {
        // A forced delete of a missing secret succeeds without ResourceNotFoundException,
        // so ask first: deleting a missing secret is reported as not found.
        let described = self
            .client
            .describe_secret()
            .secret_id(self.full_name(name))
            .send()
            .await
            .map_err(map_err("DescribeSecret", name))?;
        if described.deleted_date.is_some() {
            return Err(PortError::NotFound(name.to_string()));
        }
        self.client
            .delete_secret()
            .secret_id(self.full_name(name))
            .force_delete_without_recovery(true)
            .send()
            .await
            .map_err(map_err("DeleteSecret", name))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_secretsmanager::config::http::HttpResponse;
    use aws_sdk_secretsmanager::error::ErrorMetadata;
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;

    use super::*;

    fn service(code: &str) -> SdkError<GetSecretValueError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message("value was s3cr3t").build();
        SdkError::service_error(
            GetSecretValueError::generic(meta),
            HttpResponse::new(400.try_into().expect("status"), "".into()),
        )
    }

    fn name() -> SecretName {
        SecretName::from_parts(&["t1", "textus", "system", "-"]).expect("name")
    }

    #[test]
    fn not_found_names_the_secret() {
        let e = map_err("GetSecretValue", &name())(service("ResourceNotFoundException"));
        assert_eq!(e, PortError::NotFound("t1/textus/system/-".into()));
        let e = map_err("GetSecretValue", &name())(service("InvalidRequestException"));
        assert_eq!(e, PortError::NotFound("t1/textus/system/-".into()));
    }

    #[test]
    fn messages_never_carry_the_service_text() {
        for code in ["ValidationException", "InternalServiceError", "AccessDeniedException", "DecryptionFailure"] {
            let e = map_err("GetSecretValue", &name())(service(code));
            assert!(!e.to_string().contains("s3cr3t"), "{e}");
            assert!(e.to_string().contains(code), "{e}");
        }
        let e = map_err("CreateSecret", &name())(service("ResourceExistsException"));
        assert_eq!(e, PortError::ConditionFailed);
    }

    #[test]
    fn prefix_ends_with_a_slash() {
        let sdk = aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
        let client = Client::new(&sdk);
        assert_eq!(SecretsManagerStore::new(client.clone(), "textbridge/dev").prefix(), "textbridge/dev/");
        assert_eq!(SecretsManagerStore::new(client.clone(), "textbridge/dev/").prefix(), "textbridge/dev/");
        let store = SecretsManagerStore::new(client, "");
        assert_eq!(store.full_name(&name()), "t1/textus/system/-");
    }
}
